"""Tests for ``writing-alpaca decode`` (HF generate with batching, stop string, one line per record)."""

from __future__ import annotations

import argparse
import json
import sys

import pytest

from _causal_lm_fixtures import GRAMMAR, TEMPLATE, eval_file, fake_generate, tiny_base, trained_system, write_jsonl
from writing_alpaca import decode as decode_module
from writing_alpaca.decode import (
    DecodingSpec,
    _stop_criterion,
    decode,
    length_sorted_batches,
    load_lm,
    new_token_budget,
    one_line,
)
from writing_alpaca.errors import WritingAlpacaError

METRIC_KEYS = {
    "instances", "seconds", "instances_per_second", "generated_tokens", "tokens_per_second",
    "batch_size", "num_beams", "device", "hardware",
}


def test_one_line_cuts_at_stop_and_collapses_whitespace():
    assert one_line("  She goes\n to  school.\t") == "She goes to school."
    assert one_line("Fixed text.\n\n### Instruction:\nmore") == "Fixed text."
    assert one_line("### Response: nothing") == ""
    assert one_line("") == ""


def test_new_token_budget():
    assert new_token_budget(256, 10) == 36
    assert new_token_budget(20, 10) == 20
    assert new_token_budget(256, 0) == 16


def test_length_sorted_batches_cover_every_index_once():
    lengths = [3, 9, 1, 9, 5, 2, 7]
    batches = length_sorted_batches(lengths, 3)
    assert batches == [[1, 3, 6], [4, 0, 5], [2]]
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    # unsort: writing each output to its index restores the input order
    restored = [None] * len(lengths)
    for i in flat:
        restored[i] = lengths[i]
    assert restored == lengths


def test_decoding_spec_validation():
    assert DecodingSpec.from_dict({"num_beams": 16, "batch_size": 4, "max_new_tokens": 256, "backend": "hf"}).num_beams == 16
    for bad, message in [({"num_beams": 0}, "num_beams"), ({"backend": "tgi"}, "backend"), ({"beams": 2}, "unknown")]:
        with pytest.raises(WritingAlpacaError, match=message):
            DecodingSpec.from_dict(bad)


def test_stop_criterion_flags_rows_containing_the_stop_string():
    import torch

    lm = load_lm(base=tiny_base())
    tok = lm.tokenizer
    prompt = tok("prompt text", add_special_tokens=True)["input_ids"]
    stop_row = prompt + tok("She goes.\n\n###", add_special_tokens=False)["input_ids"]
    go_row = prompt + tok("She goes to the park", add_special_tokens=False)["input_ids"]
    hash_in_prompt = tok("# ## ###", add_special_tokens=False)["input_ids"]
    width = max(len(stop_row), len(go_row))
    batch = torch.tensor([[0] * (width - len(r)) + r for r in (stop_row, go_row)])
    flags = _stop_criterion(tok, prompt_len=width - len(stop_row) + len(prompt))(batch, None)
    assert flags.tolist() == [True, False]
    # "###" inside the prompt does not stop generation
    prompt_only = torch.tensor([hash_in_prompt + tok(" fine", add_special_tokens=False)["input_ids"]])
    assert _stop_criterion(tok, prompt_len=len(hash_in_prompt))(prompt_only, None).tolist() == [False]


def _patch_generation(monkeypatch, respond):
    """Make ``decode`` load the real tiny model but generate ``respond(source)`` for each record."""
    real_load = decode_module.load_lm

    def load(*args, **kwargs):
        lm = real_load(*args, **kwargs)
        lm.model.generate = fake_generate(lm.tokenizer, respond)
        return lm

    monkeypatch.setattr(decode_module, "load_lm", load)


