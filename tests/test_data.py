"""Tests for writing_alpaca.data: real-data counts, hand-checked parser cases, bad input, demo data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from _data_fixtures import DEMO, DEMO_TEST_SETS, DEMO_TRAIN_SETS
from conftest import SHARED_DATA
from writing_alpaca import data
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.io import read_jsonl

SHARED = SHARED_DATA  # tests reading it are marked real_data


def shared(*parts: str) -> Path:
    """A path under shared/data; fails loudly (never skips) when the real data is missing."""
    assert SHARED.is_dir(), f"real data folder {SHARED} is missing: these tests need it"
    return SHARED.joinpath(*parts)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_records(name: str, spec: dict[str, Any], raw: Path, seed: int = 42) -> list[dict[str, Any]]:
    return data.build_test_records(name, spec, raw, seed)[0]


test_records.__test__ = False  # a helper, not a test


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    data.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


# --------------------------------------------------------------------------- real data: paper counts


@pytest.mark.real_data
def test_conll14_real_1312_two_annotators():
    spec = {"task": "grammar", "format": "m2", "path": "official-2014.combined.m2", "size": 1312}
    recs = test_records("conll14", spec, shared("conll2014"))
    assert len(recs) == 1312
    assert all(len(r["references"]) == 2 for r in recs)
    sentences = data.read_annotated_m2(shared("conll2014", "official-2014.combined.m2"))
    assert sorted({a for s in sentences for a in s.annotators}) == [0, 1]
    # Hand-checked: sentence 3 has one edit by annotator 0 ("A 3 4|||ArtOrDet|||" deletes "more")
    # and no line from annotator 1.
    assert recs[2]["source"] == "Genetic risk refers more to your chance of inheriting a disorder or disease ."
    assert recs[2]["references"] == [
        "Genetic risk refers to your chance of inheriting a disorder or disease .",
        "Genetic risk refers more to your chance of inheriting a disorder or disease .",
    ]
    # sentence 4: "A 3 4|||Nn|||diseases|||" by annotator 0
    assert recs[3]["references"][0] == "People get certain diseases because of genetic changes ."
    assert [r["id"] for r in recs[:2]] == ["conll14-000001", "conll14-000002"]
    assert all(r["detokenized"] is False and r["task"] == "grammar" and r["dataset"] == "conll14" for r in recs)


@pytest.mark.real_data
def test_bea19_dev_real_4384_and_m2_copy(tmp_path):
    spec = {
        "title": "BEA-19",
        "task": "grammar",
        "source": "wi_locness",
        "format": "m2",
        "metric": "errant",
        "path": "m2/ABCN.dev.gold.bea19.m2",
        "size": 4384,
    }
    out, m2 = tmp_path / "bea19_dev.jsonl", tmp_path / "bea19_dev.m2"
    rc = run_cli(
        [
            "data",
            "test",
            "--name",
            "bea19_dev",
            "--spec",
            json.dumps(spec),
            "--raw",
            str(shared("bea2019_wi_locness")),
            "--seed",
            "1",
            "--out",
            str(out),
            "--m2-out",
            str(m2),
        ]
    )
    assert rc == 0
    recs = read_jsonl(out)
    assert len(recs) == 4384 and all(len(r["references"]) == 1 for r in recs)
    assert m2.read_bytes() == shared("bea2019_wi_locness", "m2", "ABCN.dev.gold.bea19.m2").read_bytes()
    assert sum(r["source"] != r["references"][0] for r in recs) > 2000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bea19_dev.jsonl", "bea19_dev.m2"]  # no temp files left


@pytest.mark.real_data
def test_jfleg_real_747_by_4_detokenized():
    spec = {
        "task": "fluency",
        "format": "parallel",
        "src": "test/test.src",
        "refs": [f"test/test.ref{i}" for i in range(4)],
        "detokenize": True,
        "size": 747,
    }
    recs = test_records("jfleg", spec, shared("jfleg"))
    assert len(recs) == 747 and all(len(r["references"]) == 4 for r in recs)
    assert recs[0]["source"] == "New and new technology has been introduced to the society."
    assert all(r["detokenized"] is True for r in recs)
    assert not any(" ." in r["source"][-2:] for r in recs)
    raw = test_records("jfleg", {**spec, "detokenize": False}, shared("jfleg"))
    assert raw[0]["source"] == "New and new technology has been introduced to the society ."


@pytest.mark.real_data
@pytest.mark.parametrize("label,expected", [("fluency", 88), ("clarity", 185), ("coherence", 35)])
def test_iterater_real_counts(label, expected):
    spec = {"task": label, "format": "iterater", "path": "human_sent_level/test.json", "label": label, "size": expected}
    recs = test_records(f"itr_{label[0]}", spec, shared("iterater"))
    assert len(recs) == expected
    assert all(len(r["references"]) == 1 and r["references"][0] for r in recs)
    assert all(r["source"] == r["source"].strip() for r in recs)


@pytest.mark.real_data
def test_turkcorpus_real_359_by_8_and_asset_359_by_10():
    turk = test_records(
        "turk",
        {
            "task": "simplification",
            "format": "parallel",
            "src": "GEM/test.8turkers.tok.norm",
            "refs": [f"GEM/test.8turkers.tok.turk.{i}" for i in range(8)],
            "detokenize": True,
            "size": 359,
        },
        shared("turkcorpus"),
    )
    asset = test_records(
        "asset",
        {
            "task": "simplification",
            "format": "parallel",
            "src": "asset.test.orig",
            "refs": [f"asset.test.simp.{i}" for i in range(10)],
            "size": 359,
        },
        shared("asset"),
    )
    assert len(turk) == 359 and {len(r["references"]) for r in turk} == {8}
    assert len(asset) == 359 and {len(r["references"]) for r in asset} == {10}
    # ASSET has no final newline: the last line is still an item.
    last = shared("asset", "asset.test.orig").read_text(encoding="utf-8").split("\n")[-1]
    assert last and asset[-1]["source"] == last
    # Same sources: the detokenised TurkCorpus line equals the (detokenised) ASSET line for most items.
    assert sum(t["source"] == a["source"] for t, a in zip(turk, asset)) > 300


@pytest.mark.real_data
def test_stsb_real_97():
    recs = test_records(
        "sts", {"task": "paraphrase", "format": "stsb", "path": "stsb-en-test.csv", "size": 97}, shared("stsb")
    )
    assert len(recs) == 97
    assert recs[0]["source"] == "One woman is measuring another woman's ankle."
    assert recs[0]["references"] == ["A woman measures another woman's ankle."]


@pytest.mark.real_data
def test_wnc_real_test_file_is_absent_so_partial_sample_and_demo_are_parsed():
    # The official biased.word.test was not obtainable (shared/data/SOURCES.md: NOT FOUND).
    assert not list(shared().rglob("biased.word.test")), "biased.word.test appeared: add a real-count test (1,000)"
    sample = shared("wnc", "sample_neutralizing-bias_baselines")
    assert sample.is_dir()
    recs = test_records(
        "wnc_sample",
        {"task": "neutralization", "format": "parallel", "src": "pre.test", "refs": ["post.test"], "size": 100},
        sample,
    )
    assert len(recs) == 100 and recs[0]["source"].startswith("the ' defector ' oleg kalugin")
    train = data.build_train_records(
        "wnc_sample_train",
        {"task": "neutralization", "format": "parallel", "src": "pre.train", "tgt": "post.train", "n": None},
        sample,
        42,
    )
    assert len(train) == 1000
    demo = test_records(
        "wnc",
        {"task": "neutralization", "format": "wnc", "path": "bias_data/WNC/biased.word.test", "size": 36},
        DEMO / "wnc",
    )
    assert len(demo) == 36 and all(r["source"] != r["references"][0] for r in demo)


@pytest.mark.real_data
def test_wi_train_real_keeps_unchanged_sentences():
    recs = data.build_train_records(
        "wi_a",
        {"task": "grammar", "format": "m2", "paths": ["m2/A.train.gold.bea19.m2"], "n": None},
        shared("bea2019_wi_locness"),
        42,
    )
    assert len(recs) == 10493
    unchanged = sum(r["source"] == r["target"] for r in recs)
    assert 0 < unchanged < len(recs)


@pytest.mark.real_data
def test_wikilarge_real_stand_in_unescaped():
    spec = {
        "task": "simplification",
        "format": "parallel",
        "src": "wiki.full.aner.ori.valid.src",
        "tgt": "wiki.full.aner.ori.valid.dst",
        "repair": "mojibake",
        "unescape_ptb": True,
        "n": 100,
    }
    recs = data.build_train_records("wikilarge", spec, shared("wikilarge"), 42)
    assert len(recs) == 100
    assert not any("-LRB-" in r["source"] or "-RRB-" in r["source"] for r in recs)
    full = data.build_train_records("wikilarge", {**spec, "n": None}, shared("wikilarge"), 42)
    assert len(full) == 992 and full[0]["source"].startswith("Upper Sorbian")
    assert "( Hornja" in full[0]["source"]


@pytest.mark.real_data
def test_iterater_real_train_stand_in():
    rows = [
        json.loads(line)
        for line in shared("iterater", "human_sent_level", "train.json").read_text(encoding="utf-8").splitlines()
    ]
    for label, raw_rows in (("fluency", 739), ("clarity", 1258), ("coherence", 311)):  # PROVENANCE.md counts
        assert sum(r["labels"] == label for r in rows) == raw_rows
        deletions = sum(r["labels"] == label and not r["after_sent"].strip() for r in rows)
        recs = data.build_train_records(
            f"itr_{label}",
            {"task": label, "format": "iterater", "path": "human_sent_level/train.json", "label": label, "n": None},
            shared("iterater"),
            42,
        )
        assert len(recs) == raw_rows - deletions  # the filter drops exactly the whole-sentence deletions


# --------------------------------------------------------------------------- M2: hand-checked cases

M2_TEXT = """S The cat sit on mat .
A 2 3|||SVA|||sits|||REQUIRED|||-NONE-|||0
A 4 4|||ArtOrDet|||the|||REQUIRED|||-NONE-|||0
A 2 3|||Vt|||sat||was sitting|||REQUIRED|||-NONE-|||2
A 4 4|||ArtOrDet|||a|||REQUIRED|||-NONE-|||2

