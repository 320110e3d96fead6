"""Instruction formatting of training mixtures, and the paper's prompt constants.

::

    writing-alpaca format --name MIXTURE --spec JSON --tasks JSON --seed N \\
        --inputs A.jsonl B.jsonl ... --out X.jsonl [--counts-out X.counts.json]

``--spec`` is ``mixtures.<name>`` = ``{generic: <trainset or null>, writing: [<trainset>, ...]}``;
``--tasks`` is the config's ``tasks`` mapping (``{task: {prompt: ...}}``).  Every input is one
normalised training set written by ``writing-alpaca data train``; its trainset name is the
file stem.  Writing pairs become ``{id, task, instruction: tasks[task].prompt, input: source,
output: target}``; generic (Alpaca) items keep their instruction/input/output.  Trainsets
are read in spec order (generic first, then ``writing`` in order), whatever the order of
``--inputs``, and the list is shuffled with ``random.Random(seed)``: the same inputs give a
byte-identical file.  Per-task and per-trainset counts (Tables 2 and 3 of the paper are
rendered from them) are written beside the output as ``X.counts.json``.
"""

from __future__ import annotations

import argparse
import logging
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import settings as S
from .errors import WritingAlpacaError, located
from .io import parse_json_arg, parse_json_object, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)

#: The paper's task instructions (Zhang et al. 2023), exactly.
PROMPTS: dict[str, str] = {
    "grammar": "Fix grammatical errors in the text.",
    "fluency": "Make the text more fluent.",
    "clarity": "Make the text more concise and readable.",
    "coherence": "Make the text more cohesive.",
    "simplification": "Simplify the text.",
    "neutralization": "Neutralize the text.",
    "paraphrase": "Paraphrase the text.",
}

#: alpaca-lora's ``templates/alpaca.json`` (the template the paper trains and decodes with).
TEMPLATE: dict[str, str] = {
    "prompt_input": (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
    ),
    "prompt_no_input": (
        "Below is an instruction that describes a task. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Response:\n"
    ),
    "response_split": "### Response:",
}

GENERIC_TASK = "generic"


def _template_field(template: Mapping[str, str], key: str) -> str:
    value = template.get(key)
    if not isinstance(value, str):
        raise WritingAlpacaError(f"template: missing or non-string '{key}'")
    return value


def render_prompt(instruction: str, input: str | None = None, template: Mapping[str, str] = TEMPLATE) -> str:  # noqa: A002
    """The prompt the model sees (everything up to and including ``### Response:\\n``).

    As in alpaca-lora's ``Prompter.generate_prompt``: ``prompt_input`` when ``input`` is a
    non-empty string, ``prompt_no_input`` otherwise.
    """
    if input:
        return _template_field(template, "prompt_input").format(instruction=instruction, input=input)
    return _template_field(template, "prompt_no_input").format(instruction=instruction)


def extract_response(text: str, template: Mapping[str, str] = TEMPLATE) -> str:
    """The model's answer in a decoded prompt+response text (alpaca-lora's ``get_response``).

    Everything after the first ``response_split`` marker, stripped; the whole text,
    stripped, if the marker is absent.
    """
    marker = _template_field(template, "response_split")
    head, sep, tail = text.partition(marker)
    return (tail if sep else head).strip()


def _prompt_of(tasks: Mapping[str, Any], task: str, path: Path, lineno: int) -> str:
    entry = tasks.get(task)
    prompt = entry.get("prompt") if isinstance(entry, Mapping) else None
    if not isinstance(prompt, str) or not prompt:
        raise located(path, lineno, f"task {task!r} has no prompt in --tasks (known: {', '.join(sorted(tasks))})")
    return prompt


def _string_fields(rec: Mapping[str, Any], keys: Sequence[str], path: Path, lineno: int) -> list[str]:
    values = []
    for key in keys:
        value = rec.get(key)
        if not isinstance(value, str):
            raise located(path, lineno, f"record {rec.get('id')!r}: '{key}' must be a string")
        values.append(value)
    return values


def instruction_records(path: str | Path, tasks: Mapping[str, Any], generic: bool) -> list[dict[str, Any]]:
    """Instruction records of one normalised training set (``generic`` = an Alpaca set)."""
    path = Path(path)
    out = []
    for lineno, rec in enumerate(read_jsonl(path), start=1):
        rec_id = rec.get("id")
        if not isinstance(rec_id, str) or not rec_id:
            raise located(path, lineno, "record has no string 'id'")
        task = rec.get("task")
        if generic:
            if task != GENERIC_TASK:
                raise located(
                    path, lineno, f"record {rec_id!r} of the generic trainset has task {task!r}, expected 'generic'"
                )
            instruction, inp, output = _string_fields(rec, ("instruction", "input", "output"), path, lineno)
        else:
            if not isinstance(task, str) or task == GENERIC_TASK:
                raise located(path, lineno, f"record {rec_id!r} of a writing trainset has task {task!r}")
            inp, output = _string_fields(rec, ("source", "target"), path, lineno)
            instruction = _prompt_of(tasks, task, path, lineno)
        out.append({"id": rec_id, "task": task, "instruction": instruction, "input": inp, "output": output})
    return out


