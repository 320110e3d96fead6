"""Faults a user meets at the command line get one clear error, never a traceback or a silent
mis-result: ``edit`` on input that is not text, truncated weights, full disks, shared outputs'
modes, and ``edit``'s batching, blank lines and quiet standard error."""

from __future__ import annotations

import argparse
import errno
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from _causal_lm_fixtures import eval_file, fake_generate, tiny_base, trained_system
from conftest import tool_env
from writing_alpaca import cli
from writing_alpaca import edit as edit_module
from writing_alpaca import io as wa_io
from writing_alpaca.edit import Editor, text_lines
from writing_alpaca.errors import WritingAlpacaError

ROOT = Path(__file__).resolve().parents[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    edit_module.register(parser.add_subparsers())
    return parser


def _cli(*args: str, stdin: bytes = b"", timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m writing_alpaca ARGS`` in a fresh process (its real stdin/stderr)."""
    env = dict(tool_env(), PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "writing_alpaca", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture
def counting_editor(monkeypatch):
    """``Editor`` objects whose model echoes a rule of the source; records each generate call's rows."""
    real_init = Editor.__init__
    calls: list[int] = []

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        generate = fake_generate(self.lm.tokenizer, lambda src: src.upper())

        def counted(input_ids, **kw):
            calls.append(len(input_ids))
            return generate(input_ids, **kw)

        self.lm.model.generate = counted

    monkeypatch.setattr(Editor, "__init__", init)
    return calls


class _Recorder(io.StringIO):
    """A stdout that records what had been written at each flush."""

    def __init__(self):
        super().__init__()
        self.flushed: list[str] = []

    def flush(self):
        self.flushed.append(self.getvalue())
        super().flush()


class _Terminal(io.StringIO):
    def isatty(self):
        return True


# ------------------------------------------------------------------------- edit: input that is not text


def test_edit_binary_stdin_is_one_error_naming_the_line():
    proc = _cli("edit", "--model", str(tiny_base()), stdin=b"\xff\xfe\x00garbage")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("writing-alpaca: error: stdin line 1: not UTF-8 text"), lines
    assert "Traceback" not in proc.stderr.decode()
    assert proc.stdout == b""


def test_text_lines_names_the_first_bad_line():
    stream = io.TextIOWrapper(io.BytesIO("\ufeffgood\r\nfine\nbad \xe9\n".encode() + b"\xc3(\n"), encoding="utf-8")
    lines = text_lines(stream)
    assert [next(lines), next(lines), next(lines)] == ["good\r\n", "fine\n", "bad \xe9\n"]  # BOM dropped
    with pytest.raises(WritingAlpacaError, match=r"^stdin line 4: not UTF-8 text"):
        next(lines)
    # a text stream decoded with surrogateescape (a POSIX locale) smuggles bytes in as surrogates
    escaped = io.StringIO(b"ok\n\xffno\n".decode("utf-8", errors="surrogateescape"))
    with pytest.raises(WritingAlpacaError, match=r"^stdin line 2: not UTF-8 text"):
        list(text_lines(escaped))


def test_edit_prints_the_lines_before_a_bad_one(counting_editor):
    args = _parser().parse_args(["edit", "--model", str(tiny_base()), "--batch-size", "8"])
    stdin = io.TextIOWrapper(io.BytesIO(b"a cat\nthe dog\n\xff\xfe\n"), encoding="utf-8")
    stdout = io.StringIO()
    with pytest.raises(WritingAlpacaError, match=r"stdin line 3: not UTF-8 text"):
        edit_module.run(args, stdin=stdin, stdout=stdout)
    assert stdout.getvalue() == "A CAT\nTHE DOG\n"


# ------------------------------------------------------------------------- edit: batching, blank input


def test_edit_batches_stdin_in_order(counting_editor):
    args = _parser().parse_args(["edit", "--model", str(tiny_base()), "--batch-size", "4"])
    lines = [f"line {i}" if i % 3 else "" for i in range(10)]
    stdout = _Recorder()
    assert edit_module.run(args, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=stdout) == 0
    assert stdout.getvalue().split("\n")[:-1] == [line.upper() for line in lines]
    # 10 lines in batches of 4 (blank lines are not generated): one generate call per batch
    assert counting_editor == [2, 3, 1]
    # flushed after each batch, with whole batches written
    assert [text.count("\n") for text in stdout.flushed] == [4, 8, 10]


def test_edit_from_a_terminal_answers_each_line(counting_editor):
    args = _parser().parse_args(["edit", "--model", str(tiny_base())])
    stdout = _Recorder()
    assert edit_module.run(args, stdin=_Terminal("a\nb\n\nc\n"), stdout=stdout) == 0
    assert stdout.getvalue() == "A\nB\n\nC\n"
    assert counting_editor == [1, 1, 1]
    assert [text.count("\n") for text in stdout.flushed] == [1, 2, 3, 4]


@pytest.mark.parametrize("text", ["", "   "])
def test_blank_text_gives_a_blank_line_without_the_model(counting_editor, capsys, text):
    args = _parser().parse_args(["edit", "--model", str(tiny_base()), "--text", text])
    assert args.func(args) == 0
    assert capsys.readouterr().out == "\n"
    assert counting_editor == []
    # the same as a blank line of standard input
    stdout = io.StringIO()
    args = _parser().parse_args(["edit", "--model", str(tiny_base())])
    assert edit_module.run(args, stdin=io.StringIO(text + "\n"), stdout=stdout) == 0
    assert stdout.getvalue() == "\n" and counting_editor == []


def test_edit_refuses_a_batch_size_below_one():
    args = _parser().parse_args(["edit", "--model", str(tiny_base()), "--batch-size", "0", "--text", "x"])
    with pytest.raises(WritingAlpacaError, match="--batch-size"):
        args.func(args)


def test_successful_edit_leaves_stderr_clean():
    system = trained_system("lora")
    proc = _cli("edit", "--model", str(system), stdin=b"she go home\n\nthe cat sat\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode() == ""  # no progress bars, no library FutureWarnings
    out = proc.stdout.decode().split("\n")
    assert len(out) == 4 and out[1] == "" and out[3] == ""


# ------------------------------------------------------------------------- truncated weights


def _copy_system(method: str, tmp_path: Path) -> Path:
    copy = tmp_path / f"system-{method}"
    shutil.copytree(trained_system(method), copy)
    return copy


def _truncate(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)


@pytest.mark.parametrize(
    ("method", "weights"), [("lora", "adapter/adapter_model.safetensors"), ("full", "model/model.safetensors")]
)
def test_decode_truncated_weights_is_one_error(tmp_path, capsys, method, weights):
    system = _copy_system(method, tmp_path)
    _truncate(system / weights)
    argv = [
        "decode",
        "--system-dir",
        str(system),
        "--task",
        "grammar",
        "--data",
        str(eval_file()),
        "--decoding",
        json.dumps({"batch_size": 2, "max_new_tokens": 4}),
        "--out",
        str(tmp_path / "out.txt"),
        "--metrics",
        str(tmp_path / "metrics.json"),
    ]
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"writing-alpaca: error: {system / weights}: unreadable weights, truncated or corrupt")
    assert "retrain" in err
    assert not (tmp_path / "out.txt").exists()


def test_truncated_base_model_says_download_again(tmp_path):
    from writing_alpaca.decode import load_lm

    base = tmp_path / "base"
    shutil.copytree(tiny_base(), base)
    _truncate(base / "model.safetensors")
    with pytest.raises(WritingAlpacaError, match=r"model\.safetensors: unreadable weights.*download \(or build\)"):
        load_lm(base=base)


# ------------------------------------------------------------------------- modes of outputs


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o002])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_outputs_respect_the_umask(tmp_path, umask):
    assert wa_io.current_umask() == umask
    wa_io.write_lines(tmp_path / "a.txt", ["x"])
    wa_io.write_json(tmp_path / "sub" / "b.json", {"x": 1})
    wa_io.write_jsonl(tmp_path / "c.jsonl", [{"x": 1}])
    for name in ("a.txt", "sub/b.json", "c.jsonl"):
        assert _mode(tmp_path / name) == 0o666 & ~umask, name
    with wa_io.atomic_dir(tmp_path / "d") as tmp:
        (tmp / "plain.txt").write_text("x")  # the umask's mode already
        (tmp / "private.bin").touch(mode=0o600)  # as libraries writing through tempfile leave them
        (tmp / "inner").mkdir(mode=0o700)
        (tmp / "script.sh").touch(mode=0o700)
    d = tmp_path / "d"
    assert _mode(d) == 0o777 & ~umask
    assert _mode(d / "inner") == 0o777 & ~umask
    assert _mode(d / "plain.txt") == _mode(d / "private.bin") == 0o666 & ~umask
    assert _mode(d / "script.sh") == 0o777 & ~umask
    assert os.umask(umask) == umask  # reading it left it alone


