"""Tokenised training sets, built once and memory-mapped by every rank, retry and system.

Rank 0 tokenises the instruction file with ``datasets`` (``map``, batched, in the job's
threads' worth of processes: :func:`build_dataset`) into Arrow files; the other ranks wait
(:func:`prepare`) and open the same files memory-mapped, so no rank holds the training set in
Python lists.  The causal-LM trainer's examples (:func:`build`: the ids and labels of
:func:`.examples.build_examples` row for row) and the Table-7 baselines' (T5's source/target
ids, GECToR's sub-words, word positions and edit tags: :mod:`writing_alpaca.baselines`) are
built by the same code.  Layout::

    <root>/tokenised-<key>/tokenised*.arrow   the columns (e.g. input_ids int32, labels int32)
    <root>/tokenised-<key>/cache.json         its fingerprint, its Arrow files in order, the counts
                                              (records, examples, dropped) and the build time
    <root>/.tokenised-<key>.lock              held while <key> is built (shared roots)

``<key>`` is a hash of the fingerprint: everything that determines the columns (for the LLM
trainer :func:`cache_fingerprint`: the instruction file's sha256, the tokenizer's files, class,
special tokens and library versions, the template, ``cutoff_len``, ``train_on_inputs`` and
:data:`CACHE_VERSION`).  Same settings, same key: a retry (or another system with the same
tokenizer and data, e.g. LLaMA-7B-GEC and LLaMA-13B-GEC on cLang-8) does not tokenise again;
other settings give another key and a new build.

``root`` is either private to one run (the run's checkpoint directory, the command's default:
caches of other settings are deleted once the checkpoints accept the settings, and the
directory goes with the checkpoints once the system is written) or *shared* (the workflow's
``results/cache/tokenised``): then nothing of another key is ever deleted, and the builder of a
key holds an exclusive lock (``fcntl.lockf``, which NFS honours) so that two jobs needing the
same key build it once, the second waiting and then reading it.

A build is written into ``.tokenised-<key>.<pid>.tmp/`` and renamed into place only when
complete (files fsynced first), so a half-written cache (a build killed mid-way) is never
read: its temporary directory is ignored and deleted by the next build of the same key.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WritingAlpacaError
from ..hashing import sha256_file, sha256_text
from ..io import read_json, write_json
from ..progress import Progress
from .config import Template
from .examples import parse_instruction_line, tokenize_batch

log = logging.getLogger(__name__)

#: Bump when the tokenisation code changes the ids or labels it produces (invalidates caches).
CACHE_VERSION = 1
PREFIX = "tokenised-"
INFO = "cache.json"
#: Records per tokenizer call and per Arrow write.
BATCH_SIZE = 1000
#: Bytes of the instruction file read (and written to Arrow) at a time.
LINES_CHUNK_BYTES = 16 << 20
#: Below this many records a build runs in one process (forking workers costs more).
PARALLEL_MIN_RECORDS = 50_000
#: The wait for another process's build (rank 0, or another job holding the lock): poll interval,
#: progress log interval, limit (seconds).
WAIT_POLL_S = 1.0
WAIT_LOG_S = 60.0
WAIT_TIMEOUT_S = 6 * 3600.0
#: Tokenizer files whose content is hashed into the fingerprint (those present in the base).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "spiece.model",
)


def features() -> Any:
    """The columns of the tokenised dataset (int32 ids and labels, int8 mask)."""
    from datasets import Features, List, Value

    return Features(
        {
            "input_ids": List(Value("int32")),
            "attention_mask": List(Value("int8")),
            "labels": List(Value("int32")),
        }
    )


def tokenizer_identity(base: str | Path, tokenizer: Any) -> dict[str, Any]:
    """What of the tokenizer determines the ids: its files' sha256, class, special ids, versions."""
    import tokenizers
    import transformers

    base = Path(base)
    return {
        "files": {name: sha256_file(base / name) for name in TOKENIZER_FILES if (base / name).is_file()},
        "class": type(tokenizer).__name__,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def cache_fingerprint(
    data_sha256: str,
    tokenizer: Mapping[str, Any],
    template: Template | Mapping[str, str],
    cutoff_len: int,
    train_on_inputs: bool,
) -> dict[str, Any]:
    """Everything that determines the tokenised examples (``tokenizer``: :func:`tokenizer_identity`)."""
    return {
        "version": CACHE_VERSION,
        "data_sha256": data_sha256,
        "tokenizer": dict(tokenizer),
        "template": template.as_dict() if isinstance(template, Template) else dict(template),
        "cutoff_len": int(cutoff_len),
        "train_on_inputs": bool(train_on_inputs),
    }


def cache_key(fingerprint: Mapping[str, Any]) -> str:
    text = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"))
    return sha256_text(text)[:16]


def cache_path(root: str | Path, fingerprint: Mapping[str, Any]) -> Path:
    """The cache directory of ``fingerprint`` under ``root`` (the run's checkpoint directory)."""
    return Path(root) / f"{PREFIX}{cache_key(fingerprint)}"


def default_workers() -> int:
    """Tokenising processes: the job's threads (``OMP_NUM_THREADS``, which Snakemake sets to the
    rule's ``threads``), at most the CPUs this process may run on (all of them if unset)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        threads = int(os.environ.get("OMP_NUM_THREADS", "0"))
    except ValueError:
        threads = 0
    return max(1, min(threads or cpus, cpus))


@dataclass
class Tokenised:
    """The training set of a run: a memory-mapped ``datasets.Dataset`` and how it was obtained."""

    dataset: Any
    path: Path
    built: bool  # tokenised by this process (False: read from the cache)
    info: dict[str, Any]

    def __len__(self) -> int:
        return len(self.dataset)


def _fsync_tree(path: Path) -> None:
    for item in sorted(path.rglob("*")):
        if item.is_file():
            with open(item, "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_lines(data: str | Path, out: Path) -> int:
    """Every line of ``data`` (raw bytes) into the Arrow file ``out``, a ``line`` column (memory-mapped
    by the tokenising processes: the file is never read into Python objects whole)."""
    import pyarrow as pa

    schema = pa.schema([("line", pa.binary())])
    n = 0
    with open(data, "rb") as fh, pa.OSFile(str(out), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        while lines := fh.readlines(LINES_CHUNK_BYTES):
            writer.write_batch(pa.record_batch([pa.array(lines, pa.binary())], schema=schema))
            n += len(lines)
    return n


def _tokenise_lines(
    batch: Mapping[str, list[bytes]],
    indices: list[int],
    path: str,
    tokenizer: Any,
    template: Template | Mapping[str, str],
    cutoff_len: int,
    train_on_inputs: bool,
) -> Any:
    """Parse and check a batch of JSON lines (row ``i`` is line ``i + 1``) and tokenise it."""
    columns: dict[str, list[str]] = {"instruction": [], "input": [], "output": []}
    for i, raw in zip(indices, batch["line"]):
        record = parse_instruction_line(path, i + 1, raw)
        for key, values in columns.items():
            values.append(record[key])
    return tokenize_batch(tokenizer, template, columns, cutoff_len, train_on_inputs)


class _Reporting:
    """``tokenise`` with progress (``datasets.map(..., with_rank=True)``; sent to the worker
    processes).  Its progress bars are off (one per worker would garble a log), so the records
    done are logged by :class:`writing_alpaca.progress.Progress`: all of them in one process;
    with ``workers`` processes, those of the first worker, whose contiguous share (``ceil(records /
    workers)``, the largest) stands for all of them, which run in parallel on equal shares."""

    def __init__(self, tokenise: Callable[..., Any], stage: str, records: int, workers: int):
        self.tokenise, self.stage, self.records, self.workers = tokenise, stage, records, workers
        self.progress: Progress | None = None

    def __call__(self, batch: Any, indices: list[int], rank: int | None, **kwargs: Any) -> Any:
        if rank in (None, 0):
            if self.progress is None:
                if self.workers > 1:
                    _worker_logging()
                    stage, total = f"{self.stage} [worker 1 of {self.workers}]", -(-self.records // self.workers)
                else:
                    stage, total = self.stage, self.records
                # no bar beside datasets' worker processes; announced by build_dataset
                self.progress = Progress(
                    stage, total, unit="records", log=log, tty=None if self.workers == 1 else False, announce=False
                )
            self.progress.update(len(indices))
        return self.tokenise(batch, indices, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "progress": None}


def _worker_logging() -> None:
    """A worker process started afresh (not forked) has no handler: give it the CLI's."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def build_dataset(
    data: str | Path,
    out: str | Path,
    tokenise: Callable[..., Any],
    fn_kwargs: Mapping[str, Any],
    columns: Any,
    *,
    workers: int = 1,
    fingerprint: Mapping[str, Any] | None = None,
    empty_error: str = "no training example",
) -> dict[str, Any]:
    """Tokenise the JSON-lines file ``data`` into the cache directory ``out``.

    The lines go into an Arrow file, which ``datasets.map`` (batched; ``workers`` processes when
    the file has at least :data:`PARALLEL_MIN_RECORDS` lines) passes to
    ``tokenise(batch, indices, path, **fn_kwargs)``: ``batch["line"]`` holds raw lines (row ``i``
    is line ``i + 1`` of ``path``), and it returns the rows of the ``columns`` features
    (``datasets.Features``), possibly fewer than it got (records it leaves out are counted as
    ``dropped``).  ``tokenise`` must be a module-level function (sent to worker processes).
    Written in a temporary directory, fsynced, then renamed to ``out``: the cache is complete or
    absent; no example at all is the error ``"<data>: <empty_error>"``.  Returns the ``cache.json`` info.
    """
    import datasets

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "dataset").mkdir(parents=True)
    started = time.monotonic()
    progress = datasets.utils.logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        records = _write_lines(data, tmp / "lines.arrow")
        if not records:
            raise WritingAlpacaError(f"{data}: no training records")
        lines = datasets.Dataset.from_file(str(tmp / "lines.arrow"))
        num_proc = workers if workers > 1 and records >= PARALLEL_MIN_RECORDS else None
        log.info("tokenising %d records of %s in %d process(es)", records, data, num_proc or 1)
        tokenised = lines.map(
            _Reporting(tokenise, f"tokenise {Path(data).name}", records, num_proc or 1),
            batched=True,
            with_indices=True,
            with_rank=True,
            batch_size=BATCH_SIZE,
            writer_batch_size=BATCH_SIZE,
            remove_columns=lines.column_names,
            features=columns,
            fn_kwargs={"path": str(data), **fn_kwargs},
            num_proc=num_proc,
            cache_file_name=str(tmp / "dataset" / "tokenised.arrow"),
            load_from_cache_file=False,
            new_fingerprint=cache_key(fingerprint or {"data": str(data)}),
        )
        examples, dropped = len(tokenised), records - len(tokenised)
        files = [Path(f["filename"]).name for f in tokenised.cache_files]
        del lines, tokenised
        if not examples:
            raise WritingAlpacaError(f"{data}: {empty_error}")
        info = {
            "fingerprint": dict(fingerprint) if fingerprint is not None else None,
            "files": files,
            "records": records,
            "examples": examples,
            "dropped": dropped,
            "workers": num_proc or 1,
            "seconds": round(time.monotonic() - started, 3),
        }
        write_json(tmp / "dataset" / INFO, info)
        _fsync_tree(tmp / "dataset")
        try:
            os.replace(tmp / "dataset", out)  # the commit point: `out` is complete or absent
        except OSError:
            if not (out / INFO).is_file():
                raise
            # another process committed the same key first (a file system that ignores locks): theirs is used
            log.info("%s: built by another process meanwhile; this build is discarded", out)
            info = read_json(out / INFO)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if progress:
            datasets.enable_progress_bars()
    return info


