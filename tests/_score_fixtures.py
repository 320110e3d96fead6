"""Shared paths and helpers for the scorer tests (real outputs in ../shared/data/sysout).

The tests that read them carry the ``real_data`` marker (tests/conftest.py); nothing here touches
the data at import time, so that collection works without it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from conftest import SHARED_DATA

SYSOUT = SHARED_DATA / "sysout"


def sysout(*parts: str) -> Path:
    """A path under sysout/; fails loudly when the data is absent (a test calling it is marked ``real_data``)."""
    path = SYSOUT.joinpath(*parts)
    assert path.exists(), f"missing shared data {path} (see shared/data/sysout/PROVENANCE.md)"
    return path


def run_score_cli(argv: list[str], capsys) -> dict:
    """Run ``writing-alpaca score ...`` through the module's own parser; return its JSON."""
    from writing_alpaca import score

    parser = argparse.ArgumentParser(prog="writing-alpaca")
    score.register(parser.add_subparsers())
    args = parser.parse_args(["score", *argv])
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)
