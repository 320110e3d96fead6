"""The paper's own numbers (Tables 4, 5 and 7) and this run's beside them.

``workflow/resources/paper_results.yaml`` holds every number the paper (Zhang et al. 2023,
arXiv:2305.13225) prints in Tables 4, 5 and 7, typed from its text.  :func:`load_paper_results`
reads and validates it (every error names the file); tests/test_paper.py recomputes every
average and cross-table identity the paper prints from it.

The companion artefacts ``table4_vs_paper``, ``table5_vs_paper`` and ``table7_vs_paper``
(``writing-alpaca render TABLE_vs_paper --spec ... --scores <score files> --paper paper_results.yaml``)
print, for each system of the table, this run's value, the paper's value and the difference
Δ = ours − paper per cell, and the mean Δ over the cells that both have (Table 7: over its
P/R/F0.5 cells; GPU-hours and instances/s are compared cell by cell only, their scales being
the hardware's).  A system is compared with the paper row of the same name, or with the row a
table spec's ``paper_rows: {system: paper system}`` names (the demo's tiny systems); a system
the paper has no row for is shown alone.  The numbers of "ours" are those of the table itself
(same readers as Tables 4, 5 and 7).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import WritingAlpacaError, located
from .io import read_text
from .report.inputs import Context, mean, ordered_datasets, spec_list, spec_str
from .report.tables import CPU_MARK, NO_EDITS_NOTE, system_cost_rows, system_score_rows, undefined_precision
from .report.writers import DASH, INCOMPLETE, Cell, Table, fmt, fmt_count, fmt_hours, fmt_int, write_table

PAPER_TABLES = ("table4", "table5", "table7")
# decimals the paper prints in each table
DIGITS = {"table4": 2, "table5": 1, "table7": 1}
TABLE7_METRICS = ("precision", "recall", "f0.5")
DELTA = "Δ"

Number = int | float


# ======================================================================================
# paper_results.yaml
# ======================================================================================


@dataclass(frozen=True)
class PaperRow:
    """One row of a paper table.  ``system``: this project's system name (None: the paper's only)."""

    label: str
    system: str | None
    values: dict[str, Number | None] = field(default_factory=dict)  # Tables 4, 5: column -> value
    avg: Number | None = None  # Table 4's Avg. column
    prf: dict[str, tuple[Number, Number, Number]] = field(default_factory=dict)  # Table 7: column -> P, R, F0.5
    train_data: str | None = None  # Table 7's #Data, as printed
    gpu_hours: Number | None = None
    instances_per_second: Number | None = None
    note: str | None = None  # printed under a vs-paper table that compares with this row


@dataclass(frozen=True)
class PaperTable:
    name: str
    columns: tuple[str, ...]
    rows: tuple[PaperRow, ...]

    @property
    def digits(self) -> int:
        return DIGITS[self.name]

    def row_for(self, system: str) -> PaperRow | None:
        return next((r for r in self.rows if r.system == system), None)

    @property
    def systems(self) -> list[str]:
        return [r.system for r in self.rows if r.system is not None]


@dataclass(frozen=True)
class PaperResults:
    path: Path
    source: str
    tables: dict[str, PaperTable]

    def __getitem__(self, name: str) -> PaperTable:
        return self.tables[name]


def _number(path: Path, where: str, value: Any, nullable: bool = False) -> Number | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        kind = "a number or null" if nullable else "a number"
        raise located(path, None, f"{where}: must be {kind}, got {value!r}")
    return value


def _keys(path: Path, where: str, obj: Mapping[str, Any], required: Sequence[str], optional: Sequence[str]) -> None:
    missing = [k for k in required if k not in obj]
    if missing:
        raise located(path, None, f"{where}: missing {', '.join(repr(k) for k in missing)}")
    unknown = sorted(str(k) for k in obj if k not in (*required, *optional))
    if unknown:
        raise located(path, None, f"{where}: unknown keys {', '.join(unknown)}")


def _names(path: Path, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise located(path, None, f"{where}: must be a non-empty list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise located(path, None, f"{where}: names repeat: {value!r}")
    return tuple(value)


def _row(path: Path, table: str, columns: tuple[str, ...], i: int, entry: Any) -> PaperRow:
    where = f"{table}.rows[{i}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("label"), str) or not entry["label"]:
        raise located(path, None, f"{where}: needs a string 'label'")
    where = f"{where} ({entry['label']})"
    system = entry.get("system")
    if system is not None and (not isinstance(system, str) or not system):
        raise located(path, None, f"{where}: 'system' must be a system name or null, got {system!r}")
    note = entry.get("note")
    if note is not None and (not isinstance(note, str) or not note.strip()):
        raise located(path, None, f"{where}: 'note' must be a sentence, got {note!r}")
    if table == "table7":
        required = ("label", "system", "train_data", "values", "gpu_hours", "instances_per_second")
        _keys(path, where, entry, required, ("note",))
        if not isinstance(entry["train_data"], str) or not entry["train_data"]:
            raise located(path, None, f"{where}: 'train_data' must be the #Data text as printed (e.g. \"2.4M\")")
        values = entry["values"]
        if not isinstance(values, dict) or sorted(values) != sorted(columns):
            raise located(path, None, f"{where}: 'values' must map each of {', '.join(columns)} to [P, R, F0.5]")
        prf = {}
        for column in columns:
            triple = values[column]
            if not isinstance(triple, list) or len(triple) != len(TABLE7_METRICS):
                raise located(path, None, f"{where}: values.{column} must be [P, R, F0.5], got {triple!r}")
            prf[column] = tuple(_number(path, f"{where}: values.{column}", v) for v in triple)
        return PaperRow(
            entry["label"],
            system,
            prf=prf,
            train_data=entry["train_data"],
            gpu_hours=_number(path, f"{where}: gpu_hours", entry["gpu_hours"]),
            instances_per_second=_number(path, f"{where}: instances_per_second", entry["instances_per_second"]),
            note=note,
        )
    required = ("label", "values", "avg") if table == "table4" else ("label", "values")
    _keys(path, where, entry, required, ("system", "note"))
    values = entry["values"]
    if not isinstance(values, list) or len(values) != len(columns):
        raise located(path, None, f"{where}: 'values' must list {len(columns)} numbers or nulls, one per column")
    row_values = {c: _number(path, f"{where}: value of {c}", v, nullable=True) for c, v in zip(columns, values)}
    avg = _number(path, f"{where}: avg", entry["avg"]) if table == "table4" else None
    return PaperRow(entry["label"], system, values=row_values, avg=avg, note=note)


def load_paper_results(path: str | Path) -> PaperResults:
    """Load and validate ``paper_results.yaml``: ``source`` and the tables ``table4``, ``table5``,
    ``table7``, each with ``columns`` (test-set names) and ``rows``.

    Rows of Tables 4 and 5: ``{label, system?, values: [one per column, null = empty cell]}``
    (Table 4 also ``avg``); rows of Table 7: ``{label, system, train_data, values: {column:
    [P, R, F0.5]}, gpu_hours, instances_per_second}`` with ``metrics: [precision, recall, f0.5]``.
    """
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise located(path, mark.line + 1 if mark else None, f"invalid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise located(path, None, "expected a mapping with 'source', " + ", ".join(PAPER_TABLES))
    _keys(path, "<top level>", doc, ("source", *PAPER_TABLES), ())
    source = doc["source"]
    if not isinstance(source, str) or not source.strip():
        raise located(path, None, "'source' must be the citation of the paper")
    tables = {}
    for name in PAPER_TABLES:
        block = doc[name]
        if not isinstance(block, dict):
            raise located(path, None, f"{name}: expected a mapping with 'columns' and 'rows'")
        _keys(path, name, block, ("columns", "rows", "metrics") if name == "table7" else ("columns", "rows"), ())
        columns = _names(path, f"{name}.columns", block["columns"])
        if name == "table7" and block["metrics"] != list(TABLE7_METRICS):
            raise located(path, None, f"table7.metrics: must be {list(TABLE7_METRICS)}, got {block['metrics']!r}")
        if not isinstance(block["rows"], list) or not block["rows"]:
            raise located(path, None, f"{name}.rows: must be a non-empty list")
        rows = tuple(_row(path, name, columns, i, entry) for i, entry in enumerate(block["rows"], start=1))
        systems = [r.system for r in rows if r.system is not None]
        repeated = sorted({s for s in systems if systems.count(s) > 1})
        if repeated:
            raise located(path, None, f"{name}: more than one row of system {', '.join(repeated)}")
        if name == "table7" and len(systems) != len(rows):
            raise located(path, None, "table7: every row needs a 'system'")
        tables[name] = PaperTable(name, columns, rows)
    return PaperResults(path, source.strip(), tables)


def paper_rows(
    spec: Mapping[str, Any], paper: PaperTable, systems: Sequence[str], artefact: str, path: Path
) -> dict[str, PaperRow | None]:
    """Each system's paper row: the one ``spec['paper_rows']`` maps it to, else the row of the
    same name (None when the paper has none)."""
    mapping = spec.get("paper_rows") or {}
    if not isinstance(mapping, Mapping) or not all(isinstance(v, str) for v in mapping.values()):
        raise WritingAlpacaError(f"{artefact}: --spec 'paper_rows' must map system -> paper system, got {mapping!r}")
    stray = [s for s in mapping if s not in systems]
    if stray:
        raise WritingAlpacaError(f"{artefact}: paper_rows of systems not in the table: {', '.join(stray)}")
    out: dict[str, PaperRow | None] = {}
    for system in systems:
        row = paper.row_for(mapping.get(system, system))
        if row is None and system in mapping:
            raise located(
                path,
                None,
                f"{paper.name} has no row of system {mapping[system]!r} ({artefact} paper_rows.{system}; "
                f"rows: {', '.join(paper.systems)})",
            )
        out[system] = row
    return out


# ======================================================================================
# The vs-paper tables
# ======================================================================================


@dataclass(frozen=True)
class Column:
    key: str  # CSV stem
    header: str
    group: str = ""
    in_mean: bool = True  # counts in the row's mean difference
    text: bool = False  # a count shown as the paper prints it (Table 7's #Data: 2.4M), not differenced


@dataclass
class Compared:
    system: str
    label: str
    paper: PaperRow | None
    ours: list[Any]
    theirs: list[Any]  # None entries where the paper has no value (or no row)
    # ours shown otherwise (column index -> text) and not compared: a CPU run's CPU hours
    shown: dict[int, str] = field(default_factory=dict)


def signed(value: float | None) -> str:
    """A difference with its sign; one that rounds to zero is "+0.00" (not "-0.00")."""
    if value is None:
        return DASH
    shown = round(value, 2)
    return f"{shown if shown != 0 else 0.0:+.2f}"


def paper_fmt(value: Any, digits: int) -> str:
    if value is None:
        return DASH
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return fmt_int(value)
    return fmt(value, digits)


def ours_fmt(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return fmt_int(value)
    return fmt(value)


def differences(columns: Sequence[Column], c: Compared) -> tuple[list[float | None], float | None, int]:
    diffs: list[float | None] = []
    for k, (col, a, b) in enumerate(zip(columns, c.ours, c.theirs, strict=True)):
        diffs.append(None if col.text or k in c.shown or a is None or b is None else float(a) - float(b))
    used = [d for col, d in zip(columns, diffs, strict=True) if col.in_mean and d is not None]
    return diffs, mean(used), len(used)


def comparison_table(
    title: str,
    caption: str,
    label: str,
    columns: Sequence[Column],
    compared: Sequence[Compared],
    digits: int,
    prefix: str | Path,
    notes: Sequence[str] = (),
) -> list[Path]:
    """Per system: a row of ours, a row of the paper's and a row of Δ = ours − paper, with the
    mean Δ over the ``in_mean`` cells that both have; one CSV row per system."""
    n_mean = sum(col.in_mean for col in columns)
    header = ["Model", "Source"] + [col.header for col in columns] + [f"Mean {DELTA}"]
    groups: list[tuple[str, int]] = [("", 2)]
    for col in columns:
        if col.group and groups[-1][0] == col.group and len(groups) > 1:
            groups[-1] = (col.group, groups[-1][1] + 1)
        else:
            groups.append((col.group, 1))
    groups.append(("", 1))
    body: list[list[Cell]] = []
    starts: set[int] = set()
    csv_rows = []
    unmatched = []
    any_partial = False
    for c in compared:
        starts.add(len(body))
        body.append(
            [Cell(c.label), Cell("this run")]
            + [
                Cell(c.shown[k] if k in c.shown else fmt_count(v) if col.text else ours_fmt(v))
                for k, (col, v) in enumerate(zip(columns, c.ours, strict=True))
            ]
            + [Cell("")]
        )
        diffs, mean_diff, n = differences(columns, c)
        if c.paper is None:
            unmatched.append(c.label)
        else:
            mean_text = signed(mean_diff)
            if mean_diff is not None and n < n_mean:
                mean_text += INCOMPLETE
                any_partial = True
            body.append(
                [Cell(""), Cell(f"paper: {c.paper.label}")]
                + [Cell(paper_fmt(v, digits)) for v in c.theirs]
                + [Cell("")]
            )
            body.append(
                [Cell(""), Cell(f"{DELTA} (ours − paper)")]
                + [Cell("" if col.text else signed(d)) for col, d in zip(columns, diffs, strict=True)]
                + [Cell(mean_text)]
            )
        row: list[Any] = [c.label, c.system, c.paper.system if c.paper else None, c.paper.label if c.paper else None]
        for a, b, d in zip(c.ours, c.theirs, diffs, strict=True):
            row += [a, b, d]
        row += [mean_diff, n]
        csv_rows.append(row)
    notes = list(notes) + [f"{c.paper.label} (paper): {c.paper.note}" for c in compared if c.paper and c.paper.note]
    if any_partial:
        notes.append(f"{INCOMPLETE} Mean {DELTA} over the cells that both this run and the paper have.")
    if unmatched:
        notes.append(f"No paper row for {', '.join(unmatched)} (map one with the table's paper_rows).")
    table = Table(
        title=title,
        caption=caption,
        label=label,
        header=header,
        rows=body,
        align="ll" + "r" * (len(header) - 2),
        groups=groups if any(g for g, _ in groups) else None,
        notes=notes,
        rules_before={i for i in starts if i > 0},
        wide=True,
    )
    csv_header = ["model", "system", "paper_system", "paper_label"]
    for col in columns:
        csv_header += [f"{col.key}_ours", f"{col.key}_paper", f"{col.key}_diff"]
    csv_header += ["mean_diff", "n_diff"]
    return write_table(prefix, table, csv_header, csv_rows)


def _dataset_columns(datasets: Sequence[str], ctx: Context) -> list[Column]:
    return [Column(d, ctx.dataset_label(d), ctx.task_label(ctx.dataset_task(d))) for d in datasets]


def _source_note(paper: PaperResults, table: str) -> str:
    return (
        f"Paper: {paper.source}, Table {table[-1]}, as printed "
        f"({DIGITS[table]} decimal{'s' if DIGITS[table] > 1 else ''}; {paper.path.name}). "
        f"{DELTA} = this run − paper; – = no value on one side."
    )


def render_scores_vs_paper(
    artefact: str,
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    paper_path: str | Path,
    prefix: str | Path,
) -> list[Path]:
    """``table4_vs_paper`` / ``table5_vs_paper``: the table's systems on its test sets beside the
    paper's Table 4 / 5 row (Table 4 also compares Avg., not counted in the mean Δ)."""
    table = artefact.removesuffix("_vs_paper")
    paper = load_paper_results(paper_path)
    ptable = paper[table]
    systems = spec_list(spec, "systems", artefact)
    datasets = ordered_datasets(spec_list(spec, "test_sets", artefact), ctx)
    decoding = spec_str(spec, "decoding", artefact)
    matched = paper_rows(spec, ptable, systems, artefact, paper.path)
    rows = system_score_rows(systems, decoding, datasets, scores, ctx)
    columns = _dataset_columns(datasets, ctx)
    with_avg = table == "table4"
    # the paper's Avg. is over its ten columns: comparable only when the table has the same ones
    same_sets = sorted(datasets) == sorted(ptable.columns)
    if with_avg:
        columns.append(Column("avg", "Avg.", in_mean=False))
    compared = []
    for system, row in zip(systems, rows, strict=True):
        p = matched[system]
        ours: list[Any] = list(row.values)
        theirs: list[Any] = [p.values.get(d) if p else None for d in datasets]
        if with_avg:
            ours.append(mean(row.values) if all(v is not None for v in row.values) else None)
            theirs.append(p.avg if p and same_sets else None)
        compared.append(Compared(system, row.label, p, ours, theirs))
    number = table[-1]
    what = f"the {len(datasets)} test sets" + (" (not Avg.)" if with_avg else "")
    notes = [_source_note(paper, table)]
    if with_avg and not same_sets:
        notes.append("The paper's Avg. is over its ten test sets, not this table's: not compared.")
    return comparison_table(
        f"Table {number} vs. the paper",
        (
            f"This run's Table {number} ({decoding} decoding) beside the paper's: per system this run's score, "
            f"the paper's and {DELTA} = ours − paper; Mean {DELTA} = mean over {what} that both have."
        ),
        f"tab:{table}-vs-paper",
        columns,
        compared,
        ptable.digits,
        prefix,
        notes,
    )


