"""Tests for ``writing-alpaca train`` and the ``writing_alpaca.training`` recipe."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from _causal_lm_fixtures import (
    GRAMMAR,
    PROMPTS,
    SYSTEM,
    TEMPLATE,
    TRAINING,
    instruction_file,
    tiny_base,
    trained_system,
)
from writing_alpaca import train as train_module
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.format import render_prompt
from writing_alpaca.training.checkpoints import Accounting, Attempt, CheckpointDir
from writing_alpaca.training.config import TrainConfig, steps_for_epochs
from writing_alpaca.training.examples import (
    IGNORE_INDEX,
    build_examples,
    load_instruction_records,
    padding_collator,
    tokenize_example,
)
from writing_alpaca.training.modelling import choose_precision
from writing_alpaca.training.recipe import default_checkpoint_dir, train
from writing_alpaca.training.zero import deepspeed_config, ensure_process_group_env, validate_deepspeed_config


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _tokenizer():
    from writing_alpaca.training.modelling import load_tokenizer

    return load_tokenizer(tiny_base())


def _config(method: str = "lora", **training) -> TrainConfig:
    return TrainConfig.from_fragments("toy", {**SYSTEM, "method": method}, {**TRAINING, **training}, TEMPLATE, seed=1)


# ------------------------------------------------------------------ data


def test_prompt_rendering_matches_alpaca_lora():
    assert render_prompt(GRAMMAR, "she go", template=TEMPLATE) == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n### Instruction:\n"
        "Fix grammatical errors in the text.\n\n### Input:\nshe go\n\n### Response:\n"
    )
    assert render_prompt("Say hi.", "", template=TEMPLATE).endswith("### Instruction:\nSay hi.\n\n### Response:\n")


def test_response_only_loss_mask():
    tok = _tokenizer()
    prompt = render_prompt(GRAMMAR, "she go to school", template=TEMPLATE)
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
    prompt = render_prompt(GRAMMAR, "she go to school", template=TEMPLATE)
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


def test_an_empty_response_is_supervised_by_eos_alone():
    import math

    from writing_alpaca.training.modelling import load_base_model

    tok = _tokenizer()
    prompt = render_prompt("Say nothing.", "", template=TEMPLATE)
    ex = tokenize_example(tok, prompt, "", cutoff_len=256)
    n_prompt = len(tok(prompt)["input_ids"])
    assert ex["input_ids"] == tok(prompt)["input_ids"] + [tok.eos_token_id]
    assert ex["labels"] == [IGNORE_INDEX] * n_prompt + [tok.eos_token_id]
    # kept by build_examples, and its loss is a number (a zero-label example would give 0/0)
    [kept] = build_examples([{"instruction": "Say nothing.", "input": "", "output": ""}], tok, _config().template, 256)
    assert kept == ex
    model = load_base_model(tiny_base(), "fp32")
    batch = padding_collator(tok)([kept])
    assert math.isfinite(float(model(**batch).loss.detach()))


def test_alpaca_item_with_empty_output_reaches_training_with_eos_as_its_label(tmp_path):
    """data train (Alpaca JSON) -> format (mixture) -> the trainer's examples: the item is kept."""
    from writing_alpaca import data
    from writing_alpaca import format as fmt
    from writing_alpaca.io import write_jsonl

    items = [
        {"instruction": "Add.", "input": "1 2", "output": "3"},
        {"instruction": "Say nothing.", "input": "", "output": ""},
    ]
    (tmp_path / "alpaca_data.json").write_text(json.dumps(items))
    records = data.build_train_records(
        "alpaca", {"task": "generic", "format": "alpaca", "path": "alpaca_data.json", "n": None}, tmp_path, 1
    )
    assert len(records) == 2 and records[1]["output"] == ""
    write_jsonl(tmp_path / "alpaca.jsonl", records)
    mixture = fmt.build_mixture("alpaca", {"generic": "alpaca", "writing": []}, {}, 1, [tmp_path / "alpaca.jsonl"])
    write_jsonl(tmp_path / "mixture.jsonl", mixture)
    loaded = load_instruction_records(tmp_path / "mixture.jsonl")
    assert sorted(r["output"] for r in loaded) == ["", "3"]
    tok = _tokenizer()
    examples = build_examples(loaded, tok, _config().template, 256)
    assert len(examples) == 2
    supervised = sorted(([t for t in e["labels"] if t != IGNORE_INDEX] for e in examples), key=len)
    assert supervised[0] == [tok.eos_token_id]
    assert supervised[1] == tok("3", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]


