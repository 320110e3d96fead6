"""What a run of the workflow cost: ``results/tables/costs.{md,tex,csv}`` from Snakemake's benchmark files.

Every rule that does work has a ``benchmark:`` file (workflow/rules/common.smk,
``benchmark_file``), one per job::

    results/benchmarks/<stage>/<rule>.tsv                                  (a rule without wildcards)
    results/benchmarks/<stage>/<rule>/<wildcard>=<value>/.../<wildcard>=<value>.tsv

with ``<stage>`` one of :data:`STAGES`.  ``writing-alpaca render costs --benchmarks FILE ...
[--systems JSON] --out-prefix PREFIX`` (rule render_costs: every job of the artefacts' DAG)
reads the stage, the rule and the ``system=`` wildcard from each path, and from its TSV
(Snakemake's header ``s h:m:s max_rss max_vms max_uss max_pss io_in io_out mean_load
cpu_time``, extended or not) the columns ``s`` (wall seconds), ``cpu_time`` (CPU seconds,
user + system, of the job's process tree) and ``max_rss`` (MB).  A job whose processes ended
before Snakemake's first sample has ``NA`` there: its wall time counts, its CPU time and memory
are unknown (the row is marked "*").  Several records in one file (``repeat()``) are several
runs of the job: their times add up, the peak is the largest.

One row per stage (in :data:`STAGES` order, then any other in alphabetical order), under the
train, decode and score stages one row per system (jobs with a ``system`` wildcard, in the
order of ``--systems``, labelled from it), and the total: the number of jobs, the sums of
wall time and CPU time, the peak memory (the largest ``max_rss`` of any one job) and the
share of the total wall time.  A missing file is an error naming it; a malformed one, an
error naming the file and line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import WritingAlpacaError, located
from .io import read_text
from .report.inputs import Context
from .report.writers import DASH, INCOMPLETE, Cell, Table, write_table

# Rule groups, in the pipeline's order (workflow/rules/*.smk; fetch_base_model is a download,
# build_tiny_model a training stage).
STAGES = ("download", "data", "format", "train", "decode", "score", "analyse", "render")
# Stages whose jobs with a `system` wildcard also get one row per system.
SYSTEM_STAGES = ("train", "decode", "score")
BENCHMARK_DIR = "benchmarks"
BENCHMARK_COLUMNS = ("s", "cpu_time", "max_rss")  # what the table reads of Snakemake's header
UNMEASURED = ("NA", "-", "")  # Snakemake: no sample taken (NA), or no value (-)
PATH_HELP = "results/benchmarks/<stage>/<rule>[/<wildcard>=<value>...].tsv"


@dataclass
class Job:
    """One job's benchmark file: where it belongs and what it measured."""

    path: Path
    stage: str
    rule: str
    wildcards: dict[str, str]
    wall: float  # seconds, over every run recorded in the file
    cpu: float | None  # None: not sampled
    max_rss: float | None  # MB; None: not sampled

    @property
    def system(self) -> str | None:
        return self.wildcards.get("system")


def job_key(path: str | Path) -> tuple[str, str, dict[str, str]]:
    """(stage, rule, wildcards) of a benchmark file, from its path below ``benchmarks/``."""
    path = Path(path)
    parts = path.parts
    roots = [i for i, part in enumerate(parts) if part == BENCHMARK_DIR]
    if path.suffix != ".tsv" or not roots:
        raise located(path, None, f"not a benchmark file of the workflow (expected {PATH_HELP})")
    rest = list(parts[roots[-1] + 1 :])
    rest[-1] = rest[-1][: -len(".tsv")]
    if len(rest) < 2 or not all(rest[:2]) or any("=" in p for p in rest[:2]):
        raise located(path, None, f"cannot tell the stage and rule from the path (expected {PATH_HELP})")
    wildcards: dict[str, str] = {}
    for part in rest[2:]:
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise located(path, None, f"'{part}' is not <wildcard>=<value> (expected {PATH_HELP})")
        wildcards[name] = value
    return rest[0], rest[1], wildcards


def _number(path: Path, lineno: int, column: str, text: str, required: bool) -> float | None:
    text = text.strip()
    if text in UNMEASURED and not required:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise located(
            path,
            lineno,
            f"column {column}: expected a number of {'seconds' if column != 'max_rss' else 'MB'}, got {text!r}",
        )
    return value


def load_benchmark(path: str | Path) -> Job:
    """Read one Snakemake benchmark TSV (header line + one record per run)."""
    path = Path(path)
    stage, rule, wildcards = job_key(path)
    lines = read_text(path).splitlines()
    if not lines or not lines[0].strip():
        raise located(path, 1, "empty benchmark file (expected Snakemake's header: s, h:m:s, max_rss, ...)")
    header = lines[0].split("\t")
    missing = [c for c in BENCHMARK_COLUMNS if c not in header]
    if missing:
        raise located(path, 1, f"not a Snakemake benchmark header: no column {', '.join(missing)} (got {lines[0]!r})")
    at = {c: header.index(c) for c in BENCHMARK_COLUMNS}
    wall, cpu, rss, runs = 0.0, 0.0, None, 0
    cpu_known = True
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise located(path, lineno, f"expected {len(header)} tab-separated fields as the header, got {len(fields)}")
        runs += 1
        wall += _number(path, lineno, "s", fields[at["s"]], required=True)
        c = _number(path, lineno, "cpu_time", fields[at["cpu_time"]], required=False)
        r = _number(path, lineno, "max_rss", fields[at["max_rss"]], required=False)
        if c is None:
            cpu_known = False
        else:
            cpu += c
        if r is not None:
            rss = r if rss is None else max(rss, r)
    if not runs:
        raise located(path, len(lines), "no benchmark record after the header")
    return Job(path, stage, rule, wildcards, wall, cpu if cpu_known else None, rss)


