"""M2 scorer time and peak memory for one sentence, by hypothesis length (the lattice bound).

Each length runs in a fresh subprocess (so ``ru_maxrss`` is that run's peak): one
17-token source sentence with one gold edit, scored against a hypothesis of N
words unrelated to it (none occurs in the source).  Prints a Markdown table:
wall time of the scoring call, peak RSS of the process, whether the lattice
budget sent the sentence to the fallback, and the counts (tp, fp, fn).

    python benchmarks/bench_m2_length.py [--lengths 17 50 100 150 300 1000 20000] [--exact-upto 30]

``--exact-upto N`` also scores hypotheses of at most N tokens without the budget
(M2Scorer's algorithm as is) and reports whether the counts agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "This are a example sentence with seventeen tokens , which our scorer should handle quickly ."
GOLD = f"S {SOURCE}\nA 1 2|||SVA|||is|||REQUIRED|||-NONE-|||0\nA 2 3|||ArtOrDet|||an|||REQUIRED|||-NONE-|||0\n"

CHILD = r"""
import json, logging, random, resource, sys, time
logging.disable(logging.WARNING)
from writing_alpaca.score.m2 import M2Scorer, parse_m2, sentence_stats
n, exact = int(sys.argv[1]), sys.argv[2] == "1"
gold = parse_m2(sys.argv[3])
rng = random.Random(n)
hyp = " ".join(f"w{rng.randrange(10**9)}" for _ in range(n))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
scorer = M2Scorer(gold)
t = time.perf_counter()
r = scorer.score([hyp], "bench")
wall = time.perf_counter() - t
out = {"n": n, "wall_s": wall, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "base_mb": base / 1024, "fallback": bool(scorer.bounded_sentences), "counts": [r["tp"], r["fp"], r["fn"]],
       "torch": "torch" in sys.modules}
if exact:
    s = gold[0]
    st = sentence_stats(s.source, hyp, s.annotators, bounded=False)[0]
    out["exact_counts"] = [st[0], st[1] - st[0], st[2] - st[0]]
print(json.dumps(out))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[17, 50, 100, 150, 300, 1000, 20000])
    ap.add_argument("--exact-upto", type=int, default=30)
    args = ap.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print("| hyp tokens | fallback | tp, fp, fn | wall (s) | peak RSS (MB) | import RSS (MB) | exact M2Scorer |")
    print("|---:|---|---|---:|---:|---:|---|")
    for n in args.lengths:
        exact = n <= args.exact_upto
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(n), "1" if exact else "0", GOLD],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        agree = ("same" if r["exact_counts"] == r["counts"] else f"differs: {r['exact_counts']}") if exact else "-"
        print(
            f"| {n} | {'yes' if r['fallback'] else 'no'} | {', '.join(map(str, r['counts']))} | {r['wall_s']:.2f} "
            f"| {r['maxrss_mb']:.0f} | {r['base_mb']:.0f} | {agree} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
