"""The paper's figures: Figure 1 (ERRANT edits per action of each system, with its table of
entity-touching corrections) and the cost-vs-quality figure (F0.5 against training GPU-hours,
CPU hours for runs trained on CPU, and inference speed of the Table-7 systems); and each trained system's training curves (loss
and learning rate against the step, from the scalars its trainer logged).

Each is written as ``P.png``, ``P.pdf`` and ``P.csv`` (the plotted numbers); Figure 1 also as
``P.md``/``P.tex`` (its entity table).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import located
from ..training import events
from .inputs import Context, RunKey, load_json_object, load_runs, number_field, spec_list, spec_str
from .tables import SystemCostRow, system_cost_rows, training_cost
from .writers import DASH, Cell, Table, fmt, fmt_int, out_path, save_figure, to_csv, write_table, write_text_atomic

ACTIONS_ORDER = ("M", "R", "U")  # ERRANT: missing (insert), replace, unnecessary (delete)
ACTION_LABELS = {"M": "Insert", "R": "Replace", "U": "Delete"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9})
    return plt


def figure1_plot(
    data: Mapping[tuple[str, str], Mapping[str, Any] | None],
    systems: Sequence[str],
    labels: Sequence[str],
    datasets: Sequence[str],
    ctx: Context,
) -> Any:
    """Figure 1 as the paper's: the edit actions (Insert, Replace, Delete) on the x-axis, one bar
    per model in each (grouped), y = number of edits; one panel per test set, one legend."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    n = max(len(systems), 1)
    width = 0.8 / n
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(max(3.6, 0.36 * n * len(ACTIONS_ORDER) + 1.2) * len(datasets), 3.4), squeeze=False
    )
    for ax, d in zip(axes[0], datasets, strict=True):
        for k, (s, label) in enumerate(zip(systems, labels, strict=True)):
            v = data[s, d]
            xs = [a + (k - (n - 1) / 2) * width for a in range(len(ACTIONS_ORDER))]
            ys = [v[action] if v else 0 for action in ACTIONS_ORDER]
            bars = ax.bar(xs, ys, width, label=label, color=palette[k % len(palette)])
            for bar, action in zip(bars, ACTIONS_ORDER, strict=True):
                ax.annotate(
                    f"{v[action]:,}" if v else DASH,
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=5 if n > 3 else 6,
                    xytext=(0, 1),
                    textcoords="offset points",
                )
        ax.set_title(ctx.dataset_label(d))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(lambda y, _pos: f"{y:,.0f}")
        ax.set_xticks(range(len(ACTIONS_ORDER)))
        ax.set_xticklabels([ACTION_LABELS[a] for a in ACTIONS_ORDER])
        ax.set_ylabel("# Edits")
        ax.spines[["top", "right"]].set_visible(False)
    handles, names = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            names,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(len(handles), 5),
            frameon=False,
            fontsize=8,
        )
    fig.tight_layout()
    return fig


