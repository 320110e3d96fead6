"""T5 seq2seq GEC baseline (Table 7: T5-Large trained on cLang-8, after Rothe et al. 2021).

Training fine-tunes all weights of ``AutoModelForSeq2SeqLM`` on ``input -> output`` pairs of
an instruction mixture with ``Seq2SeqTrainer`` (data-parallel under torchrun; checkpoints and
resuming as the LLM trainer's), with no prompt template (an optional
``source_prefix`` such as ``"{task}: "`` is put before each source, at training and at
decoding time).  Decoding uses ``generate`` with beam search, batched over inputs sorted
by length, one output line per input in the input order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import settings as S
from ..errors import WritingAlpacaError
from ..io import atomic_dir, read_json, write_json, write_lines
from ..systems import BASELINE_KINDS, SystemInfo, read_system, write_system
from ..training import tracking
from ..training.cache import remove_stale
from ..training.checkpoints import (
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
    train_or_restore,
)
from . import common

log = logging.getLogger(__name__)

SETTINGS_FILE = "baseline.json"  # inside model/: what decoding must reproduce from training
#: Bump when _tokenise_pairs changes the ids it produces (invalidates tokenised caches).
CACHE_VERSION = 1
DECODE_MAX_INPUT_TOKENS = 1024  # T5's relative positions take any length; this only bounds memory


def _tokenize(tokenizer, texts: list[str], max_length: int, chunk: int = 10000) -> list[list[int]]:
    ids: list[list[int]] = []
    for start in range(0, len(texts), chunk):
        ids.extend(tokenizer(texts[start : start + chunk], truncation=True, max_length=max_length)["input_ids"])
    return ids


def _tokenise_pairs(
    batch: Mapping[str, list[bytes]],
    indices: list[int],
    path: str,
    tokenizer: Any,
    source_prefix: str,
    max_source_length: int,
    max_target_length: int,
) -> dict[str, list[list[int]]]:
    """A batch of mixture lines (row ``i`` is line ``i + 1``) as source and target ids, cut to
    their maximum lengths (records without an input are left out); :func:`common.prepare_training_set`."""
    sources: list[str] = []
    targets: list[str] = []
    for i, raw in zip(indices, batch["line"]):
        pair = common.parse_pair_line(path, i + 1, raw)
        if pair is not None:
            sources.append(common.format_prefix(source_prefix, pair.task) + pair.source)
            targets.append(pair.target)
    if not sources:  # a batch of generic instructions only
        return {"input_ids": [], "labels": []}
    ids_only = {"truncation": True, "return_attention_mask": False}
    return {
        "input_ids": tokenizer(sources, max_length=max_source_length, **ids_only)["input_ids"],
        "labels": tokenizer(targets, max_length=max_target_length, **ids_only)["input_ids"],
    }


def training_set(hp: Mapping[str, Any], data: str | Path, base: str | Path, tokenizer: Any, root: str | Path) -> Any:
    """The tokenised pairs of ``data`` (columns ``input_ids``, ``labels``), cached under ``root``."""
    lengths = {key: hp[key] for key in ("max_source_length", "max_target_length")}
    return common.prepare_training_set(
        kind="seq2seq",
        version=CACHE_VERSION,
        data=data,
        base=base,
        tokenizer=tokenizer,
        root=root,
        tokenise=_tokenise_pairs,
        fn_kwargs={"tokenizer": tokenizer, "source_prefix": hp["source_prefix"], **lengths},
        columns=_columns(),
        settings={"source_prefix": hp["source_prefix"], **lengths},
    )


def _columns() -> Any:
    from datasets import Features, List, Value

    return Features({"input_ids": List(Value("int32")), "labels": List(Value("int32"))})


class _Collator:
    """Pads a batch: inputs with the pad id (and an attention mask), labels with -100."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, list[int]]]):
        import torch

        n_in = max(len(f["input_ids"]) for f in features)
        n_out = max(len(f["labels"]) for f in features)
        input_ids = torch.full((len(features), n_in), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(features), n_in), dtype=torch.long)
        labels = torch.full((len(features), n_out), -100, dtype=torch.long)
        for row, f in enumerate(features):
            input_ids[row, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
            attention[row, : len(f["input_ids"])] = 1
            labels[row, : len(f["labels"])] = torch.tensor(f["labels"])
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def _trainer_class():
    from transformers import Seq2SeqTrainer

    class _Seq2SeqTrainer(Seq2SeqTrainer):
        """Counts target tokens too: ``state.num_input_tokens_seen`` (gathered over ranks, kept in
        checkpoints) becomes the non-padding source + target tokens of the trajectory."""

        def _track_num_input_tokens(self, inputs):
            import torch

            super()._track_num_input_tokens(inputs)
            if "labels" in inputs:
                targets = torch.as_tensor((inputs["labels"] != -100).sum(), device=self.args.device, dtype=torch.int64)
                self.state.num_input_tokens_seen += self.accelerator.gather(targets).sum().item()

    return _Seq2SeqTrainer


def train(
    *,
    system: str,
    spec: Mapping[str, Any],
    training: Mapping[str, Any],
    base: str | Path,
    data: str | Path,
    out: str | Path,
    checkpoint_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    logging_dir: str | Path | None = None,
    card: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Fine-tune a seq2seq base model on the pairs of ``data``; write the system dir ``out``
    (with ``card``, :func:`writing_alpaca.cards.training_card`, as its model card).

    Loss and learning rate go to ``training.report_to`` (TensorBoard: into ``logging_dir``, default
    :func:`~writing_alpaca.training.tracking.default_logging_dir`; a resumed run appends).

    The pairs are tokenised once into an Arrow cache (``cache_dir``, shared by runs, or inside
    the checkpoint directory) and memory-mapped by every rank (:func:`common.prepare_training_set`).

    Under torchrun the Trainer runs data-parallel (DDP): each optimiser step takes
    ``batch_size`` pairs, ``micro_batch_size`` per rank and micro-step with
    ``batch_size / (micro_batch_size x world size)`` accumulation steps, the same micro-batches
    in the same order whatever the number of processes.  Checkpoints, resuming, signals and
    accounting are the LLM trainer's (:mod:`writing_alpaca.training.checkpoints`).
    """
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, Seq2SeqTrainingArguments

    from ..training.config import precision_setting
    from ..training.modelling import choose_precision

    started = time.monotonic()
    out, data = Path(out), Path(data)
    hp = common.hyperparameters("seq2seq", training)
    trackers = tracking.report_to_setting(training)
    tracking.check_available(trackers)
    # T5 was pre-trained in bf16 and its activations overflow fp16: `auto` is fp32 on a GPU
    # without native bf16 (precision: fp16 forces fp16, with transformers' T5 clamping).
    precision = choose_precision(precision_setting(training), fp16=False)
    device, dtype = common.device_and_dtype(precision)
    world, is_main = common.world_size(), common.rank() == 0
    grad_accum = hp["batch_size"] // (hp["micro_batch_size"] * world)  # hyperparameters() checked it divides
    checkpoints = CheckpointDir(
        checkpoint_dir or common.default_checkpoint_dir(out), is_main=is_main, required=(TRAINER_STATE,)
    )
    resume = checkpoints.prepare(common.run_fingerprint("seq2seq", hp, base, data, precision))
    logging_dir = Path(logging_dir) if logging_dir is not None else tracking.default_logging_dir(out, checkpoints.path)
    tracking.prepare_logging_dir(logging_dir, trackers, resumed=resume is not None, is_main=is_main)
    report_to, tracker_callbacks = tracking.hf_reporting(
        trackers, logging_dir, checkpoint_step(resume) if resume else None
    )

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    tokenised = training_set(hp, data, base, tokenizer, cache_dir if cache_dir is not None else checkpoints.path)
    if is_main and cache_dir is None:
        remove_stale(checkpoints.path, keep=tokenised.path)
    dataset = tokenised.dataset

    args = Seq2SeqTrainingArguments(
        output_dir=str(checkpoints.path),
        max_steps=hp["max_steps"],
        per_device_train_batch_size=hp["micro_batch_size"],
        gradient_accumulation_steps=grad_accum,
        learning_rate=hp["learning_rate"],
        optim="adafactor" if hp["optimizer"] == "adafactor" else "adamw_torch",
        lr_scheduler_type=hp["lr_scheduler"],
        warmup_steps=hp["warmup_steps"],
        weight_decay=hp["weight_decay"],
        logging_steps=hp["logging_steps"],
        logging_first_step=True,
        save_strategy="steps" if hp["save_steps"] else "no",  # a signal saves either way
        save_steps=hp["save_steps"] or 500,
        save_total_limit=common.SAVE_TOTAL_LIMIT,
        report_to=report_to,
        run_name=system,
        seed=hp["seed"],
        data_seed=hp["seed"],
        bf16=dtype is torch.bfloat16,
        fp16=dtype is torch.float16,
        use_cpu=device.type == "cpu",
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        remove_unused_columns=False,
        ddp_find_unused_parameters=False if world > 1 else None,
        disable_tqdm=True,
    )
    model = AutoModelForSeq2SeqLM.from_pretrained(str(base))
    # T5's forward takes **kwargs, so the Trainer would pass num_items_in_batch and stop dividing
    # the loss by the accumulation steps, but T5's loss is a plain mean that ignores it: the
    # gradient would be (accumulation x world size) times the batch mean.  Declared explicitly:
    # each micro-batch's mean loss, divided by the accumulation steps, averaged over ranks by DDP.
    model.accepts_loss_kwargs = False

    accounting = (
        Accounting.load(checkpoints.path / ACCOUNTING) if is_main else Accounting(checkpoints.path / ACCOUNTING)
    )
    attempt = Attempt(
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        gpus=world if device.type == "cuda" else 0,
        world_size=world,
        start_step=0,
        end_step=0,
    )
    accounting.attempts.append(attempt)
    bookkeeper = CheckpointCallback(checkpoints, accounting, attempt, started)
    stopper = StopOnSignal()
    trainer = _trainer_class()(
        model=model,
        args=args,
        data_collator=_Collator(tokenizer.pad_token_id),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[bookkeeper, stopper, *tracker_callbacks, SkipWhenTrained()],  # SkipWhenTrained last
    )
    if is_main:
        log.info(
            "training %s (seq2seq) on %d pairs for %d steps, %d process(es)%s",
            system,
            len(dataset),
            hp["max_steps"],
            world,
            f" (resuming from {resume})" if resume else "",
        )
    stopper.install()
    try:
        # resumed from the final checkpoint (killed before the system was written): restored, not trained further
        train_or_restore(trainer, resume)
    finally:
        stopper.restore()
    state = trainer.state
    if state.global_step < hp["max_steps"]:
        bookkeeper.update(state, outcome="interrupted")
        raise TrainingInterrupted(
            f"{system}: stopped by {stopper.name or 'a request'} at step {state.global_step} of {hp['max_steps']}; "
            f"checkpoint saved in {checkpoints.path}: run the same command again to resume"
        )

    metrics: dict[str, Any] = {}
    if is_main:
        bookkeeper.update(state, outcome="finished")
        totals = accounting.totals()
        metrics = common.train_metrics(
            wall_seconds=totals["wall_seconds"],
            tokens_seen=int(state.num_input_tokens_seen),
            steps=state.global_step,
            loss_history=[float(entry["loss"]) for entry in state.log_history if "loss" in entry],
            totals=totals,
            gpus=attempt.gpus,
            extra={
                "pairs": len(dataset),
                "train_examples": len(dataset),
                "world_size": world,
                "micro_batch_size": hp["micro_batch_size"],
                "gradient_accumulation": grad_accum,
                "effective_batch_size": hp["micro_batch_size"] * grad_accum * world,
                "resumed_from": str(resume) if resume else None,
                "hyperparameters": hp,
            },
        )
        with atomic_dir(out) as tmp:
            model_dir = tmp / "model"
            trainer.model.save_pretrained(model_dir)
            tokenizer.save_pretrained(model_dir)
            write_json(
                model_dir / SETTINGS_FILE,
                {
                    "kind": "seq2seq",
                    "source_prefix": hp["source_prefix"],
                    "max_source_length": hp["max_source_length"],
                    "max_target_length": hp["max_target_length"],
                },
            )
            write_system(tmp, SystemInfo.baseline(system, "seq2seq", base), metrics, card=card)  # system.json last
        checkpoints.remove()
    common.barrier()  # the other ranks end once rank 0 has written the system
    return metrics


class Corrector:
    """A trained T5 system loaded once: :meth:`correct_texts` gives one correction per text.

    The one code path of ``baselines decode`` (:func:`decode`) and ``writing-alpaca edit``: each
    source is put after the ``source_prefix`` recorded at training time (its ``{task}`` filled in
    with the text's task), cut at ``max_input_tokens`` sub-words (default
    :data:`DECODE_MAX_INPUT_TOKENS`), sorted longest first and generated ``batch_size`` at a time
    with beam search."""

    def __init__(
        self,
        system_dir: str | Path,
        *,
        num_beams: int = 1,
        batch_size: int = 16,
        max_new_tokens: int = 256,
        max_input_tokens: int | None = None,
    ):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from ..training.modelling import choose_precision

        model_dir = read_system(system_dir, kinds=BASELINE_KINDS).model_dir
        self.settings = read_json(model_dir / SETTINGS_FILE)
        self.num_beams, self.batch_size, self.max_new_tokens = num_beams, batch_size, max_new_tokens
        self.max_input_tokens = max_input_tokens or DECODE_MAX_INPUT_TOKENS
        self.device, dtype = common.device_and_dtype(choose_precision("auto", fp16=False, what="decoding"))
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = (
            AutoModelForSeq2SeqLM.from_pretrained(str(model_dir), dtype=dtype or torch.float32).to(self.device).eval()
        )
        #: target sub-words generated so far (padding left out), over all calls
        self.generated_tokens = 0

    @classmethod
    def from_decoding(cls, system_dir: str | Path, decoding: Mapping[str, Any]) -> Corrector:
        """The corrector of a ``decodings.<name>`` entry (:class:`writing_alpaca.settings.Decoding`)."""
        read_system(system_dir, kinds=BASELINE_KINDS)  # a missing or foreign system first, as before
        spec = S.Decoding.from_dict(decoding)
        return cls(
            system_dir,
            num_beams=spec.num_beams,
            batch_size=spec.batch_size,
            max_new_tokens=spec.max_new_tokens,
            max_input_tokens=spec.max_input_tokens,
        )

    def correct_texts(self, texts: Sequence[str], task: str | Sequence[str], progress: bool = True) -> list[str]:
        """The corrections of ``texts``, in order; ``task``: the task of every text, or one per text
        (it only fills the ``{task}`` of the source prefix).  ``progress``: report on the log."""
        import torch

        from ..progress import Progress

        tasks = [task] * len(texts) if isinstance(task, str) else list(task)
        if len(tasks) != len(texts):
            raise WritingAlpacaError(f"seq2seq: {len(texts)} texts but {len(tasks)} tasks")
        prefix = self.settings.get("source_prefix", "")
        inputs = [common.format_prefix(prefix, t) + source for t, source in zip(tasks, texts)]
        # Training truncates sources at max_source_length; decoding keeps (almost) the whole input.
        ids = _tokenize(self.tokenizer, inputs, self.max_input_tokens)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: fail early on memory
        outputs = [""] * len(ids)
        pad = self.tokenizer.pad_token_id
        bar = Progress("decode", len(order), unit="instances", log=log, announce=False, enabled=progress)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                width = max(len(ids[i]) for i in batch)
                input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
                attention = torch.zeros_like(input_ids)
                for row, i in enumerate(batch):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                    attention[row, : len(ids[i])] = 1
                seqs = self.model.generate(
                    input_ids=input_ids.to(self.device),
                    attention_mask=attention.to(self.device),
                    num_beams=self.num_beams,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                )
                body = seqs[:, 1:]  # drop the decoder start token
                self.generated_tokens += int((body != pad).sum())
                for row, i in enumerate(batch):
                    outputs[i] = self.tokenizer.decode(body[row], skip_special_tokens=True).strip()
                bar.update(len(batch))
        bar.close()
        return outputs


def decode(
    *,
    system_dir: str | Path,
    data: str | Path,
    decoding: Mapping[str, Any],
    out: str | Path,
    metrics_out: str | Path,
) -> dict[str, Any]:
    """Generate one correction per test record with beam search (:class:`Corrector`); write
    outputs and throughput."""
    corrector = Corrector.from_decoding(system_dir, decoding)
    records = common.load_sources(data)
    log.info(
        "decode: %d records of %s, batch_size %d, num_beams %d on %s",
        len(records),
        data,
        corrector.batch_size,
        corrector.num_beams,
        corrector.device,
    )
    started = time.perf_counter()
    outputs = corrector.correct_texts([source for _, source in records], [task for task, _ in records])
    seconds = time.perf_counter() - started
    write_lines(out, outputs)
    metrics = common.decode_metrics(
        instances=len(outputs),
        seconds=seconds,
        tokens=corrector.generated_tokens,
        batch_size=corrector.batch_size,
        num_beams=corrector.num_beams,
        device=str(corrector.device),
        max_new_tokens=corrector.max_new_tokens,
    )
    write_json(metrics_out, metrics)
    return metrics
