"""GPU check that fits a short lease: training and decoding throughput of LLaMA-7B on one GPU.

Run through ``benchmarks/gpu_check.sh`` (which picks the Python and puts ``src/`` on the path)::

    benchmarks/gpu_check.sh --out /tmp/gpu_check.json     # one H100/H200, within 8 minutes
    benchmarks/gpu_check.sh --tiny --out /tmp/tiny.json   # the same code path on CPU, tiny model

Nothing is downloaded and no real weights are needed: every model is a randomly initialised
LLaMA of the 7B shape (``--tiny``: bench_train's 2-layer "tiny" shape, on CPU).  Phases, each with
its own time budget under one global deadline (``--budget``, default 450 s; a phase that does not
fit in what is left is skipped with a note, one that overruns its budget is stopped):

1. ``train_lora``: LoRA through the package's ``apply_lora`` (config.yaml's ``training.lora``) on a
   bf16 base, bf16 autocast, torch AdamW: micro-batches of 4 (the paper's) and 16 sequences of 256
   random ids (``cutoff_len``); warm-up steps, then timed optimiser steps; tokens/s, MFU and HFU
   with benchmarks/bench_train.py's FLOP counts (BENCHMARKS.md, "Training").
2. ``train_full``: full fine-tuning, all 32 layers, in pure bf16 (weights, gradients and AdamW states
   in bf16, about 54 GB): the recipe's mixed precision (fp32 master weights, gradients and AdamW
   states, 16 bytes a parameter, about 108 GB plus activations) does not fit one GPU with room to
   spare, which is why the workflow's full run uses 8 GPUs under ZeRO-3.  The matmul work is the
   same; the optimiser step moves less memory than the recipe's.
3. ``train_full_fp32``: full fine-tuning in the recipe's precision (fp32 master weights, bf16
   autocast) with the 7B width and 16 of its 32 layers (3.5 B parameters), which fits.
4. ``decode_hf_beam16`` and ``decode_hf_greedy``: ``writing_alpaca.decode.generate_hf`` with
   config.yaml's ``decodings.beam16`` and ``decodings.greedy`` over the ten test sets, each given
   as K length-homogeneous batches at the midpoint quantiles of its source-length profile
   (:data:`LENGTH_PROFILES`); instances/s and the time the whole set would take.
5. ``decode_vllm``: ``writing_alpaca.decode.generate_vllm`` (greedy) in a child process, on a
   size-weighted mixture of the test sets, if ``import vllm`` works (random weights through vLLM's
   ``load_format="dummy"``); skipped otherwise.

Random weights never choose EOS or ``###``, so every record generates its whole new-token budget
``min(max_new_tokens, 2 n + 16)`` (``n`` its source's tokens): about twice what a trained system
writes, so the instances/s are a lower bound for a trained model.  Without a GPU the script
refuses (exit 2) unless ``--tiny`` is given.  The JSON (``--out``) is rewritten after every
measured row and phase, so a run cut short keeps what it measured (and shows the phase it was in as
``running``); the Markdown tables are printed at the end and written beside the JSON (``.md``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCHEMA = "writing-alpaca gpu-check 1"

#: Source lengths of the paper's test sets, in whitespace words of the source the model sees
#: (after the workflow's normalisation, detokenised where the set says ``detokenize: true``): the
#: 0th, 10th, ..., 100th percentiles and the mean.  Computed once with
#: ``writing_alpaca.data.build_test_records`` on ../shared/data (config.yaml's specs, paths mapped
#: to that layout); WNC from the 100-line real sample there (the official test file is not in
#: ../shared; it is lower-cased and tokenised, so its count includes punctuation).
LENGTH_PROFILES: dict[str, dict[str, Any]] = {
    "conll14": {"mean": 23.0, "pct": [1, 11, 14, 17, 19, 21, 24, 26, 30, 36, 227]},
    "bea19_dev": {"mean": 19.8, "pct": [1, 7, 10, 13, 15, 18, 20, 23, 28, 34, 157]},
    "jfleg": {"mean": 17.0, "pct": [2, 7, 10, 12, 13, 15, 18, 20, 23, 28, 70]},
    "itr_f": {"mean": 30.5, "pct": [4, 16, 19, 21, 25, 27, 29, 33, 44, 45, 88]},
    "itr_l": {"mean": 34.7, "pct": [5, 16, 19, 22, 27, 31, 37, 41, 47, 62, 117]},
    "itr_o": {"mean": 36.2, "pct": [13, 19, 21, 25, 28, 31, 33, 38, 39, 72, 88]},
    "turk": {"mean": 19.7, "pct": [6, 10, 13, 15, 17, 19, 21, 23, 26, 31, 44]},
    "asset": {"mean": 19.7, "pct": [6, 10, 13, 15, 17, 19, 21, 23, 26, 31, 44]},
    "wnc": {"mean": 28.1, "pct": [2, 11, 14, 18, 23, 26, 29, 34, 40, 49, 75]},
    "sts": {"mean": 7.7, "pct": [4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 28]},
}

#: LLaMA tokens per whitespace word of English (an estimate: no LLaMA tokenizer is available
#: offline; ``--tokens-per-word`` changes it).
TOKENS_PER_WORD = 1.4


@dataclass(frozen=True)
class Plan:
    """What one mode runs: shapes, step counts, decode sizes, time budgets (seconds)."""

    shape: str
    fp32_layers: int
    micro_batches: tuple[int, ...]
    seq_len: int
    warmup: int
    steps: int
    groups: int  # length-homogeneous batches per test set
    vllm_records: int
    decoding_overrides: dict[str, Any]
    budget: float
    phase_budgets: dict[str, float]
    phase_minimum: dict[str, float]


GPU_PLAN = Plan(
    shape="7b",
    fp32_layers=16,
    micro_batches=(4, 16),
    seq_len=256,
    warmup=3,
    steps=10,
    groups=4,
    vllm_records=512,
    decoding_overrides={},
    budget=450.0,
    phase_budgets={
        "train_lora": 75,
        "train_full": 75,
        "train_full_fp32": 60,
        "decode_hf_beam16": 150,
        "decode_hf_greedy": 100,
        "decode_vllm": 150,
    },
    phase_minimum={
        "train_lora": 30,
        "train_full": 30,
        "train_full_fp32": 25,
        "decode_hf_beam16": 40,
        "decode_hf_greedy": 30,
        "decode_vllm": 90,
    },
)

TINY_PLAN = Plan(
    shape="tiny",
    fp32_layers=2,
    micro_batches=(2,),
    seq_len=64,
    warmup=1,
    steps=3,
    groups=1,
    vllm_records=16,
    decoding_overrides={"batch_size": 2, "max_new_tokens": 8},
    # a code-path check, not a timing: generous limits, so that a starved CI machine still passes
    budget=1800.0,
    phase_budgets=dict.fromkeys(GPU_PLAN.phase_budgets, 600.0),
    phase_minimum=dict.fromkeys(GPU_PLAN.phase_budgets, 1.0),
)

PHASES = tuple(GPU_PLAN.phase_budgets)

REFUSAL = (
    "gpu_check: error: no CUDA GPU is visible (torch.cuda.is_available() is False); this check needs one "
    "H100/H200-class GPU. Run it with --tiny for the CPU smoke test of the same code path."
)


class PhaseTimeout(Exception):
    """A phase ran past its budget (SIGALRM)."""


class Skip(Exception):
    """A phase cannot run here (the reason is its note)."""


@dataclass
class Context:
    args: argparse.Namespace
    plan: Plan
    cuda: bool
    device: str
    started: float
    deadline: float
    out: Path
    config: dict[str, Any]
    report: dict[str, Any]
    gpu_memory_gib: float | None = None
    peak_flops: float | None = None
    peak_source: str = ""
    lm: Any = None  # the decode model, shared by the HF decode phases
    tokenizer: Any = None
    words: list[str] = field(default_factory=list)  # the coined words of the synthetic sources

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        from writing_alpaca.io import write_json

        self.report["wall_seconds"] = round(time.monotonic() - self.started, 1)
        write_json(self.out, self.report)


# --------------------------------------------------------------------------- set-up


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def _import_project() -> str | None:
    """Import what the check needs; a one-line reason on failure."""
    sys.path.insert(0, str(HERE))  # bench_train
    try:
        import peft  # noqa: F401
        import transformers  # noqa: F401
        import yaml  # noqa: F401

        import bench_train  # noqa: F401
        import writing_alpaca.decode  # noqa: F401
        import writing_alpaca.model  # noqa: F401
        import writing_alpaca.training.modelling  # noqa: F401
    except ImportError as exc:
        return (
            f"gpu_check: error: missing Python package {exc.name or exc}: install the project with its ml extra "
            "(pip install -e '.[ml]'), or give gpu_check.sh a folder of wheels (GPU_CHECK_WHEELS=DIR)"
        )
    return None


def _versions() -> dict[str, str | None]:
    import importlib.metadata as md

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "tokenizers", "vllm"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    import torch

    out["cuda"] = torch.version.cuda
    return out


def _matmul_peak(cuda: bool) -> tuple[float, str]:
    """Measured dense matmul FLOP/s: bf16 8192^3 on a GPU, bench_train's fp32 2048^3 on CPU."""
    import torch

    from bench_train import measured_cpu_peak

    if not cuda:
        return measured_cpu_peak(), "measured fp32 torch.mm 2048x2048"
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / 10
    del a, b
    torch.cuda.empty_cache()
    return 2 * n**3 / seconds, "measured bf16 torch.mm 8192x8192 (random data)"


