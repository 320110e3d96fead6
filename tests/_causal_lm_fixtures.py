"""Shared helpers for the causal-LM tests (model, train, decode, edit).

Everything is tiny: a 2-layer, 64-wide LLaMA with a byte-level BPE trained on a
few hundred synthetic sentences.  Built models and trained systems are cached per
test session (keyed by their arguments) so each is built once.
"""

from __future__ import annotations

import atexit
import itertools
import json
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from writing_alpaca.format import PROMPTS, TEMPLATE

GRAMMAR = PROMPTS["grammar"]
SPEC = {"layers": 2, "hidden": 64, "heads": 4, "intermediate": 128, "vocab": 512}
WORDS = "the cat sat on mat a dog ran to park he go goes went school they is are was were she".split()

#: a trained system's fragment (systems.<name>) but its method: what the train rule passes as --spec
SYSTEM: dict[str, Any] = {"label": "toy", "kind": "causal_lm", "base": "tiny", "mixture": "toy"}
TRAINING: dict[str, Any] = {
    "max_steps": 30,
    "batch_size": 8,
    "micro_batch_size": 4,
    "cutoff_len": 128,
    "train_on_inputs": False,
    "learning_rate": {"lora": 2e-2, "full": 3e-3},
    "warmup_steps": 2,
    "save_steps": 20,
    "precision": "auto",
    "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "v_proj", "lm_head"]},
    "deepspeed": {"stage": 0, "offload": False},
}

_ROOT = Path(tempfile.mkdtemp(prefix="wa-causal-lm-tests-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
_CACHE: dict[tuple, Path] = {}


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))) for _ in range(n)]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def corpus_file(root: Path = _ROOT) -> Path:
    """A normalised training-pair corpus (grammar task) of 200 pairs."""
    path = root / "corpus.jsonl"
    if not path.exists():
        records = [
            {"id": f"c{i}", "task": "grammar", "source": s, "target": s.capitalize() + "."}
            for i, s in enumerate(sentences(200))
        ]
        write_jsonl(path, records)
    return path


def instruction_file(n: int = 16, root: Path = _ROOT) -> Path:
    """``n`` instruction records (the first ``n`` corpus pairs)."""
    path = root / f"instructions-{n}.jsonl"
    if not path.exists():
        records = [
            {"id": f"i{i}", "task": "grammar", "instruction": GRAMMAR, "input": s, "output": s.capitalize() + "."}
            for i, s in enumerate(sentences(200)[:n])
        ]
        write_jsonl(path, records)
    return path


def eval_file(n: int = 6, root: Path = _ROOT) -> Path:
    """``n`` normalised test records."""
    path = root / f"test-{n}.jsonl"
    if not path.exists():
        records = [
            {"id": f"t{i}", "dataset": "toy", "task": "grammar", "source": s, "references": [s]}
            for i, s in enumerate(sentences(n, seed=7))
        ]
        write_jsonl(path, records)
    return path


_BUILT = itertools.count()


def _cached(key: tuple, build: Callable[[Path], None]) -> Path:
    # the name is taken before building: a build may itself build a cached dependency (the base model)
    if key not in _CACHE:
        out = _ROOT / f"cache-{next(_BUILT)}"
        build(out)
        _CACHE[key] = out
    return _CACHE[key]


def tiny_base(seed: int = 1) -> Path:
    """A tiny LLaMA base model directory (built once per seed)."""
    from writing_alpaca.model import build_tiny

    return _cached(("base", seed), lambda out: build_tiny(SPEC, [corpus_file()], seed, out))


def trained_system(method: str, **overrides: Any) -> Path:
    """A trained system directory (``method``: lora|full), cached per settings."""
    from writing_alpaca.training.config import TrainConfig
    from writing_alpaca.training.recipe import train

    training = {**TRAINING, **overrides}
    key = ("system", method, json.dumps(training, sort_keys=True))

    def build(out: Path) -> None:
        config = TrainConfig.from_fragments(f"toy-{method}", {**SYSTEM, "method": method}, training, TEMPLATE, seed=1)
        train(config, tiny_base(), instruction_file(), out, prompts=PROMPTS)

    return _cached(key, build)


def train_command(
    out: Path,
    checkpoint_dir: Path,
    training: dict[str, Any],
    method: str = "lora",
    launcher: tuple[str, ...] = (sys.executable, "-m", "writing_alpaca"),
) -> list[str]:
    """The ``train`` command line a Snakemake rule would run (``launcher``: python or torchrun)."""
    spec = {**SYSTEM, "method": method}
    return [
        *launcher,
        "train",
        "--system",
        f"toy-{method}",
        "--spec",
        json.dumps(spec),
        "--training",
        json.dumps(training),
        "--template",
        json.dumps(TEMPLATE),
        "--prompts",
        json.dumps(PROMPTS),
        "--seed",
        "1",
        "--base",
        str(tiny_base()),
        "--data",
        str(instruction_file()),
        "--out",
        str(out),
        "--checkpoint-dir",
        str(checkpoint_dir),
    ]


def fake_generate(tokenizer: Any, respond: Callable[[str], str]) -> Callable[..., Any]:
    """A stand-in for ``model.generate``: each row continues with ``respond(source)`` then EOS.

    The source is recovered from the (left-padded) prompt, so the reply is tied to its
    input, which lets tests check that outputs come back in input order.
    """
    import torch

    def generate(input_ids: Any, attention_mask: Any = None, **kwargs: Any) -> Any:
        rows = []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            prompt = tokenizer.decode([i for i, m in zip(ids, mask) if m], skip_special_tokens=True)
            source = prompt.split("### Input:\n", 1)[1].split("\n\n### Response:", 1)[0]
            reply = tokenizer(respond(source), add_special_tokens=False)["input_ids"]
            rows.append(ids + reply + [tokenizer.eos_token_id])
        width = max(len(r) for r in rows)
        padded = [r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows]
        return torch.tensor(padded, dtype=torch.long)

    return generate


def tensors(path: Path) -> dict[str, Any]:
    """A safetensors file's tensors."""
    from safetensors.torch import load_file

    return load_file(str(path))


def baseline_weights(system_dir: Path) -> dict[str, Any]:
    """A trained baseline's tensors (GECToR's heads under ``heads.``)."""
    weights = tensors(system_dir / "model" / "model.safetensors")
    heads = system_dir / "model" / "gector_heads.safetensors"
    if heads.is_file():
        weights.update({f"heads.{k}": v for k, v in tensors(heads).items()})
    return weights


def stop_after(monkeypatch: Any, step: int) -> None:
    """As if SIGUSR1 arrived during optimiser step ``step`` (every trainer asks once per step)."""
    import signal

    from writing_alpaca.training.checkpoints import StopOnSignal

    asked = []

    def agreed(self, device):
        asked.append(step)
        if len(asked) == step:
            self.received = signal.SIGUSR1
        return self.received is not None

    monkeypatch.setattr(StopOnSignal, "_agreed", agreed)