def render_table7_vs_paper(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    decode_metrics: Sequence[str | Path],
    train_metrics: Sequence[str | Path],
    paper_path: str | Path,
    prefix: str | Path,
) -> list[Path]:
    """``table7_vs_paper``: #Data, P/R/F0.5 per GEC test set, training GPU-hours and inference
    instances/s beside the paper's Table 7; the mean Δ is over the P/R/F0.5 cells."""
    artefact = "table7_vs_paper"
    paper = load_paper_results(paper_path)
    ptable = paper["table7"]
    rows, datasets, decoding, _ = system_cost_rows(spec, ctx, scores, decode_metrics, train_metrics, artefact)
    matched = paper_rows(spec, ptable, [r.system for r in rows], artefact, paper.path)
    columns = [Column("train_data", "#Data", in_mean=False, text=True)]
    for d in datasets:
        for metric, head in zip(TABLE7_METRICS, ("P", "R", "F0.5"), strict=True):
            columns.append(Column(f"{d}_{metric}", head, ctx.dataset_label(d)))
    columns += [
        Column("gpu_hours", "GPU-hours", "Cost", in_mean=False),
        Column("instances_per_second", "Inst./s", "Cost", in_mean=False),
    ]
    compared = []
    for r in rows:
        p = matched[r.system]
        ours: list[Any] = [r.train_examples]  # what Table 7's #Data prints
        theirs: list[Any] = [p.train_data if p else None]
        for d in datasets:
            ours += list(r.prf[d])
            theirs += list(p.prf[d]) if p and d in p.prf else [None] * 3
        # a CPU run's 0 GPU-hours: shown as its CPU hours, not compared with the paper's GPU-hours
        shown = {len(ours): fmt_hours(r.cpu_hours) + CPU_MARK} if r.on_cpu and r.cpu_hours is not None else {}
        ours += [r.gpu_hours, r.speed]
        theirs += [p.gpu_hours if p else None, p.instances_per_second if p else None]
        compared.append(Compared(r.system, r.label, p, ours, theirs, shown))
    notes = [_source_note(paper, "table7")]
    if any(c.shown for c in compared):
        notes.append(
            f"{CPU_MARK.strip()}: trained on CPU (0 GPU-hours): its training wall-clock CPU hours, "
            "not compared with the paper's GPU-hours."
        )
    if undefined_precision(rows):
        notes.append(NO_EDITS_NOTE)
    names = " and ".join(ctx.dataset_label(d) for d in datasets)
    return comparison_table(
        "Table 7 vs. the paper",
        (
            f"This run's Table 7 ({decoding} decoding) beside the paper's: #Data (training examples), P/R/F0.5 on "
            f"{names}, training GPU-hours and inference instances/s; {DELTA} = ours − paper. Mean {DELTA} = mean "
            f"over the P/R/F0.5 cells that both have (GPU-hours and speed depend on the hardware: the paper's are "
            f"8 V100 32GB GPUs)."
        ),
        "tab:table7-vs-paper",
        columns,
        compared,
        ptable.digits,
        prefix,
        notes,
    )