def test_padding_collator():
    """transformers' DataCollatorForSeq2Seq as the trainer builds it: right padding to a multiple
    of 8, pad ids with attention 0, labels -100 (int64), and the padding leaves the loss as it is."""
    import torch

    from writing_alpaca.training.modelling import load_base_model

    tok = _tokenizer()
    pad = tok.pad_token_id
    features = [
        {"input_ids": [1, 5, 6], "attention_mask": [1, 1, 1], "labels": [-100, 5, 6]},
        {"input_ids": [1, 7, 8, 9, 2], "attention_mask": [1] * 5, "labels": [-100, -100, 8, 9, 2]},
    ]
    batch = padding_collator(tok)(features)
    assert sorted(batch) == ["attention_mask", "input_ids", "labels"]
    assert all(value.dtype == torch.int64 for value in batch.values())
    assert batch["input_ids"].tolist() == [[1, 5, 6] + [pad] * 5, [1, 7, 8, 9, 2] + [pad] * 3]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 5, 6] + [-100] * 5, [-100, -100, 8, 9, 2] + [-100] * 3]
    nine = {"input_ids": list(range(1, 10)), "attention_mask": [1] * 9, "labels": list(range(1, 10))}
    assert padding_collator(tok)([nine])["input_ids"].shape == (1, 16)
    assert padding_collator(tok, pad_to_multiple_of=None)([nine])["input_ids"].shape == (1, 9)

    # the loss of the padded batch is that of each example on its own, unpadded (tokens weighed equally)
    model = load_base_model(tiny_base(), "fp32")
    with torch.no_grad():
        padded = model(**batch).loss
        per_example = [model(**{k: torch.tensor([v]) for k, v in f.items()}).loss for f in features]
    supervised = [sum(label != IGNORE_INDEX for label in f["labels"][1:]) for f in features]  # labels are shifted
    expected = sum(loss * n for loss, n in zip(per_example, supervised)) / sum(supervised)
    assert torch.allclose(padded, expected, atol=1e-6)

    tok.padding_side = "left"
    with pytest.raises(WritingAlpacaError, match="training pads on the right"):
        padding_collator(tok)


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
        ({**SYSTEM, "method": "none"}, {}, "'lora' or 'full'"),
        ({**SYSTEM, "method": "lora", "kind": "seq2seq"}, {}, "causal_lm"),
        ({**SYSTEM, "method": "lora"}, {"batch_size": 10, "micro_batch_size": 4}, "multiple of micro_batch_size"),
        (
            {**SYSTEM, "method": "lora"},
            {"precision": "half"},
            "training.precision: Input should be 'auto', 'bf16', 'fp16' or 'fp32' \\(got 'half'\\)",
        ),
        (
            {**SYSTEM, "method": "lora"},
            {"bf16": "auto"},
            r"training.bf16: renamed: use precision: auto\|bf16\|fp16\|fp32",
        ),
        ({**SYSTEM, "method": "lora"}, {"deepspeed": {"stage": 4}}, "stage"),
        ({**SYSTEM, "method": "lora"}, {"deepspeed": {"stage": 1, "offload": True}}, "offload"),
        ({**SYSTEM, "method": "lora"}, {"lora": {"r": 8, "target_modules": []}}, "target_modules"),
        ({**SYSTEM, "method": "full"}, {"learning_rate": {"lora": 1e-4}}, "no rate"),
        ({**SYSTEM, "method": "lora"}, {"max_steps": 0}, "max_steps"),
    ],
)
def test_config_errors(spec, training, message):
    with pytest.raises(WritingAlpacaError, match=message):
        TrainConfig.from_fragments("toy", spec, {**TRAINING, **training}, TEMPLATE)


