"""Fetch a base model (LLaMA, RoBERTa, T5) from the Hugging Face Hub, on the cluster.

Only the paper-scale configuration uses this (the demo builds its tiny models locally).
LLaMA weights need an accepted licence: export ``HF_TOKEN`` before running the workflow, or
place the weights yourself and point ``base_models.<name>.path`` at them.

The model directory gets a ``fetched_from.json`` (:data:`FETCHED_FROM_JSON`): the repository,
the revision asked for (config ``base_models.<name>.revision``) and the commit fetched, which a
branch such as ``main`` is resolved to first, so that the download is of one commit and the model
cards of the systems trained on it (:mod:`writing_alpaca.cards`) name the commit actually used.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .errors import WritingAlpacaError
from .io import atomic_dir, write_json

log = logging.getLogger(__name__)

# Weights in safetensors where the repository has them; never the duplicate formats.
IGNORE_PATTERNS = ["*.msgpack", "*.h5", "*.ot", "flax_model*", "tf_model*", "rust_model*", "onnx/*"]
#: what a fetched model directory records of its origin: ``{"repo", "revision", "commit"}``
FETCHED_FROM_JSON = "fetched_from.json"


def resolve_commit(repo: str, revision: str) -> str | None:
    """The commit ``revision`` of ``repo`` is now (itself when it is a commit SHA), or ``None``
    when the Hub cannot tell (offline, no access: the download then says why)."""
    from .settings import is_commit_sha

    if is_commit_sha(revision):
        return revision
    try:
        from huggingface_hub import HfApi

        return HfApi().model_info(repo, revision=revision).sha
    except Exception as exc:  # offline, gated, unknown: snapshot_download reports it in its own words
        log.warning("cannot resolve %s@%s to a commit (%s: %s)", repo, revision, type(exc).__name__, exc)
        return None


def fetch_model(repo: str, revision: str, out: str) -> None:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError as exc:  # pragma: no cover - huggingface_hub ships with transformers
        raise WritingAlpacaError(f"huggingface_hub is not installed: {exc}") from None
    commit = resolve_commit(repo, revision)
    with atomic_dir(out) as tmp:
        try:
            snapshot_download(
                repo_id=repo, revision=commit or revision, local_dir=str(tmp), ignore_patterns=IGNORE_PATTERNS
            )
        except LocalEntryNotFoundError as exc:
            raise WritingAlpacaError(
                f"cannot fetch {repo}@{revision}: the Hub is unreachable or HF_HUB_OFFLINE is set ({exc}); "
                f"place the model yourself and set base_models.<name>.path"
            ) from None
        except HfHubHTTPError as exc:
            raise WritingAlpacaError(
                f"cannot fetch {repo}@{revision}: {exc}. Gated models (LLaMA) need an accepted licence and HF_TOKEN."
            ) from None
        write_json(Path(tmp) / FETCHED_FROM_JSON, {"repo": repo, "revision": revision, "commit": commit})
    log.info("fetched %s@%s (commit %s) into %s", repo, revision, commit or "unknown", out)


def _run(args: argparse.Namespace) -> int:
    fetch_model(args.repo, args.revision, args.out)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("fetch-model", help="download a base model from the Hugging Face Hub (cluster only)")
    p.add_argument("--repo", required=True, help="Hub repository id, e.g. huggyllama/llama-7b")
    p.add_argument("--revision", default="main")
    p.add_argument("--out", required=True, help="directory to write the model into")
    p.set_defaults(func=_run)
