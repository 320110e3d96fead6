"""M2 scorer: hand-checked cases and agreement with M2Scorer 3.2 on real CoNLL-14 outputs."""

from __future__ import annotations

import pytest

from _score_fixtures import run_score_cli, sysout
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.io import read_lines
from writing_alpaca.score.m2 import M2Scorer, m2_score, parse_m2, read_m2

TOY_M2 = """S This are a test .
A 1 2|||SVA|||is|||REQUIRED|||-NONE-|||0

S He go to school .
A 1 2|||Vt|||goes||went|||REQUIRED|||-NONE-|||0

S I like cat .
A 2 3|||Nn|||cats|||REQUIRED|||-NONE-|||0

S He he goes home .
A 1 2|||Rloc-|||-NONE-|||REQUIRED|||-NONE-|||0
A 1 2|||Rloc-|||-NONE-|||REQUIRED|||-NONE-|||1

S A B C .
A 0 1|||ArtOrDet|||The A|||REQUIRED|||-NONE-|||0
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||1
"""
TOY_HYP = [
    "This is a test .",  # 1 correct
    "He went to the school .",  # went: alternative correction (TP); "the" inserted (FP)
    "I like cat .",  # unchanged: 1 missed
    "He goes home .",  # deletion with -NONE- (TP, either annotator)
    "A B C .",  # unchanged: annotator 1 (noop) is chosen, so no FN
]


def test_hand_checked_toy_corpus():
    r = m2_score(TOY_HYP, parse_m2(TOY_M2), per_sentence=True)
    # TP 3 (is, went, deletion), FP 1 (the), FN 1 (cats): P = R = F = 3/4
    assert (r["tp"], r["fp"], r["fn"]) == (3, 1, 1)
    assert r["precision"] == pytest.approx(75.0)
    assert r["recall"] == pytest.approx(75.0)
    assert r["f0.5"] == pytest.approx(75.0)
    assert r["per_sentence"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 0]]


def test_no_edits_gives_p100_r0_f0():
    gold = parse_m2(TOY_M2)
    r = m2_score([s.source for s in gold], gold)
    assert (r["precision"], r["recall"], r["f0.5"]) == (100.0, 0.0, 0.0)
    # one missed edit in each of the first four sentences; in the last, annotator 1 (noop) wins the tie
    assert (r["tp"], r["fp"], r["fn"]) == (0, 0, 4)


def test_edit_spanning_unchanged_word_and_empty_hypothesis():
    gold = parse_m2("S a b c d\nA 1 3|||X|||B C|||REQUIRED|||-NONE-|||0\n")
    # "b c" -> "B C": two substitutions around no unchanged word are merged into the gold edit
    assert m2_score(["a B C d"], gold)["tp"] == 1
    # an empty hypothesis deletes everything: one proposed edit per best path, none correct
    r = m2_score([""], gold)
    assert r["tp"] == 0 and r["fp"] >= 1 and r["fn"] == 1


def test_sentence_without_edits_has_one_empty_annotator():
    gold = parse_m2("S Nothing to fix .\n\nS Still fine .\n")
    assert [s.annotators for s in gold] == [{0: []}, {0: []}]
    r = m2_score(["Nothing to fix .", "Still fine !"], gold)
    assert (r["tp"], r["fp"], r["fn"]) == (0, 1, 0)


def test_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.m2"
    bad.write_text("S a b\nA x 2|||X|||y|||REQUIRED|||-NONE-|||0\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=r"bad\.m2:2"):
        read_m2(bad)
    bad.write_text("S a b\nB 1 2|||X|||y\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=r"bad\.m2:2"):
        read_m2(bad)
    with pytest.raises(WritingAlpacaError, match="file not found"):
        read_m2(tmp_path / "missing.m2")
    with pytest.raises(WritingAlpacaError, match="has 1 lines but the gold M2 has 5"):
        M2Scorer(parse_m2(TOY_M2)).score(["x"], "hyp.txt")


# --------------------------------------------------------------------------- real outputs

# Official M2Scorer 3.2 numbers: PROVENANCE.md / the issue, and the CoNLL-2014
# overview paper (Ng et al. 2014, Table 5) for the shared-task submissions.
OFFICIAL = {
    "jd18_transformer-ens": (63.05, 42.60, 57.53),
    "jg16_cclm+np_best.sparse": (None, None, 52.19),
    "pillars_T5-11B": (70.91, 56.54, 67.48),
    "pillars_EditScorer": (None, None, 65.53),
    "seeda_GPT-3.5": (52.63, 57.31, 53.50),
    "seeda_INPUT": (100.0, 0.0, 0.0),
    "st14_CAMB": (39.71, 30.10, 37.33),
    "st14_CUUI": (41.78, 24.88, 36.79),
    "st14_AMU": (41.62, 21.40, 35.01),
    "st14_POST": (34.51, 21.73, 30.88),
    "st14_NTHU": (35.08, 18.85, 29.92),
    "st14_RAC": (33.14, 14.99, 26.68),
    "st14_UMC": (31.27, 14.46, 25.37),
    "st14_PKU": (32.21, 13.65, 25.32),
    "st14_SJTU": (30.11, 5.10, 15.19),
    "st14_UFC": (70.00, 1.72, 7.84),
    "st14_IPN": (11.28, 2.85, 7.09),
    "st14_IITB": (30.77, 1.39, 5.90),
}


@pytest.fixture(scope="module")
def conll_scorer():
    return M2Scorer(read_m2(sysout("conll14", "refs", "official-2014.combined.m2")))


@pytest.mark.real_data
@pytest.mark.parametrize("system", sorted(OFFICIAL))
def test_conll14_matches_m2scorer(conll_scorer, system):
    r = conll_scorer.score(read_lines(sysout("conll14", f"{system}.txt")))
    p, rec, f = OFFICIAL[system]
    assert round(r["f0.5"], 2) == pytest.approx(f, abs=1e-9)
    if p is not None:
        assert round(r["precision"], 2) == pytest.approx(p, abs=1e-9)
        assert round(r["recall"], 2) == pytest.approx(rec, abs=1e-9)


@pytest.mark.real_data
def test_conll14_every_output_is_sane(conll_scorer):
    outputs = sorted(sysout("conll14").glob("*.txt"))
    assert len(outputs) == 54
    for path in outputs:
        r = conll_scorer.score(read_lines(path), path)
        assert 0 <= r["f0.5"] <= 100 and 0 <= r["precision"] <= 100 and 0 <= r["recall"] <= 100, path
        assert r["tp"] + r["fn"] > 1900, path  # gold edits of the chosen annotators
        if path.stem.endswith("INPUT"):
            assert (r["precision"], r["f0.5"], r["tp"], r["fp"]) == (100.0, 0.0, 0, 0)
        else:
            assert r["tp"] > 0, path


@pytest.mark.real_data
def test_cli_m2(capsys):
    out = run_score_cli(
        [
            "m2",
            "--hyp",
            str(sysout("conll14", "st14_CAMB.txt")),
            "--m2",
            str(sysout("conll14", "refs", "official-2014.combined.m2")),
        ],
        capsys,
    )
    assert set(out) == {"precision", "recall", "f0.5", "tp", "fp", "fn"}
    assert round(out["f0.5"], 2) == 37.33
