"""GECToR baseline (Table 7: RoBERTa-Large GECToR trained on cLang-8; Omelianchuk et al. 2020).

A pre-trained encoder (``AutoModel``, e.g. ``roberta-large``) with two linear heads on the
first sub-word of each word: an edit-tag classifier (``$KEEP``, ``$DELETE``,
``$APPEND_w``, ``$REPLACE_w``, g-transformations; see :mod:`.gector_tags`) and an error
detector (``$CORRECT`` / ``$INCORRECT``).  The ``$START`` position, where insertions at
the beginning of a sentence are tagged, is the encoder's leading special token
(``<s>`` / ``[CLS]``), so the base tokenizer is used unchanged.

Training: the tag vocabulary is the ``max_labels`` most frequent first tags of the aligned
training pairs ("keep_one"); the heads are trained alone at ``cold_learning_rate`` for
``cold_steps`` steps, then everything at ``learning_rate``.  Inference corrects whitespace
tokens in up to ``iterations`` rounds; each round applies the predicted tags, and a
sentence leaves the loop when a round changes nothing.  ``keep_confidence`` is added to the
``$KEEP`` probability and sentences whose highest error probability is below
``min_error_prob`` are left unchanged in that round.

The model directory holds the fine-tuned encoder and tokenizer (``save_pretrained``),
``gector_heads.safetensors``, ``gector.json`` (tag vocabulary and inference settings) and,
when used, the verb-form dictionary ``verb-form-vocab.txt``.  ``verb_forms: lemminflect``
(the paper configuration) builds that dictionary from LemmInflect's English lexicon
(:func:`.gector_tags.lemminflect_verb_forms`); a path reads GECToR's own file instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    StopOnSignal,
    TrainingInterrupted,
)
from . import common
from .common import SAVE_TOTAL_LIMIT
from .gector_tags import KEEP, VerbForms, apply_tags, extract_tags, keep_one, load_verb_forms

log = logging.getLogger(__name__)

OOV = "<OOV>"
DETECT_LABELS = ("$CORRECT", "$INCORRECT")
SETTINGS_FILE = "gector.json"
HEADS_FILE = "gector_heads.safetensors"
CHECKPOINT_WEIGHTS = "model.safetensors"  # in checkpoint-N/: the whole tagger (encoder + heads)
#: What a checkpoint cannot be resumed without (rank 0's part; other ranks' RNG states are optional)
CHECKPOINT_FILES = (CHECKPOINT_WEIGHTS, "optimizer.pt", "scaler.pt", TRAINER_STATE, "rng_state_0.pth")
VERB_FILE = "verb-form-vocab.txt"
INFERENCE_KEYS = ("iterations", "keep_confidence", "min_error_prob")
#: Bump when _tag_and_encode (or the tag extraction) changes the rows it produces (invalidates caches).
CACHE_VERSION = 1


# ---------------------------------------------------------------------------- tags


def _tag_and_encode(
    batch: Mapping[str, list[bytes]],
    indices: list[int],
    path: str,
    tokenizer: Any,
    verbs: VerbForms | None,
    skip_correct: bool,
    max_length: int,
) -> dict[str, list[list[Any]]]:
    """A batch of mixture lines (row ``i`` is line ``i + 1``) as training rows: the source's
    sub-word ids, the :func:`_encode` positions and the "keep_one" tags (``$START`` first) of
    the aligned pair; :func:`common.prepare_training_set`.  Records without an input, and with
    ``skip_correct`` pairs whose source is the target, are left out."""
    sources: list[list[str]] = []
    tags: list[list[str]] = []
    for i, raw in zip(indices, batch["line"]):
        pair = common.parse_pair_line(path, i + 1, raw)
        if pair is None:
            continue
        source, target = pair.source.split(), pair.target.split()
        if skip_correct and source == target:
            continue
        sources.append(source)
        tags.append(keep_one(extract_tags(source, target, verbs)))
    encoded = _encode(tokenizer, sources, max_length)
    return {"input_ids": [e.input_ids for e in encoded], "positions": [e.positions for e in encoded], "tags": tags}


def training_set(
    hp: Mapping[str, Any], data: str | Path, base: str | Path, tokenizer: Any, root: str | Path, verbs: VerbForms | None
) -> Any:
    """The tagged, tokenised pairs of ``data`` (columns ``input_ids``, ``positions``, ``tags``),
    cached under ``root``."""
    encoding = {"skip_correct": hp["skip_correct"], "max_length": hp["max_length"]}
    return common.prepare_training_set(
        kind="gector",
        version=CACHE_VERSION,
        data=data,
        base=base,
        tokenizer=tokenizer,
        root=root,
        tokenise=_tag_and_encode,
        fn_kwargs={"tokenizer": tokenizer, "verbs": verbs, **encoding},
        columns=_columns(),
        settings={"verb_forms": verb_forms_identity(verbs), **encoding},
    )


def _columns() -> Any:
    from datasets import Features, List, Value

    return Features(
        {"input_ids": List(Value("int32")), "positions": List(Value("int32")), "tags": List(Value("string"))}
    )


def verb_forms_identity(verbs: VerbForms | None) -> str | None:
    """A hash of the verb-form dictionary (it decides the g-transformation tags)."""
    from ..hashing import sha256_text

    if verbs is None:
        return None
    return sha256_text(json.dumps([verbs.encode, verbs.decode], sort_keys=True, ensure_ascii=False))


def tag_counts(dataset: Any) -> Counter:
    """How often each tag occurs in the ``tags`` column (counted by Arrow over the memory-mapped
    column, never as Python lists of the whole set)."""
    import pyarrow.compute as pc

    counts = pc.value_counts(pc.list_flatten(dataset.data.column("tags")))
    return Counter(dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))


def label_vocab(counts: Mapping[str, int], max_labels: int) -> list[str]:
    """The tag vocabulary of tag ``counts`` (:func:`tag_counts`): ``$KEEP``, ``<OOV>``, then the
    most frequent tags (ties in alphabetical order), ``max_labels`` in all."""
    if max_labels < 3:
        raise WritingAlpacaError("training.baselines.gector.max_labels must be at least 3")
    ranked = sorted(((tag, n) for tag, n in counts.items() if tag != KEEP), key=lambda kv: (-kv[1], kv[0]))
    return [KEEP, OOV] + [tag for tag, _ in ranked[: max_labels - 2]]


# ---------------------------------------------------------------------------- model


def _load_encoder(path: str | Path):
    from transformers import AutoModel

    try:  # BERT-like encoders: the pooler is not used
        return AutoModel.from_pretrained(str(path), add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_pretrained(str(path))


def _tagger_class():
    import torch

    class GectorTagger(torch.nn.Module):
        """Encoder + tag head (over the tag vocabulary) + detection head (correct / incorrect)."""

        def __init__(self, encoder, num_labels: int, dropout: float = 0.0):
            super().__init__()
            hidden = encoder.config.hidden_size
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(dropout)
            self.tag_head = torch.nn.Linear(hidden, num_labels)
            self.detect_head = torch.nn.Linear(hidden, len(DETECT_LABELS))
            for head in (self.tag_head, self.detect_head):
                torch.nn.init.normal_(head.weight, std=0.02)
                torch.nn.init.zeros_(head.bias)

        def heads(self) -> list[torch.nn.Module]:
            return [self.tag_head, self.detect_head]

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self.tag_head(self.dropout(hidden)), self.detect_head(hidden)

    return GectorTagger


def _heads_state(model) -> dict[str, Any]:
    return {
        f"{name}.{k}": v.detach().float().contiguous().cpu()
        for name in ("tag_head", "detect_head")
        for k, v in getattr(model, name).state_dict().items()
    }


def load_system_model(model_dir: str | Path):
    """(tagger, tokenizer, settings, verb forms or None) of a trained GECToR model dir."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    settings = read_json(model_dir / SETTINGS_FILE)
    encoder = _load_encoder(model_dir)
    model = _tagger_class()(encoder, len(settings["labels"]))
    state = load_file(str(model_dir / HEADS_FILE))
    model.tag_head.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("tag_head.")})
    model.detect_head.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("detect_head.")})
    verbs = VerbForms.load(model_dir / settings["verb_forms"]) if settings.get("verb_forms") else None
    return model, _load_tokenizer(model_dir), settings, verbs


