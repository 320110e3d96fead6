"""Benchmark the scorers on the real outputs in ../shared/data/sysout.

Scores all CoNLL-14 outputs with our M2 scorer, then all BEA-19 dev outputs
with the ERRANT path twice: with an empty parse cache (cold) and again in a
fresh scorer reading the on-disk source parses (warm).  Prints per-system and
total seconds.

    .venv/bin/python benchmarks/bench_score.py [--sysout DIR] [--jobs 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from writing_alpaca.io import read_lines
from writing_alpaca.score.errant_scorer import ErrantScorer, clear_memory_cache
from writing_alpaca.score.m2 import M2Scorer, read_m2

DEFAULT_SYSOUT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sysout"


def bench_m2(sysout: Path) -> float:
    start = time.perf_counter()
    scorer = M2Scorer(read_m2(sysout / "conll14" / "refs" / "official-2014.combined.m2"))
    for path in sorted((sysout / "conll14").glob("*.txt")):
        t = time.perf_counter()
        r = scorer.score(read_lines(path), path)
        print(f"  m2     {path.stem:55s} F0.5 {r['f0.5']:6.2f}  {time.perf_counter() - t:6.2f} s")
    total = time.perf_counter() - start
    print(f"M2 total ({len(list((sysout / 'conll14').glob('*.txt')))} CoNLL-14 outputs): {total:.1f} s")
    return total


def bench_errant(sysout: Path, cache: Path, jobs: int, label: str) -> float:
    clear_memory_cache()
    start = time.perf_counter()
    d = sysout / "bea19dev"
    scorer = ErrantScorer(
        d / "refs" / "ABCN.dev.gold.bea19.m2",
        read_lines(d / "refs" / "ABCN.dev.gold.bea19.orig"),
        cache_dir=cache,
        jobs=jobs,
    )
    outputs = sorted(d.glob("*.txt"))
    for path in outputs:
        t = time.perf_counter()
        r = scorer.score(read_lines(path), path)
        print(f"  errant {path.stem:55s} F0.5 {r['f0.5']:6.2f}  {time.perf_counter() - t:6.2f} s")
    total = time.perf_counter() - start
    print(f"ERRANT total, {label} cache ({len(outputs)} BEA-19 dev outputs): {total:.1f} s")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sysout", type=Path, default=DEFAULT_SYSOUT)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    m2 = bench_m2(args.sysout)
    with tempfile.TemporaryDirectory() as tmp:
        cold = bench_errant(args.sysout, Path(tmp), args.jobs, "cold")
        warm = bench_errant(args.sysout, Path(tmp), args.jobs, "warm")
    print(f"SUMMARY m2={m2:.1f}s errant_cold={cold:.1f}s errant_warm={warm:.1f}s")


if __name__ == "__main__":
    main()
