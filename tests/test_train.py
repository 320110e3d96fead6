"""Tests for ``writing-alpaca train`` and the ``writing_alpaca.training`` recipe."""

from __future__ import annotations

import argparse
import json
import os
import socket

import pytest

from _causal_lm_fixtures import GRAMMAR, TEMPLATE, TRAINING, instruction_file, tiny_base, trained_system
from writing_alpaca import train as train_module
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.training.config import TrainConfig
from writing_alpaca.training.data import IGNORE_INDEX, PaddingCollator, build_examples, render_prompt, tokenize_example
from writing_alpaca.training.recipe import deepspeed_config, train, validate_deepspeed_config


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _tokenizer():
    from writing_alpaca.training.modelling import load_tokenizer

    return load_tokenizer(tiny_base())


def _config(method: str = "lora", **training) -> TrainConfig:
    return TrainConfig.from_fragments("toy", {"method": method}, {**TRAINING, **training}, TEMPLATE, seed=1)


# ------------------------------------------------------------------ data


def test_prompt_rendering_matches_alpaca_lora():
    assert render_prompt(TEMPLATE, GRAMMAR, "she go") == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n### Instruction:\n"
        "Fix grammatical errors in the text.\n\n### Input:\nshe go\n\n### Response:\n"
    )
    assert render_prompt(TEMPLATE, "Say hi.", "").endswith("### Instruction:\nSay hi.\n\n### Response:\n")


def test_response_only_loss_mask():
    tok = _tokenizer()
    prompt = render_prompt(TEMPLATE, GRAMMAR, "she go to school")
    response = "She goes to school."
    ex = tokenize_example(tok, prompt, response, cutoff_len=256)
    prompt_ids = tok(prompt)["input_ids"]
    response_ids = tok(response, add_special_tokens=False)["input_ids"]
    assert ex["input_ids"] == prompt_ids + response_ids + [tok.eos_token_id]
    assert ex["input_ids"][0] == tok.bos_token_id
    assert ex["labels"] == [IGNORE_INDEX] * len(prompt_ids) + response_ids + [tok.eos_token_id]
    assert ex["attention_mask"] == [1] * len(ex["input_ids"])
    assert tok.decode([t for t in ex["labels"] if t != IGNORE_INDEX], skip_special_tokens=True) == response

    full = tokenize_example(tok, prompt, response, cutoff_len=256, train_on_inputs=True)
    assert full["labels"] == full["input_ids"]


def test_cutoff_truncates_and_drops_unsupervised_examples():
    tok = _tokenizer()
    prompt = render_prompt(TEMPLATE, GRAMMAR, "she go to school")
    n_prompt = len(tok(prompt)["input_ids"])
    cut = tokenize_example(tok, prompt, "She goes to school every day.", cutoff_len=n_prompt + 2)
    assert len(cut["input_ids"]) == n_prompt + 2
    assert tok.eos_token_id not in cut["input_ids"]  # alpaca-lora: no EOS on a truncated example
    assert sum(label != IGNORE_INDEX for label in cut["labels"]) == 2

    records = [
        {"instruction": GRAMMAR, "input": "she go to school", "output": "She goes."},
        {"instruction": GRAMMAR, "input": "word " * 200, "output": "Lost."},
    ]
    examples = build_examples(records, tok, _config().template, cutoff_len=n_prompt + 4)
    assert len(examples) == 1
    with pytest.raises(WritingAlpacaError, match="cutoff_len"):
        build_examples(records[1:], tok, _config().template, cutoff_len=n_prompt + 4)


def test_padding_collator():
    batch = PaddingCollator(pad_token_id=0, pad_to_multiple_of=4)(
        [
            {"input_ids": [1, 5, 6], "attention_mask": [1, 1, 1], "labels": [-100, 5, 6]},
            {"input_ids": [1, 7, 8, 9, 2], "attention_mask": [1] * 5, "labels": [-100, -100, 8, 9, 2]},
        ]
    )
    assert batch["input_ids"].tolist() == [[1, 5, 6, 0, 0, 0, 0, 0], [1, 7, 8, 9, 2, 0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 5, 6] + [-100] * 5, [-100, -100, 8, 9, 2] + [-100] * 3]


# ------------------------------------------------------------------ config


