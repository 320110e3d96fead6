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
import signal
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

# No wall-clock limit decides pass or fail: snakemake is waited on as long as it makes progress
# (its log grows, a job changes state in squeue, a job finishes in jobcomp.log, a job's output
# grows). It is stopped, and the test fails with every log, only after STALL_SECONDS without any
# progress or after MAX_SECONDS in all (a run takes ~5 min on 2 idle cores).
STALL_SECONDS = float(os.environ.get("WA_SLURM_STALL_SECONDS", 15 * 60))
MAX_SECONDS = float(os.environ.get("WA_SLURM_MAX_SECONDS", 60 * 60))
POLL_SECONDS = 5

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
        """The tails of the daemons' logs (slurmctld, slurmd, jobcomp, apt), for failure messages."""
        parts = []
        for log in sorted((self.directory / "log").glob("*.log")):
            parts.append(f"--- {log}\n" + _tail(log, lines))
        return "\n".join(parts)

    def queue(self) -> str:
        """squeue's view of every job (states included); '' when slurmctld does not answer."""
        try:
            proc = self.run("squeue", "--all", "--noheader", "--format=%i %j %T %R", timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return ""
        return proc.stdout if proc.returncode == 0 else ""


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(unreadable: {e})"


def _files(root: Path, pattern: str = "*") -> list[tuple[Path, os.stat_result]]:
    """(path, stat) of the files under root matching pattern, oldest first (files removed meanwhile are left out)."""
    found = []
    for path in root.rglob(pattern) if root.is_dir() else ():
        try:
            st = path.stat()
        except OSError:
            continue
        if path.is_file():
            found.append((path, st))
    return sorted(found, key=lambda f: (f[1].st_mtime, str(f[0])))


def _sizes(root: Path) -> tuple:
    """(path, size) of every file under root: grows while jobs write their outputs."""
    return tuple(sorted((str(path), st.st_size) for path, st in _files(root)))


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
            timeout=1800,  # a bound for a hung install only: apt-get on a slow mirror may take minutes
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
    command = [
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
    ]
    log = workdir.parent / "slurm-demo-snakemake.log"
    returncode, output, seconds = _run_while_progressing(command, log, workdir, cluster)
    print(f"snakemake --profile profiles/slurm took {seconds:.0f} s")
    if returncode != 0:
        raise AssertionError(
            f"snakemake under SLURM failed ({returncode}) after {seconds:.0f} s\n"
            + _diagnostics(output, workdir, cluster)
        )
    jobs = {}
    for _, slurm_id, log in SUBMITTED_RE.findall(output):
        # the plugin's log layout: .snakemake/slurm_logs/rule_<rule>/<wildcards>/<slurm id>.log
        rule_dir = next(p for p in Path(log).parents if p.name.startswith("rule_"))
        wildcards = Path(log).parent.relative_to(rule_dir).as_posix()
        jobs[slurm_id] = {"rule": rule_dir.name[len("rule_") :], "wildcards": wildcards, "log": Path(log)}
    return SlurmRun(workdir, output, seconds, jobs)


def _run_while_progressing(command: list[str], log: Path, workdir: Path, cluster: Cluster) -> tuple[int, str, float]:
    """Run ``command`` (its output to ``log``) until it exits; (return code, output, seconds).

    Waits as long as the run makes progress; after STALL_SECONDS without any, or MAX_SECONDS in
    all, it stops snakemake (and so its jobs) and fails with the snakemake log and SLURM's logs.
    """
    start = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=REPO, env=cluster.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    state, last_progress, why = None, start, None
    try:
        while proc.poll() is None:
            now = time.monotonic()
            # progress: the log grows, a job changes state, finishes, or writes output
            queue = cluster.queue()
            new = (
                log.stat().st_size,
                queue,
                cluster.jobcomp.stat().st_size if cluster.jobcomp.is_file() else 0,
                _sizes(workdir / ".snakemake" / "slurm_logs"),
                _sizes(workdir / "logs"),
            )
            if new != state:
                state, last_progress = new, now
            elif now - last_progress > STALL_SECONDS:
                why = f"no progress for {now - last_progress:.0f} s (limit {STALL_SECONDS:.0f} s)"
            if now - start > MAX_SECONDS:
                why = f"still running after {now - start:.0f} s (limit {MAX_SECONDS:.0f} s)"
            if why:
                break
            time.sleep(POLL_SECONDS)
    finally:
        if proc.poll() is None:
            queue = cluster.queue()
            _terminate(proc)
    seconds = time.monotonic() - start
    output = log.read_text(errors="replace")
    if why:
        raise AssertionError(
            f"snakemake under SLURM stopped: {why}; squeue when stopped:\n{queue or '(no answer)'}\n"
            + _diagnostics(output, workdir, cluster)
        )
    return proc.returncode, output, seconds


def _terminate(proc: subprocess.Popen) -> None:
    """SIGTERM snakemake's process group (snakemake cancels its SLURM jobs), SIGKILL after 60 s."""
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 30)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _diagnostics(output: str, workdir: Path, cluster: Cluster) -> str:
    """The snakemake log, SLURM's daemon logs and the latest jobs' outputs, for failure messages."""
    parts = [f"=== snakemake log (last 12000 characters)\n{output[-12000:]}", "=== SLURM daemons", cluster.logs(60)]
    job_logs = [path for path, _ in _files(workdir / ".snakemake" / "slurm_logs", "*.log")]
    parts.append(f"=== SLURM job outputs (the latest 8 of {len(job_logs)})")
    parts += [f"--- {p}\n{_tail(p, 30)}" for p in job_logs[-8:]]
    rule_logs = [path for path, _ in _files(workdir / "logs", "*.log")]
    parts.append(f"=== rule logs (the latest 4 of {len(rule_logs)})")
    parts += [f"--- {p}\n{_tail(p, 30)}" for p in rule_logs[-4:]]
    return "\n".join(parts)


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
