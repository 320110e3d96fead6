"""The training recipe: Hugging Face ``Trainer`` (+ peft LoRA, + optional DeepSpeed ZeRO).

Outputs, in the system directory ``DIR`` (``results/models/{system}/``), written by rank 0::

    adapter/ | model/           LoRA adapter (peft, safetensors) or full weights (safetensors),
                                each with the tokenizer
    deepspeed.json              the generated DeepSpeed config (ZeRO stage > 0 only)
    train_metrics.json
    system.json                 written last: its presence marks a complete system; it records
                                the template and task prompts (:mod:`writing_alpaca.systems`)

Checkpoints go to a separate directory (``--checkpoint-dir``; by default ``.DIR.checkpoints``
beside ``DIR``), which Snakemake does not delete before re-running a failed job: a killed
run resumes from there, and the directory is removed after success.  See
:mod:`.checkpoints` for resuming, signals and the accounting of interrupted runs.

The training set is tokenised once, by rank 0, into an Arrow dataset in the checkpoint
directory; the other ranks wait and memory-map it, and a retry reads it (:mod:`.cache`).

Loss and learning rate go to the trackers of ``training.report_to`` (:mod:`.tracking`); TensorBoard's
event files to ``--logging-dir`` (the workflow's ``results/logs/{system}/``; by default ``NAME.logs``
beside the checkpoint directory), kept across attempts: a resumed run appends to them.

Every run takes exactly ``max_steps`` optimiser steps with an effective batch of
``batch_size = micro_batch_size x gradient accumulation x world size``, so runs are
comparable; a budget in ``epochs`` (``systems.<name>.training``) is turned into steps once
the examples are built: ``ceil(epochs x examples / batch_size)``.

Precision (``training.precision``, resolved by :func:`.modelling.choose_precision`): bf16 or
fp16 mixed precision on a GPU (``TrainingArguments(bf16=...)`` / ``fp16=...``: autocast, and
for fp16 a dynamic loss scale; under DeepSpeed its ``bf16``/``fp16`` blocks).  A LoRA base is
loaded in that half precision, its adapter in fp32; full fine-tuning keeps fp32 master weights.
On CPU the run is fp32 with ``use_cpu=True`` (gloo between processes) and deterministic for a
given seed: a resumed run ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import WritingAlpacaError
from ..hashing import sha256_file
from ..io import share_like_umask, write_json
from ..systems import (
    ADAPTER_DIR,
    MODEL_DIR,
    SystemInfo,
    check_model_dir,
    check_system,
    hardware_description,
    start_system,
    write_system,
)
from . import cache as tokenised_cache
from . import tracking
from .checkpoints import (
    ACCOUNTING,
    TRAINER_STATE,
    Accounting,
    Attempt,
    CheckpointCallback,
    CheckpointDir,
    SkipWhenTrained,
    StopOnSignal,
    TrainingInterrupted,
    checkpoint_step,
    model_identity,
    train_or_restore,
)
from .config import TrainConfig
from .examples import padding_collator
from .modelling import (
    apply_lora,
    choose_precision,
    cuda_available,
    load_base_model,
    load_tokenizer,
)
from .zero import (
    barrier,
    deepspeed_config,
    ensure_process_group_env,
    init_distributed,
    init_process_group,
    rank,
    validate_deepspeed_config,
    world_size,
)

log = logging.getLogger(__name__)

DEEPSPEED_JSON = "deepspeed.json"
#: Checkpoints kept at a time (the newest complete one is always among them).
SAVE_TOTAL_LIMIT = 2


def default_checkpoint_dir(out: str | Path) -> Path:
    """``.NAME.checkpoints`` beside the system directory ``NAME`` (the rule passes its own)."""
    out = Path(out)
    return out.with_name(f".{out.name}.checkpoints")


def run_fingerprint(
    config: TrainConfig, base: Path, data: Path, precision: str, world: int, data_sha256: str | None = None
) -> dict[str, Any]:
    """What must not change between a checkpoint and the run resuming from it."""
    return {
        "training": config.fingerprint(),
        "base": model_identity(base),
        "data_sha256": data_sha256 or sha256_file(data),
        "precision": precision,
        # ZeRO partitions optimizer state per rank: its checkpoints need the same world size
        "deepspeed_world_size": world if config.deepspeed.enabled else None,
    }


def tokenised_training_set(
    config: TrainConfig,
    base: Path,
    data: Path,
    tokenizer: Any,
    cache_root: Path,
    data_sha256: str,
    cuda: bool,
    workers: int | None = None,
) -> tokenised_cache.Tokenised:
    """The run's training set, tokenised once into ``cache_root`` (see :mod:`.cache`).

    Rank 0 builds it unless a cache of the same fingerprint is there (a retry); with several
    ranks the others wait at a barrier, then every rank memory-maps it.
    """
    fingerprint = tokenised_cache.cache_fingerprint(
        data_sha256,
        tokenised_cache.tokenizer_identity(base, tokenizer),
        config.template,
        config.cutoff_len,
        config.train_on_inputs,
    )
    workers = workers or tokenised_cache.default_workers()

    def build(path: Path) -> dict[str, Any]:
        return tokenised_cache.build(
            data,
            tokenizer,
            config.template,
            config.cutoff_len,
            config.train_on_inputs,
            path,
            workers=workers,
            fingerprint=fingerprint,
        )

    several = world_size() > 1
    if several:
        init_process_group(cuda)
    return tokenised_cache.prepare(
        cache_root, fingerprint, build, is_main=rank() == 0, barrier=(lambda: barrier(cuda)) if several else None
    )


def _replace_dir(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(src, dst)


def _count_parameters(model: Any, trainable_only: bool = False) -> int:
    # under ZeRO-3 parameters are partitioned: ds_numel is the full size
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters() if p.requires_grad or not trainable_only)


def _training_arguments(
    config: TrainConfig,
    output_dir: Path,
    grad_accum: int,
    precision: str,
    cuda: bool,
    world: int,
    ds_config: dict[str, Any] | None,
    report_to: list[str] | None = None,
) -> Any:
    """The Trainer's arguments: the recipe's settings, checkpoints into ``output_dir``; ``report_to``
    the trackers transformers runs itself (wandb, mlflow; TensorBoard: :func:`.tracking.hf_reporting`)."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=grad_accum,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        lr_scheduler_type="linear",
        optim="adamw_torch",
        bf16=precision == "bf16",
        fp16=precision == "fp16",  # autocast + dynamic loss scaling (GradScaler), or DeepSpeed's
        use_cpu=not cuda,  # on a GPU the Trainer must use it
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=SAVE_TOTAL_LIMIT,
        seed=config.seed,
        data_seed=config.seed,
        deepspeed=ds_config,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False if world > 1 else None,
        report_to=list(report_to or []),
        run_name=config.system,
        disable_tqdm=True,
    )


