"""Shared test fixtures: where the repository, the real data and the tools are."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Real public data lies beside the checkout (never copied into the repository).
SHARED_DATA = REPO.parent / "shared" / "data"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the real data is missing: expected {SHARED_DATA} (../shared/data beside the checkout)")
    return SHARED_DATA


def tool_env() -> dict[str, str]:
    """The environment for running `snakemake` / `writing-alpaca` as the Makefile does."""
    # In-process tests (DeepSpeed through the HF Trainer) leave distributed and accelerate
    # settings in os.environ; a workflow run must start from a clean slate like a user's shell.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACCELERATE_", "DEEPSPEED_"))
        and k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def snakemake(*args: str, cwd: Path | None = None, check: bool = True, timeout: int = 1200):
    """Run snakemake from this environment; returns the CompletedProcess (stdout+stderr merged)."""
    exe = shutil.which("snakemake", path=str(BIN)) or "snakemake"
    proc = subprocess.run(
        [exe, *args],
        cwd=cwd or REPO,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
    return proc
