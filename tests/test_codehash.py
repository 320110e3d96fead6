"""The version of the code each rule runs (writing_alpaca.codehash, the rules' `code` param):
it changes exactly when code the command may run changes, and every rule declares the right one."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from test_envs import command_function, dry_run_commands, rule_blocks

COMMON = REPO / "workflow" / "rules" / "common.smk"
ENTRIES = {
    "score": "writing_alpaca.score:_cmd_dataset",
    "train": "writing_alpaca.train:_cmd_train",
    "render": "writing_alpaca.report.cli:cmd_render",
    "decode": "writing_alpaca.decode:_cmd_decode",
    "data": "writing_alpaca.data:cmd_test",
}


def command_functions() -> dict[str, str]:
    """common.smk's COMMAND_FUNCTIONS table (a literal)."""
    text = COMMON.read_text(encoding="utf-8")
    start = text.index("COMMAND_FUNCTIONS = {")
    return ast.literal_eval(text[start + len("COMMAND_FUNCTIONS = ") : text.index("}", start) + 1])


def versions(src: Path) -> dict[str, str]:
    """code_version of ENTRIES for the package under ``src`` (a fresh process: no caches)."""
    code = (
        "import json, sys; from writing_alpaca import codehash as c; "
        f"print(json.dumps({{k: c.code_version(v) for k, v in {ENTRIES!r}.items()}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=src, env={"PYTHONPATH": str(src)}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(
        REPO / "src" / "writing_alpaca", src / "writing_alpaca", ignore=shutil.ignore_patterns("__pycache__")
    )
    return src


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_versions_change_with_the_code_a_command_runs_and_nothing_else(package_copy):
    src = package_copy
    before = versions(src)
    assert before == versions(REPO / "src")  # independent of where the checkout is

    # a comment, a docstring and blank lines: nothing
    m2 = src / "writing_alpaca" / "score" / "m2.py"
    _edit(m2, "def parse_m2(", "# a comment\n\n\ndef parse_m2(")
    tree = ast.parse(m2.read_text(encoding="utf-8"))
    doc = ast.get_docstring(next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "parse_m2"))
    _edit(m2, doc.splitlines()[0], "Reworded: " + doc.splitlines()[0])
    assert versions(src) == before

    # a scorer's code: the scores, not training, decoding or data
    _edit(m2, "def parse_m2(", "_EXTRA = 1\n\n\ndef parse_m2(")  # an unused new name: still nothing
    assert versions(src) == before
    body = ast.parse(m2.read_text(encoding="utf-8"))
    func = next(n for n in body.body if isinstance(n, ast.FunctionDef) and n.name == "parse_m2")
    first = m2.read_text(encoding="utf-8").splitlines()[func.body[0].lineno - 1]
    indent = first[: len(first) - len(first.lstrip())]
    _edit(m2, first, f"{indent}_unused = 0\n{first}")
    after = versions(src)
    changed = {k for k in ENTRIES if after[k] != before[k]}
    assert "score" in changed and not changed & {"train", "decode", "data"}, changed

    # a table renderer: the tables only (never a training job)
    tables = src / "writing_alpaca" / "report" / "tables.py"
    body = ast.parse(tables.read_text(encoding="utf-8"))
    func = next(n for n in body.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("__"))
    line = tables.read_text(encoding="utf-8").splitlines()[func.body[-1].lineno - 1]
    indent = line[: len(line) - len(line.lstrip())]
    _edit(tables, line, f"{indent}_unused = 0\n{line}")
    again = versions(src)
    assert again["render"] != after["render"]
    assert {k: again[k] for k in ENTRIES if k != "render"} == {k: after[k] for k in ENTRIES if k != "render"}


def test_the_cache_is_keyed_by_the_package_source(package_copy, tmp_path):
    code = (
        "import sys; from writing_alpaca import codehash as c; "
        f"v = c.VersionCache({str(tmp_path / 'v.json')!r}); print(v.get('writing_alpaca.format:cmd_format'))"
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONPATH": str(package_copy)}, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    first = run()
    stored = json.loads((tmp_path / "v.json").read_text())
    assert stored["versions"] == {"writing_alpaca.format:cmd_format": first}
    # a stale entry under the same key is believed (the key is the whole source); another key is not
    stored["versions"]["writing_alpaca.format:cmd_format"] = "stale"
    (tmp_path / "v.json").write_text(json.dumps(stored))
    assert run() == "stale"
    fmt = package_copy / "writing_alpaca" / "format.py"
    _edit(fmt, "def cmd_format(", "# another comment\ndef cmd_format(")
    assert run() == first  # recomputed for the new source: a comment changes no version


def test_an_unknown_entry_is_an_error():
    from writing_alpaca import codehash

    with pytest.raises(ValueError, match="no function 'nope'"):
        codehash.code_version("writing_alpaca.score:nope")


def test_every_command_function_is_the_clis():
    """COMMAND_FUNCTIONS names the function the CLI runs for each command (for a command with
    sub-commands of its own, `render`, the one function all of them run)."""
    import argparse

    from writing_alpaca.cli import build_parser

    for words, entry in command_functions().items():
        parser = build_parser()
        for word in words.split():
            parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        leaves = list(subs[0].choices) if subs and parser.get_default("func") is None else [None]
        for leaf in leaves:
            full = tuple(words.split()) + ((leaf,) if leaf else ())
            assert ":".join(command_function(full)) == entry, full


def test_every_rule_declares_the_code_version_of_its_command():
    """Each rule's `code=code_version("WORDS")` names the command its shell runs (a dry run of the
    paper's DAG and the rehearsal's); build_tiny_model takes it from the same function as its command."""
    declared: dict[str, str] = {}
    for name, _, body, smk in rule_blocks():
        if "\n    params:\n" in body:
            code = re.search(r"^        code=(.+),$", body, re.M)
            assert code, f"rule {name} ({smk}): params without code="
            declared[name] = code.group(1)
    commands = dry_run_commands()
    for rule, words in dry_run_commands("--configfile", "rehearsal/config.yaml").items():
        commands.setdefault(rule, set()).update(words)
    for rule, invocations in sorted(commands.items()):
        assert rule in declared, f"rule {rule} runs writing-alpaca without a code param"
        literal = re.fullmatch(r'code_version\("([^"]+)"\)', declared[rule])
        if literal is None:
            assert declared[rule] == "lambda wildcards: code_version(tiny_command(wildcards))", rule
            continue
        for words in invocations:
            assert " ".join(words).startswith(literal.group(1)), (rule, words, literal.group(1))
