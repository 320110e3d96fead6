"""The paper's tables of numbers: Tables 2 and 3 (data statistics), 4 and 5 (scores of the
systems on the test sets, Table 5 beside published rows), 7 (GEC precision/recall/F0.5 and cost).

Table 4 significance: with ``significance: {reference: SYSTEM, alpha: 0.05}`` in the spec
and the bootstrap results of its test sets, every score whose difference from the reference
system's score on that test set has a two-sided paired-bootstrap p-value below ``alpha`` is
marked "‡" (the CSV adds ``p_{dataset}`` columns).

The vs-paper companions of Tables 4, 5 and 7 (:mod:`writing_alpaca.paper`) and the costs
table (:mod:`writing_alpaca.costs`) build on the rows read here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import WritingAlpacaError, located
from .inputs import (
    METRIC_COLUMN,
    Context,
    PublishedRow,
    RunKey,
    headline_score,
    load_bootstrap,
    load_mixture_counts,
    load_published,
    load_runs,
    load_test_sets,
    load_train_metrics,
    mean,
    mixture_of_path,
    number_field,
    ordered_datasets,
    proposed_edits,
    score_prf,
    spec_list,
    spec_str,
    task_rank,
)
from .writers import (
    DAGGER,
    DASH,
    DOUBLE_DAGGER,
    INCOMPLETE,
    Cell,
    Table,
    best_marks,
    fmt,
    fmt_count,
    fmt_hours,
    fmt_int,
    write_table,
)

LOG = logging.getLogger(__name__)

#: what the bold of a table means (:func:`writing_alpaca.report.writers.best_marks`)
BOLD_NOTE = "Best per column in bold (none when tied)."


# ======================================================================================
# Tables 4 and 5: scores of systems on the ten test sets
# ======================================================================================


@dataclass
class ScoreRow:
    label: str
    values: list[float | None]
    published: bool = False
    system: str | None = None
    citation: str | None = None
    # Table 4's significance test: p-value per dataset against the reference system (None: not tested)
    p_values: list[float | None] | None = None
    marks: list[str] | None = None  # suffix per dataset value ("‡" when significant)


def score_table(
    title: str,
    caption: str,
    label: str,
    datasets: Sequence[str],
    rows: Sequence[ScoreRow],
    ctx: Context,
    extra_notes: Sequence[str] = (),
    average: bool = True,
) -> tuple[Table, list[str], list[list[Any]]]:
    """Rows x datasets grouped by task, with Avg. (unless ``average`` is false: Table 5 has
    none in the paper) and the column best in bold."""
    n = len(datasets)
    avgs: list[float | None] = []
    complete: list[bool] = []
    for row in rows:
        present = [v for v in row.values if v is not None]
        avgs.append(mean(present))
        complete.append(len(present) == n)
    bold_cols = [best_marks([row.values[j] for row in rows]) for j in range(n)]
    bold_avg = best_marks(avgs, eligible=complete)

    header = (
        ["Model"]
        + [
            f"{ctx.dataset_label(d)} ({METRIC_COLUMN.get(ctx.dataset_metric(d), ctx.dataset_metric(d))})"
            for d in datasets
        ]
        + (["Avg."] if average else [])
    )
    groups: list[tuple[str, int]] = [("", 1)]
    for d in datasets:
        task = ctx.task_label(ctx.dataset_task(d))
        if groups[-1][0] == task and len(groups) > 1:
            groups[-1] = (task, groups[-1][1] + 1)
        else:
            groups.append((task, 1))
    if average:
        groups.append(("", 1))

    body: list[list[Cell]] = []
    any_incomplete = False
    for i, row in enumerate(rows):
        name = row.label + (DAGGER if row.published else "")
        suffixes = row.marks or [""] * n
        cells = [Cell(name)] + [
            Cell(fmt(v) + (suffixes[j] if v is not None else ""), bold_cols[j][i]) for j, v in enumerate(row.values)
        ]
        if average:
            avg_text = fmt(avgs[i])
            if avgs[i] is not None and not complete[i]:
                avg_text += INCOMPLETE
                any_incomplete = True
            cells.append(Cell(avg_text, bold_avg[i]))
        body.append(cells)

    notes = list(extra_notes)
    if any_incomplete:
        notes.append(f"{INCOMPLETE} Avg. over the available datasets only (– = no result).")
    group_text = "; ".join(
        f"{ctx.task_label(t)}: {', '.join(ctx.dataset_label(d) for d in datasets if ctx.dataset_task(d) == t)}"
        for t in dict.fromkeys(ctx.dataset_task(d) for d in datasets)
    )
    best_text = f"Avg. = mean over the {n} datasets; {BOLD_NOTE.lower()}" if average else BOLD_NOTE
    table = Table(
        title=title,
        caption=f"{caption} Columns by task ({group_text}). {best_text}",
        label=label,
        header=header,
        rows=body,
        align="l" + "r" * (len(header) - 1),
        groups=groups,
        notes=notes,
        wide=n > 6,
    )
    csv_header = ["model", "system", "source", "citation"] + list(datasets) + (["avg", "avg_n"] if average else [])
    csv_rows = [
        [row.label, row.system, "published" if row.published else "this run", row.citation]
        + list(row.values)
        + ([avgs[i], sum(v is not None for v in row.values)] if average else [])
        for i, row in enumerate(rows)
    ]
    if any(row.p_values is not None for row in rows):
        csv_header += [f"p_{d}" for d in datasets]
        for csv_row, row in zip(csv_rows, rows, strict=True):
            csv_row += list(row.p_values) if row.p_values is not None else [None] * n
    return table, csv_header, csv_rows


def system_score_rows(
    systems: Sequence[str], decoding: str, datasets: Sequence[str], score_paths: Sequence[str | Path], ctx: Context
) -> list[ScoreRow]:
    runs = load_runs(score_paths, ".json")
    wanted = {RunKey(s, decoding, d) for s in systems for d in datasets}
    for key, (path, _) in runs.items():
        if key not in wanted:
            LOG.info("ignoring %s: %s/%s/%s is not in this table", path, key.system, key.decoding, key.dataset)
    rows = []
    for system in systems:
        values = []
        for d in datasets:
            hit = runs.get(RunKey(system, decoding, d))
            values.append(headline_score(*hit) if hit else None)
        rows.append(ScoreRow(ctx.system_label(system), values, system=system))
    return rows


@dataclass(frozen=True)
class Significance:
    """Table 4's significance marks: every system against ``reference`` (paired bootstrap)."""

    reference: str
    alpha: float
    samples: int | None
    tested: list[str]  # datasets with a bootstrap result

    def note(self, ctx: Context) -> str:
        n = f"{self.samples:,} samples, " if self.samples else ""
        return (
            f"{DOUBLE_DAGGER} Significantly different from {ctx.system_label(self.reference)} on that test set "
            f"(paired bootstrap, {n}two-sided p < {self.alpha:g})."
        )


