"""Paired bootstrap resampling of the differences between systems on one test set.

``writing-alpaca analyse bootstrap`` (see :mod:`writing_alpaca.analyse`) calls
:func:`paired_bootstrap` for every system of a table on one test set at once.

Method
------
*Per-sentence statistics, once.*  Each metric is a function of statistics summed over the
sentences of the test set, so each system's per-sentence statistics are computed once:

* ``m2`` / ``errant``: the (tp, fp, fn) of each sentence, from the same scorers as
  ``score dataset`` (:class:`~writing_alpaca.score.M2Scorer`,
  :class:`~writing_alpaca.score.ErrantScorer`); P/R/F0.5 of a sample come from its summed
  counts with the scorers' conventions (no proposed edit: P = 1; no gold edit: R = 1).
  **Approximation:** with several annotators both scorers pick, per sentence, the
  annotator that maximises the *running corpus* F0.5; that choice is made once, on the
  full test set in its order, and kept in every resample (re-choosing per resample would
  need the order-dependent greedy pass again on each of them).  On the full test set the
  summed counts are exactly the scorer's, so the observed scores equal ``score dataset``'s.
* ``sari``: EASSE's n-gram statistics per sentence (4 orders x 9 counts,
  :func:`~writing_alpaca.score.sari_sentence_stats`); corpus SARI of a sample from its
  summed statistics, exactly as :func:`~writing_alpaca.score.sari_from_stats`.
* ``gleu``: the official JFLEG GLEU averages corpus GLEU over 500 seeded reference
  samplings.  For each sampling ``j`` the statistics of sentence ``i`` against its
  reference of that sampling are kept (``n x 500 x 10`` counts); corpus GLEU of a bootstrap
  sample is the mean over the 500 samplings of GLEU of the summed statistics -- exact, with
  a resampled sentence keeping the reference the official script draws for it at its
  original position.

*Resampling.*  A bootstrap sample draws ``n`` sentence indices with replacement
(``numpy.random.default_rng(seed)``); the **same** draws serve every system (paired),
and they depend only on ``n``, ``samples`` and ``seed`` -- not on the systems -- so adding
a system does not change the others' results.  A sample is a count vector ``w`` (how often
each sentence was drawn); its summed statistics are ``w @ stats``, so all samples of a
system are one matrix product (in chunks).

*Output per pair (A, B)*, with ``delta = score(A) - score(B)`` on the full test set and
``delta_b`` on sample ``b`` (``B`` samples):

* ``ci``: the percentile interval of ``delta_b`` at level ``1 - alpha``;
* ``p_value``: two-sided paired bootstrap test (Koehn 2004; the shifted null of
  Berg-Kirkpatrick et al. 2012): ``(1 + #{|delta_b - delta| >= |delta|}) / (B + 1)`` --
  how often the sampling variation around the observed difference is at least as large as
  the difference itself;
* ``p_one_sided``: the same in the observed direction,
  ``(1 + #{sign(delta) (delta_b - delta) >= |delta|}) / (B + 1)`` (Berg-Kirkpatrick et al.'s
  ``P(delta_b > 2 delta)``);
* ``a_wins`` / ``b_wins`` / ``ties``: shares of samples in which A scores higher / lower /
  the same (Koehn 2004 reports ``a_wins`` as the confidence that A is better);
* ``significant``: ``p_value < alpha``.

The ``+1`` makes every p-value at least ``1 / (B + 1)`` and keeps the test valid for a
finite ``B``; identical systems (``delta = delta_b = 0``) get ``p = 1``.  Per system,
``ci`` is the percentile interval of its own bootstrap scores.
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import settings as S
from .errors import WritingAlpacaError, located
from .io import read_jsonl, read_lines
from .progress import Progress

LOG = logging.getLogger(__name__)

METRICS = S.METRICS  # the config's `metric` values (writing_alpaca.settings)
DEFAULT_SAMPLES = 1000
DEFAULT_ALPHA = 0.05
# Bootstrap samples per matrix product: bounds memory (GLEU sums are chunk x 500 x 10).
CHUNK = 100


# --------------------------------------------------------------------------------------
# Metrics as (per-sentence statistics, corpus score of summed statistics)
# --------------------------------------------------------------------------------------


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    """``num / den`` elementwise, ``empty`` where ``den == 0``."""
    out = np.full(np.broadcast(num, den).shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def f_beta_from_counts(sums: np.ndarray, beta: float = 0.5) -> np.ndarray:
    """F-beta x100 of summed (tp, fp, fn) rows, with the M2Scorer / errant_compare conventions
    of :func:`writing_alpaca.score.common.prf` (no proposed edit: P = 1; no gold edit: R = 1)."""
    tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
    p = _ratio(tp, tp + fp, 1.0)
    r = _ratio(tp, tp + fn, 1.0)
    b2 = beta * beta
    return 100.0 * _ratio((1.0 + b2) * p * r, b2 * p + r, 0.0)


def sari_from_sums(sums: np.ndarray) -> np.ndarray:
    """SARI x100 of summed statistics ``(..., 4, 9)``, as :func:`writing_alpaca.score.sari_from_stats`."""
    ops = []
    for op in range(3):
        correct, sys_total, ref_total = (sums[..., 3 * op + k] for k in range(3))
        p = _ratio(correct, sys_total, 0.0)
        r = _ratio(correct, ref_total, 0.0)
        f1 = np.where((p > 0) & (r > 0), _ratio(2.0 * p * r, p + r, 0.0), 0.0)
        ops.append(f1.mean(axis=-1))  # mean over the n-gram orders
    return 100.0 * (ops[0] + ops[1] + ops[2]) / 3.0


def gleu_from_sums(sums: np.ndarray) -> np.ndarray:
    """Corpus GLEU x100 of summed statistics ``(..., iterations, 10)`` averaged over the
    reference samplings, as :func:`writing_alpaca.score.gleu.corpus_gleu_from_stats`."""
    hyp_len, ref_len = sums[..., 0], sums[..., 1]
    match, total = sums[..., 2::2], sums[..., 3::2]
    zero = (sums == 0).any(axis=-1)
    log_prec = np.log(np.where(zero[..., None], 1.0, _ratio(match, total, 1.0))).mean(axis=-1)
    brevity = np.minimum(0.0, 1.0 - _ratio(ref_len, hyp_len, 0.0))
    gleu = np.where(zero, 0.0, np.exp(brevity + log_prec))
    return 100.0 * gleu.mean(axis=-1)


class BootstrapMetric(ABC):
    """A corpus metric as per-sentence statistics and a score of summed statistics."""

    name: str

    @abstractmethod
    def statistics(self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike) -> np.ndarray:
        """Per-sentence statistics of one system's output, shape ``(n_sentences, k)``."""

    @abstractmethod
    def scores(self, sums: np.ndarray) -> np.ndarray:
        """Corpus scores (0-100) of summed statistics, ``(m, k) -> (m,)``."""


