"""Post-processing: from what a system answered to what each official scorer expects.

Unit cases by hand, idempotence on every gold line of CoNLL-14 and BEA-19 dev, and the real
published outputs of ../shared/data/sysout, detokenised with sacremoses and scored through
the CLI with ``--dataset`` as a user (and the workflow) would: each within 0.5 of its
official score, the median per set within 0.15, the tokenised files unchanged.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
from pathlib import Path

import pytest
import yaml
from sacremoses import MosesDetokenizer

from conftest import REPO, SHARED_DATA
from writing_alpaca import cli
from writing_alpaca.data import _m2_test_pairs
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.io import read_lines, write_jsonl, write_lines
from writing_alpaca.postprocess import (
    Postprocessor,
    dataset_postprocess,
    gold_lexicon,
    looks_tokenised,
    m2_postprocessor,
    to_gold_tokens,
)
from writing_alpaca.score import score_dataset
from writing_alpaca.score.m2 import M2Scorer, read_m2

SYSOUT = SHARED_DATA / "sysout"
CONLL_M2 = SYSOUT / "conll14" / "refs" / "official-2014.combined.m2"
BEA_M2 = SYSOUT / "bea19dev" / "refs" / "ABCN.dev.gold.bea19.m2"
JFLEG = SYSOUT / "jfleg-test"
JFLEG_GOLD = [
    "--src",
    str(JFLEG / "refs" / "test.src"),
    "--refs",
    *(str(JFLEG / "refs" / f"test.ref{k}") for k in range(4)),
]
DETOK = MosesDetokenizer("en")


def detokenise(lines: list[str]) -> list[str]:
    return [DETOK.detokenize(line.split()) for line in lines]


def run_score(*args: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["score", *map(str, args)]) == 0
    return json.loads(out.getvalue())


# --------------------------------------------------------------------------- by hand


@pytest.mark.parametrize(
    "tokenizer, source, answer, expected",
    [
        # contractions and clitics come back split as the gold has them
        ("nltk", "He do n't know .", "He doesn't know.", "He does n't know ."),
        ("nltk", "It 's John 's car .", "It's John's car.", "It 's John 's car ."),
        ("spacy", "I 'm sure they 've gone .", "I'm sure they've gone.", "I 'm sure they 've gone ."),
        ("nltk", "We ca n't stay .", "We can't stay.", "We ca n't stay ."),
        # hyphens and slashes: kept whole where the gold keeps them (NLTK), split where it splits (spaCy)
        (
            "nltk",
            "a face-to-face talk with his/her boss .",
            "a face-to-face talk with his/her boss.",
            "a face-to-face talk with his/her boss .",
        ),
        (
            "spacy",
            "a face - to - face talk with his / her boss .",
            "a face-to-face talk with his/her boss.",
            "a face - to - face talk with his / her boss .",
        ),
        ("spacy", "a well known man .", "a well-known man.", "a well - known man ."),
        ("nltk", "a well known man .", "a well-known man.", "a well-known man ."),
        # quotes: PTB quotes for JFLEG, the typed character for CoNLL-14
        ("ptb", "He said `` hello '' .", 'He said "hello".', "He said `` hello '' ."),
        ("ptb", "He said `` hello '' .", 'He said "hi".', "He said `` hi '' ."),
        ("nltk", 'He said " hello " .', 'He said "hi".', 'He said " hi " .'),
        # brackets, numbers, URLs
        ("nltk", "It costs $ 3,000 ( about 5 % ) .", "It costs $3,000 (about 5%).", "It costs $ 3,000 ( about 5 % ) ."),
        (
            "nltk",
            "See www.example.com/a-b for 3.5 % more .",
            "See www.example.com/a-b for 3.5% more.",
            "See www.example.com/a-b for 3.5 % more .",
        ),
        # a change next to punctuation: the changed span is tokenised, the rest keeps the source's
        ("nltk", "However I think so .", "However, I think so.", "However , I think so ."),
        ("spacy", "I has a apple , it is red .", "I have an apple; it is red!", "I have an apple ; it is red !"),
        ("nltk", "I went home He slept .", "I went home. He slept.", "I went home . He slept ."),
        # joins the system made on purpose stay joined; a space it put is a boundary
        ("nltk", "Every one came .", "Everyone came.", "Everyone came ."),
        ("nltk", "I cannot come .", "I can not come.", "I can not come ."),
        # a clitic-looking prefix of a changed word is not split off
        ("nltk", "I do n't like it .", "I donned it.", "I donned it ."),
        # a source token that the answer splits is tokenised anew
        ("spacy", "I like it.As a result , no .", "I like it. As a result, no.", "I like it . As a result , no ."),
    ],
)
def test_hand_made_cases(tokenizer, source, answer, expected):
    assert to_gold_tokens(answer, source, tokenizer) == expected
    # idempotent: the result, and text already in the gold's tokenisation, come out unchanged
    assert to_gold_tokens(expected, source, tokenizer) == expected
    assert to_gold_tokens(source, source, tokenizer) == source


def test_answer_normalisation():
    assert to_gold_tokens("\ufeff  He  doesn't\tknow. ", "He do n't know .", "nltk") == "He does n't know ."
    assert to_gold_tokens("", "He knows .", "nltk") == ""
    assert Postprocessor(None)(["  a  b ", "\ufeffc"]) == ["a b", "c"]


def test_gold_lexicon_keeps_the_golds_unsplit_tokens():
    gold = [
        "We cannot go , e.g. now .",
        "They cannot stay .",
        "I like transportation. it",
        "a transportation . b",
        "c transportation . d",
    ]
    lexicon = gold_lexicon(gold, "nltk")
    assert {"e.g.", "n't", "'s", "``"} <= lexicon
    assert "transportation." not in lexicon  # a slip of the gold's tokenizer: its split form is more common
    assert (
        to_gold_tokens("We can't go, e.g. now.", "We ca n't go e.g. now .", "nltk", lexicon)
        == "We ca n't go , e.g. now ."
    )


def test_file_level_form():
    assert looks_tokenised(["He does n't know .", "Fine , thanks ."])
    assert not looks_tokenised(["He doesn't know.", "Fine, thanks."])
    assert not looks_tokenised(["no punctuation at all"])
    pp = Postprocessor("nltk", ["He do n't know .", "Fine thanks ."])
    assert pp(["He does n't  know .", "Fine , thanks ."]) == ["He does n't know .", "Fine , thanks ."]
    assert pp.answers_form == "tokenised"
    assert pp(["He doesn't know.", "Fine, thanks."]) == ["He does n't know .", "Fine , thanks ."]
    assert pp.answers_form == "natural"
    with pytest.raises(WritingAlpacaError, match="has 1 lines but the test set has 2"):
        pp(["x"], "answers.txt")


def test_dataset_lookup(tmp_path):
    assert dataset_postprocess("conll14", [REPO / "config.yaml"]) == "nltk"
    assert dataset_postprocess("bea19_dev", [REPO / "config.yaml"]) == "spacy"
    assert dataset_postprocess("jfleg", [REPO / "config.yaml"]) == "ptb"
    assert dataset_postprocess("turk", [REPO / "config.yaml"]) is None
    overlay = tmp_path / "o.yaml"
    overlay.write_text("test_sets:\n  turk: {postprocess: ptb}\n")
    assert dataset_postprocess("turk", [REPO / "config.yaml", overlay]) == "ptb"
    with pytest.raises(WritingAlpacaError, match="no such test set.*known: .*conll14"):
        dataset_postprocess("conll15", [REPO / "config.yaml"])
    overlay.write_text("test_sets:\n  turk: {postprocess: moses}\n")
    with pytest.raises(WritingAlpacaError, match="unknown postprocess tokenizer 'moses'"):
        dataset_postprocess("turk", [REPO / "config.yaml", overlay])


def test_score_dataset_writes_what_it_scored(tmp_path):
    data = tmp_path / "t.jsonl"
    write_jsonl(
        data,
        [
            {
                "id": "1",
                "source": 'He said "hi".',
                "references": ['He said "hello".'],
                "gold_source": "He said `` hi '' .",
                "gold_references": ["He said `` hello '' ."],
            },
            {
                "id": "2",
                "source": "I don't know.",
                "references": ["I do not know."],
                "gold_source": "I do n't know .",
                "gold_references": ["I do not know ."],
            },
        ],
    )
    answers = tmp_path / "a.txt"
    write_lines(answers, ['He said "hello".', "I do not know."])
    result = score_dataset(data, answers, "gleu", postprocess="ptb", hyp_out=tmp_path / "h.txt")
    assert read_lines(tmp_path / "h.txt") == ["He said `` hello '' .", "I do not know ."]
    assert result["postprocess"] == "ptb" and result["answers"] == "natural"
    assert result["score"] == pytest.approx(100.0)


# --------------------------------------------------------------------------- real gold


@pytest.mark.real_data
@pytest.mark.parametrize("m2, tokenizer", [(CONLL_M2, "nltk"), (BEA_M2, "spacy")], ids=["conll14", "bea19_dev"])
def test_idempotent_on_every_gold_line(m2, tokenizer):
    gold = read_m2(m2)
    pp = m2_postprocessor(tokenizer, m2)
    refs = changed = 0
    for sentence, pair in zip(gold, _m2_test_pairs(m2)):
        src = sentence.source
        # the source, and the source detokenised (an unchanged natural-text answer), give the source
        assert to_gold_tokens(src, src, tokenizer, pp.lexicon) == src
        assert to_gold_tokens(DETOK.detokenize(src.split()), src, tokenizer, pp.lexicon) == src, src
        for ref in pair.references:
            refs += 1
            changed += to_gold_tokens(ref, src, tokenizer, pp.lexicon) != ref
            once = to_gold_tokens(DETOK.detokenize(ref.split()), src, tokenizer, pp.lexicon)
            assert to_gold_tokens(once, src, tokenizer, pp.lexicon) == once
    # a corrected sentence is already tokenised: at most a few annotators re-tokenised the source
    # themselves (``15 %`` -> ``15%``), which a per-line reading cannot tell from detokenisation
    assert changed <= 2, (changed, refs)


# --------------------------------------------------------------------------- real outputs


def _unchanged_as_given(output: Path, pp: Postprocessor) -> None:
    """A tokenised output with --dataset is scored exactly as without it: post-processing
    leaves every line as it is (only whitespace runs collapse)."""
    lines = read_lines(output)
    assert pp(lines, str(output)) == [" ".join(line.split()) for line in lines], output


@pytest.mark.real_data
def test_conll14_outputs(tmp_path):
    """All 54 outputs through the library path the CLI takes (one scorer, one post-processor),
    the examples the issue names through the CLI itself."""
    gold = read_m2(CONLL_M2)
    scorer = M2Scorer(gold)
    pp = m2_postprocessor(dataset_postprocess("conll14", [REPO / "config.yaml"]), CONLL_M2)
    diffs = {}
    for output in sorted((SYSOUT / "conll14").glob("*.txt")):
        _unchanged_as_given(output, pp)
        official = scorer.score(read_lines(output))
        piped = scorer.score(pp(detokenise(read_lines(output))))
        diffs[output.stem] = piped["f0.5"] - official["f0.5"]
        assert abs(diffs[output.stem]) <= 0.5, (output.stem, official, piped)
        if output.stem.endswith("_INPUT"):
            assert piped["tp"] + piped["fp"] == 0, output  # the unchanged source proposes no edit
    assert len(diffs) == 54
    assert statistics.median(abs(d) for d in diffs.values()) <= 0.15
    known = {"jd18_transformer-ens": 57.53, "seeda_GPT-3.5": 53.50, "st14_CAMB": 37.33, "st14_INPUT": 0.0}
    for name, value in known.items():
        output = SYSOUT / "conll14" / f"{name}.txt"
        natural = tmp_path / output.name
        write_lines(natural, detokenise(read_lines(output)))
        official = run_score("m2", "--hyp", output, "--m2", CONLL_M2)
        assert official["f0.5"] == pytest.approx(value, abs=0.005)
        assert run_score("m2", "--hyp", output, "--m2", CONLL_M2, "--dataset", "conll14") == official
        piped = run_score("m2", "--hyp", natural, "--m2", CONLL_M2, "--dataset", "conll14")
        assert piped["f0.5"] == pytest.approx(official["f0.5"] + diffs[name], abs=1e-9)
        assert abs(diffs[name]) <= 0.15, (name, diffs[name])


@pytest.mark.real_data
def test_jfleg_outputs_through_the_cli(tmp_path):
    diffs = []
    for output in sorted(JFLEG.glob("*.txt")):
        natural = tmp_path / output.name
        write_lines(natural, detokenise(read_lines(output)))
        official = run_score("gleu", "--hyp", output, *JFLEG_GOLD)
        given = run_score("gleu", "--hyp", output, *JFLEG_GOLD, "--dataset", "jfleg")
        piped = run_score("gleu", "--hyp", natural, *JFLEG_GOLD, "--dataset", "jfleg")
        assert given == official
        diffs.append(piped["gleu"] - official["gleu"])
        assert abs(diffs[-1]) <= 0.5, (output, official, piped)
        if output.stem == "jd18_transformer-ens":
            assert official["gleu"] == pytest.approx(59.7967, abs=0.001)
    assert len(diffs) == 9 and statistics.median(abs(d) for d in diffs) <= 0.15


@pytest.mark.real_data
def test_bea19_outputs_through_the_cli(tmp_path):
    pp = m2_postprocessor(dataset_postprocess("bea19_dev", [REPO / "config.yaml"]), BEA_M2)
    for output in sorted((SYSOUT / "bea19dev").glob("*.txt")):
        _unchanged_as_given(output, pp)
    cache = ["--cache", tmp_path / "cache"]
    for name, published in (("pillars_CTC-Copy", 52.72), ("pillars_T5-11B", 58.72)):
        output = SYSOUT / "bea19dev" / f"{name}.txt"
        natural = tmp_path / output.name
        write_lines(natural, detokenise(read_lines(output)))
        official = run_score("errant", "--hyp", output, "--m2", BEA_M2, *cache)
        piped = run_score("errant", "--hyp", natural, "--m2", BEA_M2, *cache, "--dataset", "bea19_dev")
        assert official["f0.5"] == pytest.approx(published, abs=0.005)
        assert abs(piped["f0.5"] - official["f0.5"]) <= 0.15, (name, official, piped)


@pytest.mark.real_data
def test_workflow_and_cli_post_process_alike(tmp_path):
    """The score job (records of the test set) and `score m2 --dataset` (the gold M2) give the
    same hypotheses."""
    from writing_alpaca.data import build_test_records
    from writing_alpaca.score import dataset_postprocessor

    spec = dict(yaml.safe_load((REPO / "config.yaml").read_text())["test_sets"]["conll14"], path=CONLL_M2.name)
    records, _ = build_test_records("conll14", spec, CONLL_M2.parent, seed=42)
    answers = detokenise(read_lines(SYSOUT / "conll14" / "seeda_GPT-3.5.txt"))
    workflow = dataset_postprocessor(records, spec["postprocess"], "conll14.jsonl")(answers)
    assert workflow == m2_postprocessor("nltk", CONLL_M2)(answers)


@pytest.mark.real_data
def test_sari_sets_are_scored_as_natural_text(tmp_path):
    refs = SYSOUT / "turkcorpus" / "refs"
    gold = [
        "--src",
        refs / "test.truecase.detok.orig",
        "--refs",
        *(refs / f"test.truecase.detok.simp.{k}" for k in range(8)),
    ]
    output = SYSOUT / "turkcorpus" / "ACCESS.txt"
    assert run_score("sari", "--hyp", output, *gold, "--dataset", "turk") == run_score("sari", "--hyp", output, *gold)