def test_step_budget_in_epochs_becomes_steps():
    # Table 7's LLaMA-GEC: one epoch of cLang-8's 2,372,119 pairs at batch 128
    assert steps_for_epochs(1, 2_372_119, 128) == 18_533
    assert steps_for_epochs(0.5, 100, 8) == 7  # ceil(6.25)
    assert steps_for_epochs(0.1, 80, 8) == 1  # exact decimal: 0.1 x 80 / 8 is 1, not 2
    assert steps_for_epochs(1e-6, 10, 8) == 1  # at least one step
    paper = {**TRAINING, "batch_size": 128, "micro_batch_size": 4}
    gec = TrainConfig.from_fragments("gec", {**SYSTEM, "method": "lora", "training": {"epochs": 1}}, paper, TEMPLATE)
    assert (gec.max_steps, gec.epochs) == (None, 1.0)  # the system's budget replaces training.max_steps
    assert gec.resolve_steps(2_372_119).max_steps == 18_533
    assert gec.resolve_steps(2_372_119).fingerprint()["epochs"] == 1.0
    # what training_for() passes: the block with the system's budget applied
    merged = {**{k: v for k, v in paper.items() if k != "max_steps"}, "epochs": 2}
    assert (
        TrainConfig.from_fragments("gec", {**SYSTEM, "method": "lora"}, merged, TEMPLATE).resolve_steps(640).max_steps
        == 10
    )
    # a budget in steps, the system's or the shared one, is kept whatever the data size
    own = TrainConfig.from_fragments("gec", {**SYSTEM, "method": "lora", "training": {"max_steps": 7}}, paper, TEMPLATE)
    assert own.resolve_steps(10**6).max_steps == 7 and own.epochs is None
    assert _config().resolve_steps(10**6).max_steps == TRAINING["max_steps"]


@pytest.mark.parametrize(
    "own, training, message",
    [
        ({"epochs": 0}, {}, r"systems.toy.training.epochs: Input should be greater than 0 \(got 0\)"),
        ({"epochs": "one"}, {}, r"systems.toy.training.epochs: expected a number, got 'one'"),
        ({"epochs": True}, {}, r"systems.toy.training.epochs: expected a number, got True"),
        ({"epochs": float("inf")}, {}, r"systems.toy.training.epochs: expected a finite number, got inf"),
        ({"max_steps": 0}, {}, r"systems.toy.training.max_steps: Input should be greater than or equal to 1 \(got 0\)"),
        ({"epochs": 1, "max_steps": 5}, {}, r"systems.toy.training: give exactly one step budget.*\(got both\)"),
        ({}, {}, r"systems.toy.training: give exactly one step budget.*got neither"),
        ({"steps": 5}, {}, r"systems.toy.training: unknown key 'steps' \(allowed: max_steps, epochs\)"),
        ([1], {}, r"systems.toy.training: expected a mapping \(got \[1\]\)"),
        (None, {"max_steps": None}, r"training: give exactly one step budget.*\(got both\)"),
        (None, {"epochs": 1}, r"training: give exactly one step budget.*\(got both\)"),
    ],
)
def test_step_budget_errors_name_the_key(own, training, message):
    spec = {**SYSTEM, "method": "lora"} if own is None else {**SYSTEM, "method": "lora", "training": own}
    block = {**TRAINING, **training}
    if block.get("max_steps", 0) is None:
        block.pop("max_steps")
        message = r"training: give exactly one step budget.*\(got neither\)"
    with pytest.raises(WritingAlpacaError, match=message):
        TrainConfig.from_fragments("toy", spec, block, TEMPLATE)


# ------------------------------------------------------------------ precision