def _load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), add_prefix_space=True)
    if not tokenizer.is_fast:
        raise WritingAlpacaError(f"{path}: GECToR needs a fast tokenizer (word alignment)")
    return tokenizer


# ---------------------------------------------------------------------------- encoding


@dataclass
class _Encoded:
    input_ids: list[int]
    positions: list[int]  # sub-word index of $START (the leading special token) and of each word's first piece


def _encode(tokenizer, sentences: Sequence[Sequence[str]], max_length: int) -> list[_Encoded]:
    """Tokenise word lists; positions[0] is the leading special token, positions[k] word k-1.

    Words cut off by ``max_length`` get no position (they are kept as they are).
    """
    out: list[_Encoded] = []
    chunk = 5000
    for start in range(0, len(sentences), chunk):
        batch = [list(s) for s in sentences[start : start + chunk]]
        enc = tokenizer(batch, is_split_into_words=True, truncation=True, max_length=max_length)
        for row in range(len(batch)):
            word_ids = enc.word_ids(row)
            if not word_ids or word_ids[0] is not None:
                raise WritingAlpacaError("GECToR: the tokenizer must add a leading special token (<s> / [CLS])")
            positions = [0]
            previous = None
            for index, word in enumerate(word_ids):
                if word is not None and word != previous:
                    positions.append(index)
                previous = word
            out.append(_Encoded(enc["input_ids"][row], positions))
    return out