def build(
    data: str | Path,
    tokenizer: Any,
    template: Template | Mapping[str, str],
    cutoff_len: int,
    train_on_inputs: bool,
    out: str | Path,
    workers: int = 1,
    fingerprint: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The causal-LM trainer's examples of the instruction file ``data`` into the cache ``out``
    (:func:`build_dataset` with :func:`.examples.tokenize_batch`'s ids, mask and labels; examples
    whose response is cut away by ``cutoff_len`` are dropped, with a warning)."""
    info = build_dataset(
        data,
        out,
        _tokenise_lines,
        {"tokenizer": tokenizer, "template": template, "cutoff_len": cutoff_len, "train_on_inputs": train_on_inputs},
        features(),
        workers=workers,
        fingerprint=fingerprint,
        empty_error=f"no trainable example: every prompt is longer than cutoff_len={cutoff_len}",
    )
    if info["dropped"]:
        log.warning(
            "%d of %d examples have no response token within cutoff_len=%d: dropped",
            info["dropped"],
            info["records"],
            cutoff_len,
        )
    return info


def open_cached(path: str | Path) -> Tokenised:
    """Open a built cache, memory-mapped (its Arrow files, in order, as one ``datasets.Dataset``)."""
    import datasets

    path = Path(path)
    try:
        info = read_json(path / INFO)
        parts = [datasets.Dataset.from_file(str(path / name)) for name in info["files"]]
        dataset = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    except Exception as exc:  # noqa: BLE001 - named in the message
        raise WritingAlpacaError(f"{path}: unreadable tokenised cache ({exc}): delete it to tokenise again") from exc
    if len(dataset) != info.get("examples"):
        raise WritingAlpacaError(
            f"{path}: the tokenised cache holds {len(dataset)} examples, {INFO} says {info.get('examples')}: "
            "delete it to tokenise again"
        )
    return Tokenised(dataset, path, built=False, info=info)


def remove_stale(root: str | Path, keep: str | Path | None = None) -> None:
    """Delete the caches of other settings, their locks and the temporary directories of killed
    builds: for a root private to one run only (a shared root is never pruned by a run)."""
    root = Path(root)
    if not root.is_dir():
        return
    keep_name = Path(keep).name if keep is not None else None
    for item in root.iterdir():
        stale_cache = item.name.startswith(PREFIX) and item.name != keep_name
        killed_build = item.name.startswith(f".{PREFIX}") and item.name.endswith(".tmp")
        if item.is_dir() and (stale_cache or killed_build):
            log.info(
                "%s: %s, deleted", item, "another run's tokenised cache" if stale_cache else "unfinished tokenisation"
            )
            shutil.rmtree(item, ignore_errors=True)
        elif item.is_file() and item.name.startswith(f".{PREFIX}") and item.name.endswith(".lock"):
            if item.name != f".{keep_name}.lock":
                item.unlink(missing_ok=True)


def _wait_for(path: Path, timeout_s: float) -> None:
    """Poll until rank 0 has renamed its build into ``path`` (no collective: a build may take
    longer than the process group's timeout; if rank 0 dies, torchrun ends this rank)."""
    started = last_log = time.monotonic()
    while not path.is_dir():
        now = time.monotonic()
        if now - started > timeout_s:
            raise WritingAlpacaError(
                f"{path}: rank 0 wrote no tokenised training set here within {timeout_s:.0f} s (the checkpoint "
                "directory must be on a file system every rank sees)"
            )
        if now - last_log >= WAIT_LOG_S:
            log.info("waiting for rank 0 to tokenise the training set into %s (%.0f s)", path, now - started)
            last_log = now
        time.sleep(WAIT_POLL_S)


@contextlib.contextmanager
def _building(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold the exclusive lock of ``path``'s key (``.<name>.lock`` beside it): another process
    building the same key (another job on a shared root) is waited for, polling, so that the
    wait is logged and bounded; a dead holder's lock is released by the kernel."""
    lock = path.with_name(f".{path.name}.lock")
    with open(lock, "a+b") as fh:
        started = last_log = time.monotonic()
        locked = False
        while not locked:
            try:
                fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):  # e.g. ENOLCK: no lock service on this mount
                    log.warning(
                        "%s: cannot lock (%s); building without it (the atomic rename still lets one in)", lock, exc
                    )
                    break
                now = time.monotonic()
                if now - started > timeout_s:
                    raise WritingAlpacaError(
                        f"{lock}: another process has been tokenising this training set for {timeout_s:.0f} s; "
                        "if none is running, delete the lock file"
                    ) from None
                if now - last_log >= WAIT_LOG_S:
                    log.info(
                        "waiting for another job tokenising the same training set into %s (%.0f s)", path, now - started
                    )
                    last_log = now
                time.sleep(WAIT_POLL_S)
        try:
            yield
        finally:
            if locked:
                fcntl.lockf(fh, fcntl.LOCK_UN)


def prepare(
    root: str | Path,
    fingerprint: Mapping[str, Any],
    build_it: Callable[[Path], dict[str, Any]],
    is_main: bool = True,
    barrier: Callable[[], None] | None = None,
    wait_timeout_s: float | None = None,
) -> Tokenised:
    """The tokenised training set of ``fingerprint`` under ``root``: rank 0 builds it if absent
    (``build_it(path)``, holding the key's lock: on a shared root another job may be building it),
    every rank then opens it.

    With several ranks (``barrier`` given) the others wait for the cache directory to appear
    (at most ``wait_timeout_s``, default :data:`WAIT_TIMEOUT_S`), then all meet at ``barrier``.
    """
    path = cache_path(root, fingerprint)
    timeout_s = WAIT_TIMEOUT_S if wait_timeout_s is None else wait_timeout_s
    built = False
    if is_main:
        if path.is_dir():
            log.info("tokenised training set: %s (cached)", path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _building(path, timeout_s):
                if path.is_dir():  # built by the job that held the lock
                    log.info("tokenised training set: %s (cached, built by another job meanwhile)", path)
                else:
                    # under the lock, a temporary directory of this key is a killed build's
                    for item in path.parent.glob(f".{path.name}.*.tmp"):
                        log.warning("%s: unfinished tokenisation (a killed attempt): ignored and deleted", item)
                        shutil.rmtree(item, ignore_errors=True)
                    info = build_it(path)
                    built = True
                    log.info(
                        "tokenised %d records into %d examples in %.1f s (%.0f records/s, %d process(es)): %s",
                        info["records"],
                        info["examples"],
                        info["seconds"],
                        info["records"] / max(info["seconds"], 1e-9),
                        info["workers"],
                        path,
                    )
    if barrier is not None:
        if not is_main:
            _wait_for(path, timeout_s)
        barrier()
    if not path.is_dir():
        raise WritingAlpacaError(f"{path}: no tokenised training set here")
    tokenised = open_cached(path)
    if tokenised.info.get("fingerprint") not in (None, dict(fingerprint)):
        raise WritingAlpacaError(f"{path}: the tokenised cache belongs to other settings: delete it to tokenise again")
    tokenised.built = built
    return tokenised


__all__ = [
    "CACHE_VERSION",
    "Tokenised",
    "build",
    "build_dataset",
    "cache_fingerprint",
    "cache_path",
    "default_workers",
    "open_cached",
    "prepare",
    "remove_stale",
    "tokenizer_identity",
]
