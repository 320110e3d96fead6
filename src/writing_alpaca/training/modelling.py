"""Models: load a base causal LM + tokenizer, apply LoRA, choose precision from the hardware."""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import Any, Literal

from ..errors import WritingAlpacaError
from .config import LoraSettings

log = logging.getLogger(__name__)

Precision = Literal["bf16", "fp32"]


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def choose_precision(bf16: bool | Literal["auto"], cuda: bool | None = None) -> Precision:
    """``bf16: auto`` -> bf16 on a GPU that supports it, else fp32; ``true`` needs such a GPU.

    CPU training is always fp32 (bf16 matmuls on CPU are slow and lossy for a tiny model).
    """
    import torch

    cuda = cuda_available() if cuda is None else cuda
    supported = cuda and torch.cuda.is_bf16_supported()
    if bf16 is True and not supported:
        raise WritingAlpacaError("training.bf16 is true but no bf16-capable GPU is available (use bf16: auto)")
    return "bf16" if (bf16 is True or (bf16 == "auto" and supported)) else "fp32"


def hardware_description() -> str:
    """``"2 x NVIDIA H100 80GB HBM3"`` or the CPU model name (``/proc/cpuinfo``) and core count."""
    import os

    import torch

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return ", ".join(sorted({f"{names.count(n)} x {n}" for n in names}))
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {name} ({os.cpu_count()} cores)"


def check_model_dir(path: str | Path, what: str = "base model") -> Path:
    path = Path(path)
    if not (path / "config.json").is_file():
        raise WritingAlpacaError(f"{path}: not a Hugging Face model directory ({what}: config.json missing)")
    return path


def load_tokenizer(path: str | Path, padding_side: str = "right") -> Any:
    """Load a tokenizer; give it a pad token (``<unk>``, as alpaca-lora does for LLaMA) if it lacks one."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token_id is None:
        if tokenizer.unk_token_id is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise WritingAlpacaError(f"{path}: the tokenizer has no EOS token")
    tokenizer.padding_side = padding_side
    return tokenizer


def torch_dtype(precision: Precision) -> Any:
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float32


def load_base_model(path: str | Path, precision: Precision) -> Any:
    """Load a causal LM from a local directory (never from the hub)."""
    from transformers import AutoModelForCausalLM

    path = check_model_dir(path)
    return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype(precision), local_files_only=True)


def apply_lora(model: Any, lora: LoraSettings) -> Any:
    """Wrap ``model`` with a peft LoRA adapter (``task_type=CAUSAL_LM``); only the adapter trains."""
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in lora.target_modules if m not in names]
    if missing:
        raise WritingAlpacaError(f"training.lora.target_modules: the model has no module named {', '.join(missing)}")
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    # under ZeRO-3 the base parameters are partitioned: ds_numel is their full size
    sizes = [(getattr(p, "ds_numel", p.numel()), p.requires_grad) for p in peft_model.parameters()]
    trainable = sum(n for n, grad in sizes if grad)
    total = sum(n for n, _ in sizes) or 1
    log.info("LoRA: %d trainable of %d parameters (%.3f%%)", trainable, total, 100 * trainable / total)
    return peft_model