def _pad_batch(rows: Sequence[Sequence[int]], pad_id: int):
    """Sub-word id lists right-padded into (input_ids, attention_mask)."""
    import torch

    width = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for row, ids in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
    return input_ids, attention


# ---------------------------------------------------------------------------- training


def _micro_batches(n: int, size: int, seed: int, start: int = 0) -> Iterator[list[int]]:
    """Endless shuffled epochs of example indices, ``size`` at a time (seeded), from the
    ``start``-th micro-batch on (a resumed run replays the epoch permutations it skips)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    per_epoch = -(-n // size)
    epochs, skip = divmod(start, per_epoch)
    for _ in range(epochs):
        torch.randperm(n, generator=generator)
    while True:
        order = torch.randperm(n, generator=generator).tolist()
        for first in range(skip * size, n, size):
            yield order[first : first + size]
        skip = 0


def _gold(positions: Sequence[Sequence[int]], tag_ids: Sequence[Sequence[int]], shape, keep_id: int):
    """Tag and detection targets of a padded micro-batch: -100 (ignored) but at tagged positions
    (a word cut off by ``max_length`` has no position and no target)."""
    import torch

    tag_gold = torch.full(shape, -100, dtype=torch.long)
    detect_gold = torch.full(shape, -100, dtype=torch.long)
    for row, (where, ids) in enumerate(zip(positions, tag_ids)):
        n = min(len(where), len(ids))
        gold = torch.tensor(ids[:n], dtype=torch.long)
        tag_gold[row, torch.tensor(where[:n], dtype=torch.long)] = gold
        detect_gold[row, torch.tensor(where[:n], dtype=torch.long)] = (gold != keep_id).long()
    return tag_gold, detect_gold


@dataclass
class _State:
    """What the checkpoint bookkeeping (:class:`~writing_alpaca.training.checkpoints.CheckpointCallback`)
    reads of a Trainer's state, for this hand-written loop."""

    global_step: int = 0
    num_input_tokens_seen: int = 0  # non-padding sub-words of every global batch so far
    loss_history: list[float] = field(default_factory=list)


def _rng_file(rank: int) -> str:
    return f"rng_state_{rank}.pth"


