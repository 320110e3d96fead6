"""Shared pieces of the Table-7 baselines: data, hyper-parameters, hardware, artefacts."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import settings as S
from ..errors import WritingAlpacaError, located
from ..io import parse_jsonl_line, read_jsonl
from ..systems import BASELINE_KINDS

log = logging.getLogger(__name__)

KINDS = BASELINE_KINDS  # seq2seq, gector (their system.json: writing_alpaca.systems)

# Baseline hyper-parameters: `training.baselines.<kind>` in config.yaml overrides the defaults of
# writing_alpaca.settings.Seq2SeqTraining (T5 as Rothe et al., 2021) and GectorTraining
# (Omelianchuk et al., 2020), the one definition of each key, its bounds and its meaning.
_SETTINGS = {"seq2seq": S.Seq2SeqTraining, "gector": S.GectorTraining}
#: the defaults, as the trainers read them (seed 42 unless training.seed or the top-level seed is given)
SEQ2SEQ_DEFAULTS: dict[str, Any] = {**S.Seq2SeqTraining().model_dump(), "seed": 42}
GECTOR_DEFAULTS: dict[str, Any] = {**S.GectorTraining().model_dump(), "seed": 42}
#: Settings that do not change the optimisation trajectory (left out of the checkpoint fingerprint).
NOT_IN_FINGERPRINT = ("save_steps", "logging_steps")
#: Checkpoints kept at a time (as the LLM trainer: the newest complete one is always among them).
SAVE_TOTAL_LIMIT = 2


@dataclass(frozen=True)
class Pair:
    id: str
    task: str
    source: str
    target: str


def check_kind(kind: str, what: str) -> str:
    if kind not in KINDS:
        raise WritingAlpacaError(f"{what}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def hyperparameters(kind: str, training: Mapping[str, Any]) -> dict[str, Any]:
    """``training.baselines.<kind>`` parsed with its settings class (defaults filled in; unknown
    keys, wrong types and a batch that micro-batches do not divide are errors); the batch must
    also divide over this run's processes (the Snakefile checks it against the job's GPUs)."""
    if not isinstance(training, Mapping):
        raise WritingAlpacaError(f"training: expected a mapping, got {type(training).__name__}")
    block = (training.get("baselines") or {}).get(kind) or {}
    hp = S.parse(_SETTINGS[kind], block, f"training.baselines.{kind}").model_dump()
    if hp["seed"] is None:
        hp["seed"] = training.get("seed", 42)
    if hp["batch_size"] % (hp["micro_batch_size"] * world_size()):
        raise WritingAlpacaError(
            f"training.baselines.{kind}: batch_size {hp['batch_size']} is not a multiple of "
            f"micro_batch_size {hp['micro_batch_size']} x {world_size()} process(es)"
        )
    return hp


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def init_distributed(device):
    """Join torchrun's process group when launched with several processes (``WORLD_SIZE`` > 1).

    NCCL on GPUs (each rank on its ``LOCAL_RANK`` device), gloo on CPU.  Returns the device
    this rank trains on (``device`` itself for one process).
    """
    import torch
    import torch.distributed as dist

    if world_size() <= 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if distributed():
        import torch.distributed as dist

        dist.barrier()


def close_distributed() -> None:
    """Leave the process group :func:`init_distributed` joined (a one-process run has none)."""
    import torch.distributed as dist

    if world_size() > 1 and dist.is_available() and dist.is_initialized():
        dist.barrier()  # every rank is done (rank 0 has written the system) before any exits
        dist.destroy_process_group()


def default_checkpoint_dir(out: str | Path) -> Path:
    """``.NAME.checkpoints`` beside the system directory ``NAME`` (the rule passes its own)."""
    out = Path(out)
    return out.with_name(f".{out.name}.checkpoints")


def run_fingerprint(
    kind: str, hp: Mapping[str, Any], base: str | Path, data: str | Path, precision: str, ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """What must not change between a baseline's checkpoint and the run resuming from it.

    The world size is not part of it: the checkpoints hold full (unsharded) states and the
    data order does not depend on the number of processes, so a run may resume on more or
    fewer GPUs (same global batch).
    """
    from ..hashing import sha256_file
    from ..training.checkpoints import model_identity

    if not (Path(base) / "config.json").is_file():
        raise WritingAlpacaError(f"--base {base}: no config.json (not a Hugging Face model directory)")
    skip = set(NOT_IN_FINGERPRINT) | set(ignore)
    return {
        "kind": kind,
        "hyperparameters": {k: v for k, v in hp.items() if k not in skip},
        "base": model_identity(base),
        "data_sha256": sha256_file(data),
        "precision": precision,
    }


def parse_pair_line(path: str | Path, lineno: int, line: str | bytes) -> Pair | None:
    """One line of an instruction mixture as a source -> target pair (``input`` -> ``output``),
    or None for a record without an ``input`` (a generic instruction: no source sentence; the
    baselines take no prompt, so the instruction text is not used).  Errors name file and line."""
    rec = parse_jsonl_line(path, lineno, line)
    for key in ("input", "output"):
        if not isinstance(rec.get(key, ""), str):
            raise located(path, lineno, f"field {key!r} must be a string")
    if not rec.get("input"):
        return None
    if "output" not in rec:
        raise located(path, lineno, "record has no 'output'")
    return Pair(str(rec.get("id", lineno)), str(rec.get("task", "")), rec["input"], rec["output"])


def prepare_training_set(
    *,
    kind: str,
    version: int,
    data: str | Path,
    base: str | Path,
    tokenizer: Any,
    root: str | Path,
    tokenise: Any,
    fn_kwargs: Mapping[str, Any],
    columns: Any,
    settings: Mapping[str, Any],
) -> Any:
    """The baseline's training set of ``data``, built once by rank 0 into an Arrow cache under
    ``root`` and memory-mapped by every rank (:mod:`writing_alpaca.training.cache`, the LLM
    trainer's): ``tokenise`` turns a batch of mixture lines (:func:`parse_pair_line`) into rows
    of ``columns``; the fingerprint is the data, the tokenizer, ``settings`` (what else changes
    the rows) and ``version`` (of ``tokenise``'s code).  Returns the ``Tokenised`` set."""
    from ..hashing import sha256_file
    from ..training import cache

    fingerprint = {
        "version": cache.CACHE_VERSION,
        "baseline": kind,
        "baseline_version": version,
        "data_sha256": sha256_file(data),
        "tokenizer": cache.tokenizer_identity(base, tokenizer),
        "settings": dict(settings),
    }

    def build(path: Path) -> dict[str, Any]:
        info = cache.build_dataset(
            data,
            path,
            tokenise,
            fn_kwargs,
            columns,
            workers=cache.default_workers(),
            fingerprint=fingerprint,
            empty_error="no record with a non-empty 'input' to train on"
            + (
                " (or every such pair has source == target: skip_correct is on)" if settings.get("skip_correct") else ""
            ),
        )
        if info["dropped"]:
            log.info(
                "%s: %d of %d record(s) left out (no input%s)",
                data,
                info["dropped"],
                info["records"],
                ", or source == target" if settings.get("skip_correct") else "",
            )
        return info

    return cache.prepare(root, fingerprint, build, is_main=rank() == 0, barrier=barrier if world_size() > 1 else None)


def load_sources(path: str | Path) -> list[tuple[str, str]]:
    """``(task, source)`` of each normalised test record, in order."""
    out = []
    for lineno, rec in enumerate(read_jsonl(path), start=1):
        source = rec.get("source")
        if not isinstance(source, str):
            raise located(path, lineno, "test record has no string 'source'")
        out.append((str(rec.get("task", "")), source))
    return out


def format_prefix(prefix: str, task: str) -> str:
    try:
        return prefix.format(task=task)
    except (KeyError, IndexError, ValueError) as exc:
        raise WritingAlpacaError(f"source_prefix {prefix!r}: bad template ({exc}); only {{task}} is allowed") from None


def corpus_texts(paths: Iterable[str | Path]) -> list[str]:
    """Every text field of JSONL records (training pairs, instructions or test records)."""
    texts: list[str] = []
    for path in paths:
        for rec in read_jsonl(path):
            for key in ("source", "target", "instruction", "input", "output"):
                value = rec.get(key)
                if isinstance(value, str) and value:
                    texts.append(value)
            refs = rec.get("references")
            if isinstance(refs, list):
                texts.extend(r for r in refs if isinstance(r, str) and r)
    if not texts:
        raise WritingAlpacaError("build-tiny: the corpus files hold no text")
    return texts


def device_and_dtype(precision: str):
    """(device, half dtype or None for fp32) of a precision chosen by the LLM trainer's and
    decoder's one chooser, :func:`writing_alpaca.training.modelling.choose_precision` (the
    baselines call it with ``fp16=False`` for T5, which overflows in fp16: ``auto`` is then fp32
    on a GPU without native bf16)."""
    import torch

    from ..training.modelling import torch_dtype

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return device, (None if precision == "fp32" else torch_dtype(precision))


def hardware() -> tuple[int, str]:
    """(number of GPUs used, the same hardware description as the LLM trainer and decoder)."""
    from ..systems import hardware as visible_hardware

    return visible_hardware()


def train_metrics(
    *,
    wall_seconds: float,
    tokens_seen: int,
    steps: int,
    loss_history: list[float],
    extra: Mapping[str, Any] = {},
    totals: Mapping[str, Any] | None = None,
    gpus: int | None = None,
) -> dict[str, Any]:
    """``train_metrics.json``; ``totals`` (:meth:`~writing_alpaca.training.checkpoints.Accounting.totals`)
    sums the cost over every attempt of a resumed run, as the LLM trainer reports it."""
    counted, hw = hardware()
    gpus = counted if gpus is None else gpus
    metrics = {
        "wall_seconds": round(wall_seconds, 3),
        "gpus": gpus,
        "gpu_hours": round(wall_seconds * gpus / 3600.0, 6),
        "tokens_seen": int(tokens_seen),
        "tokens_per_second": round(tokens_seen / wall_seconds, 3) if wall_seconds > 0 else 0.0,
        "steps": int(steps),
        "final_loss": loss_history[-1] if loss_history else None,
        "loss_history": loss_history,
        "hardware": hw,
    }
    if totals is not None:
        metrics.update({key: totals[key] for key in ("wall_seconds", "gpu_hours", "tokens_per_second")})
        metrics.update({key: totals[key] for key in ("train_seconds", "tokens_processed", "attempts")})
    metrics.update(extra)
    return metrics


def decode_metrics(
    *, instances: int, seconds: float, tokens: int, batch_size: int, num_beams: int | None, device: str, **extra: Any
) -> dict[str, Any]:
    _, hw = hardware()
    return {
        "instances": instances,
        "seconds": round(seconds, 3),
        "instances_per_second": round(instances / seconds, 3) if seconds > 0 else 0.0,
        "generated_tokens": int(tokens),
        "tokens_per_second": round(tokens / seconds, 3) if seconds > 0 else 0.0,
        "batch_size": batch_size,
        "num_beams": num_beams,
        "device": device,
        "hardware": hw,
        **extra,
    }


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