def test_decode_strips_prompt_restores_order_and_writes_one_line_each(tmp_path, monkeypatch):
    sources = ["a b c d e f g h", "x", "she go school", "empty please", "two\nlines here", " ".join(["long"] * 12), "stop here"]
    data = write_jsonl(tmp_path / "test.jsonl", [{"id": str(i), "source": s, "references": []} for i, s in enumerate(sources)])

    def respond(source: str) -> str:
        if source == "empty please":
            return ""
        if source == "stop here":
            return "Stopped.\n\n### Instruction:\nignored"
        return f"[{source.upper()}]\n  done"

    _patch_generation(monkeypatch, respond)
    out, metrics_path = tmp_path / "out.txt", tmp_path / "out.metrics.json"
    decode(data, GRAMMAR, TEMPLATE, {"num_beams": 1, "batch_size": 3, "max_new_tokens": 64}, out, metrics_path, base=tiny_base())
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(sources)
    expected = [
        "[A B C D E F G H] done",
        "[X] done",
        "[SHE GO SCHOOL] done",
        "",
        "[TWO LINES HERE] done",
        "[" + " ".join(["LONG"] * 12) + "] done",
        "Stopped.",
    ]
    assert lines[:-1] == expected
    metrics = json.loads(metrics_path.read_text())
    assert METRIC_KEYS <= set(metrics)
    assert metrics["instances"] == len(sources) and metrics["batch_size"] == 3 and metrics["num_beams"] == 1
    import torch

    if torch.cuda.is_available():
        assert metrics["device"] == "cuda"
    else:
        assert metrics["device"] == "cpu" and metrics["hardware"].startswith("CPU")
    assert metrics["generated_tokens"] > 0


@pytest.mark.parametrize("num_beams", [1, 2])
def test_real_generation_with_a_trained_lora_system(tmp_path, num_beams):
    system = trained_system("lora")
    data = eval_file(6)
    out, metrics_path = tmp_path / "out.txt", tmp_path / "m.json"
    metrics = decode(
        data, GRAMMAR, TEMPLATE, {"num_beams": num_beams, "batch_size": 4, "max_new_tokens": 12},
        out, metrics_path, system_dir=system,
    )
    lines = out.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == 6
    assert all("\n" not in line and "###" not in line and "Below is an instruction" not in line for line in lines)
    assert metrics["num_beams"] == num_beams and metrics["instances"] == 6
    assert 0 <= metrics["generated_tokens"] <= 6 * 12


def test_full_system_and_base_model_decode_and_cli(tmp_path):
    parser = argparse.ArgumentParser()
    decode_module.register(parser.add_subparsers())
    for which in (["--system-dir", str(trained_system("full"))], ["--base", str(tiny_base())]):
        out = tmp_path / "o.txt"
        args = parser.parse_args(
            ["decode", *which, "--data", str(eval_file(6)), "--task-prompt", GRAMMAR, "--template", json.dumps(TEMPLATE),
             "--decoding", json.dumps({"num_beams": 1, "batch_size": 16, "max_new_tokens": 6}),
             "--out", str(out), "--metrics", str(tmp_path / "o.json")]
        )
        assert args.func(args) == 0
        assert len(out.read_text(encoding="utf-8").split("\n")) == 7


def test_decode_errors(tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"source": "ok"}, {"id": "no source"}])
    with pytest.raises(WritingAlpacaError, match=r"bad.jsonl:2: .*'source'"):
        decode(bad, GRAMMAR, TEMPLATE, {}, tmp_path / "o.txt", tmp_path / "o.json", base=tiny_base())
    with pytest.raises(WritingAlpacaError, match="system.json missing"):
        decode(eval_file(6), GRAMMAR, TEMPLATE, {}, tmp_path / "o.txt", tmp_path / "o.json", system_dir=tmp_path)
    assert not (tmp_path / "o.txt").exists()


def test_vllm_backend_is_optional_and_explains_itself(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if vllm were not installed
    with pytest.raises(WritingAlpacaError, match="vllm is not installed"):
        decode(eval_file(6), GRAMMAR, TEMPLATE, {"backend": "vllm"}, tmp_path / "o.txt", tmp_path / "o.json", base=tiny_base())