def _save_checkpoint(path: Path, model, optimizer, scaler, state: _State, rank: int) -> None:
    """Rank 0 writes weights, optimizer, loss scale and loop state; every rank its RNG state."""
    import torch
    from safetensors.torch import save_model

    path.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        save_model(model, str(path / CHECKPOINT_WEIGHTS))
        torch.save(optimizer.state_dict(), path / "optimizer.pt")
        torch.save(scaler.state_dict(), path / "scaler.pt")
        write_json(
            path / TRAINER_STATE,
            {
                "global_step": state.global_step,
                "num_input_tokens_seen": state.num_input_tokens_seen,
                "loss_history": state.loss_history,
            },
        )
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    torch.save(rng, path / _rng_file(rank))


def _load_checkpoint(path: Path, model, optimizer, scaler, rank: int, device) -> _State:
    import torch
    from safetensors.torch import load_model

    load_model(model, str(path / CHECKPOINT_WEIGHTS), device=str(device))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location=device, weights_only=True))
    scaler.load_state_dict(torch.load(path / "scaler.pt", weights_only=True))
    saved = read_json(path / TRAINER_STATE)
    rng_path = path / _rng_file(rank)
    if not rng_path.is_file():  # resumed on more processes than wrote the checkpoint
        rng_path = path / _rng_file(0)
    rng = torch.load(rng_path, weights_only=True)
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"])
    return _State(int(saved["global_step"]), int(saved["num_input_tokens_seen"]), list(saved["loss_history"]))


def _rotate(directory: CheckpointDir) -> None:
    for old in directory.checkpoints()[:-SAVE_TOTAL_LIMIT]:
        shutil.rmtree(old, ignore_errors=True)


def _mean_over_ranks(value: float, device) -> float:
    import torch
    import torch.distributed as dist

    if not common.distributed():
        return value
    total = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total.item()) / dist.get_world_size()


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
    """Train a GECToR tagger on the pairs of ``data`` from the encoder ``base``; write ``out``
    (with ``card``, :func:`writing_alpaca.cards.training_card`, as its model card).

    The pairs are aligned into tags and tokenised once into an Arrow cache (``cache_dir``, shared
    by runs, or inside the checkpoint directory) that every rank memory-maps
    (:func:`common.prepare_training_set`); micro-batches are read from it as they are needed.

    Under torchrun (``WORLD_SIZE`` > 1) the run is data-parallel (DistributedDataParallel,
    NCCL on GPUs, gloo on CPU): every optimiser step takes the same global batch of
    ``batch_size`` pairs (``batch_size / micro_batch_size`` micro-batches, in the same order
    whatever the number of processes), each rank running a disjoint share of its
    micro-batches with gradient accumulation, the gradients averaged over ranks; rank 0
    writes ``out`` and the checkpoints.  Checkpoints (every ``save_steps`` steps, and on
    SIGTERM/SIGUSR1, then :class:`~writing_alpaca.training.checkpoints.TrainingInterrupted`)
    go to ``checkpoint_dir``; re-running resumes from the newest complete one.  On CPU a
    resumed run ends with the weights of an uninterrupted one.

    Rank 0 logs loss and learning rates at the logging steps to ``training.report_to``
    (:class:`~writing_alpaca.training.tracking.Tracker`; TensorBoard into ``logging_dir``, default
    :func:`~writing_alpaca.training.tracking.default_logging_dir`, appending when the run resumes).
    """
    stopper = StopOnSignal()
    stopper.install()  # from the start: a signal during loading stops the run after its first step
    try:
        return _train(
            system=system,
            training=training,
            base=base,
            data=data,
            out=out,
            checkpoint_dir=checkpoint_dir,
            cache_dir=cache_dir,
            logging_dir=logging_dir,
            card=card,
            stopper=stopper,
        )
    finally:
        stopper.restore()


