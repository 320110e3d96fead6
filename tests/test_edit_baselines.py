"""``writing-alpaca edit`` with the Table-7 baselines (T5 seq2seq, GECToR): the same corrections
as ``baselines decode``, blank lines kept blank, a clean standard error, grammar only."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from _baselines_fixtures import agreement_records, baseline_command, baseline_training, tiny_baseline_base, write_jsonl
from conftest import tool_env
from writing_alpaca import cli
from writing_alpaca import edit as edit_module
from writing_alpaca.baselines import register as register_baselines
from writing_alpaca.edit import BaselineEditor
from writing_alpaca.errors import WritingAlpacaError

ROOT = Path(__file__).resolve().parents[1]
#: the test texts: a few toy sources (of unequal lengths) and one outside the training set
TEXTS = ["He go to school .", "My friend like the park .", "Tom eat apples .", "The teacher want music .", "a dog ran"]
#: decode and edit correct every text in one batch of this size (the same batches, hence the same outputs)
BATCH = 8
DECODING = {"num_beams": 2, "batch_size": BATCH, "max_new_tokens": 16, "backend": "hf"}


def _baselines(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register_baselines(parser.add_subparsers())
    args = parser.parse_args(["baselines", *argv])
    return args.func(args)


def _edit_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    edit_module.register(parser.add_subparsers())
    return parser


@pytest.fixture(scope="module", params=["seq2seq", "gector"])
def trained(request, tmp_path_factory) -> dict:
    """A tiny trained baseline of each kind and what ``baselines decode`` writes for :data:`TEXTS`."""
    kind = request.param
    tmp = tmp_path_factory.mktemp(f"edit-{kind}")
    mixture = write_jsonl(tmp / "mixture.jsonl", agreement_records(40))
    base = tiny_baseline_base(kind, tmp_path_factory.mktemp("bases"), mixture)
    overrides = {"source_prefix": "{task}: "} if kind == "seq2seq" else {}
    system = tmp / "system"
    training = baseline_training(kind, save_steps=0, **overrides)
    command = baseline_command((), kind, base, mixture, system, tmp / "checkpoints", training)
    _baselines(*command[1:])  # without the leading "baselines"
    records = [
        {"id": f"t{i}", "dataset": "toy", "task": "grammar", "source": text, "references": [text]}
        for i, text in enumerate(TEXTS)
    ]
    test = write_jsonl(tmp / "test.jsonl", records)
    out = tmp / "decoded.txt"
    _baselines(
        "decode",
        "--system-dir",
        str(system),
        "--data",
        str(test),
        "--decoding",
        json.dumps(DECODING),
        "--out",
        str(out),
        "--metrics",
        str(tmp / "decoded.metrics.json"),
    )
    decoded = out.read_text(encoding="utf-8").split("\n")
    assert decoded[-1] == "" and len(decoded) == len(TEXTS) + 1
    return {"kind": kind, "system": system, "decoded": decoded[:-1]}


def _edit_args(system: Path, *extra: str) -> list[str]:
    return [
        "edit",
        "--model",
        str(system),
        "--num-beams",
        str(DECODING["num_beams"]),
        "--max-new-tokens",
        str(DECODING["max_new_tokens"]),
        "--batch-size",
        str(BATCH),
        *extra,
    ]


def test_edit_gives_the_decode_outputs_and_keeps_blank_lines_in_a_clean_run(trained):
    """A fresh ``python -m writing_alpaca edit`` process: stdin lines with blanks among them."""
    lines = [TEXTS[0], "", *TEXTS[1:3], "   ", *TEXTS[3:]]
    stdin = ("\n".join(lines) + "\n").encode()
    proc = subprocess.run(
        [sys.executable, "-m", "writing_alpaca", *_edit_args(trained["system"])],
        input=stdin,
        capture_output=True,
        env=dict(tool_env(), PYTHONPATH=str(ROOT / "src")),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr.decode() == ""  # no progress lines, no logs, no library warnings
    out = proc.stdout.decode("utf-8").split("\n")
    decoded = trained["decoded"]
    assert out == [decoded[0], "", *decoded[1:3], "", *decoded[3:], ""]


def test_edit_in_process_text_and_stdin(trained, capsys):
    """``cli.main`` with ``--text`` (one line out); ``run`` on stdin: the decode outputs, in order."""
    args = _edit_args(trained["system"])
    assert cli.main([*args, "--text", TEXTS[2]]) == 0
    single = capsys.readouterr().out
    one = _edit_parser().parse_args(args)
    stdout = io.StringIO()
    assert edit_module.run(one, stdin=io.StringIO("\n".join(["", *TEXTS, ""])), stdout=stdout) == 0
    assert stdout.getvalue().split("\n") == ["", *trained["decoded"], ""]
    assert single.endswith("\n") and "\n" not in single[:-1]


def test_baseline_editor_loads_once_and_skips_blank_batches(trained, monkeypatch):
    editor = BaselineEditor(trained["system"], num_beams=2, max_new_tokens=16, batch_size=BATCH)
    calls: list[list[str]] = []
    real = editor.corrector.correct_texts

    def counted(texts, task, progress=True):
        calls.append(list(texts))
        assert task == "grammar" and progress is False
        return real(texts, task, progress=progress)

    monkeypatch.setattr(editor.corrector, "correct_texts", counted)
    assert editor.edit(["", " ", "\t"]) == ["", "", ""] and calls == []
    assert list(editor.edit_stream(["", *TEXTS], batch_size=BATCH)) == ["", *trained["decoded"]]
    assert calls == [TEXTS]


@pytest.mark.parametrize("task", ["fluency", "simplification"])
def test_baselines_do_grammar_only(trained, task, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the model must not be loaded for a task the baseline cannot do")

    monkeypatch.setattr(BaselineEditor, "__init__", never)
    args = _edit_parser().parse_args(["edit", "--model", str(trained["system"]), "--task", task, "--text", "x"])
    with pytest.raises(WritingAlpacaError, match=rf"--task {task}: a {trained['kind']} system .* use --task grammar"):
        args.func(args)


def test_edit_help_says_which_options_gector_ignores(capsys):
    with pytest.raises(SystemExit):
        _edit_parser().parse_args(["edit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "GECToR ignores it" in text and "seq2seq, gector" in text