class EditMetric(BootstrapMetric):
    """M2 (M2Scorer 3.2) or ERRANT (errant_compare): per-sentence (tp, fp, fn)."""

    def __init__(self, name: str, scorer: Any):
        self.name = name
        self.scorer = scorer  # M2Scorer or ErrantScorer (both cache across systems)

    def statistics(self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike) -> np.ndarray:
        counts = self.scorer.counts(hyp_lines, hyp_path)
        return np.asarray(counts.per_sentence, dtype=np.float64).reshape(len(hyp_lines), 3)

    def scores(self, sums: np.ndarray) -> np.ndarray:
        return f_beta_from_counts(sums)


class SariMetric(BootstrapMetric):
    name = "sari"

    def __init__(self, sources: Sequence[str], references: Sequence[Sequence[str]]):
        self.sources = sources
        self.references = references

    def statistics(self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike) -> np.ndarray:
        from .score import sari_sentence_stats

        stats = sari_sentence_stats(self.sources, hyp_lines, self.references)
        return stats.reshape(len(hyp_lines), -1).astype(np.float64)

    def scores(self, sums: np.ndarray) -> np.ndarray:
        from .score.sari import ORDER

        return sari_from_sums(sums.reshape(sums.shape[0], ORDER, 9))


class GleuMetric(BootstrapMetric):
    name = "gleu"

    def __init__(self, sources: Sequence[str], references: Sequence[Sequence[str]]):
        from .score.gleu import ITERATIONS

        self.sources = sources
        self.references = references
        self.iterations = ITERATIONS

    def statistics(self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike) -> np.ndarray:
        from .score.gleu import gleu_sentence_stats, reference_choices

        n = len(hyp_lines)
        stats = gleu_sentence_stats(self.sources, hyp_lines, self.references)  # (n, refs, 10)
        choice = reference_choices(n, len(self.references), self.iterations)  # (iterations, n)
        per_iteration = stats[np.arange(n)[None, :], choice]  # (iterations, n, 10)
        return per_iteration.transpose(1, 0, 2).reshape(n, -1).astype(np.float64)

    def scores(self, sums: np.ndarray) -> np.ndarray:
        return gleu_from_sums(sums.reshape(sums.shape[0], self.iterations, -1))