def _train(
    *, system, training, base, data, out, checkpoint_dir, cache_dir, logging_dir, card=None, stopper: StopOnSignal
) -> dict[str, Any]:
    import pyarrow.compute as pc
    import torch
    from torch.nn.parallel import DistributedDataParallel

    from ..training.config import precision_setting
    from ..training.modelling import choose_precision

    started_clock = time.monotonic()
    out, data = Path(out), Path(data)
    hp = common.hyperparameters("gector", training)
    trackers = tracking.report_to_setting(training)
    tracking.check_available(trackers)
    precision = choose_precision(precision_setting(training))
    device, dtype = common.device_and_dtype(precision)
    device = common.init_distributed(device)
    world, rank = common.world_size(), common.rank()
    is_main = rank == 0
    say = log.info if is_main else log.debug

    verbs = load_verb_forms(hp["verb_forms"])
    checkpoints = CheckpointDir(
        checkpoint_dir or common.default_checkpoint_dir(out), is_main=is_main, required=CHECKPOINT_FILES
    )
    fingerprint = common.run_fingerprint("gector", hp, base, data, precision, ignore=INFERENCE_KEYS)
    resume = checkpoints.prepare(fingerprint)
    common.barrier()  # rank 0 has cleaned the directory and written the fingerprint
    torch.manual_seed(hp["seed"])

    tokenizer = _load_tokenizer(base)
    root = cache_dir if cache_dir is not None else checkpoints.path
    tokenised = training_set(hp, data, base, tokenizer, root, verbs)
    if is_main and cache_dir is None:
        remove_stale(checkpoints.path, keep=tokenised.path)
    dataset = tokenised.dataset
    counts = tag_counts(dataset)
    labels = label_vocab(counts, hp["max_labels"])
    label_id = {tag: i for i, tag in enumerate(labels)}
    oov_id = label_id[OOV]
    lengths = pc.list_value_length(dataset.data.column("input_ids")).to_numpy()  # sub-words per example
    say(
        "GECToR %s: %d pairs, %d tags (%d distinct seen), %d process(es)",
        system,
        len(dataset),
        len(labels),
        len(counts),
        world,
    )

    # fp16 autocast needs a dynamic loss scale (gradients of the fp32 weights would underflow)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
    model = _tagger_class()(_load_encoder(base), len(labels), hp["dropout"]).to(device)
    head_params = [p for head in model.heads() for p in head.parameters()]
    optimizer = torch.optim.AdamW(
        [{"params": list(model.encoder.parameters())}, {"params": head_params}],
        lr=hp["learning_rate"],
        weight_decay=0.0,
    )
    state = _State()
    if resume is not None:
        state = _load_checkpoint(resume, model, optimizer, scaler, rank, device)
        say("resuming from %s (step %d of %d)", resume, state.global_step, hp["max_steps"])
    logging_dir = Path(logging_dir) if logging_dir is not None else tracking.default_logging_dir(out, checkpoints.path)
    tracking.prepare_logging_dir(logging_dir, trackers, resumed=resume is not None, is_main=is_main)
    tracker = tracking.Tracker(
        trackers,
        logging_dir,
        system,
        params=hp,
        resumed_step=state.global_step if resume is not None else None,
        enabled=is_main,
    )
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=hp["label_smoothing"])
    accumulation = hp["batch_size"] // hp["micro_batch_size"]  # micro-batches per global batch
    local_accumulation = accumulation // world  # hyperparameters() checked the divisibility
    batches = _micro_batches(len(dataset), hp["micro_batch_size"], hp["seed"], start=state.global_step * accumulation)
    keep_id = label_id[KEEP]

    accounting = (
        Accounting.load(checkpoints.path / ACCOUNTING) if is_main else Accounting(checkpoints.path / ACCOUNTING)
    )
    attempt = Attempt(
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        gpus=world if device.type == "cuda" else 0,
        world_size=world,
        start_step=state.global_step,
        end_step=state.global_step,
    )
    accounting.attempts.append(attempt)
    bookkeeper = CheckpointCallback(checkpoints, accounting, attempt, started_clock)

    model.train()
    forward = model
    encoder_frozen: bool | None = None
    common.barrier()  # every rank has its signal handlers before the accounting shows the run started
    bookkeeper.on_train_begin(None, state, None)
    while state.global_step < hp["max_steps"]:
        step = state.global_step
        cold = step < hp["cold_steps"]
        if cold != encoder_frozen:
            model.encoder.requires_grad_(not cold)
            encoder_frozen = cold
            if world > 1:  # DDP reduces the parameters that require gradients when it is built
                forward = None
                forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if cold:
            lrs = (0.0, hp["cold_learning_rate"])
        else:
            warm = min(1.0, (step - hp["cold_steps"] + 1) / hp["warmup_steps"]) if hp["warmup_steps"] else 1.0
            lrs = (hp["learning_rate"] * warm,) * 2
        for group, lr in zip(optimizer.param_groups, lrs):
            group["lr"] = lr
        global_batch = [next(batches) for _ in range(accumulation)]
        state.num_input_tokens_seen += int(sum(lengths[batch].sum() for batch in global_batch))
        step_loss = 0.0
        for k, batch in enumerate(global_batch[rank * local_accumulation : (rank + 1) * local_accumulation]):
            rows = dataset[batch]
            input_ids, attention = _pad_batch(rows["input_ids"], tokenizer.pad_token_id)
            tag_ids = [[label_id.get(tag, oov_id) for tag in tags] for tags in rows["tags"]]
            tag_gold, detect_gold = _gold(rows["positions"], tag_ids, input_ids.shape, keep_id)
            # gradients are all-reduced (averaged over ranks) with the last micro-batch only
            sync = world == 1 or k == local_accumulation - 1
            with contextlib.nullcontext() if sync else forward.no_sync():
                with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    tag_logits, detect_logits = forward(input_ids.to(device), attention.to(device))
                loss = loss_fn(tag_logits.float().flatten(0, 1), tag_gold.to(device).flatten()) + loss_fn(
                    detect_logits.float().flatten(0, 1), detect_gold.to(device).flatten()
                )
                scaler.scale(loss / local_accumulation).backward()
            step_loss += float(loss.detach()) / local_accumulation
        scaler.step(optimizer)  # optimizer.step() unless fp16 overflowed (then the step is skipped)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        state.global_step = done = step + 1
        if step == 0 or done % hp["logging_steps"] == 0 or done == hp["max_steps"]:
            step_loss = _mean_over_ranks(step_loss, device)  # every rank logs at the same steps
            state.loss_history.append(round(step_loss, 6))
            say("step %d/%d loss %.4f", done, hp["max_steps"], step_loss)
            tracker.log(
                {
                    tracking.LOSS: step_loss,
                    tracking.LEARNING_RATE: lrs[1],  # the tag heads' (trained at every step)
                    tracking.ENCODER_LEARNING_RATE: lrs[0],  # 0 while the encoder is frozen
                },
                done,
            )
        stop = stopper.stop_requested(device)
        if done < hp["max_steps"] and (stop or (hp["save_steps"] and done % hp["save_steps"] == 0)):
            path = checkpoints.path / f"checkpoint-{done}"
            _save_checkpoint(path, model, optimizer, scaler, state, rank)
            bookkeeper.on_save(None, state, None)  # barrier, accounting, then the COMPLETE marker
            if is_main:
                _rotate(checkpoints)
            if stop:
                bookkeeper.update(state, outcome="interrupted")
                tracker.close()
                raise TrainingInterrupted(
                    f"{system}: stopped by {stopper.name or 'a request'} at step {done} of {hp['max_steps']}; "
                    f"checkpoint saved in {checkpoints.path}: run the same command again to resume"
                )
        bookkeeper.on_step_end(None, state, None)
    bookkeeper.on_train_end(None, state, None)
    tracker.close()
    del forward

    if is_main:
        bookkeeper.update(state, outcome="finished")
        totals = accounting.totals()
        metrics = common.train_metrics(
            wall_seconds=totals["wall_seconds"],
            tokens_seen=state.num_input_tokens_seen,
            steps=state.global_step,
            loss_history=state.loss_history,
            totals=totals,
            gpus=attempt.gpus,
            extra={
                "pairs": len(dataset),
                "train_examples": len(dataset),
                "labels": len(labels),
                "world_size": world,
                "micro_batch_size": hp["micro_batch_size"],
                "gradient_accumulation": local_accumulation,
                "effective_batch_size": hp["micro_batch_size"] * local_accumulation * world,
                "resumed_from": str(resume) if resume else None,
                "hyperparameters": hp,
            },
        )
        _save(model, tokenizer, labels, hp, verbs, out, system=system, base=base, metrics=metrics, card=card)
        checkpoints.remove()
    else:
        metrics = {}
    common.close_distributed()
    return metrics


