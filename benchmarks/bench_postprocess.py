"""Official score vs pipeline score of every real system output in ../shared/data/sysout.

Each published output (CoNLL-14 test, BEA-19 dev, JFLEG test) is scored three ways with the
project's CLI code path (``writing-alpaca score <metric>``):

* ``official``: the tokenised file as published, no ``--dataset`` (the official scorers'
  input; our scorers agree with them);
* ``as given``: the same file with ``--dataset`` (post-processing must leave it as it is);
* ``pipeline``: the file detokenised with sacremoses (``MosesDetokenizer('en')``), i.e. a
  natural-text answer, scored with ``--dataset`` (what the workflow does with an answer).

Prints one Markdown row per output, the median and worst |pipeline - official| per test set,
and the post-processing time per test set.

    .venv/bin/python benchmarks/bench_postprocess.py [--sysout DIR] [--sets conll14 bea19_dev jfleg] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sacremoses import MosesDetokenizer

from writing_alpaca.io import read_lines, write_lines
from writing_alpaca.postprocess import Postprocessor, dataset_postprocess, m2_postprocessor

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SYSOUT = ROOT.parent / "shared" / "data" / "sysout"


def sets(sysout: Path) -> dict[str, dict]:
    """Per test set: the CLI arguments of its gold, its metric, outputs, and a post-processor factory."""
    conll, bea, jfleg = sysout / "conll14", sysout / "bea19dev", sysout / "jfleg-test"
    jrefs = [str(jfleg / "refs" / f"test.ref{k}") for k in range(4)]
    return {
        "conll14": {
            "metric": "m2",
            "gold": ["--m2", str(conll / "refs" / "official-2014.combined.m2")],
            "outputs": sorted(conll.glob("*.txt")),
            "pp": lambda tok: m2_postprocessor(tok, conll / "refs" / "official-2014.combined.m2"),
        },
        "bea19_dev": {
            "metric": "errant",
            "gold": ["--m2", str(bea / "refs" / "ABCN.dev.gold.bea19.m2")],
            "outputs": sorted(bea.glob("*.txt")),
            "pp": lambda tok: m2_postprocessor(tok, bea / "refs" / "ABCN.dev.gold.bea19.m2"),
        },
        "jfleg": {
            "metric": "gleu",
            "gold": ["--src", str(jfleg / "refs" / "test.src"), "--refs", *jrefs],
            "outputs": sorted(jfleg.glob("*.txt")),
            "pp": lambda tok: Postprocessor(
                tok, read_lines(jfleg / "refs" / "test.src"), [r for p in jrefs for r in read_lines(p)]
            ),
        },
    }


HEADLINE = {"m2": "f0.5", "errant": "f0.5", "gleu": "gleu"}


def score(metric: str, hyp: Path, gold: list[str], dataset: str | None) -> dict:
    cmd = [str(Path(sys.executable).parent / "writing-alpaca"), "score", metric, "--hyp", str(hyp), *gold]
    if dataset:
        cmd += ["--dataset", dataset, "--config", str(ROOT / "config.yaml")]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sysout", type=Path, default=DEFAULT_SYSOUT)
    parser.add_argument("--sets", nargs="+", default=["conll14", "bea19_dev", "jfleg"])
    parser.add_argument("--json", type=Path, help="write every row as JSON here")
    args = parser.parse_args()
    detok = MosesDetokenizer("en")
    rows, summary = [], []
    print("| test set | output | official | as given | pipeline | pipeline - official | tp+fp |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            spec = sets(args.sysout)[name]
            metric, key = spec["metric"], HEADLINE[spec["metric"]]
            pp = spec["pp"](dataset_postprocess(name, [ROOT / "config.yaml"]))
            diffs, pp_seconds, n_lines = [], 0.0, 0
            for output in spec["outputs"]:
                natural = Path(tmp) / f"{name}.{output.name}"
                lines = read_lines(output)
                write_lines(natural, [detok.detokenize(line.split()) for line in lines])
                t0 = time.perf_counter()
                pp(read_lines(natural))
                pp_seconds += time.perf_counter() - t0
                n_lines += len(lines)
                official = score(metric, output, spec["gold"], None)
                given = score(metric, output, spec["gold"], name)
                piped = score(metric, natural, spec["gold"], name)
                diff = piped[key] - official[key]
                diffs.append(diff)
                edits = piped["tp"] + piped["fp"] if "tp" in piped else ""
                row = {
                    "dataset": name,
                    "output": output.stem,
                    "official": official[key],
                    "as_given": given[key],
                    "pipeline": piped[key],
                    "diff": diff,
                    "proposed": edits,
                }
                rows.append(row)
                print(
                    f"| {name} | {output.stem} | {official[key]:.2f} | {given[key]:.2f} | {piped[key]:.2f} | {diff:+.2f} | {edits} |",
                    flush=True,
                )
            summary.append(
                (
                    name,
                    len(diffs),
                    statistics.median(abs(d) for d in diffs),
                    max(abs(d) for d in diffs),
                    pp_seconds,
                    n_lines,
                )
            )
    print("\n| test set | outputs | median abs diff | worst abs diff | post-processing s | ms / sentence |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n, med, worst, secs, lines in summary:
        print(f"| {name} | {n} | {med:.2f} | {worst:.2f} | {secs:.1f} | {1000 * secs / lines:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=1))
    sys.exit(0)


if __name__ == "__main__":
    main()
