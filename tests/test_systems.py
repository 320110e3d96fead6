"""Tests for the trained-system directory contract (``writing_alpaca.systems``): system.json,
train_metrics.json, model-directory resolution, and the template and task prompts that
``edit`` and ``decode`` take from a trained system."""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path

import pytest

from _causal_lm_fixtures import GRAMMAR, PROMPTS, TEMPLATE, eval_file, tiny_base, trained_system, write_jsonl
from writing_alpaca import decode as decode_module
from writing_alpaca import edit as edit_module
from writing_alpaca import systems
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.systems import SystemInfo

#: a template unlike format.TEMPLATE, to tell where a prompt came from
OTHER_TEMPLATE = {
    "prompt_input": "Q: {instruction}\nText: {input}\nA:\n",
    "prompt_no_input": "Q: {instruction}\nA:\n",
    "response_split": "A:",
}
OTHER_PROMPTS = {"grammar": "Correct the grammar.", "fluency": "Smooth it."}
METRICS = {"steps": 3, "final_loss": 0.5, "hardware": "CPU: test"}


def _model_dir(path: Path, tokenizer: bool = False) -> Path:
    """A stand-in model directory (resolution only looks for config.json / tokenizer_config.json)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}")
    if tokenizer:
        (path / "tokenizer_config.json").write_text("{}")
    return path


def _lora_system(
    root: Path,
    *,
    template=OTHER_TEMPLATE,
    prompts=OTHER_PROMPTS,
    base: str | Path | None = None,
    tokenizer: bool = True,
) -> Path:
    """A LoRA system directory with stand-in weights."""
    base = _model_dir(root / "base") if base is None else base
    out = root / "system"
    adapter = out / systems.ADAPTER_DIR
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    if tokenizer:
        (adapter / "tokenizer_config.json").write_text("{}")
    systems.write_system(out, SystemInfo.causal_lm("toy", "lora", base, template, prompts), METRICS)
    return out


def _write(system_dir: Path, record) -> Path:
    system_dir.mkdir(parents=True, exist_ok=True)
    path = system_dir / systems.SYSTEM_JSON
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    return path


# ---------------------------------------------------------------------------- writing and reading


def test_round_trip_of_a_causal_lm_and_a_baseline(tmp_path):
    lm = SystemInfo.causal_lm("toy", "full", tmp_path / "base", TEMPLATE, PROMPTS)
    path = systems.write_system(tmp_path / "lm", lm, METRICS)
    assert path == tmp_path / "lm" / "system.json"
    assert json.loads(path.read_text()) == {
        "system": "toy",
        "kind": "causal_lm",
        "method": "full",
        "base": str(tmp_path / "base"),
        "adapter": None,
        "model": "model",
        "template": TEMPLATE,
        "prompts": PROMPTS,
    }
    back = systems.read_system(tmp_path / "lm")
    assert back == lm and back.system_dir == tmp_path / "lm" and back.path == path
    assert back.model_dir == tmp_path / "lm" / "model" and back.adapter_dir is None
    assert back.prompt("grammar") == GRAMMAR
    assert systems.read_train_metrics(tmp_path / "lm") == METRICS

    baseline = SystemInfo.baseline("t5", "seq2seq", "resources/models/t5")
    systems.write_system(tmp_path / "t5", baseline, {"steps": 1})
    assert json.loads((tmp_path / "t5" / "system.json").read_text()) == {  # no template for a baseline
        "system": "t5",
        "kind": "seq2seq",
        "method": "full",
        "base": "resources/models/t5",
        "adapter": None,
        "model": "model",
    }
    assert systems.read_system(tmp_path / "t5", kinds=systems.BASELINE_KINDS) == baseline
    assert systems.is_system_dir(tmp_path / "t5") and not systems.is_system_dir(tmp_path)


def test_the_writer_refuses_what_the_reader_would_and_writes_nothing(tmp_path):
    bad = SystemInfo.causal_lm("toy", "lora", "base", {"prompt_input": "no slots"}, PROMPTS)
    with pytest.raises(WritingAlpacaError, match=r"out/system.json: (?s:.*)template(?s:.*)prompt_no_input"):
        systems.write_system(tmp_path / "out", bad, METRICS)
    assert not (tmp_path / "out").exists()
    with pytest.raises(WritingAlpacaError, match=r"system.json: 'prompts' must map task names"):
        systems.check_system(SystemInfo.causal_lm("toy", "lora", "base", TEMPLATE, {"grammar": ""}), tmp_path)


def test_start_system_removes_a_stale_system_json(tmp_path):
    systems.write_system(tmp_path / "s", SystemInfo.baseline("g", "gector", "b"), METRICS)
    systems.start_system(tmp_path / "s")
    assert not systems.is_system_dir(tmp_path / "s") and (tmp_path / "s" / "train_metrics.json").is_file()
    systems.start_system(tmp_path / "new")  # creates the directory
    assert (tmp_path / "new").is_dir()


def test_a_missing_system_json_names_the_file(tmp_path):
    with pytest.raises(WritingAlpacaError) as info:
        systems.read_system(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'system.json'}: not found")
    assert "not a trained system, or its training did not finish" in message


@pytest.mark.parametrize(
    "record, message",
    [
        ('{"system": "x", ', r"system.json:1: invalid JSON"),
        ("[1, 2]", r"system.json: expected a JSON object with system, kind, method, base, adapter, model, got list"),
        ({"system": "x", "kind": "gector"}, r"system.json: incomplete: missing method, base, adapter, model"),
        (  # written before system.json recorded the template: one clear error, not a KeyError later
            {"system": "x", "kind": "causal_lm", "method": "lora", "base": "b", "adapter": "adapter", "model": None},
            r"system.json: incomplete: missing template, prompts .*retrain",
        ),
        (
            {"system": "x", "kind": "rnn", "method": "full", "base": "b", "adapter": None, "model": "model"},
            r"system.json: kind must be one of causal_lm, seq2seq, gector, got 'rnn'",
        ),
        (
            {"system": "x", "kind": "gector", "method": "lora", "base": "b", "adapter": "a", "model": None},
            r"system.json: a gector system's method must be one of full, got 'lora'",
        ),
        (
            {"system": "x", "kind": "seq2seq", "method": "full", "base": "b", "adapter": None, "model": None},
            r"system.json: a fully trained system names its model dir and no adapter dir",
        ),
        (
            {
                "system": "x",
                "kind": "causal_lm",
                "method": "lora",
                "base": "b",
                "adapter": None,
                "model": "m",
                "template": TEMPLATE,
                "prompts": {},
            },
            r"system.json: a LoRA system names its adapter dir and no model dir",
        ),
        (
            {"system": "", "kind": "seq2seq", "method": "full", "base": "b", "adapter": None, "model": "model"},
            r"system.json: 'system' must be a non-empty string",
        ),
        (
            {
                "system": "x",
                "kind": "seq2seq",
                "method": "full",
                "base": "b",
                "adapter": None,
                "model": "model",
                "template": TEMPLATE,
            },
            r"system.json: a seq2seq system has no template \(causal LMs only\)",
        ),
        (
            {
                "system": "x",
                "kind": "causal_lm",
                "method": "full",
                "base": "b",
                "adapter": None,
                "model": "model",
                "template": {**TEMPLATE, "prompt_input": "{instruction}"},
                "prompts": {},
            },
            r"system.json: (?s:.*)prompt_input(?s:.*)\{input\}",
        ),
        (
            {
                "system": "x",
                "kind": "causal_lm",
                "method": "full",
                "base": "b",
                "adapter": None,
                "model": "model",
                "template": TEMPLATE,
                "prompts": ["Fix it."],
            },
            r"system.json: 'prompts' must map task names",
        ),
    ],
)
def test_a_corrupt_or_incomplete_system_json_is_one_error_naming_the_file(tmp_path, record, message):
    path = _write(tmp_path / "sys", record)
    with pytest.raises(WritingAlpacaError, match=message) as info:
        systems.read_system(tmp_path / "sys")
    assert str(info.value).startswith(str(path))


def test_a_system_of_another_kind_says_which_command_decodes_it(tmp_path):
    systems.write_system(tmp_path / "t5", SystemInfo.baseline("t5", "seq2seq", "b"), METRICS)
    with pytest.raises(
        WritingAlpacaError,
        match=r"t5/system.json: a seq2seq system, expected causal_lm: "
        r"it is decoded by 'writing-alpaca baselines decode'",
    ):
        systems.resolve_model_dirs(system_dir=tmp_path / "t5")
    lm = _lora_system(tmp_path)
    with pytest.raises(
        WritingAlpacaError, match=r"a causal_lm system, expected seq2seq or gector: .*'writing-alpaca decode'"
    ):
        systems.read_system(lm, kinds=systems.BASELINE_KINDS)


# ---------------------------------------------------------------------------- model directories


def test_resolve_path_is_absolute_working_directory_or_system_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here").mkdir()
    system_dir = tmp_path / "results" / "s"
    assert systems.resolve_path("/abs/base", system_dir) == Path("/abs/base")
    assert systems.resolve_path("here", system_dir) == Path("here")  # exists relative to the working dir
    assert systems.resolve_path("../elsewhere", system_dir) == system_dir / "../elsewhere"


def test_resolve_model_dirs_of_lora_full_and_base(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = _model_dir(tmp_path / "resources" / "base")
    # a LoRA system: the base as recorded (relative to the working directory), the adapter's tokenizer
    lora = _lora_system(tmp_path, base="resources/base")
    assert systems.resolve_model_dirs(system_dir=lora) == (Path("resources/base"), lora / "adapter", lora / "adapter")
    # the working directory changed: the recorded relative base is taken relative to the system dir
    moved = tmp_path / "moved"
    moved.mkdir()
    _model_dir(lora / "resources" / "base")
    monkeypatch.chdir(moved)
    assert systems.resolve_model_dirs(system_dir=lora).weights == lora / "resources" / "base"
    monkeypatch.chdir(tmp_path)
    # an adapter without its own tokenizer: the base's
    other = _lora_system(tmp_path / "other", base=base, tokenizer=False)
    assert systems.resolve_model_dirs(system_dir=other) == (base, other / "adapter", base)
    # full weights
    full = tmp_path / "full"
    _model_dir(full / "model")
    systems.write_system(full, SystemInfo.causal_lm("f", "full", base, TEMPLATE, PROMPTS), METRICS)
    assert systems.resolve_model_dirs(system_dir=full) == (full / "model", None, full / "model")
    # a bare base model
    assert systems.resolve_model_dirs(base=base) == (base, None, base)
    with pytest.raises(WritingAlpacaError, match="exactly one of --system-dir and --base"):
        systems.resolve_model_dirs()


def test_resolve_model_dirs_errors(tmp_path):
    lora = _lora_system(tmp_path)
    (lora / "adapter" / "adapter_config.json").unlink()
    with pytest.raises(WritingAlpacaError, match=r"adapter: LoRA adapter missing \(adapter_config.json\)"):
        systems.resolve_model_dirs(system_dir=lora)
    full = tmp_path / "full"
    systems.write_system(full, SystemInfo.causal_lm("f", "full", tmp_path / "base", TEMPLATE, PROMPTS), METRICS)
    with pytest.raises(WritingAlpacaError, match=r"full/model: not a Hugging Face model directory \(full fine-tuned"):
        systems.resolve_model_dirs(system_dir=full)
    with pytest.raises(WritingAlpacaError, match=r"nowhere: not a Hugging Face model directory \(base model"):
        systems.resolve_model_dirs(base=tmp_path / "nowhere")


def test_hardware_description_names_the_cpu_or_the_gpus():
    import torch

    gpus, description = systems.hardware()
    assert description == systems.hardware_description()
    if torch.cuda.is_available():
        assert gpus == torch.cuda.device_count() and " x " in description
    else:
        assert gpus == 0 and description.startswith("CPU: ") and f"({os.cpu_count()} cores)" in description


# ---------------------------------------------------------------------------- prompting


def test_prompt_template_and_task_instruction_precedence(tmp_path):
    info = systems.read_system(_lora_system(tmp_path))
    assert systems.prompt_template(info) == OTHER_TEMPLATE  # the recorded one
    assert systems.prompt_template(info, dict(OTHER_TEMPLATE)) == OTHER_TEMPLATE  # a --template that agrees
    with pytest.raises(WritingAlpacaError, match=r"system/system.json: --template differs from the template"):
        systems.prompt_template(info, TEMPLATE)
    assert systems.prompt_template(None, TEMPLATE) == TEMPLATE  # an untrained model is given one
    with pytest.raises(WritingAlpacaError, match=r"--template: required with --base"):
        systems.prompt_template(None)

    assert systems.task_instruction(info, task="grammar") == "Correct the grammar."
    assert systems.task_instruction(info, task_prompt="Say hi.") == "Say hi."  # an explicit instruction
    assert systems.task_instruction(None, task_prompt=GRAMMAR) == GRAMMAR
    assert systems.task_instruction(info) is None  # records with their own instruction
    with pytest.raises(
        WritingAlpacaError, match=r"system.json: no prompt recorded for task 'poetry' \(recorded: fluency, grammar\)"
    ):
        systems.task_instruction(info, task="poetry")
    with pytest.raises(WritingAlpacaError, match=r"--task grammar: an untrained model records no task prompts"):
        systems.task_instruction(None, task="grammar")
    with pytest.raises(WritingAlpacaError, match="one of --task and --task-prompt"):
        systems.task_instruction(info, task="grammar", task_prompt=GRAMMAR)


def test_edit_takes_the_template_and_prompt_from_the_system(tmp_path, monkeypatch):
    system = _lora_system(tmp_path)
    assert edit_module.prompting(system, "fluency") == ("Smooth it.", OTHER_TEMPLATE)
    assert edit_module.prompting(tiny_base(), "fluency") == (PROMPTS["fluency"], TEMPLATE)  # a bare model: format's
    with pytest.raises(WritingAlpacaError, match=r"system/system.json: no prompt recorded for task 'clarity'"):
        edit_module.prompting(system, "clarity")

    seen = {}

    class Recording:
        def __init__(self, model_dir, instruction, template, **kwargs):
            seen.update(model_dir=model_dir, instruction=instruction, template=template)

        def edit(self, texts):
            return [t.upper() for t in texts]

    monkeypatch.setattr(edit_module, "Editor", Recording)
    parser = argparse.ArgumentParser()
    edit_module.register(parser.add_subparsers())
    args = parser.parse_args(["edit", "--task", "grammar", "--model", str(system), "--text", "she go"])
    out = io.StringIO()
    assert edit_module.run(args, stdout=out) == 0 and out.getvalue() == "SHE GO\n"
    assert seen == {"model_dir": str(system), "instruction": "Correct the grammar.", "template": OTHER_TEMPLATE}


def test_decode_takes_the_template_and_prompt_from_the_system(tmp_path, monkeypatch):
    system = _lora_system(tmp_path)
    seen = {}

    def load_lm(system_dir=None, base=None, precision="auto"):
        seen["loaded"] = system_dir
        return argparse.Namespace(device="cpu")

    monkeypatch.setattr(decode_module, "load_lm", load_lm)

    def generate(lm, prompts, sources, spec):
        seen["prompts"] = list(prompts)
        return ["ok"] * len(prompts), decode_module.GenerationStats(instances=len(prompts))

    monkeypatch.setattr(decode_module, "generate_hf", generate)
    data = write_jsonl(tmp_path / "test.jsonl", [{"id": "1", "source": "she go"}])
    out, metrics = tmp_path / "o.txt", tmp_path / "o.json"
    parser = argparse.ArgumentParser()
    decode_module.register(parser.add_subparsers())
    common = [
        "decode",
        "--system-dir",
        str(system),
        "--data",
        str(data),
        "--decoding",
        "{}",
        "--out",
        str(out),
        "--metrics",
        str(metrics),
    ]
    args = parser.parse_args([*common, "--task", "grammar"])
    assert args.func(args) == 0
    assert seen == {
        "loaded": str(system),
        "prompts": [OTHER_TEMPLATE["prompt_input"].format(instruction="Correct the grammar.", input="she go")],
    }
    # a --template that agrees is accepted; one that differs is refused before the model loads
    args = parser.parse_args([*common, "--task", "grammar", "--template", json.dumps(OTHER_TEMPLATE)])
    assert args.func(args) == 0
    seen.clear()
    args = parser.parse_args([*common, "--task-prompt", GRAMMAR, "--template", json.dumps(TEMPLATE)])
    with pytest.raises(WritingAlpacaError, match=r"system.json: --template differs"):
        args.func(args)
    assert seen == {}
    with pytest.raises(SystemExit):  # --task and --task-prompt exclude each other
        parser.parse_args([*common, "--task", "grammar", "--task-prompt", GRAMMAR])
    # an untrained base model: --template is required, and --task has no prompts to pick from
    base = [
        "decode",
        "--base",
        str(tiny_base()),
        "--data",
        str(data),
        "--decoding",
        "{}",
        "--out",
        str(out),
        "--metrics",
        str(metrics),
    ]
    with pytest.raises(WritingAlpacaError, match="--template: required with --base"):
        (args := parser.parse_args([*base, "--task-prompt", GRAMMAR])).func(args)
    with pytest.raises(WritingAlpacaError, match="an untrained model records no task prompts"):
        (args := parser.parse_args([*base, "--task", "grammar", "--template", json.dumps(TEMPLATE)])).func(args)


def test_a_trained_system_decodes_from_its_own_record_as_from_the_rules_old_arguments(tmp_path):
    """The pipeline's outputs do not change: ``--task grammar`` with the recorded template gives the
    lines ``--task-prompt GRAMMAR --template TEMPLATE`` gave."""
    system = trained_system("lora")
    info = systems.read_system(system)
    assert (info.template, info.prompts) == (TEMPLATE, PROMPTS)
    decoding = {"num_beams": 2, "batch_size": 4, "max_new_tokens": 10}
    decode_module.decode(
        eval_file(6), GRAMMAR, TEMPLATE, decoding, tmp_path / "old.txt", tmp_path / "old.json", system_dir=system
    )
    decode_module.decode(
        eval_file(6),
        None,
        None,
        decoding,
        tmp_path / "new.txt",
        tmp_path / "new.json",
        system_dir=system,
        task="grammar",
    )
    assert (tmp_path / "new.txt").read_text(encoding="utf-8") == (tmp_path / "old.txt").read_text(encoding="utf-8")