def train(
    config: TrainConfig,
    base: str | Path,
    data: str | Path,
    out: str | Path,
    checkpoint_dir: str | Path | None = None,
    prompts: Mapping[str, str] | None = None,
    cache_dir: str | Path | None = None,
    logging_dir: str | Path | None = None,
    card: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one system and write ``out`` (see module docstring). Returns the metrics.

    ``card`` (:func:`writing_alpaca.cards.training_card`: the config's provenance, the settings) is
    written into ``out`` as its model card, ``README.md``, with the run's metrics.

    Loss and learning rate are logged to ``config.report_to``; TensorBoard writes into
    ``logging_dir`` (default: :func:`.tracking.default_logging_dir`), appending when the run resumes.

    The tokenised training set goes to ``cache_dir``, a directory shared by runs (every system
    with the same tokenizer, data and template reads one build), or, when None, into the
    checkpoint directory, private to this run and removed with it (:mod:`.cache`).

    ``prompts`` (``{task: instruction}``, config ``tasks.<task>.prompt``) are recorded in
    ``system.json`` with the template (:mod:`writing_alpaca.systems`) for ``edit`` and ``decode``.
    Resumes from the newest complete checkpoint in ``checkpoint_dir`` if there is one.
    Raises :class:`~.checkpoints.TrainingInterrupted` after checkpointing on SIGTERM/SIGUSR1.
    """
    from transformers import Trainer, set_seed

    started = time.monotonic()
    out, data = Path(out), Path(data)
    base = check_model_dir(base)
    if not data.is_file():
        raise WritingAlpacaError(f"{data}: file not found")
    # the system.json this run will end with, checked before it spends hours
    info = SystemInfo.causal_lm(config.system, config.method, base, config.template.as_dict(), prompts or {})
    check_system(info, out)
    tracking.check_available(config.report_to)
    cuda = cuda_available()
    precision = choose_precision(config.precision, cuda)
    tokenizer = load_tokenizer(base, padding_side="right")
    if config.deepspeed.enabled:
        ensure_process_group_env()
    world, is_main = world_size(), rank() == 0
    grad_accum = config.gradient_accumulation(world)
    gpus = world if cuda else 0

    checkpoints = CheckpointDir(
        checkpoint_dir or default_checkpoint_dir(out), is_main=is_main, required=(TRAINER_STATE,)
    )
    data_sha256 = sha256_file(data)
    # tokenised once (rank 0), memory-mapped by every rank, kept for a retry (and other systems when shared)
    cache_root = Path(cache_dir) if cache_dir is not None else checkpoints.path
    tokenised = tokenised_training_set(config, base, data, tokenizer, cache_root, data_sha256, cuda)
    examples = tokenised.dataset
    config = config.resolve_steps(len(examples))  # an epochs budget becomes steps
    if config.epochs is not None:
        log.info(
            "%s: %g epoch(s) of %d examples at batch %d = %d steps",
            config.system,
            config.epochs,
            len(examples),
            config.batch_size,
            config.max_steps,
        )

    resume = checkpoints.prepare(run_fingerprint(config, base, data, precision, world, data_sha256))
    if resume is not None:
        log.info("resuming from %s", resume)
    logging_dir = Path(logging_dir) if logging_dir is not None else tracking.default_logging_dir(out, checkpoints.path)
    tracking.prepare_logging_dir(logging_dir, config.report_to, resumed=resume is not None, is_main=is_main)
    report_to, trackers = tracking.hf_reporting(
        config.report_to, logging_dir, checkpoint_step(resume) if resume else None
    )
    if is_main:
        if cache_dir is None:
            tokenised_cache.remove_stale(checkpoints.path, keep=tokenised.path)  # other settings' caches
        start_system(out)  # only a finished run has system.json

    ds_config = None
    if config.deepspeed.enabled:
        ds_config = deepspeed_config(config.deepspeed, cuda, precision=precision)
        validate_deepspeed_config(ds_config, config.micro_batch_size, grad_accum, precision)

    set_seed(config.seed)

    # Built before the model: with a ZeRO-3 config, from_pretrained then creates it partitioned.
    args = _training_arguments(config, checkpoints.path, grad_accum, precision, cuda, world, ds_config, report_to)
    if config.deepspeed.stage == 3:
        init_distributed(cuda)

    # Full fine-tuning keeps fp32 master weights (bf16/fp16 autocast); a frozen LoRA base is loaded in
    # the run's precision, its adapter in fp32 (apply_lora), so fp16's GradScaler can unscale it.
    model = load_base_model(base, precision if config.method == "lora" else "fp32")
    model.config.use_cache = False
    if config.method == "lora":
        model = apply_lora(model, config.lora)

    # rank 0 keeps the books; the other ranks only report their own attempt
    accounting = (
        Accounting.load(checkpoints.path / ACCOUNTING) if is_main else Accounting(checkpoints.path / ACCOUNTING)
    )
    attempt = Attempt(
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z"), gpus=gpus, world_size=world, start_step=0, end_step=0
    )
    accounting.attempts.append(attempt)
    bookkeeper = CheckpointCallback(checkpoints, accounting, attempt, started)
    stopper = StopOnSignal()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=examples,
        data_collator=padding_collator(tokenizer),
        processing_class=tokenizer,
        callbacks=[bookkeeper, stopper, *trackers, SkipWhenTrained()],  # SkipWhenTrained last
    )

    stopper.install()
    try:
        # resumed from the final checkpoint (killed before the system was written): restored, not trained further
        result = train_or_restore(trainer, resume)
    finally:
        stopper.restore()
    state = trainer.state
    if state.global_step < config.max_steps:
        bookkeeper.update(state, outcome="interrupted")
        raise TrainingInterrupted(
            f"{config.system}: stopped by {stopper.name or 'a request'} at step {state.global_step} of "
            f"{config.max_steps}; checkpoint saved in {checkpoints.path}: run the same command again to resume"
        )

    # Save on every rank (ZeRO-3 gathers weights collectively); only rank 0 writes files.
    weights = ADAPTER_DIR if config.method == "lora" else MODEL_DIR
    staging = out / f".{weights}.tmp"
    trainer.save_model(str(staging))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(staging))
        (staging / "training_args.bin").unlink(missing_ok=True)
        share_like_umask(staging)  # save_pretrained writes through tempfile: 0600 weights otherwise
        _replace_dir(staging, out / weights)
    bookkeeper.update(state, outcome="finished")

    losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
    tokens_seen = int(state.num_input_tokens_seen)
    totals = accounting.totals()
    metrics = {
        "wall_seconds": totals["wall_seconds"],
        "gpus": gpus,
        "gpu_hours": totals["gpu_hours"],
        "tokens_seen": tokens_seen,
        "tokens_per_second": totals["tokens_per_second"],
        "steps": int(state.global_step),
        "final_loss": losses[-1] if losses else (float(result.training_loss) if result is not None else None),
        "loss_history": losses,
        "hardware": hardware_description(),
        "world_size": world,
        "precision": precision,
        "method": config.method,
        "deepspeed_stage": config.deepspeed.stage,
        "examples": len(examples),
        "epochs": round(int(state.global_step) * config.batch_size / len(examples), 4),
        "train_examples": len(examples),  # Table 7's #Data (the same name for every trainer)
        "parameters": _count_parameters(model),
        "trainable_parameters": _count_parameters(model, trainable_only=True),
        "micro_batch_size": config.micro_batch_size,
        "gradient_accumulation": grad_accum,
        "effective_batch_size": config.micro_batch_size * grad_accum * world,
        "train_seconds": totals["train_seconds"],
        "tokens_processed": totals["tokens_processed"],
        "resumed_from": str(resume) if resume else None,
        "attempts": totals["attempts"],
    }
    if is_main:
        if ds_config is not None:
            write_json(out / DEEPSPEED_JSON, ds_config)
        write_system(out, info, metrics, card=card)  # the model card, train_metrics.json, then system.json
        checkpoints.remove()
    log.info(
        "trained %s: %d steps, final loss %.4f, %.1f s",
        config.system,
        metrics["steps"],
        metrics["final_loss"],
        metrics["wall_seconds"],
    )
    return metrics


__all__ = ["default_checkpoint_dir", "deepspeed_config", "validate_deepspeed_config", "train"]
