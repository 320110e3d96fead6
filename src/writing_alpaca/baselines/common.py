"""Shared pieces of the Table-7 baselines: data, hyper-parameters, hardware, artefacts."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import WritingAlpacaError, located
from ..io import read_jsonl, write_json

log = logging.getLogger(__name__)

KINDS = ("seq2seq", "gector")

# Baseline hyper-parameters: `training.baselines.<kind>` in config.yaml overrides these.
# Paper-scale values (see docs in the report / README of the workflow):
#  - seq2seq: T5 fine-tuning as in Rothe et al. (2021) on cLang-8: Adafactor with a constant
#    learning rate of 1e-3, 256 sentences a batch, 128 sub-words each side.
#  - gector: Omelianchuk et al. (2020) / the `gector` package (gotutiyan): AdamW, lr 1e-5 after
#    "cold" steps that train only the tag heads at lr 1e-3, batch 128, 5000 tags,
#    80 sub-words, 5 correction rounds at inference.
SEQ2SEQ_DEFAULTS: dict[str, Any] = {
    "optimizer": "adafactor",  # adafactor | adamw
    "learning_rate": 1.0e-3,
    "lr_scheduler": "constant",  # any transformers scheduler name
    "warmup_steps": 0,
    "weight_decay": 0.0,
    "max_steps": 20000,
    "batch_size": 256,
    "micro_batch_size": 16,
    "max_source_length": 128,
    "max_target_length": 128,
    "source_prefix": "",  # e.g. "{task}: " -> "grammar: He go ..."; also used at decode time
    "save_steps": 2000,  # 0 = no intermediate checkpoints
    "logging_steps": 10,
    "seed": 42,
}
GECTOR_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1.0e-5,
    "cold_learning_rate": 1.0e-3,
    "cold_steps": 2000,  # steps training only the tag heads (GECToR's "cold epochs")
    "warmup_steps": 500,
    "max_steps": 20000,
    "batch_size": 128,
    "micro_batch_size": 32,
    "max_length": 80,  # sub-words per sentence (longer sentences: the tail is kept as is)
    "max_labels": 5000,  # size of the tag vocabulary, most frequent first
    "skip_correct": False,  # drop training pairs with source == target
    "label_smoothing": 0.0,
    "dropout": 0.0,  # dropout before the tag head
    "verb_forms": None,  # None (no verb transforms), "lemminflect", or a verb-form-vocab.txt (word1_word2:TAG1_TAG2)
    "iterations": 5,  # inference: correction rounds
    "keep_confidence": 0.0,  # inference: bias added to P($KEEP)
    "min_error_prob": 0.0,  # inference: sentence-level minimum error probability
    "save_steps": 2000,  # checkpoint every N steps (0 = only when stopped by a signal)
    "logging_steps": 10,
    "seed": 42,
}
_DEFAULTS = {"seq2seq": SEQ2SEQ_DEFAULTS, "gector": GECTOR_DEFAULTS}
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
    """Merge ``training.baselines.<kind>`` over the defaults; unknown keys are an error."""
    block = (training.get("baselines") or {}).get(kind) or {}
    if not isinstance(block, Mapping):
        raise WritingAlpacaError(f"training.baselines.{kind}: expected a mapping, got {type(block).__name__}")
    defaults = _DEFAULTS[kind]
    unknown = sorted(set(block) - set(defaults))
    if unknown:
        raise WritingAlpacaError(
            f"training.baselines.{kind}: unknown key(s) {', '.join(unknown)}; known: {', '.join(defaults)}"
        )
    hp = {**defaults, **block}
    if "seed" not in block and "seed" in training:
        hp["seed"] = training["seed"]
    for key in ("max_steps", "batch_size", "micro_batch_size"):
        if not isinstance(hp[key], int) or hp[key] < 1:
            raise WritingAlpacaError(f"training.baselines.{kind}.{key}: expected a positive integer, got {hp[key]!r}")
    if not isinstance(hp["save_steps"], int) or isinstance(hp["save_steps"], bool) or hp["save_steps"] < 0:
        raise WritingAlpacaError(f"training.baselines.{kind}.save_steps: expected an integer >= 0, got {hp['save_steps']!r}")
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
    from ..training.checkpoints import file_digest, model_identity

    if not (Path(base) / "config.json").is_file():
        raise WritingAlpacaError(f"--base {base}: no config.json (not a Hugging Face model directory)")
    skip = set(NOT_IN_FINGERPRINT) | set(ignore)
    return {
        "kind": kind,
        "hyperparameters": {k: v for k, v in hp.items() if k not in skip},
        "base": model_identity(base),
        "data_sha256": file_digest(data),
        "precision": precision,
    }


def precision_name(dtype) -> str:
    """bf16 / fp16 / fp32 for the half dtype of :func:`device_and_dtype` (None: fp32)."""
    import torch

    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def load_pairs(path: str | Path) -> list[Pair]:
    """Source -> target pairs of an instruction mixture (``input`` -> ``output``).

    Records without an ``input`` (generic instructions) have no source sentence and are
    skipped; the instruction text is not used (the baselines take no prompt).
    """
    pairs: list[Pair] = []
    skipped = 0
    for lineno, rec in enumerate(read_jsonl(path), start=1):
        for key in ("input", "output"):
            if not isinstance(rec.get(key, ""), str):
                raise located(path, lineno, f"field {key!r} must be a string")
        if not rec.get("input"):
            skipped += 1
            continue
        if "output" not in rec:
            raise located(path, lineno, "record has no 'output'")
        pairs.append(Pair(str(rec.get("id", lineno)), str(rec.get("task", "")), rec["input"], rec["output"]))
    if skipped:
        log.info("%s: skipped %d record(s) without an input", path, skipped)
    if not pairs:
        raise WritingAlpacaError(f"{path}: no record with a non-empty 'input' to train on")
    return pairs


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


def device_and_dtype(precision: Any = "auto", *, fp16: bool = True, what: str = "training.precision"):
    """(device, half dtype or None for fp32): the LLM trainer's precision choice for a baseline.

    ``precision: auto|bf16|fp16|fp32`` (:func:`writing_alpaca.training.modelling.choose_precision`):
    ``auto`` is bf16 on a GPU with native bf16, fp16 on an older GPU (``fp16=False``: fp32
    there, for a model that overflows in fp16), fp32 on CPU.
    """
    import torch

    from ..training.modelling import choose_precision

    cuda = torch.cuda.is_available()
    chosen = choose_precision("auto" if precision is None else precision, cuda, what=what, fp16=fp16)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(chosen)
    return torch.device("cuda" if cuda else "cpu"), dtype


def training_precision(training: Mapping[str, Any]) -> str:
    """``training.precision`` of a baseline's training fragment (the old ``bf16`` key is an error)."""
    from ..training.config import precision_setting

    return precision_setting(training)


def hardware() -> tuple[int, str]:
    """(number of GPUs used, the same hardware description as the LLM trainer and decoder)."""
    import torch

    from ..training.modelling import hardware_description

    return (torch.cuda.device_count() if torch.cuda.is_available() else 0), hardware_description()


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


def write_system(out: Path, *, system: str, kind: str, base: str | Path, metrics: Mapping[str, Any]) -> None:
    """Write ``train_metrics.json`` then ``system.json`` (last: it marks the directory complete)."""
    write_json(out / "train_metrics.json", dict(metrics))
    write_json(
        out / "system.json",
        {"system": system, "kind": kind, "method": "full", "base": str(base), "adapter": None, "model": "model"},
    )


def read_system(system_dir: str | Path) -> dict[str, Any]:
    """``system.json`` of a trained baseline (read and checked as every system's, then its kind and model dir)."""
    from ..training.recipe import read_system as read_any_system

    info = read_any_system(system_dir)
    if info.get("kind") not in KINDS or not info.get("model"):
        path = Path(system_dir) / "system.json"
        raise located(path, None, f"not a baseline system (kind must be one of {', '.join(KINDS)}, with a model dir)")
    return info


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
