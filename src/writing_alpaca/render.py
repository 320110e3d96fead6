"""Render the paper's tables and figures from the workflow's results.

Sub-commands (one per artefact; DESIGN.md "CLI contract")::

    writing-alpaca render ARTEFACT --spec JSON [--systems JSON] [--test-sets JSON] [--tasks JSON]
                                   --inputs FILE ... --out-prefix PREFIX

with ARTEFACT one of ``table2 table3 table4 table5 table6 table7 table8 figure1 cost_quality``
and ``table4_vs_paper table5_vs_paper table7_vs_paper``, and ``costs`` (:mod:`writing_alpaca.costs`:
the run's wall time, CPU time and peak memory from Snakemake's benchmark files; no ``--spec``).
``--spec`` is the artefact's ``tables.<name>`` config entry (cost_quality uses table7's;
table8 figure1's with table8's ``examples`` and the config's ``seed``; table6 its own with
the ``seed``; table3's with the ``train_sets`` of its mixture, titles and sources);
``--systems``, ``--test-sets``, ``--tasks`` are those config blocks (labels, titles, Table 2's
``dataset``/``abbrev``, tasks, metrics); table3 also takes ``--train-sets`` (dataset titles,
upstream sources; the spec's ``train_sets`` otherwise), table7 ``--decodings``
(beam/batch when the decode metrics lack them).  ``--inputs`` is one mixed list, each file's
kind told from its name:

===================  ====================================================  ==========================
kind                 file                                                  used by
===================  ====================================================  ==========================
scores               ``.../{system}/{decoding}/{dataset}.json``            table4, table5, table7, cost
decode metrics       ``.../{system}/{decoding}/{dataset}.metrics.json``    table7, cost
training metrics     ``.../{system}/train_metrics.json`` or the model dir  table7, cost
edit analyses        ``.../{system}/{decoding}/{dataset}.edits.json``      figure1, table8
test data            ``results/data/test/{dataset}.jsonl``                 table2, table6
system outputs       ``.../outputs/{system}/{decoding}/{dataset}.txt``     table6
free answers         ``.../outputs/{system}/{decoding}/free/{table}.txt``  table6 (spec ``instructions``)
bootstrap results    ``.../analysis/bootstrap/{table}/{dataset}.json``     table4 (significance marks)
mixture              ``{mixture}.jsonl`` and/or ``{mixture}.counts.json``  table3
paper's numbers      ``paper_results*.yaml``                               table{4,5,7}_vs_paper
published rows       ``*.yaml`` (default: the spec's ``published``)        table5
benchmarks           ``results/benchmarks/{stage}/{rule}/...tsv``          costs
===================  ====================================================  ==========================

``table4_vs_paper``, ``table5_vs_paper`` and ``table7_vs_paper`` (:mod:`writing_alpaca.paper`)
take their table's spec (with its optional ``paper_rows``) and inputs plus the paper's numbers.

A file of a kind the artefact does not use is an error.  The same files may also be given
by kind (then any name will do): ``--scores``, ``--bootstrap`` (table4), ``--decode-metrics``,
``--train-metrics``, ``--edits``, ``--data`` (table2, table6), ``--outputs``, ``--free-outputs`` (table6),
``--instructions``/``--counts`` (table3), ``--published`` (table5), ``--paper`` (vs-paper tables).

Which run a file belongs to is read from its path, as above; a JSON file that carries
``system``/``decoding``/``dataset`` fields uses those instead.  Fields read: scores
``score`` (and ``precision``/``recall``/``f0.5`` for table7, all 0-100); decode metrics
``instances_per_second`` (or ``instances``/``seconds``), ``batch_size``, ``num_beams``;
training metrics ``gpu_hours`` and ``train_examples`` (Table 7's #Data; older files: ``examples`` or
``pairs``); edit analyses ``edits``, ``entity`` (and ``examples`` for
table8); bootstrap results ``pairs[].p_value`` (:mod:`writing_alpaca.bootstrap`).

Table 4 significance: with ``significance: {reference: SYSTEM, alpha: 0.05}`` in the spec
and the bootstrap results of its test sets, every score whose difference from the reference
system's score on that test set has a two-sided paired-bootstrap p-value below ``alpha`` is
marked "‡" (the CSV adds ``p_{dataset}`` columns).  Tables 6 and 8 are seeded samples
(``random.Random(f"{seed}/{stream}")``, one stream per test set / system): the same config
gives the same rows.

A named input that does not exist is an error; a run the spec asks for but no input
provides is shown as "–" (and an average over fewer datasets is marked).

Outputs: tables ``P.md`` (caption line + Markdown table), ``P.tex`` (booktabs),
``P.csv`` (the raw numbers); figures ``P.png``, ``P.pdf`` and ``P.csv`` (+ ``P.md``/``P.tex``
for figure1's entity table).  Every file is written atomically.  Table numbers have two
decimals, as in the paper; the CSV files keep four.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import gold_side
from .errors import WritingAlpacaError, located
from .io import atomic_path, parse_json_object, read_json, read_jsonl, read_text

LOG = logging.getLogger(__name__)

DASH = "–"
DAGGER = "†"
DOUBLE_DAGGER = "‡"  # Table 4: significantly different from the reference system
INCOMPLETE = "*"
ARROW = "→"
EMPTY = "∅"
ELLIPSIS = "…"

# The paper's task order (Tables 2-5); "generic" (Stanford Alpaca) leads Table 3, as in the paper.
TASK_ORDER = ("generic", "grammar", "fluency", "clarity", "coherence", "simplification", "neutralization", "paraphrase")
DEFAULT_TASK_LABELS = {
    "grammar": "Grammaticality",
    "fluency": "Fluency",
    "clarity": "Clarity",
    "coherence": "Coherence",
    "simplification": "Simplification",
    "neutralization": "Neutralization",
    "paraphrase": "Paraphrasing",
    "generic": "General",
}
METRIC_COLUMN = {"m2": "F0.5", "errant": "F0.5", "gleu": "GLEU", "sari": "SARI"}
METRIC_NAME = {"m2": "M2 F0.5", "errant": "ERRANT F0.5", "gleu": "GLEU", "sari": "SARI"}
ACTIONS_ORDER = ("M", "R", "U")  # ERRANT: missing (insert), replace, unnecessary (delete)
ACTION_LABELS = {"M": "Insert", "R": "Replace", "U": "Delete"}


# ======================================================================================
# Table model and writers
# ======================================================================================


@dataclass
class Cell:
    text: str
    bold: bool = False


@dataclass
class Table:
    """A rendered table: one header row (optionally grouped), body rows, notes.

    ``groups`` spans the header columns (including the first) with group titles ("" for
    none); ``rules_before`` lists body-row indices preceded by a ``\\midrule``.
    """

    title: str
    caption: str
    label: str
    header: list[str]
    rows: list[list[Cell]]
    align: str
    groups: list[tuple[str, int]] | None = None
    notes: list[str] = field(default_factory=list)
    rules_before: set[int] = field(default_factory=set)
    wide: bool = False
    latex_columns: str | None = None  # LaTeX column spec (e.g. with p{..} text columns); default: align

    def __post_init__(self) -> None:
        n = len(self.header)
        if len(self.align) != n or any(len(r) != n for r in self.rows):
            raise ValueError("table rows, header and alignment must have the same width")
        if self.groups is not None and sum(span for _, span in self.groups) != n:
            raise ValueError("header groups must span every column")


def fmt(value: float | None, digits: int = 2) -> str:
    """Two decimals as in the paper; ``None`` -> "–"."""
    return DASH if value is None else f"{value:.{digits}f}"


def fmt_int(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def fmt_count(value: int | None) -> str:
    """A data size as the paper prints it (Table 7's #Data): 2,372,119 -> "2.4M", 112,002 ->
    "112.0k", below 1,000 as it is; ``None`` -> "–"."""
    if value is None:
        return DASH
    if value >= 999_950:  # what would print as "1000.0k"
        return f"{value / 1_000_000:.1f}M"
    if value >= 1_000:
        return f"{value / 1_000:.1f}k"
    return str(value)


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_escape_note(text: str) -> str:
    """A leading "*", "+" or "-" would start a Markdown list."""
    return "\\" + text if text and text[0] in "*+-" else text


def _markdown_header(table: Table) -> list[str]:
    """Markdown has one header row: name a repeated column after its group ("CoNLL-14 P")."""
    if table.groups is None:
        return list(table.header)
    owners = [title for title, span in table.groups for _ in range(span)]
    repeated = {h for h in table.header if table.header.count(h) > 1}
    return [f"{g} {h}" if h in repeated and g else h for g, h in zip(owners, table.header)]


def to_markdown(table: Table) -> str:
    def cell(c: Cell) -> str:
        text = _md_escape(c.text)
        return f"**{text}**" if c.bold and text != DASH else text

    rule = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = [f"**{table.title}.** {table.caption}", ""]
    lines.append("| " + " | ".join(_md_escape(h) for h in _markdown_header(table)) + " |")
    lines.append("|" + "|".join(rule[a] for a in table.align) + "|")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    if table.notes:
        lines.append("")
        notes = [_md_escape_note(note) for note in table.notes]
        lines += [f"{note}  " if i < len(notes) - 1 else note for i, note in enumerate(notes)]
    return "\n".join(lines) + "\n"


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    DASH: "--",
    DAGGER: r"\textsuperscript{\dag}",
    DOUBLE_DAGGER: r"\textsuperscript{\ddag}",
    "—": "---",
    ARROW: r"$\rightarrow$",
    "Δ": r"$\Delta$",  # the vs-paper tables' difference (writing_alpaca.paper)
    "−": r"$-$",
    EMPTY: r"$\emptyset$",
    ELLIPSIS: r"\ldots{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials (``& % $ # _ { } ~ ^ \\ < >``) and map "–", "—", "†", "‡", "→", "Δ", "−", "∅", "…"."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    def cell(c: Cell) -> str:
        text = latex_escape(c.text)
        return f"\\textbf{{{text}}}" if c.bold and c.text != DASH else text

    env = "table*" if table.wide else "table"
    lines = [
        f"% {table.title}: generated by `writing-alpaca render`; do not edit by hand.",
        f"\\begin{{{env}}}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{latex_escape(table.caption)}}}",
        f"\\label{{{table.label}}}",
        f"\\begin{{tabular}}{{{table.latex_columns or table.align}}}",
        "\\toprule",
    ]
    if table.groups is not None:
        cells, rules, col = [], [], 1
        for title, span in table.groups:
            if title:
                cells.append(f"\\multicolumn{{{span}}}{{c}}{{{latex_escape(title)}}}")
                rules.append(f"\\cmidrule(lr){{{col}-{col + span - 1}}}")
            else:
                cells += [""] * span
            col += span
        lines.append(" & ".join(cells) + " \\\\")
        if rules:
            lines.append(" ".join(rules))
    lines.append(" & ".join(latex_escape(h) for h in table.header) + " \\\\")
    lines.append("\\midrule")
    for i, row in enumerate(table.rows):
        if i in table.rules_before and i > 0:
            lines.append("\\midrule")
        lines.append(" & ".join(cell(c) for c in row) + " \\\\")
    lines.append("\\bottomrule")
    lines.append("\\end{tabular}")
    if table.notes:
        lines.append("\\par\\smallskip")
        lines.append("{\\footnotesize " + " \\par ".join(latex_escape(n) for n in table.notes) + "\\par}")
    lines.append(f"\\end{{{env}}}")
    return "\n".join(lines) + "\n"


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_value(v) for v in row])
    return buf.getvalue()


def write_text_atomic(path: str | Path, text: str) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def out_path(prefix: str | Path, ext: str) -> Path:
    prefix = Path(prefix)
    return prefix.with_name(f"{prefix.name}.{ext}")


def write_table(
    prefix: str | Path, table: Table, csv_header: Sequence[str], csv_rows: Iterable[Sequence[Any]]
) -> list[Path]:
    """Write ``P.md``, ``P.tex`` and ``P.csv``."""
    return [
        write_text_atomic(out_path(prefix, "md"), to_markdown(table)),
        write_text_atomic(out_path(prefix, "tex"), to_latex(table)),
        write_text_atomic(out_path(prefix, "csv"), to_csv(csv_header, csv_rows)),
    ]


def save_figure(fig: Any, prefix: str | Path) -> list[Path]:
    """Save a matplotlib figure as ``P.png`` and ``P.pdf`` atomically."""
    paths = []
    for ext in ("png", "pdf"):
        path = out_path(prefix, ext)
        with atomic_path(path) as tmp:
            fig.savefig(
                tmp, format=ext, dpi=200, bbox_inches="tight", metadata={"CreationDate": None} if ext == "pdf" else None
            )
        paths.append(path)
    return paths


def best_marks(values: Sequence[float | None], eligible: Sequence[bool] | None = None) -> list[bool]:
    """Which entries are the column's best (highest); ties at the displayed precision all count."""
    shown = [round(v, 2) if v is not None and (eligible is None or eligible[i]) else None for i, v in enumerate(values)]
    present = [v for v in shown if v is not None]
    if not present:
        return [False] * len(values)
    top = max(present)
    return [v is not None and v == top for v in shown]


# ======================================================================================
# Inputs
# ======================================================================================


@dataclass(frozen=True)
class RunKey:
    system: str
    decoding: str
    dataset: str


def _strip_suffix(name: str, suffix: str) -> str | None:
    return name[: -len(suffix)] if name.endswith(suffix) and len(name) > len(suffix) else None


def run_key(path: Path, obj: Mapping[str, Any], suffix: str) -> RunKey:
    """``.../{system}/{decoding}/{dataset}{suffix}`` (or the JSON's own fields)."""
    if all(isinstance(obj.get(k), str) for k in ("system", "decoding", "dataset")):
        return RunKey(obj["system"], obj["decoding"], obj["dataset"])
    dataset = _strip_suffix(path.name, suffix)
    parts = path.parts
    if dataset is None or len(parts) < 3:
        raise located(
            path,
            None,
            f"cannot tell system/decoding/dataset: expected a path .../{{system}}/{{decoding}}/{{dataset}}{suffix}",
        )
    return RunKey(parts[-3], parts[-2], dataset)


def _load_json_object(path: Path) -> dict[str, Any]:
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise located(path, None, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def load_runs(paths: Iterable[str | Path], suffix: str) -> dict[RunKey, tuple[Path, dict[str, Any]]]:
    """Index per-run JSON files by (system, decoding, dataset); duplicates are an error."""
    runs: dict[RunKey, tuple[Path, dict[str, Any]]] = {}
    for p in paths:
        path = Path(p)
        obj = _load_json_object(path)
        key = run_key(path, obj, suffix)
        if key in runs:
            raise located(path, None, f"same run as {runs[key][0]} ({key.system}/{key.decoding}/{key.dataset})")
        runs[key] = (path, obj)
    return runs


def load_train_metrics(paths: Iterable[str | Path]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Index ``results/models/{system}/train_metrics.json`` files (or model directories) by system."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for p in paths:
        path = Path(p)
        if path.is_dir():
            path = path / "train_metrics.json"
        obj = _load_json_object(path)
        system = obj.get("system") if isinstance(obj.get("system"), str) else None
        if system is None:
            if len(path.parts) < 2:
                raise located(path, None, "cannot tell the system: expected a path .../{system}/train_metrics.json")
            system = path.parts[-2]
        if system in out:
            raise located(path, None, f"same system as {out[system][0]}")
        out[system] = (path, obj)
    return out


def number_field(path: Path, obj: Mapping[str, Any], *keys: str, required: bool = True) -> float | None:
    """The first of ``keys`` present in ``obj`` as a number (``null`` counts as missing)."""
    for key in keys:
        if key in obj:
            value = obj[key]
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise located(path, None, f"field {key!r} must be a finite number, got {value!r}")
            return float(value)
    if required:
        raise located(path, None, f"missing field {' or '.join(repr(k) for k in keys)}")
    return None


def headline_score(path: Path, obj: Mapping[str, Any]) -> float | None:
    return number_field(path, obj, "score")


def prf(path: Path, obj: Mapping[str, Any]) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F0.5 (0-100) of an M2/ERRANT score file."""
    f = number_field(path, obj, "f0.5", "score")
    p = number_field(path, obj, "precision", required=False)
    r = number_field(path, obj, "recall", required=False)
    return p, r, f


@dataclass
class Context:
    """Config blocks the tables need for names and labels."""

    systems: Mapping[str, Any] = field(default_factory=dict)
    test_sets: Mapping[str, Any] = field(default_factory=dict)
    tasks: Mapping[str, Any] = field(default_factory=dict)

    def system_label(self, system: str) -> str:
        entry = self.systems.get(system)
        if self.systems and entry is None:
            raise WritingAlpacaError(f"system {system!r} is not in --systems")
        label = entry.get("label") if isinstance(entry, Mapping) else None
        return str(label) if label else system

    def test_set(self, dataset: str) -> Mapping[str, Any]:
        entry = self.test_sets.get(dataset)
        if not isinstance(entry, Mapping):
            raise WritingAlpacaError(f"test set {dataset!r} is not in --test-sets")
        return entry

    def dataset_label(self, dataset: str) -> str:
        entry = self.test_sets.get(dataset)
        title = entry.get("title") if isinstance(entry, Mapping) else None
        return str(title) if title else dataset

    def dataset_field(self, dataset: str, key: str) -> str:
        """``test_sets.<dataset>.<key>`` (Table 2's ``dataset`` corpus name, ``abbrev``), else its title."""
        entry = self.test_sets.get(dataset)
        value = entry.get(key) if isinstance(entry, Mapping) else None
        return str(value) if value else self.dataset_label(dataset)

    def dataset_task(self, dataset: str) -> str:
        task = self.test_set(dataset).get("task")
        if not isinstance(task, str):
            raise WritingAlpacaError(f"test set {dataset!r} has no task in --test-sets")
        return task

    def dataset_metric(self, dataset: str) -> str:
        metric = self.test_set(dataset).get("metric")
        if not isinstance(metric, str):
            raise WritingAlpacaError(f"test set {dataset!r} has no metric in --test-sets")
        return metric

    def task_label(self, task: str) -> str:
        entry = self.tasks.get(task)
        label = entry.get("label") if isinstance(entry, Mapping) else None
        return str(label) if label else DEFAULT_TASK_LABELS.get(task, task)


def task_rank(task: str) -> int:
    return TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER)


def spec_list(spec: Mapping[str, Any], key: str, artefact: str, required: bool = True) -> list[str]:
    value = spec.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WritingAlpacaError(f"{artefact}: --spec needs {key!r} as a list of names, got {value!r}")
    return value


def spec_str(spec: Mapping[str, Any], key: str, artefact: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise WritingAlpacaError(f"{artefact}: --spec needs {key!r} (a name), got {value!r}")
    return value


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


# ======================================================================================
# Tables 4 and 5: scores of systems on the ten test sets
# ======================================================================================


@dataclass
class ScoreRow:
    label: str
    values: list[float | None]
    published: bool = False
    system: str | None = None
    citation: str | None = None
    # Table 4's significance test: p-value per dataset against the reference system (None: not tested)
    p_values: list[float | None] | None = None
    marks: list[str] | None = None  # suffix per dataset value ("‡" when significant)


def ordered_datasets(datasets: Sequence[str], ctx: Context) -> list[str]:
    """Datasets grouped by task in the paper's task order (stable within a task)."""
    return sorted(datasets, key=lambda d: task_rank(ctx.dataset_task(d)))


def score_table(
    title: str,
    caption: str,
    label: str,
    datasets: Sequence[str],
    rows: Sequence[ScoreRow],
    ctx: Context,
    extra_notes: Sequence[str] = (),
    average: bool = True,
) -> tuple[Table, list[str], list[list[Any]]]:
    """Rows x datasets grouped by task, with Avg. (unless ``average`` is false: Table 5 has
    none in the paper) and the column best in bold."""
    n = len(datasets)
    avgs: list[float | None] = []
    complete: list[bool] = []
    for row in rows:
        present = [v for v in row.values if v is not None]
        avgs.append(mean(present))
        complete.append(len(present) == n)
    bold_cols = [best_marks([row.values[j] for row in rows]) for j in range(n)]
    bold_avg = best_marks(avgs, eligible=complete)

    header = (
        ["Model"]
        + [
            f"{ctx.dataset_label(d)} ({METRIC_COLUMN.get(ctx.dataset_metric(d), ctx.dataset_metric(d))})"
            for d in datasets
        ]
        + (["Avg."] if average else [])
    )
    groups: list[tuple[str, int]] = [("", 1)]
    for d in datasets:
        task = ctx.task_label(ctx.dataset_task(d))
        if groups[-1][0] == task and len(groups) > 1:
            groups[-1] = (task, groups[-1][1] + 1)
        else:
            groups.append((task, 1))
    if average:
        groups.append(("", 1))

    body: list[list[Cell]] = []
    any_incomplete = False
    for i, row in enumerate(rows):
        name = row.label + (DAGGER if row.published else "")
        suffixes = row.marks or [""] * n
        cells = [Cell(name)] + [
            Cell(fmt(v) + (suffixes[j] if v is not None else ""), bold_cols[j][i]) for j, v in enumerate(row.values)
        ]
        if average:
            avg_text = fmt(avgs[i])
            if avgs[i] is not None and not complete[i]:
                avg_text += INCOMPLETE
                any_incomplete = True
            cells.append(Cell(avg_text, bold_avg[i]))
        body.append(cells)

    notes = list(extra_notes)
    if any_incomplete:
        notes.append(f"{INCOMPLETE} Avg. over the available datasets only (– = no result).")
    group_text = "; ".join(
        f"{ctx.task_label(t)}: {', '.join(ctx.dataset_label(d) for d in datasets if ctx.dataset_task(d) == t)}"
        for t in dict.fromkeys(ctx.dataset_task(d) for d in datasets)
    )
    best_text = f"Avg. = mean over the {n} datasets; best per column in bold." if average else "Best per column in bold."
    table = Table(
        title=title,
        caption=f"{caption} Columns by task ({group_text}). {best_text}",
        label=label,
        header=header,
        rows=body,
        align="l" + "r" * (len(header) - 1),
        groups=groups,
        notes=notes,
        wide=n > 6,
    )
    csv_header = ["model", "system", "source", "citation"] + list(datasets) + (["avg", "avg_n"] if average else [])
    csv_rows = [
        [row.label, row.system, "published" if row.published else "this run", row.citation]
        + list(row.values)
        + ([avgs[i], sum(v is not None for v in row.values)] if average else [])
        for i, row in enumerate(rows)
    ]
    if any(row.p_values is not None for row in rows):
        csv_header += [f"p_{d}" for d in datasets]
        for csv_row, row in zip(csv_rows, rows, strict=True):
            csv_row += list(row.p_values) if row.p_values is not None else [None] * n
    return table, csv_header, csv_rows


def system_score_rows(
    systems: Sequence[str], decoding: str, datasets: Sequence[str], score_paths: Sequence[str | Path], ctx: Context
) -> list[ScoreRow]:
    runs = load_runs(score_paths, ".json")
    wanted = {RunKey(s, decoding, d) for s in systems for d in datasets}
    for key, (path, _) in runs.items():
        if key not in wanted:
            LOG.info("ignoring %s: %s/%s/%s is not in this table", path, key.system, key.decoding, key.dataset)
    rows = []
    for system in systems:
        values = []
        for d in datasets:
            hit = runs.get(RunKey(system, decoding, d))
            values.append(headline_score(*hit) if hit else None)
        rows.append(ScoreRow(ctx.system_label(system), values, system=system))
    return rows


@dataclass(frozen=True)
class Significance:
    """Table 4's significance marks: every system against ``reference`` (paired bootstrap)."""

    reference: str
    alpha: float
    samples: int | None
    tested: list[str]  # datasets with a bootstrap result

    def note(self, ctx: Context) -> str:
        n = f"{self.samples:,} samples, " if self.samples else ""
        return (
            f"{DOUBLE_DAGGER} Significantly different from {ctx.system_label(self.reference)} on that test set "
            f"(paired bootstrap, {n}two-sided p < {self.alpha:g})."
        )


def significance_spec(spec: Mapping[str, Any], systems: Sequence[str]) -> tuple[str, float] | None:
    """``(reference, alpha)`` of a table's ``significance`` entry, or ``None`` when it has none."""
    sig = spec.get("significance")
    if sig is None:
        return None
    if not isinstance(sig, Mapping) or not isinstance(sig.get("reference"), str):
        raise WritingAlpacaError(f"table4: --spec 'significance' needs a 'reference' system, got {sig!r}")
    reference = sig["reference"]
    if reference not in systems:
        raise WritingAlpacaError(f"table4: significance reference {reference!r} is not one of the table's systems")
    alpha = sig.get("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise WritingAlpacaError(f"table4: significance alpha must be in (0, 1), got {alpha!r}")
    return reference, float(alpha)


def load_bootstrap(paths: Iterable[str | Path], decoding: str) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Index ``analyse bootstrap`` results by dataset; another decoding or a duplicate is an error."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for p in paths:
        path = Path(p)
        obj = _load_json_object(path)
        if obj.get("kind") != "paired_bootstrap" or not isinstance(obj.get("pairs"), list):
            raise located(path, None, "not an `analyse bootstrap` result (needs kind 'paired_bootstrap' and 'pairs')")
        dataset = obj.get("dataset") if isinstance(obj.get("dataset"), str) else path.stem
        if obj.get("decoding") not in (None, decoding):
            raise located(path, None, f"bootstrap of decoding {obj['decoding']!r}; the table is {decoding!r}")
        if dataset in out:
            raise located(path, None, f"same test set as {out[dataset][0]} ({dataset})")
        out[dataset] = (path, obj)
    return out


def apply_significance(
    rows: Sequence[ScoreRow],
    datasets: Sequence[str],
    reference: str,
    alpha: float,
    bootstrap: Mapping[str, tuple[Path, dict[str, Any]]],
) -> Significance:
    """Set each row's p-values against ``reference`` and mark the significant ones (in place)."""
    from .bootstrap import pair_result

    samples: set[int] = set()
    for row in rows:
        row.p_values = [None] * len(datasets)
        row.marks = [""] * len(datasets)
        if row.system == reference:
            continue
        for j, d in enumerate(datasets):
            if d not in bootstrap or row.values[j] is None:
                continue
            path, obj = bootstrap[d]
            pair = pair_result(obj, str(row.system), reference)
            if pair is None:
                raise located(path, None, f"has no comparison of {row.system!r} with {reference!r}")
            p = number_field(path, pair, "p_value")
            row.p_values[j] = p
            row.marks[j] = DOUBLE_DAGGER if p is not None and p < alpha else ""
            if isinstance(obj.get("samples"), int):
                samples.add(obj["samples"])
    tested = [d for d in datasets if d in bootstrap]
    return Significance(reference, alpha, samples.pop() if len(samples) == 1 else None, tested)


def render_table4(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    prefix: str | Path,
    bootstrap: Sequence[str | Path] = (),
) -> list[Path]:
    """Table 4; with a ``significance`` entry in the spec and ``analyse bootstrap`` results,
    scores significantly different from the reference system's are marked "‡"."""
    systems = spec_list(spec, "systems", "table4")
    datasets = ordered_datasets(spec_list(spec, "test_sets", "table4"), ctx)
    decoding = spec_str(spec, "decoding", "table4")
    rows = system_score_rows(systems, decoding, datasets, scores, ctx)
    notes = []
    sig = significance_spec(spec, systems)
    if sig is not None:
        results = load_bootstrap(bootstrap, decoding)
        if results:
            marks = apply_significance(rows, datasets, sig[0], sig[1], results)
            notes.append(marks.note(ctx))
            untested = [ctx.dataset_label(d) for d in datasets if d not in marks.tested]
            if untested:
                notes.append(f"No significance test for {', '.join(untested)}.")
        else:
            LOG.warning("table4: the spec asks for significance marks but no bootstrap results were given")
    elif bootstrap:
        LOG.info("table4: bootstrap results given but the spec has no 'significance' entry; not marking")
    table, header, csv_rows = score_table(
        "Table 4",
        f"Results of the systems on the writing-assistance benchmark ({decoding} decoding).",
        "tab:main-results",
        datasets,
        rows,
        ctx,
        extra_notes=notes,
    )
    return write_table(prefix, table, header, csv_rows)


# --------------------------------------------------------------------------------------
# Published rows of Table 5
# --------------------------------------------------------------------------------------


@dataclass
class PublishedRow:
    label: str
    citation: str
    values: dict[str, float | None]
    citations: dict[str, str] = field(default_factory=dict)  # per-dataset sources (Prev. SOTA)
    after_ours: bool = False  # rendered after this run's systems (the paper's Prev. SOTA)

    def cited(self, datasets: Sequence[str], ctx: Context) -> str:
        """The row's citation; with per-cell ``citations``, each source with its datasets."""
        if not self.citations:
            return self.citation
        groups: dict[str, list[str]] = {}
        for d in datasets:
            groups.setdefault(self.citations.get(d, self.citation), []).append(ctx.dataset_label(d))
        return "; ".join(f"{c} ({', '.join(ds)})" for c, ds in groups.items())


def load_published(path: str | Path) -> tuple[str, list[PublishedRow]]:
    """Load ``workflow/resources/published_table5.yaml``: its source note and its rows.

    Format: ``source`` (citation of the table), ``rows: [{label, citation, values: {dataset:
    number|null}, citations: {dataset: source}, after_ours: bool}]``.  ``null`` = not available
    (rendered "–"); ``citations`` (optional) credits single cells (the previous SOTA of each test
    set); ``after_ours: true`` puts the row after this run's systems (the paper's Prev. SOTA).
    """
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise located(path, mark.line + 1 if mark else None, f"invalid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise located(path, None, "expected a mapping with a 'rows' list")
    source = doc.get("source")
    if not isinstance(source, str) or not source.strip():
        raise located(path, None, "missing 'source' (the citation of the published table)")
    rows = []
    for i, entry in enumerate(doc["rows"], start=1):
        where = f"rows[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str):
            raise located(path, None, f"{where}: needs a string 'label'")
        where = f"{where} ({entry['label']})"
        unknown = set(entry) - {"label", "citation", "values", "citations", "after_ours"}
        if unknown:
            raise located(path, None, f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}")
        citation = entry.get("citation")
        if not isinstance(citation, str) or not citation.strip():
            raise located(path, None, f"{where}: needs a 'citation'")
        values = entry.get("values") or {}
        if not isinstance(values, dict):
            raise located(path, None, f"{where}: 'values' must map dataset -> number or null")
        for dataset, value in values.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise located(path, None, f"{where}: value of {dataset!r} must be a number or null")
        cells = entry.get("citations") or {}
        if not isinstance(cells, dict) or not all(isinstance(c, str) and c.strip() for c in cells.values()):
            raise located(path, None, f"{where}: 'citations' must map dataset -> source")
        stray = [str(d) for d in cells if d not in values]
        if stray:
            raise located(path, None, f"{where}: 'citations' of datasets without a value: {', '.join(stray)}")
        after = entry.get("after_ours", False)
        if not isinstance(after, bool):
            raise located(path, None, f"{where}: 'after_ours' must be true or false")
        rows.append(
            PublishedRow(
                entry["label"],
                citation.strip(),
                {str(k): None if v is None else float(v) for k, v in values.items()},
                {str(k): v.strip() for k, v in cells.items()},
                after,
            )
        )
    return source.strip(), rows


def render_table5(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    prefix: str | Path,
    published_path: str | Path | None = None,
) -> list[Path]:
    systems = spec_list(spec, "systems", "table5")
    datasets = ordered_datasets(spec_list(spec, "test_sets", "table5"), ctx)
    decoding = spec_str(spec, "decoding", "table5")
    published_path = published_path or spec.get("published")
    if not published_path:
        raise WritingAlpacaError("table5: give --published or 'published' in --spec")
    source, published = load_published(published_path)
    if not any(v is not None for p in published for v in p.values.values()):
        LOG.warning(
            "%s: every published value is null; Table 5's published rows will show only '%s'", published_path, DASH
        )

    def published_row(p: PublishedRow) -> ScoreRow:
        return ScoreRow(p.label, [p.values.get(d) for d in datasets], published=True, citation=p.cited(datasets, ctx))

    before = [published_row(p) for p in published if not p.after_ours]
    after = [published_row(p) for p in published if p.after_ours]
    ours = system_score_rows(systems, decoding, datasets, scores, ctx)
    own = [f"{p.label}: {p.cited(datasets, ctx)}" for p in published if p.cited(datasets, ctx) != source]
    citations = f" Row sources: {'; '.join(own)}." if own else ""
    # The paper's layout: the other LLMs, ours, then the previous SOTA; no average column.
    table, header, csv_rows = score_table(
        "Table 5",
        "Comparison with other LLMs and the previous state of the art.",
        "tab:comparison",
        datasets,
        before + ours + after,
        ctx,
        extra_notes=[f"{DAGGER} Published numbers ({source}), not re-run here; – = not available.{citations}"],
        average=False,
    )
    table.rules_before = {i for i in (len(before), len(before) + len(ours)) if 0 < i < len(table.rows)}
    return write_table(prefix, table, header, csv_rows)


# ======================================================================================
# Table 7: GEC precision/recall/F0.5 and cost
# ======================================================================================


@dataclass
class CostRow:
    system: str
    label: str
    prf: dict[str, tuple[float | None, float | None, float | None]]
    gpu_hours: float | None
    speed: float | None
    train_examples: int | None = None  # Table 7's #Data

    @property
    def f05_mean(self) -> float | None:
        fs = [v[2] for v in self.prf.values()]
        return mean([f for f in fs if f is not None]) if fs and all(f is not None for f in fs) else None


def decoding_settings(
    decoding: str, decodings: Mapping[str, Any], metrics: Sequence[tuple[Path, Mapping[str, Any]]]
) -> str:
    """The decoding settings as "beam K, batch B", from the decode metrics (or the config's decodings block)."""
    beams = {m.get("num_beams") for _, m in metrics if m.get("num_beams") is not None}
    batches = {m.get("batch_size") for _, m in metrics if m.get("batch_size") is not None}
    entry = decodings.get(decoding) if isinstance(decodings.get(decoding), Mapping) else {}
    if not beams and entry.get("num_beams") is not None:
        beams = {entry["num_beams"]}
    if not batches and entry.get("batch_size") is not None:
        batches = {entry["batch_size"]}

    def one(values: set[Any]) -> str:
        return DASH if not values else "/".join(str(v) for v in sorted(values, key=str))

    return f"beam {one(beams)}, batch {one(batches)}"


def cost_rows(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    decode_metrics: Sequence[str | Path],
    train_metrics: Sequence[str | Path],
    artefact: str,
) -> tuple[list[CostRow], list[str], str, list[tuple[Path, dict[str, Any]]]]:
    systems = spec_list(spec, "systems", artefact)
    datasets = spec_list(spec, "test_sets", artefact)
    decoding = spec_str(spec, "decoding", artefact)
    score_runs = load_runs(scores, ".json")
    speed_runs = load_runs(decode_metrics, ".metrics.json")
    trained = load_train_metrics(train_metrics)
    used_metrics: list[tuple[Path, dict[str, Any]]] = []
    rows = []
    for system in systems:
        per_dataset = {}
        speeds = []
        for d in datasets:
            hit = score_runs.get(RunKey(system, decoding, d))
            per_dataset[d] = prf(*hit) if hit else (None, None, None)
            m = speed_runs.get(RunKey(system, decoding, d))
            if m:
                used_metrics.append(m)
                speed = number_field(m[0], m[1], "instances_per_second", required=False)
                if speed is None:
                    n = number_field(m[0], m[1], "instances")
                    secs = number_field(m[0], m[1], "seconds")
                    speed = n / secs if n is not None and secs else None
                if speed is not None:
                    speeds.append(speed)
        t = trained.get(system)
        gpu_hours = number_field(t[0], t[1], "gpu_hours") if t else None
        # the examples the trainer read (older metrics: the recipe's `examples`, the baselines' `pairs`)
        n_train = number_field(t[0], t[1], "train_examples", "examples", "pairs", required=False) if t else None
        speed = mean(speeds) if len(speeds) == len(datasets) else None
        rows.append(
            CostRow(
                system, ctx.system_label(system), per_dataset, gpu_hours, speed,
                None if n_train is None else int(n_train),
            )
        )
    return rows, datasets, decoding, used_metrics


def render_table7(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    decode_metrics: Sequence[str | Path],
    train_metrics: Sequence[str | Path],
    prefix: str | Path,
    decodings: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Table 7 as the paper's: Model, #Data (training examples), P/R/F0.5 per GEC test set (the
    paper's abbreviations), training GPU hours and inference instances/second."""
    rows, datasets, decoding, used = cost_rows(spec, ctx, scores, decode_metrics, train_metrics, "table7")
    header = ["Model", "#Data"]
    groups: list[tuple[str, int]] = [("", 1), ("", 1)]
    for d in datasets:
        header += ["P", "R", "F0.5"]
        groups.append((ctx.dataset_field(d, "abbrev"), 3))
    header += ["GPU hours", "Instances/second"]
    groups += [("Training Speed", 1), ("Inference Speed", 1)]
    columns: list[list[float | None]] = []
    for d in datasets:
        for k in range(3):
            columns.append([row.prf[d][k] for row in rows])
    marks = [best_marks(col) for col in columns]
    body = []
    for i, row in enumerate(rows):
        cells = [Cell(row.label), Cell(fmt_count(row.train_examples))]
        cells += [Cell(fmt(col[i]), marks[j][i]) for j, col in enumerate(columns)]
        cells += [Cell(fmt(row.gpu_hours)), Cell(fmt(row.speed))]
        body.append(cells)
    settings = decoding_settings(decoding, decodings or {}, used)
    names = " and ".join(ctx.dataset_label(d) for d in datasets)
    table = Table(
        title="Table 7",
        caption=(
            f"Performance and resource cost of the systems trained for the grammaticality task. #Data: training "
            f"examples (– = not trained). P/R/F0.5 on {names} ({decoding} decoding: {settings}); best in bold. "
            f"GPU hours: training (– = not trained). Instances/second: inference throughput in test instances "
            f"per second, mean over {names}."
        ),
        label="tab:gec-cost",
        header=header,
        rows=body,
        align="l" + "r" * (len(header) - 1),
        groups=groups,
        wide=True,
    )
    csv_header = ["model", "system", "train_examples"]
    for d in datasets:
        csv_header += [f"{d}_precision", f"{d}_recall", f"{d}_f0.5"]
    csv_header += ["gpu_hours", "instances_per_second"]
    csv_rows = [
        [row.label, row.system, row.train_examples] + [v for d in datasets for v in row.prf[d]]
        + [row.gpu_hours, row.speed]
        for row in rows
    ]
    return write_table(prefix, table, csv_header, csv_rows)


# ======================================================================================
# Tables 2 and 3: data statistics
# ======================================================================================


def _dataset_of_jsonl(path: Path) -> str:
    name = _strip_suffix(path.name, ".jsonl")
    if name is None:
        raise located(path, None, "expected a test-set file named {dataset}.jsonl")
    return name


def render_table2(spec: Mapping[str, Any], ctx: Context, data: Sequence[str | Path], prefix: str | Path) -> list[Path]:
    """Table 2 as the paper's: Task, Dataset (the corpus, ``test_sets.<n>.dataset``), Abbrev.
    (``test_sets.<n>.abbrev``), Metric (F0.5 / GLEU / SARI) and Size (test instances this run
    prepared); both names fall back on the set's ``title``."""
    counts: dict[str, int] = {}
    tasks: dict[str, str] = {}
    for dataset, (_, records) in load_test_sets(data).items():
        counts[dataset] = len(records)
        if records and isinstance(records[0].get("task"), str):
            tasks[dataset] = records[0]["task"]
    listed = spec_list(spec, "test_sets", "table2", required=False)
    datasets = listed + [d for d in counts if d not in listed]
    datasets = sorted(
        datasets, key=lambda d: task_rank(ctx.dataset_task(d) if d in ctx.test_sets else tasks.get(d, ""))
    )
    body, csv_rows = [], []
    for d in datasets:
        task = ctx.dataset_task(d) if d in ctx.test_sets else tasks.get(d, "")
        metric = ctx.dataset_metric(d) if d in ctx.test_sets else ""
        corpus, abbrev = ctx.dataset_field(d, "dataset"), ctx.dataset_field(d, "abbrev")
        body.append(
            [
                Cell(ctx.task_label(task) if task else DASH),
                Cell(corpus),
                Cell(abbrev),
                Cell(METRIC_COLUMN.get(metric, metric or DASH)),
                Cell(fmt_int(counts.get(d))),
            ]
        )
        csv_rows.append([task, d, corpus, abbrev, metric, counts.get(d)])
    table = Table(
        title="Table 2",
        caption=(
            "Tasks, datasets, abbreviations used, metrics used, and test size "
            "(number of test instances, as prepared by this run) of the evaluation benchmark."
        ),
        label="tab:test-sets",
        header=["Task", "Dataset", "Abbrev.", "Metric", "Size"],
        rows=body,
        align="llllr",
    )
    return write_table(prefix, table, ["task", "dataset", "corpus", "abbrev", "metric", "size"], csv_rows)


def load_mixture_counts(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Per-task / per-trainset counts of a mixture: ``M.counts.json`` or counted from ``M.jsonl``.

    For ``M.jsonl`` the sibling ``M.counts.json`` (written by ``format``) is used when it exists.
    """
    from .format import count_summary, default_counts_path

    path = Path(path)
    if path.name.endswith(".jsonl"):
        counts_path = default_counts_path(path)
        if counts_path.is_file():
            path = counts_path
        else:
            mixture = path.name[: -len(".jsonl")]
            records = read_jsonl(path)
            for lineno, rec in enumerate(records, start=1):
                if not isinstance(rec.get("task"), str) or not isinstance(rec.get("id"), str):
                    raise located(path, lineno, "instruction record needs string 'id' and 'task'")
            return path, count_summary(records, mixture)
    counts = _load_json_object(path)
    if not isinstance(counts.get("trainsets"), dict) and not isinstance(counts.get("tasks"), dict):
        raise located(path, None, "expected a counts object with 'tasks' and/or 'trainsets'")
    return path, counts


def render_table3(
    spec: Mapping[str, Any],
    ctx: Context,
    instructions: str | Path,
    prefix: str | Path,
    train_sets: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Table 3 as the paper's: Task, Dataset, Size, General (the generic instruction data) first,
    then the writing tasks in the paper's order (a task's sets in the mixture's order).

    Dataset names are ``train_sets.<n>.title`` (``--train-sets``, or the spec's ``train_sets``
    that the workflow adds), else the train set's name."""
    path, counts = load_mixture_counts(instructions)
    mixture = spec.get("mixture") or counts.get("mixture") or path.name.split(".")[0]
    if counts.get("mixture") and spec.get("mixture") and counts["mixture"] != spec["mixture"]:
        raise located(
            path, None, f"counts are of mixture {counts['mixture']!r}, the table asks for {spec['mixture']!r}"
        )
    entries: list[tuple[str, str, int]] = []  # (task, data, n)
    trainsets = counts.get("trainsets")
    if isinstance(trainsets, dict) and trainsets:
        for name, entry in trainsets.items():
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("task"), str)
                or not isinstance(entry.get("n"), int)
            ):
                raise located(path, None, f"trainsets.{name}: expected {{task, n}}")
            entries.append((entry["task"], name, entry["n"]))
    else:
        for task, n in counts["tasks"].items():
            if not isinstance(n, int):
                raise located(path, None, f"tasks.{task}: expected an integer count")
            entries.append((task, DASH, n))
    entries.sort(key=lambda e: (task_rank(e[0]), e[0]))  # stable: a task's sets keep the mixture's order
    given = train_sets or spec.get("train_sets") or {}
    train_sets = given if isinstance(given, Mapping) else {}

    def entry_of(name: str, key: str) -> str | None:
        entry = train_sets.get(name)
        value = entry.get(key) if isinstance(entry, Mapping) else None
        return str(value) if value else None

    def title_of(name: str) -> str:
        return DASH if name == DASH else entry_of(name, "title") or name

    body = [[Cell(ctx.task_label(t)), Cell(title_of(d)), Cell(fmt_int(n))] for t, d, n in entries]
    total = sum(n for _, _, n in entries)
    n_generic = sum(1 for t, _, _ in entries if t == "generic")
    table = Table(
        title="Table 3",
        caption=(
            f"The statistics of the training data ({mixture} mixture, as prepared by this run): "
            f"number of instruction examples per task and dataset, {total:,} in all."
        ),
        label="tab:train-data",
        header=["Task", "Dataset", "Size"],
        rows=body,
        align="llr",
        rules_before={n_generic} if 0 < n_generic < len(entries) else set(),  # the paper's dashed rule
    )
    csv_rows: list[list[Any]] = [
        [t, d if d != DASH else "", title_of(d) if d != DASH else "", entry_of(d, "source"), n] for t, d, n in entries
    ]
    csv_rows.append(["total", "", "", None, total])
    return write_table(prefix, table, ["task", "trainset", "dataset", "source", "size"], csv_rows)


# ======================================================================================
# Tables 6 and 8: case studies (seeded samples of outputs)
# ======================================================================================

CASE_TEXT_LIMIT = 300  # characters of a text shown in the .md/.tex tables (the CSV keeps it whole)
FREE_INSTRUCTION = "Free instruction"  # Table 6's Dataset cell of the free instructions (chat)


def clip(text: str, limit: int = CASE_TEXT_LIMIT) -> str:
    """One line of at most ``limit`` characters ("…" marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def spec_int(spec: Mapping[str, Any], key: str, artefact: str, default: int, minimum: int | None = None) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise WritingAlpacaError(f"{artefact}: --spec {key!r} must be an integer{bound}, got {value!r}")
    return value


def seeded_sample(items: Sequence[Any], k: int, seed: int, stream: str) -> list[int]:
    """``k`` distinct positions of ``items`` (all when fewer), sorted; one random stream per
    ``(seed, stream)`` so that each system / test set is sampled independently of the others."""
    import random

    rng = random.Random(f"{seed}/{stream}")
    return sorted(rng.sample(range(len(items)), min(k, len(items))))


def _text_run_key(path: Path) -> RunKey:
    """``.../{system}/{decoding}/{dataset}.txt``."""
    dataset = _strip_suffix(path.name, ".txt")
    if dataset is None or len(path.parts) < 3:
        raise located(path, None, "expected a system output .../{system}/{decoding}/{dataset}.txt")
    return RunKey(path.parts[-3], path.parts[-2], dataset)


def load_outputs(paths: Iterable[str | Path]) -> dict[RunKey, tuple[Path, list[str]]]:
    from .io import read_lines

    out: dict[RunKey, tuple[Path, list[str]]] = {}
    for p in paths:
        path = Path(p)
        key = _text_run_key(path)
        if key in out:
            raise located(path, None, f"same run as {out[key][0]} ({key.system}/{key.decoding}/{key.dataset})")
        out[key] = (path, read_lines(path))
    return out


def load_test_sets(paths: Iterable[str | Path]) -> dict[str, tuple[Path, list[dict[str, Any]]]]:
    """Normalised test records by dataset (``{dataset}.jsonl``)."""
    out: dict[str, tuple[Path, list[dict[str, Any]]]] = {}
    for p in paths:
        path = Path(p)
        dataset = _dataset_of_jsonl(path)
        if dataset in out:
            raise located(path, None, f"test set {dataset!r} given twice")
        records = read_jsonl(path)
        for lineno, rec in enumerate(records, start=1):
            if not isinstance(rec.get("source"), str):
                raise located(path, lineno, "record has no string field 'source'")
        out[dataset] = (path, records)
    return out


def load_free_outputs(paths: Iterable[str | Path], table: str) -> dict[tuple[str, str], tuple[Path, list[str]]]:
    """Answers to a table's free instructions, ``.../outputs/{system}/{decoding}/free/{table}.txt``,
    by ``(system, decoding)``."""
    from .io import read_lines

    out: dict[tuple[str, str], tuple[Path, list[str]]] = {}
    for p in paths:
        path = Path(p)
        if path.suffix != ".txt" or len(path.parts) < 4 or path.parts[-2] != "free":
            raise located(path, None, f"expected answers to free instructions .../{{system}}/{{decoding}}/free/{table}.txt")
        if path.stem != table:
            raise located(path, None, f"answers to the free instructions of {path.stem!r}, not of {table!r}")
        key = (path.parts[-4], path.parts[-3])
        if key in out:
            raise located(path, None, f"same run as {out[key][0]} ({key[0]}/{key[1]})")
        out[key] = (path, read_lines(path))
    return out


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
        picked = [differ[j] for j in seeded_sample(differ, k, seed, f"{d}/differ")]
        picked += [alike[j] for j in seeded_sample(alike, k - len(picked), seed, f"{d}/alike")]
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
                [Cell(ctx.task_label("generic") if first else ""), Cell(FREE_INSTRUCTION if first else ""),
                 Cell(clip(instruction))]
                + [Cell(DASH if o is None else clip(o) or EMPTY) for o in outs]
            )
            csv_rows.append(["generic", "free", f"table6-{i + 1:06d}", instruction, *outs, None])
    free_text = (
        f", and their answers to {len(instructions)} free instruction(s) (no input)" if instructions else ""
    )
    table = Table(
        title="Table 6",
        caption=(
            f"Case study: outputs of {labels[0]} and {labels[1]} ({decoding} decoding) on {k} seeded example(s) "
            f"per test set, inputs the two answer differently first{free_text}."
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
        picked = [pool[j] for j in seeded_sample(pool, k, seed, s)]
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
        "model", "system", "entity_share", "touching_entity", "named_entity_share", "touching_named_entity",
        "corrections", "dataset", "id",
        "input", "output", "edit_source", "edit_output", "edit_type", "entities",
    ]
    return write_table(prefix, table, header, csv_rows)


# ======================================================================================
# Figures
# ======================================================================================


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9})
    return plt


def figure1_plot(
    data: Mapping[tuple[str, str], Mapping[str, Any] | None],
    systems: Sequence[str],
    labels: Sequence[str],
    datasets: Sequence[str],
    ctx: Context,
) -> Any:
    """Figure 1 as the paper's: the edit actions (Insert, Replace, Delete) on the x-axis, one bar
    per model in each (grouped), y = number of edits; one panel per test set, one legend."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    n = max(len(systems), 1)
    width = 0.8 / n
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(max(3.6, 0.36 * n * len(ACTIONS_ORDER) + 1.2) * len(datasets), 3.4), squeeze=False
    )
    for ax, d in zip(axes[0], datasets, strict=True):
        for k, (s, label) in enumerate(zip(systems, labels, strict=True)):
            v = data[s, d]
            xs = [a + (k - (n - 1) / 2) * width for a in range(len(ACTIONS_ORDER))]
            ys = [v[action] if v else 0 for action in ACTIONS_ORDER]
            bars = ax.bar(xs, ys, width, label=label, color=palette[k % len(palette)])
            for bar, action in zip(bars, ACTIONS_ORDER, strict=True):
                ax.annotate(
                    f"{v[action]:,}" if v else DASH,
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=5 if n > 3 else 6,
                    xytext=(0, 1),
                    textcoords="offset points",
                )
        ax.set_title(ctx.dataset_label(d))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(lambda y, _pos: f"{y:,.0f}")
        ax.set_xticks(range(len(ACTIONS_ORDER)))
        ax.set_xticklabels([ACTION_LABELS[a] for a in ACTIONS_ORDER])
        ax.set_ylabel("# Edits")
        ax.spines[["top", "right"]].set_visible(False)
    handles, names = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, names, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 5),
            frameon=False, fontsize=8,
        )
    fig.tight_layout()
    return fig


def render_figure1(
    spec: Mapping[str, Any], ctx: Context, edits: Sequence[str | Path], prefix: str | Path
) -> list[Path]:
    """Figure 1: insertions / replacements / deletions of each system (:func:`figure1_plot`, one
    panel per GEC test set), plus the table of corrections touching named entities (``P.md``/``P.tex``)."""
    systems = spec_list(spec, "systems", "figure1")
    datasets = spec_list(spec, "test_sets", "figure1")
    decoding = spec_str(spec, "decoding", "figure1")
    runs = load_runs(edits, ".edits.json")
    data: dict[tuple[str, str], dict[str, Any] | None] = {}
    for s in systems:
        for d in datasets:
            hit = runs.get(RunKey(s, decoding, d))
            if hit is None:
                data[s, d] = None
                continue
            path, obj = hit
            e, ent = obj.get("edits"), obj.get("entity")
            if not isinstance(e, dict) or not isinstance(ent, dict):
                raise located(path, None, "not an `analyse edits` result (needs 'edits' and 'entity')")
            data[s, d] = {
                "M": int(number_field(path, e, "M") or 0),
                "R": int(number_field(path, e, "R") or 0),
                "U": int(number_field(path, e, "U") or 0),
                "total": int(number_field(path, e, "total") or 0),
                "corrections": int(number_field(path, ent, "corrections") or 0),
                "touching": int(number_field(path, ent, "touching_entity") or 0),
                "share": number_field(path, ent, "share", required=False),
                "named": int(number_field(path, ent, "touching_named_entity") or 0),
                "named_share": number_field(path, ent, "named_share", required=False),
            }

    plt = _pyplot()
    labels = [ctx.system_label(s) for s in systems]
    fig = figure1_plot(data, systems, labels, datasets, ctx)
    paths = save_figure(fig, prefix)
    plt.close(fig)

    csv_rows = []
    for s, label in zip(systems, labels, strict=True):
        for d in datasets:
            v = data[s, d]
            csv_rows.append(
                [label, s, d, decoding]
                + (
                    [v["M"], v["R"], v["U"], v["total"], v["corrections"], v["touching"], v["share"]]
                    + [v["named"], v["named_share"]]
                    if v
                    else [None] * 9
                )
            )
    csv_header = [
        "model",
        "system",
        "dataset",
        "decoding",
        "insert",
        "replace",
        "delete",
        "total",
        "corrections",
        "touching_entity",
        "entity_share",
        "touching_named_entity",
        "named_entity_share",
    ]

    header = ["Model"]
    groups: list[tuple[str, int]] = [("", 1)]
    for d in datasets:
        header += ["Ins.", "Repl.", "Del.", "Entities (%)", "Named (%)"]
        groups.append((ctx.dataset_label(d), 5))
    body = []
    for s, label in zip(systems, labels, strict=True):
        cells = [Cell(label)]
        for d in datasets:
            v = data[s, d]
            if v is None:
                cells += [Cell(DASH)] * 5
            else:
                cells += [
                    Cell(fmt_int(v["M"])),
                    Cell(fmt_int(v["R"])),
                    Cell(fmt_int(v["U"])),
                    Cell(f"{fmt(v['share'])} ({v['touching']:,}/{v['corrections']:,})"),
                    Cell(f"{fmt(v['named_share'])} ({v['named']:,}/{v['corrections']:,})"),
                ]
        body.append(cells)
    table = Table(
        title="Figure 1 (data)",
        caption=(
            f"ERRANT edits of each system ({decoding} decoding): insertions (M), replacements (R), deletions (U), "
            "and the share of all corrections whose edited span touches a spaCy entity (source or output side): "
            "Entities = any label, Named = PERSON, ORG, GPE, LOC, NORP, FAC, PRODUCT, EVENT, WORK_OF_ART, LAW, "
            "LANGUAGE (touching/all in brackets)."
        ),
        label="tab:edit-types",
        header=header,
        rows=body,
        align="l" + "r" * (len(header) - 1),
        groups=groups,
        wide=True,
    )
    return paths + write_table(prefix, table, csv_header, csv_rows)


def render_cost_quality(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    decode_metrics: Sequence[str | Path],
    train_metrics: Sequence[str | Path],
    prefix: str | Path,
) -> list[Path]:
    """Cost vs quality: mean F0.5 over the GEC sets against training GPU-hours (left) and
    inference instances/s (right), one point per Table-7 system.

    Systems are told apart by colour *and* marker shape (hollow markers, so that systems at the
    same point stay visible) and named in one legend below both panels -- no point labels,
    which would overlap where systems coincide (e.g. every CPU run has 0 GPU-hours)."""
    rows, datasets, decoding, _ = cost_rows(spec, ctx, scores, decode_metrics, train_metrics, "cost_quality")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4))
    names = " & ".join(ctx.dataset_label(d) for d in datasets)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^vPX*<>"
    # same colour and marker in both panels; later systems drawn smaller so that coinciding ones show
    style = {
        r.system: dict(color=palette[i % len(palette)], marker=markers[i % len(markers)], s=max(90 - 14 * i, 24))
        for i, r in enumerate(rows)
    }
    handles = {}
    for ax, attr, title, xlabel in (
        (axes[0], "gpu_hours", "(a) Training cost", "Training GPU-hours"),
        (axes[1], "speed", "(b) Inference speed", f"Test instances per second ({decoding})"),
    ):
        points = [r for r in rows if getattr(r, attr) is not None and r.f05_mean is not None]
        for r in points:
            st = style[r.system]
            handles[r.system] = ax.scatter(
                [getattr(r, attr)], [r.f05_mean], s=st["s"], marker=st["marker"], facecolors="none",
                edgecolors=st["color"], linewidths=1.4, label=r.label,
            )
        xs = [getattr(r, attr) for r in points]
        if xs and min(xs) > 0 and max(xs) / min(xs) > 50:
            ax.set_xscale("log")
        elif xs and min(xs) >= 0:  # counts and rates: the axis starts at 0
            top = max(xs) or 1.0
            ax.set_xlim(-0.04 * top, 1.08 * top)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"F0.5 (mean of {names})")
        ax.spines[["top", "right"]].set_visible(False)
        if not points:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    if handles:
        ordered = [handles[r.system] for r in rows if r.system in handles]
        fig.legend(
            ordered, [h.get_label() for h in ordered], loc="upper center", bbox_to_anchor=(0.5, 0.0),
            ncol=len(ordered) if len(ordered) <= 4 else 3, frameon=False, fontsize=8,
        )
    fig.tight_layout()
    paths = save_figure(fig, prefix)
    plt.close(fig)
    csv_rows = [[r.label, r.system, r.f05_mean, r.gpu_hours, r.speed] for r in rows]
    paths.append(
        write_text_atomic(
            out_path(prefix, "csv"),
            to_csv(["model", "system", "f0.5_mean", "gpu_hours", "instances_per_second"], csv_rows),
        )
    )
    return paths


