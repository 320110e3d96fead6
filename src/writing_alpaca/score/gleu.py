"""GLEU for JFLEG: the official ``gleu.py`` of Napoles et al. (keisks/jfleg ``eval/gleu.py``).

The official script (Python 2) scores a corpus 500 times; in iteration ``j``
it seeds Python's ``random`` with ``j * 101`` and picks one reference per
sentence with ``random.randint(0, R - 1)``; corpus GLEU of an iteration is
``exp(min(0, 1 - r/c) + mean_n log(p_n))`` where ``p_n`` counts hypothesis
n-grams matching the reference minus those matching source n-grams absent
from the reference.  The reported number is the mean over the iterations.

Two Python 2 details are reproduced: ``randint`` is ``a + int(random() * n)``
(Python 3's ``randint`` draws differently from the same seed), and lines are
split on ASCII whitespace only (``str.split`` on byte strings).
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..errors import WritingAlpacaError
from ..progress import Progress
from .common import read_aligned

log = logging.getLogger(__name__)

ORDER = 4
ITERATIONS = 500
_ASCII_WS = re.compile(r"[ \t\n\r\x0b\x0c]+")


def py2_split(line: str) -> list[str]:
    """``str.split()`` of Python 2 byte strings: ASCII whitespace only."""
    return [t for t in _ASCII_WS.split(line) if t]


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) + 1 - n))


def sentence_stats(source: Sequence[str], hypothesis: Sequence[str], reference: Sequence[str]) -> list[int]:
    """GLEU sufficient statistics of one sentence against one reference:
    ``[hyp_len, ref_len, match_1, total_1, ..., match_4, total_4]``."""
    hlen = len(hypothesis)
    stats = [hlen, len(reference)]
    for n in range(1, ORDER + 1):
        h = _ngrams(hypothesis, n)
        s = _ngrams(source, n)
        r = _ngrams(reference, n)
        s_not_r = Counter({k: v for k, v in s.items() if k not in r})
        match = sum((h & r).values()) - sum((h & s_not_r).values())
        stats.append(max(match, 0))
        stats.append(max(hlen + 1 - n, 0))
    return stats


def corpus_gleu_from_stats(stats: Sequence[float]) -> float:
    """GLEU (fraction) of summed statistics; 0 when any statistic is 0."""
    if any(x == 0 for x in stats):
        return 0.0
    c, r = stats[0], stats[1]
    log_prec = sum(math.log(float(x) / y) for x, y in zip(stats[2::2], stats[3::2])) / 4
    return math.exp(min(0.0, 1.0 - float(r) / c) + log_prec)


@lru_cache(maxsize=16)
def reference_choices(n_sentences: int, n_refs: int, iterations: int = ITERATIONS) -> np.ndarray:
    """The official script's reference index per (iteration, sentence)."""
    rng = random.Random()
    out = np.empty((iterations, n_sentences), dtype=np.int64)
    for j in range(iterations):
        rng.seed(j * 101)
        draw = rng.random
        out[j] = [int(draw() * n_refs) for _ in range(n_sentences)]
    out.setflags(write=False)
    return out


def gleu_sentence_stats(
    sources: Sequence[str], hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> np.ndarray:
    """Statistics per sentence and reference, shape (n_sentences, n_refs, 10)."""
    n = len(hypotheses)
    out = np.zeros((n, len(references), 2 * ORDER + 2), dtype=np.int64)
    progress = Progress("gleu statistics", n, unit="sentences", log=log, announce=False)
    for i in range(n):
        src = py2_split(sources[i])
        hyp = py2_split(hypotheses[i])
        for k, ref_lines in enumerate(references):
            out[i, k] = sentence_stats(src, hyp, py2_split(ref_lines[i]))
        progress.update()
    progress.close()
    return out


def gleu_corpus(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    iterations: int = ITERATIONS,
) -> dict:
    """Official JFLEG GLEU (x100) of a corpus.

    ``references`` is a list of reference sets, each line-aligned with the
    sources (``references[k][i]`` is reference ``k`` of sentence ``i``).
    Returns ``{"gleu": mean, "gleu_std": std}`` over the iterations.
    """
    if not references:
        raise WritingAlpacaError("GLEU needs at least one reference set")
    n = len(hypotheses)
    if len(sources) != n or any(len(r) != n for r in references):
        raise WritingAlpacaError("GLEU: sources, hypotheses and references must have the same number of lines")
    if n == 0:
        raise WritingAlpacaError("GLEU: no sentences to score (empty corpus)")
    stats = gleu_sentence_stats(sources, hypotheses, references)
    choice = reference_choices(n, len(references), iterations)
    iter_stats = stats[np.arange(n)[None, :], choice].sum(axis=1)  # (iterations, 10)
    scores = [corpus_gleu_from_stats(row.tolist()) for row in iter_stats]
    return {"gleu": 100.0 * float(np.mean(scores)), "gleu_std": 100.0 * float(np.std(scores))}


def gleu_files(src: str | os.PathLike, hyp: str | os.PathLike, refs: Sequence[str | os.PathLike]) -> dict:
    """GLEU of a hypothesis file against a source file and reference files."""
    columns = read_aligned([src, hyp, *refs])
    return gleu_corpus(columns[0], columns[1], columns[2:])