def render_figure1(
    spec: Mapping[str, Any], ctx: Context, edits: Sequence[str | Path], prefix: str | Path
) -> list[Path]:
    """Figure 1: insertions / replacements / deletions of each system (:func:`figure1_plot`, one
    panel per GEC test set), plus the table of corrections touching named entities (``P.md``/``P.tex``)."""
    systems = spec_list(spec, "systems", "figure1")
    datasets = spec_list(spec, "test_sets", "figure1")
    decoding = spec_str(spec, "decoding", "figure1")
    runs = load_runs(edits, ".edits.json")
    data: dict[tuple[str, str], dict[str, Any] | None] = {}
    for s in systems:
        for d in datasets:
            hit = runs.get(RunKey(s, decoding, d))
            if hit is None:
                data[s, d] = None
                continue
            path, obj = hit
            e, ent = obj.get("edits"), obj.get("entity")
            if not isinstance(e, dict) or not isinstance(ent, dict):
                raise located(path, None, "not an `analyse edits` result (needs 'edits' and 'entity')")
            data[s, d] = {
                "M": int(number_field(path, e, "M") or 0),
                "R": int(number_field(path, e, "R") or 0),
                "U": int(number_field(path, e, "U") or 0),
                "total": int(number_field(path, e, "total") or 0),
                "corrections": int(number_field(path, ent, "corrections") or 0),
                "touching": int(number_field(path, ent, "touching_entity") or 0),
                "share": number_field(path, ent, "share", required=False),
                "named": int(number_field(path, ent, "touching_named_entity") or 0),
                "named_share": number_field(path, ent, "named_share", required=False),
            }

    plt = _pyplot()
    labels = [ctx.system_label(s) for s in systems]
    fig = figure1_plot(data, systems, labels, datasets, ctx)
    paths = save_figure(fig, prefix)
    plt.close(fig)

    csv_rows = []
    for s, label in zip(systems, labels, strict=True):
        for d in datasets:
            v = data[s, d]
            csv_rows.append(
                [label, s, d, decoding]
                + (
                    [v["M"], v["R"], v["U"], v["total"], v["corrections"], v["touching"], v["share"]]
                    + [v["named"], v["named_share"]]
                    if v
                    else [None] * 9
                )
            )
    csv_header = [
        "model",
        "system",
        "dataset",
        "decoding",
        "insert",
        "replace",
        "delete",
        "total",
        "corrections",
        "touching_entity",
        "entity_share",
        "touching_named_entity",
        "named_entity_share",
    ]

    header = ["Model"]
    groups: list[tuple[str, int]] = [("", 1)]
    for d in datasets:
        header += ["Ins.", "Repl.", "Del.", "Entities (%)", "Named (%)"]
        groups.append((ctx.dataset_label(d), 5))
    body = []
    for s, label in zip(systems, labels, strict=True):
        cells = [Cell(label)]
        for d in datasets:
            v = data[s, d]
            if v is None:
                cells += [Cell(DASH)] * 5
            else:
                cells += [
                    Cell(fmt_int(v["M"])),
                    Cell(fmt_int(v["R"])),
                    Cell(fmt_int(v["U"])),
                    Cell(f"{fmt(v['share'])} ({v['touching']:,}/{v['corrections']:,})"),
                    Cell(f"{fmt(v['named_share'])} ({v['named']:,}/{v['corrections']:,})"),
                ]
        body.append(cells)
    table = Table(
        title="Figure 1 (data)",
        caption=(
            f"ERRANT edits of each system ({decoding} decoding): insertions (M), replacements (R), deletions (U), "
            "and the share of all corrections whose edited span touches a spaCy entity (source or output side): "
            "Entities = any label, Named = PERSON, ORG, GPE, LOC, NORP, FAC, PRODUCT, EVENT, WORK_OF_ART, LAW, "
            "LANGUAGE (touching/all in brackets)."
        ),
        label="tab:edit-types",
        header=header,
        rows=body,
        align="l" + "r" * (len(header) - 1),
        groups=groups,
        wide=True,
    )
    return paths + write_table(prefix, table, csv_header, csv_rows)


def render_cost_quality(
    spec: Mapping[str, Any],
    ctx: Context,
    scores: Sequence[str | Path],
    decode_metrics: Sequence[str | Path],
    train_metrics: Sequence[str | Path],
    prefix: str | Path,
) -> list[Path]:
    """Cost vs quality: mean F0.5 over the GEC sets against the training cost (left) and
    inference instances/s (right), one point per Table-7 system.

    The training cost is in GPU-hours; a run trained on CPU (``gpus: 0``, the demo's) has 0
    GPU-hours, which would stack every CPU run at x = 0: it is plotted at its CPU hours (its
    training's wall-clock hours) instead (:class:`writing_alpaca.report.tables.TrainingCost`).
    With only CPU runs the axis is "Training CPU hours"; with both kinds it stays GPU-hours,
    says so, and each CPU run's point is annotated "CPU".  The CSV has both (``gpu_hours``,
    ``cpu_hours``) and what was plotted (``training_hours``, ``training_unit``).

    Systems are told apart by colour *and* marker shape (hollow markers, so that systems at the
    same point stay visible) and named in one legend below both panels -- no point labels,
    which would overlap where systems coincide."""
    rows, datasets, decoding, _ = system_cost_rows(spec, ctx, scores, decode_metrics, train_metrics, "cost_quality")
    cost = training_cost(rows)

    def x_of(r: SystemCostRow, attr: str) -> float | None:
        return r.train_hours if attr == "train_hours" else r.speed

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4))
    names = " & ".join(ctx.dataset_label(d) for d in datasets)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^vPX*<>"
    # same colour and marker in both panels; later systems drawn smaller so that coinciding ones show
    style = {
        r.system: dict(color=palette[i % len(palette)], marker=markers[i % len(markers)], s=max(90 - 14 * i, 24))
        for i, r in enumerate(rows)
    }
    handles = {}
    for ax, attr, title, xlabel in (
        (axes[0], "train_hours", "(a) Training cost", cost.axis_label),
        (axes[1], "speed", "(b) Inference speed", f"Test instances per second ({decoding})"),
    ):
        points = [r for r in rows if x_of(r, attr) is not None and r.f05_mean is not None]
        for r in points:
            st = style[r.system]
            handles[r.system] = ax.scatter(
                [x_of(r, attr)],
                [r.f05_mean],
                s=st["s"],
                marker=st["marker"],
                facecolors="none",
                edgecolors=st["color"],
                linewidths=1.4,
                label=r.label,
            )
            if attr == "train_hours" and cost.unit == "mixed" and r.on_cpu:
                ax.annotate(
                    "CPU",
                    (x_of(r, attr), r.f05_mean),
                    xytext=(5, 5),
                    textcoords="offset points",
                    fontsize=7,
                    color=st["color"],
                )
        xs = [x_of(r, attr) for r in points]
        if xs and min(xs) > 0 and max(xs) / min(xs) > 50:
            ax.set_xscale("log")
        elif xs and min(xs) >= 0:  # counts and rates: the axis starts at 0
            top = max(xs) or 1.0
            ax.set_xlim(-0.04 * top, 1.08 * top)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"F0.5 (mean of {names})")
        ax.spines[["top", "right"]].set_visible(False)
        if not points:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    if handles:
        ordered = [handles[r.system] for r in rows if r.system in handles]
        fig.legend(
            ordered,
            [h.get_label() for h in ordered],
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=len(ordered) if len(ordered) <= 4 else 3,
            frameon=False,
            fontsize=8,
        )
    fig.tight_layout()
    paths = save_figure(fig, prefix)
    plt.close(fig)
    csv_rows = [
        [
            r.label,
            r.system,
            r.f05_mean,
            r.gpu_hours,
            r.cpu_hours,
            r.train_hours,
            None if r.train_hours is None else ("cpu" if r.on_cpu else "gpu"),
            r.speed,
        ]
        for r in rows
    ]
    header = [
        "model",
        "system",
        "f0.5_mean",
        "gpu_hours",
        "cpu_hours",
        "training_hours",
        "training_unit",
        "instances_per_second",
    ]
    paths.append(write_text_atomic(out_path(prefix, "csv"), to_csv(header, csv_rows)))
    return paths