def _mixture_members(name: str, spec: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    if not isinstance(spec, Mapping):
        raise WritingAlpacaError(f"{name}: mixture spec must be an object {{generic, writing}}")
    generic = spec.get("generic")
    writing = spec.get("writing") or []
    if generic is not None and not isinstance(generic, str):
        raise WritingAlpacaError(f"{name}: mixture 'generic' must be a trainset name or null, got {generic!r}")
    if not isinstance(writing, list) or not all(isinstance(w, str) for w in writing):
        raise WritingAlpacaError(f"{name}: mixture 'writing' must be a list of trainset names, got {writing!r}")
    members = ([generic] if generic else []) + writing
    dupes = [m for m, c in Counter(members).items() if c > 1]
    if dupes:
        raise WritingAlpacaError(f"{name}: trainset(s) listed twice in the mixture: {', '.join(dupes)}")
    if not members:
        raise WritingAlpacaError(f"{name}: mixture has no trainsets")
    return generic, writing


def build_mixture(
    name: str, spec: Mapping[str, Any], tasks: Mapping[str, Any], seed: int, inputs: Iterable[str | Path]
) -> list[dict[str, Any]]:
    """Instruction records of a mixture, shuffled with ``seed``."""
    generic, writing = _mixture_members(name, spec)
    by_stem: dict[str, Path] = {}
    for raw in inputs:
        path = Path(raw)
        stem = path.name[: -len(".jsonl")] if path.name.endswith(".jsonl") else path.stem
        if stem in by_stem:
            raise WritingAlpacaError(f"{name}: two inputs for trainset {stem!r}: {by_stem[stem]} and {path}")
        by_stem[stem] = path
    members = ([generic] if generic else []) + writing
    missing = [m for m in members if m not in by_stem]
    extra = [s for s in by_stem if s not in members]
    if missing or extra:
        raise WritingAlpacaError(
            f"{name}: --inputs do not match the mixture: missing {missing or 'none'}, not in the mixture {extra or 'none'}"
        )
    records: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for member in members:
        path = by_stem[member]
        for lineno, rec in enumerate(instruction_records(path, tasks, generic=member == generic), start=1):
            if rec["id"] in seen:
                raise located(path, lineno, f"duplicate record id {rec['id']!r} (also in {seen[rec['id']]})")
            seen[rec["id"]] = path
            records.append(rec)
    random.Random(seed).shuffle(records)
    return records


def _trainset_of(rec_id: str) -> str:
    head, sep, tail = rec_id.rpartition("-")
    return head if sep and tail.isdigit() else rec_id


def count_summary(records: Iterable[Mapping[str, Any]], mixture: str | None = None) -> dict[str, Any]:
    """Per-task and per-trainset counts of a mixture's instruction records.

    Returns ``{"mixture", "total", "tasks": {task: n}, "trainsets": {trainset: {"task", "n"}}}``
    (keys sorted); the trainset of a record is its id without the ``-<index>`` suffix.
    """
    tasks: Counter[str] = Counter()
    trainsets: dict[str, dict[str, Any]] = {}
    total = 0
    for rec in records:
        total += 1
        tasks[rec["task"]] += 1
        entry = trainsets.setdefault(_trainset_of(rec["id"]), {"task": rec["task"], "n": 0})
        entry["n"] += 1
    return {
        "mixture": mixture,
        "total": total,
        "tasks": dict(sorted(tasks.items())),
        "trainsets": dict(sorted(trainsets.items())),
    }


def default_counts_path(out: str | Path) -> Path:
    """``X.jsonl`` -> ``X.counts.json`` (same directory)."""
    out = Path(out)
    stem = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.stem
    return out.with_name(f"{stem}.counts.json")


def cmd_format(args: argparse.Namespace) -> int:
    spec = parse_json_arg(args.spec, f"{args.name}: --spec")
    S.Mixture.from_dict(spec, f"mixtures.{args.name}")  # the fragment, as the Snakefile checked it
    tasks = parse_json_object(args.tasks, f"{args.name}: --tasks {{task: {{prompt: ...}}}}")
    records = build_mixture(args.name, spec, tasks, args.seed, args.inputs)
    write_jsonl(args.out, records)
    counts_path = Path(args.counts_out) if args.counts_out else default_counts_path(args.out)
    write_json(counts_path, count_summary(records, args.name))
    log.info("%s: wrote %d instruction records to %s", args.name, len(records), args.out)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("format", help="build the Alpaca-style instruction records of one training mixture")
    p.add_argument("--name", required=True, help="mixture name")
    p.add_argument("--spec", required=True, help="JSON mixture spec {generic: trainset|null, writing: [trainset, ...]}")
    p.add_argument("--tasks", required=True, help="JSON task table {task: {prompt: ...}}")
    p.add_argument("--seed", type=int, required=True, help="shuffle seed")
    p.add_argument("--inputs", nargs="+", required=True, help="normalised training sets (<trainset>.jsonl)")
    p.add_argument("--out", required=True, help="output JSON-lines file")
    p.add_argument("--counts-out", default=None, help="per-task counts (default: <out stem>.counts.json)")
    p.set_defaults(func=cmd_format)
