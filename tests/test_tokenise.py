"""Outputs of sets with tokenised gold (CoNLL-14, BEA-19) are tokenised before scoring."""

from __future__ import annotations

import pytest

from writing_alpaca.decode import DecodingSpec
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.score import m2_score
from writing_alpaca.tokenise import tokenise_lines


def test_contractions_and_punctuation_are_split_as_in_the_gold():
    assert tokenise_lines(["I don't know, do you?", "It's the U.S. team's \"best\" day."]) == [
        "I do n't know , do you ?",
        'It \'s the U.S. team \'s " best " day .',
    ]


def test_empty_lines_stay_empty_and_tokenised_text_is_unchanged():
    tokenised = "He goes to school every day ."
    assert tokenise_lines(["", "   ", tokenised]) == ["", "", tokenised]


def test_unknown_tokenizer_is_a_clear_error():
    with pytest.raises(WritingAlpacaError, match="unknown output tokenizer 'moses'"):
        tokenise_lines(["x"], "moses")
    with pytest.raises(WritingAlpacaError, match="retokenize must be one of spacy"):
        DecodingSpec.from_dict({"retokenize": "moses"})
    assert DecodingSpec.from_dict({"retokenize": "spacy"}).retokenize == "spacy"


def test_retokenised_output_is_not_charged_for_edits_it_did_not_make(tmp_path):
    gold = tmp_path / "gold.m2"
    gold.write_text("S I do n't like it .\nA 4 5|||Pron|||them|||REQUIRED|||-NONE-|||0\n\n")
    raw = ["I don't like them."]  # an LLM's detokenised answer with the one gold correction
    assert m2_score(raw, gold)["precision"] < 100.0  # spurious edits on "don't" and "them."
    scored = m2_score(tokenise_lines(raw), gold)
    assert (scored["tp"], scored["fp"], scored["fn"]) == (1, 0, 0)