def _gpu(monkeypatch, capability: tuple[int, int]) -> None:
    """Pretend a CUDA GPU of ``capability`` is present (only the queries the chooser makes)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        # torch: True from 8.0, and below it too when emulation counts (a V100 "supports" bf16)
        return capability >= (8, 0) or including_emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)


@pytest.mark.parametrize("capability, auto", [((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"), ((9, 0), "bf16")])
def test_auto_precision_is_bf16_only_where_the_gpu_has_it_natively(monkeypatch, capability, auto):
    import torch

    _gpu(monkeypatch, capability)
    assert torch.cuda.is_bf16_supported()  # the default query says yes even on a V100 (7.0)
    assert choose_precision("auto") == auto
    assert choose_precision("auto", fp16=False) == ("bf16" if auto == "bf16" else "fp32")  # T5: no fp16
    assert choose_precision("fp16") == "fp16" and choose_precision("fp32") == "fp32"


def test_bf16_on_a_pre_ampere_gpu_is_a_clear_error(monkeypatch):
    _gpu(monkeypatch, (7, 0))
    with pytest.raises(
        WritingAlpacaError,
        match=r"training.precision is bf16 but this GPU has compute capability 7.0: "
        r"native bf16 needs 8.0 or newer .*use fp16",
    ):
        choose_precision("bf16")
    _gpu(monkeypatch, (8, 0))
    assert choose_precision("bf16") == "bf16"


def test_cpu_precision_is_fp32(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_precision("auto") == choose_precision("fp32") == "fp32"
    for half in ("bf16", "fp16"):
        with pytest.raises(WritingAlpacaError, match=f"training.precision is {half} but no GPU is available"):
            choose_precision(half)
    with pytest.raises(WritingAlpacaError, match="must be one of auto, bf16, fp16, fp32"):
        choose_precision("tf32")


def test_decoding_is_fp16_on_a_pre_ampere_gpu(monkeypatch):
    from writing_alpaca import decode

    _gpu(monkeypatch, (7, 0))  # the paper's V100: fp16 inference, HF and vLLM backends alike
    assert choose_precision("auto", what="decoding") == "fp16" and decode.vllm_dtype("auto") == "float16"
    assert decode.vllm_dtype("fp32") == "float32"
    with pytest.raises(WritingAlpacaError, match="decoding.precision is bf16 but .*compute capability 7.0"):
        decode.vllm_dtype("bf16")
    _gpu(monkeypatch, (8, 0))
    assert choose_precision("auto", what="decoding") == "bf16" and decode.vllm_dtype("auto") == "bfloat16"


def test_lora_adapter_on_a_half_precision_base_stays_fp32():
    """fp16 mixed precision: GradScaler unscales only fp32 gradients (peft's autocast_adapter_dtype)."""
    import torch

    from writing_alpaca.training.modelling import apply_lora, load_base_model

    model = apply_lora(load_base_model(tiny_base(), "fp16"), _config().lora)
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    assert {p.dtype for p in model.parameters() if not p.requires_grad} == {torch.float16}


def test_template_must_have_slots():
    with pytest.raises(WritingAlpacaError, match="input"):
        TrainConfig.from_fragments(
            "toy", {**SYSTEM, "method": "lora"}, TRAINING, {**TEMPLATE, "prompt_input": "{instruction}"}
        )


def test_deepspeed_config_generation_and_validation():
    zero2 = deepspeed_config(_config(deepspeed={"stage": 2, "offload": False}).deepspeed, precision="fp32")
    assert zero2["zero_optimization"]["stage"] == 2
    assert zero2["train_micro_batch_size_per_gpu"] == "auto" and "optimizer" not in zero2
    validate_deepspeed_config(zero2, micro_batch=4, grad_accum=2, precision="fp32")

    # ZeRO-3 gathers full weights on save; offload on GPUs uses DeepSpeed's CPU Adam ...
    zero3 = deepspeed_config(_config(deepspeed={"stage": 3, "offload": True}).deepspeed, cuda=True, precision="bf16")
    z = zero3["zero_optimization"]
    assert z["stage3_gather_16bit_weights_on_model_save"] is True
    assert z["offload_optimizer"] == z["offload_param"] == {"device": "cpu", "pin_memory": True}
    assert zero3["optimizer"]["type"] == "AdamW"
    validate_deepspeed_config(zero3, micro_batch=4, grad_accum=2, precision="bf16")
    # ... and on a CPU-only machine torch AdamW (no cpu_adam op to build)
    zero3_cpu = deepspeed_config(
        _config(deepspeed={"stage": 3, "offload": True}).deepspeed, cuda=False, precision="fp32"
    )
    assert "optimizer" not in zero3_cpu and zero3_cpu["zero_force_ds_cpu_optimizer"] is False
    assert zero3_cpu["zero_optimization"]["offload_param"]["pin_memory"] is False
    validate_deepspeed_config(zero3_cpu, micro_batch=4, grad_accum=2, precision="fp32")
    # ZeRO-3 without offload
    plain3 = deepspeed_config(_config(deepspeed={"stage": 3, "offload": False}).deepspeed, precision="bf16")
    assert "offload_param" not in plain3["zero_optimization"] and "optimizer" not in plain3
    validate_deepspeed_config(plain3, micro_batch=1, grad_accum=8, precision="bf16")

    broken = {**zero2, "zero_optimization": {**zero2["zero_optimization"], "stage": "two"}}
    with pytest.raises(WritingAlpacaError, match="DeepSpeed rejects"):
        validate_deepspeed_config(broken, micro_batch=4, grad_accum=2, precision="fp32")


def test_deepspeed_config_follows_the_precision():
    from deepspeed.runtime.config import DeepSpeedConfig

    settings = _config(deepspeed={"stage": 2, "offload": False}).deepspeed
    fp16 = deepspeed_config(settings, precision="fp16")
    assert fp16["bf16"] == {"enabled": False}
    assert fp16["fp16"]["enabled"] is True and fp16["fp16"]["loss_scale"] == 0  # 0: dynamic loss scaling
    assert fp16["fp16"]["initial_scale_power"] == 16 and fp16["fp16"]["min_loss_scale"] == 1
    validate_deepspeed_config(fp16, micro_batch=4, grad_accum=2, precision="fp16")
    parsed = DeepSpeedConfig(
        {
            **fp16,
            "train_batch_size": 8,
            "train_micro_batch_size_per_gpu": 4,
            "gradient_accumulation_steps": 2,
            "gradient_clipping": 1.0,
            "zero_optimization": {"stage": 2},
        }
    )
    assert parsed.float16_config.enabled and not parsed.bfloat16_config.enabled
    assert parsed.float16_config.loss_scale == 0 and parsed.float16_config.initial_dynamic_scale() == 2**16

    bf16 = deepspeed_config(settings, precision="bf16")
    assert bf16["bf16"] == {"enabled": True} and bf16["fp16"]["enabled"] is False
    fp32 = deepspeed_config(settings, precision="fp32")
    assert fp32["bf16"]["enabled"] is False and fp32["fp16"]["enabled"] is False
    with pytest.raises(WritingAlpacaError, match="bf16.enabled=False but the run's precision is bf16"):
        validate_deepspeed_config(fp16, micro_batch=4, grad_accum=2, precision="bf16")


def test_single_process_gets_a_process_group_environment(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    ensure_process_group_env()
    assert (os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["LOCAL_RANK"]) == ("0", "1", "0")
    assert 0 < int(os.environ["MASTER_PORT"]) < 65536
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun's values are kept
    ensure_process_group_env()
    assert os.environ["WORLD_SIZE"] == "2"
    monkeypatch.delenv("MASTER_PORT")
    with pytest.raises(WritingAlpacaError, match="MASTER_PORT"):
        ensure_process_group_env()


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
        "template": TEMPLATE,  # what edit and decode prompt it with
        "prompts": PROMPTS,
    }
    metrics = json.loads((out / "train_metrics.json").read_text())
    for key in (
        "wall_seconds",
        "gpus",
        "gpu_hours",
        "tokens_seen",
        "tokens_per_second",
        "steps",
        "final_loss",
        "loss_history",
        "hardware",
    ):
        assert key in metrics
    assert metrics["steps"] == 30 and len(metrics["loss_history"]) == 30
    if not _cuda():
        assert metrics["gpus"] == 0 and metrics["gpu_hours"] == 0
    assert metrics["tokens_seen"] == _expected_tokens_seen(30 * 2)
    first, last = metrics["loss_history"][0], metrics["final_loss"]
    assert last < 0.85 * first, (first, last)
    # batch 8 = micro-batch 4 x 2 accumulation steps x 1 process
    assert (metrics["world_size"], metrics["gradient_accumulation"], metrics["effective_batch_size"]) == (1, 2, 8)
    # one uninterrupted attempt: everything it processed is the trajectory
    [attempt] = metrics["attempts"]
    assert attempt["outcome"] == "finished" and (attempt["start_step"], attempt["end_step"]) == (0, 30)
    assert metrics["tokens_processed"] == metrics["tokens_seen"] == attempt["tokens_processed"]
    assert 0 < metrics["train_seconds"] <= metrics["wall_seconds"] == attempt["wall_seconds"]
    assert metrics["tokens_per_second"] == pytest.approx(metrics["tokens_seen"] / metrics["train_seconds"], rel=1e-3)
    # the checkpoints (every 20 steps and at the end) are gone once the system is written
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["README.md", "adapter" if method == "lora" else "model", "card.json", "system.json", "train_metrics.json"]
    )  # README.md + card.json: the model card (writing_alpaca.cards)
    assert not default_checkpoint_dir(out).exists()


