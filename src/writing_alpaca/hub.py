"""Fetch a base model (LLaMA, RoBERTa, T5) from the Hugging Face Hub, on the cluster.

Only the paper-scale configuration uses this (the demo builds its tiny models locally).
LLaMA weights need an accepted licence: export ``HF_TOKEN`` before running the workflow, or
place the weights yourself and point ``base_models.<name>.path`` at them.
"""

from __future__ import annotations

import argparse
import logging

from .errors import WritingAlpacaError
from .io import atomic_dir

log = logging.getLogger(__name__)

# Weights in safetensors where the repository has them; never the duplicate formats.
IGNORE_PATTERNS = ["*.msgpack", "*.h5", "*.ot", "flax_model*", "tf_model*", "rust_model*", "onnx/*"]


def fetch_model(repo: str, revision: str, out: str) -> None:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError as exc:  # pragma: no cover - huggingface_hub ships with transformers
        raise WritingAlpacaError(f"huggingface_hub is not installed: {exc}") from None
    with atomic_dir(out) as tmp:
        try:
            snapshot_download(repo_id=repo, revision=revision, local_dir=str(tmp), ignore_patterns=IGNORE_PATTERNS)
        except LocalEntryNotFoundError as exc:
            raise WritingAlpacaError(
                f"cannot fetch {repo}@{revision}: the Hub is unreachable or HF_HUB_OFFLINE is set ({exc}); "
                f"place the model yourself and set base_models.<name>.path"
            ) from None
        except HfHubHTTPError as exc:
            raise WritingAlpacaError(
                f"cannot fetch {repo}@{revision}: {exc}. Gated models (LLaMA) need an accepted licence and HF_TOKEN."
            ) from None
    log.info("fetched %s@%s into %s", repo, revision, out)


def _run(args: argparse.Namespace) -> int:
    fetch_model(args.repo, args.revision, args.out)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("fetch-model", help="download a base model from the Hugging Face Hub (cluster only)")
    p.add_argument("--repo", required=True, help="Hub repository id, e.g. huggyllama/llama-7b")
    p.add_argument("--revision", default="main")
    p.add_argument("--out", required=True, help="directory to write the model into")
    p.set_defaults(func=_run)
