"""ERRANT scorer: equality with errant_parallel + errant_compare, and the published BEA-19 dev counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from _score_fixtures import run_score_cli, sysout
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.io import read_lines
from writing_alpaca.score.errant_scorer import ErrantScorer, errant_score, load_annotator, parse_reference_m2

BEA_M2 = "bea19dev/refs/ABCN.dev.gold.bea19.m2"


def test_hand_checked_toy(tmp_path):
    gold = tmp_path / "gold.m2"
    gold.write_text(
        "S This are a test .\nA 1 2|||R:VERB:SVA|||is|||REQUIRED|||-NONE-|||0\n\n"
        "S I like cat .\nA 2 3|||R:NOUN:NUM|||cats|||REQUIRED|||-NONE-|||0\n\n"
        "S Nothing wrong here .\nA -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0\n",
        encoding="utf-8",
    )
    hyp = ["This is a test .", "I like cat .", "Nothing wrong here !"]
    r = errant_score(hyp, gold, cache_dir=tmp_path / "cache", jobs=1, per_sentence=True)
    # TP "is"; FN "cats"; FP "." -> "!"
    assert (r["tp"], r["fp"], r["fn"]) == (1, 1, 1)
    assert r["per_sentence"] == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert r["f0.5"] == pytest.approx(50.0)
    assert list((tmp_path / "cache").glob("errant-src-*.spacy")), "source parses are cached"


def test_errors(tmp_path):
    gold = tmp_path / "gold.m2"
    gold.write_text("S a b .\nA 1 x|||R:OTHER|||c|||REQUIRED|||-NONE-|||0\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=r"gold\.m2:2"):
        parse_reference_m2(gold.read_text(), gold)
    gold.write_text("S a b .\n\nS c d .\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match="hyp.txt: has 1 lines but .*gold.m2 has 2"):
        ErrantScorer(gold).score(["a b ."], "hyp.txt")
    with pytest.raises(WritingAlpacaError, match="src.txt: has 1 lines"):
        ErrantScorer(gold, ["a b ."], src_path="src.txt")


def _errant_compare(hyp_m2: Path, ref_m2: Path) -> tuple[int, int, int]:
    """Run errant 3.0.2's own errant_compare and read its TP/FP/FN."""
    code = "import sys; from errant.commands.compare_m2 import main; sys.exit(main())"
    out = subprocess.run(
        [sys.executable, "-c", code, "-hyp", str(hyp_m2), "-ref", str(ref_m2)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    row = out[out.index(next(line for line in out if line.startswith("TP"))) + 1].split()
    return int(row[0]), int(row[1]), int(row[2])


@pytest.mark.real_data
def test_equals_errant_parallel_and_compare_on_real_subset(tmp_path):
    """Our batched, cached, parallel path == errant_parallel (unbatched) + errant_compare."""
    n = 300
    blocks = sysout(BEA_M2).read_text(encoding="utf-8").strip().split("\n\n")[:n]
    ref = tmp_path / "ref.m2"
    ref.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    hyp_lines = read_lines(sysout("bea19dev", "pillars_T5-11B.txt"))[:n]
    src_lines = read_lines(sysout("bea19dev", "refs", "ABCN.dev.gold.bea19.orig"))[:n]
    annotator = load_annotator()
    out = []
    for src, hyp in zip(src_lines, hyp_lines):  # errant_parallel's loop
        orig = annotator.parse(src.strip())
        out.append("S " + " ".join(t.text for t in orig))
        if orig.text.strip() == hyp.strip():
            out.append("A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||0")
        else:
            out.extend(e.to_m2(0) for e in annotator.annotate(orig, annotator.parse(hyp.strip())))
        out.append("")
    hyp_m2 = tmp_path / "hyp.m2"
    hyp_m2.write_text("\n".join(out) + "\n", encoding="utf-8")
    expected = _errant_compare(hyp_m2, ref)
    r = errant_score(hyp_lines, ref, sources=src_lines, cache_dir=tmp_path / "cache", jobs=2)
    assert (r["tp"], r["fp"], r["fn"]) == expected


def _bea_scorer(cache_dir) -> ErrantScorer:
    return ErrantScorer(
        sysout(BEA_M2), read_lines(sysout("bea19dev", "refs", "ABCN.dev.gold.bea19.orig")), cache_dir=cache_dir
    )


@pytest.mark.real_data
def test_bea_dev_ctc_copy_matches_errant_compare(tmp_path_factory):
    scorer = _bea_scorer(tmp_path_factory.mktemp("errant-cache"))
    r = scorer.score(read_lines(sysout("bea19dev", "pillars_CTC-Copy.txt")))
    assert (r["tp"], r["fp"], r["fn"]) == (2838, 2026, 4623)
    assert (round(r["precision"], 2), round(r["recall"], 2), round(r["f0.5"], 2)) == (58.35, 38.04, 52.72)


@pytest.mark.real_data
@pytest.mark.slow
def test_bea_dev_every_output_is_sane(tmp_path_factory):
    scorer = _bea_scorer(tmp_path_factory.mktemp("errant-cache"))
    outputs = sorted(sysout("bea19dev").glob("*.txt"))
    assert len(outputs) == 15
    for path in outputs:
        r = scorer.score(read_lines(path), path)
        assert 40 < r["f0.5"] < 80, path
        assert r["tp"] + r["fn"] > 7000, path
        if path.stem == "pillars_CTC-Copy":
            assert (r["tp"], r["fp"], r["fn"]) == (2838, 2026, 4623)


def test_cli_errant(tmp_path, capsys):
    gold = tmp_path / "gold.m2"
    gold.write_text("S This are a test .\nA 1 2|||R:VERB:SVA|||is|||REQUIRED|||-NONE-|||0\n", encoding="utf-8")
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("This is a test .\r\n", encoding="utf-8")
    out = run_score_cli(["errant", "--hyp", str(hyp), "--m2", str(gold), "--cache", str(tmp_path / "c")], capsys)
    assert out == {"precision": 100.0, "recall": 100.0, "f0.5": 100.0, "tp": 1, "fp": 0, "fn": 0}