def _release() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------- phases


def _alarm(_signum: int, _frame: Any) -> None:
    raise PhaseTimeout


def _terminate(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)


def run_phase(ctx: Context, name: str, fn: Callable[[Context, dict[str, Any], float], None]) -> None:
    """Run one phase under its budget and the global deadline; record it whatever happens."""
    import torch

    budget = float(ctx.plan.phase_budgets[name])
    entry: dict[str, Any] = {"name": name, "status": "ok", "budget_seconds": budget, "seconds": 0.0, "note": ""}
    ctx.report["phases"].append(entry)
    left = ctx.left()
    if name not in ctx.args.phases:
        entry.update(status="skipped", note="not asked for (--phases)")
        ctx.save()
        return
    if left < ctx.plan.phase_minimum[name]:
        entry.update(
            status="skipped",
            note=f"global deadline: {left:.0f} s left, the phase needs at least {ctx.plan.phase_minimum[name]:.0f} s",
        )
        ctx.save()
        return
    limit = min(budget, left)
    entry.update(status="running", limit_seconds=round(limit, 1))  # what a killed run's JSON shows
    ctx.save()
    start = time.monotonic()
    print(f"gpu_check: {name} (at most {limit:.1f} s)", flush=True)
    use_alarm = name != "decode_vllm"  # the vLLM child has its own timeout
    if use_alarm:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        fn(ctx, entry, start + limit)
        if entry["status"] == "running":
            entry["status"] = "ok"
    except PhaseTimeout:
        entry.update(
            status="timeout",
            note=(entry["note"] + " " if entry["note"] else "")
            + f"stopped at its limit of {limit:.1f} s; rows measured before it are kept",
        )
    except Skip as exc:
        entry.update(status="skipped", note=str(exc))
    except torch.cuda.OutOfMemoryError as exc:
        entry.update(status="failed", note=f"out of GPU memory: {str(exc).splitlines()[0][:300]}")
    except Exception as exc:  # noqa: BLE001 - recorded, the next phase still runs
        entry.update(
            status="failed", note=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        )
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
        entry["seconds"] = round(time.monotonic() - start, 1)
        _release()
        ctx.save()
    print(f"gpu_check: {name}: {entry['status']} in {entry['seconds']} s {entry['note']}".rstrip(), flush=True)


