"""Small I/O helpers shared by every stage.

Every writer is atomic: it writes to a temporary sibling and renames it into
place, so an interrupted job never leaves a half-written output behind.
Every reader reports bad input with the file name and 1-based line number.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import WritingAlpacaError, located


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux's
    ``/proc/self/status``), else by setting and at once restoring it."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _widen(mode: int, umask: int) -> int:
    """A private mode (no group/other bits: tempfile's 0600/0700) widened as the umask allows a
    new file: the owner's bits copied to group and other, less the umask (0600 -> 0644 under 022)."""
    owner = mode & 0o700
    return mode | ((owner >> 3) | (owner >> 6)) & ~umask


def share_like_umask(root: str | os.PathLike) -> None:
    """Give ``root`` and every private file or directory below it the mode the umask gives a
    new one (libraries that write through tempfile leave 0600 files behind); modes that already
    grant group/other access are left as they are."""
    umask = current_umask()
    root = Path(root)
    paths = [root, *root.rglob("*")] if root.is_dir() else [root]
    for p in paths:
        if p.is_symlink():
            continue
        mode = p.stat().st_mode & 0o7777
        if mode & 0o077 == 0:
            os.chmod(p, _widen(mode, umask))


#: the errnos that mean the disk (or the user's quota) is full, and how to say it
_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


def _full_disk(exc: BaseException, path: Path, tmp: Path | None) -> WritingAlpacaError | None:
    """A clear error for a full disk while writing ``path`` (``None`` for any other error)."""
    if not isinstance(exc, OSError) or exc.errno not in _FULL:
        return None
    target = path
    if isinstance(exc.filename, (str, bytes, os.PathLike)) and tmp is not None:
        written = Path(os.fsdecode(exc.filename))
        if written.is_relative_to(tmp) and written != tmp:  # a file inside a directory being built:
            target = path / written.relative_to(tmp)  # named where it was to end up
    return WritingAlpacaError(f"{_FULL[exc.errno]} writing {target} (free some space, then rerun)")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; rename it into place on success.

    The file gets the mode the umask gives a new file (not tempfile's 0600): results are
    shared.  A full disk is reported as one error naming ``path``; the temporary is removed.
    """
    path = Path(path)
    tmp_path: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        share_like_umask(tmp_path)
        os.replace(tmp_path, path)
    except BaseException as exc:
        if tmp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
        full = _full_disk(exc, path, tmp_path)
        if full is not None:
            raise full from exc
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; move it into place on success.

    An existing directory at ``path`` is replaced only once the new one is complete.  The
    directory gets the mode the umask gives a new one (not tempfile's 0700); a full disk is
    reported as one error naming ``path`` (or the file inside it being written).
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        yield tmp
        share_like_umask(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        full = _full_disk(exc, path, tmp)
        if full is not None:
            raise full from exc
        raise


def read_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    path = Path(path)
    if not path.is_file():
        raise WritingAlpacaError(f"{path}: file not found")
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        lineno = data.count(b"\n", 0, exc.start) + 1
        raise located(path, lineno, f"not valid {encoding} ({exc.reason} at byte {exc.start})") from None


def read_lines(path: str | os.PathLike, encoding: str = "utf-8") -> list[str]:
    """Read a one-item-per-line text file (a final newline is optional; CRLF is accepted)."""
    text = read_text(path, encoding)
    if text == "":
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> int:
    """Write one item per line, atomically. Newlines inside an item become spaces."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line.replace("\r", " ").replace("\n", " "))
            fh.write("\n")
            n += 1
    return n


def parse_jsonl_line(path: str | os.PathLike, lineno: int, line: str | bytes) -> dict[str, Any]:
    """One line of a JSON-lines file as its JSON object; an error naming the file and line.

    ``line`` may be the raw bytes of the line (UTF-8; a trailing ``\\n`` or ``\\r\\n`` is dropped).
    """
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise located(path, lineno, f"not valid utf-8 ({exc.reason} at byte {exc.start} of the line)") from None
        line = line[:-1] if line.endswith("\n") else line
        line = line[:-1] if line.endswith("\r") else line
    if not line.strip():
        raise located(path, lineno, "empty line in a JSON-lines file")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise located(path, lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise located(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a JSON-lines file; every line must hold one JSON object."""
    return [parse_jsonl_line(path, lineno, line) for lineno, line in enumerate(read_lines(path), start=1)]


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> int:
    """Write JSON lines atomically (UTF-8, keys in insertion order, no ASCII escaping)."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False))
            fh.write("\n")
            n += 1
    return n


def read_json(path: str | os.PathLike) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise located(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def parse_json_arg(value: str, what: str) -> Any:
    """Parse a JSON command-line argument (rules pass config fragments this way)."""
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise WritingAlpacaError(f"{what}: invalid JSON argument: {exc.msg} (column {exc.colno})") from None


def parse_json_object(value: str, what: str) -> dict[str, Any]:
    """Parse a JSON command-line argument that must be an object (a config fragment)."""
    obj = parse_json_arg(value, what)
    if not isinstance(obj, dict):
        raise WritingAlpacaError(f"{what}: expected a JSON object, got {type(obj).__name__}")
    return obj
