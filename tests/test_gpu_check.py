"""benchmarks/gpu_check.sh (issue 14): the CPU smoke test (--tiny) and the refusal without a GPU.

The GPU run itself (LLaMA-7B shape on an H100/H200) is not exercised here; --tiny runs the same
phases, code path and report on bench_train's tiny shape on CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_check  # noqa: E402


def _run(*args: str, timeout: int = 2400) -> subprocess.CompletedProcess[str]:
    # no GPU visible even on a machine with one: --tiny runs on CPU, and the refusal is testable;
    # the wrapper's 8-minute kill is for GPU runs (a loaded CI machine may be slower on --tiny)
    env = dict(os.environ, PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="", GPU_CHECK_TIMEOUT="2000")
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check") / "tiny.json"
    proc = _run("--tiny", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(out.read_text(encoding="utf-8")), proc.stdout, out


def test_tiny_report_structure(tiny):
    report, _, _ = tiny
    assert report["schema"] == gpu_check.SCHEMA
    assert report["mode"] == "tiny (CPU)" and report["device"] == "cpu" and report["gpu"] is None
    assert report["peak_flops"] > 0 and report["matmul_flops"] > 0
    assert [p["name"] for p in report["phases"]] == list(gpu_check.PHASES)
    status = {p["name"]: p["status"] for p in report["phases"]}
    assert status.pop("decode_vllm") == "skipped"
    assert set(status.values()) == {"ok"}, report["phases"]
    assert report["choices"] and all(isinstance(c, str) for c in report["choices"])

    # training: one row per phase (the tiny plan has one micro-batch), measured
    assert [r["phase"] for r in report["training"]] == ["train_lora", "train_full", "train_full_fp32"]
    for row in report["training"]:
        assert row["tokens_per_second"] > 0 and row["flops_per_token"] > 0
        assert 0 < row["mfu"] <= row["hfu"] and row["layers"] == 2 and row["seq_len"] == 64
    lora, full, _ = report["training"]
    assert lora["lora"]["target_modules"] == ["q_proj", "v_proj"]
    assert 0 < lora["trainable_parameters"] < full["trainable_parameters"] == full["parameters"]

    # decoding: every profiled test set at beam 16 and greedy, through generate_hf
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    sets = {n: s for n, s in config["test_sets"].items() if n in gpu_check.LENGTH_PROFILES}
    assert set(sets) == set(gpu_check.LENGTH_PROFILES)
    rows = report["decoding"]
    assert {(r["decoding"], r["dataset"]) for r in rows} == {(d, n) for d in ("beam16", "greedy") for n in sets}
    for row in rows:
        assert row["backend"] == "hf" and row["records"] == 2 and row["size"] == sets[row["dataset"]]["size"]
        assert row["num_beams"] == (16 if row["decoding"] == "beam16" else 1)
        # the synthetic sources have exactly the profile's token count (one batch: the median)
        assert row["source_tokens_mean"] == gpu_check.target_tokens(row["dataset"], 1, gpu_check.TOKENS_PER_WORD)[0]
        assert row["prompt_tokens_mean"] > row["source_tokens_mean"]
        assert 0 < row["generated_tokens"] <= row["records"] * row["max_new_tokens"]
        assert row["instances_per_second"] > 0 and row["estimated_set_seconds"] > 0
    summary = {s["decoding"]: s for s in report["decoding_summary"]}
    assert set(summary) == {"beam16", "greedy"}
    assert all(s["items"] == sum(int(x["size"]) for x in sets.values()) for s in summary.values())


def test_tiny_prints_the_tables(tiny):
    report, stdout, out = tiny
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert md in stdout
    for header in ("| training | layers | precision |", "| decoding | test set | items |"):
        assert header in md
    lines = md.splitlines()
    # one table row per measurement, plus the summary rows
    assert sum(line.startswith(("| LoRA", "| full")) for line in lines) == len(report["training"])
    assert sum(line.startswith("| hf ") for line in lines) == len(report["decoding"])
    assert sum(line.startswith("| **hf") for line in lines) == 2
    assert "phase decode_vllm: skipped" in md


def test_refuses_without_a_gpu(tmp_path):
    out = tmp_path / "gpu.json"
    proc = _run("--out", str(out), timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == gpu_check.REFUSAL
    assert not out.exists()