# ............................................................................ training


def train_step(model: Any, optimizer: Any, ids: Any, device: str) -> None:
    """One optimiser step as bench_train's: bf16 autocast on a GPU, every position supervised."""
    import torch

    with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _train_method(
    ctx: Context, entry: dict[str, Any], deadline: float, *, method: str, master: str, layers: int | None
) -> None:
    """Timed optimiser steps at each of the plan's micro-batches on one freshly built model."""
    import torch

    from bench_train import SHAPES, build_model, flops_per_token, recompute_flops_per_token
    from writing_alpaca.training.config import LoraSettings
    from writing_alpaca.training.modelling import apply_lora

    plan, cuda = ctx.plan, ctx.cuda
    full_layers, hidden, heads, intermediate, vocab = SHAPES[plan.shape]
    layers = min(layers or full_layers, full_layers)
    shape = (layers, hidden, heads, intermediate, vocab)
    # the recipe trains without gradient checkpointing; full fine-tuning turns it on only on a
    # GPU too small for its activations beside the states (an 80 GB H100)
    checkpointing = method == "full" and cuda and (ctx.gpu_memory_gib or 0) < 100
    model = build_model(shape, ctx.device, "sdpa")  # bf16 on a GPU, fp32 on CPU (bench_train)
    if master == "fp32" and cuda:
        model = model.float()  # the recipe's full fine-tuning: fp32 master weights, bf16 autocast
    n_matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    n_params = sum(p.numel() for p in model.parameters())
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraSettings.from_dict(ctx.config.get("training", {}).get("lora"))
    if method == "lora":
        model = apply_lora(model, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, fused=cuda)
    if not cuda:
        precision = "fp32 (CPU, as the recipe)"
    elif method == "lora":
        precision = "bf16 base, fp32 adapter, bf16 autocast"
    elif master == "fp32":
        precision = "fp32 master weights, bf16 autocast (the recipe's)"
    else:
        precision = "pure bf16: weights, gradients, AdamW states"
    generator = torch.Generator(device="cpu").manual_seed(0)
    batches: list[Any] = []
    try:
        for micro_batch in plan.micro_batches:
            if time.monotonic() > deadline - 5:
                entry["status"] = "partial"
                entry["note"] = (
                    entry["note"] + " " if entry["note"] else ""
                ) + f"micro-batch {micro_batch} not reached"
                continue
            batches = [
                torch.randint(3, vocab, (micro_batch, plan.seq_len), generator=generator).to(ctx.device)
                for _ in range(2)
            ]
            for i in range(plan.warmup):
                train_step(model, optimizer, batches[i % 2], ctx.device)
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            for i in range(plan.steps):
                train_step(model, optimizer, batches[i % 2], ctx.device)
            if cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            tokens_per_second = plan.steps * micro_batch * plan.seq_len / seconds
            n_lora = n_trainable if method == "lora" else 0
            per_token = flops_per_token(method, n_matmul, n_lora, layers, hidden, plan.seq_len)
            recompute = recompute_flops_per_token(n_matmul, layers, hidden, plan.seq_len) if checkpointing else 0.0
            peak = ctx.peak_flops
            row = {
                "phase": entry["name"],
                "method": method,
                "shape": plan.shape,
                "layers": layers,
                "hidden": hidden,
                "precision": precision,
                "micro_batch": micro_batch,
                "seq_len": plan.seq_len,
                "gradient_checkpointing": checkpointing,
                "lora": {"r": lora.r, "alpha": lora.alpha, "target_modules": list(lora.target_modules)}
                if method == "lora"
                else None,
                "parameters": n_params,
                "matmul_parameters": n_matmul,
                "trainable_parameters": n_trainable,
                "warmup_steps": plan.warmup,
                "steps": plan.steps,
                "seconds": round(seconds, 3),
                "tokens_per_second": round(tokens_per_second, 1),
                "flops_per_token": per_token,
                "mfu": round(per_token * tokens_per_second / peak, 4) if peak else None,
                "hfu": round((per_token + recompute) * tokens_per_second / peak, 4) if peak else None,
                "mfu_vs_measured_matmul": round(per_token * tokens_per_second / ctx.report["matmul_flops"], 4),
                "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
            }
            ctx.report["training"].append(row)
            ctx.save()
            print(
                f"  {method} {layers} layers, micro-batch {micro_batch} x {plan.seq_len}: "
                f"{tokens_per_second:,.0f} tokens/s, MFU {_pct(row['mfu'])}",
                flush=True,
            )
    finally:
        del optimizer, trainable, model, batches


