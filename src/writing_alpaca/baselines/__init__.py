"""Table-7 baselines of the cost study: T5 seq2seq and GECToR, both trained on cLang-8.

Commands (``writing-alpaca baselines ...``):

* ``train --system NAME --spec JSON --training JSON --base DIR --data X.jsonl --out DIR [--checkpoint-dir DIR] [--cache-dir DIR] [--logging-dir DIR]``
  (one process, or data-parallel under torchrun; checkpoints every ``save_steps``, SIGTERM /
  SIGUSR1 checkpoint and exit with status 2, re-running resumes)
  ``spec`` is ``systems.<name>`` (``kind: seq2seq|gector``, ``method: full``); ``training`` is
  the ``training:`` block, whose ``baselines.seq2seq`` / ``baselines.gector`` sub-blocks
  override :data:`common.SEQ2SEQ_DEFAULTS` / :data:`common.GECTOR_DEFAULTS`.
* ``decode --system-dir DIR --data TEST.jsonl --decoding JSON --out X.txt --metrics X.json``
* ``build-tiny --kind seq2seq|gector --spec JSON --corpus A.jsonl ... --seed N --out DIR``

The modules with torch / transformers are imported only when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import WritingAlpacaError
from ..io import parse_json_object
from ..systems import BASELINE_KINDS, read_system
from ..train import add_cache_dir_argument, add_card_argument, add_logging_dir_argument
from .common import KINDS, check_kind


def _train(args: argparse.Namespace) -> int:
    spec = parse_json_object(args.spec, "--spec")
    training = parse_json_object(args.training, "--training")
    kind = check_kind(spec.get("kind", ""), f"system {args.system}")
    if spec.get("method", "full") != "full":
        raise WritingAlpacaError(
            f"system {args.system}: baselines train all weights (method: full), got {spec['method']!r}"
        )
    if not Path(args.base).is_dir():
        raise WritingAlpacaError(
            f"--base {args.base}: not a directory (place the base model there, or build a tiny one)"
        )
    if kind == "seq2seq":
        from . import seq2seq as module
    else:
        from . import gector as module
    from ..cards import parse_card_arg, training_card
    from .common import hyperparameters

    card = training_card(
        parse_card_arg(args.card, args.system),
        system=args.system,
        kind=kind,
        method="full",
        settings={"spec": spec, "training": training},
        hyperparameters={**hyperparameters(kind, training), "precision": training.get("precision", "auto")},
        base=args.base,
        data=args.data,
        out=args.out,
    )
    module.train(
        system=args.system,
        spec=spec,
        training=training,
        base=args.base,
        data=args.data,
        out=args.out,
        checkpoint_dir=args.checkpoint_dir,
        cache_dir=args.cache_dir,
        logging_dir=args.logging_dir,
        card=card,
    )
    return 0


def _decode(args: argparse.Namespace) -> int:
    decoding = parse_json_object(args.decoding, "--decoding")
    kind = read_system(args.system_dir, kinds=BASELINE_KINDS).kind
    if kind == "seq2seq":
        from . import seq2seq as module
    else:
        from . import gector as module
    module.decode(system_dir=args.system_dir, data=args.data, decoding=decoding, out=args.out, metrics_out=args.metrics)
    return 0


def _build_tiny(args: argparse.Namespace) -> int:
    from .tiny import build_tiny

    spec = parse_json_object(args.spec, "--spec")
    build_tiny(args.kind, spec, args.corpus, args.seed, args.out)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "baselines", help="Table-7 baselines: T5 seq2seq and GECToR (train, decode, build-tiny)"
    )
    sub = parser.add_subparsers(dest="baselines_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser(
        "train",
        help="train a seq2seq or GECToR baseline on an instruction mixture's input -> output pairs",
        description="Train one baseline, in one process or data-parallel under torchrun (same global batch). "
        "Checkpoints every save_steps into --checkpoint-dir; re-running the same command resumes from the newest "
        "complete checkpoint. SIGTERM or SIGUSR1 saves a checkpoint and exits with status 2.",
    )
    p.add_argument("--system", required=True, help="system name (systems.<name>)")
    p.add_argument("--spec", required=True, help="JSON: systems.<name> ({kind: seq2seq|gector, method: full, ...})")
    p.add_argument(
        "--training", required=True, help="JSON: the training block (baselines.<kind> holds the baseline settings)"
    )
    p.add_argument("--base", required=True, help="base model directory (HF format)")
    p.add_argument("--data", required=True, help="instruction mixture JSONL")
    p.add_argument("--out", required=True, help="system directory to write")
    p.add_argument(
        "--checkpoint-dir",
        default=None,
        help="where checkpoints live until the run succeeds (default: .OUT.checkpoints beside --out); "
        "re-running resumes from the newest complete one",
    )
    add_cache_dir_argument(p)
    add_logging_dir_argument(p)
    add_card_argument(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("decode", help="correct a test set with a trained baseline")
    p.add_argument("--system-dir", required=True, help="trained system directory")
    p.add_argument("--data", required=True, help="normalised test JSONL")
    p.add_argument(
        "--decoding",
        required=True,
        help="JSON: decodings.<name> ({num_beams, batch_size, max_new_tokens}; gector: {...})",
    )
    p.add_argument("--out", required=True, help="output text file, one line per test record")
    p.add_argument("--metrics", required=True, help="throughput JSON")
    p.set_defaults(func=_decode)

    p = sub.add_parser("build-tiny", help="build a tiny random base model + tokenizer (demo and tests; no download)")
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--spec", required=True, help="JSON: base_models.<base> or its build_tiny block")
    p.add_argument("--corpus", required=True, nargs="+", help="JSONL files whose text trains the tokenizer")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="base model directory to write")
    p.set_defaults(func=_build_tiny)
