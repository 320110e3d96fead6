"""SARI as EASSE's ``corpus_sari`` with its defaults (Xu et al. 2016; feralvam/easse).

Defaults reproduced: every sentence (source, system, references) is lowercased
and tokenised with sacrebleu's ``13a`` tokenizer (``legacy=False``); n-gram
statistics are summed over the corpus; per n-gram order, ADD and KEEP are F1
of corpus precision/recall, DELETE is F1 too (``use_f1_for_deletion=True``),
each F1 being 0 unless both precision and recall are positive; the three
operation scores average their four orders, and SARI averages the operations.
KEEP and DELETE weigh source n-grams by the number of references.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..errors import WritingAlpacaError
from ..progress import Progress
from .common import read_aligned

log = logging.getLogger(__name__)

ORDER = 4
# statistic columns per order: add (correct, sys, ref), keep (...), delete (...)
STAT_NAMES = (
    "add_correct",
    "add_sys",
    "add_ref",
    "keep_correct",
    "keep_sys",
    "keep_ref",
    "del_correct",
    "del_sys",
    "del_ref",
)


@lru_cache(maxsize=1)
def _tokenizer():
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()


def normalize(sentence: str, lowercase: bool = True) -> str:
    """EASSE's ``normalize``: optional lowercasing, then sacrebleu 13a tokenisation."""
    if lowercase:
        sentence = sentence.lower()
    return _tokenizer()(sentence)


def _ngrams(tokens: list[str]) -> list[Counter]:
    return [Counter(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)) for n in range(1, ORDER + 1)]


def _scaled(c: Counter, k: int) -> Counter:
    return Counter({key: v * k for key, v in c.items()})


def sentence_ngram_stats(orig: str, sys: str, refs: Sequence[str]) -> np.ndarray:
    """SARI statistics of one normalised sentence: array (4 orders, 9 statistics)."""
    o_ng = _ngrams(orig.split())
    s_ng = _ngrams(sys.split())
    r_ng = [Counter() for _ in range(ORDER)]
    for ref in refs:
        for n, c in enumerate(_ngrams(ref.split())):
            r_ng[n] += c
    k = len(refs)
    out = np.zeros((ORDER, 9), dtype=np.int64)
    for n in range(ORDER):
        o_set, s_set, r_set = set(o_ng[n]), set(s_ng[n]), set(r_ng[n])
        added = s_set - o_set
        out[n, 0] = len(added & r_set)
        out[n, 1] = len(added)
        out[n, 2] = len(r_set - o_set)
        o_k = _scaled(o_ng[n], k)
        s_k = _scaled(s_ng[n], k)
        keep_sys = o_k & s_k
        keep_ref = o_k & r_ng[n]
        out[n, 3] = sum((keep_sys & keep_ref).values())
        out[n, 4] = sum(keep_sys.values())
        out[n, 5] = sum(keep_ref.values())
        del_sys = o_k - s_k
        del_ref = o_k - r_ng[n]
        out[n, 6] = sum((del_sys & del_ref).values())
        out[n, 7] = sum(del_sys.values())
        out[n, 8] = sum(del_ref.values())
    return out


def sari_sentence_stats(
    sources: Sequence[str], hypotheses: Sequence[str], references: Sequence[Sequence[str]], lowercase: bool = True
) -> np.ndarray:
    """Per-sentence statistics, shape (n_sentences, 4, 9); sum them over any subset
    (e.g. a bootstrap sample) and pass the sum to ``sari_from_stats``."""
    n = len(sources)
    if len(hypotheses) != n or any(len(r) != n for r in references):
        raise WritingAlpacaError("SARI: sources, hypotheses and references must have the same number of lines")
    out = np.zeros((n, ORDER, 9), dtype=np.int64)
    progress = Progress("sari statistics", n, unit="sentences", log=log, announce=False)
    for i in range(n):
        refs = [normalize(r[i], lowercase) for r in references]
        out[i] = sentence_ngram_stats(normalize(sources[i], lowercase), normalize(hypotheses[i], lowercase), refs)
        progress.update()
    progress.close()
    return out


def _f1(correct: float, sys_total: float, ref_total: float) -> float:
    p = correct / sys_total if sys_total > 0 else 0.0
    r = correct / ref_total if ref_total > 0 else 0.0
    return 2 * p * r / (p + r) if p > 0 and r > 0 else 0.0


def sari_from_stats(stats: np.ndarray) -> dict:
    """SARI (x100) and its operation scores from summed statistics (4, 9)."""
    add = keep = dele = 0.0
    for n in range(ORDER):
        row = [int(x) for x in stats[n]]
        add += _f1(*row[0:3]) / ORDER
        keep += _f1(*row[3:6]) / ORDER
        dele += _f1(*row[6:9]) / ORDER
    add, keep, dele = 100.0 * add, 100.0 * keep, 100.0 * dele
    return {"sari": (add + keep + dele) / 3, "add": add, "keep": keep, "delete": dele}


def sari_corpus(
    sources: Sequence[str], hypotheses: Sequence[str], references: Sequence[Sequence[str]], lowercase: bool = True
) -> dict:
    """EASSE ``corpus_sari`` (x100) with ``add``/``keep``/``delete`` operation scores.

    ``references`` is a list of reference sets, each line-aligned with the sources.
    """
    if not references:
        raise WritingAlpacaError("SARI needs at least one reference set")
    if not hypotheses:
        raise WritingAlpacaError("SARI: no sentences to score (empty corpus)")
    stats = sari_sentence_stats(sources, hypotheses, references, lowercase)
    return sari_from_stats(stats.sum(axis=0))


def sari_files(src: str | os.PathLike, hyp: str | os.PathLike, refs: Sequence[str | os.PathLike]) -> dict:
    columns = read_aligned([src, hyp, *refs])
    return sari_corpus(columns[0], columns[1], columns[2:])
