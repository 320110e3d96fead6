"""Tests for ``writing-alpaca edit`` (the user-facing writing assistant)."""

from __future__ import annotations

import argparse
import io

import pytest

from _causal_lm_fixtures import fake_generate, tiny_base, trained_system
from writing_alpaca import edit as edit_module
from writing_alpaca.edit import Editor, task_prompt
from writing_alpaca.errors import WritingAlpacaError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    edit_module.register(parser.add_subparsers())
    return parser


@pytest.fixture
def fixing_editor(monkeypatch):
    """``Editor`` objects whose model 'fixes' text by a rule we control (real tokenizer and prompt)."""
    real_init = Editor.__init__
    seen_instructions = []

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        seen_instructions.append(self.instruction)
        self.lm.model.generate = fake_generate(
            self.lm.tokenizer, lambda src: src.replace("go ", "goes ").capitalize() + "."
        )

    monkeypatch.setattr(Editor, "__init__", init)
    return seen_instructions


def test_task_prompts_come_from_format():
    assert task_prompt("grammar") == "Fix grammatical errors in the text."
    assert task_prompt("simplification") == "Simplify the text."
    with pytest.raises(WritingAlpacaError, match="unknown task 'poetry'"):
        task_prompt("poetry")


def test_edit_text(fixing_editor, capsys):
    system = trained_system("lora")
    capsys.readouterr()  # discard the training log
    args = _parser().parse_args(["edit", "--task", "grammar", "--model", str(system), "--text", "she go home"])
    assert args.func(args) == 0
    assert capsys.readouterr().out == "She goes home.\n"
    assert fixing_editor == ["Fix grammatical errors in the text."]


def test_edit_stdin_one_line_per_line(fixing_editor):
    args = _parser().parse_args(["edit", "--model", str(tiny_base()), "--task", "fluency"])
    stdin = io.StringIO("she go home\n\nthey go out\r\nlast line without newline")
    stdout = io.StringIO()
    assert edit_module.run(args, stdin=stdin, stdout=stdout) == 0
    assert stdout.getvalue().split("\n") == ["She goes home.", "", "They goes out.", "Last line without newline.", ""]
    assert fixing_editor == ["Make the text more fluent."]


def test_real_model_edits_stay_one_line():
    editor = Editor(trained_system("full"), task_prompt("grammar"), edit_module.default_template(), max_new_tokens=8)
    out = list(editor.edit_stream(["she go to school", "", "a dog ran"]))
    assert len(out) == 3 and out[1] == ""
    assert all("\n" not in line and "###" not in line for line in out)


def test_edit_needs_a_model_dir(tmp_path):
    args = _parser().parse_args(["edit", "--model", str(tmp_path), "--text", "x"])
    with pytest.raises(WritingAlpacaError, match="config.json missing"):
        args.func(args)
