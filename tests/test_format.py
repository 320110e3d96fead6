"""Tests for writing_alpaca.format: paper constants, prompt rendering, mixture building."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from _data_fixtures import DEMO, DEMO_TRAIN_SETS
from writing_alpaca import data
from writing_alpaca import format as fmt
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.io import read_json, read_jsonl, write_jsonl

REPO = Path(__file__).resolve().parents[1]


CONFIG = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))


def test_prompts_match_paper_and_config():
    assert fmt.PROMPTS == {
        "grammar": "Fix grammatical errors in the text.",
        "fluency": "Make the text more fluent.",
        "clarity": "Make the text more concise and readable.",
        "coherence": "Make the text more cohesive.",
        "simplification": "Simplify the text.",
        "neutralization": "Neutralize the text.",
        "paraphrase": "Paraphrase the text.",
    }
    assert {task: entry["prompt"] for task, entry in CONFIG["tasks"].items()} == fmt.PROMPTS


def test_template_matches_config():
    assert CONFIG["template"] == fmt.TEMPLATE


def test_render_prompt_with_and_without_input():
    with_input = fmt.render_prompt("Simplify the text.", "A {braced} sentence.")
    assert with_input == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n### Instruction:\nSimplify the text.\n\n"
        "### Input:\nA {braced} sentence.\n\n### Response:\n"
    )
    without = fmt.render_prompt("Name a colour.", "")
    assert without == (
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nName a colour.\n\n### Response:\n"
    )
    assert fmt.render_prompt("Name a colour.") == without
    custom = {"prompt_input": "{instruction}|{input}", "prompt_no_input": "{instruction}", "response_split": "=>"}
    assert fmt.render_prompt("I", "X", custom) == "I|X"
    with pytest.raises(WritingAlpacaError, match="missing or non-string 'prompt_input'"):
        fmt.render_prompt("I", "X", {"prompt_no_input": "{instruction}"})


def test_extract_response():
    text = fmt.render_prompt("Fix.", "He go .") + "He goes .\n"
    assert fmt.extract_response(text) == "He goes ."
    assert fmt.extract_response("  no marker  ") == "no marker"


def _writing(path: Path, name: str, task: str, n: int) -> Path:
    write_jsonl(
        path / f"{name}.jsonl",
        [
            {
                "id": f"{name}-{i:06d}",
                "task": task,
                "source": f"{name} src {i}",
                "target": f"{name} tgt {i}",
                "detokenized": False,
            }
            for i in range(1, n + 1)
        ],
    )
    return path / f"{name}.jsonl"


def _generic(path: Path, name: str, n: int) -> Path:
    write_jsonl(
        path / f"{name}.jsonl",
        [
            {
                "id": f"{name}-{i:06d}",
                "task": "generic",
                "instruction": f"Do {i}.",
                "input": "" if i % 2 else f"in {i}",
                "output": f"out {i}",
            }
            for i in range(1, n + 1)
        ],
    )
    return path / f"{name}.jsonl"


TASKS = {task: {"prompt": prompt} for task, prompt in fmt.PROMPTS.items()}


def test_build_mixture_records_and_counts(tmp_path):
    inputs = [
        _generic(tmp_path, "alpaca", 4),
        _writing(tmp_path, "wi", "grammar", 3),
        _writing(tmp_path, "turk", "simplification", 2),
    ]
    spec = {"generic": "alpaca", "writing": ["wi", "turk"]}
    recs = fmt.build_mixture("mix", spec, TASKS, 42, inputs)
    assert len(recs) == 9
    by_id = {r["id"]: r for r in recs}
    assert by_id["wi-000002"] == {
        "id": "wi-000002",
        "task": "grammar",
        "instruction": "Fix grammatical errors in the text.",
        "input": "wi src 2",
        "output": "wi tgt 2",
    }
    assert by_id["turk-000001"]["instruction"] == "Simplify the text."
    assert by_id["alpaca-000002"] == {
        "id": "alpaca-000002",
        "task": "generic",
        "instruction": "Do 2.",
        "input": "in 2",
        "output": "out 2",
    }
    unshuffled = sorted(recs, key=lambda r: r["id"])
    assert recs != unshuffled  # shuffled
    assert fmt.count_summary(recs, "mix") == {
        "mixture": "mix",
        "total": 9,
        "tasks": {"generic": 4, "grammar": 3, "simplification": 2},
        "trainsets": {
            "alpaca": {"task": "generic", "n": 4},
            "turk": {"task": "simplification", "n": 2},
            "wi": {"task": "grammar", "n": 3},
        },
    }


def test_generic_item_with_empty_output_is_kept(tmp_path):
    # Stanford Alpaca is 52,002 instructions, a few with an empty output: a valid target (EOS alone)
    write_jsonl(
        tmp_path / "alpaca.jsonl",
        [
            {"id": "alpaca-000001", "task": "generic", "instruction": "Say nothing.", "input": "", "output": ""},
            {"id": "alpaca-000002", "task": "generic", "instruction": "Add.", "input": "1 2", "output": "3"},
        ],
    )
    recs = fmt.build_mixture("alpaca", {"generic": "alpaca", "writing": []}, TASKS, 1, [tmp_path / "alpaca.jsonl"])
    assert {r["id"]: r["output"] for r in recs} == {"alpaca-000001": "", "alpaca-000002": "3"}
    assert fmt.count_summary(recs, "alpaca")["total"] == 2


def test_writing_only_mixture(tmp_path):
    inputs = [_writing(tmp_path, "wnc", "neutralization", 3)]
    recs = fmt.build_mixture("w", {"generic": None, "writing": ["wnc"]}, TASKS, 1, inputs)
    assert {r["instruction"] for r in recs} == {"Neutralize the text."}


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    fmt.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_is_deterministic_and_writes_counts(tmp_path):
    a = _generic(tmp_path, "alpaca", 30)
    b = _writing(tmp_path, "wi", "grammar", 30)
    c = _writing(tmp_path, "itr_f", "fluency", 30)
    spec = json.dumps({"generic": "alpaca", "writing": ["wi", "itr_f"]})
    common = ["format", "--name", "mix", "--spec", spec, "--tasks", json.dumps(TASKS), "--seed", "42"]
    assert run_cli([*common, "--inputs", str(a), str(b), str(c), "--out", str(tmp_path / "o1" / "mix.jsonl")]) == 0
    assert run_cli([*common, "--inputs", str(c), str(a), str(b), "--out", str(tmp_path / "o2" / "mix.jsonl")]) == 0
    first = (tmp_path / "o1" / "mix.jsonl").read_bytes()
    assert first == (tmp_path / "o2" / "mix.jsonl").read_bytes()  # input order does not matter
    counts = read_json(tmp_path / "o1" / "mix.counts.json")
    assert counts["total"] == 90 and counts["tasks"] == {"fluency": 30, "generic": 30, "grammar": 30}
    other = ["format", "--name", "mix", "--spec", spec, "--tasks", json.dumps(TASKS), "--seed", "7"]
    assert (
        run_cli(
            [
                *other,
                "--inputs",
                str(a),
                str(b),
                str(c),
                "--out",
                str(tmp_path / "o3.jsonl"),
                "--counts-out",
                str(tmp_path / "c3.json"),
            ]
        )
        == 0
    )
    assert (tmp_path / "o3.jsonl").read_bytes() != first
    assert sorted(r["id"] for r in read_jsonl(tmp_path / "o3.jsonl")) == sorted(
        r["id"] for r in read_jsonl(tmp_path / "o1" / "mix.jsonl")
    )
    assert (tmp_path / "c3.json").is_file()


def test_mixture_errors(tmp_path):
    a = _generic(tmp_path, "alpaca", 2)
    b = _writing(tmp_path, "wi", "grammar", 2)
    spec = {"generic": "alpaca", "writing": ["wi"]}
    with pytest.raises(WritingAlpacaError, match=r"missing \['wi'\]"):
        fmt.build_mixture("m", spec, TASKS, 1, [a])
    extra = _writing(tmp_path, "extra", "grammar", 1)
    with pytest.raises(WritingAlpacaError, match=r"not in the mixture \['extra'\]"):
        fmt.build_mixture("m", spec, TASKS, 1, [a, b, extra])
    with pytest.raises(WritingAlpacaError, match="two inputs for trainset 'wi'"):
        (tmp_path / "copy").mkdir()
        fmt.build_mixture("m", spec, TASKS, 1, [a, b, _writing(tmp_path / "copy", "wi", "grammar", 1)])
    with pytest.raises(WritingAlpacaError, match="listed twice"):
        fmt.build_mixture("m", {"generic": None, "writing": ["wi", "wi"]}, TASKS, 1, [b])
    with pytest.raises(WritingAlpacaError, match=r"wi.jsonl:1: task 'grammar' has no prompt"):
        fmt.build_mixture("m", spec, {"fluency": {"prompt": "x"}}, 1, [a, b])
    with pytest.raises(
        WritingAlpacaError, match=r"wi.jsonl:1: record 'wi-000001' of the generic trainset has task 'grammar'"
    ):
        fmt.build_mixture("m", {"generic": "wi", "writing": ["alpaca"]}, TASKS, 1, [a, b])
    dup = tmp_path / "dup"
    dup.mkdir()
    write_jsonl(dup / "wi2.jsonl", [{"id": "wi-000001", "task": "grammar", "source": "s", "target": "t"}])
    with pytest.raises(WritingAlpacaError, match=r"wi2.jsonl:1: duplicate record id 'wi-000001'"):
        fmt.build_mixture("m", {"generic": None, "writing": ["wi", "wi2"]}, TASKS, 1, [b, dup / "wi2.jsonl"])
    write_jsonl(dup / "bad.jsonl", [{"id": "bad-000001", "task": "grammar", "source": "s"}])
    with pytest.raises(WritingAlpacaError, match=r"bad.jsonl:1: record 'bad-000001': 'target' must be a string"):
        fmt.build_mixture("m", {"generic": None, "writing": ["bad"]}, TASKS, 1, [dup / "bad.jsonl"])


def test_demo_end_to_end_data_train_then_format(tmp_path):
    """Demo sources -> `data train` records -> one Writing-Alpaca mixture."""
    paths = []
    for name in ("alpaca", "wi_train", "itr_f_train", "turk_train", "wikilarge", "wnc_train"):
        source, spec, _ = DEMO_TRAIN_SETS[name]
        recs = data.build_train_records(name, spec, DEMO / source, 42)
        write_jsonl(tmp_path / f"{name}.jsonl", recs)
        paths.append(tmp_path / f"{name}.jsonl")
    spec = {"generic": "alpaca", "writing": ["wi_train", "itr_f_train", "turk_train", "wikilarge", "wnc_train"]}
    recs = fmt.build_mixture("writing_alpaca", spec, TASKS, 42, paths)
    counts = fmt.count_summary(recs, "writing_alpaca")
    assert counts["tasks"] == {"fluency": 14, "generic": 32, "grammar": 36, "neutralization": 35, "simplification": 55}
    prompt = fmt.render_prompt(recs[0]["instruction"], recs[0]["input"])
    assert prompt.endswith("### Response:\n") and recs[0]["instruction"] in prompt
