"""Fixtures for tests/test_baselines.py: small corpora and a minimal M2 reader."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SHARED_DATA

# read only inside tests marked `real_data` (tests/conftest.py)
BEA_TRAIN_M2 = SHARED_DATA / "bea2019_wi_locness" / "m2" / "A.train.gold.bea19.m2"


def m2_pairs(path: Path, limit: int, annotator: int = 0) -> list[tuple[str, str]]:
    """(source, corrected) of the first ``limit`` sentences of an M2 file (one annotator's edits)."""
    if not path.is_file():
        raise FileNotFoundError(f"shared data missing: {path} (a test reading it must be marked real_data)")
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


# ---------------------------------------------------------------- cluster-scale runs (tests/test_train_cluster.py)

TINY_BASELINE = {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 64, "vocab": 300, "max_position_embeddings": 64}
_TINY_BASES: dict[tuple[str, bool], Path] = {}


def tiny_baseline_base(kind: str, root: Path, mixture: Path, dropout: bool = True) -> Path:
    """A tiny base of ``kind`` (seq2seq: T5, gector: RoBERTa) built once per session.

    ``dropout=False`` turns off the RoBERTa encoder's dropout (0.1 in its config; the tiny T5 has
    none): a run on two processes draws other dropout masks than one process accumulating
    two micro-batches, so only a dropout-free model can give the same weights both ways.
    """
    key = (kind, dropout)
    if key not in _TINY_BASES:
        from writing_alpaca.baselines.tiny import build_tiny

        out = build_tiny(
            kind, {"kind": kind, "build_tiny": TINY_BASELINE}, [mixture], 1, root / f"base-{kind}-{int(dropout)}"
        )
        if not dropout:
            config = json.loads((out / "config.json").read_text())
            for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout_rate"):
                if name in config:
                    config[name] = 0.0
            (out / "config.json").write_text(json.dumps(config, indent=2))
        _TINY_BASES[key] = out
    return _TINY_BASES[key]


#: Hyper-parameters of the cluster tests: batch 8 = micro-batch 4 x 2 (accumulation, or processes).
CLUSTER_HP = {
    "gector": {
        "max_steps": 40,
        "batch_size": 8,
        "micro_batch_size": 4,
        "learning_rate": 2e-3,
        "cold_learning_rate": 1e-2,
        "cold_steps": 5,
        "warmup_steps": 3,
        "logging_steps": 1,
        "max_length": 32,
        "save_steps": 10,
    },
    "seq2seq": {
        "max_steps": 8,
        "batch_size": 8,
        "micro_batch_size": 4,
        "optimizer": "adamw",
        "learning_rate": 3e-3,
        "warmup_steps": 2,
        "lr_scheduler": "linear",
        "logging_steps": 1,
        "save_steps": 3,
    },
}


def baseline_training(kind: str, **overrides) -> dict:
    """The ``--training`` fragment of a baseline (as ``training_for()`` in common.smk builds it)."""
    return {"precision": "auto", "seed": 1, "baselines": {kind: {**CLUSTER_HP[kind], **overrides}}}


def baseline_command(
    launcher: tuple[str, ...], kind: str, base: Path, data: Path, out: Path, checkpoints: Path, training: dict
) -> list[str]:
    """The ``baselines train`` command line rule train_baseline runs."""
    spec = {"kind": kind, "method": "full", "base": "tiny", "mixture": "toy"}
    return [
        *launcher,
        "baselines",
        "train",
        "--system",
        f"toy-{kind}",
        "--spec",
        json.dumps(spec),
        "--training",
        json.dumps(training),
        "--checkpoint-dir",
        str(checkpoints),
        "--base",
        str(base),
        "--data",
        str(data),
        "--out",
        str(out),
    ]