def phase_train_lora(ctx: Context, entry: dict[str, Any], deadline: float) -> None:
    _train_method(ctx, entry, deadline, method="lora", master="bf16", layers=None)


def phase_train_full(ctx: Context, entry: dict[str, Any], deadline: float) -> None:
    _train_method(ctx, entry, deadline, method="full", master="bf16", layers=None)


def phase_train_full_fp32(ctx: Context, entry: dict[str, Any], deadline: float) -> None:
    _train_method(ctx, entry, deadline, method="full", master="fp32", layers=ctx.plan.fp32_layers)


# ............................................................................ decoding


def coined_words(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct lower-case pseudo-words of 3-6 letters."""
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 6))))
    return sorted(words)


def build_tokenizer(vocab: int, task_prompts: Sequence[str], template: dict[str, str], words: Sequence[str]) -> Any:
    """The package's byte-level BPE (``writing_alpaca.model.train_tokenizer``) trained on the Alpaca
    template, the task prompts and lines of coined words, padded to ``vocab`` ids (the model's)."""
    from writing_alpaca.model import train_tokenizer

    rng = random.Random(1)
    shells = [
        template[k].replace("{instruction}", "").replace("{input}", "") for k in ("prompt_input", "prompt_no_input")
    ]
    corpus = [*shells * 64, *list(task_prompts) * 64]
    corpus += [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))) for _ in range(12 * len(words))]
    tok = train_tokenizer(corpus, vocab, padding_side="left")
    if len(tok) < vocab:  # every id the random model can emit decodes (and vLLM's detokenizer accepts it)
        tok.add_tokens([f"<fill_{i}>" for i in range(vocab - len(tok))], special_tokens=True)
    return tok


def source_of(tokenizer: Any, words: Sequence[str], target: int, rng: random.Random) -> str:
    """Coined words whose tokens (``add_special_tokens=False``, as decode counts them) number ``target``."""
    chosen = [rng.choice(words) for _ in range(target)]

    def count() -> int:
        return len(tokenizer(" ".join(chosen), add_special_tokens=False)["input_ids"])

    n = count()
    for _ in range(4 * target):
        if n > target and len(chosen) > 1:
            chosen.pop()
        elif n < target:
            chosen.append(rng.choice(words))
        else:
            break
        n = count()
    return " ".join(chosen)


def quantile(pct: Sequence[float], p: float) -> float:
    """The profile's length at ``p`` in [0, 1] (linear between its 0, 10, ..., 100th percentiles)."""
    x = p * (len(pct) - 1)
    i = min(int(x), len(pct) - 2)
    return pct[i] + (x - i) * (pct[i + 1] - pct[i])


def target_tokens(name: str, groups: int, tokens_per_word: float) -> list[int]:
    """Source token counts of ``groups`` homogeneous batches: the midpoint quantiles (k + 1/2) / groups."""
    pct = LENGTH_PROFILES[name]["pct"]
    return [max(1, round(quantile(pct, (k + 0.5) / groups) * tokens_per_word)) for k in range(groups)]


def decode_spec(ctx: Context, name: str, **overrides: Any) -> Any:
    """config.yaml's ``decodings.<name>`` (the tiny plan's overrides on top), parsed as decode does."""
    from writing_alpaca.decode import DecodingSpec

    return DecodingSpec.from_dict({**ctx.config["decodings"][name], **ctx.plan.decoding_overrides, **overrides})


