"""Cluster-scale training, on CPU: real runs killed and resumed, two processes under torchrun,
DeepSpeed ZeRO-2/3 (with and without offload).

Every run here is the real ``writing-alpaca train`` command in a subprocess, as a Snakemake
rule starts it.  DeepSpeed on CPU uses the gloo backend; its first use on a machine JIT-builds
the shared-memory comm op once (~1.5 min, cached in ~/.cache/torch_extensions).  No run needs
DeepSpeed's cpu_adam op: on a CPU-only machine offload keeps torch AdamW.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from _causal_lm_fixtures import TEMPLATE, TRAINING, instruction_file, tiny_base, train_command, trained_system
from conftest import REPO, tool_env
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.training.config import TrainConfig
from writing_alpaca.training.recipe import train

BIN = Path(sys.executable).parent
# the torchrun options of the workflow's launcher (workflow/rules/common.smk): signals forwarded to workers
TORCHRUN_SIGNALS = re.search(r'TORCHRUN_SIGNALS = "([^"]+)"', (REPO / "workflow" / "rules" / "common.smk").read_text())
TORCHRUN = (str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", *TORCHRUN_SIGNALS.group(1).split(), "-m", "writing_alpaca")
LORA_LAYERS = {"q_proj": (64, 64), "v_proj": (64, 64)}  # (in, out) of the tiny LLaMA's projections


def _env() -> dict[str, str]:
    env = tool_env()
    env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _start(command: list[str], log: Path) -> subprocess.Popen:
    handle = open(log, "ab")
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=_env())


def _run(command: list[str], log: Path, timeout: float = 400) -> int:
    proc = _start(command, log)
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen, log: Path, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (status {proc.returncode}) before {what}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _attempts(checkpoint_dir: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((checkpoint_dir / "accounting.json").read_text())["attempts"]
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def _tensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _metrics(out: Path) -> dict[str, Any]:
    return json.loads((out / "train_metrics.json").read_text())


def _assert_close_tensors(a: dict[str, Any], b: dict[str, Any], atol: float) -> None:
    import torch

    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=atol, rtol=1e-4, msg=lambda m, key=key: f"{key}: {m}")


# ------------------------------------------------------------------------------- resume


@pytest.mark.slow
def test_killed_and_signalled_run_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    """SIGKILL after the first checkpoint, a changed config refused, SIGTERM mid-run, then completion:
    the adapter is bit-for-bit the one of an uninterrupted run (dropout > 0: RNG state restored)."""
    training = {**TRAINING, "max_steps": 8, "save_steps": 2, "lora": {**TRAINING["lora"], "dropout": 0.1}}
    log = tmp_path / "train.log"
    reference = tmp_path / "reference"
    assert _run(train_command(reference, tmp_path / "reference.ckpt", training), log) == 0, log.read_text()[-4000:]

    out, checkpoints = tmp_path / "models" / "toy-lora", tmp_path / "checkpoints" / "toy-lora"
    command = train_command(out, checkpoints, training)

    # 1. SIGKILL (no chance to clean up) as soon as the first checkpoint is complete
    proc = _start(command, log)
    _wait_for(lambda: (checkpoints / "checkpoint-2" / "COMPLETE").is_file(), proc, log, "checkpoint-2")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (out / "system.json").exists()

    # 2. the same checkpoints with other settings: refused, nothing touched
    changed = {**training, "lora": {**training["lora"], "target_modules": ["q_proj", "v_proj"]}}
    config = TrainConfig.from_fragments("toy-lora", {"method": "lora"}, changed, TEMPLATE, seed=1)
    with pytest.raises(WritingAlpacaError, match=r"refusing to resume.*training\.lora\.target_modules"):
        train(config, tiny_base(), instruction_file(), out, checkpoint_dir=checkpoints)

    # 3. re-run; SIGTERM (SLURM's time-limit warning) once its training loop runs:
    #    checkpoint at the current step, exit status 2, a message saying how to resume
    proc = _start(command, log)
    _wait_for(lambda: len(_attempts(checkpoints)) == 2, proc, log, "the second attempt to start")
    resumed_at = _attempts(checkpoints)[1]["start_step"]
    assert resumed_at >= 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 2
    stopped = re.search(r"stopped by SIGTERM at step (\d+) of 8; checkpoint saved in (\S+): run the same command", log.read_text())
    assert stopped, log.read_text()[-4000:]
    step = int(stopped.group(1))
    assert resumed_at < step < 8
    assert (checkpoints / f"checkpoint-{step}" / "COMPLETE").is_file()

    # 4. the same command once more: finishes from checkpoint-<step>
    assert _run(command, log) == 0, log.read_text()[-4000:]
    assert not checkpoints.exists()  # removed after success
    weights, expected = _tensors(out / "adapter" / "adapter_model.safetensors"), _tensors(
        reference / "adapter" / "adapter_model.safetensors"
    )
    assert set(weights) == set(expected)
    assert all(weights[k].equal(expected[k]) for k in weights), "resumed weights differ from the uninterrupted run"

    metrics, ref_metrics = _metrics(out), _metrics(reference)
    assert metrics["loss_history"] == ref_metrics["loss_history"]
    assert metrics["steps"] == 8 and metrics["tokens_seen"] == ref_metrics["tokens_seen"]
    assert metrics["resumed_from"].endswith(f"checkpoint-{step}")
    attempts = metrics["attempts"]
    assert [a["outcome"] for a in attempts] == ["killed", "interrupted", "finished"]
    assert [(a["start_step"], a["end_step"]) for a in attempts][1:] == [(resumed_at, step), (step, 8)]
    assert metrics["wall_seconds"] == pytest.approx(sum(a["wall_seconds"] for a in attempts), abs=0.01)
    assert metrics["tokens_processed"] == sum(a["tokens_processed"] for a in attempts) >= metrics["tokens_seen"]
    assert metrics["gpu_hours"] == 0 and metrics["gpus"] == 0


# ------------------------------------------------------------------------------- torchrun


@pytest.mark.slow
@pytest.mark.parametrize("method, stage", [("lora", 0), ("full", 2)], ids=["lora-ddp", "full-zero2"])
def test_two_processes_under_torchrun(tmp_path, method, stage):
    """``torchrun --nproc_per_node 2 -m writing_alpaca train`` (gloo on CPU): SIGUSR1 to torchrun
    reaches both ranks, which checkpoint at the same step and exit; the re-run resumes.  The batch
    is split over the ranks (accumulation halves), rank 0 alone writes, and the result is the
    one-process run's."""
    training = {**TRAINING, "max_steps": 6, "save_steps": 3, "deepspeed": {"stage": stage, "offload": False}}
    out, checkpoints, log = tmp_path / "models" / "sys", tmp_path / "checkpoints" / "sys", tmp_path / "train.log"
    command = train_command(out, checkpoints, training, method, launcher=TORCHRUN)

    proc = _start(command, log)
    _wait_for(lambda: len(_attempts(checkpoints)) == 1, proc, log, "training to start")
    proc.send_signal(signal.SIGUSR1)  # as `sbatch --signal=USR1@120` does before the time limit
    assert proc.wait(timeout=300) != 0
    stops = re.findall(r"stopped by SIGUSR1 at step (\d+) of 6", log.read_text())
    assert len(stops) == 2 and stops[0] == stops[1], log.read_text()[-6000:]  # both ranks, same step
    assert (checkpoints / f"checkpoint-{stops[0]}" / "COMPLETE").is_file()
    assert not (out / "system.json").exists()

    assert _run(command, log) == 0, log.read_text()[-6000:]
    metrics = _metrics(out)
    # batch 8 = micro-batch 4 x 1 accumulation step x 2 processes
    assert (metrics["world_size"], metrics["gradient_accumulation"], metrics["effective_batch_size"]) == (2, 1, 8)
    assert metrics["gpus"] == 0 and metrics["deepspeed_stage"] == stage and metrics["steps"] == 6
    assert [(a["world_size"], a["outcome"]) for a in metrics["attempts"]] == [(2, "interrupted"), (2, "finished")]
    assert metrics["resumed_from"].endswith(f"checkpoint-{stops[0]}")

    weights = "adapter" if method == "lora" else "model"
    expected_files = {weights, "system.json", "train_metrics.json"} | ({"deepspeed.json"} if stage else set())
    assert {p.name for p in out.iterdir()} == expected_files
    assert [p.name for p in out.parent.iterdir()] == ["sys"]  # no staging directory of another rank
    assert not checkpoints.exists()

    # the same optimisation as one process accumulating two micro-batches
    single = trained_system(method, max_steps=6, save_steps=3)
    reference = _metrics(single)
    assert metrics["tokens_seen"] == reference["tokens_seen"]
    assert metrics["loss_history"] == pytest.approx(reference["loss_history"], rel=1e-4)
    name = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    _assert_close_tensors(_tensors(out / weights / name), _tensors(single / weights / name), atol=1e-5)


