"""Checkpoints that survive a killed job, resuming, signals and GPU-hour accounting.

The checkpoint directory (``--checkpoint-dir``, by default ``results/checkpoints/{system}``
from the rule) lies **outside** the system directory: Snakemake deletes a job's declared
output before re-running an incomplete job, the checkpoints must outlive that.  Layout::

    fingerprint.json        the settings the checkpoints belong to (TrainConfig.fingerprint()
                            + world size under DeepSpeed + base model + data identity)
    accounting.json         one record per attempt (wall time, GPUs, steps, tokens processed)
    checkpoint-N/           Hugging Face Trainer checkpoints (weights or adapter, optimizer,
                            scheduler, RNG states of every rank, trainer state)
    checkpoint-N/COMPLETE   written once every rank has finished writing checkpoint-N: the
                            size of every file of the checkpoint when it was complete

A run resumes from the newest *intact* checkpoint, after checking that the fingerprint is
unchanged: a different configuration is refused with one message listing the differences.
A checkpoint is intact when it has its ``COMPLETE`` marker, the files the trainer needs to
resume (``required``: ``trainer_state.json`` for every trainer) and every file the marker lists
at its recorded size, its ``.safetensors`` files whole (header and data) and its JSON files
parseable.  Any other checkpoint (cut short by SIGKILL while being written, or its data
not yet on disk when the node died) is discarded with a warning, and the run resumes from the
previous intact one, or starts afresh (the accounting of earlier attempts kept).  The
directory is removed once the trained system is written.

**The final checkpoint.** The Trainer also saves a checkpoint at ``max_steps``; a run killed
after it but before its system was written resumes from it *without training further*:
:func:`train_or_restore` restores the checkpoint (weights, trainer state: the trajectory's
loss history and tokens seen) and skips the training loop, which would otherwise run a step
past ``max_steps`` when ``max_steps`` ends inside an epoch.  The same contract holds for
every trainer (the LLM recipe, the T5 and GECToR baselines).

**Signals.** SIGTERM (SLURM's warning before the time limit or a preemption; torchrun passes
it to the workers) and SIGUSR1 (``sbatch --signal=USR1@120``) make every rank stop after
the current optimiser step, save a checkpoint, and exit non-zero
(:class:`TrainingInterrupted`), so that the requeued or re-run job resumes.  The ranks agree
on the step with an all-reduce of the flag, so a signal that reached only some of them
stops all at the same step.

**Accounting.** ``accounting.json`` holds one record per attempt (launch of the command),
updated by rank 0 at every checkpoint and at least every :data:`ACCOUNTING_INTERVAL`
seconds, so a SIGKILLed attempt is accounted up to its last update.  See
:meth:`Accounting.totals` for how ``train_metrics.json`` sums them.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import WritingAlpacaError
from ..hashing import sha256_file
from ..io import read_json, write_json

log = logging.getLogger(__name__)

FINGERPRINT = "fingerprint.json"
ACCOUNTING = "accounting.json"
COMPLETE = "COMPLETE"
#: The trainer state of a checkpoint (step, loss history, tokens seen): every trainer writes one.
TRAINER_STATE = "trainer_state.json"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
#: Seconds between accounting updates during training (plus one at every checkpoint).
ACCOUNTING_INTERVAL = 5.0
#: The signals that ask for a checkpoint and a clean non-zero exit.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class TrainingInterrupted(WritingAlpacaError):
    """Training stopped on a signal after saving a checkpoint; re-running resumes."""


# ----------------------------------------------------------------------------- fingerprints


def model_identity(path: str | Path) -> dict[str, Any]:
    """A cheap identity of a model directory: sha256 of ``config.json`` and its weight files' sizes.

    (Hashing the weights of a 7B model would take minutes at every launch.)
    """
    path = Path(path)
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    return {
        "config_sha256": sha256_file(path / "config.json"),
        "weights": {p.name: p.stat().st_size for p in weights},
    }


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def fingerprint_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``key: old -> new`` for every setting that differs (dotted keys)."""
    a, b = _flatten(old), _flatten(new)
    missing = object()
    lines = []
    for key in sorted(set(a) | set(b)):
        before, after = a.get(key, missing), b.get(key, missing)
        if before != after:
            show = lambda v: "(absent)" if v is missing else json.dumps(v)  # noqa: E731
            lines.append(f"{key}: {show(before)} -> {show(after)}")
    return lines


# ----------------------------------------------------------------------------- checkpoint dir