def load_metric(
    metric: str,
    data_path: str | os.PathLike,
    m2_path: str | os.PathLike | None = None,
    spacy_model: str | None = None,
    cache: str | os.PathLike | None = None,
) -> tuple[BootstrapMetric, int]:
    """The metric of a normalised test set (``results/data/test/{dataset}.jsonl``) and its size."""
    from .score import _references_by_set

    if metric not in METRICS:
        raise WritingAlpacaError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")
    records = read_jsonl(data_path)
    if not records:
        raise located(data_path, None, "has no test records; nothing to resample")
    if metric in ("m2", "errant"):
        if m2_path is None:
            raise WritingAlpacaError(f"metric {metric} needs --m2 GOLD.m2")
        if not Path(m2_path).is_file():
            raise WritingAlpacaError(f"{m2_path}: file not found")
        if metric == "m2":
            from .score import M2Scorer, read_m2

            return EditMetric("m2", M2Scorer(read_m2(m2_path))), len(records)
        from .score import ErrantScorer
        from .score.errant_scorer import DEFAULT_SPACY_MODEL

        scorer = ErrantScorer(m2_path, spacy_model=spacy_model or DEFAULT_SPACY_MODEL, cache_dir=cache)
        return EditMetric("errant", scorer), len(records)
    sources, references = _references_by_set(records, data_path)
    if not references:
        raise located(data_path, None, f"{metric} needs references")
    cls = GleuMetric if metric == "gleu" else SariMetric
    return cls(sources, references), len(records)


# --------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------


