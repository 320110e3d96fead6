"""Training examples: Alpaca prompts, response-only labels, and their padding (transformers' collator).

An instruction record ``{instruction, input, output}`` becomes::

    input_ids = <s> tok(prompt) tok(output) </s>      (cut to cutoff_len)
    labels    = -100 ... -100  tok(output) </s>       (train_on_inputs: false)

The prompt and the response are tokenised separately and concatenated, so the
boundary between masked and supervised tokens is exact (no BPE merge across it),
and decoding feeds the model exactly the prompt tokens it was trained on.

An empty ``output`` (a few Stanford Alpaca items) is a valid target: its only label is
``</s>``, so the model learns to answer with EOS, and the loss has a supervised token
(an example with none would contribute 0/0).

The prompt is :func:`writing_alpaca.format.render_prompt` (the one shared with decoding and the
instruction files).  A micro-batch is right-padded by :func:`padding_collator`
(``transformers.DataCollatorForSeq2Seq``): pad ids with attention 0 and labels ``-100``, so the
padding adds nothing to the loss.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import WritingAlpacaError, located
from ..format import render_prompt
from ..io import parse_jsonl_line
from .config import Template

log = logging.getLogger(__name__)

IGNORE_INDEX = -100


def parse_instruction_line(path: str | Path, lineno: int, raw: bytes | str) -> dict[str, str]:
    """One line of an instruction file (JSON lines) as ``{instruction, input, output}``.

    The checks and messages of :func:`writing_alpaca.io.read_jsonl` and
    :func:`load_instruction_records`, for one line (a trailing ``\\n`` or ``\\r\\n`` is dropped):
    a :class:`WritingAlpacaError` naming the file and line.
    """
    record = parse_jsonl_line(path, lineno, raw)
    for key in ("instruction", "output"):
        if not isinstance(record.get(key), str):
            raise located(path, lineno, f"instruction record lacks a string {key!r}")
    if not isinstance(record.get("input", ""), str):
        raise located(path, lineno, "instruction record has a non-string 'input'")
    return {"instruction": record["instruction"], "input": record.get("input", ""), "output": record["output"]}


def load_instruction_records(path: str | Path) -> list[dict[str, str]]:
    """Read instruction records, checking each has string ``instruction``/``input``/``output``."""
    from ..io import read_jsonl

    records = read_jsonl(path)
    for lineno, record in enumerate(records, start=1):
        for key in ("instruction", "output"):
            if not isinstance(record.get(key), str):
                raise located(path, lineno, f"instruction record lacks a string {key!r}")
        if not isinstance(record.get("input", ""), str):
            raise located(path, lineno, "instruction record has a non-string 'input'")
    if not records:
        raise WritingAlpacaError(f"{path}: no training records")
    return records


def _assemble(
    prompt_ids: list[int], response_ids: list[int], cutoff_len: int, train_on_inputs: bool
) -> dict[str, list[int]]:
    """``prompt_ids + response_ids`` (the latter ending in ``</s>``) cut to ``cutoff_len``, with labels."""
    input_ids = (prompt_ids + response_ids)[:cutoff_len]
    if train_on_inputs:
        labels = list(input_ids)
    else:
        n_prompt = min(len(prompt_ids), len(input_ids))
        labels = [IGNORE_INDEX] * n_prompt + input_ids[n_prompt:]
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def supervised(example: Mapping[str, Sequence[int]]) -> bool:
    """Whether an example has a label to learn (its response was not cut away entirely).

    Labels are ``-100`` for a prefix (the prompt) and token ids after it: the last one decides.
    """
    labels = example["labels"]
    return len(labels) > 0 and labels[-1] != IGNORE_INDEX


def tokenize_example(
    tokenizer: Any,
    prompt: str,
    response: str,
    cutoff_len: int,
    train_on_inputs: bool = False,
) -> dict[str, list[int]]:
    """Token ids and labels of one example (``<s>`` prompt, response, ``</s>``; cut to ``cutoff_len``).

    Like alpaca-lora, ``</s>`` is only present when the example fits in ``cutoff_len``.
    An empty ``response`` gives the labels ``-100 ... -100 </s>``.
    """
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return _assemble(prompt_ids, response_ids, cutoff_len, train_on_inputs)


def tokenize_batch(
    tokenizer: Any,
    template: Template | Mapping[str, str],
    batch: Mapping[str, Sequence[str]],
    cutoff_len: int,
    train_on_inputs: bool = False,
) -> Any:
    """:func:`tokenize_example` over a batch of records (columns ``instruction``, ``input``,
    ``output``) in two batched tokenizer calls, as an Arrow table (``pyarrow`` list columns
    ``input_ids`` int32, ``attention_mask`` int8, ``labels`` int32); examples without a
    supervised token are left out, as :func:`build_examples` does.

    The same token ids and labels as :func:`build_examples`, row for row (tested); labels and
    masks are computed on flat numpy arrays rather than built as Python lists.
    """
    import itertools

    import numpy as np
    import pyarrow as pa

    mapping = template.as_dict() if isinstance(template, Template) else dict(template)
    prompts = [render_prompt(ins, inp, template=mapping) for ins, inp in zip(batch["instruction"], batch["input"])]
    ids_only = {"return_attention_mask": False, "return_token_type_ids": False}
    prompt_ids = tokenizer(prompts, add_special_tokens=True, **ids_only)["input_ids"]
    response_ids = tokenizer(list(batch["output"]), add_special_tokens=False, **ids_only)["input_ids"]
    eos = tokenizer.eos_token_id
    rows: list[list[int]] = []
    masked: list[int] = []  # leading -100 labels of each kept row
    for p, r in zip(prompt_ids, response_ids):
        ids = p + r
        ids.append(eos)
        del ids[cutoff_len:]  # as _assemble: (prompt + response + </s>)[:cutoff_len]
        n_prompt = 0 if train_on_inputs else min(len(p), len(ids))
        if len(ids) > n_prompt:  # supervised(): some label is a token
            rows.append(ids)
            masked.append(n_prompt)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int32, count=total)
    labels = flat.copy()
    if not train_on_inputs and total:
        position = np.arange(total) - np.repeat(offsets[:-1].astype(np.int64), lengths)
        labels[position < np.repeat(np.asarray(masked, dtype=np.int64), lengths)] = IGNORE_INDEX
    pa_offsets = pa.array(offsets)
    columns = {"input_ids": flat, "attention_mask": np.ones(total, dtype=np.int8), "labels": labels}
    return pa.table({name: pa.ListArray.from_arrays(pa_offsets, pa.array(values)) for name, values in columns.items()})


def build_examples(
    records: Sequence[Mapping[str, str]],
    tokenizer: Any,
    template: Template,
    cutoff_len: int,
    train_on_inputs: bool = False,
) -> list[dict[str, list[int]]]:
    """Tokenise all records; drop those whose response was cut away entirely (no supervised token)."""
    examples = []
    dropped = 0
    mapping = template.as_dict()
    for record in records:
        prompt = render_prompt(record["instruction"], record.get("input", ""), template=mapping)
        example = tokenize_example(tokenizer, prompt, record["output"], cutoff_len, train_on_inputs)
        if not supervised(example):
            dropped += 1
            continue
        examples.append(example)
    if dropped:
        log.warning(
            "%d of %d examples have no response token within cutoff_len=%d: dropped", dropped, len(records), cutoff_len
        )
    if not examples:
        raise WritingAlpacaError(f"no trainable example: every prompt is longer than cutoff_len={cutoff_len}")
    return examples


#: micro-batches are padded to a multiple of this length (tensor-core friendly shapes).
PAD_TO_MULTIPLE_OF = 8


def padding_collator(tokenizer: Any, pad_to_multiple_of: int | None = PAD_TO_MULTIPLE_OF) -> Any:
    """The trainer's collator: ``transformers.DataCollatorForSeq2Seq`` right-padding a micro-batch
    to its longest example (rounded up to ``pad_to_multiple_of``): ``input_ids`` with the pad id,
    ``attention_mask`` with 0, ``labels`` with ``-100``; int64 tensors.

    The tokenizer must pad on the right (:func:`~writing_alpaca.training.modelling.load_tokenizer`'s
    default): left padding would shift every position and change the loss.
    """
    from transformers import DataCollatorForSeq2Seq

    if tokenizer.padding_side != "right":
        raise WritingAlpacaError(f"training pads on the right; the tokenizer pads on the {tokenizer.padding_side}")
    return DataCollatorForSeq2Seq(tokenizer, pad_to_multiple_of=pad_to_multiple_of, label_pad_token_id=IGNORE_INDEX)