# ======================================================================================
# CLI
# ======================================================================================

# What an input file is, from its name (the workflow's layout); first match wins.
INPUT_KINDS: tuple[tuple[str, Callable[[Path], bool]], ...] = (
    ("train-metrics", lambda p: p.is_dir() or p.name == "train_metrics.json"),
    ("decode-metrics", lambda p: p.name.endswith(".metrics.json")),
    ("edits", lambda p: p.name.endswith(".edits.json")),
    ("counts", lambda p: p.name.endswith(".counts.json")),
    ("jsonl", lambda p: p.name.endswith(".jsonl")),
    ("paper", lambda p: p.suffix in (".yaml", ".yml") and p.stem.startswith("paper_results")),
    ("published", lambda p: p.suffix in (".yaml", ".yml")),
    ("bootstrap", lambda p: p.suffix == ".json" and p.parts[-4:-2] == ("analysis", "bootstrap")),
    ("scores", lambda p: p.suffix == ".json"),
    ("free-outputs", lambda p: p.suffix == ".txt" and len(p.parts) >= 5 and p.parts[-2] == "free" and p.parts[-5] == "outputs"),
    ("outputs", lambda p: p.suffix == ".txt" and len(p.parts) >= 4 and p.parts[-4] in ("outputs", "hypotheses")),
    ("benchmarks", lambda p: p.suffix == ".tsv"),  # Snakemake benchmark files (writing_alpaca.costs)
)
KIND_HELP = {
    "scores": "results/scores/{system}/{decoding}/{dataset}.json",
    "decode-metrics": "results/outputs/{system}/{decoding}/{dataset}.metrics.json",
    "train-metrics": "results/models/{system}/train_metrics.json (or the model directory)",
    "edits": "results/analysis/{system}/{decoding}/{dataset}.edits.json",
    "jsonl": "results/data/test/{dataset}.jsonl (table2) or results/instructions/{mixture}.jsonl (table3)",
    "counts": "results/instructions/{mixture}.counts.json",
    "published": "published rows YAML (workflow/resources/published_table5.yaml)",
    "paper": "the paper's numbers YAML (workflow/resources/paper_results.yaml)",
    "bootstrap": "results/analysis/bootstrap/{table}/{dataset}.json",
    "outputs": "results/hypotheses/{system}/{decoding}/{dataset}.txt",
    "free-outputs": "results/outputs/{system}/{decoding}/free/{table}.txt (answers to free instructions)",
    "benchmarks": "results/benchmarks/{stage}/{rule}[/{wildcard}={value}...].tsv (Snakemake benchmark files)",
}
ARTEFACT_KINDS = {
    "table2": ("jsonl",),
    "table3": ("jsonl", "counts"),
    "table4": ("scores", "bootstrap"),
    "table5": ("scores", "published"),
    "table7": ("scores", "decode-metrics", "train-metrics"),
    "cost_quality": ("scores", "decode-metrics", "train-metrics"),
    "figure1": ("edits",),
    "table6": ("jsonl", "outputs", "free-outputs"),
    "table8": ("edits",),
    # this run's Tables 4, 5 and 7 beside the paper's numbers (writing_alpaca.paper)
    "table4_vs_paper": ("scores", "paper"),
    "table5_vs_paper": ("scores", "paper"),
    "table7_vs_paper": ("scores", "decode-metrics", "train-metrics", "paper"),
    # what the run cost, per stage and per system (writing_alpaca.costs)
    "costs": ("benchmarks",),
}