#: the series a training figure plots: its CSV column, the logged scalar
TRAINING_SERIES = (
    ("loss", events.LOSS),
    ("learning_rate", events.LEARNING_RATE),
    ("encoder_learning_rate", events.ENCODER_LEARNING_RATE),  # GECToR: 0 while the encoder is frozen
)


def render_training(
    ctx: Context, system: str, logs: str | Path, prefix: str | Path, train_metrics: str | Path | None = None
) -> list[Path]:
    """Training curves of one system: its loss (left) and learning rate (right) against the
    optimiser step, as its trainer logged them to TensorBoard (``results/logs/<system>/``, read
    by :func:`writing_alpaca.training.events.read_scalars`: a resumed run's points replace what an
    interrupted attempt logged after its checkpoint).  With ``train_metrics`` (the system directory
    or its ``train_metrics.json``) the logs must reach the step the system was trained to."""
    logs = Path(logs)
    scalars = events.read_scalars(logs)
    series = {name: scalars.get(tag, []) for name, tag in TRAINING_SERIES}
    if not series["loss"]:
        raise located(logs, None, f"no {TRAINING_SERIES[0][1]} scalars (found: {', '.join(sorted(scalars)) or 'none'})")
    last = max(step for points in scalars.values() for step, _ in points)
    if train_metrics is not None:
        path = Path(train_metrics)
        path = path / "train_metrics.json" if path.is_dir() else path
        steps = load_json_object(path).get("steps")
        if isinstance(steps, int) and steps != last:
            raise located(
                logs,
                None,
                f"logged up to step {last}, but {path} says the system trained {steps} steps "
                "(event files of another run?)",
            )
    label = ctx.system_label(system)

    plt = _pyplot()
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(8.0, 3.0))
    steps, values = zip(*series["loss"])
    ax_loss.plot(steps, values, linewidth=1.2)
    ax_loss.set_title("(a) Training loss")
    ax_loss.set_ylabel("Loss")
    encoder = series["encoder_learning_rate"]
    for points, name, style in (
        (series["learning_rate"], "tag heads" if encoder else "learning rate", "-"),
        (encoder, "encoder", "--"),
    ):
        if points:
            xs, ys = zip(*points)
            ax_lr.plot(xs, ys, style, linewidth=1.2, label=name)
    if encoder:
        ax_lr.legend(frameon=False, fontsize=8)
    if not series["learning_rate"]:
        ax_lr.text(0.5, 0.5, "no learning rate logged", ha="center", va="center", transform=ax_lr.transAxes)
    ax_lr.set_title("(b) Learning rate")
    ax_lr.set_ylabel("Learning rate")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    for ax in (ax_loss, ax_lr):
        ax.set_xlabel("Optimiser step")
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(f"{label}: {last:,} steps", fontsize=10)
    fig.tight_layout()
    paths = save_figure(fig, prefix)
    plt.close(fig)

    columns = [name for name, _ in TRAINING_SERIES if series[name]]
    by_step = {name: dict(series[name]) for name in columns}
    rows = [
        [step] + [format(by_step[name][step], ".6g") if step in by_step[name] else None for name in columns]
        for step in sorted({step for name in columns for step in by_step[name]})
    ]
    paths.append(write_text_atomic(out_path(prefix, "csv"), to_csv(["step", *columns], rows)))
    return paths
