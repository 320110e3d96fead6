"""Helpers shared by the scorers: aligned line reading, F-scores, JSON results.

Every scorer reads its hypothesis, source, reference and gold files through
:func:`read_text_checked` / :func:`read_lines_checked`: a leading UTF-8 byte
order mark (which would otherwise become part of the first token and change
the scores) is dropped with a warning naming the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import WritingAlpacaError, located
from ..io import read_text

log = logging.getLogger(__name__)

BETA = 0.5
BOM = "\ufeff"


def strip_bom(text: str, path: str | os.PathLike) -> str:
    """``text`` without a leading UTF-8 byte order mark; warns (naming ``path``) when there was one."""
    if text.startswith(BOM):
        log.warning("%s: starts with a UTF-8 byte order mark (BOM); ignoring it", path)
        return text[1:]
    return text


def read_text_checked(path: str | os.PathLike) -> str:
    """:func:`writing_alpaca.io.read_text` with a leading BOM dropped (and warned about)."""
    return strip_bom(read_text(path), path)


def read_lines_checked(path: str | os.PathLike, allow_empty: bool = False) -> list[str]:
    """One-sentence-per-line file (as :func:`writing_alpaca.io.read_lines`), BOM dropped.

    An empty file is refused unless ``allow_empty``: no corpus scores as 0.0 silently.
    """
    text = read_text_checked(path)
    lines = [] if text == "" else text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not lines and not allow_empty:
        raise WritingAlpacaError(f"{path}: the file is empty (no sentences to score)")
    return lines


def require_nonempty(n: int, path: str | os.PathLike, what: str = "sentences") -> None:
    """Refuse an empty corpus, naming the file it came from."""
    if n == 0:
        raise WritingAlpacaError(f"{path}: no {what} to score (empty corpus)")


def check_m2_span(path: str | os.PathLike, lineno: int, start: int, end: int, n_tokens: int) -> None:
    """Refuse an M2 edit whose token offsets do not fit a sentence of ``n_tokens`` tokens."""
    if start < 0 or end < 0:
        raise located(path, lineno, f"malformed M2 edit: negative token offset ({start} {end}) in a non-noop edit")
    if start > end:
        raise located(path, lineno, f"malformed M2 edit: start {start} is after end {end}")
    if end > n_tokens:
        raise located(
            path, lineno, f"malformed M2 edit: offsets {start} {end} lie outside the sentence ({n_tokens} tokens)"
        )


def check_same_length(what: Sequence[tuple[str | os.PathLike, Sequence]]) -> int:
    """Raise if the sequences (each named by the file it came from) differ in length."""
    n_first = len(what[0][1])
    for path, seq in what[1:]:
        if len(seq) != n_first:
            raise WritingAlpacaError(
                f"{path}: has {len(seq)} lines but {what[0][0]} has {n_first}; the files must be line-aligned"
            )
    return n_first


def read_aligned(paths: Sequence[str | os.PathLike]) -> list[list[str]]:
    """Read several one-sentence-per-line files that must have the same number of lines."""
    columns = [read_lines_checked(p) for p in paths]
    check_same_length(list(zip(paths, columns)))
    return columns


def prf(tp: float, fp: float, fn: float, beta: float = BETA) -> tuple[float, float, float]:
    """Precision, recall and F-beta (fractions) with M2Scorer / errant_compare conventions.

    No proposed edits give P = 1; no gold edits give R = 1; P = R = 0 gives F = 0.
    """
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    denom = beta * beta * p + r
    f = (1.0 + beta * beta) * p * r / denom if denom else 0.0
    return p, r, f


@dataclass
class EditCounts:
    """Corpus counts of an edit-based metric and the per-sentence counts they sum."""

    tp: int
    fp: int
    fn: int
    per_sentence: list[tuple[int, int, int]]

    def result(self, beta: float = BETA) -> dict:
        p, r, f = prf(self.tp, self.fp, self.fn, beta)
        return {
            "precision": 100.0 * p,
            "recall": 100.0 * r,
            "f0.5" if beta == 0.5 else f"f{beta}": 100.0 * f,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def require_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise WritingAlpacaError(f"{path}: file not found")
    return path