def checkpoint_step(path: Path) -> int | None:
    match = CHECKPOINT_RE.match(path.name)
    return int(match.group(1)) if match else None


def _safetensors_problem(path: Path) -> str | None:
    """Why a ``.safetensors`` file is not whole (its header says how long its data is), or None."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"{path.name}: truncated ({size} bytes)"
            length = int.from_bytes(head, "little")
            if 8 + length > size:
                return f"{path.name}: truncated header ({size} bytes)"
            header = json.loads(fh.read(length))
    except (OSError, ValueError) as exc:
        return f"{path.name}: unreadable ({exc})"
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    expected = 8 + length + max(ends, default=0)
    if size != expected:
        return f"{path.name}: {size} bytes, its header says {expected}"
    return None


def _manifest(checkpoint: Path) -> dict[str, int]:
    """``{relative path: size}`` of every file of a checkpoint (the marker itself excluded)."""
    return {
        str(p.relative_to(checkpoint)): p.stat().st_size
        for p in sorted(checkpoint.rglob("*"))
        if p.is_file() and p.name != COMPLETE and not p.name.startswith(f".{COMPLETE}")
    }


def checkpoint_problem(checkpoint: str | Path, required: Iterable[str] = ()) -> str | None:
    """Why ``checkpoint`` cannot be resumed from (cut short while being written), or None if intact.

    Intact: a ``COMPLETE`` marker, the ``required`` files, every file the marker lists at its
    recorded size (a marker of an older version lists none), the ``.safetensors`` files whole
    and the JSON files parseable.
    """
    checkpoint = Path(checkpoint)
    marker = checkpoint / COMPLETE
    try:
        if not marker.is_file():
            return f"no {COMPLETE} marker"
        text = marker.read_text(encoding="utf-8")
        try:
            record = json.loads(text)
        except ValueError:
            record = None  # an older marker: a timestamp
        files = record.get("files") if isinstance(record, dict) else None
        for name in required:
            if not (checkpoint / name).is_file():
                return f"{name} missing"
        if isinstance(files, dict):
            for name, size in files.items():
                path = checkpoint / name
                if not path.is_file():
                    return f"{name} missing"
                if path.stat().st_size != size:
                    return f"{name}: {path.stat().st_size} bytes, {size} when the checkpoint was complete"
        for path in sorted(checkpoint.rglob("*.safetensors")):
            problem = _safetensors_problem(path)
            if problem:
                return problem
        for path in sorted(checkpoint.glob("*.json")):
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                return f"{path.name}: not valid JSON (cut short)"
    except OSError as exc:
        return f"unreadable ({exc})"
    return None


class CheckpointDir:
    """The checkpoint directory of one system (see module docstring).

    ``required``: the files (relative to ``checkpoint-N/``) without which a checkpoint cannot
    be resumed from, whatever its marker says (every trainer passes at least
    :data:`TRAINER_STATE`).
    """

    def __init__(self, path: str | Path, is_main: bool = True, required: Iterable[str] = ()):
        self.path = Path(path)
        self.is_main = is_main
        self.required = tuple(required)

    def checkpoints(self) -> list[Path]:
        """Every ``checkpoint-N`` directory, oldest step first."""
        if not self.path.is_dir():
            return []
        found = [p for p in self.path.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
        return sorted(found, key=lambda p: checkpoint_step(p) or 0)

    def problem(self, checkpoint: str | Path) -> str | None:
        """Why ``checkpoint`` cannot be resumed from, or None (:func:`checkpoint_problem`)."""
        return checkpoint_problem(checkpoint, self.required)

    def complete(self) -> list[Path]:
        """The intact checkpoints, oldest step first."""
        return [p for p in self.checkpoints() if self.problem(p) is None]

    def latest(self) -> Path | None:
        done = self.complete()
        return done[-1] if done else None

    def prepare(self, fingerprint: Mapping[str, Any]) -> Path | None:
        """Check the fingerprint, drop unfinished checkpoints; return the one to resume from.

        Raises :class:`WritingAlpacaError` if complete checkpoints exist for other settings.
        Earlier attempts of the same settings stay in the accounting even when none of them
        reached a checkpoint (their time was spent all the same).
        """
        latest = self.latest()
        stored_path = self.path / FINGERPRINT
        stored = read_json(stored_path) if stored_path.is_file() else None
        differences = fingerprint_differences(stored, fingerprint) if stored is not None else None
        if latest is not None:
            if stored is None:
                raise WritingAlpacaError(
                    f"{self.path}: checkpoints without {FINGERPRINT} (not written by writing-alpaca?): "
                    "delete the directory to start over"
                )
            if differences:
                raise WritingAlpacaError(
                    f"{self.path}: the checkpoints belong to a run with other settings, refusing to resume "
                    f"(changed: {'; '.join(differences)}); restore the settings, or delete the directory to start over"
                )
        if self.is_main:
            self.path.mkdir(parents=True, exist_ok=True)
            for unfinished in self.checkpoints():
                problem = self.problem(unfinished)
                if problem is None:
                    continue
                log.warning(
                    "%s: incomplete checkpoint (cut short while being written: %s): discarded%s",
                    unfinished,
                    problem,
                    f"; resuming from {latest.name}" if latest is not None else "",
                )
                shutil.rmtree(unfinished, ignore_errors=True)
            if differences is None or differences:  # no earlier attempt of these settings
                (self.path / ACCOUNTING).unlink(missing_ok=True)
            write_json(stored_path, dict(fingerprint))
        return latest

    def mark_complete(self, checkpoint: str | Path) -> None:
        """Write the ``COMPLETE`` marker: the time and the size of every file (all or nothing)."""
        checkpoint = Path(checkpoint)
        record = {"completed": _dt.datetime.now(_dt.timezone.utc).isoformat(), "files": _manifest(checkpoint)}
        tmp = checkpoint / f".{COMPLETE}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(record, indent=1) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, checkpoint / COMPLETE)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# ----------------------------------------------------------------------------- accounting


@dataclass
class Attempt:
    """One launch of the training command."""

    started: str
    gpus: int
    world_size: int
    start_step: int
    end_step: int
    wall_seconds: float = 0.0  # from the start of the command to its last update
    train_seconds: float = 0.0  # inside the training loop (excludes loading and final saving)
    tokens_processed: int = 0  # non-padding tokens of the micro-batches this attempt ran
    outcome: str = "running"  # running (or killed, if it never finished) | interrupted | finished


@dataclass
class Accounting:
    """Per-attempt cost records of one system, persisted in ``accounting.json``."""

    path: Path
    attempts: list[Attempt] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path) -> Accounting:
        path = Path(path)
        attempts: list[Attempt] = []
        if path.is_file():
            for record in read_json(path).get("attempts", []):
                attempt = Attempt(**record)
                if attempt.outcome == "running":  # it never finished: SIGKILL, node failure, OOM
                    attempt.outcome = "killed"
                attempts.append(attempt)
        return cls(path, attempts)

    def save(self) -> None:
        write_json(self.path, {"attempts": [asdict(a) for a in self.attempts]})

    def totals(self) -> dict[str, Any]:
        """The accounting fields of ``train_metrics.json``, summed over every attempt.

        - ``wall_seconds``: wall time of every attempt (including work redone after a kill);
        - ``gpu_hours``: sum over attempts of GPUs x wall time (0 on CPU);
        - ``train_seconds``: time inside the training loops;
        - ``tokens_processed``: non-padding tokens of every micro-batch run, redone ones included;
        - ``tokens_per_second``: ``tokens_processed / train_seconds`` (the hardware's throughput).

        ``tokens_seen`` (the tokens of the final trajectory, each counted once) comes from the
        trainer state, restored with the checkpoint.
        """
        wall = sum(a.wall_seconds for a in self.attempts)
        train = sum(a.train_seconds for a in self.attempts)
        tokens = sum(a.tokens_processed for a in self.attempts)
        return {
            "wall_seconds": round(wall, 3),
            "gpu_hours": round(sum(a.gpus * a.wall_seconds for a in self.attempts) / 3600, 6),
            "train_seconds": round(train, 3),
            "tokens_processed": tokens,
            "tokens_per_second": round(tokens / train, 3) if train > 0 else 0.0,
            "attempts": [asdict(a) for a in self.attempts],
        }


# ----------------------------------------------------------------------------- callbacks


class _Callback:
    """A duck-typed ``transformers.TrainerCallback`` (so this module imports no transformers):
    events a subclass does not define are no-ops."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return _no_op
        raise AttributeError(name)


def _no_op(*args: Any, **kwargs: Any) -> None:
    return None


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class CheckpointCallback(_Callback):
    """Marks checkpoints complete and keeps ``accounting.json`` up to date (rank 0 writes)."""

    def __init__(self, directory: CheckpointDir, accounting: Accounting, attempt: Attempt, started: float):
        self.directory = directory
        self.accounting = accounting
        self.attempt = attempt
        self.started = started  # time.monotonic() at the start of the command
        self.loop_started: float | None = None
        self.start_tokens = 0
        self.last_write = 0.0

    def update(self, state: Any, outcome: str | None = None) -> None:
        now = time.monotonic()
        self.attempt.end_step = int(state.global_step)
        self.attempt.wall_seconds = round(now - self.started, 3)
        if self.loop_started is not None:
            self.attempt.train_seconds = round(now - self.loop_started, 3)
            self.attempt.tokens_processed = int(state.num_input_tokens_seen) - self.start_tokens
        if outcome:
            self.attempt.outcome = outcome
        if self.directory.is_main:
            self.accounting.save()
        self.last_write = now

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.loop_started = time.monotonic()
        self.start_tokens = int(state.num_input_tokens_seen)
        self.attempt.start_step = int(state.global_step)
        self.update(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if time.monotonic() - self.last_write >= ACCOUNTING_INTERVAL:
            self.update(state)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if _distributed():  # every rank has written its part (optimizer shards, RNG state)
            import torch.distributed as dist

            dist.barrier()
        self.update(state)  # before the marker: the books never lag behind a complete checkpoint
        if self.directory.is_main:
            self.directory.mark_complete(self.directory.path / f"checkpoint-{state.global_step}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.update(state)
        self.loop_started = None  # the loop is over: later updates only extend wall time


class _AlreadyTrained(Exception):
    """Raised by :class:`SkipWhenTrained` out of the Trainer: the restored state is final."""


class SkipWhenTrained(_Callback):
    """Ends ``Trainer.train`` before its first step when the restored checkpoint is at ``max_steps``.

    Resumed from the final checkpoint (a run killed after it, before its system was written),
    the Trainer would run one more step when ``max_steps`` ends inside an epoch (at lr 0 for a
    linear schedule: the weights unchanged, but the step count, loss history and tokens seen
    one step past the trajectory's).  ``on_train_begin`` comes once the weights, optimizer and
    trainer state are restored and before any batch: this callback raises there, which
    :func:`train_or_restore` catches.  It must be the last callback (every other one has begun).
    """

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.max_steps and state.global_step >= state.max_steps:
            raise _AlreadyTrained()


def train_or_restore(trainer: Any, resume: str | Path | None) -> Any:
    """``trainer.train(resume_from_checkpoint=resume)``, or, when ``resume`` is the final
    checkpoint, only its restoring (:class:`SkipWhenTrained` among the trainer's callbacks):
    the weights and ``trainer.state`` are the checkpoint's, no step is run, and the callbacks get
    ``on_train_end`` as after a loop.  Returns the Trainer's result, or None for a restore."""
    try:
        return trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except _AlreadyTrained:
        log.info(
            "%s is the final checkpoint (step %d of %d): restored, nothing left to train",
            resume,
            trainer.state.global_step,
            trainer.state.max_steps,
        )
        trainer.control = trainer.callback_handler.on_train_end(trainer.args, trainer.state, trainer.control)
        return None


class StopOnSignal(_Callback):
    """SIGTERM / SIGUSR1 -> checkpoint after the current optimiser step, then stop.

    Install the handlers with :meth:`install` (main thread only) and restore them with
    :meth:`restore`; :attr:`received` is the signal number once one arrived.
    """

    def __init__(self, signals: Iterable[int] = STOP_SIGNALS):
        self.signals = tuple(signals)
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is None:
            log.warning("%s received: saving a checkpoint after this step, then stopping", signal.Signals(signum).name)
        self.received = signum

    def install(self) -> None:
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _agreed(self, device: Any) -> bool:
        """Whether any rank received a signal (every rank must stop at the same step)."""
        if not _distributed():
            return self.received is not None
        import torch
        import torch.distributed as dist

        flag = torch.tensor([0 if self.received is None else self.received], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() and self.received is None:
            self.received = int(flag.item())
        return bool(flag.item())

    def stop_requested(self, device: Any = None) -> bool:
        """For a hand-written loop (the GECToR baseline): whether to checkpoint and stop after
        this step.  Under torch.distributed every rank must call it at the same step."""
        return self._agreed(device)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._agreed(args.device) and state.global_step < state.max_steps:
            control.should_save = True
            control.should_training_stop = True

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""


__all__ = [
    "Accounting",
    "Attempt",
    "CheckpointCallback",
    "CheckpointDir",
    "SkipWhenTrained",
    "StopOnSignal",
    "TrainingInterrupted",
    "checkpoint_problem",
    "fingerprint_differences",
    "model_identity",
    "train_or_restore",
]
