"""``writing-alpaca train``: instruction-tune a causal LM (LoRA or full) on one mixture.

All logic lives in :mod:`writing_alpaca.training`; this module is the CLI.
"""

from __future__ import annotations

import argparse

from .io import parse_json_arg


def _cmd_train(args: argparse.Namespace) -> int:
    from .training.config import TrainConfig
    from .training.recipe import train

    config = TrainConfig.from_fragments(
        args.system,
        parse_json_arg(args.spec, "--spec"),
        parse_json_arg(args.training, "--training"),
        parse_json_arg(args.template, "--template"),
        seed=args.seed,
    )
    train(config, args.base, args.data, args.out)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="instruction-tune a causal LM (LoRA or full fine-tuning)")
    parser.add_argument("--system", required=True, help="system name (config systems.<name>)")
    parser.add_argument("--spec", required=True, help="JSON: systems.<name> (method: lora|full)")
    parser.add_argument("--training", required=True, help="JSON: the training: block")
    parser.add_argument("--template", required=True, help="JSON: the Alpaca template")
    parser.add_argument("--base", required=True, help="base model directory")
    parser.add_argument("--data", required=True, help="instruction records (JSONL)")
    parser.add_argument("--out", required=True, help="system directory to write")
    parser.add_argument("--seed", type=int, default=None, help="overrides training.seed (default 42)")
    parser.set_defaults(func=_cmd_train)
