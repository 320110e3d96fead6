"""Scorer faults that must not be silently wrong: unbounded M2 lattices, BOMs, malformed gold
M2, empty corpora, a full disk when writing the score file."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _score_fixtures import sysout
from writing_alpaca import cli
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.io import read_lines, write_jsonl
from writing_alpaca.score import m2 as M
from writing_alpaca.score.common import read_lines_checked
from writing_alpaca.score.errant_scorer import ErrantScorer, parse_reference_m2
from writing_alpaca.score.gleu import gleu_files
from writing_alpaca.score.sari import sari_files

ROOT = Path(__file__).resolve().parents[1]
SOURCE17 = "This are a example sentence with seventeen tokens , which our scorer should handle quickly ."
GOLD17 = f"S {SOURCE17}\nA 1 2|||SVA|||is|||REQUIRED|||-NONE-|||0\nA 2 3|||ArtOrDet|||an|||REQUIRED|||-NONE-|||0\n"
BOM = "\ufeff"


def _unrelated(n: int, seed: int = 0) -> str:
    import random

    rng = random.Random(seed)
    return " ".join(f"w{rng.randrange(10**9)}" for _ in range(n))


# --------------------------------------------------------------------------- 1. M2 lattice bound


def test_fallback_equals_m2scorer_on_unrelated_hypothesis():
    gold = M.parse_m2(GOLD17)[0]
    hyp = _unrelated(12)
    exact = M.sentence_stats(gold.source, hyp, gold.annotators, bounded=False)
    assert M.fallback_stats(gold.source.split(), hyp.split(), gold.annotators) == exact == {0: (0, 1, 2)}
    # the fallback's edit is the changed span: common prefix and suffix are left out
    assert M.fallback_edit("a b c d".split(), "a X Y d".split()) == (1, 3, "b c", "X Y")
    assert M.fallback_edit("a b".split(), "a b".split()) is None


def test_over_budget_sentence_warns_and_uses_fallback(monkeypatch, caplog):
    monkeypatch.setattr(M, "MAX_LATTICE_STEPS", 1000)
    gold = M.parse_m2(GOLD17 + "\nS He go home .\nA 1 2|||Vt|||goes|||REQUIRED|||-NONE-|||0\n")
    scorer = M.M2Scorer(gold)
    with caplog.at_level(logging.WARNING, logger="writing_alpaca.score.m2"):
        r = scorer.score([_unrelated(20), "He goes home ."], "sys.txt")
    assert scorer.bounded_sentences == [1] and r["bounded_sentences"] == [1]
    assert (r["tp"], r["fp"], r["fn"]) == (1, 1, 2)
    msgs = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert len(msgs) == 1 and msgs[0].startswith("sys.txt: sentence 1: the M2 edit lattice is over its budget")


@pytest.mark.real_data
def test_costliest_real_sentence_is_scored_exactly():
    """seeda_BART sentence 333 (227 -> 95 tokens) is the costliest of the 54 CoNLL-14 outputs:
    it must stay within the budget, so its counts are M2Scorer's."""
    gold = M.read_m2(sysout("conll14", "refs", "official-2014.combined.m2"))[332]
    hyp = read_lines(sysout("conll14", "seeda_BART.txt"))[332]
    stats, reason = M.bounded_sentence_stats(gold.source, hyp, gold.annotators)
    assert reason is None
    assert stats == {0: (5, 14, 31), 1: (4, 13, 31)}


