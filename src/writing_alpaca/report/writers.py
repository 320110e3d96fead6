"""The report's table model and its writers: Markdown, LaTeX (booktabs), CSV, and figures.

Every artefact of ``writing-alpaca render`` goes through here: a :class:`Table` (header,
optionally grouped; body rows of :class:`Cell`; notes) written as ``P.md`` (caption line +
Markdown table), ``P.tex`` (booktabs) and ``P.csv`` (the raw numbers, four decimals) by
:func:`write_table`, a matplotlib figure as ``P.png`` and ``P.pdf`` by :func:`save_figure`.
Every file is written atomically.  Table numbers have two decimals, as in the paper.

Bold marks a column's best value only where it is unique at the displayed precision
(:func:`best_marks`): when two or more entries tie for best, none is bold.  A value that is
undefined (the precision of a system that proposed no edit, see
:func:`writing_alpaca.report.inputs.score_prf`) is ``None``: "–" in Markdown and LaTeX, never
bold, and an empty cell in the CSV, like a missing value (Table 7's CSV adds the counts that tell
the two apart).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import atomic_path

DASH = "–"
DAGGER = "†"
DOUBLE_DAGGER = "‡"  # Table 4: significantly different from the reference system
INCOMPLETE = "*"
ARROW = "→"
EMPTY = "∅"
ELLIPSIS = "…"


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


def fmt_hours(value: float | None) -> str:
    """Hours with two decimals, except a positive amount under 0.005 (which would print as a
    misleading "0.00": a short CPU run) with two significant digits, e.g. "0.0031"."""
    if value is None:
        return DASH
    if 0 < value < 0.005:
        return f"{value:.{1 - math.floor(math.log10(value))}f}"
    return fmt(value)


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


def best_marks(values: Sequence[float | None], eligible: Sequence[bool] | None = None, digits: int = 2) -> list[bool]:
    """Which entry is the column's best (highest): the one whose value, rounded to the displayed
    ``digits``, is above every other's.  A tie for best (two or more entries equal at the displayed
    precision) marks none; ``None`` (missing or undefined) and ineligible entries never count."""
    shown = [
        round(v, digits) if v is not None and (eligible is None or eligible[i]) else None for i, v in enumerate(values)
    ]
    present = [v for v in shown if v is not None]
    if not present:
        return [False] * len(values)
    top = max(present)
    if present.count(top) > 1:
        return [False] * len(values)
    return [v is not None and v == top for v in shown]
