"""Benchmark training throughput (tokens/s) and model FLOPs utilisation (MFU).

A randomly initialised LLaMA of a given shape trains on random token ids (every position
supervised, no padding) with the recipe's settings: LoRA through
:func:`writing_alpaca.training.modelling.apply_lora` (frozen base in bf16 on a GPU) or full
fine-tuning, bf16 autocast on a GPU (fp32 on CPU), torch AdamW, SDPA or FlashAttention-2
attention, optional gradient checkpointing.  Nothing is downloaded.

    # CPU, the demo's tiny model (what BENCHMARKS.md reports for this machine)
    .venv/bin/python benchmarks/bench_train.py --shape tiny --device cpu
    # one H100, LLaMA-7B shape (target: MFU >= 40 %)
    python benchmarks/bench_train.py --shape 7b --device cuda --method lora --micro-batch 16 --seq-len 256
    python benchmarks/bench_train.py --shape 7b --device cuda --method full --micro-batch 16 --seq-len 256 \
        --gradient-checkpointing

FLOPs per trained token (T = sequence length, L layers, d hidden size, N = parameters of the
model's matrix multiplications, i.e. all linear layers including ``lm_head``, excluding the
embedding lookup; N_lora = the LoRA matrices):

- attention (no weights): forward ``4 L T d`` (QK^T and AV), backward twice that -> ``12 L T d``;
  counted over the full T x T square as in PaLM (Chowdhery et al. 2022, app. B), although a causal
  kernel skips half of it;
- full fine-tuning: forward ``2N``, backward ``4N`` (gradients w.r.t. inputs and weights)
  -> ``6N + 12 L T d``;
- LoRA: the frozen weights need the forward ``2N`` and the input-gradient ``2N`` but no
  weight-gradient; the adapters cost ``6 N_lora`` -> ``4N + 6 N_lora + 12 L T d``.

MFU = FLOPs per token x tokens/s / peak FLOP/s of the device.  Gradient-checkpointing's
recomputed forward (``2N + 4 L T d`` per token) is not model work: it is excluded from MFU
and included in HFU (hardware FLOPs utilisation), reported alongside.  Peak: the dense bf16
tensor-core figure of the GPU (H100 SXM 989 TFLOP/s, H100 PCIe 756, H200 989, A100 312;
``--peak-tflops`` for others); on CPU the fp32 matmul throughput measured on the spot
(2048 x 2048 ``torch.mm``), so CPU "MFU" is relative to what this CPU reaches on one matmul.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from writing_alpaca.systems import hardware_description
from writing_alpaca.training.config import LoraSettings
from writing_alpaca.training.modelling import apply_lora

#: LLaMA shapes: (layers, hidden, heads, intermediate, vocab). "tiny" is the demo's base model.
SHAPES = {
    "tiny": (2, 64, 4, 128, 1024),
    "7b": (32, 4096, 32, 11008, 32000),
    "13b": (40, 5120, 40, 13824, 32000),
}

#: Dense bf16 tensor-core peak (FLOP/s) by device-name fragment, most specific first.
GPU_PEAKS = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("A10G", 70e12),
)


@dataclass
class Result:
    shape: str
    layers: int
    method: str
    device: str
    hardware: str
    micro_batch: int
    seq_len: int
    gradient_checkpointing: bool
    attention: str
    parameters: int
    matmul_parameters: int
    trainable_parameters: int
    steps: int
    seconds: float
    tokens_per_second: float
    flops_per_token: float
    peak_flops: float
    peak_source: str
    mfu: float
    hfu: float
    peak_memory_gib: float | None


def flops_per_token(method: str, n_matmul: int, n_lora: int, layers: int, hidden: int, seq_len: int) -> float:
    """Model FLOPs per trained token (module docstring)."""
    attention = 12 * layers * seq_len * hidden
    if method == "full":
        return 6 * n_matmul + attention
    return 4 * n_matmul + 6 * n_lora + attention


def recompute_flops_per_token(n_matmul: int, layers: int, hidden: int, seq_len: int) -> float:
    """The forward pass gradient checkpointing runs a second time."""
    return 2 * n_matmul + 4 * layers * seq_len * hidden


def measured_cpu_peak(size: int = 2048, repeats: int = 5) -> float:
    """fp32 ``torch.mm`` FLOP/s of this CPU (best of ``repeats``)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def gpu_peak(name: str) -> float | None:
    for fragment, peak in GPU_PEAKS:
        if fragment in name:
            return peak
    return None


def shape_of(args: argparse.Namespace) -> tuple[int, int, int, int, int]:
    layers, hidden, heads, intermediate, vocab = SHAPES[args.shape]
    return (args.layers or layers), hidden, heads, intermediate, vocab