def _save(model, tokenizer, labels, hp, verbs, out, *, system, base, metrics, card=None) -> None:
    from safetensors.torch import save_file

    with atomic_dir(out) as tmp:
        model_dir = tmp / "model"
        model.encoder.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        save_file(_heads_state(model), str(model_dir / HEADS_FILE))
        if verbs is not None:
            write_lines(model_dir / VERB_FILE, verbs.to_lines())
        write_json(
            model_dir / SETTINGS_FILE,
            {
                "kind": "gector",
                "labels": labels,
                "detect_labels": list(DETECT_LABELS),
                "max_length": hp["max_length"],
                "verb_forms": VERB_FILE if verbs is not None else None,
                **{k: hp[k] for k in INFERENCE_KEYS},
            },
        )
        write_system(tmp, SystemInfo.baseline(system, "gector", base), metrics, card=card)  # system.json last


# ---------------------------------------------------------------------------- inference


def predict_tags(
    model,
    tokenizer,
    sentences: Sequence[Sequence[str]],
    labels: Sequence[str],
    *,
    max_length: int,
    keep_confidence: float,
    min_error_prob: float,
    batch_size: int,
    device,
    dtype,
    progress: Any = None,
) -> tuple[list[list[str]], int]:
    """One round: a tag for ``$START`` and each (untruncated) word; and the sub-words processed
    (``progress``: a :class:`writing_alpaca.progress.Progress` told of each batch)."""
    import torch

    encoded = _encode(tokenizer, sentences, max_length)
    keep_id = labels.index(KEEP)
    incorrect = DETECT_LABELS.index("$INCORRECT")
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i].input_ids))
    result: list[list[str]] = [[] for _ in encoded]
    tokens = 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            input_ids, attention = _pad_batch([encoded[i].input_ids for i in batch], tokenizer.pad_token_id)
            tokens += int(attention.sum())
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                tag_logits, detect_logits = model(input_ids.to(device), attention.to(device))
            tag_probs = tag_logits.float().softmax(-1)
            tag_probs[..., keep_id] += keep_confidence
            error_probs = detect_logits.float().softmax(-1)[..., incorrect]
            for row, i in enumerate(batch):
                positions = torch.tensor(encoded[i].positions, device=tag_probs.device)
                if float(error_probs[row, positions].max()) < min_error_prob:
                    result[i] = [KEEP] * len(positions)
                else:
                    result[i] = [labels[j] for j in tag_probs[row, positions].argmax(-1).tolist()]
            if progress is not None:
                progress.update(len(batch))
    return result, tokens


