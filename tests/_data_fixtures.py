"""Demo-config entries for the data and format tests (the `test_sets` / `train_sets` of the demo config).

Paths are relative to ``demo/data/<source>/``; ``size`` / expected counts match the demo files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEMO = Path(__file__).resolve().parents[1] / "demo" / "data"

DEMO_TEST_SETS: dict[str, tuple[str, dict[str, Any]]] = {
    "conll14": (
        "conll14",
        {"task": "grammar", "format": "m2", "path": "conll14st-test-data/noalt/official-2014.combined.m2", "size": 30},
    ),
    "bea19_dev": (
        "wi_locness",
        {"task": "grammar", "format": "m2", "path": "wi+locness/m2/ABCN.dev.gold.bea19.m2", "size": 30},
    ),
    "jfleg": (
        "jfleg",
        {
            "task": "fluency",
            "format": "parallel",
            "src": "test/test.src",
            "refs": [f"test/test.ref{i}" for i in range(4)],
            "detokenize": True,
            "size": 30,
        },
    ),
    "itr_f": (
        "iterater",
        {
            "task": "fluency",
            "format": "iterater",
            "path": "human_sent_level/test.json",
            "label": "fluency",
            "detokenize": True,
            "size": 12,
        },
    ),
    "itr_l": (
        "iterater",
        {
            "task": "clarity",
            "format": "iterater",
            "path": "human_sent_level/test.json",
            "label": "clarity",
            "detokenize": True,
            "size": 12,
        },
    ),
    "itr_o": (
        "iterater",
        {
            "task": "coherence",
            "format": "iterater",
            "path": "human_sent_level/test.json",
            "label": "coherence",
            "detokenize": True,
            "size": 10,
        },
    ),
    "turk": (
        "turkcorpus",
        {
            "task": "simplification",
            "format": "parallel",
            "src": "GEM/test.8turkers.tok.norm",
            "refs": [f"GEM/test.8turkers.tok.turk.{i}" for i in range(8)],
            "detokenize": True,
            "size": 30,
        },
    ),
    "asset": (
        "asset",
        {
            "task": "simplification",
            "format": "parallel",
            "src": "asset.test.orig",
            "refs": [f"asset.test.simp.{i}" for i in range(10)],
            "size": 30,
        },
    ),
    "wnc": ("wnc", {"task": "neutralization", "format": "wnc", "path": "bias_data/WNC/biased.word.test", "size": 36}),
    "sts": ("stsb", {"task": "paraphrase", "format": "stsb", "path": "stsb-en-test.csv", "size": 16}),
}

DEMO_TRAIN_SETS: dict[str, tuple[str, dict[str, Any], int]] = {
    "wi_train": (
        "wi_locness",
        {"task": "grammar", "format": "m2", "paths": ["wi+locness/m2/A.train.gold.bea19.m2"], "n": None},
        36,
    ),
    "clang8": ("clang8", {"task": "grammar", "format": "tsv", "path": "clang8_en.tsv", "n": None}, 35),
    "itr_f_train": (
        "iterater",
        {"task": "fluency", "format": "iterater", "path": "human_sent_level/train.json", "label": "fluency", "n": None},
        14,
    ),
    "itr_l_train": (
        "iterater",
        {"task": "clarity", "format": "iterater", "path": "human_sent_level/train.json", "label": "clarity", "n": None},
        14,
    ),
    "itr_o_train": (
        "iterater",
        {
            "task": "coherence",
            "format": "iterater",
            "path": "human_sent_level/train.json",
            "label": "coherence",
            "n": None,
        },
        10,
    ),
    "turk_train": (
        "turkcorpus",
        {
            "task": "simplification",
            "format": "parallel",
            "src": "GEM/tune.8turkers.tok.norm",
            "tgt": "GEM/tune.8turkers.tok.turk.0",
            "n": 20,
        },
        20,
    ),
    "wikilarge": (
        "wikilarge",
        {
            "task": "simplification",
            "format": "parallel",
            "src": "data-simplification/wikilarge/wiki.full.aner.ori.train.src",
            "tgt": "data-simplification/wikilarge/wiki.full.aner.ori.train.dst",
            "repair": "mojibake",
            "unescape_ptb": True,
            "n": None,
        },
        35,
    ),
    "wnc_train": (
        "wnc",
        {"task": "neutralization", "format": "wnc", "path": "bias_data/WNC/biased.word.train", "n": None},
        35,
    ),
    "alpaca": ("alpaca", {"task": "generic", "format": "alpaca", "path": "alpaca_data.json", "n": None}, 32),
    "alpaca_gpt4": (
        "alpaca_gpt4",
        {"task": "generic", "format": "alpaca", "path": "alpaca_gpt4_data.json", "n": None},
        32,
    ),
}