def test_an_epoch_budget_becomes_steps_once_the_examples_are_known(tmp_path):
    config = TrainConfig.from_fragments(
        "toy-epochs",
        {**SYSTEM, "method": "lora", "training": {"epochs": 1.5}},
        {**TRAINING, "save_steps": 100},
        TEMPLATE,
        seed=1,
    )
    metrics = train(config, tiny_base(), instruction_file(), tmp_path / "out")
    # 16 examples x 1.5 epochs / batch 8 = 3 steps
    assert (metrics["examples"], metrics["steps"], metrics["epochs"]) == (16, 3, 1.5)
    assert len(metrics["loss_history"]) == 3


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
    assert (
        json.loads((again / "train_metrics.json").read_text())["loss_history"]
        == json.loads((out / "train_metrics.json").read_text())["loss_history"]
    )


def test_checkpoint_dir_resumes_only_complete_checkpoints_of_the_same_settings(tmp_path):
    fingerprint = {"training": {"lora": {"r": 8, "target_modules": ["q_proj", "v_proj"]}}, "data_sha256": "ab"}
    directory = CheckpointDir(tmp_path / "ckpt")
    assert directory.prepare(fingerprint) is None  # nothing yet: a fresh start
    for step in (2, 4, 6):
        (directory.path / f"checkpoint-{step}").mkdir()
    for step in (2, 4):
        directory.mark_complete(directory.path / f"checkpoint-{step}")
    # checkpoint-6 was being written when the job died: dropped, the run resumes from checkpoint-4
    assert directory.prepare(fingerprint) == directory.path / "checkpoint-4"
    assert [p.name for p in directory.checkpoints()] == ["checkpoint-2", "checkpoint-4"]

    changed = {"training": {"lora": {"r": 8, "target_modules": ["q_proj"]}}, "data_sha256": "cd"}
    with pytest.raises(WritingAlpacaError) as error:
        directory.prepare(changed)
    message = str(error.value)
    assert "refusing to resume" in message and str(directory.path) in message
    assert 'training.lora.target_modules: ["q_proj", "v_proj"] -> ["q_proj"]' in message
    assert 'data_sha256: "ab" -> "cd"' in message

    directory.remove()
    assert not directory.path.exists()