def correct(
    model,
    tokenizer,
    sentences: Sequence[str],
    settings: Mapping[str, Any],
    verbs: VerbForms | None,
    *,
    batch_size: int,
    device,
    dtype,
    progress: bool = True,
) -> tuple[list[str], int]:
    """Iteratively correct whitespace-tokenised sentences; returns outputs and sub-words processed
    (``progress``: report each round on the log)."""
    from ..progress import Progress

    current = [s.split() for s in sentences]
    active = list(range(len(current)))
    tokens = 0
    labels = settings["labels"]
    rounds = int(settings["iterations"])
    for k in range(rounds):
        if not active:
            break
        bar = Progress(
            f"decode round {k + 1}/{rounds}", len(active), unit="sentences", log=log, announce=False, enabled=progress
        )
        predictions, used = predict_tags(
            model,
            tokenizer,
            [current[i] for i in active],
            labels,
            max_length=int(settings["max_length"]),
            keep_confidence=float(settings["keep_confidence"]),
            min_error_prob=float(settings["min_error_prob"]),
            batch_size=batch_size,
            device=device,
            dtype=dtype,
            progress=bar,
        )
        bar.close()
        tokens += used
        still = []
        for i, tags in zip(active, predictions):
            edits = [[] if t in (KEEP, OOV) else [t] for t in tags]
            if not any(edits):
                continue
            new = apply_tags(current[i], edits, verbs)
            if new != current[i]:
                current[i] = new
                still.append(i)
        active = still
    return [" ".join(words) for words in current], tokens


