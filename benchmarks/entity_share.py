"""Entity share of real GEC outputs in both readings of the paper's definition.

The paper (Section 4.2) counts "the percentage of corrections involving entities using spaCy":
LLaMA 9.7 %, RoBERTa (GECToR) 2.5 %, T5 3.3 %.  It does not say which spaCy labels count.
This script runs ``writing-alpaca analyse edits`` (the workflow's rule ``analyse_edits``) on
published outputs of the same model families in ../shared/data/sysout (GECToR, T5,
fine-tuned LLaMA-2; CoNLL-14 test and BEA-19 dev) and prints both shares per output:

* ``all labels``: a correction touches any spaCy entity (DATE, CARDINAL, ... included);
* ``named``: it touches a PERSON/ORG/GPE/LOC/NORP/FAC/PRODUCT/EVENT/WORK_OF_ART/LAW/LANGUAGE.

    .venv/bin/python benchmarks/entity_share.py [--sysout DIR] [--json OUT]

The result (docs/PAPER.md, BENCHMARKS.md) says which reading is closer to the paper's numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from writing_alpaca.io import read_lines

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SYSOUT = ROOT.parent / "shared" / "data" / "sysout"

# (family as in the paper's sentence, output file) per test set
OUTPUTS = {
    "conll14": [
        ("RoBERTa (GECToR)", "pillars_GECToR-2024.txt"),
        ("BERT (GECToR)", "seeda_GECToR-BERT.txt"),
        ("T5", "seeda_T5.txt"),
        ("T5", "pillars_T5-11B.txt"),
        ("LLaMA", "pillars_Chat-LLaMa-2-7B-FT.txt"),
        ("LLaMA", "pillars_Chat-LLaMa-2-13B-FT.txt"),
    ],
    "bea19_dev": [
        ("RoBERTa (GECToR)", "pillars_GECToR-2024.txt"),
        ("T5", "pillars_T5-11B.txt"),
        ("LLaMA", "pillars_Chat-LLaMa-2-7B-FT.txt"),
        ("LLaMA", "pillars_Chat-LLaMa-2-13B-FT.txt"),
    ],
}
PAPER = {"RoBERTa (GECToR)": 2.5, "BERT (GECToR)": 2.5, "T5": 3.3, "LLaMA": 9.7}


def sources(sysout: Path, dataset: str) -> list[str]:
    if dataset == "conll14":
        return read_lines(sysout / "conll14" / "refs" / "source.txt")
    return read_lines(sysout / "bea19dev" / "refs" / "ABCN.dev.gold.bea19.orig")


def test_jsonl(path: Path, dataset: str, lines: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i, line in enumerate(lines, start=1):
            record = {
                "id": f"{dataset}-{i:06d}",
                "dataset": dataset,
                "task": "grammar",
                "source": line,
                "references": [],
            }
            fh.write(json.dumps(record) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sysout", type=Path, default=DEFAULT_SYSOUT)
    parser.add_argument("--json", type=Path, help="write the rows as JSON here too")
    args = parser.parse_args(argv)
    rows = []
    print("| test set | family | output | corrections | all labels (%) | named (%) | paper (%) |")
    print("|---|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for dataset, outputs in OUTPUTS.items():
            data = test_jsonl(Path(tmp) / f"{dataset}.jsonl", dataset, sources(args.sysout, dataset))
            sub = "conll14" if dataset == "conll14" else "bea19dev"
            for family, name in outputs:
                out = Path(tmp) / f"{dataset}-{name}.edits.json"
                t0 = time.perf_counter()
                cmd = [
                    sys.executable,
                    "-m",
                    "writing_alpaca",
                    "analyse",
                    "edits",
                    "--data",
                    str(data),
                    "--hyp",
                    str(args.sysout / sub / name),
                    "--out",
                    str(out),
                ]
                subprocess.run(cmd, check=True, capture_output=True)
                entity = json.loads(out.read_text())["entity"]
                row = {
                    "dataset": dataset,
                    "family": family,
                    "output": name,
                    "seconds": time.perf_counter() - t0,
                    **{
                        k: entity[k]
                        for k in ("corrections", "touching_entity", "share", "touching_named_entity", "named_share")
                    },
                }
                rows.append(row)
                print(
                    f"| {dataset} | {family} | {name} | {row['corrections']:,} | {row['share']:.1f} | "
                    f"{row['named_share']:.1f} | {PAPER[family]} |",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