def test_sets(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    """config.yaml's test sets that have a length profile, largest first (cut short, the big ones count)."""
    sets = [(n, s) for n, s in ctx.config["test_sets"].items() if n in LENGTH_PROFILES]
    return sorted(sets, key=lambda item: (-int(item[1].get("size") or 0), item[0]))


def requests(ctx: Context, name: str, spec: dict[str, Any], targets: Sequence[int], per_target: int, seed: int):
    """``(prompts, sources)`` of one test set: ``per_target`` records at each target length."""
    from writing_alpaca.decode import build_prompts

    rng = random.Random(seed)
    sources = [source_of(ctx.tokenizer, ctx.words, t, rng) for t in targets for _ in range(per_target)]
    task_prompt = ctx.config["tasks"][spec["task"]]["prompt"]
    return build_prompts(ctx.config["template"], task_prompt, sources), sources


def _decode_setup(ctx: Context) -> None:
    """Tokenizer and (for the HF phases) the random decode model, built once."""
    from bench_train import SHAPES

    if ctx.tokenizer is not None:
        return
    vocab = SHAPES[ctx.plan.shape][4]
    ctx.words = coined_words(3000 if ctx.plan.shape != "tiny" else 150)
    prompts = [t["prompt"] for t in ctx.config["tasks"].values()]
    start = time.monotonic()
    ctx.tokenizer = build_tokenizer(vocab, prompts, ctx.config["template"], ctx.words)
    ctx.report["decode_setup"] = {
        "coined_words": len(ctx.words),
        "tokenizer": f"byte-level BPE (writing_alpaca.model.train_tokenizer), {len(ctx.tokenizer)} ids",
        "tokens_per_word": ctx.args.tokens_per_word,
        "groups_per_set": ctx.plan.groups,
        "tokenizer_seconds": round(time.monotonic() - start, 1),
    }


def _decode_model(ctx: Context) -> Any:
    import torch

    from bench_train import SHAPES, build_model
    from writing_alpaca.decode import LoadedLM

    if ctx.lm is None:
        start = time.monotonic()
        model = build_model(SHAPES[ctx.plan.shape], ctx.device, "sdpa")  # bf16 on a GPU, as load_lm chooses
        model.config.use_cache = True
        model.eval()
        model.generation_config.pad_token_id = ctx.tokenizer.pad_token_id
        model.generation_config.eos_token_id = ctx.tokenizer.eos_token_id
        model.generation_config.bos_token_id = ctx.tokenizer.bos_token_id
        ctx.lm = LoadedLM(model, ctx.tokenizer, ctx.device, Path("<in memory>"))
        ctx.report["decode_setup"]["model_seconds"] = round(time.monotonic() - start, 1)
        ctx.report["decode_setup"]["dtype"] = str(next(model.parameters()).dtype).replace("torch.", "")
        del model
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    return ctx.lm


def _decode_hf(ctx: Context, entry: dict[str, Any], deadline: float, decoding: str) -> None:
    from writing_alpaca.decode import generate_hf

    _decode_setup(ctx)
    lm = _decode_model(ctx)
    spec = decode_spec(ctx, decoding)
    sets = test_sets(ctx)
    # untimed warm-up: one batch of the first set, a few new tokens (kernels, cuBLAS, stop-string tables)
    warm = decode_spec(ctx, decoding, max_new_tokens=4)
    prompts, sources = requests(ctx, sets[0][0], sets[0][1], [8], spec.batch_size, seed=99)
    generate_hf(lm, prompts, sources, warm)
    last = 0.0
    try:
        for index, (name, set_spec) in enumerate(sets):
            if time.monotonic() + 1.2 * last > deadline:  # the next set would not finish in time
                missing = ", ".join(n for n, _ in sets[index:])
                entry.update(status="partial", note=f"the phase's time limit came before {missing}")
                break
            targets = target_tokens(name, ctx.plan.groups, ctx.args.tokens_per_word)
            prompts, sources = requests(ctx, name, set_spec, targets, spec.batch_size, seed=index)
            _, stats = generate_hf(lm, prompts, sources, spec)
            last = stats.seconds
            row = _decode_row(ctx, "hf", decoding, spec, name, set_spec, prompts, sources, stats)
            ctx.report["decoding"].append(row)
            ctx.save()
            print(
                f"  {decoding} {name}: {row['instances_per_second']:.2f} instances/s "
                f"({row['records']} records in {row['seconds']} s)",
                flush=True,
            )
    finally:  # also when the phase's alarm stops it: the sets measured are summarised
        _summarise(ctx, "hf", decoding)


def _decode_row(ctx, backend, decoding, spec, name, set_spec, prompts, sources, stats) -> dict[str, Any]:
    from writing_alpaca.decode import token_budgets

    tok = ctx.tokenizer
    prompt_tokens = [len(ids) for ids in tok(list(prompts))["input_ids"]]
    source_tokens = [len(ids) for ids in tok(list(sources), add_special_tokens=False)["input_ids"]]
    budgets = token_budgets(tok, sources, spec.max_new_tokens)
    seconds = max(stats.seconds, 1e-9)
    rate = stats.instances / seconds
    size = int(set_spec.get("size") or 0) if set_spec else None
    return {
        "backend": backend,
        "decoding": decoding,
        "num_beams": spec.num_beams,
        "batch_size": spec.batch_size,
        "max_new_tokens": spec.max_new_tokens,
        "dataset": name,
        "title": set_spec.get("title", name) if set_spec else name,
        "size": size,
        "records": stats.instances,
        "source_tokens_mean": round(sum(source_tokens) / len(source_tokens), 1),
        "prompt_tokens_mean": round(sum(prompt_tokens) / len(prompt_tokens), 1),
        "budget_mean": round(sum(budgets) / len(budgets), 1),
        "generated_tokens": stats.generated_tokens,
        "seconds": round(stats.seconds, 3),
        "instances_per_second": round(rate, 3),
        "new_tokens_per_second": round(stats.generated_tokens / seconds, 1),
        "estimated_set_seconds": round(size / rate, 1) if size else None,
    }


def _summarise(ctx: Context, backend: str, decoding: str) -> None:
    rows = [r for r in ctx.report["decoding"] if r["backend"] == backend and r["decoding"] == decoding]
    rows = [r for r in rows if r["dataset"] != "mixture"]
    if not rows:
        return
    items = sum(r["size"] for r in rows)
    seconds = sum(r["estimated_set_seconds"] for r in rows)
    ctx.report["decoding_summary"].append(
        {
            "backend": backend,
            "decoding": decoding,
            "sets_measured": [r["dataset"] for r in rows],
            "items": items,
            "estimated_seconds": round(seconds, 1),
            "instances_per_second": round(items / seconds, 3) if seconds else None,
        }
    )


def phase_decode_beam16(ctx: Context, entry: dict[str, Any], deadline: float) -> None:
    _decode_hf(ctx, entry, deadline, "beam16")


def phase_decode_greedy(ctx: Context, entry: dict[str, Any], deadline: float) -> None:
    _decode_hf(ctx, entry, deadline, "greedy")


def mixture_targets(ctx: Context, total: int) -> list[tuple[str, dict[str, Any], list[int]]]:
    """A size-weighted mixture of the test sets: each set's share of ``total`` records, at its
    stratified quantiles (so the mixture's lengths follow the whole test suite's)."""
    sets = test_sets(ctx)
    sizes = {n: int(s.get("size") or 0) for n, s in sets}
    all_items = sum(sizes.values()) or 1
    out = []
    for name, spec in sets:
        k = max(1, round(total * sizes[name] / all_items))
        out.append((name, spec, target_tokens(name, k, ctx.args.tokens_per_word)))
    return out


def phase_decode_vllm(ctx: Context, entry: dict[str, Any], deadline: float) -> None:
    import importlib.util

    if not ctx.cuda:
        raise Skip("vLLM needs a GPU (--tiny runs on CPU)")
    if importlib.util.find_spec("vllm") is None:
        raise Skip("vllm is not installed (import vllm fails): the vLLM backend is not measured")
    from writing_alpaca.decode import GenerationStats

    _decode_setup(ctx)
    if ctx.lm is not None:  # give the GPU to vLLM
        ctx.lm = None
        _release()
    spec = decode_spec(ctx, "greedy", backend="vllm")
    data = {**ctx.config["decodings"]["greedy"], **ctx.plan.decoding_overrides, "backend": "vllm"}
    prompts: list[str] = []
    sources: list[str] = []
    for index, (name, set_spec, targets) in enumerate(mixture_targets(ctx, ctx.plan.vllm_records)):
        p, s = requests(ctx, name, set_spec, targets, 1, seed=100 + index)
        prompts += p
        sources += s
    with tempfile.TemporaryDirectory(prefix="gpu_check_vllm_") as tmp:
        model_dir = Path(tmp) / "model"
        write_model_dir(ctx, model_dir)
        job = Path(tmp) / "job.json"
        result = Path(tmp) / "result.json"
        job.write_text(
            json.dumps(
                {
                    "model": str(model_dir),
                    "prompts": prompts,
                    "sources": sources,
                    "decoding": data,
                    "result": str(result),
                }
            )
        )
        start = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--vllm-child", str(job)], start_new_session=True
        )
        try:
            rc = child.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise PhaseTimeout from None
        finally:  # timed out, or this process was told to stop (SIGTERM): the engine goes too
            if child.poll() is None:
                _stop_group(child)
        if rc != 0 or not result.is_file():
            raise RuntimeError(f"the vLLM child exited with status {rc} (its output is above)")
        got = json.loads(result.read_text())
    stats = GenerationStats(
        instances=got["instances"], generated_tokens=got["generated_tokens"], seconds=got["seconds"]
    )
    total = sum(int(s.get("size") or 0) for _, s in test_sets(ctx))
    row = _decode_row(
        ctx,
        "vllm",
        "greedy",
        spec,
        "mixture",
        {"title": "size-weighted mixture", "size": total},
        prompts,
        sources,
        stats,
    )
    row["engine_seconds"] = round(time.monotonic() - start - got["seconds"], 1)
    ctx.report["decoding"].append(row)
    ctx.report["decoding_summary"].append(
        {
            "backend": "vllm",
            "decoding": "greedy",
            "sets_measured": ["mixture"],
            "items": total,
            "estimated_seconds": row["estimated_set_seconds"],
            "instances_per_second": row["instances_per_second"],
        }
    )


