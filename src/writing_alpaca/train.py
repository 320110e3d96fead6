"""``writing-alpaca train`` (instruction-tune a causal LM, LoRA or full) and ``writing-alpaca merge``
(fold a trained LoRA adapter into a standalone model).

All logic lives in :mod:`writing_alpaca.training`; this module is the CLI.
"""

from __future__ import annotations

import argparse

from .io import parse_json_arg, parse_json_object


def add_cache_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--cache-dir`` of the trainers (the tokenised training set's directory)."""
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="a directory of tokenised training sets shared by runs (one build per tokenizer, data and "
        "settings; the workflow's results/cache/tokenised); default: inside --checkpoint-dir, removed with it",
    )


def add_logging_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--logging-dir`` of the trainers (TensorBoard's event files, training.report_to)."""
    parser.add_argument(
        "--logging-dir",
        default=None,
        help="TensorBoard's event files when training.report_to has tensorboard (the workflow's "
        "results/logs/<system>; kept across attempts: a resumed run appends); default: NAME.logs beside "
        "--checkpoint-dir",
    )


def add_card_argument(parser: argparse.ArgumentParser) -> None:
    """``--card`` of the trainers: what the system's model card needs from the config."""
    parser.add_argument(
        "--card",
        default=None,
        help="JSON: the model card's provenance from the config ({system, base_model: {name, hub, revision, "
        "licence, ...}, mixture, train_sets: [{name, task, source, licence, revision, urls, n}]}; the workflow's "
        "card_spec()), written with the run's settings and metrics into OUT/README.md (writing_alpaca.cards); "
        "without it the card names what the command knows",
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from .cards import parse_card_arg, training_card
    from .training.config import TrainConfig
    from .training.recipe import train

    spec = parse_json_arg(args.spec, "--spec")
    training = parse_json_arg(args.training, "--training")
    template = parse_json_arg(args.template, "--template")
    config = TrainConfig.from_fragments(args.system, spec, training, template, seed=args.seed)
    prompts = parse_json_object(args.prompts, "--prompts {task: instruction}")
    card = training_card(
        parse_card_arg(args.card, args.system),
        system=args.system,
        kind="causal_lm",
        method=config.method,
        settings={"spec": spec, "training": training, "template": template, "prompts": prompts, "seed": args.seed},
        hyperparameters={k: v for k, v in config.fingerprint().items() if k not in ("system", "template")},
        base=args.base,
        data=args.data,
        out=args.out,
    )
    train(
        config,
        args.base,
        args.data,
        args.out,
        checkpoint_dir=args.checkpoint_dir,
        prompts=prompts,
        cache_dir=args.cache_dir,
        logging_dir=args.logging_dir,
        card=card,
    )
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from .training.merge import merge_adapter

    merge_adapter(args.system_dir, args.out)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="instruction-tune a causal LM (LoRA or full fine-tuning)",
        description="Train one system. Checkpoints every training.save_steps into --checkpoint-dir; "
        "re-running the same command resumes from the newest complete checkpoint. SIGTERM or SIGUSR1 "
        "saves a checkpoint and exits with status 2.",
    )
    parser.add_argument("--system", required=True, help="system name (config systems.<name>)")
    parser.add_argument("--spec", required=True, help="JSON: systems.<name> (method: lora|full)")
    parser.add_argument("--training", required=True, help="JSON: the training: block")
    parser.add_argument("--template", required=True, help="JSON: the Alpaca template (recorded in system.json)")
    parser.add_argument(
        "--prompts",
        required=True,
        help="JSON: {task: instruction}, every tasks.<task>.prompt (recorded in system.json for edit and decode)",
    )
    parser.add_argument("--base", required=True, help="base model directory")
    parser.add_argument("--data", required=True, help="instruction records (JSONL)")
    parser.add_argument("--out", required=True, help="system directory to write")
    parser.add_argument(
        "--checkpoint-dir",
        default=None,
        help="where checkpoints live until the run succeeds (default: .OUT.checkpoints beside --out)",
    )
    add_cache_dir_argument(parser)
    add_logging_dir_argument(parser)
    add_card_argument(parser)
    parser.add_argument("--seed", type=int, default=None, help="overrides training.seed (default 42)")
    parser.set_defaults(func=_cmd_train)

    merge = subparsers.add_parser(
        "merge",
        help="merge a LoRA system's adapter into its base model (standalone safetensors model)",
    )
    merge.add_argument("--system-dir", required=True, help="a trained LoRA system (results/models/<system>)")
    merge.add_argument("--out", required=True, help="model directory to write")
    merge.set_defaults(func=_cmd_merge)
