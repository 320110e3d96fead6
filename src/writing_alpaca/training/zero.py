"""DeepSpeed ZeRO: the generated config, its validation, and the distributed set-up.

``training.deepspeed: {stage: 0|1|2|3, offload: bool}`` becomes a DeepSpeed config
(:func:`deepspeed_config`), checked with DeepSpeed's own parser before anything is launched
(:func:`validate_deepspeed_config`).  Batch sizes and clipping are ``"auto"``: the Hugging
Face integration fills them from ``TrainingArguments`` so the two cannot disagree.  The
precision blocks are written out for the run's resolved precision (``bf16``/``fp16``
enabled or not; fp16 with dynamic loss scaling, ``loss_scale: 0``), and the integration
checks them against the ``TrainingArguments`` built from the same precision.

Optimizer: torch AdamW (the Trainer's) unless offloading on a GPU, where DeepSpeed's
``DeepSpeedCPUAdam`` (JIT-built ``cpu_adam`` op) runs the offloaded step several times faster.
On a CPU-only machine offload keeps torch AdamW (``zero_force_ds_cpu_optimizer: false``),
so tests exercise the offload code path without building that op.

Under ZeRO-3 the model is created partitioned (``deepspeed.zero.Init``, triggered by
``from_pretrained`` once ``TrainingArguments`` with a stage-3 config exist), which needs the
process group first: :func:`init_distributed`.  Saved weights are gathered into one full
state dict on save (``stage3_gather_16bit_weights_on_model_save``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ..errors import WritingAlpacaError
from .config import DeepSpeedSettings

#: The variables torch.distributed's ``env://`` rendezvous reads; torchrun sets them all.
_DIST_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: Seconds a collective (a barrier included) may wait: the Trainer's default ``ddp_timeout``.
DDP_TIMEOUT_S = 1800


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_process_group_env() -> None:
    """Give a process not started by torchrun the environment of a one-process group.

    DeepSpeed always runs inside a process group; ``writing-alpaca train`` on one GPU (or CPU)
    is launched without torchrun, so it gets ``RANK=0 WORLD_SIZE=1 LOCAL_RANK=0`` and a free
    local port.  Variables already set (by torchrun or the user) are kept.
    """
    if "WORLD_SIZE" in os.environ:
        missing = [key for key in _DIST_ENV if key not in os.environ]
        if missing:
            raise WritingAlpacaError(f"WORLD_SIZE is set but {', '.join(missing)} is not: launch with torchrun")
        return
    os.environ.update(
        {
            "RANK": "0",
            "WORLD_SIZE": "1",
            "LOCAL_RANK": "0",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(_free_port()),
        }
    )


def init_process_group(cuda: bool) -> None:
    """Join torchrun's process group now (NCCL on GPUs, gloo on CPU) if not done yet.

    The Trainer (accelerate) and DeepSpeed adopt a group that is already initialised; it is
    needed early so that the ranks can wait for rank 0's tokenisation (:func:`barrier`).
    """
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=timedelta(seconds=DDP_TIMEOUT_S))


def barrier(cuda: bool) -> None:
    """Wait until every rank of the process group gets here (:func:`init_process_group` first)."""
    import torch.distributed as dist

    if cuda:
        dist.barrier(device_ids=[int(os.environ.get("LOCAL_RANK", "0"))])
    else:
        dist.barrier()


def init_distributed(cuda: bool) -> None:
    """Initialise DeepSpeed's process group (NCCL on GPUs, gloo on CPU) if not done yet.

    On GPUs each rank first selects its own device (``LOCAL_RANK``): ``zero.Init`` allocates
    the partitions on the current device, before the Trainer would select it.
    """
    import deepspeed
    import torch
    from deepspeed import comm

    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not comm.is_initialized():  # DeepSpeed adopts a torch.distributed group already joined
        deepspeed.init_distributed(dist_backend="nccl" if cuda else "gloo")


#: DeepSpeed's fp16 block: dynamic loss scaling (``loss_scale: 0``) from 2^16, halved on
#: overflow after ``hysteresis`` overflows, doubled after ``loss_scale_window`` clean steps.
FP16_LOSS_SCALING = {
    "loss_scale": 0,
    "initial_scale_power": 16,
    "loss_scale_window": 1000,
    "hysteresis": 2,
    "min_loss_scale": 1,
}


def deepspeed_config(settings: DeepSpeedSettings, cuda: bool = True, *, precision: str) -> dict[str, Any]:
    """The DeepSpeed config for ``training.deepspeed`` (stage > 0); ``cuda``: the run has GPUs.

    ``precision`` is the run's resolved precision (bf16, fp16 or fp32).
    """
    if precision not in ("bf16", "fp16", "fp32"):
        raise ValueError(f"deepspeed_config(): precision must be bf16, fp16 or fp32, got {precision!r}")
    if not settings.enabled:
        raise ValueError("deepspeed_config() called with stage 0")
    zero: dict[str, Any] = {
        "stage": settings.stage,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    if settings.stage == 3:
        zero.update(
            {
                "stage3_gather_16bit_weights_on_model_save": True,
                "stage3_prefetch_bucket_size": "auto",
                "stage3_param_persistence_threshold": "auto",
            }
        )
    config: dict[str, Any] = {
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": precision == "fp16", **FP16_LOSS_SCALING},
        "zero_optimization": zero,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if settings.offload:
        target = {"device": "cpu", "pin_memory": cuda}
        zero["offload_optimizer"] = dict(target)
        if settings.stage == 3:
            zero["offload_param"] = dict(target)
        if cuda:
            config["optimizer"] = {
                "type": "AdamW",
                "params": {"lr": "auto", "betas": "auto", "eps": "auto", "weight_decay": "auto"},
            }
        else:
            config["zero_force_ds_cpu_optimizer"] = False
    return config


def _resolve_auto(value: Any, concrete: Mapping[str, Any], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _resolve_auto(v, concrete, k) for k, v in value.items()}
    if value == "auto":
        return concrete.get(key, None)
    return value


def validate_deepspeed_config(ds_config: Mapping[str, Any], micro_batch: int, grad_accum: int, precision: str) -> None:
    """Check ``ds_config`` with DeepSpeed's own parser (``"auto"`` replaced by this run's values),
    and that its precision blocks are the run's ``precision``."""
    from deepspeed.runtime.config import DeepSpeedConfig

    for block in ("bf16", "fp16"):
        enabled = (ds_config.get(block) or {}).get("enabled", False)
        if enabled is not (precision == block):
            raise WritingAlpacaError(
                f"training.deepspeed: the DeepSpeed config has {block}.enabled={enabled} but the run's precision is {precision}"
            )

    concrete = {
        # DeepSpeedConfig takes the world size from torch.distributed, 1 before initialisation
        "train_batch_size": micro_batch * grad_accum,
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": grad_accum,
        "gradient_clipping": 1.0,
        "reduce_bucket_size": 5e8,
        "stage3_prefetch_bucket_size": 5e7,
        "stage3_param_persistence_threshold": 1e5,
        "lr": 1e-4,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    try:
        DeepSpeedConfig(_resolve_auto(dict(ds_config), concrete))
    except Exception as exc:  # DeepSpeed raises assorted types (AssertionError, ValidationError, ...)
        raise WritingAlpacaError(f"training.deepspeed: DeepSpeed rejects the generated config: {exc}") from exc
