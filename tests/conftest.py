"""Shared test fixtures: where the repository, the real data and the tools are."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Real public data (test sets and system outputs with published scores, ../shared/data/SOURCES.md)
# lies beside the checkout and is never copied into the repository; WRITING_ALPACA_SHARED_DATA
# points elsewhere.  Tests that read it carry the `real_data` marker: without the data they are
# deselected and counted in one line at the end of the run, unless WRITING_ALPACA_REQUIRE_DATA=1
# (.ci/run sets it) makes the missing data an error.
DATA_ENV = "WRITING_ALPACA_SHARED_DATA"
REQUIRE_ENV = "WRITING_ALPACA_REQUIRE_DATA"
SHARED_DATA = Path(os.path.abspath(os.path.expanduser(os.environ.get(DATA_ENV) or REPO.parent / "shared" / "data")))
BIN = Path(sys.executable).parent


def have_shared_data() -> bool:
    return SHARED_DATA.is_dir()


def _data_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _missing_data_message() -> str:
    return f"data not found at {SHARED_DATA} (set {DATA_ENV}=/path/to/shared/data)"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    # tests using this fixture are marked `real_data` (pytest_itemcollected) and so deselected
    # without the data: reaching this without it is a bug, reported loudly
    if not have_shared_data():
        pytest.fail(f"the real data is missing: {_missing_data_message()}")
    return SHARED_DATA


# ------------------------------------------------------------------------- real-data tests
_DESELECTED_KEY = pytest.StashKey[int]()


def pytest_itemcollected(item: pytest.Item) -> None:
    # a test taking the `shared_data` fixture reads the real data, whether or not it was marked
    if "shared_data" in getattr(item, "fixturenames", ()) and item.get_closest_marker("real_data") is None:
        item.add_marker(pytest.mark.real_data)


@pytest.hookimpl(trylast=True)  # after -k / -m: count only the tests that would have run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if have_shared_data():
        return
    needing = [item for item in items if item.get_closest_marker("real_data") is not None]
    if not needing:
        return
    if _data_required():
        raise pytest.UsageError(
            f"{len(needing)} real-data tests cannot run: {_missing_data_message()}; "
            f"{REQUIRE_ENV} is set (as by .ci/run), so the data is required"
        )
    keep = [item for item in items if item.get_closest_marker("real_data") is None]
    config.hook.pytest_deselected(items=needing)
    items[:] = keep
    config.stash[_DESELECTED_KEY] = len(needing)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    n = config.stash.get(_DESELECTED_KEY, 0)
    if n:
        terminalreporter.write_line(f"real-data tests: {n} not run, {_missing_data_message()}", yellow=True)


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