_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))
    from writing_alpaca import cli
    rc = cli.main(["score", "m2", "--hyp", sys.argv[1], "--m2", sys.argv[2]])
    print(json.dumps({"rc": rc, "torch": "torch" in sys.modules,
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), file=sys.stderr)
    """
)


def test_20k_token_line_finishes_under_memory_limit(tmp_path):
    gold = tmp_path / "gold.m2"
    gold.write_text(GOLD17 + "\n" + GOLD17, encoding="utf-8")
    hyp = tmp_path / "hyp.txt"
    hyp.write_text(_unrelated(20000, 1) + "\n" + _unrelated(150, 2) + "\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(hyp), str(gold)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stderr.strip().splitlines()[-1])
    assert info["rc"] == 0 and not info["torch"]
    assert info["maxrss_mb"] < 1500
    assert f"{hyp}: sentence 1: the M2 edit lattice is over its budget" in proc.stderr
    assert f"{hyp}: sentence 2: the M2 edit lattice is over its budget" in proc.stderr
    result = json.loads(proc.stdout)
    # fallback: one proposed edit per sentence, neither correct; both gold edits missed twice
    assert (result["tp"], result["fp"], result["fn"]) == (0, 2, 4)
    assert result["bounded_sentences"] == [1, 2]


# --------------------------------------------------------------------------- 2. BOM


def test_bom_in_m2_hypothesis_and_gold_does_not_change_the_score(tmp_path, caplog):
    gold_text = "S This are a test .\nA 1 2|||SVA|||is|||REQUIRED|||-NONE-|||0\n\nS I like cat .\nA 2 3|||Nn|||cats|||REQUIRED|||-NONE-|||0\n"
    hyp_text = "This is a test .\nI like cats .\n"
    for name, text in (
        ("g.m2", gold_text),
        ("h.txt", hyp_text),
        ("gb.m2", BOM + gold_text),
        ("hb.txt", BOM + hyp_text),
    ):
        (tmp_path / name).write_text(text, encoding="utf-8")
    plain = M.M2Scorer(M.read_m2(tmp_path / "g.m2")).score(read_lines_checked(tmp_path / "h.txt"))
    with caplog.at_level(logging.WARNING):
        bom = M.M2Scorer(M.read_m2(tmp_path / "gb.m2")).score(read_lines_checked(tmp_path / "hb.txt"))
    assert plain == bom and plain["tp"] == 2
    text = caplog.text
    assert (
        "gb.m2: starts with a UTF-8 byte order mark" in text and "hb.txt: starts with a UTF-8 byte order mark" in text
    )


def test_bom_via_cli_m2(tmp_path, capsys):
    (tmp_path / "g.m2").write_text(GOLD17, encoding="utf-8")
    (tmp_path / "h.txt").write_text(BOM + "This is an example sentence\n", encoding="utf-8")
    (tmp_path / "h0.txt").write_text("This is an example sentence\n", encoding="utf-8")
    assert cli.main(["score", "m2", "--hyp", str(tmp_path / "h.txt"), "--m2", str(tmp_path / "g.m2")]) == 0
    with_bom = json.loads(capsys.readouterr().out)
    assert cli.main(["score", "m2", "--hyp", str(tmp_path / "h0.txt"), "--m2", str(tmp_path / "g.m2")]) == 0
    assert json.loads(capsys.readouterr().out) == with_bom


@pytest.mark.real_data
def test_bom_in_errant_gold(tmp_path):
    text = read_lines(sysout("bea19dev", "refs", "ABCN.dev.gold.bea19.m2"))[:40]
    body = "\n".join(text) + "\n"
    (tmp_path / "g.m2").write_text(body, encoding="utf-8")
    (tmp_path / "gb.m2").write_text(BOM + body, encoding="utf-8")
    a, b = ErrantScorer(tmp_path / "g.m2"), ErrantScorer(tmp_path / "gb.m2")
    assert a.sources == b.sources and a.ref_edits == b.ref_edits


@pytest.mark.real_data
@pytest.mark.parametrize("which", [0, 1, 2])
def test_bom_in_gleu_and_sari_files(tmp_path, which):
    d = sysout("jfleg-test")
    names = [d / "refs" / "test.src", d / "jd18_transformer-ens.txt", d / "refs" / "test.ref0"]
    n = 60
    plain, bom = [], []
    for k, path in enumerate(names):
        lines = read_lines(path)[:n]
        p = tmp_path / f"{k}.txt"
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        q = tmp_path / f"{k}b.txt"
        q.write_text((BOM if k == which else "") + "\n".join(lines) + "\n", encoding="utf-8")
        plain.append(p)
        bom.append(q)
    assert gleu_files(plain[0], plain[1], plain[2:]) == gleu_files(bom[0], bom[1], bom[2:])
    assert sari_files(plain[0], plain[1], plain[2:]) == sari_files(bom[0], bom[1], bom[2:])


# --------------------------------------------------------------------------- 3. malformed gold M2

MALFORMED = {
    "start_after_end": ("S a b c\nA 2 1|||X|||y|||REQUIRED|||-NONE-|||0\n", 2, "start 2 is after end 1"),
    "outside": ("S a b c\nA 2 4|||X|||y|||REQUIRED|||-NONE-|||0\n", 2, "lie outside the sentence (3 tokens)"),
    "negative": ("S a b c\nA -1 1|||X|||y|||REQUIRED|||-NONE-|||0\n", 2, "negative token offset"),
    "two_s_lines": ("S a b c\nS d e\nA 0 1|||X|||y|||REQUIRED|||-NONE-|||0\n", 2, "a second 'S ' line"),
    "stray_line": ("S a b c\nA 0 1|||X|||y|||REQUIRED|||-NONE-|||0\nB 1 2|||X|||y\n", 3, "expected an 'A ' edit line"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("reader", ["m2", "errant"])
def test_malformed_gold_m2_is_refused(tmp_path, case, reader):
    text, lineno, message = MALFORMED[case]
    path = tmp_path / "bad.m2"
    path.write_text("S fine .\n\n" + text, encoding="utf-8")
    with pytest.raises(WritingAlpacaError) as info:
        if reader == "m2":
            M.read_m2(path)
        else:
            ErrantScorer(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{lineno + 2}: malformed M2"), msg
    assert message in msg


def test_noop_edits_are_still_accepted():
    text = "S a b\nA -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||1\nA 0 1|||X|||c|||REQUIRED|||-NONE-|||0\n"
    assert M.parse_m2(text)[0].annotators == {0: [(0, 1, "a", ["c"])], 1: []}
    assert parse_reference_m2(text)[1][0][0][:2] == [-1, -1]


# --------------------------------------------------------------------------- 4. empty corpus


def _cli(argv: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "writing_alpaca", "score", *argv], capture_output=True, text=True, env=env, timeout=120
    )


def _empty_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    empty_m2 = tmp_path / "empty.m2"
    empty_m2.write_text("\n", encoding="utf-8")
    gold = tmp_path / "g.m2"
    gold.write_text(GOLD17, encoding="utf-8")
    data = tmp_path / "empty.jsonl"
    data.write_text("", encoding="utf-8")
    e, g, em, dj = str(empty), str(gold), str(empty_m2), str(data)
    return {
        "m2_empty_hyp": (["m2", "--hyp", e, "--m2", g], e),
        "m2_empty_gold": (["m2", "--hyp", e, "--m2", em], em),
        "errant_empty_hyp": (["errant", "--hyp", e, "--m2", g], e),
        "errant_empty_gold": (["errant", "--hyp", e, "--m2", em], em),
        "gleu_empty": (["gleu", "--src", e, "--hyp", e, "--refs", e], e),
        "sari_empty": (["sari", "--src", e, "--hyp", e, "--refs", e], e),
        "dataset_empty": (
            ["dataset", "--data", dj, "--hyp", e, "--metric", "sari", "--out", str(tmp_path / "o.json")],
            dj,
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "m2_empty_hyp",
        "m2_empty_gold",
        "errant_empty_hyp",
        "errant_empty_gold",
        "gleu_empty",
        "sari_empty",
        "dataset_empty",
    ],
)
def test_empty_corpus_is_refused_by_the_cli(tmp_path, case):
    argv, named = _empty_cases(tmp_path)[case]
    proc = _cli(argv)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"writing-alpaca: error: {named}: ")
    assert "empty" in lines[0] or "no sentences" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_empty_corpus_is_refused_by_the_api():
    from writing_alpaca.score import gleu_corpus, sari_corpus

    with pytest.raises(WritingAlpacaError, match="empty corpus"):
        gleu_corpus([], [], [[]])
    with pytest.raises(WritingAlpacaError, match="empty corpus"):
        sari_corpus([], [], [[]])
    with pytest.raises(WritingAlpacaError, match="empty"):
        M.M2Scorer(M.parse_m2(GOLD17)).score([], "h.txt")


# --------------------------------------------------------------------------- 5. disk full


def test_disk_full_when_writing_the_score_file(tmp_path, monkeypatch, capsys):
    import writing_alpaca.score as score_mod

    data = tmp_path / "t.jsonl"
    write_jsonl(data, [{"id": "1", "source": "a b c .", "references": ["a b d ."]}])
    hyp = tmp_path / "h.txt"
    hyp.write_text("a b d .\n", encoding="utf-8")
    out = tmp_path / "score.json"

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(score_mod, "write_json", full)
    rc = cli.main(["score", "dataset", "--data", str(data), "--hyp", str(hyp), "--metric", "sari", "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"writing-alpaca: error: {out}: cannot write the score file: disk full (no space left on device)"]
    assert not out.exists()
