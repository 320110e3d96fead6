"""Merge a trained LoRA adapter into its base model: one standalone Hugging Face model.

``writing-alpaca merge --system-dir results/models/SYSTEM --out DIR`` loads the base model
named in ``system.json`` (in the dtype it was saved in), applies the adapter, folds it into
the weights (peft ``merge_and_unload``: ``W + (alpha / r) * B @ A``) and saves the result
with safetensors together with the system's tokenizer.  ``DIR`` then loads with plain
``AutoModelForCausalLM.from_pretrained`` (no peft) and serves as ``decode --base DIR``.
A ``merged_from.json`` records the system, base and adapter it came from, and the template and
task prompts the system was trained with (its ``system.json``'s), which ``decode --base DIR``
then needs as ``--template`` / ``--task-prompt``, and a ``README.md`` model card, the system's
(:mod:`writing_alpaca.cards`: base model, data and their licences, settings fingerprint) for a
standalone transformers model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import WritingAlpacaError
from ..io import atomic_dir, write_json

log = logging.getLogger(__name__)


def merge_adapter(system_dir: str | Path, out: str | Path) -> Path:
    """Write the base model of ``system_dir`` with its LoRA adapter merged into ``out``."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ..cards import write_merged_card
    from ..systems import read_system, resolve_model_dirs
    from .modelling import load_tokenizer

    system_dir = Path(system_dir)
    info = read_system(system_dir)
    weights, adapter, tokenizer_dir = resolve_model_dirs(system_dir=system_dir)
    if adapter is None:
        raise WritingAlpacaError(f"{system_dir}: not a LoRA system (system.json has no adapter): nothing to merge")
    base = AutoModelForCausalLM.from_pretrained(str(weights), dtype="auto", local_files_only=True)
    model: Any = PeftModel.from_pretrained(base, str(adapter))
    merged = model.merge_and_unload()
    tokenizer = load_tokenizer(tokenizer_dir)
    with atomic_dir(out) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        write_json(
            Path(tmp) / "merged_from.json",
            {
                "system_dir": str(system_dir),
                "system": info.system,
                "base": str(weights),
                "adapter": str(adapter),
                "template": info.template,
                "prompts": info.prompts,
            },
        )
        write_merged_card(tmp, system_dir, shown_as=out)
    log.info("merged %s into %s -> %s", adapter, weights, out)
    return Path(out)
