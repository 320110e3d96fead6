"""The ``writing-alpaca`` command line.

Each stage module exposes ``register(subparsers)`` which adds its sub-command(s)
and sets ``func`` on the parsed namespace.  Snakemake rules call these
sub-commands; nothing in a rule holds logic of its own.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from .errors import WritingAlpacaError

# Imported lazily so that `writing-alpaca score ...` does not pay for torch.
STAGE_MODULES = [
    "download",
    "hub",
    "data",
    "format",
    "model",
    "train",
    "decode",
    "baselines",
    "score",
    "analyse",
    "report",  # the `render` sub-commands
    "edit",
    "rehearsal",
    "settings",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="writing-alpaca",
        description="Reproduce Writing-Alpaca (Zhang et al., 2023): data, training, decoding, scoring, analysis.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in STAGE_MODULES:
        module = importlib.import_module(f"writing_alpaca.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = args.func(args)
    except WritingAlpacaError as exc:
        print(f"writing-alpaca: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("writing-alpaca: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