def significance_spec(spec: Mapping[str, Any], systems: Sequence[str]) -> tuple[str, float] | None:
    """``(reference, alpha)`` of a table's ``significance`` entry, or ``None`` when it has none."""
    sig = spec.get("significance")
    if sig is None:
        return None
    if not isinstance(sig, Mapping) or not isinstance(sig.get("reference"), str):
        raise WritingAlpacaError(f"table4: --spec 'significance' needs a 'reference' system, got {sig!r}")
    reference = sig["reference"]
    if reference not in systems:
        raise WritingAlpacaError(f"table4: significance reference {reference!r} is not one of the table's systems")
    alpha = sig.get("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise WritingAlpacaError(f"table4: significance alpha must be in (0, 1), got {alpha!r}")
    return reference, float(alpha)


def apply_significance(
    rows: Sequence[ScoreRow],
    datasets: Sequence[str],
    reference: str,
    alpha: float,
    bootstrap: Mapping[str, tuple[Path, dict[str, Any]]],
) -> Significance:
    """Set each row's p-values against ``reference`` and mark the significant ones (in place)."""
    from ..bootstrap import pair_result

    samples: set[int] = set()
    for row in rows:
        row.p_values = [None] * len(datasets)
        row.marks = [""] * len(datasets)
        if row.system == reference:
            continue
        for j, d in enumerate(datasets):
            if d not in bootstrap or row.values[j] is None:
                continue
            path, obj = bootstrap[d]
            pair = pair_result(obj, str(row.system), reference)
            if pair is None:
                raise located(path, None, f"has no comparison of {row.system!r} with {reference!r}")
            p = number_field(path, pair, "p_value")
            row.p_values[j] = p
            row.marks[j] = DOUBLE_DAGGER if p is not None and p < alpha else ""
            if isinstance(obj.get("samples"), int):
                samples.add(obj["samples"])
    tested = [d for d in datasets if d in bootstrap]
    return Significance(reference, alpha, samples.pop() if len(samples) == 1 else None, tested)


def render_table4(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    prefix: str | Path,
    bootstrap: Sequence[str | Path] = (),
) -> list[Path]:
    """Table 4; with a ``significance`` entry in the spec and ``analyse bootstrap`` results,
    scores significantly different from the reference system's are marked "‡"."""
    systems = spec_list(spec, "systems", "table4")
    datasets = ordered_datasets(spec_list(spec, "test_sets", "table4"), ctx)
    decoding = spec_str(spec, "decoding", "table4")
    rows = system_score_rows(systems, decoding, datasets, scores, ctx)
    notes = []
    sig = significance_spec(spec, systems)
    if sig is not None:
        results = load_bootstrap(bootstrap, decoding)
        if results:
            marks = apply_significance(rows, datasets, sig[0], sig[1], results)
            notes.append(marks.note(ctx))
            untested = [ctx.dataset_label(d) for d in datasets if d not in marks.tested]
            if untested:
                notes.append(f"No significance test for {', '.join(untested)}.")
        else:
            LOG.warning("table4: the spec asks for significance marks but no bootstrap results were given")
    elif bootstrap:
        LOG.info("table4: bootstrap results given but the spec has no 'significance' entry; not marking")
    table, header, csv_rows = score_table(
        "Table 4",
        f"Results of the systems on the writing-assistance benchmark ({decoding} decoding).",
        "tab:main-results",
        datasets,
        rows,
        ctx,
        extra_notes=notes,
    )
    return write_table(prefix, table, header, csv_rows)


# --------------------------------------------------------------------------------------
# Published rows of Table 5
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# Table 5: beside the published rows
# --------------------------------------------------------------------------------------


def render_table5(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    prefix: str | Path,
    published_path: str | Path | None = None,
) -> list[Path]:
    systems = spec_list(spec, "systems", "table5")
    datasets = ordered_datasets(spec_list(spec, "test_sets", "table5"), ctx)
    decoding = spec_str(spec, "decoding", "table5")
    published_path = published_path or spec.get("published")
    if not published_path:
        raise WritingAlpacaError("table5: give --published or 'published' in --spec")
    source, published = load_published(published_path)
    if not any(v is not None for p in published for v in p.values.values()):
        LOG.warning(
            "%s: every published value is null; Table 5's published rows will show only '%s'", published_path, DASH
        )

    def published_row(p: PublishedRow) -> ScoreRow:
        return ScoreRow(p.label, [p.values.get(d) for d in datasets], published=True, citation=p.cited(datasets, ctx))

    before = [published_row(p) for p in published if not p.after_ours]
    after = [published_row(p) for p in published if p.after_ours]
    ours = system_score_rows(systems, decoding, datasets, scores, ctx)
    own = [f"{p.label}: {p.cited(datasets, ctx)}" for p in published if p.cited(datasets, ctx) != source]
    citations = f" Row sources: {'; '.join(own)}." if own else ""
    # The paper's layout: the other LLMs, ours, then the previous SOTA; no average column.
    table, header, csv_rows = score_table(
        "Table 5",
        "Comparison with other LLMs and the previous state of the art.",
        "tab:comparison",
        datasets,
        before + ours + after,
        ctx,
        extra_notes=[f"{DAGGER} Published numbers ({source}), not re-run here; – = not available.{citations}"],
        average=False,
    )
    table.rules_before = {i for i in (len(before), len(before) + len(ours)) if 0 < i < len(table.rows)}
    return write_table(prefix, table, header, csv_rows)


# ======================================================================================
# Table 7: GEC precision/recall/F0.5 and cost
# ======================================================================================


@dataclass
class SystemCostRow:
    """One system of Table 7 (and its vs-paper table and the cost-vs-quality figure).

    ``prf``: P/R/F0.5 per dataset, P ``None`` where the system proposed no edit (undefined);
    ``edits``: the edits it proposed there (``tp + fp``, ``None``: not in the score file).
    Training cost: ``gpu_hours``, ``gpus`` and ``wall_seconds`` of its ``train_metrics.json``;
    a run on CPU (:attr:`on_cpu`) has 0 GPU-hours and is measured in :attr:`cpu_hours`."""

    system: str
    label: str
    prf: dict[str, tuple[float | None, float | None, float | None]]
    gpu_hours: float | None
    speed: float | None
    train_examples: int | None = None  # Table 7's #Data
    gpus: int | None = None
    wall_seconds: float | None = None
    edits: dict[str, int | None] = field(default_factory=dict)

    @property
    def on_cpu(self) -> bool:
        """Trained on CPU: ``gpus == 0`` (older metrics without ``gpus``: 0 GPU-hours in a
        measured wall time)."""
        if self.gpus is not None:
            return self.gpus == 0
        return self.gpu_hours == 0 and bool(self.wall_seconds)

    @property
    def cpu_hours(self) -> float | None:
        """Wall-clock hours of a CPU run's training (``wall_seconds / 3600``); ``None`` for a GPU run."""
        return self.wall_seconds / 3600 if self.on_cpu and self.wall_seconds is not None else None

    @property
    def train_hours(self) -> float | None:
        """The training cost in its own unit: CPU hours of a CPU run, else GPU-hours."""
        return self.cpu_hours if self.on_cpu else self.gpu_hours

    @property
    def f05_mean(self) -> float | None:
        fs = [v[2] for v in self.prf.values()]
        return mean([f for f in fs if f is not None]) if fs and all(f is not None for f in fs) else None


CPU_MARK = " (CPU)"  # a CPU run's cost among GPU runs: its CPU hours
NO_EDITS_NOTE = "P –: no edit proposed, so precision is undefined (the scorers' convention would print 100.00)."


@dataclass(frozen=True)
class TrainingCost:
    """How a table or figure shows the systems' training cost.

    A run trained on CPU has 0 GPU-hours, which says nothing: it is shown in CPU hours (its
    training's wall-clock hours) instead.  ``unit`` is ``"gpu"`` (every trained system on GPUs:
    GPU-hours), ``"cpu"`` (every one on CPU, the demo's: the column is "CPU hours") or
    ``"mixed"`` (GPU-hours, each CPU run's CPU hours marked "(CPU)")."""

    unit: str

    @property
    def header(self) -> str:
        return "CPU hours" if self.unit == "cpu" else "GPU hours"

    @property
    def axis_label(self) -> str:
        return {
            "gpu": "Training GPU-hours",
            "cpu": "Training CPU hours (wall clock, no GPU)",
            "mixed": "Training GPU-hours (CPU runs: CPU hours)",
        }[self.unit]

    @property
    def note(self) -> str:
        if self.unit == "cpu":
            return "CPU hours: training wall-clock hours on CPU (no system here trained on a GPU; – = not trained)."
        if self.unit == "mixed":
            return (
                f"GPU hours: training (– = not trained);{CPU_MARK}: trained on CPU, its wall-clock CPU hours "
                "(0 GPU-hours)."
            )
        return "GPU hours: training (– = not trained)."

    def cell(self, row: SystemCostRow) -> str:
        if row.on_cpu:
            return fmt_hours(row.cpu_hours) + (CPU_MARK if self.unit == "mixed" and row.cpu_hours is not None else "")
        return fmt_hours(row.gpu_hours)


def training_cost(rows: Sequence[SystemCostRow]) -> TrainingCost:
    trained = [r for r in rows if r.gpu_hours is not None or r.on_cpu]
    on_cpu = [r for r in trained if r.on_cpu]
    if trained and len(on_cpu) == len(trained):
        return TrainingCost("cpu")
    return TrainingCost("mixed" if on_cpu else "gpu")


def undefined_precision(rows: Sequence[SystemCostRow]) -> bool:
    """Whether any system proposed no edit on some set (its precision shown "–")."""
    return any(r.edits.get(d) == 0 for r in rows for d in r.prf)


def decoding_settings(
    decoding: str, decodings: Mapping[str, Any], metrics: Sequence[tuple[Path, Mapping[str, Any]]]
) -> str:
    """The decoding settings as "beam K, batch B", from the decode metrics (or the config's decodings block)."""
    beams = {m.get("num_beams") for _, m in metrics if m.get("num_beams") is not None}
    batches = {m.get("batch_size") for _, m in metrics if m.get("batch_size") is not None}
    entry = decodings.get(decoding) if isinstance(decodings.get(decoding), Mapping) else {}
    if not beams and entry.get("num_beams") is not None:
        beams = {entry["num_beams"]}
    if not batches and entry.get("batch_size") is not None:
        batches = {entry["batch_size"]}

    def one(values: set[Any]) -> str:
        return DASH if not values else "/".join(str(v) for v in sorted(values, key=str))

    return f"beam {one(beams)}, batch {one(batches)}"


def system_cost_rows(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    decode_metrics: Sequence[str | Path],
    train_metrics: Sequence[str | Path],
    artefact: str,
) -> tuple[list[SystemCostRow], list[str], str, list[tuple[Path, dict[str, Any]]]]:
    systems = spec_list(spec, "systems", artefact)
    datasets = spec_list(spec, "test_sets", artefact)
    decoding = spec_str(spec, "decoding", artefact)
    score_runs = load_runs(scores, ".json")
    speed_runs = load_runs(decode_metrics, ".metrics.json")
    trained = load_train_metrics(train_metrics)
    used_metrics: list[tuple[Path, dict[str, Any]]] = []
    rows = []
    for system in systems:
        per_dataset = {}
        edits: dict[str, int | None] = {}
        speeds = []
        for d in datasets:
            hit = score_runs.get(RunKey(system, decoding, d))
            per_dataset[d] = score_prf(*hit) if hit else (None, None, None)
            edits[d] = proposed_edits(*hit) if hit else None
            m = speed_runs.get(RunKey(system, decoding, d))
            if m:
                used_metrics.append(m)
                speed = number_field(m[0], m[1], "instances_per_second", required=False)
                if speed is None:
                    n = number_field(m[0], m[1], "instances")
                    secs = number_field(m[0], m[1], "seconds")
                    speed = n / secs if n is not None and secs else None
                if speed is not None:
                    speeds.append(speed)
        t = trained.get(system)
        gpu_hours = number_field(t[0], t[1], "gpu_hours") if t else None
        # the examples the trainer read (older metrics: the recipe's `examples`, the baselines' `pairs`)
        n_train = number_field(t[0], t[1], "train_examples", "examples", "pairs", required=False) if t else None
        gpus = number_field(t[0], t[1], "gpus", required=False) if t else None
        wall = number_field(t[0], t[1], "wall_seconds", required=False) if t else None
        speed = mean(speeds) if len(speeds) == len(datasets) else None
        rows.append(
            SystemCostRow(
                system,
                ctx.system_label(system),
                per_dataset,
                gpu_hours,
                speed,
                None if n_train is None else int(n_train),
                None if gpus is None else int(gpus),
                wall,
                edits,
            )
        )
    return rows, datasets, decoding, used_metrics


def render_table7(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    decode_metrics: Sequence[str | Path],
    train_metrics: Sequence[str | Path],
    prefix: str | Path,
    decodings: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Table 7 as the paper's: Model, #Data (training examples), P/R/F0.5 per GEC test set (the
    paper's abbreviations), training GPU hours (CPU hours for runs trained on CPU:
    :class:`TrainingCost`) and inference instances/second.  A precision that is undefined (no
    edit proposed) is "–" and never bold."""
    rows, datasets, decoding, used = system_cost_rows(spec, ctx, scores, decode_metrics, train_metrics, "table7")
    header = ["Model", "#Data"]
    groups: list[tuple[str, int]] = [("", 1), ("", 1)]
    for d in datasets:
        header += ["P", "R", "F0.5"]
        groups.append((ctx.dataset_field(d, "abbrev"), 3))
    cost = training_cost(rows)
    header += [cost.header, "Instances/second"]
    groups += [("Training Speed", 1), ("Inference Speed", 1)]
    columns: list[list[float | None]] = []
    for d in datasets:
        for k in range(3):
            columns.append([row.prf[d][k] for row in rows])
    marks = [best_marks(col) for col in columns]
    body = []
    for i, row in enumerate(rows):
        cells = [Cell(row.label), Cell(fmt_count(row.train_examples))]
        cells += [Cell(fmt(col[i]), marks[j][i]) for j, col in enumerate(columns)]
        cells += [Cell(cost.cell(row)), Cell(fmt(row.speed))]
        body.append(cells)
    settings = decoding_settings(decoding, decodings or {}, used)
    names = " and ".join(ctx.dataset_label(d) for d in datasets)
    table = Table(
        title="Table 7",
        caption=(
            f"Performance and resource cost of the systems trained for the grammaticality task. #Data: training "
            f"examples (– = not trained). P/R/F0.5 on {names} ({decoding} decoding: {settings}); "
            f"{BOLD_NOTE.lower()} {cost.note} Instances/second: inference throughput in test "
            f"instances per second, mean over {names}."
        ),
        label="tab:gec-cost",
        header=header,
        rows=body,
        align="l" + "r" * (len(header) - 1),
        groups=groups,
        notes=[NO_EDITS_NOTE] if undefined_precision(rows) else [],
        wide=True,
    )
    # CSV: an undefined precision is an empty cell, as a missing one; `{d}_edits` (0: none proposed)
    # tells them apart; `gpus` and `cpu_hours` (CPU runs only) go with `gpu_hours`
    csv_header = ["model", "system", "train_examples"]
    for d in datasets:
        csv_header += [f"{d}_precision", f"{d}_recall", f"{d}_f0.5", f"{d}_edits"]
    csv_header += ["gpu_hours", "gpus", "cpu_hours", "instances_per_second"]
    csv_rows = [
        [row.label, row.system, row.train_examples]
        + [v for d in datasets for v in (*row.prf[d], row.edits.get(d))]
        + [row.gpu_hours, row.gpus, row.cpu_hours, row.speed]
        for row in rows
    ]
    return write_table(prefix, table, csv_header, csv_rows)


# ======================================================================================
# Tables 2 and 3: data statistics
# ======================================================================================


def render_table2(spec: Mapping[str, Any], ctx: Context, data: Sequence[str | Path], prefix: str | Path) -> list[Path]:
    """Table 2 as the paper's: Task, Dataset (the corpus, ``test_sets.<n>.dataset``), Abbrev.
    (``test_sets.<n>.abbrev``), Metric (F0.5 / GLEU / SARI) and Size (test instances this run
    prepared); both names fall back on the set's ``title``."""
    counts: dict[str, int] = {}
    tasks: dict[str, str] = {}
    for dataset, (_, records) in load_test_sets(data).items():
        counts[dataset] = len(records)
        if records and isinstance(records[0].get("task"), str):
            tasks[dataset] = records[0]["task"]
    listed = spec_list(spec, "test_sets", "table2", required=False)
    datasets = listed + [d for d in counts if d not in listed]
    datasets = sorted(
        datasets, key=lambda d: task_rank(ctx.dataset_task(d) if d in ctx.test_sets else tasks.get(d, ""))
    )
    body, csv_rows = [], []
    for d in datasets:
        task = ctx.dataset_task(d) if d in ctx.test_sets else tasks.get(d, "")
        metric = ctx.dataset_metric(d) if d in ctx.test_sets else ""
        corpus, abbrev = ctx.dataset_field(d, "dataset"), ctx.dataset_field(d, "abbrev")
        body.append(
            [
                Cell(ctx.task_label(task) if task else DASH),
                Cell(corpus),
                Cell(abbrev),
                Cell(METRIC_COLUMN.get(metric, metric or DASH)),
                Cell(fmt_int(counts.get(d))),
            ]
        )
        csv_rows.append([task, d, corpus, abbrev, metric, counts.get(d)])
    table = Table(
        title="Table 2",
        caption=(
            "Tasks, datasets, abbreviations used, metrics used, and test size "
            "(number of test instances, as prepared by this run) of the evaluation benchmark."
        ),
        label="tab:test-sets",
        header=["Task", "Dataset", "Abbrev.", "Metric", "Size"],
        rows=body,
        align="llllr",
    )
    return write_table(prefix, table, ["task", "dataset", "corpus", "abbrev", "metric", "size"], csv_rows)


def render_table3(
    spec: Mapping[str, Any],
    ctx: Context,
    instructions: str | Path,
    prefix: str | Path,
    train_sets: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Table 3 as the paper's: Task, Dataset, Size, General (the generic instruction data) first,
    then the writing tasks in the paper's order (a task's sets in the mixture's order).

    Dataset names are ``train_sets.<n>.title`` (``--train-sets``, or the spec's ``train_sets``
    that the workflow adds), else the train set's name."""
    path, counts = load_mixture_counts(instructions)
    mixture = spec.get("mixture") or counts.get("mixture") or mixture_of_path(path)
    if counts.get("mixture") and spec.get("mixture") and counts["mixture"] != spec["mixture"]:
        raise located(
            path, None, f"counts are of mixture {counts['mixture']!r}, the table asks for {spec['mixture']!r}"
        )
    entries: list[tuple[str, str, int]] = []  # (task, data, n)
    trainsets = counts.get("trainsets")
    if isinstance(trainsets, dict) and trainsets:
        for name, entry in trainsets.items():
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("task"), str)
                or not isinstance(entry.get("n"), int)
            ):
                raise located(path, None, f"trainsets.{name}: expected {{task, n}}")
            entries.append((entry["task"], name, entry["n"]))
    else:
        for task, n in counts["tasks"].items():
            if not isinstance(n, int):
                raise located(path, None, f"tasks.{task}: expected an integer count")
            entries.append((task, DASH, n))
    entries.sort(key=lambda e: (task_rank(e[0]), e[0]))  # stable: a task's sets keep the mixture's order
    given = train_sets or spec.get("train_sets") or {}
    train_sets = given if isinstance(given, Mapping) else {}

    def entry_of(name: str, key: str) -> str | None:
        entry = train_sets.get(name)
        value = entry.get(key) if isinstance(entry, Mapping) else None
        return str(value) if value else None

    def title_of(name: str) -> str:
        return DASH if name == DASH else entry_of(name, "title") or name

    body = [[Cell(ctx.task_label(t)), Cell(title_of(d)), Cell(fmt_int(n))] for t, d, n in entries]
    total = sum(n for _, _, n in entries)
    n_generic = sum(1 for t, _, _ in entries if t == "generic")
    table = Table(
        title="Table 3",
        caption=(
            f"The statistics of the training data ({mixture} mixture, as prepared by this run): "
            f"number of instruction examples per task and dataset, {total:,} in all."
        ),
        label="tab:train-data",
        header=["Task", "Dataset", "Size"],
        rows=body,
        align="llr",
        rules_before={n_generic} if 0 < n_generic < len(entries) else set(),  # the paper's dashed rule
    )
    csv_rows: list[list[Any]] = [
        [t, d if d != DASH else "", title_of(d) if d != DASH else "", entry_of(d, "source"), n] for t, d, n in entries
    ]
    csv_rows.append(["total", "", "", None, total])
    return write_table(prefix, table, ["task", "trainset", "dataset", "source", "size"], csv_rows)
