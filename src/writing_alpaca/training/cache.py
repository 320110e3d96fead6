"""The tokenised training set, built once per run and memory-mapped by every rank.

Rank 0 tokenises the instruction file with ``datasets`` (``map``, batched, in the job's
threads' worth of processes: :func:`build`), with the ids and labels of
:func:`.examples.build_examples` row for row, into Arrow files in the run's checkpoint directory;
the other ranks wait (a ``torch.distributed`` barrier, :func:`prepare`) and open the same files
memory-mapped, so no rank holds the training set in Python lists.  Layout, beside the
checkpoints::

    tokenised-<key>/tokenised*.arrow   input_ids (int32), attention_mask (int8), labels (int32)
    tokenised-<key>/cache.json         its fingerprint, its Arrow files in order, the counts
                                       (records, examples, dropped) and the build time

``<key>`` is a hash of :func:`cache_fingerprint`: everything that determines the token ids
and labels (the instruction file's sha256, the tokenizer's files, class, special tokens and
library versions, the template, ``cutoff_len``, ``train_on_inputs`` and
:data:`CACHE_VERSION`).  A retry of the run (the checkpoint directory outlives a failed
attempt) finds its directory and does not tokenise again; other settings give another key
and a new build (the stale one is deleted once the run's checkpoints accept the settings).

A build is written into ``.tokenised-<key>.<pid>.tmp/`` and renamed into place only when
complete (files fsynced first), so a half-written cache (a build killed mid-way) is never
read: its temporary directory is ignored and deleted by the next build.  The directory goes
with the checkpoints once the trained system is written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WritingAlpacaError
from ..hashing import sha256_file, sha256_text
from ..io import read_json, write_json
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
#: The other ranks' wait for rank 0's build: poll interval, progress log interval, limit (seconds).
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
    """Tokenise the instruction file ``data`` into the cache directory ``out``.

    The lines go into an Arrow file, which ``datasets.map`` (batched; ``workers`` processes when
    the file has at least :data:`PARALLEL_MIN_RECORDS` lines) parses, checks and tokenises into
    the Arrow files of the cache.  Written in a temporary directory, fsynced, then renamed to
    ``out``: the cache is complete or absent.  Returns the ``cache.json`` info.
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
        tokenised = lines.map(
            _tokenise_lines,
            batched=True,
            with_indices=True,
            batch_size=BATCH_SIZE,
            writer_batch_size=BATCH_SIZE,
            remove_columns=lines.column_names,
            features=features(),
            fn_kwargs={
                "path": str(data),
                "tokenizer": tokenizer,
                "template": template,
                "cutoff_len": cutoff_len,
                "train_on_inputs": train_on_inputs,
            },
            num_proc=num_proc,
            cache_file_name=str(tmp / "dataset" / "tokenised.arrow"),
            load_from_cache_file=False,
            new_fingerprint=cache_key(fingerprint or {"data": str(data)}),
        )
        examples, dropped = len(tokenised), records - len(tokenised)
        files = [Path(f["filename"]).name for f in tokenised.cache_files]
        del lines, tokenised
        if dropped:
            log.warning(
                "%d of %d examples have no response token within cutoff_len=%d: dropped", dropped, records, cutoff_len
            )
        if not examples:
            raise WritingAlpacaError(f"no trainable example: every prompt is longer than cutoff_len={cutoff_len}")
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
        os.replace(tmp / "dataset", out)  # the commit point: `out` is complete or absent
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if progress:
            datasets.enable_progress_bars()
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
    """Delete the caches of other settings and the temporary directories of killed builds."""
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


def prepare(
    root: str | Path,
    fingerprint: Mapping[str, Any],
    build_it: Callable[[Path], dict[str, Any]],
    is_main: bool = True,
    barrier: Callable[[], None] | None = None,
    wait_timeout_s: float | None = None,
) -> Tokenised:
    """The tokenised training set of ``fingerprint`` under ``root``: rank 0 builds it if absent
    (``build_it(path)``), every rank then opens it.

    With several ranks (``barrier`` given) the others wait for the cache directory to appear
    (at most ``wait_timeout_s``, default :data:`WAIT_TIMEOUT_S`), then all meet at ``barrier``.
    """
    path = cache_path(root, fingerprint)
    built = False
    if is_main:
        if path.is_dir():
            log.info("tokenised training set: %s (cached)", path)
        else:
            for item in Path(root).glob(f".{path.name}.*.tmp") if Path(root).is_dir() else ():
                log.warning("%s: unfinished tokenisation (a killed attempt): ignored and deleted", item)
                shutil.rmtree(item, ignore_errors=True)
            info = build_it(path)
            built = True
            log.info(
                "tokenised %d records into %d examples in %.1f s (%d process(es)): %s",
                info["records"],
                info["examples"],
                info["seconds"],
                info["workers"],
                path,
            )
    if barrier is not None:
        if not is_main:
            _wait_for(path, WAIT_TIMEOUT_S if wait_timeout_s is None else wait_timeout_s)
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
    "cache_fingerprint",
    "cache_path",
    "default_workers",
    "open_cached",
    "prepare",
    "remove_stale",
    "tokenizer_identity",
]
