"""SARI: hand-checked toy case and agreement with EASSE corpus_sari on TurkCorpus / ASSET."""

from __future__ import annotations

import pytest

from _score_fixtures import run_score_cli, sysout
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.io import read_lines
from writing_alpaca.score.sari import normalize, sari_corpus, sari_from_stats, sari_sentence_stats


def test_toy_case_by_hand():
    # unigrams: add c (F1 1), keep a (1), delete b (1); bigrams: add "a c" (1), keep none (0),
    # delete "a b" (1); no 3/4-grams.  ADD 50, KEEP 25, DELETE 50 -> SARI 125/3
    r = sari_corpus(["a b"], ["a c"], [["a c"]])
    assert r["add"] == pytest.approx(50.0)
    assert r["keep"] == pytest.approx(25.0)
    assert r["delete"] == pytest.approx(50.0)
    assert r["sari"] == pytest.approx(125 / 3)


def test_lowercase_and_13a_tokenisation():
    assert normalize("Hello, World.") == "hello , world ."
    assert sari_corpus(["Hello, World."], ["hello , world ."], [["HELLO, WORLD."]]) == sari_corpus(
        ["hello , world ."], ["Hello, World."], [["hello , world ."]]
    )


def test_per_sentence_statistics_sum_to_corpus():
    src, hyp = ["a b c", "d e f g"], ["a c", "d x f g"]
    refs = [["a c", "d e g"], ["a b", "d f g"]]
    stats = sari_sentence_stats(src, hyp, refs)
    assert stats.shape == (2, 4, 9)
    assert sari_from_stats(stats.sum(axis=0)) == sari_corpus(src, hyp, refs)


def test_mismatched_lengths_raise():
    with pytest.raises(WritingAlpacaError):
        sari_corpus(["a"], ["a"], [["a", "b"]])


def _refs(name: str):
    if name == "turkcorpus":
        d = sysout("turkcorpus", "refs")
        return read_lines(d / "test.truecase.detok.orig"), [
            read_lines(d / f"test.truecase.detok.simp.{k}") for k in range(8)
        ]
    d = sysout("asset", "refs")
    return read_lines(d / "asset.test.orig"), [read_lines(d / f"asset.test.simp.{k}") for k in range(10)]


# EASSE corpus_sari (issue 3)
@pytest.mark.real_data
@pytest.mark.parametrize(
    "system,refs,expected",
    [("ACCESS", "turkcorpus", 41.381), ("ACCESS", "asset", 40.126), ("Dress", "turkcorpus", 36.837)],
)
def test_matches_easse(system, refs, expected):
    src, ref_sets = _refs(refs)
    hyp = read_lines(sysout("turkcorpus", f"{system}.txt"))
    assert sari_corpus(src, hyp, ref_sets)["sari"] == pytest.approx(expected, abs=5e-4)


@pytest.mark.real_data
@pytest.mark.parametrize("refs", ["turkcorpus", "asset"])
def test_every_output_is_sane(refs):
    src, ref_sets = _refs(refs)
    outputs = sorted(sysout("turkcorpus").glob("*.txt"))
    assert len(outputs) == 21
    for path in outputs:
        r = sari_corpus(src, read_lines(path), ref_sets)
        assert 20 < r["sari"] < 50, path
        assert r["sari"] == pytest.approx((r["add"] + r["keep"] + r["delete"]) / 3)
        assert all(0 <= r[k] <= 100 for k in ("add", "keep", "delete")), path


@pytest.mark.real_data
def test_cli_sari(capsys):
    d = sysout("turkcorpus", "refs")
    out = run_score_cli(
        [
            "sari",
            "--src",
            str(d / "test.truecase.detok.orig"),
            "--hyp",
            str(sysout("turkcorpus", "Dress.txt")),
            "--refs",
            *[str(d / f"test.truecase.detok.simp.{k}") for k in range(8)],
        ],
        capsys,
    )
    assert set(out) == {"sari", "add", "keep", "delete"}
    assert round(out["sari"], 3) == 36.837