def test_a_private_umask_keeps_outputs_private(tmp_path):
    old = os.umask(0o077)
    try:
        wa_io.write_lines(tmp_path / "a.txt", ["x"])
        with wa_io.atomic_dir(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.txt") == 0o600 and _mode(tmp_path / "d") == 0o700


# ------------------------------------------------------------------------- full disks


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FullFile:
    """A file opened for writing on a full disk: every write fails with ENOSPC."""

    def __init__(self, fh):
        self.fh = fh

    write = _enospc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


@pytest.mark.parametrize(
    "write",
    [
        lambda p: wa_io.write_lines(p, ["a", "b"]),
        lambda p: wa_io.write_jsonl(p, [{"a": 1}]),
        lambda p: wa_io.write_json(p, {"a": 1}),
    ],
    ids=["write_lines", "write_jsonl", "write_json"],
)
def test_disk_full_is_one_error_naming_the_file(tmp_path, monkeypatch, write):
    import builtins
    import pathlib

    real_open = builtins.open

    def full_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return _FullFile(fh) if "w" in mode else fh

    dest = tmp_path / "out" / "result.txt"
    monkeypatch.setattr(builtins, "open", full_open)
    monkeypatch.setattr(pathlib.Path, "write_text", _enospc)
    with pytest.raises(WritingAlpacaError, match=rf"^no space left on device writing {dest}"):
        write(dest)
    monkeypatch.undo()
    assert list(dest.parent.iterdir()) == []  # the temporary is gone, no output


def test_disk_full_on_rename_or_close_names_the_file(tmp_path, monkeypatch):
    dest = tmp_path / "x.json"
    real_replace = os.replace

    def full_replace(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src))

    monkeypatch.setattr(os, "replace", full_replace)
    with pytest.raises(WritingAlpacaError, match=rf"^no space left on device writing {dest}"):
        wa_io.write_json(dest, {"a": 1})
    monkeypatch.setattr(os, "replace", real_replace)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_inside_a_directory_names_where_the_file_was_going(tmp_path):
    dest = tmp_path / "model"
    with pytest.raises(WritingAlpacaError, match=rf"^disk quota exceeded writing {dest / 'weights.bin'}"):
        with wa_io.atomic_dir(dest) as tmp:
            (tmp / "config.json").write_text("{}")
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), str(tmp / "weights.bin"))
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_pass_through(tmp_path):
    with pytest.raises(PermissionError):
        with wa_io.atomic_path(tmp_path / "x.txt"):
            raise PermissionError(errno.EACCES, "denied")
    assert list(tmp_path.iterdir()) == []