def _stop_group(child: subprocess.Popen) -> None:
    """End the child's process group (vLLM's engine runs in processes of its own)."""
    os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def write_model_dir(ctx: Context, path: Path) -> None:
    """config.json (LLaMA-7B's shape) and the tokenizer, no weights: what vLLM's dummy loader needs."""
    from transformers import LlamaConfig

    from bench_train import SHAPES

    layers, hidden, heads, intermediate, vocab = SHAPES[ctx.plan.shape]
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        architectures=["LlamaForCausalLM"],
        torch_dtype="bfloat16",
    )
    path.mkdir(parents=True)
    config.save_pretrained(path)
    ctx.tokenizer.save_pretrained(path)


def vllm_child(job_path: str) -> int:
    """In a child process: ``generate_vllm`` with vLLM's random-weight loader."""
    import vllm  # type: ignore[import-not-found]

    from writing_alpaca.decode import DecodingSpec, generate_vllm

    job = json.loads(Path(job_path).read_text())
    real = vllm.LLM

    def dummy_llm(**kwargs: Any) -> Any:
        kwargs.setdefault("load_format", "dummy")  # random weights: there are no weight files
        return real(**kwargs)

    vllm.LLM = dummy_llm  # generate_vllm imports LLM from vllm at call time
    model = Path(job["model"])
    _, stats = generate_vllm(
        model, None, model, job["prompts"], job["sources"], DecodingSpec.from_dict(job["decoding"])
    )
    Path(job["result"]).write_text(
        json.dumps({"instances": stats.instances, "generated_tokens": stats.generated_tokens, "seconds": stats.seconds})
    )
    return 0


