"""The demo's training through a real one-node SLURM cluster, with `--profile profiles/slurm`.

`tests/slurm/start_slurm.sh` installs and starts munged, slurmctld and slurmd on this machine
(root, Debian 12, no systemd: what CI is); the node declares one fake GPU (gres on /dev/null),
so that the training jobs' `gpu: 1` really goes through `sbatch --gpus=1` and is scheduled.
The whole DAG of two trained systems (downloads, data, tiny base models, instruction mixtures,
LoRA training and a seq2seq baseline) runs as SLURM jobs; the training code itself still runs on
the CPU (torch sees no CUDA). Every daemon the test started is stopped at the end, also when a
test fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import BIN, REPO, tool_env

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SCRIPTS = REPO / "tests" / "slurm"
DEMO_OVERLAY = REPO / "demo" / "config.yaml"
DEMO = yaml.safe_load(DEMO_OVERLAY.read_text())
LM_SYSTEM = "tiny-writing-alpaca"  # LoRA on the tiny LLaMA
BASELINE = "tiny-t5-gec"  # Table-7 seq2seq baseline
DAEMONS = ("slurmd", "slurmctld", "munged")

SUBMITTED_RE = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")
TOTAL_RE = re.compile(r"^total\s+(\d+)\s*$", re.MULTILINE)


@dataclass
class Cluster:
    """A running one-node cluster: its state directory and the environment that reaches it."""

    directory: Path
    env: dict[str, str]
    start_seconds: float
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def jobcomp(self) -> Path:
        return self.directory / "log" / "jobcomp.log"

    def run(self, *cmd: str, timeout: int = 60, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            cmd, env=self.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{self.logs()}")
        return proc

    def logs(self, lines: int = 15) -> str:
        """The tails of the daemons' logs, for failure messages."""
        parts = []
        for log in sorted((self.directory / "log").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log}\n" + "\n".join(tail))
        return "\n".join(parts)


def _free_ports(n: int) -> list[int]:
    """n distinct TCP ports free right now (the daemons bind them a moment later)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (a container's PID 1 may be slow to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _stop(directory: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPTS / "stop_slurm.sh"), str(directory)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.fail(
            "tests/test_slurm.py installs and starts a local SLURM cluster and must run as root "
            "(CI does); run it with sudo, e.g. `sudo .venv/bin/pytest tests/test_slurm.py`"
        )
    # a short path: slurmd puts unix sockets in its spool directory (108-byte limit)
    directory = Path(tempfile.mkdtemp(prefix="wa-slurm-"))
    env = tool_env()
    env["SLURM_CONF"] = str(directory / "etc" / "slurm.conf")
    env["WA_SLURM_CTLD_PORT"], env["WA_SLURM_SLURMD_PORT"] = map(str, _free_ports(2))
    try:
        start = time.monotonic()
        proc = subprocess.run(
            [str(SCRIPTS / "start_slurm.sh"), str(directory)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        seconds = time.monotonic() - start
        print(f"start_slurm.sh took {seconds:.1f} s")
        if proc.returncode != 0:
            pytest.fail(f"tests/slurm/start_slurm.sh failed ({proc.returncode}):\n{proc.stdout[-6000:]}")
        pids = {d: int(p.read_text()) for d in DAEMONS if (p := directory / "run" / f"{d}.pid").is_file()}
        yield Cluster(directory, env, seconds, pids)
    finally:
        stopped = _stop(directory, env)
        print(stopped.stdout)
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class SlurmRun:
    workdir: Path
    output: str
    seconds: float
    jobs: dict[str, dict]  # SLURM job id -> {"rule", "wildcards", "log"}


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    """Both trained systems built by `snakemake --profile profiles/slurm` on the demo config."""
    workdir = tmp_path_factory.mktemp("slurm-demo")
    overlay = workdir.parent / "slurm-gpu.yaml"
    # one GPU per training job: SLURM schedules the node's fake GPU (`sbatch --gpus=1`)
    overlay.write_text(yaml.safe_dump({"resources": {"train": {"gpu": 1}}}))
    snakemake = shutil.which("snakemake", path=str(BIN)) or "snakemake"
    start = time.monotonic()
    proc = cluster.run(
        snakemake,
        "--profile",
        "profiles/slurm",
        "--directory",
        str(workdir),
        # this cluster has no slurmdbd: sacct cannot answer, squeue sees jobs for MinJobAge
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-no-account",
        "--slurm-keep-successful-logs",
        "--retries",
        "0",
        f"results/models/{LM_SYSTEM}",
        f"results/models/{BASELINE}",
        "--configfile",
        str(DEMO_OVERLAY),
        str(overlay),
        timeout=540,
        check=False,
    )
    seconds = time.monotonic() - start
    print(f"snakemake --profile profiles/slurm took {seconds:.0f} s")
    if proc.returncode != 0:
        raise AssertionError(
            f"snakemake under SLURM failed ({proc.returncode}):\n{proc.stdout[-8000:]}\n{cluster.logs()}"
        )
    jobs = {}
    for _, slurm_id, log in SUBMITTED_RE.findall(proc.stdout):
        # the plugin's log layout: .snakemake/slurm_logs/rule_<rule>/<wildcards>/<slurm id>.log
        rule_dir = next(p for p in Path(log).parents if p.name.startswith("rule_"))
        wildcards = Path(log).parent.relative_to(rule_dir).as_posix()
        jobs[slurm_id] = {"rule": rule_dir.name[len("rule_") :], "wildcards": wildcards, "log": Path(log)}
    return SlurmRun(workdir, proc.stdout, seconds, jobs)


def _jobcomp(cluster: Cluster) -> dict[str, dict[str, str]]:
    """SLURM's job completion log: one `Key=value ...` line per finished job."""
    records = {}
    for line in cluster.jobcomp.read_text().splitlines():
        record = dict(item.split("=", 1) for item in line.split() if "=" in item)
        records[record["JobId"]] = record
    return records