def build_model(shape: tuple[int, int, int, int, int], device: str, attention: str) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    layers, hidden, heads, intermediate, vocab = shape
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        use_cache=False,
    )
    # GPU: bf16 weights (a frozen LoRA base as in the recipe; full fine-tuning of 7B on one
    # 80 GB GPU also needs bf16 weights and optimizer states to fit).  CPU: fp32, as the recipe.
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        return LlamaForCausalLM._from_config(config, attn_implementation=attention, dtype=dtype)


def run(args: argparse.Namespace, method: str) -> Result:
    import torch

    cuda = args.device == "cuda"
    model = build_model(shape_of(args), args.device, args.attention)
    layers, hidden, _, _, vocab = shape_of(args)
    n_matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if method == "lora":
        lora = LoraSettings(r=args.lora_r, alpha=2 * args.lora_r, dropout=0.05, target_modules=tuple(args.lora_targets))
        model = apply_lora(model, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    n_lora = n_trainable if method == "lora" else 0
    optimizer = torch.optim.AdamW(trainable, lr=1e-5, fused=cuda)

    generator = torch.Generator(device="cpu").manual_seed(0)
    batches = [
        torch.randint(3, vocab, (args.micro_batch, args.seq_len), generator=generator).to(args.device) for _ in range(4)
    ]

    def step(i: int) -> None:
        ids = batches[i % len(batches)]
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=cuda):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for i in range(args.warmup):
        step(i)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for i in range(args.steps):
        step(i)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start

    tokens_per_second = args.steps * args.micro_batch * args.seq_len / seconds
    per_token = flops_per_token(method, n_matmul, n_lora, layers, hidden, args.seq_len)
    recompute = (
        recompute_flops_per_token(n_matmul, layers, hidden, args.seq_len) if args.gradient_checkpointing else 0.0
    )
    if args.peak_tflops:
        peak, source = args.peak_tflops * 1e12, "--peak-tflops"
    elif cuda:
        name = torch.cuda.get_device_name()
        peak = gpu_peak(name)
        if peak is None:
            raise SystemExit(f"unknown peak FLOP/s for {name}: pass --peak-tflops")
        source = f"{name} dense bf16"
    else:
        peak, source = measured_cpu_peak(), "measured fp32 torch.mm 2048x2048"
    result = Result(
        shape=args.shape,
        layers=layers,
        method=method,
        device=args.device,
        hardware=hardware_description(),
        micro_batch=args.micro_batch,
        seq_len=args.seq_len,
        gradient_checkpointing=args.gradient_checkpointing,
        attention=args.attention,
        parameters=sum(p.numel() for p in model.parameters()),
        matmul_parameters=n_matmul,
        trainable_parameters=n_trainable,
        steps=args.steps,
        seconds=round(seconds, 3),
        tokens_per_second=round(tokens_per_second, 1),
        flops_per_token=per_token,
        peak_flops=peak,
        peak_source=source,
        mfu=round(per_token * tokens_per_second / peak, 4),
        hfu=round((per_token + recompute) * tokens_per_second / peak, 4),
        peak_memory_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    )
    return result


def run_and_release(args: argparse.Namespace, method: str) -> Result:
    """:func:`run`, then give its memory back (the next method's model needs it)."""
    import gc

    import torch

    result = run(args, method)
    gc.collect()
    if args.device == "cuda":
        torch.cuda.empty_cache()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument(
        "--layers", type=int, default=None, help="override the shape's layer count (e.g. to fit memory)"
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--method", choices=["lora", "full", "both"], default="both")
    parser.add_argument("--micro-batch", type=int, default=4, help="sequences per step (default 4, the paper's)")
    parser.add_argument("--seq-len", type=int, default=256, help="tokens per sequence (default 256 = cutoff_len)")
    parser.add_argument("--steps", type=int, default=20, help="timed optimiser steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "flash_attention_2", "eager"])
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--lora-targets", nargs="+", default=["q_proj", "v_proj"])
    parser.add_argument("--peak-tflops", type=float, default=None, help="peak FLOP/s of the device, in TFLOP/s")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    results = [run_and_release(args, m) for m in (["lora", "full"] if args.method == "both" else [args.method])]
    for r in results:
        print(
            f"{r.shape} ({r.layers} layers) {r.method} {r.device}: {r.tokens_per_second:,.0f} tokens/s, "
            f"MFU {100 * r.mfu:.1f} % (HFU {100 * r.hfu:.1f} %), {r.flops_per_token / 1e6:,.2f} MFLOP/token, "
            f"{r.parameters / 1e6:,.2f} M parameters ({r.trainable_parameters / 1e6:,.3f} M trained), "
            f"peak {r.peak_flops / 1e12:.3f} "
            f"TFLOP/s ({r.peak_source}); micro-batch {r.micro_batch} x {r.seq_len}, {r.steps} steps in {r.seconds} s"
            + (f", peak memory {r.peak_memory_gib} GiB" if r.peak_memory_gib is not None else "")
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump([asdict(r) for r in results], fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