# --------------------------------------------------------------------------- report


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _num(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _tflops(x: float | None) -> str:
    return "—" if not x else f"{x / 1e12:.3g} TFLOP/s"


#: the training table's first column, by phase
RUN_LABELS = {"train_lora": "LoRA", "train_full": "full", "train_full_fp32": "full, recipe precision"}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"GPU check ({report['mode']}), {report['hardware']}, {report['started'][:10]}; torch "
        f"{report['versions'].get('torch')}, transformers {report['versions'].get('transformers')}, "
        f"peft {report['versions'].get('peft')}, vllm {report['versions'].get('vllm') or 'absent'}; "
        f"{report['wall_seconds']} s in all. MFU against {report['peak_source']} ({_tflops(report['peak_flops'])}); "
        f"a measured matmul reached {_tflops(report['matmul_flops'])}.",
        "",
        "| training | layers | precision | micro-batch × tokens | grad. ckpt | tokens/s | MFU | HFU | peak GiB |",
        "|---|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for r in report["training"]:
        lines.append(
            f"| {RUN_LABELS.get(r['phase'], r['method'])}"
            f"{' r ' + str(r['lora']['r']) + ' (' + ', '.join(r['lora']['target_modules']) + ')' if r['lora'] else ''}"
            f" | {r['layers']} | {r['precision']} | "
            f"{r['micro_batch']} × {r['seq_len']} | {'yes' if r['gradient_checkpointing'] else 'no'} | "
            f"{_num(r['tokens_per_second'])} | {_pct(r['mfu'])} | {_pct(r['hfu'])} | {_num(r['peak_memory_gib'], 1)} |"
        )
    lines += [
        "",
        "| decoding | test set | items | records | source tokens | prompt tokens | new tokens (budget) | instances/s "
        "| new tokens/s | whole set (est.) s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["decoding"]:
        lines.append(
            f"| {r['backend']} {r['decoding']} (beam {r['num_beams']}, batch {r['batch_size']}) | {r['title']} | "
            f"{_num(r['size'])} | {r['records']} | {r['source_tokens_mean']} | {r['prompt_tokens_mean']} | "
            f"{r['budget_mean']} | {_num(r['instances_per_second'], 2)} | {_num(r['new_tokens_per_second'])} | "
            f"{_num(r['estimated_set_seconds'])} |"
        )
    for s in report["decoding_summary"]:
        lines.append(
            f"| **{s['backend']} {s['decoding']}: {len(s['sets_measured'])} set(s)** | | **{_num(s['items'])}** | | | | "
            f"| **{_num(s['instances_per_second'], 2)}** | | **{_num(s['estimated_seconds'])}** |"
        )
    lines.append("")
    for p in report["phases"]:
        if p["status"] != "ok" or p["note"]:
            lines.append(
                f"- phase {p['name']}: {p['status']} ({p['seconds']} s){': ' + p['note'] if p['note'] else ''}"
            )
    lines += [f"- {c}" for c in report["choices"]]
    return "\n".join(lines) + "\n"


def choices(plan: Plan, cuda: bool, tokens_per_word: float) -> list[str]:
    shape = (
        "LLaMA-7B's shape (32 layers, d 4096, 32 heads, FFN 11008, vocab 32000)"
        if plan.shape == "7b"
        else ("bench_train's tiny shape (2 layers, d 64, 4 heads, FFN 128, vocab 1024), on CPU in fp32")
    )
    out = [
        f"Random weights, nothing downloaded: {shape}, seeded initialisation (bench_train.build_model).",
        f"Training: {plan.warmup} warm-up + {plan.steps} timed optimiser steps per micro-batch on random ids, "
        f"{plan.seq_len} tokens a sequence, every position supervised, no padding; torch AdamW (fused on a GPU), "
        "SDPA attention, no gradient checkpointing (as the recipe) except full fine-tuning on a GPU under 100 GiB; "
        "MFU = model FLOPs per token (BENCHMARKS.md 'Training') x tokens/s / peak; HFU adds the checkpointing "
        "recompute.",
    ]
    if cuda:
        out += [
            "Full fine-tuning with all 32 layers is pure bf16 (weights, gradients and AdamW states, ~54 GB): the "
            "recipe's fp32 master weights, gradients and AdamW states need 16 B per parameter (~108 GB) plus "
            "activations, more than one GPU holds with room to spare (the workflow's full run uses 8 GPUs under "
            "ZeRO-3). Same matmul FLOPs; its optimiser step moves less memory than the recipe's.",
            f"Full fine-tuning in the recipe's precision (fp32 master weights, bf16 autocast) keeps the 7B width with "
            f"{plan.fp32_layers} of 32 layers so that it fits; MFU is nearly per-layer, lm_head's share is larger.",
        ]
    out += [
        "Decoding: writing_alpaca.decode.generate_hf on a model built in memory and handed over as load_lm would "
        "(bf16 on a GPU, eval, pad id), config.yaml's decodings; prompts from decode.build_prompts with each set's "
        "task prompt; a warm-up batch first (untimed).",
        f"Test-set lengths: each set's source-length profile (words at the 0, 10, ..., 100th percentiles, from "
        f"../shared/data; WNC from its 100-line sample) at {tokens_per_word} LLaMA tokens a word (an estimate); "
        f"{plan.groups} length-homogeneous batch(es) per set at the midpoint quantiles, as the workflow's "
        "length-sorted batching makes them; whole-set time = set size / instances/s.",
        "Random weights never emit EOS or '###': every record generates its whole budget min(max_new_tokens, "
        "2n+16), about twice what a trained system writes, so instances/s are a lower bound for a trained model.",
        "Tokenizer: the package's byte-level BPE (writing_alpaca.model.train_tokenizer) trained on the Alpaca "
        "template, the task prompts and coined words, padded to the model's vocabulary; each synthetic source has "
        "exactly its target token count.",
        "vLLM (if installed): generate_vllm in a child process on a size-weighted mixture of the sets, greedy, "
        "random weights through load_format='dummy'; engine start-up is reported apart from generation.",
    ]
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test: tiny model, tiny decode sets")
    parser.add_argument("--out", default="/tmp/gpu_check.json", help="JSON results (a .md table is written beside)")
    parser.add_argument("--budget", type=float, default=None, help="global deadline in seconds (GPU default 450)")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES), help="phases to run")
    parser.add_argument(
        "--phase-budget",
        action="append",
        default=[],
        metavar="PHASE=SECONDS",
        help="override one phase's time budget (repeatable)",
    )
    parser.add_argument("--config", default=str(ROOT / "config.yaml"), help="the workflow's config (test sets, ...)")
    parser.add_argument("--tokens-per-word", type=float, default=TOKENS_PER_WORD)
    parser.add_argument("--vllm-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.vllm_child:
        sys.path.insert(0, str(HERE))
        return vllm_child(args.vllm_child)

    started = time.monotonic()
    # SIGTERM (gpu_check.sh's last-resort timeout) unwinds: the JSON is saved, a vLLM child ended
    signal.signal(signal.SIGTERM, _terminate)
    try:
        import torch
    except ImportError:
        return _fail("gpu_check: error: torch is not installed in this Python (" + sys.executable + ")")
    cuda = torch.cuda.is_available() and not args.tiny
    if not args.tiny and not torch.cuda.is_available():
        return _fail(REFUSAL)
    problem = _import_project()
    if problem:
        return _fail(problem)
    import yaml

    plan = TINY_PLAN if args.tiny else GPU_PLAN
    budgets = dict(plan.phase_budgets)
    for item in args.phase_budget:
        phase, _, seconds = item.partition("=")
        if phase not in budgets or not seconds.replace(".", "", 1).isdigit():
            return _fail(
                f"gpu_check: error: --phase-budget {item!r}: expected PHASE=SECONDS, PHASE one of {', '.join(PHASES)}"
            )
        budgets[phase] = float(seconds)
    plan = replace(plan, phase_budgets=budgets)
    budget = args.budget if args.budget is not None else plan.budget
    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    if "template" not in config:
        from writing_alpaca.format import TEMPLATE

        config["template"] = dict(TEMPLATE)
    from writing_alpaca.systems import hardware_description

    report: dict[str, Any] = {
        "schema": SCHEMA,
        "mode": "tiny (CPU)" if args.tiny else "gpu",
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "budget_seconds": budget,
        "wall_seconds": 0.0,
        "hardware": hardware_description(),
        "device": "cuda" if cuda else "cpu",
        "gpu": None,
        "versions": _versions(),
        "plan": {
            "shape": plan.shape,
            "micro_batches": list(plan.micro_batches),
            "seq_len": plan.seq_len,
            "warmup": plan.warmup,
            "steps": plan.steps,
            "fp32_layers": plan.fp32_layers,
            "groups_per_set": plan.groups,
            "phase_budgets": plan.phase_budgets,
        },
        "peak_flops": None,
        "peak_source": "",
        "matmul_flops": None,
        "choices": choices(plan, cuda, args.tokens_per_word),
        "phases": [],
        "training": [],
        "decoding": [],
        "decoding_summary": [],
    }
    ctx = Context(
        args=args,
        plan=plan,
        cuda=cuda,
        device="cuda" if cuda else "cpu",
        started=started,
        deadline=started + budget,
        out=Path(args.out),
        config=config,
        report=report,
    )
    if cuda:
        from bench_train import gpu_peak

        props = torch.cuda.get_device_properties(0)
        ctx.gpu_memory_gib = props.total_memory / 2**30
        report["gpu"] = {
            "name": props.name,
            "memory_gib": round(ctx.gpu_memory_gib, 1),
            "capability": f"{props.major}.{props.minor}",
            "count": torch.cuda.device_count(),
        }
    report["matmul_flops"], matmul_source = _matmul_peak(cuda)
    if cuda:
        peak = gpu_peak(report["gpu"]["name"])
        ctx.peak_flops, ctx.peak_source = (
            (peak, f"{report['gpu']['name']} dense bf16 (datasheet)")
            if peak
            else (report["matmul_flops"], matmul_source + " (no datasheet peak known for this GPU)")
        )
    else:
        ctx.peak_flops, ctx.peak_source = report["matmul_flops"], matmul_source
    report["peak_flops"], report["peak_source"] = ctx.peak_flops, ctx.peak_source
    ctx.save()

    runners = {
        "train_lora": phase_train_lora,
        "train_full": phase_train_full,
        "train_full_fp32": phase_train_full_fp32,
        "decode_hf_beam16": phase_decode_beam16,
        "decode_hf_greedy": phase_decode_greedy,
        "decode_vllm": phase_decode_vllm,
    }
    for name in PHASES:
        run_phase(ctx, name, runners[name])
    ctx.save()
    text = markdown(report)
    Path(args.out).with_suffix(".md").write_text(text, encoding="utf-8")
    print()
    print(text, end="")
    print(f"gpu_check: wrote {args.out} and {Path(args.out).with_suffix('.md')}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