def resample_indices(n: int, samples: int, seed: int) -> np.ndarray:
    """``samples`` draws of ``n`` sentence indices with replacement, shape ``(samples, n)``."""
    if n < 1:
        raise WritingAlpacaError("cannot resample an empty test set")
    if samples < 1:
        raise WritingAlpacaError(f"--samples must be >= 1, got {samples}")
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def sample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each sentence is drawn in each sample: ``(samples, n)`` float64."""
    m = indices.shape[0]
    flat = (np.arange(m)[:, None] * n + indices).ravel()
    return np.bincount(flat, minlength=m * n).reshape(m, n).astype(np.float64)


def bootstrap_scores(
    metric: BootstrapMetric, stats: np.ndarray, indices: np.ndarray, progress: Progress | None = None
) -> np.ndarray:
    """The metric on every bootstrap sample (rows of ``indices``), shape ``(samples,)``
    (``progress`` is told of the samples done)."""
    n = stats.shape[0]
    out = np.empty(indices.shape[0], dtype=np.float64)
    for start in range(0, indices.shape[0], CHUNK):
        counts = sample_counts(indices[start : start + CHUNK], n)
        out[start : start + CHUNK] = metric.scores(counts @ stats)
        if progress is not None:
            progress.update(counts.shape[0])
    return out


def percentile_interval(values: np.ndarray, alpha: float) -> list[float]:
    lo, hi = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return [float(lo), float(hi)]


def compare(a: np.ndarray, b: np.ndarray, observed: float, alpha: float) -> dict[str, Any]:
    """Paired comparison of the bootstrap scores of two systems (see the module doc)."""
    deltas = a - b
    samples = deltas.size
    centred = deltas - observed
    two_sided = int(np.count_nonzero(np.abs(centred) >= abs(observed)))
    one_sided = int(np.count_nonzero(np.sign(observed) * centred >= abs(observed)))
    p_value = (1 + two_sided) / (samples + 1)
    return {
        "delta": observed,
        "ci": percentile_interval(deltas, alpha),
        "p_value": p_value,
        "p_one_sided": (1 + one_sided) / (samples + 1),
        "a_wins": float(np.count_nonzero(deltas > 0) / samples),
        "b_wins": float(np.count_nonzero(deltas < 0) / samples),
        "ties": float(np.count_nonzero(deltas == 0) / samples),
        "significant": p_value < alpha,
    }


def paired_bootstrap(
    metric: BootstrapMetric,
    hyps: Mapping[str, str | os.PathLike],
    n_sentences: int,
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """Bootstrap every system of ``hyps`` (name -> output file) on the same samples and compare
    every pair (in the given order: A before B).  Returns ``{"systems": ..., "pairs": [...]}``."""
    if len(hyps) < 1:
        raise WritingAlpacaError("give at least one system output (--hyps NAME=FILE ...)")
    if not 0.0 < alpha < 1.0:
        raise WritingAlpacaError(f"--alpha must be in (0, 1), got {alpha}")
    indices = resample_indices(n_sentences, samples, seed)
    systems: dict[str, dict[str, Any]] = {}
    boot: dict[str, np.ndarray] = {}
    observed: dict[str, float] = {}
    # every system's samples (its per-sentence statistics report their own progress, from the scorer)
    progress = Progress(
        f"bootstrap {metric.name}, {len(hyps)} system(s) x {samples}", len(hyps) * samples, unit="samples", log=LOG
    )
    for name, path in hyps.items():
        t0 = time.perf_counter()
        lines = read_lines(path)
        if len(lines) != n_sentences:
            raise located(path, None, f"has {len(lines)} lines but the test set has {n_sentences} records")
        stats = metric.statistics(lines, path)
        t1 = time.perf_counter()
        observed[name] = float(metric.scores(stats.sum(axis=0, keepdims=True))[0])
        boot[name] = bootstrap_scores(metric, stats, indices, progress)
        LOG.info(
            "%s: %s %.2f (statistics %.1f s, %d samples %.1f s)",
            name,
            metric.name,
            observed[name],
            t1 - t0,
            samples,
            time.perf_counter() - t1,
        )
        systems[name] = {
            "hyp": str(path),
            "score": observed[name],
            "ci": percentile_interval(boot[name], alpha),
            "bootstrap_mean": float(boot[name].mean()),
            "bootstrap_std": float(boot[name].std()),
        }
    progress.close()
    names = list(hyps)
    pairs = [
        {"a": a, "b": b, **compare(boot[a], boot[b], observed[a] - observed[b], alpha)}
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    return {"systems": systems, "pairs": pairs}


def pair_result(result: Mapping[str, Any], a: str, b: str) -> dict[str, Any] | None:
    """The comparison of ``a`` against ``b`` from a bootstrap result, oriented as asked
    (``delta = score(a) - score(b)``); ``None`` when the pair is not in it."""
    for pair in result.get("pairs", []):
        if pair.get("a") == a and pair.get("b") == b:
            return dict(pair)
        if pair.get("a") == b and pair.get("b") == a:
            lo, hi = pair["ci"]
            return dict(
                pair, a=a, b=b, delta=-pair["delta"], ci=[-hi, -lo], a_wins=pair["b_wins"], b_wins=pair["a_wins"]
            )
    return None


def run_bootstrap(
    data_path: str | os.PathLike,
    metric_name: str,
    hyps: Mapping[str, str | os.PathLike],
    *,
    m2_path: str | os.PathLike | None = None,
    spacy_model: str | None = None,
    cache: str | os.PathLike | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
    dataset: str | None = None,
    decoding: str | None = None,
) -> dict[str, Any]:
    """The ``analyse bootstrap`` JSON object for one test set (see the module doc)."""
    metric, n = load_metric(metric_name, data_path, m2_path, spacy_model, cache)
    t0 = time.perf_counter()
    result = paired_bootstrap(metric, hyps, n, samples=samples, seed=seed, alpha=alpha)
    LOG.info("%d systems x %d samples in %.1f s", len(hyps), samples, time.perf_counter() - t0)
    return {
        "kind": "paired_bootstrap",
        "dataset": dataset or Path(data_path).name.removesuffix(".jsonl"),
        "decoding": decoding,
        "data": str(data_path),
        "metric": metric_name,
        "n_sentences": n,
        "samples": samples,
        "seed": seed,
        "alpha": alpha,
        "test": "paired bootstrap, two-sided, shifted null (Koehn 2004; Berg-Kirkpatrick et al. 2012)",
        **result,
    }
