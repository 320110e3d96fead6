"""GLEU: hand-checked toy corpus and agreement with the official JFLEG gleu.py."""

from __future__ import annotations

import math

import pytest

from _score_fixtures import run_score_cli, sysout
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.io import read_lines
from writing_alpaca.score.gleu import gleu_corpus, py2_split, reference_choices, sentence_stats


def test_sentence_statistics_by_hand():
    src = "the cat sat on mat".split()
    ref = "the cat sat on the mat".split()
    # hypothesis = reference except "a": n-gram matches 5/6, 3/5, 2/4, 1/3
    assert sentence_stats(src, "the cat sat on a mat".split(), ref) == [6, 6, 5, 6, 3, 5, 2, 4, 1, 3]
    # copying the source is penalised for source n-grams the reference dropped ("on mat" ...)
    assert sentence_stats(src, src, ref) == [5, 6, 5, 5, 2, 4, 1, 3, 0, 2]


def test_toy_corpus_by_hand():
    src = ["the cat sat on mat", "the cat sat on mat"]
    hyp = ["the cat sat on a mat", "the cat sat on mat"]
    refs = [["the cat sat on the mat", "the cat sat on the mat"]]
    expected = math.exp(1 - 12 / 11) * (10 / 11 * 5 / 9 * 3 / 7 * 1 / 5) ** 0.25
    assert gleu_corpus(src, hyp, refs)["gleu"] == pytest.approx(100 * expected, abs=1e-9)
    assert gleu_corpus(src[:1], hyp[:1], [refs[0][:1]])["gleu"] == pytest.approx(100 * (1 / 12) ** 0.25)
    assert gleu_corpus(src[1:], hyp[1:], [refs[0][1:]])["gleu"] == 0.0  # a zero 4-gram count


def test_reference_sampling_is_python2_randint():
    # Python 2: random.seed(0); [random.randint(0, 3) for _ in range(5)] == [3, 3, 1, 1, 2]
    assert reference_choices(5, 4)[0].tolist() == [3, 3, 1, 1, 2]
    assert reference_choices(5, 4).shape == (500, 5)


def test_python2_whitespace_split():
    assert py2_split(" a\tb\xa0c \r\n") == ["a", "b\xa0c"]


def test_mismatched_lengths_raise():
    with pytest.raises(WritingAlpacaError):
        gleu_corpus(["a"], ["a", "b"], [["a"]])


def _jfleg(split: str, system: str) -> float:
    d = sysout(f"jfleg-{split}")
    refs = [read_lines(d / "refs" / f"{split}.ref{k}") for k in range(4)]
    return gleu_corpus(read_lines(d / "refs" / f"{split}.src"), read_lines(d / f"{system}.txt"), refs)["gleu"]


# official gleu.py output (repo eval files of grammatical/neural-naacl2018, and the issue)
@pytest.mark.real_data
@pytest.mark.parametrize("split,expected", [("test", 59.7967), ("dev", 54.1276)])
def test_jfleg_matches_official(split, expected):
    assert _jfleg(split, "jd18_transformer-ens") == pytest.approx(expected, abs=5e-5)


@pytest.mark.real_data
@pytest.mark.parametrize("split", ["dev", "test"])
def test_jfleg_every_output_is_sane(split):
    outputs = sorted(sysout(f"jfleg-{split}").glob("*.txt"))
    assert len(outputs) == 9
    for path in outputs:
        assert 40 < _jfleg(split, path.stem) < 65, path


@pytest.mark.real_data
def test_cli_gleu(capsys):
    d = sysout("jfleg-test")
    out = run_score_cli(
        [
            "gleu",
            "--src",
            str(d / "refs" / "test.src"),
            "--hyp",
            str(d / "jd18_transformer-ens.txt"),
            "--refs",
            *[str(d / "refs" / f"test.ref{k}") for k in range(4)],
        ],
        capsys,
    )
    assert round(out["gleu"], 4) == 59.7967