class Corrector:
    """A trained GECToR system loaded once: :meth:`correct_texts` gives one correction per text.

    The one code path of ``baselines decode`` (:func:`decode`) and ``writing-alpaca edit``: the
    inference settings recorded at training time (``gector.json``; ``overrides`` replace some of
    them), then :func:`correct`, ``batch_size`` sentences at a time."""

    def __init__(self, system_dir: str | Path, *, batch_size: int = 16, overrides: Mapping[str, Any] | None = None):
        import torch

        from ..training.modelling import choose_precision

        model, self.tokenizer, settings, self.verbs = load_system_model(
            read_system(system_dir, kinds=BASELINE_KINDS).model_dir
        )
        self.settings = {**settings, **(overrides or {})}
        self.batch_size = batch_size
        self.device, self.dtype = common.device_and_dtype(choose_precision("auto", what="decoding"))
        self.model = model.to(device=self.device, dtype=self.dtype or torch.float32).eval()
        #: sub-words processed by the encoder so far, over all calls and correction rounds
        self.tokens = 0

    @classmethod
    def from_decoding(cls, system_dir: str | Path, decoding: Mapping[str, Any]) -> Corrector:
        """The corrector of a ``decodings.<name>`` entry: its ``batch_size`` and ``gector``
        overrides (beams and generation lengths do not apply to a tagger)."""
        spec = S.Decoding.from_dict(S.decoding_read_by("gector", decoding))
        overrides = spec.gector.model_dump(exclude_none=True) if spec.gector is not None else {}
        return cls(system_dir, batch_size=spec.batch_size, overrides=overrides)

    def correct_texts(self, texts: Sequence[str], task: str | Sequence[str] | None = None, progress: bool = True):
        """The corrections of ``texts``, in order.  ``task`` is not used: the tagger has no task
        input (it is a grammatical error corrector)."""
        outputs, tokens = correct(
            self.model,
            self.tokenizer,
            list(texts),
            self.settings,
            self.verbs,
            batch_size=self.batch_size,
            device=self.device,
            dtype=self.dtype,
            progress=progress,
        )
        self.tokens += tokens
        return outputs


def decode(
    *,
    system_dir: str | Path,
    data: str | Path,
    decoding: Mapping[str, Any],
    out: str | Path,
    metrics_out: str | Path,
) -> dict[str, Any]:
    """Correct every test record (:class:`Corrector`); ``decoding.gector`` may override the
    inference settings."""
    corrector = Corrector.from_decoding(system_dir, decoding)
    settings = corrector.settings
    records = common.load_sources(data)
    log.info(
        "decode: %d records of %s, batch_size %d, up to %s rounds on %s",
        len(records),
        data,
        corrector.batch_size,
        settings["iterations"],
        corrector.device,
    )
    started = time.perf_counter()
    outputs = corrector.correct_texts([source for _, source in records], [task for task, _ in records])
    seconds = time.perf_counter() - started
    write_lines(out, outputs)
    metrics = common.decode_metrics(
        instances=len(outputs),
        seconds=seconds,
        tokens=corrector.tokens,
        batch_size=corrector.batch_size,
        num_beams=None,
        device=str(corrector.device),
        num_beams_note="not applicable: GECToR tags tokens, it has no beam search",
        tokens_counted="sub-words processed by the encoder over all correction rounds",
        **{k: settings[k] for k in INFERENCE_KEYS},
    )
    write_json(metrics_out, metrics)
    return metrics
