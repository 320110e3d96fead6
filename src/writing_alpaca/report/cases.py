"""The case studies: Table 6 (two systems' outputs on seeded inputs of each test set, and their
answers to free instructions) and Table 8 (seeded entity-touching corrections of the Figure-1
systems).

Both are seeded samples (``random.Random(f"{seed}/{stream}")``, one stream per test set /
system, :func:`seeded_positions`): the same config gives the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..data import gold_side
from ..errors import WritingAlpacaError, located
from .inputs import (
    Context,
    RunKey,
    load_free_outputs,
    load_outputs,
    load_runs,
    load_test_sets,
    number_field,
    ordered_datasets,
    spec_int,
    spec_list,
    spec_str,
)
from .writers import ARROW, DASH, ELLIPSIS, EMPTY, Cell, Table, fmt, write_table

CASE_TEXT_LIMIT = 300  # characters of a text shown in the .md/.tex tables (the CSV keeps it whole)
FREE_INSTRUCTION = "Free instruction"  # Table 6's Dataset cell of the free instructions (chat)


def clip(text: str, limit: int = CASE_TEXT_LIMIT) -> str:
    """One line of at most ``limit`` characters ("…" marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def seeded_positions(items: Sequence[Any], k: int, seed: int, stream: str) -> list[int]:
    """``k`` distinct positions of ``items`` (all when fewer), sorted; one random stream per
    ``(seed, stream)`` so that each system / test set is sampled independently of the others."""
    import random

    rng = random.Random(f"{seed}/{stream}")
    return sorted(rng.sample(range(len(items)), min(k, len(items))))


def render_table6(
    spec: Mapping[str, Any],
    ctx: Context,
    data: Sequence[str | Path],
    outputs: Sequence[str | Path],
    prefix: str | Path,
    free_outputs: Sequence[str | Path] = (),
) -> list[Path]:
    """Table 6: outputs of two systems (the paper: with / without generic instruction data) on a
    seeded sample of ``examples`` inputs per test set, then their answers to the spec's free
    ``instructions`` (the paper's "Tell me about panda."; decoded without input, the answers in
    ``free_outputs``).

    Inputs the two systems answer differently (after whitespace normalisation) are sampled
    first; the rest of the ``examples`` come from the inputs they answer alike.
    """
    systems = spec_list(spec, "systems", "table6")
    if len(systems) != 2:
        raise WritingAlpacaError(f"table6: --spec 'systems' must name exactly two systems, got {systems!r}")
    datasets = ordered_datasets(spec_list(spec, "test_sets", "table6"), ctx)
    decoding = spec_str(spec, "decoding", "table6")
    k = spec_int(spec, "examples", "table6", 2, minimum=1)
    seed = spec_int(spec, "seed", "table6", 0)
    instructions = spec_list(spec, "instructions", "table6", required=False)
    tests = load_test_sets(data)
    runs = load_outputs(outputs)
    free_runs = load_free_outputs(free_outputs, "table6")
    labels = [ctx.system_label(s) for s in systems]

    body: list[list[Cell]] = []
    csv_rows: list[list[Any]] = []
    rules: set[int] = set()
    for d in datasets:
        if d not in tests:
            raise WritingAlpacaError(f"table6: no test data for {d!r} (give results/data/test/{d}.jsonl)")
        path, records = tests[d]
        lines: list[list[str] | None] = []
        for s in systems:
            hit = runs.get(RunKey(s, decoding, d))
            if hit is not None and len(hit[1]) != len(records):
                raise located(hit[0], None, f"has {len(hit[1])} lines but {path} has {len(records)} records")
            lines.append(hit[1] if hit else None)
        present = [ls for ls in lines if ls is not None]
        differ = [i for i in range(len(records)) if len({" ".join(ls[i].split()) for ls in present}) > 1]
        differing = set(differ)
        alike = [i for i in range(len(records)) if i not in differing]
        picked = [differ[j] for j in seeded_positions(differ, k, seed, f"{d}/differ")]
        picked += [alike[j] for j in seeded_positions(alike, k - len(picked), seed, f"{d}/alike")]
        rules.add(len(body))
        task = ctx.task_label(ctx.dataset_task(d))
        for n, i in enumerate(sorted(picked)):
            rec = records[i]
            # the hypotheses are post-processed into the scorer's form: show the source and
            # reference in that form too
            source, refs = gold_side(rec)
            outs = [ls[i] if ls is not None else None for ls in lines]
            first = n == 0
            body.append(
                [Cell(task if first else ""), Cell(ctx.dataset_label(d) if first else ""), Cell(clip(source))]
                + [Cell(DASH if o is None else clip(o) or EMPTY) for o in outs]
            )
            refs = refs if isinstance(refs, list) else []
            csv_rows.append([ctx.dataset_task(d), d, rec.get("id", i + 1), source, *outs, refs[0] if refs else None])
    if instructions:
        answers: list[list[str] | None] = []
        for s in systems:
            hit = free_runs.get((s, decoding))
            if hit is not None and len(hit[1]) != len(instructions):
                raise located(hit[0], None, f"has {len(hit[1])} lines for {len(instructions)} free instructions")
            answers.append(hit[1] if hit else None)
        rules.add(len(body))
        for i, instruction in enumerate(instructions):
            outs = [a[i] if a is not None else None for a in answers]
            first = i == 0
            body.append(
                [
                    Cell(ctx.task_label("generic") if first else ""),
                    Cell(FREE_INSTRUCTION if first else ""),
                    Cell(clip(instruction)),
                ]
                + [Cell(DASH if o is None else clip(o) or EMPTY) for o in outs]
            )
            csv_rows.append(["generic", "free", f"table6-{i + 1:06d}", instruction, *outs, None])
    free_text = f", and their answers to {len(instructions)} free instruction(s) (no input)" if instructions else ""
    table = Table(
        title="Table 6",
        caption=(
            f"Case study: outputs of {labels[0]} and {labels[1]} ({decoding} decoding) on {k} seeded example(s) "
            f"per test set (inputs on which the two systems answer differently come first){free_text}."
        ),
        label="tab:case-generic",
        header=["Task", "Dataset", "Input", labels[0], labels[1]],
        rows=body,
        notes=[f"{EMPTY} = empty output; {DASH} = no output of that system."],
        align="lllll",
        latex_columns="llp{4.2cm}p{4.2cm}p{4.2cm}",
        rules_before=rules,
        wide=True,
    )
    header = ["task", "dataset", "id", "input", f"output_{systems[0]}", f"output_{systems[1]}", "reference"]
    return write_table(prefix, table, header, csv_rows)


def _entity_text(entities: Any) -> str:
    if not isinstance(entities, list):
        return DASH
    side = {"source": "input", "hypothesis": "output"}
    parts = [
        f"{e.get('text')} ({e.get('label')}, {side.get(e.get('side'), e.get('side'))})"
        for e in entities
        if isinstance(e, Mapping)
    ]
    return "; ".join(parts) or DASH


EDIT_TEXT_LIMIT = 60  # characters of each side of an edit shown in Table 8


def _edit_text(edit: Any) -> str:
    if not isinstance(edit, Mapping):
        return DASH
    source, output = (clip(str(edit.get(k) or ""), EDIT_TEXT_LIMIT) or EMPTY for k in ("o_str", "c_str"))
    return f"{source} {ARROW} {output}"


def render_table8(spec: Mapping[str, Any], ctx: Context, edits: Sequence[str | Path], prefix: str | Path) -> list[Path]:
    """Table 8: corrections that touch a named entity (``analyse edits`` examples of the Figure-1
    systems): a seeded sample of ``examples`` per system, with each system's share of
    entity-touching corrections over all its test sets, in both readings of the paper's
    "corrections involving entities": any spaCy label, and named entities only."""
    systems = spec_list(spec, "systems", "table8")
    datasets = spec_list(spec, "test_sets", "table8")
    decoding = spec_str(spec, "decoding", "table8")
    k = spec_int(spec, "examples", "table8", 3, minimum=1)
    seed = spec_int(spec, "seed", "table8", 0)
    runs = load_runs(edits, ".edits.json")

    body: list[list[Cell]] = []
    csv_rows: list[list[Any]] = []
    rules: set[int] = set()
    for s in systems:
        label = ctx.system_label(s)
        touching = named = corrections = 0
        pool: list[tuple[str, dict[str, Any]]] = []
        missing = []
        for d in datasets:
            hit = runs.get(RunKey(s, decoding, d))
            if hit is None:
                missing.append(d)
                continue
            path, obj = hit
            ent, examples = obj.get("entity"), obj.get("examples")
            if not isinstance(ent, dict) or not isinstance(examples, list):
                raise located(path, None, "not an `analyse edits` result (needs 'entity' and 'examples')")
            touching += int(number_field(path, ent, "touching_entity") or 0)
            named += int(number_field(path, ent, "touching_named_entity") or 0)
            corrections += int(number_field(path, ent, "corrections") or 0)
            pool += [(d, ex) for ex in examples if isinstance(ex, dict)]
        share = None if missing or not corrections else 100.0 * touching / corrections
        named_share = None if missing or not corrections else 100.0 * named / corrections
        share_text = DASH if missing else f"{fmt(share)} ({touching:,}/{corrections:,})"
        named_text = DASH if missing else f"{fmt(named_share)} ({named:,}/{corrections:,})"
        picked = [pool[j] for j in seeded_positions(pool, k, seed, s)]
        rules.add(len(body))
        if not picked:
            body.append([Cell(label), Cell(share_text), Cell(named_text)] + [Cell(DASH)] * 4)
        for n, (d, ex) in enumerate(picked):
            first = n == 0
            body.append(
                [
                    Cell(label if first else ""),
                    Cell(share_text if first else ""),
                    Cell(named_text if first else ""),
                    Cell(clip(str(ex.get("source", "")))),
                    Cell(clip(str(ex.get("hypothesis", ""))) or EMPTY),
                    Cell(_edit_text(ex.get("edit"))),
                    Cell(_entity_text(ex.get("entities"))),
                ]
            )
        for d, ex in picked or [(None, {})]:
            edit = ex.get("edit") if isinstance(ex.get("edit"), Mapping) else {}
            csv_rows.append(
                [label, s, share, touching, named_share, named, corrections, d, ex.get("id"), ex.get("source")]
                + [ex.get("hypothesis")]
                + [edit.get("o_str"), edit.get("c_str"), edit.get("type")]
                + [_entity_text(ex.get("entities")) if ex else None]
            )
    names = " and ".join(ctx.dataset_label(d) for d in datasets)
    table = Table(
        title="Table 8",
        caption=(
            f"Corrections touching a named entity (spaCy NER on the input or output side) on {names} "
            f"({decoding} decoding): up to {k} seeded example(s) per system. Entities = corrections touching "
            "any spaCy entity / all ERRANT corrections of the system (%); Named = those touching a name "
            "(PERSON, ORG, GPE, LOC, NORP, FAC, PRODUCT, EVENT, WORK_OF_ART, LAW, LANGUAGE)."
        ),
        label="tab:case-entities",
        header=["Model", "Entities (%)", "Named (%)", "Input", "Output", "Edit", "Entity"],
        rows=body,
        notes=[f"{EMPTY} = empty (an insertion's input side, a deletion's output side, or an empty output)."],
        align="lllllll",
        latex_columns="lllp{3.4cm}p{3.4cm}p{2.0cm}p{2.2cm}",
        rules_before=rules,
        wide=True,
    )
    header = [
        "model",
        "system",
        "entity_share",
        "touching_entity",
        "named_entity_share",
        "touching_named_entity",
        "corrections",
        "dataset",
        "id",
        "input",
        "output",
        "edit_source",
        "edit_output",
        "edit_type",
        "entities",
    ]
    return write_table(prefix, table, header, csv_rows)