def test_config_from_fragments():
    cfg = _config("full", batch_size=128, micro_batch_size=4)
    assert cfg.method == "full" and cfg.learning_rate == 3e-3
    assert cfg.gradient_accumulation(1) == 32 and cfg.gradient_accumulation(8) == 4
    assert cfg.lora.target_modules == ("q_proj", "v_proj", "lm_head")
    assert _config("lora").learning_rate == 2e-2


@pytest.mark.parametrize(
    "spec, training, message",
    [
        ({"method": "none"}, {}, "'lora' or 'full'"),
        ({"method": "lora", "kind": "seq2seq"}, {}, "causal_lm"),
        ({"method": "lora"}, {"batch_size": 10, "micro_batch_size": 4}, "multiple of micro_batch_size"),
        ({"method": "lora"}, {"bf16": "yes"}, "bf16"),
        ({"method": "lora"}, {"deepspeed": {"stage": 4}}, "stage"),
        ({"method": "lora"}, {"deepspeed": {"stage": 1, "offload": True}}, "offload"),
        ({"method": "lora"}, {"lora": {"r": 8, "target_modules": []}}, "target_modules"),
        ({"method": "full"}, {"learning_rate": {"lora": 1e-4}}, "no rate"),
        ({"method": "lora"}, {"max_steps": 0}, "max_steps"),
    ],
)
def test_config_errors(spec, training, message):
    with pytest.raises(WritingAlpacaError, match=message):
        TrainConfig.from_fragments("toy", spec, {**TRAINING, **training}, TEMPLATE)


def test_template_must_have_slots():
    with pytest.raises(WritingAlpacaError, match="input"):
        TrainConfig.from_fragments("toy", {"method": "lora"}, TRAINING, {**TEMPLATE, "prompt_input": "{instruction}"})


def test_deepspeed_config_generation_and_validation():
    zero2 = deepspeed_config(_config(deepspeed={"stage": 2, "offload": False}))
    assert zero2["zero_optimization"]["stage"] == 2
    assert zero2["train_micro_batch_size_per_gpu"] == "auto" and "optimizer" not in zero2
    validate_deepspeed_config(zero2, micro_batch=4, grad_accum=2, precision="fp32")

    zero3 = deepspeed_config(_config(deepspeed={"stage": 3, "offload": True}))
    z = zero3["zero_optimization"]
    assert z["stage3_gather_16bit_weights_on_model_save"] is True
    assert z["offload_optimizer"]["device"] == z["offload_param"]["device"] == "cpu"
    validate_deepspeed_config(zero3, micro_batch=4, grad_accum=2, precision="bf16")

    broken = {**zero2, "zero_optimization": {**zero2["zero_optimization"], "stage": "two"}}
    with pytest.raises(WritingAlpacaError, match="DeepSpeed rejects"):
        validate_deepspeed_config(broken, micro_batch=4, grad_accum=2, precision="fp32")


# ------------------------------------------------------------------ training


def _expected_tokens_seen(n_micro_batches: int) -> int:
    """Non-pad tokens of the micro-batches of a run that cycles over the 16 examples."""
    tok = _tokenizer()
    examples = build_examples(
        [json.loads(line) for line in instruction_file().read_text().splitlines()], tok, _config().template, 128
    )
    per_epoch = sum(len(e["input_ids"]) for e in examples)
    assert n_micro_batches * 4 % len(examples) == 0
    return per_epoch * n_micro_batches * 4 // len(examples)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_training_lowers_the_loss_and_writes_a_system(method):
    out = trained_system(method)
    system = json.loads((out / "system.json").read_text())
    assert system == {
        "system": f"toy-{method}",
        "kind": "causal_lm",
        "method": method,
        "base": str(tiny_base()),
        "adapter": "adapter" if method == "lora" else None,
        "model": "model" if method == "full" else None,
    }
    metrics = json.loads((out / "train_metrics.json").read_text())
    for key in ("wall_seconds", "gpus", "gpu_hours", "tokens_seen", "tokens_per_second", "steps", "final_loss", "loss_history", "hardware"):
        assert key in metrics
    assert metrics["steps"] == 30 and len(metrics["loss_history"]) == 30
    if not _cuda():
        assert metrics["gpus"] == 0 and metrics["gpu_hours"] == 0
    assert metrics["tokens_seen"] == _expected_tokens_seen(30 * 2)
    first, last = metrics["loss_history"][0], metrics["final_loss"]
    assert last < 0.85 * first, (first, last)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-20", "checkpoint-30"]


