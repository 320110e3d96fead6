"""Cluster-scale training, on CPU: real runs killed and resumed, two processes under torchrun,
DeepSpeed ZeRO-2/3 (with and without offload), the Table-7 baselines (GECToR, T5) on two
processes and resumed, and how the SLURM profile launches every trainer.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from _baselines_fixtures import agreement_records, baseline_command, baseline_training, tiny_baseline_base
from _baselines_fixtures import write_jsonl as write_records
from _causal_lm_fixtures import SYSTEM, TEMPLATE, TRAINING, instruction_file, tiny_base, train_command, trained_system
from _causal_lm_fixtures import baseline_weights as _baseline_weights
from _causal_lm_fixtures import stop_after as _stop_after
from _causal_lm_fixtures import tensors as _tensors
from conftest import REPO, snakemake, tool_env
from writing_alpaca.baselines import gector as gector_trainer
from writing_alpaca.baselines import seq2seq as seq2seq_trainer
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.training.checkpoints import TrainingInterrupted
from writing_alpaca.training.config import TrainConfig
from writing_alpaca.training.recipe import train

BIN = Path(sys.executable).parent
# the torchrun options of the workflow's launcher (workflow/rules/common.smk): signals forwarded to workers
TORCHRUN_SIGNALS = re.search(r'TORCHRUN_SIGNALS = "([^"]+)"', (REPO / "workflow" / "rules" / "common.smk").read_text())
TORCHRUN = (
    str(BIN / "torchrun"),
    "--standalone",
    "--nproc_per_node",
    "2",
    *TORCHRUN_SIGNALS.group(1).split(),
    "-m",
    "writing_alpaca",
)
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


def _wait_for(
    condition: Callable[[], bool], proc: subprocess.Popen, log: Path, what: str, timeout: float = 300
) -> None:
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
    config = TrainConfig.from_fragments("toy-lora", {**SYSTEM, "method": "lora"}, changed, TEMPLATE, seed=1)
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
    stopped = re.search(
        r"stopped by SIGTERM at step (\d+) of 8; checkpoint saved in (\S+): run the same command", log.read_text()
    )
    assert stopped, log.read_text()[-4000:]
    step = int(stopped.group(1))
    assert resumed_at < step < 8
    assert (checkpoints / f"checkpoint-{step}" / "COMPLETE").is_file()

    # 4. the same command once more: finishes from checkpoint-<step>
    assert _run(command, log) == 0, log.read_text()[-4000:]
    assert not checkpoints.exists()  # removed after success
    weights, expected = (
        _tensors(out / "adapter" / "adapter_model.safetensors"),
        _tensors(reference / "adapter" / "adapter_model.safetensors"),
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
    expected_files = {weights, "system.json", "train_metrics.json", "README.md", "card.json"} | (
        {"deepspeed.json"} if stage else set()
    )
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
    assert json.loads((out / "deepspeed.json").read_text())["zero_optimization"][
        "stage3_gather_16bit_weights_on_model_save"
    ]

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
    assert (
        metrics["deepspeed_stage"] == 3
        and metrics["steps"] == 4
        and metrics["parameters"] == sum(v.numel() for v in base.values())
    )


# ------------------------------------------------------------------------------- ZeRO-2/3 on two processes


@pytest.mark.slow
@pytest.mark.parametrize("method, stage", [("lora", 2), ("full", 3)], ids=["lora-zero2", "full-zero3"])
def test_two_processes_under_zero_give_the_one_process_model(tmp_path, method, stage):
    """LoRA under ZeRO-2 and full fine-tuning under ZeRO-3 (parameters partitioned over the two
    ranks, gathered on save), ``torchrun --nproc_per_node 2`` on gloo: the model of one plain
    process accumulating the same global batch (tolerances: as test_two_processes_under_torchrun)."""
    training = {**TRAINING, "max_steps": 6, "save_steps": 3, "deepspeed": {"stage": stage, "offload": False}}
    out, checkpoints, log = tmp_path / "models" / "sys", tmp_path / "checkpoints" / "sys", tmp_path / "train.log"
    assert _run(train_command(out, checkpoints, training, method, launcher=TORCHRUN), log) == 0, log.read_text()[-6000:]
    metrics = _metrics(out)
    assert (metrics["world_size"], metrics["gradient_accumulation"], metrics["effective_batch_size"]) == (2, 1, 8)
    assert metrics["deepspeed_stage"] == stage and metrics["steps"] == 6
    assert [p.name for p in out.parent.iterdir()] == ["sys"] and not checkpoints.exists()

    single = trained_system(method, max_steps=6, save_steps=3)
    reference = _metrics(single)
    assert metrics["tokens_seen"] == reference["tokens_seen"]
    assert metrics["loss_history"] == pytest.approx(reference["loss_history"], rel=1e-4)
    weights = "adapter" if method == "lora" else "model"
    name = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    _assert_close_tensors(_tensors(out / weights / name), _tensors(single / weights / name), atol=1e-5)


# ------------------------------------------------------------------------------- the Table-7 baselines

BASELINE_TRAINERS = {"gector": gector_trainer, "seq2seq": seq2seq_trainer}


@pytest.fixture(scope="module")
def toy_mixture(tmp_path_factory) -> Path:
    return write_records(tmp_path_factory.mktemp("baselines") / "mixture.jsonl", agreement_records(40))


def _train_baseline(
    kind: str, base: Path, data: Path, out: Path, training: dict, checkpoints: Path | None = None
) -> dict:
    """One process, in this process (the reference runs), on one thread as the subprocesses
    (OMP_NUM_THREADS=1): the same summation order in every kernel."""
    import torch

    spec = {"kind": kind, "method": "full", "base": "tiny", "mixture": "toy"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return BASELINE_TRAINERS[kind].train(
            system=f"toy-{kind}",
            spec=spec,
            training=training,
            base=base,
            data=data,
            out=out,
            checkpoint_dir=checkpoints or out.with_name(out.name + ".ckpt"),
        )
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gector", "seq2seq"])
def test_baseline_interrupted_and_resumed_ends_with_the_weights_of_an_uninterrupted_run(
    tmp_path, toy_mixture, monkeypatch, kind
):
    """Stopped after k steps (the signal path of the trainer: checkpoint, TrainingInterrupted), a
    changed setting refused, a checkpoint without its COMPLETE marker dropped, then resumed: the
    weights are bit-for-bit those of an uninterrupted run.  GECToR runs with dropout (encoder 0.1,
    tag head 0.1), so its RNG state must be restored too."""
    base = tiny_baseline_base(kind, toy_mixture.parent, toy_mixture, dropout=True)
    if kind == "gector":
        training, stop, total, kept = baseline_training(kind, max_steps=12, save_steps=4, dropout=0.1), 6, 12, [4, 6]
    else:
        training, stop, total, kept = baseline_training(kind), 5, 8, [3, 5]
    reference = tmp_path / "reference"
    _train_baseline(kind, base, toy_mixture, reference, training)

    out, checkpoints = tmp_path / "models" / "sys", tmp_path / "checkpoints" / "sys"
    _stop_after(monkeypatch, stop)
    with pytest.raises(
        TrainingInterrupted, match=rf"stopped by SIGUSR1 at step {stop} of {total}; checkpoint saved in {checkpoints}"
    ):
        _train_baseline(kind, base, toy_mixture, out, training, checkpoints)
    monkeypatch.undo()
    assert [p.name for p in sorted(checkpoints.glob("checkpoint-*"))] == [f"checkpoint-{k}" for k in kept]
    assert all((checkpoints / f"checkpoint-{k}" / "COMPLETE").is_file() for k in kept)
    assert not (out / "system.json").exists()

    changed = json.loads(json.dumps(training))
    changed["baselines"][kind]["learning_rate"] *= 2
    with pytest.raises(WritingAlpacaError, match=r"refusing to resume.*hyperparameters\.learning_rate"):
        _train_baseline(kind, base, toy_mixture, out, changed, checkpoints)
    (checkpoints / f"checkpoint-{total - 1}").mkdir()  # cut short by SIGKILL: no COMPLETE marker

    metrics = _train_baseline(kind, base, toy_mixture, out, training, checkpoints)
    assert not checkpoints.exists()
    weights, expected = _baseline_weights(out), _baseline_weights(reference)
    assert set(weights) == set(expected)
    assert all(weights[k].equal(expected[k]) for k in weights), "resumed weights differ from the uninterrupted run"
    ref_metrics = _metrics(reference)
    assert metrics == _metrics(out)
    assert metrics["loss_history"] == ref_metrics["loss_history"]
    assert metrics["steps"] == total and metrics["tokens_seen"] == ref_metrics["tokens_seen"] > 0
    assert metrics["resumed_from"] == str(checkpoints / f"checkpoint-{stop}")
    attempts = metrics["attempts"]
    assert [(a["outcome"], a["start_step"], a["end_step"]) for a in attempts] == [
        ("interrupted", 0, stop),
        ("finished", stop, total),
    ]
    assert metrics["wall_seconds"] == pytest.approx(sum(a["wall_seconds"] for a in attempts), abs=0.01)
    assert metrics["tokens_processed"] == sum(a["tokens_processed"] for a in attempts) == metrics["tokens_seen"]
    assert metrics["gpus"] == 0 and metrics["gpu_hours"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gector", "seq2seq"])
def test_baseline_on_two_processes_gives_the_one_process_model(tmp_path, toy_mixture, kind):
    """``torchrun --nproc_per_node 2 -m writing_alpaca baselines train`` (DDP on gloo): the global
    batch of 8 is micro-batch 4 x 2 ranks instead of 4 x 2 accumulation steps, rank 0 alone
    writes, and the model is the one-process run's.  GECToR is also stopped by a real SIGUSR1 sent
    to torchrun (both ranks stop at the same step) and resumed on two processes."""
    import math

    base = tiny_baseline_base(kind, toy_mixture.parent, toy_mixture, dropout=False)
    training = baseline_training(kind)
    total = training["baselines"][kind]["max_steps"]
    out, checkpoints, log = tmp_path / "models" / "sys", tmp_path / "checkpoints" / "sys", tmp_path / "train.log"
    command = baseline_command(TORCHRUN, kind, base, toy_mixture, out, checkpoints, training)
    if kind == "gector":
        proc = _start(command, log)
        _wait_for(lambda: len(_attempts(checkpoints)) == 1, proc, log, "training to start")
        proc.send_signal(signal.SIGUSR1)
        assert proc.wait(timeout=300) != 0
        stops = re.findall(rf"stopped by SIGUSR1 at step (\d+) of {total}", log.read_text())
        assert len(stops) == 2 and stops[0] == stops[1], log.read_text()[-6000:]
        assert (checkpoints / f"checkpoint-{stops[0]}" / "COMPLETE").is_file()
        assert not (out / "system.json").exists()
    assert _run(command, log) == 0, log.read_text()[-6000:]
    metrics = _metrics(out)
    assert (metrics["world_size"], metrics["gradient_accumulation"], metrics["effective_batch_size"]) == (2, 1, 8)
    assert metrics["steps"] == total and metrics["gpus"] == 0
    if kind == "gector":
        assert [(a["world_size"], a["outcome"]) for a in metrics["attempts"]] == [(2, "interrupted"), (2, "finished")]
        assert metrics["resumed_from"].endswith(f"checkpoint-{stops[0]}")
    assert {p.name for p in out.iterdir()} == {"model", "system.json", "train_metrics.json", "README.md", "card.json"}
    assert [p.name for p in out.parent.iterdir()] == ["sys"] and not checkpoints.exists()

    reference = _train_baseline(kind, base, toy_mixture, tmp_path / "single", training)
    assert (reference["world_size"], reference["gradient_accumulation"], reference["effective_batch_size"]) == (1, 2, 8)
    assert metrics["tokens_seen"] == reference["tokens_seen"]
    assert metrics["loss_history"] == pytest.approx(reference["loss_history"], rel=1e-5)
    _assert_close_tensors(_baseline_weights(out), _baseline_weights(tmp_path / "single"), atol=1e-6)
    if kind == "seq2seq":
        # the loss of a micro-batch is divided by the accumulation steps: at initialisation the
        # first logged loss is about ln(vocabulary), not accumulation x world size times it
        vocab = json.loads((base / "config.json").read_text())["vocab_size"]
        assert reference["loss_history"][0] < 1.25 * math.log(vocab)


@pytest.mark.slow
def test_slurm_dry_run_launches_every_trainer_data_parallel_over_its_gpus(monkeypatch):
    """``snakemake -n --profile profiles/slurm all``: every training job with more than one GPU
    (the Table-7 baselines included) starts ``torchrun`` with one process per GPU, its own
    checkpoint directory and the shared tokenisation cache, and each baseline's global batch
    divides over its processes."""
    import shlex

    from writing_alpaca.baselines.common import hyperparameters

    output = snakemake("-n", "--printshellcmds", "--profile", "profiles/slurm", "all").stdout
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", output):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if rule and rule.group(1) in ("train", "train_baseline"):
            name = re.search(r"wildcards: system=(\S+)", block).group(1)
            gpus = int(re.search(r"\bgpu=(\d+)", block).group(1))
            jobs[name] = (rule.group(1), gpus, re.search(r"Shell command: (.+)", block).group(1))
    assert {name for name, (rule, _, _) in jobs.items() if rule == "train_baseline"} == {
        "roberta-gector",
        "t5-large-gec",
    }
    assert {"writing-alpaca-7b", "writing-alpaca-7b-full", "llama-13b-gec"} <= {
        n for n, (rule, _, _) in jobs.items() if rule == "train"
    }
    for name, (rule, gpus, command) in jobs.items():
        assert gpus > 1, (name, gpus)
        launcher = f"torchrun --standalone --nproc_per_node {gpus} {TORCHRUN_SIGNALS.group(1)} -m writing_alpaca "
        assert command.startswith(launcher + ("baselines train " if rule == "train_baseline" else "train ")), command
        assert f"--checkpoint-dir results/checkpoints/{name} " in command, command
        assert " --cache-dir results/cache/tokenised " in command, command  # one tokenised set per key, shared
        if rule == "train_baseline":
            argv = shlex.split(command)
            kind = json.loads(argv[argv.index("--spec") + 1])["kind"]
            monkeypatch.setenv("WORLD_SIZE", str(gpus))
            hp = hyperparameters(kind, json.loads(argv[argv.index("--training") + 1]))  # raises if it does not divide
            assert hp["batch_size"] % (hp["micro_batch_size"] * gpus) == 0 and hp["save_steps"] > 0