def _scontrol_job(cluster: Cluster, slurm_id: str) -> str:
    return cluster.run("scontrol", "--details", "show", "job", slurm_id).stdout


def test_every_job_of_the_dag_ran_as_a_slurm_job(cluster, slurm_run):
    print(f"start: {cluster.start_seconds:.1f} s, snakemake: {slurm_run.seconds:.0f} s")
    total = int(TOTAL_RE.search(slurm_run.output).group(1))
    rules = Counter(job["rule"] for job in slurm_run.jobs.values())
    assert sum(rules.values()) == total, (rules, total)
    assert rules["train"] == 1 and rules["train_baseline"] == 1, rules
    assert {"download", "prepare_train", "build_tiny_model", "format_mixture"} <= set(rules), rules
    # SLURM's own record: every submitted job completed (exit code 0) on the node
    finished = _jobcomp(cluster)
    for slurm_id, job in slurm_run.jobs.items():
        assert slurm_id in finished, (slurm_id, job, cluster.jobcomp.read_text())
        assert finished[slurm_id]["JobState"] == "COMPLETED", finished[slurm_id]
        assert finished[slurm_id]["ExitCode"] == "0:0", finished[slurm_id]
        assert finished[slurm_id]["NodeList"] == "localhost"
        assert finished[slurm_id]["WorkDir"] == str(slurm_run.workdir)
        assert job["log"].is_file(), job  # the plugin's per-job SLURM log


def test_training_jobs_were_given_a_gpu_by_slurm(cluster, slurm_run):
    trained = {
        job["wildcards"]: slurm_id
        for slurm_id, job in slurm_run.jobs.items()
        if job["rule"] in ("train", "train_baseline")
    }
    assert set(trained) == {LM_SYSTEM, BASELINE}
    for system, slurm_id in trained.items():
        info = _scontrol_job(cluster, slurm_id)
        assert "TresPerJob=gres:gpu:1" in info, info  # the sbatch call had --gpus=1
        assert re.search(r"^\s*JOB_GRES=gpu:1\s*$", info, re.MULTILINE), info  # and got the GPU
        assert re.search(r"\bNumNodes=1\b", info), info
        assert f"Comment=rule_{slurm_run.jobs[slurm_id]['rule']}_wildcards_{system}" in info, info
    # the jobs that do not train ask for no GPU (the latest ones: slurmctld forgets after MinJobAge)
    others = [slurm_id for slurm_id, job in slurm_run.jobs.items() if job["rule"] not in ("train", "train_baseline")]
    for slurm_id in sorted(others, key=int)[-3:]:
        info = _scontrol_job(cluster, slurm_id)
        assert "gpu" not in info, info


def test_trained_systems_are_complete(slurm_run):
    models = slurm_run.workdir / "results" / "models"
    lm = json.loads((models / LM_SYSTEM / "system.json").read_text())
    assert lm["system"] == LM_SYSTEM and lm["method"] == "lora"
    assert (models / LM_SYSTEM / lm["adapter"]).is_dir()
    metrics = json.loads((models / LM_SYSTEM / "train_metrics.json").read_text())
    assert metrics["steps"] == DEMO["training"]["max_steps"]
    assert metrics["loss_history"][-1] < metrics["loss_history"][0], metrics["loss_history"]

    baseline = json.loads((models / BASELINE / "system.json").read_text())
    assert baseline["system"] == BASELINE and baseline["kind"] == "seq2seq"
    metrics = json.loads((models / BASELINE / "train_metrics.json").read_text())
    assert metrics["steps"] == DEMO["training"]["baselines"]["seq2seq"]["max_steps"]
    assert metrics["wall_seconds"] > 0
    for system in (LM_SYSTEM, BASELINE):
        assert (slurm_run.workdir / "logs" / "train" / f"{system}.log").is_file()


def test_stop_slurm_stops_every_daemon(cluster):
    assert {"slurmctld", "slurmd"} <= set(cluster.pids), cluster.pids
    assert all(_running(pid) for pid in cluster.pids.values()), cluster.pids
    proc = _stop(cluster.directory, cluster.env)
    assert proc.returncode == 0, proc.stdout
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in cluster.pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    still = {name: pid for name, pid in cluster.pids.items() if _running(pid)}
    assert not still, f"still running after stop_slurm.sh: {still}\n{proc.stdout}"
    ping = cluster.run("scontrol", "ping", check=False)
    assert "DOWN" in ping.stdout, ping.stdout