def test_accounting_sums_attempts_and_marks_killed_ones(tmp_path):
    books = Accounting(tmp_path / "accounting.json")
    books.attempts.append(
        Attempt(
            "t0",
            gpus=8,
            world_size=8,
            start_step=0,
            end_step=70,
            wall_seconds=3600.0,
            train_seconds=3000.0,
            tokens_processed=7000,
        )
    )
    books.save()  # still "running" when the job was SIGKILLed
    books = Accounting.load(tmp_path / "accounting.json")
    assert books.attempts[0].outcome == "killed"
    books.attempts.append(
        Attempt(
            "t1",
            gpus=8,
            world_size=8,
            start_step=60,
            end_step=100,
            wall_seconds=1800.0,
            train_seconds=1000.0,
            tokens_processed=4000,
            outcome="finished",
        )
    )
    totals = books.totals()
    assert totals["wall_seconds"] == 5400.0
    assert totals["gpu_hours"] == 12.0  # 8 GPUs x 1.5 h
    assert totals["tokens_processed"] == 11000  # the 10 redone steps count: they were paid for
    assert totals["tokens_per_second"] == 2.75
    assert [a["outcome"] for a in totals["attempts"]] == ["killed", "finished"]


def test_training_fingerprint_ignores_only_bookkeeping_settings():
    base = _config("lora").fingerprint()
    assert _config("lora", save_steps=7, logging_steps=3).fingerprint() == base
    assert _config("lora", micro_batch_size=2).fingerprint() != base
    assert (
        _config("lora", lora={"r": 4, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj"]}).fingerprint() != base
    )
    assert "lora" not in _config("full").fingerprint()


def test_cli_train(tmp_path):
    parser = argparse.ArgumentParser()
    train_module.register(parser.add_subparsers())
    out = tmp_path / "cli"
    training = {**TRAINING, "max_steps": 2, "save_steps": 100}
    args = parser.parse_args(
        [
            "train",
            "--system",
            "cli",
            "--spec",
            json.dumps({**SYSTEM, "method": "lora", "kind": "causal_lm", "base": "tiny"}),
            "--training",
            json.dumps(training),
            "--template",
            json.dumps(TEMPLATE),
            "--prompts",
            json.dumps(PROMPTS),
            "--base",
            str(tiny_base()),
            "--data",
            str(instruction_file()),
            "--out",
            str(out),
            "--checkpoint-dir",
            str(tmp_path / "checkpoints" / "cli"),
            "--logging-dir",
            str(tmp_path / "logs" / "cli"),
        ]
    )
    assert args.func(args) == 0
    assert json.loads((out / "train_metrics.json").read_text())["steps"] == 2
    assert not (out / "deepspeed.json").exists()
    assert list((tmp_path / "checkpoints").iterdir()) == []  # removed after success
    assert list((tmp_path / "logs" / "cli").glob("events.out.tfevents.*"))  # TensorBoard's, kept


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(ids).logits


def test_merged_lora_model_gives_the_logits_of_base_plus_adapter(tmp_path):
    import torch
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    system = trained_system("lora")
    parser = argparse.ArgumentParser()
    train_module.register(parser.add_subparsers())
    args = parser.parse_args(["merge", "--system-dir", str(system), "--out", str(tmp_path / "merged")])
    assert args.func(args) == 0

    merged_dir = tmp_path / "merged"
    files = {p.name for p in merged_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "merged_from.json"} <= files
    assert "adapter_config.json" not in files
    recorded, trained = (json.loads(p.read_text()) for p in (merged_dir / "merged_from.json", system / "system.json"))
    assert recorded["template"] == trained["template"] and recorded["prompts"] == trained["prompts"]
    assert recorded["system"] == trained["system"] and recorded["adapter"] == str(system / "adapter")
    # the system's model card, and the merged model's: a standalone transformers model now (issue 14)
    import yaml

    assert (system / "README.md").is_file() and "README.md" in files
    meta = yaml.safe_load((merged_dir / "README.md").read_text(encoding="utf-8").split("---\n")[1])
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-generation"
    with (
        safe_open(str(merged_dir / "model.safetensors"), "pt") as merged,
        safe_open(str(tiny_base() / "model.safetensors"), "pt") as base_file,
    ):
        assert set(merged.keys()) == set(base_file.keys())  # a plain LLaMA: no lora_A / lora_B left

    ids = torch.tensor([[1, 40, 50, 60, 70, 80], [1, 90, 100, 110, 120, 130]])
    base = AutoModelForCausalLM.from_pretrained(str(tiny_base()))
    before = _logits(base, ids)
    with_adapter = _logits(PeftModel.from_pretrained(base, str(system / "adapter")).eval(), ids)
    standalone = _logits(AutoModelForCausalLM.from_pretrained(str(merged_dir)).eval(), ids)
    assert not torch.allclose(before, with_adapter, atol=1e-3)
    torch.testing.assert_close(standalone, with_adapter, atol=1e-5, rtol=1e-5)


def test_merge_needs_a_lora_system(tmp_path):
    from writing_alpaca.training.merge import merge_adapter

    with pytest.raises(WritingAlpacaError, match="not a LoRA system"):
        merge_adapter(trained_system("full"), tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_bad_data_is_a_located_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"instruction": GRAMMAR, "input": "x", "output": "y"})
        + "\n"
        + json.dumps({"instruction": GRAMMAR})
        + "\n"
    )
    with pytest.raises(WritingAlpacaError, match=r"bad.jsonl:2: .*'output'"):
        train(_config(), tiny_base(), bad, tmp_path / "out")
