"""The one exception type the CLI turns into a clean, one-line error message."""

from __future__ import annotations


class WritingAlpacaError(Exception):
    """A user-facing error: bad input, bad config, missing file.

    The message must say what is wrong and where (file and line when there is
    one).  The CLI prints it as ``writing-alpaca: error: <message>`` and exits
    with status 2, without a traceback.
    """


def located(path, lineno: int | None, message: str) -> WritingAlpacaError:
    """Build an error that names a file (and a 1-based line, when known)."""
    where = f"{path}:{lineno}" if lineno is not None else f"{path}"
    return WritingAlpacaError(f"{where}: {message}")
