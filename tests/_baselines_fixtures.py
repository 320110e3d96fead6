"""Fixtures for tests/test_baselines.py: small corpora and a minimal M2 reader."""

from __future__ import annotations

import json
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BEA_TRAIN_M2 = SHARED_DATA / "bea2019_wi_locness" / "m2" / "A.train.gold.bea19.m2"


def m2_pairs(path: Path, limit: int, annotator: int = 0) -> list[tuple[str, str]]:
    """(source, corrected) of the first ``limit`` sentences of an M2 file (one annotator's edits)."""
    if not path.is_file():
        raise FileNotFoundError(f"shared data missing: {path} (tests need ../shared/data beside the checkout)")
    pairs: list[tuple[str, str]] = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        lines = block.split("\n")
        tokens = lines[0][2:].split(" ")
        edits = []
        for line in lines[1:]:
            span, etype, correction, *_, ann = line[2:].split("|||")
            start, end = map(int, span.split())
            if etype == "noop" or int(ann) != annotator:
                continue
            edits.append((start, end, correction.split()))
        out = list(tokens)
        for start, end, correction in sorted(edits, reverse=True):
            out[start:end] = correction
        pairs.append((" ".join(tokens), " ".join(out)))
        if len(pairs) >= limit:
            break
    return pairs


SUBJECTS = ["He", "She", "My friend", "The teacher", "Tom"]
VERBS = [("go", "goes"), ("like", "likes"), ("eat", "eats"), ("want", "wants")]
OBJECTS = ["to school", "apples", "the park", "music", "dogs"]


def agreement_records(n: int) -> list[dict[str, str]]:
    """Instruction records of a toy subject-verb agreement task (deterministic)."""
    records = []
    for i in range(n):
        s, (v0, v1), o = SUBJECTS[i % 5], VERBS[(i // 5) % 4], OBJECTS[(i // 3) % 5]
        records.append(
            {
                "id": f"toy-{i}",
                "task": "grammar",
                "instruction": "Fix grammatical errors in the text.",
                "input": f"{s} {v0} {o} .",
                "output": f"{s} {v1} {o} .",
            }
        )
    return records


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
