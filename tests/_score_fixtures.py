"""Shared paths and helpers for the scorer tests (real outputs in ../shared/data/sysout)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SYSOUT = Path(__file__).resolve().parents[2] / "shared" / "data" / "sysout"


def sysout(*parts: str) -> Path:
    """A path under sysout/; fails loudly (never skips) when the data is absent."""
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