def load_benchmarks(paths: Iterable[str | Path]) -> list[Job]:
    jobs, seen = [], {}
    for p in paths:
        job = load_benchmark(p)
        key = (job.stage, job.rule, tuple(sorted(job.wildcards.items())))
        if key in seen:
            raise located(job.path, None, f"the same job as {seen[key]} (stage, rule and wildcards)")
        seen[key] = job.path
        jobs.append(job)
    return jobs


@dataclass
class CostRow:
    """The costs of a group of jobs (a stage, a stage's system, or all of them)."""

    stage: str
    system: str | None
    jobs: list[Job] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return sum(j.wall for j in self.jobs)

    @property
    def cpu(self) -> float | None:
        known = [j.cpu for j in self.jobs if j.cpu is not None]
        return sum(known) if known else None

    @property
    def max_rss(self) -> float | None:
        known = [j.max_rss for j in self.jobs if j.max_rss is not None]
        return max(known) if known else None

    @property
    def unmeasured(self) -> int:
        """Jobs with no CPU time or no memory figure."""
        return sum(j.cpu is None or j.max_rss is None for j in self.jobs)


def cost_rows(jobs: Sequence[Job], systems: Sequence[str] = ()) -> tuple[list[CostRow], CostRow]:
    """Stage rows (each train/decode/score stage followed by its systems' rows) and the total."""
    known = [s for s in STAGES if any(j.stage == s for j in jobs)]
    other = sorted({j.stage for j in jobs} - set(STAGES))
    rows = []
    for stage in known + other:
        in_stage = [j for j in jobs if j.stage == stage]
        rows.append(CostRow(stage, None, in_stage))
        if stage in SYSTEM_STAGES:
            names = {j.system for j in in_stage if j.system is not None}
            order = [s for s in systems if s in names] + sorted(names - set(systems))
            rows += [CostRow(stage, s, [j for j in in_stage if j.system == s]) for s in order]
    return rows, CostRow("total", None, list(jobs))


def _seconds(value: float | None) -> str:
    return DASH if value is None else f"{value:,.1f}"


def _marked(text: str, row: CostRow) -> str:
    return text + INCOMPLETE if row.unmeasured and text != DASH else text


def render_costs(ctx: Context, benchmarks: Sequence[str | Path], prefix: str | Path) -> list[Path]:
    """``P.md``/``P.tex``/``P.csv``: wall, CPU and peak memory per stage, per system, in total."""
    if not benchmarks:
        raise WritingAlpacaError(f"costs: no benchmark files given (expected {PATH_HELP})")
    jobs = load_benchmarks(benchmarks)
    rows, total = cost_rows(jobs, list(ctx.systems))
    everything = rows + [total]

    def share(row: CostRow) -> float | None:
        return 100.0 * row.wall / total.wall if total.wall > 0 else None

    def label(row: CostRow) -> str:
        if row.system is None:
            return ""
        return str(ctx.systems.get(row.system, {}).get("label", row.system))

    header = ["Stage", "System", "Jobs", "Wall (s)", "CPU (s)", "Peak RSS (MB)", "Share of wall"]
    body = []
    for row in everything:
        pct = share(row)
        body.append(
            [
                Cell("Total" if row is total else ("" if row.system else row.stage), bold=row is total),
                Cell(label(row)),
                Cell(f"{len(row.jobs):,}", bold=row is total),
                Cell(_seconds(row.wall), bold=row is total),
                Cell(_marked(_seconds(row.cpu), row), bold=row is total),
                Cell(_marked(_seconds(row.max_rss), row), bold=row is total),
                Cell(DASH if pct is None else f"{pct:.1f}%", bold=row is total),
            ]
        )
    notes = [
        "Wall and CPU: sums over the jobs (jobs run side by side, so the wall sum exceeds the run's "
        "elapsed time); peak RSS: the largest of any one job; share: of the total wall time.",
        "Snakemake samples each job's processes every 0.5 s, every 30 s after the first 15 s: CPU time and "
        "memory are lower bounds; GPU memory is not measured; the costs table's own job is not counted.",
    ]
    unmeasured = total.unmeasured
    if unmeasured:
        notes.append(
            f"{INCOMPLETE} {unmeasured} of {len(jobs)} jobs ended before Snakemake's first sample: their wall "
            "time counts, their CPU time and memory are unknown."
        )
    starts = {i for i, row in enumerate(everything) if row.system is None}
    table = Table(
        title="Costs",
        caption="Wall time, CPU time and peak memory of this run's jobs (Snakemake benchmarks), "
        "per stage, per system and in total.",
        label="tab:costs",
        header=header,
        rows=body,
        align="llrrrrr",
        notes=notes,
        rules_before=starts,
    )
    csv_header = ["stage", "system", "jobs", "wall_s", "cpu_s", "max_rss_mb", "wall_share_pct", "unmeasured_jobs"]
    csv_rows = [
        [row.stage, row.system, len(row.jobs), row.wall, row.cpu, row.max_rss, share(row), row.unmeasured]
        for row in everything
    ]
    return write_table(prefix, table, csv_header, csv_rows)
