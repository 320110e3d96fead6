"""Tests for ``writing-alpaca model build-tiny`` (tokenizer + tiny LLaMA)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from _causal_lm_fixtures import GRAMMAR, SPEC, TEMPLATE, corpus_file, tiny_base
from writing_alpaca import model as model_module
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.model import TinySpec, build_tiny


def _tokenizer(path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def test_tokenizer_special_tokens_like_llama():
    tok = _tokenizer(tiny_base())
    assert (tok.unk_token, tok.bos_token, tok.eos_token) == ("<unk>", "<s>", "</s>")
    assert (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.pad_token_id == tok.unk_token_id == 0
    assert tok.padding_side == "right"
    ids = tok("the cat")["input_ids"]
    assert ids[0] == tok.bos_token_id and tok.eos_token_id not in ids


def test_tokenizer_round_trips_the_template():
    tok = _tokenizer(tiny_base())
    prompt = TEMPLATE["prompt_input"].format(instruction=GRAMMAR, input="She go to school yesterday , ok?  Ünïcödé → ✓")
    text = prompt + "She went to school yesterday."
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text
    # The template is in the tokenizer corpus, so its markers are a few tokens each.
    assert len(tok("### Response:", add_special_tokens=False)["input_ids"]) <= 3
    assert len(tok(TEMPLATE["prompt_no_input"].format(instruction=""), add_special_tokens=False)["input_ids"]) < 30


def test_model_shape_follows_spec():
    from transformers import AutoModelForCausalLM

    path = tiny_base()
    model = AutoModelForCausalLM.from_pretrained(str(path))
    cfg = model.config
    assert cfg.model_type == "llama"
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size) == (2, 64, 4, 128)
    assert cfg.max_position_embeddings == 512 and cfg.tie_word_embeddings is False
    assert cfg.vocab_size == len(_tokenizer(path)) <= SPEC["vocab"]
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    assert not list(path.parent.glob(f".{path.name}.*"))  # no temp dir left behind


def test_build_tiny_is_deterministic(tmp_path):
    import torch
    from safetensors.torch import load_file

    a = build_tiny(SPEC, [corpus_file()], 5, tmp_path / "a")
    b = build_tiny(SPEC, [corpus_file()], 5, tmp_path / "b")
    c = build_tiny(SPEC, [corpus_file()], 6, tmp_path / "c")
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    wa, wb, wc = (load_file(str(p / "model.safetensors")) for p in (a, b, c))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["model.embed_tokens.weight"], wc["model.embed_tokens.weight"])


def test_cli_build_tiny(tmp_path):
    parser = argparse.ArgumentParser()
    model_module.register(parser.add_subparsers())
    out = tmp_path / "tiny"
    spec = {**SPEC, "corpus_from": ["toy"], "padding_side": "left"}
    args = parser.parse_args(
        [
            "model",
            "build-tiny",
            "--spec",
            json.dumps(spec),
            "--corpus",
            str(corpus_file()),
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert args.func(args) == 0
    assert _tokenizer(out).padding_side == "left"
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 2


@pytest.mark.parametrize(
    "spec, message",
    [
        ({**SPEC, "hidden": 66}, "divisible by heads"),
        ({**SPEC, "vocab": 100}, "too small"),
        ({**SPEC, "layers": 0}, r"build_tiny.layers: Input should be greater than or equal to 1 \(got 0\)"),
        ({**SPEC, "padding_side": "middle"}, "padding_side"),
    ],
)
def test_bad_spec_is_a_clear_error(spec, message):
    with pytest.raises(WritingAlpacaError, match=message):
        TinySpec.from_dict(spec)


def test_bad_corpus_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": "ok"}\nnot json\n')
    with pytest.raises(WritingAlpacaError, match=r"bad.jsonl:2"):
        build_tiny(SPEC, [bad], 1, tmp_path / "out")
    assert not (tmp_path / "out").exists()