def input_kind(path: Path) -> str:
    for kind, test in INPUT_KINDS:
        if test(path):
            return kind
    raise located(path, None, "cannot tell what this input is from its name (" + "; ".join(KIND_HELP.values()) + ")")


def classify_inputs(artefact: str, paths: Iterable[str | Path]) -> dict[str, list[Path]]:
    """Sort a mixed ``--inputs`` list by kind; a kind the artefact does not use is an error."""
    allowed = ARTEFACT_KINDS[artefact]
    out: dict[str, list[Path]] = {kind: [] for kind in allowed}
    for p in paths:
        path = Path(p)
        kind = input_kind(path)
        if kind not in out:
            raise located(path, None, f"{artefact} does not use {kind} inputs ({KIND_HELP[kind]})")
        out[kind].append(path)
    return out


def _json_arg(value: str | None, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    return parse_json_object(value, what)


def _one(paths: Sequence[Path], what: str, artefact: str, required: bool = True) -> Path | None:
    if len(paths) > 1:
        raise WritingAlpacaError(f"{artefact}: expected one {what}, got {len(paths)}: {', '.join(map(str, paths))}")
    if not paths and required:
        raise WritingAlpacaError(f"{artefact}: no {what} given")
    return paths[0] if paths else None


def cmd_render(args: argparse.Namespace) -> int:
    artefact = args.artefact
    spec = _json_arg(args.spec, "--spec")
    ctx = Context(
        systems=_json_arg(args.systems, "--systems"),
        test_sets=_json_arg(args.test_sets, "--test-sets"),
        tasks=_json_arg(args.tasks, "--tasks"),
    )
    inputs = classify_inputs(artefact, args.inputs)
    for kind in ARTEFACT_KINDS[artefact]:  # files given by kind (--scores, ...) are of that kind
        inputs[kind] += [Path(p) for p in getattr(args, kind.replace("-", "_"), None) or []]
    prefix = args.out_prefix
    if artefact == "table2":
        paths = render_table2(spec, ctx, inputs["jsonl"], prefix)
    elif artefact == "table3":
        counts = _one(inputs["counts"], "mixture counts file", artefact, required=False)
        mixture = counts or _one(inputs["jsonl"], "mixture JSONL", artefact)
        paths = render_table3(spec, ctx, mixture, prefix, _json_arg(args.train_sets, "--train-sets"))
    elif artefact == "table4":
        paths = render_table4(spec, ctx, inputs["scores"], prefix, inputs["bootstrap"])
    elif artefact == "table5":
        published = _one(inputs["published"], "published-rows YAML", artefact, required=False)
        paths = render_table5(spec, ctx, inputs["scores"], prefix, published)
    elif artefact in ("table7", "cost_quality"):
        render_fn = render_table7 if artefact == "table7" else render_cost_quality
        extra = {"decodings": _json_arg(args.decodings, "--decodings")} if artefact == "table7" else {}
        paths = render_fn(
            spec, ctx, inputs["scores"], inputs["decode-metrics"], inputs["train-metrics"], prefix, **extra
        )
    elif artefact == "table6":
        paths = render_table6(spec, ctx, inputs["jsonl"], inputs["outputs"], prefix, inputs["free-outputs"])
    elif artefact == "table8":
        paths = render_table8(spec, ctx, inputs["edits"], prefix)
    elif artefact.endswith("_vs_paper"):
        from . import paper

        results = _one(inputs["paper"], "paper results YAML", artefact)
        if artefact == "table7_vs_paper":
            paths = paper.render_table7_vs_paper(
                spec, ctx, inputs["scores"], inputs["decode-metrics"], inputs["train-metrics"], results, prefix
            )
        else:
            paths = paper.render_scores_vs_paper(artefact, spec, ctx, inputs["scores"], results, prefix)
    elif artefact == "costs":
        from . import costs

        paths = costs.render_costs(ctx, inputs["benchmarks"], prefix)
    else:
        paths = render_figure1(spec, ctx, inputs["edits"], prefix)
    for path in paths:
        LOG.info("wrote %s", path)
    return 0


ARTEFACT_HELP = {
    "table2": "Table 2: test sets (task, dataset, abbreviation, metric, size)",
    "table3": "Table 3: training data of a mixture (task, dataset, size)",
    "table4": "Table 4: systems x the ten test sets, grouped by task, with Avg. (and significance marks)",
    "table5": "Table 5: our systems beside published LLM and SOTA numbers",
    "table7": "Table 7: GEC #Data, P/R/F0.5, training GPU hours and inference speed",
    "figure1": "Figure 1: edits per action (insert/replace/delete) of each system + entity-touching corrections",
    "cost_quality": "Figure: F0.5 against training GPU-hours and inference instances/s",
    "table6": "Table 6: case study, outputs of two systems (with / without generic data) on seeded inputs and free instructions",
    "table8": "Table 8: case study, seeded entity-touching corrections of the Figure-1 systems",
    "table4_vs_paper": "Table 4 beside the paper's: ours, the paper's and the difference per cell",
    "table5_vs_paper": "Table 5 beside the paper's: ours, the paper's and the difference per cell",
    "table7_vs_paper": "Table 7 beside the paper's: P/R/F0.5, GPU-hours, inst./s, ours vs the paper's",
    "costs": "Costs: wall time, CPU time and peak memory of the run's jobs per stage and per system (Snakemake benchmarks)",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render", help="render the paper's tables and figures (Markdown, LaTeX, CSV, PNG/PDF)"
    )
    sub = parser.add_subparsers(dest="artefact", metavar="ARTEFACT")
    sub.required = True
    for artefact, help_text in ARTEFACT_HELP.items():
        p = sub.add_parser(artefact, help=help_text, description=help_text)
        p.add_argument(
            "--spec", required=artefact != "costs", help=f"JSON: the tables.<name> config entry of {artefact}"
        )
        p.add_argument("--out-prefix", required=True, help="output path without extension")
        p.add_argument("--systems", default=None, help="JSON: the config's systems block (labels)")
        p.add_argument("--test-sets", default=None, help="JSON: the config's test_sets block (titles, tasks, metrics)")
        p.add_argument("--tasks", default=None, help="JSON: the config's tasks block (task labels)")
        if artefact == "table3":
            p.add_argument(
                "--train-sets", default=None, help="JSON: the config's train_sets block (dataset titles, upstream sources)"
            )
        if artefact == "table7":
            p.add_argument(
                "--decodings", default=None, help="JSON: the config's decodings block (when metrics lack beam/batch)"
            )
        kinds = ARTEFACT_KINDS[artefact]
        p.add_argument(
            "--inputs",
            nargs="*",
            default=[],
            help="input files of any kind this artefact uses, told apart by name: "
            + "; ".join(KIND_HELP[k] for k in kinds),
        )
        for kind in kinds:
            flag = {"jsonl": "--data" if artefact in ("table2", "table6") else "--instructions"}.get(kind, f"--{kind}")
            p.add_argument(flag, dest=kind.replace("-", "_"), nargs="*", default=[], help=f"{KIND_HELP[kind]} files")
        p.set_defaults(func=cmd_render)
