"""Helpers shared by the scorers: aligned line reading, F-scores, JSON results."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import WritingAlpacaError
from ..io import read_lines

BETA = 0.5


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
    columns = [read_lines(p) for p in paths]
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
