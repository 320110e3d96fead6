"""The training recipe: Hugging Face ``Trainer`` (+ peft LoRA, + optional DeepSpeed ZeRO).

Layout of the output directory ``DIR`` (``results/models/{system}/``)::

    checkpoints/checkpoint-N/   every save_steps (HF format; the latest is resumed from)
    deepspeed.json              the generated DeepSpeed config (ZeRO stage > 0 only)
    adapter/ | model/           LoRA adapter (peft) or full weights, each with the tokenizer
    train_metrics.json
    system.json                 written last: its presence marks a complete system

Every run takes exactly ``max_steps`` optimiser steps, so runs are comparable.
On CPU the run is fp32 with ``use_cpu=True`` and deterministic for a given seed.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Mapping

from ..errors import WritingAlpacaError
from ..io import write_json
from .config import TrainConfig
from .data import PaddingCollator, build_examples, load_instruction_records
from .modelling import (
    apply_lora,
    check_model_dir,
    choose_precision,
    cuda_available,
    hardware_description,
    load_base_model,
    load_tokenizer,
)

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
DEEPSPEED_JSON = "deepspeed.json"


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


# --------------------------------------------------------------------------- DeepSpeed


def deepspeed_config(config: TrainConfig) -> dict[str, Any]:
    """The DeepSpeed config for ``training.deepspeed`` (stage > 0).

    Batch sizes, clipping and precision are ``"auto"``: the HF integration fills
    them from ``TrainingArguments`` so the two can never disagree.  Without offload
    the Trainer's torch AdamW is used (no DeepSpeed op build); with offload the
    optimizer is DeepSpeed's ``AdamW`` (``DeepSpeedCPUAdam``, JIT-built on first use).
    """
    ds = config.deepspeed
    if not ds.enabled:
        raise ValueError("deepspeed_config() called with stage 0")
    zero: dict[str, Any] = {
        "stage": ds.stage,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    if ds.stage == 3:
        zero.update(
            {
                "stage3_gather_16bit_weights_on_model_save": True,
                "stage3_prefetch_bucket_size": "auto",
                "stage3_param_persistence_threshold": "auto",
            }
        )
    out: dict[str, Any] = {
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "bf16": {"enabled": "auto"},
        "zero_optimization": zero,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if ds.offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if ds.stage == 3:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
        out["optimizer"] = {
            "type": "AdamW",
            "params": {"lr": "auto", "betas": "auto", "eps": "auto", "weight_decay": "auto"},
        }
    return out


def _resolve_auto(value: Any, concrete: Mapping[str, Any], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _resolve_auto(v, concrete, k) for k, v in value.items()}
    if value == "auto":
        return concrete.get(key, None)
    return value


def validate_deepspeed_config(ds_config: Mapping[str, Any], micro_batch: int, grad_accum: int, precision: str) -> None:
    """Check ``ds_config`` with DeepSpeed's own parser (``"auto"`` replaced by this run's values)."""
    from deepspeed.runtime.config import DeepSpeedConfig

    concrete = {
        "train_batch_size": micro_batch * grad_accum * world_size(),
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": grad_accum,
        "gradient_clipping": 1.0,
        "enabled": precision == "bf16",
        "reduce_bucket_size": 5e8,
        "stage3_prefetch_bucket_size": 5e7,
        "stage3_param_persistence_threshold": 1e5,
        "lr": 1e-4,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    resolved = _resolve_auto(dict(ds_config), concrete)
    # DeepSpeedConfig derives world size from torch.distributed (1 when not initialised).
    resolved["train_batch_size"] = micro_batch * grad_accum
    try:
        DeepSpeedConfig(resolved)
    except Exception as exc:  # DeepSpeed raises assorted types (AssertionError, ValidationError, ...)
        raise WritingAlpacaError(f"training.deepspeed: DeepSpeed rejects the generated config: {exc}") from exc


# --------------------------------------------------------------------------- Trainer


class _ListDataset:
    """A map-style dataset over pre-tokenised examples (the Trainer needs ``__len__``)."""

    def __init__(self, examples: list[dict[str, list[int]]]):
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.examples[index]


def _replace_dir(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(src, dst)


def train(
    config: TrainConfig,
    base: str | Path,
    data: str | Path,
    out: str | Path,
) -> dict[str, Any]:
    """Train one system and write ``out`` (see module docstring). Returns the metrics."""
    from transformers import Trainer, TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    out = Path(out)
    base = check_model_dir(base)
    records = load_instruction_records(data)
    cuda = cuda_available()
    precision = choose_precision(config.bf16, cuda)
    grad_accum = config.gradient_accumulation(world_size())

    out.mkdir(parents=True, exist_ok=True)
    (out / "system.json").unlink(missing_ok=True)  # only a finished run has system.json

    set_seed(config.seed)
    tokenizer = load_tokenizer(base, padding_side="right")
    examples = build_examples(records, tokenizer, config.template, config.cutoff_len, config.train_on_inputs)
    # Full fine-tuning keeps fp32 master weights (bf16 autocast); a frozen LoRA base is loaded in bf16.
    model = load_base_model(base, precision if config.method == "lora" else "fp32")
    model.config.use_cache = False
    if config.method == "lora":
        model = apply_lora(model, config.lora)

    ds_path = None
    if config.deepspeed.enabled:
        ds_config = deepspeed_config(config)
        validate_deepspeed_config(ds_config, config.micro_batch_size, grad_accum, precision)
        ds_path = out / DEEPSPEED_JSON
        write_json(ds_path, ds_config)

    args = TrainingArguments(
        output_dir=str(out / CHECKPOINTS),
        per_device_train_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=grad_accum,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        lr_scheduler_type="linear",
        optim="adamw_torch",
        bf16=precision == "bf16",
        use_cpu=not cuda,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        data_seed=config.seed,
        deepspeed=str(ds_path) if ds_path else None,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False if world_size() > 1 else None,
        report_to="none",
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_ListDataset(examples),
        data_collator=PaddingCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
    )
    last = get_last_checkpoint(str(out / CHECKPOINTS)) if (out / CHECKPOINTS).is_dir() else None
    if last:
        log.info("resuming from %s", last)

    gpus = (world_size() if world_size() > 1 else args.n_gpu) if cuda else 0
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=last)
    wall = time.perf_counter() - start

    # Save on every rank (ZeRO-3 gathers weights collectively); only rank 0 moves files.
    weights = "adapter" if config.method == "lora" else "model"
    staging = out / f".{weights}.tmp"
    trainer.save_model(str(staging))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(staging))
        (staging / "training_args.bin").unlink(missing_ok=True)
        _replace_dir(staging, out / weights)

    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    tokens_seen = int(trainer.state.num_input_tokens_seen)
    metrics = {
        "wall_seconds": round(wall, 3),
        "gpus": gpus,
        "gpu_hours": round(gpus * wall / 3600, 6),
        "tokens_seen": tokens_seen,
        "tokens_per_second": round(tokens_seen / wall, 3) if wall > 0 else 0.0,
        "steps": int(trainer.state.global_step),
        "final_loss": losses[-1] if losses else float(result.training_loss),
        "loss_history": losses,
        "hardware": hardware_description(),
        "precision": precision,
        "method": config.method,
        "examples": len(examples),
        "effective_batch_size": config.micro_batch_size * grad_accum * world_size(),
        "resumed_from": last,
    }
    if trainer.is_world_process_zero():
        write_json(out / "train_metrics.json", metrics)
        write_json(
            out / "system.json",
            {
                "system": config.system,
                "kind": "causal_lm",
                "method": config.method,
                "base": str(base),
                "adapter": "adapter" if config.method == "lora" else None,
                "model": "model" if config.method == "full" else None,
            },
        )
    log.info("trained %s: %d steps, final loss %.4f, %.1f s", config.system, metrics["steps"], metrics["final_loss"], wall)
    return metrics


def read_system(path: str | Path) -> dict[str, Any]:
    """Read and check ``system.json`` of a trained system directory."""
    from ..io import read_json

    path = Path(path)
    spec_path = path / "system.json"
    if not spec_path.is_file():
        raise WritingAlpacaError(f"{path}: not a trained system (system.json missing: training incomplete?)")
    spec = read_json(spec_path)
    if not isinstance(spec, dict) or "kind" not in spec or "base" not in spec:
        raise WritingAlpacaError(f"{spec_path}: expected an object with kind, method, base, adapter, model")
    return spec


__all__ = ["deepspeed_config", "validate_deepspeed_config", "train", "read_system"]