S It is very very good .
A 2 3|||Rloc-|||-NONE-|||REQUIRED|||-NONE-|||0
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||2

S No edits at all .

S Big house are nice .
A 0 1|||ArtOrDet|||The big||||REQUIRED|||-NONE-|||0
A 2 3|||SVA||||||REQUIRED|||-NONE-|||2
"""


def test_m2_parse_and_apply_hand_checked(tmp_path):
    path = write(tmp_path / "x.m2", M2_TEXT)
    sents = data.read_annotated_m2(path)
    assert [s.source for s in sents] == [
        "The cat sit on mat .",
        "It is very very good .",
        "No edits at all .",
        "Big house are nice .",
    ]
    assert sents[0].annotators == [0, 2]
    assert sents[0].corrected(0) == "The cat sits on the mat ."
    assert sents[0].corrected(2) == "The cat sat on a mat ."  # first alternative of "sat||was sitting"
    assert sents[1].corrected(0) == "It is very good ."  # -NONE- deletes
    assert sents[1].corrected(2) == "It is very very good ."  # noop
    assert (
        sents[3].corrected(0) == "The big house are nice ."
    )  # multi-token replacement ("The big" + empty alternative)
    assert sents[3].corrected(2) == "Big house nice ."  # empty correction deletes
    recs = test_records("t", {"task": "grammar", "format": "m2", "path": "x.m2", "size": 4}, tmp_path)
    # one reference per annotator id in the file (0 and 2); absent annotator -> unchanged sentence
    assert recs[2]["references"] == ["No edits at all .", "No edits at all ."]
    assert recs[0]["references"] == ["The cat sits on the mat .", "The cat sat on a mat ."]
    train = data.build_train_records("g", {"task": "grammar", "format": "m2", "path": "x.m2"}, tmp_path, 1)
    assert [r["target"] for r in train] == [
        "The cat sits on the mat .",
        "It is very good .",
        "No edits at all .",
        "The big house are nice .",
    ]


def test_m2_train_uses_lowest_annotator_when_0_is_absent(tmp_path):
    write(tmp_path / "a.m2", "S a b c\nA 1 2|||X|||B|||REQUIRED|||-NONE-|||3\nA 0 1|||X|||Z|||REQUIRED|||-NONE-|||5\n")
    write(tmp_path / "b.m2", "S d e\nA 0 1|||X|||D|||REQUIRED|||-NONE-|||0\n")
    recs = data.build_train_records("g", {"task": "grammar", "format": "m2", "paths": ["a.m2", "b.m2"]}, tmp_path, 1)
    assert [(r["source"], r["target"]) for r in recs] == [("a b c", "a B c"), ("d e", "D e")]


def test_copy_m2_normalises_newlines(tmp_path):
    src = write(tmp_path / "in.m2", b"S a b\r\nA 0 1|||X|||c|||REQUIRED|||-NONE-|||0")
    data.copy_m2(src, tmp_path / "out.m2")
    assert (tmp_path / "out.m2").read_bytes() == b"S a b\nA 0 1|||X|||c|||REQUIRED|||-NONE-|||0\n"


@pytest.mark.parametrize(
    "text,line,fragment",
    [
        ("A 0 1|||X|||y|||REQUIRED|||-NONE-|||0\n", 1, "outside a sentence block"),
        ("S a b\nA 0 1|||X|||y|||REQUIRED|||-NONE-\n", 2, "6 '|||'-separated fields"),
        ("S a b\nA 0 5|||X|||y|||REQUIRED|||-NONE-|||0\n", 2, "outside the sentence"),
        ("S a b\nA x 1|||X|||y|||REQUIRED|||-NONE-|||0\n", 2, "must be integers"),
        ("S a b\nA 0|||X|||y|||REQUIRED|||-NONE-|||0\n", 2, "expected 'start end'"),
        ("S a b c\nA 0 2|||X|||y|||REQUIRED|||-NONE-|||0\nA 1 3|||X|||z|||REQUIRED|||-NONE-|||0\n", 3, "overlaps"),
        ("S a b\n\nS \n", 3, "empty source"),
        ("S a b\nS c d\n", 2, "without a blank line"),
        ("S a b\nB 0 1\n", 2, "malformed M2 line"),
        ("\n\n", None, "no sentences"),
    ],
)
def test_m2_errors(tmp_path, text, line, fragment):
    write(tmp_path / "bad.m2", text)
    with pytest.raises(WritingAlpacaError) as err:
        test_records("t", {"task": "grammar", "format": "m2", "path": "bad.m2"}, tmp_path)
    where = f"bad.m2:{line}:" if line else "bad.m2:"
    assert where in str(err.value) and fragment in str(err.value)


def test_m2_detokenize_needs_postprocess(tmp_path):
    write(tmp_path / "x.m2", M2_TEXT)
    spec = {"task": "grammar", "format": "m2", "path": "x.m2", "detokenize": True}
    with pytest.raises(WritingAlpacaError, match="needs 'postprocess' .*gold M2 is tokenised"):
        test_records("t", spec, tmp_path)
    with pytest.raises(WritingAlpacaError, match="'tokenized: false'"):
        test_records("t", {**spec, "postprocess": "nltk"}, tmp_path)
    with pytest.raises(WritingAlpacaError, match="postprocess' must be one of nltk, ptb, spacy"):
        test_records("t", {**spec, "postprocess": "moses", "tokenized": True}, tmp_path)
    recs = test_records("t", {**spec, "postprocess": "nltk", "tokenized": True}, tmp_path)
    # the model sees natural text; the scorer's side stays as the gold M2 has it
    for rec in recs:
        assert rec["gold_source"].split() == rec["gold_source"].split(" ")
        assert " ." not in rec["source"] and rec["gold_source"].endswith(" .")


@pytest.mark.real_data
def test_jfleg_gold_side_stays_tokenised():
    spec = {
        "task": "fluency",
        "format": "parallel",
        "src": "test/test.src",
        "refs": [f"test/test.ref{i}" for i in range(4)],
        "detokenize": True,
        "tokenized": True,
        "postprocess": "ptb",
        "size": 747,
    }
    recs = test_records("jfleg", spec, shared("jfleg"))
    assert recs[0]["source"] == "New and new technology has been introduced to the society."
    assert recs[0]["gold_source"] == "New and new technology has been introduced to the society ."
    src = (shared("jfleg") / "test" / "test.src").read_text(encoding="utf-8").splitlines()
    ref0 = (shared("jfleg") / "test" / "test.ref0").read_text(encoding="utf-8").splitlines()
    assert [r["gold_source"] for r in recs] == [s.strip() for s in src]
    assert [r["gold_references"][0] for r in recs] == [s.strip() for s in ref0]
    # without post-processing the scorer sees what the model sees: no second copy
    plain = test_records("jfleg", {**spec, "postprocess": None}, shared("jfleg"))
    assert "gold_source" not in plain[0]


# --------------------------------------------------------------------------- parallel


def test_parallel_hand_checked(tmp_path):
    write(tmp_path / "s", "He do n't know -LRB- why -RRB- .\r\nShe said `` hi '' .")  # CRLF, no final newline
    write(tmp_path / "r0", "He does n't know why .\nShe said `` hello '' .\n")
    write(tmp_path / "r1", "He does not know why .\nShe said hi .\n")
    spec = {"task": "fluency", "format": "parallel", "src": "s", "refs": ["r0", "r1"], "detokenize": True, "size": 2}
    recs = test_records("p", spec, tmp_path)
    assert recs == [
        {
            "id": "p-000001",
            "dataset": "p",
            "task": "fluency",
            "source": "He don't know (why).",
            "references": ["He doesn't know why.", "He does not know why."],
            "detokenized": True,
        },
        {
            "id": "p-000002",
            "dataset": "p",
            "task": "fluency",
            "source": 'She said "hi".',
            "references": ['She said "hello".', "She said hi."],
            "detokenized": True,
        },
    ]
    train = data.build_train_records(
        "pt", {"task": "fluency", "format": "parallel", "src": "s", "refs": ["r1", "r0"]}, tmp_path, 3
    )
    assert [r["target"] for r in train] == ["He does not know why .", "She said hi ."]  # first of refs is the target


def test_parallel_errors(tmp_path):
    write(tmp_path / "s", "a\nb\nc\n")
    write(tmp_path / "short", "a\nb\n")
    write(tmp_path / "gap", "a\n\nc\n")
    write(tmp_path / "bad", b"a\nb\xff\nc\n")
    spec = {"task": "fluency", "format": "parallel", "src": "s"}
    with pytest.raises(WritingAlpacaError, match=r"short:3: has 2 lines but .*s has 3"):
        test_records("p", {**spec, "refs": ["short"]}, tmp_path)
    with pytest.raises(WritingAlpacaError, match=r"gap:2: empty line"):
        test_records("p", {**spec, "refs": ["gap"]}, tmp_path)
    with pytest.raises(WritingAlpacaError, match=r"bad:2: not valid utf-8"):
        test_records("p", {**spec, "refs": ["bad"]}, tmp_path)
    with pytest.raises(WritingAlpacaError, match=r"expected 4 test items \(spec 'size'\), found 3"):
        test_records("p", {**spec, "refs": ["s"], "size": 4}, tmp_path)
    with pytest.raises(WritingAlpacaError, match="missing: file not found"):
        test_records("p", {**spec, "refs": ["missing"]}, tmp_path)
    with pytest.raises(WritingAlpacaError, match="spec needs 'refs'"):
        test_records("p", spec, tmp_path)
    with pytest.raises(WritingAlpacaError, match="unknown test-set format 'xml'"):
        test_records("p", {**spec, "format": "xml"}, tmp_path)
    with pytest.raises(WritingAlpacaError, match="'repair' must be 'mojibake'"):
        test_records("p", {**spec, "refs": ["s"], "repair": "latin1"}, tmp_path)


def test_empty_source_after_normalisation_is_an_error(tmp_path):
    write(tmp_path / "s", "a\n \n")
    write(tmp_path / "t", "a\nb\n")
    with pytest.raises(WritingAlpacaError, match=r"s:2: empty line"):
        data.build_train_records("p", {"task": "fluency", "format": "parallel", "src": "s", "tgt": "t"}, tmp_path, 1)


# --------------------------------------------------------------------------- text normalisation


def test_repair_mojibake_and_unescape():
    double = "Café in Zürich costs €3 — naïve".encode().decode("cp1252")
    assert double == "CafÃ© in ZÃ¼rich costs â‚¬3 â€” naÃ¯ve"
    assert data.repair_mojibake(double) == "Café in Zürich costs €3 — naïve"
    for clean in (
        "Höß and é stay",
        "plain ASCII",
        "DelÃ mont",
    ):  # clean text, and lossy upstream mojibake, stay as they are
        assert data.repair_mojibake(clean) == clean
    assert data.unescape_ptb(r"a -LRB- b -RRB- -LSB- c -RSB- 3\/4 \*") == "a ( b ) [ c ] 3/4 *"


def test_detokenize_cases():
    assert data.detokenize("It 's the students ' books : 5 % of them ?") == "It's the students' books: 5% of them?"
    assert data.detokenize("We ca n't , they wo n't .") == "We can't, they won't."
    assert data.detokenize("Already detokenised, isn't it?") == "Already detokenised, isn't it?"


# --------------------------------------------------------------------------- iterater / stsb / wnc / tsv / alpaca


def test_iterater_filter_and_v2_markers(tmp_path):
    rows = [
        {"before_sent": " a b", "after_sent": " a c", "labels": "fluency"},
        {"before_sent": "gone", "after_sent": " ", "labels": "fluency"},  # deletion: filtered (len 1)
        {"before_sent": "x", "after_sent": "y y", "labels": "clarity"},
        {
            "before_sent": "<fluency> One. <S> Two is . </S> Three.",
            "after_sent": "One. <S> Two is. </S> Three.",
            "labels": "fluency",
        },
    ]
    write(tmp_path / "t.json", "\n".join(json.dumps(r) for r in rows) + "\n")
    recs = test_records(
        "itr", {"task": "fluency", "format": "iterater", "path": "t.json", "label": "fluency", "size": 2}, tmp_path
    )
    assert [(r["source"], r["references"]) for r in recs] == [("a b", ["a c"]), ("Two is .", ["Two is."])]
    assert data.strip_iterater_markers("<clarity>  Plain sentence.") == "Plain sentence."
    write(tmp_path / "arr.json", json.dumps(rows))  # a JSON array works too
    assert (
        len(
            test_records(
                "itr", {"task": "fluency", "format": "iterater", "path": "arr.json", "label": "fluency"}, tmp_path
            )
        )
        == 2
    )
    write(tmp_path / "bad.json", json.dumps(rows[0]) + "\n{oops\n")
    with pytest.raises(WritingAlpacaError, match=r"bad.json:2: invalid JSON"):
        test_records("itr", {"task": "fluency", "format": "iterater", "path": "bad.json", "label": "fluency"}, tmp_path)
    write(tmp_path / "nofield.json", json.dumps({"before_sent": "a", "labels": "fluency"}) + "\n")
    with pytest.raises(WritingAlpacaError, match=r"nofield.json:1: IteraTeR row has no 'after_sent'"):
        test_records(
            "itr", {"task": "fluency", "format": "iterater", "path": "nofield.json", "label": "fluency"}, tmp_path
        )


def test_stsb_hand_checked_and_errors(tmp_path):
    write(tmp_path / "s.csv", 'sentence1,sentence2,similarity_score\r\n"A, b.",A b.,5.0\r\nC.,D.,4.8\r\nE.,F.,5\r\n')
    recs = test_records("sts", {"task": "paraphrase", "format": "stsb", "path": "s.csv", "size": 2}, tmp_path)
    assert [(r["source"], r["references"]) for r in recs] == [("A, b.", ["A b."]), ("E.", ["F."])]
    write(tmp_path / "cols.csv", "a,b,5.0\r\nc,d\r\n")
    with pytest.raises(WritingAlpacaError, match=r"cols.csv:2: STS-B CSV row has 2 columns"):
        test_records("sts", {"task": "paraphrase", "format": "stsb", "path": "cols.csv"}, tmp_path)
    write(tmp_path / "score.csv", "a,b,5.0\nc,d,high\n")
    with pytest.raises(WritingAlpacaError, match=r"score.csv:2: STS-B similarity score 'high' is not a number"):
        test_records("sts", {"task": "paraphrase", "format": "stsb", "path": "score.csv"}, tmp_path)


def test_wnc_columns_and_seeded_sample(tmp_path):
    rows = [f"{i}\tsrc {i}\ttgt {i}\tSrc {i}.\tTgt {i}.\tNN CD\tnsubj ROOT" for i in range(20)]
    write(tmp_path / "w.tsv", "\n".join(rows) + "\n")
    spec = {"task": "neutralization", "format": "wnc", "path": "w.tsv", "sample": 5, "size": 5}
    a = test_records("wnc", spec, tmp_path, seed=7)
    b = test_records("wnc", spec, tmp_path, seed=7)
    c = test_records("wnc", spec, tmp_path, seed=8)
    assert a == b and [r["source"] for r in a] != [r["source"] for r in c]
    expected = sorted(__import__("random").Random(7).sample(range(20), 5))
    assert [r["source"] for r in a] == [f"Src {i}." for i in expected]  # file order kept
    assert [r["id"] for r in a] == [f"wnc-{i:06d}" for i in range(1, 6)]
    assert a[0]["references"] == [f"Tgt {expected[0]}."]
    write(tmp_path / "bad.tsv", rows[0] + "\n" + "1\ta\tb\tc\n")
    with pytest.raises(
        WritingAlpacaError, match=r"bad.tsv:2: WNC TSV line has 4 tab-separated columns, expected 7 .* or 5"
    ):
        test_records("wnc", {"task": "neutralization", "format": "wnc", "path": "bad.tsv"}, tmp_path)
    write(tmp_path / "six.tsv", rows[0] + "\n" + rows[1].rsplit("\t", 1)[0] + "\n")
    with pytest.raises(WritingAlpacaError, match=r"six.tsv:2: WNC TSV line has 6 tab-separated columns"):
        test_records("wnc", {"task": "neutralization", "format": "wnc", "path": "six.tsv"}, tmp_path)


def test_wnc_reads_both_line_forms_as_the_authors_loader(tmp_path):
    # rpryzant/neutralizing-bias get_examples: 7 columns (with POS/parse tags) or 5 (without), line stripped first.
    seven = "11\tthe great man .\tthe man .\tThe great man.\tThe man.\tDT JJ NN .\tdet amod ROOT punct"
    five = "12\tshe bravely left .\tshe left .\tShe bravely left.\tShe left."
    write(tmp_path / "w.tsv", seven + "\n" + five + "  \r\n" + seven.replace("11", "13") + "\n")
    recs = test_records("wnc", {"task": "neutralization", "format": "wnc", "path": "w.tsv", "size": 3}, tmp_path)
    assert [(r["source"], r["references"]) for r in recs] == [
        ("The great man.", ["The man."]),
        ("She bravely left.", ["She left."]),
        ("The great man.", ["The man."]),
    ]
    train = data.build_train_records(
        "wnc_train", {"task": "neutralization", "format": "wnc", "path": "w.tsv", "n": None}, tmp_path, 42
    )
    assert [r["target"] for r in train] == ["The man.", "She left.", "The man."]


def test_seeded_sample_properties():
    assert data.seeded_sample(5, None, 1) == [0, 1, 2, 3, 4]
    assert data.seeded_sample(5, 9, 1) == [0, 1, 2, 3, 4]
    s = data.seeded_sample(100, 10, 3)
    assert len(s) == 10 == len(set(s)) and s == sorted(s)


def test_tsv_and_its_errors(tmp_path):
    write(tmp_path / "c.tsv", "I has a cat.\tI have a cat.\nFine.\tFine.\n")
    recs = data.build_train_records("clang8", {"task": "grammar", "format": "tsv", "path": "c.tsv"}, tmp_path, 1)
    assert recs == [
        {
            "id": "clang8-000001",
            "task": "grammar",
            "source": "I has a cat.",
            "target": "I have a cat.",
            "detokenized": False,
        },
        {"id": "clang8-000002", "task": "grammar", "source": "Fine.", "target": "Fine.", "detokenized": False},
    ]
    write(tmp_path / "three.tsv", "a\tb\tc\n")
    with pytest.raises(WritingAlpacaError, match=r"three.tsv:1: .* has 3 tab-separated columns, expected 2"):
        data.build_train_records("clang8", {"task": "grammar", "format": "tsv", "path": "three.tsv"}, tmp_path, 1)
    write(tmp_path / "empty.tsv", "a\tb\n \tc\n")
    with pytest.raises(WritingAlpacaError, match=r"empty.tsv:2: clang8: empty source"):
        data.build_train_records("clang8", {"task": "grammar", "format": "tsv", "path": "empty.tsv"}, tmp_path, 1)


def test_alpaca_array_jsonl_and_errors(tmp_path):
    items = [
        {"instruction": "Add.", "input": "1 2", "output": "3"},
        {"instruction": "Greet.", "output": "Hi."},
        {"instruction": "Nothing.", "input": "", "output": ""},
    ]
    write(tmp_path / "a.json", json.dumps(items, indent=4))
    write(tmp_path / "a.jsonl", "\n".join(json.dumps(i) for i in items) + "\n")
    spec = {"task": "generic", "format": "alpaca", "path": "a.json", "n": None}
    from_array = data.build_train_records("alpaca", spec, tmp_path, 1)
    from_lines = data.build_train_records("alpaca", {**spec, "path": "a.jsonl"}, tmp_path, 1)
    assert (
        from_array
        == from_lines
        == [
            {"id": "alpaca-000001", "task": "generic", "instruction": "Add.", "input": "1 2", "output": "3"},
            {"id": "alpaca-000002", "task": "generic", "instruction": "Greet.", "input": "", "output": "Hi."},
            {"id": "alpaca-000003", "task": "generic", "instruction": "Nothing.", "input": "", "output": ""},
        ]
    )  # missing input -> ""; an empty output is kept (Alpaca's 52,002; the target is EOS alone)
    write(tmp_path / "noinst.json", json.dumps([{"instruction": " ", "input": "", "output": "x"}]))
    with pytest.raises(WritingAlpacaError, match=r"item 0 \(0-based\) of the JSON array: empty 'instruction'"):
        data.build_train_records("alpaca", {**spec, "path": "noinst.json"}, tmp_path, 1)
    write(tmp_path / "type.jsonl", json.dumps({"instruction": "a", "output": 3}) + "\n")
    with pytest.raises(WritingAlpacaError, match=r"type.jsonl:1: 'output' must be a string"):
        data.build_train_records("alpaca", {**spec, "path": "type.jsonl"}, tmp_path, 1)
    write(tmp_path / "broken.json", '[{"instruction": "a",\n "output": }]')
    with pytest.raises(WritingAlpacaError, match=r"broken.json:2: invalid JSON"):
        data.build_train_records("alpaca", {**spec, "path": "broken.json"}, tmp_path, 1)
    with pytest.raises(WritingAlpacaError, match="format 'alpaca' goes with task 'generic'"):
        data.build_train_records("alpaca", {**spec, "task": "grammar"}, tmp_path, 1)


def test_train_sample_n_is_seeded_and_in_file_order(tmp_path):
    write(tmp_path / "s", "\n".join(f"s{i}" for i in range(50)) + "\n")
    write(tmp_path / "t", "\n".join(f"t{i}" for i in range(50)) + "\n")
    spec = {"task": "simplification", "format": "parallel", "src": "s", "tgt": "t", "n": 10}
    a = data.build_train_records("x", spec, tmp_path, 5)
    assert a == data.build_train_records("x", spec, tmp_path, 5)
    idx = [int(r["source"][1:]) for r in a]
    assert idx == sorted(__import__("random").Random(5).sample(range(50), 10))
    assert all(r["target"] == f"t{i}" for r, i in zip(a, idx))


# --------------------------------------------------------------------------- CLI


def test_cli_train_and_errors(tmp_path, capsys):
    write(tmp_path / "raw" / "c.tsv", "a b\tA b\n")
    out = tmp_path / "out" / "clang8.jsonl"
    spec = json.dumps({"task": "grammar", "source": "clang8", "format": "tsv", "path": "c.tsv"})
    assert (
        run_cli(
            [
                "data",
                "train",
                "--name",
                "clang8",
                "--spec",
                spec,
                "--raw",
                str(tmp_path / "raw"),
                "--seed",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert read_jsonl(out) == [
        {"id": "clang8-000001", "task": "grammar", "source": "a b", "target": "A b", "detokenized": False}
    ]
    write(tmp_path / "raw" / "w", "1\ta\tb\tc\td\te\tf\n")
    wnc_spec = json.dumps(
        {"title": "WNC", "task": "neutralization", "source": "wnc", "format": "wnc", "metric": "sari", "path": "w"}
    )
    with pytest.raises(WritingAlpacaError, match="not in M2 format"):
        run_cli(
            [
                "data",
                "test",
                "--name",
                "c",
                "--spec",
                wnc_spec,
                "--raw",
                str(tmp_path / "raw"),
                "--seed",
                "1",
                "--out",
                str(tmp_path / "x.jsonl"),
                "--m2-out",
                str(tmp_path / "x.m2"),
            ]
        )
    assert not (tmp_path / "x.jsonl").exists()
    with pytest.raises(WritingAlpacaError, match="raw source directory not found"):
        run_cli(
            [
                "data",
                "train",
                "--name",
                "c",
                "--spec",
                spec,
                "--raw",
                str(tmp_path / "nope"),
                "--seed",
                "1",
                "--out",
                str(out),
            ]
        )
    with pytest.raises(WritingAlpacaError, match="invalid JSON argument"):
        run_cli(
            [
                "data",
                "train",
                "--name",
                "c",
                "--spec",
                "{",
                "--raw",
                str(tmp_path / "raw"),
                "--seed",
                "1",
                "--out",
                str(out),
            ]
        )


# --------------------------------------------------------------------------- demo data


@pytest.mark.parametrize("name", sorted(DEMO_TEST_SETS))
def test_demo_test_sets_parse_with_declared_size(name):
    source, spec = DEMO_TEST_SETS[name]
    recs = test_records(name, spec, DEMO / source)
    assert len(recs) == spec["size"]
    assert all(r["source"] and r["references"] and all(r["references"]) for r in recs)
    assert len({r["id"] for r in recs}) == len(recs)
    changed = sum(any(ref != r["source"] for ref in r["references"]) for r in recs)
    assert changed >= 0.7 * len(recs)  # most items have a real edit


@pytest.mark.parametrize("name", sorted(DEMO_TRAIN_SETS))
def test_demo_train_sets_parse(name):
    source, spec, expected = DEMO_TRAIN_SETS[name]
    recs = data.build_train_records(name, spec, DEMO / source, 42)
    assert len(recs) == expected
    if spec["task"] != "generic":
        assert all(r["source"] and r["target"] for r in recs)


def test_demo_m2_edits_are_consistent():
    conll = data.read_annotated_m2(DEMO / "conll14/conll14st-test-data/noalt/official-2014.combined.m2")
    assert sorted({a for s in conll for a in s.annotators}) == [0, 1]
    assert any(not s.edits for s in conll) and any(e.is_noop for s in conll for e in s.edits)
    for s in conll:
        for a in s.annotators:
            corrected = s.corrected(a)
            real = [e for e in s.edits if e.annotator == a and not e.is_noop]
            assert (corrected != s.source) == bool(real)
    bea = data.read_annotated_m2(DEMO / "wi_locness/wi+locness/m2/ABCN.dev.gold.bea19.m2")
    types = {e.etype.split(":")[0] for s in bea for e in s.edits}
    assert types == {"M", "R", "U", "noop"}


def test_demo_layout_details():
    assert not (DEMO / "asset/asset.test.orig").read_bytes().endswith(b"\n")
    assert b"\r\n" in (DEMO / "stsb/stsb-en-test.csv").read_bytes()
    wiki = (DEMO / "wikilarge/data-simplification/wikilarge/wiki.full.aner.ori.train.src").read_text(encoding="utf-8")
    assert "ZÃ¼rich" in wiki and "-LRB-" in wiki
    repaired = data.build_train_records("wl", DEMO_TRAIN_SETS["wikilarge"][1], DEMO / "wikilarge", 1)
    assert any(
        "Zürich (German: Zürich)" in r["source"].replace(" ( German : ", " (German: ").replace(" ) ", ") ")
        for r in repaired
    )
    assert (DEMO / "README.md").is_file()
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total < 300_000, f"demo data is {total} bytes"
