"""Models: load a base causal LM + tokenizer, apply LoRA, choose precision from the hardware."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from ..errors import WritingAlpacaError
from ..systems import check_model_dir
from .config import LoraSettings

log = logging.getLogger(__name__)

Precision = Literal["bf16", "fp16", "fp32"]


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def native_bf16() -> bool:
    """The current GPU computes in bf16 natively (compute capability 8.0+: Ampere and newer).

    ``torch.cuda.is_bf16_supported()`` alone also answers True on a V100 (7.0), where bf16
    is emulated (slowly, without tensor cores): ``including_emulation=False`` asks for native.
    """
    import torch

    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def _gpu_description() -> str:
    import torch

    try:
        major, minor = torch.cuda.get_device_capability()
        return f"this GPU has compute capability {major}.{minor}"
    except Exception:  # noqa: BLE001 - only for the message
        return "this GPU lacks it"


def choose_precision(
    setting: str = "auto", cuda: bool | None = None, *, what: str = "training.precision", fp16: bool = True
) -> Precision:
    """Resolve ``precision: auto|bf16|fp16|fp32`` against the hardware.

    ``auto``: bf16 on a GPU with native bf16 (:func:`native_bf16`), else fp16 mixed precision
    (dynamic loss scaling) on an older GPU such as the paper's V100s, fp32 on CPU.  With
    ``fp16=False`` (a model that overflows in fp16, e.g. T5) ``auto`` falls back to fp32 instead.
    ``bf16`` needs native bf16; ``bf16`` and ``fp16`` need a GPU (CPU runs are fp32: bf16
    matmuls on CPU are slow and lossy for a tiny model, and fp16 autocast needs CUDA).
    """
    if setting not in ("auto", "bf16", "fp16", "fp32"):
        raise WritingAlpacaError(f"{what}: must be one of auto, bf16, fp16, fp32, got {setting!r}")
    cuda = cuda_available() if cuda is None else cuda
    if not cuda:
        if setting in ("bf16", "fp16"):
            raise WritingAlpacaError(
                f"{what} is {setting} but no GPU is available (CPU runs are fp32: use auto or fp32)"
            )
        return "fp32"
    bf16 = native_bf16()
    if setting == "bf16" and not bf16:
        raise WritingAlpacaError(
            f"{what} is bf16 but {_gpu_description()}: native bf16 needs 8.0 or newer (Ampere); "
            "use fp16 (mixed precision with loss scaling) or auto"
        )
    if setting == "auto":
        return "bf16" if bf16 else ("fp16" if fp16 else "fp32")
    return setting  # type: ignore[return-value]


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

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def load_base_model(path: str | Path, precision: Precision) -> Any:
    """Load a causal LM from a local directory (never from the hub)."""
    from transformers import AutoModelForCausalLM

    path = check_model_dir(path)
    return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype(precision), local_files_only=True)


def apply_lora(model: Any, lora: LoraSettings) -> Any:
    """Wrap ``model`` with a peft LoRA adapter (``task_type=CAUSAL_LM``); only the adapter trains.

    The adapter weights are fp32 even on a base loaded in fp16/bf16 (peft's
    ``autocast_adapter_dtype``): fp16 mixed precision's GradScaler cannot unscale fp16 gradients.
    """
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
    peft_model = get_peft_model(model, config, autocast_adapter_dtype=True)
    # under ZeRO-3 the base parameters are partitioned: ds_numel is their full size
    sizes = [(getattr(p, "ds_numel", p.numel()), p.requires_grad) for p in peft_model.parameters()]
    trainable = sum(n for n, grad in sizes if grad)
    total = sum(n for n, _ in sizes) or 1
    log.info("LoRA: %d trainable of %d parameters (%.3f%%)", trainable, total, 100 * trainable / total)
    return peft_model