# ------------------------------------------------------------------------------- ZeRO-3


@pytest.mark.slow
def test_zero3_lora_adapter_is_complete_and_mergeable(tmp_path):
    """ZeRO-3 partitions every parameter; the saved adapter must still hold the full LoRA matrices
    (trained: B starts at zero), change the model's outputs, and merge into a standalone model."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from writing_alpaca.training.merge import merge_adapter

    training = {**TRAINING, "max_steps": 4, "save_steps": 2, "deepspeed": {"stage": 3, "offload": False}}
    out, log = tmp_path / "models" / "z3", tmp_path / "train.log"
    assert _run(train_command(out, tmp_path / "ckpt", training), log) == 0, log.read_text()[-6000:]
    assert json.loads((out / "deepspeed.json").read_text())["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]

    adapter = _tensors(out / "adapter" / "adapter_model.safetensors")
    vocab = AutoModelForCausalLM.from_pretrained(str(tiny_base())).config.vocab_size
    r = TRAINING["lora"]["r"]
    shapes = {f"layers.{layer}.self_attn.{proj}": dims for layer in range(2) for proj, dims in LORA_LAYERS.items()}
    shapes["lm_head"] = (64, vocab)
    for module, (n_in, n_out) in shapes.items():
        [a_key] = [k for k in adapter if k.endswith(f"{module}.lora_A.weight")]
        [b_key] = [k for k in adapter if k.endswith(f"{module}.lora_B.weight")]
        assert tuple(adapter[a_key].shape) == (r, n_in), a_key
        assert tuple(adapter[b_key].shape) == (n_out, r), b_key
        assert adapter[b_key].abs().max() > 0, f"{b_key} is still zero: the adapter was saved empty"

    # ZeRO-3 on one process is numerically the plain run.  (The plain adapter also carries the
    # frozen lm_head itself, peft's `save_embedding_layers`; ZeRO-3 saves trainable tensors only.)
    single = trained_system("lora", max_steps=4, save_steps=2)
    expected = {k: v for k, v in _tensors(single / "adapter" / "adapter_model.safetensors").items() if ".lora_" in k}
    _assert_close_tensors({k: v for k, v in adapter.items() if ".lora_" in k}, expected, atol=1e-5)

    ids = torch.tensor([[1, 40, 50, 60, 70]])
    base = AutoModelForCausalLM.from_pretrained(str(tiny_base()))
    with torch.no_grad():
        before = base(ids).logits
        tuned = PeftModel.from_pretrained(base, str(out / "adapter")).eval()(ids).logits
        merged = AutoModelForCausalLM.from_pretrained(str(merge_adapter(out, tmp_path / "merged"))).eval()(ids).logits
    assert not torch.allclose(before, tuned, atol=1e-3)
    torch.testing.assert_close(merged, tuned, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_zero3_offload_full_fine_tuning_saves_complete_weights(tmp_path):
    """Full fine-tuning under ZeRO-3 with parameter and optimizer offload: the saved model has every
    tensor at its full shape (gathered on save) and equals the plain run's."""
    training = {**TRAINING, "max_steps": 4, "save_steps": 2, "deepspeed": {"stage": 3, "offload": True}}
    out, log = tmp_path / "models" / "z3full", tmp_path / "train.log"
    assert _run(train_command(out, tmp_path / "ckpt", training, "full"), log) == 0, log.read_text()[-6000:]

    saved, base = _tensors(out / "model" / "model.safetensors"), _tensors(tiny_base() / "model.safetensors")
    assert {k: tuple(v.shape) for k, v in saved.items()} == {k: tuple(v.shape) for k, v in base.items()}
    assert any(not saved[k].equal(base[k]) for k in base)
    single = trained_system("full", max_steps=4, save_steps=2)
    _assert_close_tensors(saved, _tensors(single / "model" / "model.safetensors"), atol=1e-5)
    metrics = _metrics(out)
    assert metrics["deepspeed_stage"] == 3 and metrics["steps"] == 4 and metrics["parameters"] == sum(
        v.numel() for v in base.values()
    )