def test_lora_adapter_is_loadable_and_changes_the_model():
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = trained_system("lora")
    adapter = out / "adapter"
    assert (adapter / "adapter_model.safetensors").stat().st_size > 1000
    assert (adapter / "tokenizer.json").is_file()
    base = AutoModelForCausalLM.from_pretrained(str(tiny_base()))
    ids = torch.tensor([[1, 40, 50, 60]])
    before = base(ids).logits
    tuned = PeftModel.from_pretrained(base, str(adapter))
    assert not torch.allclose(before, tuned(ids).logits)


def test_full_model_dir_is_complete_and_training_is_deterministic(tmp_path):
    import torch
    from safetensors.torch import load_file

    out = trained_system("full")
    model_dir = out / "model"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in model_dir.iterdir()}
    again = tmp_path / "again"
    train(_config("full"), tiny_base(), instruction_file(), again)
    a = load_file(str(model_dir / "model.safetensors"))
    b = load_file(str(again / "model" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((again / "train_metrics.json").read_text())["loss_history"] == json.loads(
        (out / "train_metrics.json").read_text()
    )["loss_history"]


def test_resume_from_latest_checkpoint(tmp_path):
    out = tmp_path / "sys"
    cfg = _config("lora", max_steps=4, save_steps=2)
    first = train(cfg, tiny_base(), instruction_file(), out)
    assert first["resumed_from"] is None
    (out / "system.json").unlink()  # as if the job died after its last checkpoint
    second = train(cfg, tiny_base(), instruction_file(), out)
    assert second["resumed_from"].endswith("checkpoint-4")
    assert second["steps"] == 4 and second["loss_history"] == first["loss_history"]
    assert (out / "system.json").is_file()


def test_cli_train(tmp_path):
    parser = argparse.ArgumentParser()
    train_module.register(parser.add_subparsers())
    out = tmp_path / "cli"
    training = {**TRAINING, "max_steps": 2, "save_steps": 100}
    args = parser.parse_args(
        [
            "train", "--system", "cli", "--spec", json.dumps({"method": "lora", "kind": "causal_lm", "base": "tiny"}),
            "--training", json.dumps(training), "--template", json.dumps(TEMPLATE),
            "--base", str(tiny_base()), "--data", str(instruction_file()), "--out", str(out),
        ]
    )
    assert args.func(args) == 0
    assert json.loads((out / "train_metrics.json").read_text())["steps"] == 2
    assert not (out / "deepspeed.json").exists()


def test_bad_data_is_a_located_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"instruction": GRAMMAR, "input": "x", "output": "y"}) + "\n" + json.dumps({"instruction": GRAMMAR}) + "\n")
    with pytest.raises(WritingAlpacaError, match=r"bad.jsonl:2: .*'output'"):
        train(_config(), tiny_base(), bad, tmp_path / "out")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_zero2_on_cpu_single_process(tmp_path, monkeypatch):
    """A few steps under DeepSpeed ZeRO-2 (CPU accelerator, gloo, one process).

    The first DeepSpeed run on a machine JIT-builds its shared-memory comm op
    (~1-2 min, cached in ~/.cache/torch_extensions); the optimizer is torch AdamW,
    so no cpu_adam build is needed.
    """
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "zero2"
    cfg = _config("lora", max_steps=4, save_steps=100, deepspeed={"stage": 2, "offload": False})
    metrics = train(cfg, tiny_base(), instruction_file(), out)
    ds = json.loads((out / "deepspeed.json").read_text())
    assert ds["zero_optimization"]["stage"] == 2
    assert metrics["steps"] == 4
    # ZeRO-2 on one process is numerically the plain run.
    plain = train(_config("lora", max_steps=4, save_steps=100), tiny_base(), instruction_file(), tmp_path / "plain")
    assert metrics["loss_history"] == pytest.approx(plain["loss_history"], rel=1e-4)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert os.environ["WORLD_SIZE"] == "1"
