"""Tests of `writing-alpaca analyse edits` (ERRANT edit types and entity-touching corrections)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from writing_alpaca import analyse
from writing_alpaca.errors import WritingAlpacaError

SHARED = SHARED_DATA  # tests reading it are marked real_data

# Hand-made GEC case.  Expected ERRANT edits, worked out by hand from ERRANT's rules
# (source token spans are half-open):
#   1. "He go ..."        -> "He goes ..."         go->goes: replacement, verb agreement  R:VERB:SVA
#   2. "This is very the good idea" -> "This is a very good idea"
#                         insert "a" before "very": missing determiner                      M:DET
#                         drop "the":               unnecessary determiner                  U:DET
#   3. "I want go home"   -> "I want to go home"   insert "to": missing infinitival "to"    M:VERB:FORM
#   4. "We discussed it it yesterday" -> "... it yesterday"   drop the repeated "it"        U:PRON
#   5. unchanged line                                                                        (no edit)
# => Figure-1 counts: insert (M) 2, replace (R) 1, delete (U) 2; total 5.
GEC_CASE = [
    ("He go to school every day .", "He goes to school every day ."),
    ("This is very the good idea .", "This is a very good idea ."),
    ("I want go home .", "I want to go home ."),
    ("We discussed it it yesterday .", "We discussed it yesterday ."),
    ("The cat sat on the mat .", "The cat sat on the mat ."),
]

# Entity case: "Paris" -> "London" replaces a GPE entity (both sides); "a" -> "an" touches none.
ENTITY_CASE = [
    ("She met John in Paris last year .", "She met John in London last year ."),
    ("I like a apple .", "I like an apple ."),
]


@pytest.fixture(scope="module")
def pipeline():
    return analyse.load_pipeline(analyse.DEFAULT_SPACY_MODEL)


def run_pairs(pairs, pipeline, **kw):
    nlp, annotator = pipeline
    ids = [f"t-{i}" for i in range(len(pairs))]
    return analyse.analyse_pairs(ids, [s for s, _ in pairs], [h for _, h in pairs], nlp, annotator, **kw)


def test_touches_definition():
    # non-empty spans: at least one shared token
    assert analyse.touches(4, 5, 4, 5)
    assert analyse.touches(3, 5, 4, 7)
    assert not analyse.touches(2, 4, 4, 6)  # adjacent on the left
    assert not analyse.touches(6, 7, 4, 6)  # adjacent on the right
    # empty spans (insertion points) touch only strictly inside the entity
    assert analyse.touches(5, 5, 4, 6)
    assert not analyse.touches(4, 4, 4, 6)
    assert not analyse.touches(6, 6, 4, 6)


def test_figure1_counts_hand_case(pipeline):
    result = run_pairs(GEC_CASE, pipeline)
    assert result["n_sentences"] == 5
    assert result["n_changed"] == 4
    assert result["edits"] == {"M": 2, "R": 1, "U": 2, "total": 5}
    assert result["by_type"] == {"M:DET": 1, "M:VERB:FORM": 1, "R:VERB:SVA": 1, "U:DET": 1, "U:PRON": 1}
    # no correction here touches an entity; deleting "it" next to the DATE "yesterday" is adjacent, not inside
    assert result["entity"] == {
        "corrections": 5,
        "touching_entity": 0,
        "share": 0.0,
        "touching_named_entity": 0,
        "named_share": 0.0,
        "named_labels": sorted(analyse.NAMED_ENTITY_LABELS),
    }
    assert result["examples"] == []


def test_entity_share_hand_case(pipeline):
    result = run_pairs(ENTITY_CASE, pipeline)
    assert result["edits"] == {"M": 0, "R": 2, "U": 0, "total": 2}
    assert result["entity"]["corrections"] == 2
    assert (result["entity"]["touching_entity"], result["entity"]["share"]) == (1, 50.0)
    assert (result["entity"]["touching_named_entity"], result["entity"]["named_share"]) == (1, 50.0)
    [example] = result["examples"]
    assert example["named"] is True
    assert example["id"] == "t-0"
    assert example["edit"]["o_str"] == "Paris" and example["edit"]["c_str"] == "London"
    assert (example["edit"]["o_start"], example["edit"]["o_end"]) == (4, 5)
    assert example["entities"] == [
        {"text": "Paris", "label": "GPE", "side": "source", "start": 4, "end": 5},
        {"text": "London", "label": "GPE", "side": "hypothesis", "start": 4, "end": 5},
    ]


# Both readings of the paper's "corrections involving entities using spaCy", by hand:
#   Paris -> London     replaces a GPE (a name)                  any label: yes  named: yes
#   a -> an             no entity                                 no             no
#   5 -> 6              inside the DATE "5 May 2019"              yes            no
#   book -> books       next to the CARDINAL "three", not inside  no             no
#   two -> three        inside the DATE "two days"                yes            no
BOTH_DEFINITIONS_CASE = ENTITY_CASE + [
    ("We met on 5 May 2019 .", "We met on 6 May 2019 ."),
    ("He paid 30 dollars for three book .", "He paid 30 dollars for three books ."),
    ("It rained for two days .", "It rained for three days ."),
]


def test_entity_share_in_both_definitions_hand_case(pipeline):
    result = run_pairs(BOTH_DEFINITIONS_CASE, pipeline)
    entity = result["entity"]
    assert entity["corrections"] == 5
    assert (entity["touching_entity"], entity["share"]) == (3, 60.0)  # any spaCy label
    assert (entity["touching_named_entity"], entity["named_share"]) == (1, 20.0)  # PERSON, ORG, GPE, ...
    assert [(e["id"], e["named"], sorted({x["label"] for x in e["entities"]})) for e in result["examples"]] == [
        ("t-0", True, ["GPE"]),
        ("t-2", False, ["DATE"]),
        ("t-4", False, ["DATE"]),
    ]
    assert analyse.NAMED_ENTITY_LABELS == {
        "PERSON",
        "ORG",
        "GPE",
        "LOC",
        "NORP",
        "FAC",
        "PRODUCT",
        "EVENT",
        "WORK_OF_ART",
        "LAW",
        "LANGUAGE",
    }


class _RecordingNLP:
    """A stand-in pipeline that records what it is asked to parse."""

    def __init__(self):
        self.seen: list[str] = []

    def pipe(self, texts, batch_size=None):
        for text in texts:
            self.seen.append(text)
            yield text


def test_unchanged_lines_are_not_parsed_and_yield_no_edits():
    nlp = _RecordingNLP()
    sources = ["A b c .", "Same  line here .", "x"]
    hyps = ["A b c .", "Same line here . ", "x"]  # whitespace-only differences count as unchanged
    result = analyse.analyse_pairs(["1", "2", "3"], sources, hyps, nlp, annotator=None)
    assert nlp.seen == []
    assert result["n_changed"] == 0
    assert result["edits"] == {"M": 0, "R": 0, "U": 0, "total": 0}
    assert result["by_type"] == {}
    assert result["entity"] == {
        "corrections": 0,
        "touching_entity": 0,
        "share": None,
        "touching_named_entity": 0,
        "named_share": None,
        "named_labels": sorted(analyse.NAMED_ENTITY_LABELS),
    }


def test_tokenisation_difference_alone_is_no_edit(pipeline):
    # tokenised source vs. detokenised output: spaCy tokenises both the same way
    result = run_pairs([("I do n't know .", "I don't know.")], pipeline)
    assert result["n_changed"] == 1
    assert result["edits"]["total"] == 0


def _write_case(tmp_path: Path, pairs) -> tuple[Path, Path]:
    data = tmp_path / "test.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"gec-{i}", "dataset": "gec", "task": "grammar", "source": s, "references": []}) + "\n"
            for i, (s, _) in enumerate(pairs)
        ),
        encoding="utf-8",
    )
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("".join(h + "\n" for _, h in pairs), encoding="utf-8")
    return data, hyp


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    analyse.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_writes_the_json(tmp_path):
    data, hyp = _write_case(tmp_path, GEC_CASE + ENTITY_CASE)
    out = tmp_path / "out" / "x.edits.json"
    assert _cli(["analyse", "edits", "--data", str(data), "--hyp", str(hyp), "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["n_sentences"] == 7 and result["n_changed"] == 6
    assert result["edits"] == {"M": 2, "R": 3, "U": 2, "total": 7}
    assert result["entity"]["touching_entity"] == 1
    assert result["entity"]["share"] == pytest.approx(100 / 7)
    assert [e["id"] for e in result["examples"]] == ["gec-5"]
    assert result["spacy_model"] == analyse.DEFAULT_SPACY_MODEL
    assert not list(out.parent.glob(".*.tmp"))


def test_line_count_mismatch_names_the_file(tmp_path):
    data, hyp = _write_case(tmp_path, GEC_CASE)
    hyp.write_text("only one line\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=r"hyp\.txt: has 1 lines but .*test\.jsonl has 5 records"):
        analyse.read_pairs(data, hyp)


def test_unknown_spacy_model_is_a_clear_error():
    with pytest.raises(WritingAlpacaError, match="not installed"):
        analyse.load_pipeline("no_such_spacy_model_xyz")


@pytest.mark.real_data
def test_real_bea19_output_sample(tmp_path, pipeline):
    """A real GEC system output (BEA-19 dev, pillars-of-gec) through the whole analysis."""
    src_file = SHARED / "sysout" / "bea19dev" / "refs" / "ABCN.dev.gold.bea19.orig"
    hyp_file = SHARED / "sysout" / "bea19dev" / "pillars_Chat-LLaMa-2-7B-FT.txt"
    sources = src_file.read_text(encoding="utf-8").splitlines()[:120]
    hyps = hyp_file.read_text(encoding="utf-8").splitlines()[:120]
    result = run_pairs(list(zip(sources, hyps, strict=True)), pipeline)
    edits = result["edits"]
    assert 0 < result["n_changed"] <= 120
    assert edits["M"] + edits["R"] + edits["U"] == edits["total"] == sum(result["by_type"].values()) > 0
    assert len(result["examples"]) == result["entity"]["touching_entity"]
    assert result["entity"]["touching_named_entity"] == sum(e["named"] for e in result["examples"])
    for example in result["examples"]:
        assert example["entities"]
        assert {e["side"] for e in example["entities"]} <= {"source", "hypothesis"}
