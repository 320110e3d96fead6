"""Benchmark paired bootstrap resampling (writing_alpaca.bootstrap) on real outputs.

For each metric, one real system output from ../shared/data/sysout: the per-sentence
statistics are computed once, then 1,000 seeded samples are scored.  Prints both times
and the observed score (which must equal the published one).

    .venv/bin/python benchmarks/bench_bootstrap.py [--sysout DIR] [--samples 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from writing_alpaca import bootstrap
from writing_alpaca.io import read_lines

DEFAULT_SYSOUT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sysout"


def write_test_set(path: Path, sources: list[str], references: list[list[str]]) -> Path:
    """A normalised test set (``results/data/test/{dataset}.jsonl``) from parallel files."""
    with open(path, "w", encoding="utf-8") as fh:
        for i, source in enumerate(sources):
            record = {"id": str(i), "task": "t", "source": source, "references": [r[i] for r in references]}
            fh.write(json.dumps(record) + "\n")
    return path


def cases(sysout: Path, root: Path) -> list[tuple[str, Path, Path | None, Path]]:
    """``(metric, test set, gold M2 or None, system output)`` of each benchmark."""
    conll, jfleg, turk = sysout / "conll14", sysout / "jfleg-test" / "refs", sysout / "turkcorpus" / "refs"
    return [
        (
            "m2",
            write_test_set(root / "conll14.jsonl", read_lines(conll / "refs" / "source.txt"), []),
            conll / "refs" / "official-2014.combined.m2",
            conll / "st14_CAMB.txt",
        ),
        (
            "gleu",
            write_test_set(
                root / "jfleg.jsonl",
                read_lines(jfleg / "test.src"),
                [read_lines(jfleg / f"test.ref{k}") for k in range(4)],
            ),
            None,
            sysout / "jfleg-test" / "jd18_transformer-ens.txt",
        ),
        (
            "sari",
            write_test_set(
                root / "turk.jsonl",
                read_lines(turk / "test.truecase.detok.orig"),
                [read_lines(turk / f"test.truecase.detok.simp.{k}") for k in range(8)],
            ),
            None,
            sysout / "turkcorpus" / "ACCESS.txt",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sysout", type=Path, default=DEFAULT_SYSOUT)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for metric_name, data, m2, output in cases(args.sysout, Path(tmp)):
            metric, n = bootstrap.load_metric(metric_name, data, m2_path=m2)
            hyp = read_lines(output)
            t0 = time.perf_counter()
            stats = metric.statistics(hyp, output)
            t1 = time.perf_counter()
            scores = bootstrap.bootstrap_scores(metric, stats, bootstrap.resample_indices(n, args.samples, seed=0))
            t2 = time.perf_counter()
            observed = float(np.ravel(metric.scores(stats.sum(axis=0, keepdims=True)))[0])
            print(
                f"{metric_name:5s} {output.stem:24s} n={n:5d}  observed {observed:7.3f}  "
                f"statistics {t1 - t0:6.2f} s  {args.samples} samples {t2 - t1:6.2f} s  "
                f"(95% interval {np.quantile(scores, 0.025):.2f}-{np.quantile(scores, 0.975):.2f})"
            )


if __name__ == "__main__":
    main()
