"""Regression tests of the demo's uninformative tables (issue "A newcomer's first hour"):
ties are not bold, the precision of no edit is undefined, CPU runs are costed in CPU hours,
Table 6's caption reads."""

from __future__ import annotations

from pathlib import Path

from test_render import (
    COST_SPEC,
    T6_SPEC,
    check_latex_structure,
    cost_inputs,
    ctx,
    read_csv,
    table6_inputs,
    write_json,
)
from writing_alpaca import paper
from writing_alpaca.report import cases, figures, tables, writers

# --------------------------------------------------------------------------------------
# 1. Bold only a unique best
# --------------------------------------------------------------------------------------


def test_best_marks_bold_a_unique_best_only():
    assert writers.best_marks([10.26, 10.26, 10.26]) == [False, False, False]
    assert writers.best_marks([0.0, 0.0, None]) == [False, False, False]
    assert writers.best_marks([1.0, 2.0, 2.0]) == [False, False, False]  # a tie for best: none
    assert writers.best_marks([2.0, 1.0, 1.0]) == [True, False, False]  # a tie below the best is no matter
    assert writers.best_marks([50.001, 49.999]) == [False, False]  # tied as displayed (50.00)
    assert writers.best_marks([50.006, 49.999]) == [True, False]  # 50.01 > 50.00
    assert writers.best_marks([55.04, 55.01], digits=1) == [False, False]  # Table 5-style one decimal
    assert writers.best_marks([3.0, 3.0, 1.0], eligible=[True, False, True]) == [True, False, False]
    assert writers.best_marks([None, None]) == [False, False]


def demo_scores(root: Path) -> list[Path]:
    """The demo's: every system scores the same."""
    s = root / "results" / "scores"
    return [
        write_json(s / f"{system}/greedy/{d}.json", {"metric": m, "score": v})
        for system in ("a", "b", "c")
        for d, m, v in (
            ("conll14", "m2", 10.2631),
            ("jfleg", "gleu", 0.0),
            ("asset", "sari", 30.0 if system == "c" else 20.0),
        )
    ]


def test_table4_ties_are_not_bold(tmp_path):
    spec = {"systems": ["a", "b", "c"], "test_sets": ["conll14", "jfleg", "asset"], "decoding": "greedy"}
    tables.render_table4(spec, ctx(), demo_scores(tmp_path), tmp_path / "t4")
    md = (tmp_path / "t4.md").read_text(encoding="utf-8").splitlines()
    assert md[4] == "| Sys A | 10.26 | 0.00 | 20.00 | 10.09 |"
    assert md[5] == "| Sys_B & co | 10.26 | 0.00 | 20.00 | 10.09 |"
    assert md[6] == "| Sys C | 10.26 | 0.00 | **30.00** | **13.42** |"  # the unique best still is
    assert "best per column in bold (none when tied)" in md[0]
    tex = (tmp_path / "t4.tex").read_text(encoding="utf-8")
    assert tex.count("\\textbf{") == 2 and "\\textbf{30.00}" in tex and "\\textbf{10.26}" not in tex


def test_table5_a_published_row_tied_with_ours_is_not_bold(tmp_path):
    published = tmp_path / "published.yaml"
    published.write_text(
        "source: S\nrows:\n  - {label: Other, citation: C, values: {conll14: 10.26, asset: 25.0}}\n",
        encoding="utf-8",
    )
    spec = {"systems": ["a"], "test_sets": ["conll14", "asset"], "decoding": "greedy"}
    tables.render_table5(spec, ctx(), demo_scores(tmp_path), tmp_path / "t5", published)
    md = (tmp_path / "t5.md").read_text(encoding="utf-8").splitlines()
    assert md[4] == "| Other† | 10.26 | **25.00** |"
    assert md[5] == "| Sys A | 10.26 | 20.00 |"


# --------------------------------------------------------------------------------------
# 2. The precision of an empty edit set
# --------------------------------------------------------------------------------------


def no_edit_inputs(root: Path) -> dict[str, list[Path]]:
    """System a proposes no edit on either set (tp + fp == 0: the scorers print P = 100)."""
    i = cost_inputs(root)
    r = root / "results/scores/a/beam16"
    for d in ("conll14", "bea19_dev"):
        write_json(
            r / f"{d}.json",
            {"score": 0.0, "precision": 100.0, "recall": 0.0, "f0.5": 0.0, "tp": 0, "fp": 0, "fn": 7},
        )
    # b proposed edits (its precision counts)
    write_json(
        root / "results/scores/b/beam16/conll14.json",
        {"score": 55.0, "precision": 58.0, "recall": 45.0, "f0.5": 55.0, "tp": 5, "fp": 3, "fn": 6},
    )
    return i


def test_table7_precision_of_no_edit_is_undefined_and_never_bold(tmp_path):
    i = no_edit_inputs(tmp_path)
    tables.render_table7(COST_SPEC, ctx(), i["scores"], i["decode"], i["train"], tmp_path / "t7")
    md = (tmp_path / "t7.md").read_text(encoding="utf-8").splitlines()
    assert md[4] == "| Sys A | – | – | 0.00 | 0.00 | – | 0.00 | 0.00 | – | 3.00 |"
    assert (
        md[5]
        == "| Sys_B & co | 2.4M | **58.00** | **45.00** | **55.00** | **38.00** | **27.00** | **35.00** | 12.50 | 15.00 |"
    )
    assert any(line.startswith("P –: no edit proposed, so precision is undefined") for line in md)
    tex = (tmp_path / "t7.tex").read_text(encoding="utf-8")
    check_latex_structure(tex, 10)
    body = tex[tex.index("\\midrule") : tex.index("\\bottomrule")]
    assert "100.00" not in body and "\\textbf{--}" not in body
    rows = read_csv(tmp_path / "t7.csv")
    # CSV: the undefined precision is an empty cell; `_edits` = 0 tells it from a missing score
    assert (rows[0]["conll14_precision"], rows[0]["conll14_edits"], rows[0]["conll14_f0.5"]) == ("", "0", "0.0000")
    assert (rows[1]["conll14_precision"], rows[1]["conll14_edits"]) == ("58.0000", "8")
    assert rows[1]["bea19_dev_edits"] == ""  # no counts in that score file


def test_no_edit_note_only_when_some_precision_is_undefined(tmp_path):
    i = cost_inputs(tmp_path)
    tables.render_table7(COST_SPEC, ctx(), i["scores"], i["decode"], i["train"], tmp_path / "t7")
    assert "no edit proposed" not in (tmp_path / "t7.md").read_text(encoding="utf-8")


def test_table7_vs_paper_precision_of_no_edit(tmp_path):
    from test_paper import MINI_PAPER
    from test_paper import ctx as paper_ctx

    results = tmp_path / "paper_results.yaml"
    results.write_text(MINI_PAPER, encoding="utf-8")
    r = tmp_path / "results"
    scores = [
        write_json(
            r / f"scores/tiny/beam4/{d}.json",
            {"score": 0.0, "precision": 100.0, "recall": 0.0, "f0.5": 0.0, "tp": 0, "fp": 0, "fn": 3},
        )
        for d in ("conll14", "bea19_dev")
    ]
    train = write_json(
        r / "models/tiny/train_metrics.json", {"gpu_hours": 0.0, "gpus": 0, "wall_seconds": 90.0, "examples": 12}
    )
    spec = {"systems": ["tiny"], "test_sets": ["conll14", "bea19_dev"], "decoding": "beam4"}
    spec["paper_rows"] = {"tiny": "writing-alpaca-7b"}
    paper.render_table7_vs_paper(spec, paper_ctx(), scores, [], [train], results, tmp_path / "vp")
    md = (tmp_path / "vp.md").read_text(encoding="utf-8")
    assert "| Tiny | this run | 12 | – | 0.00 | 0.00 | – | 0.00 | 0.00 | 0.03 (CPU) | – |  |" in md
    assert "P –: no edit proposed" in md and "(CPU): trained on CPU (0 GPU-hours)" in md
    row = read_csv(tmp_path / "vp.csv")[0]
    assert row["conll14_precision_ours"] == "" and row["conll14_precision_diff"] == ""
    # a CPU run's cost is not differenced with the paper's GPU-hours
    assert row["gpu_hours_ours"] == "0.0000" and row["gpu_hours_diff"] == ""
    assert row["n_diff"] == "4"  # R and F0.5 of both sets


# --------------------------------------------------------------------------------------
# 3. CPU hours
# --------------------------------------------------------------------------------------


def test_fmt_hours():
    assert [writers.fmt_hours(v) for v in (12.5, 0.0, 0.01, 0.0049, 0.0031, 0.000031, None)] == [
        "12.50",
        "0.00",
        "0.01",
        "0.0049",
        "0.0031",
        "0.000031",
        "–",
    ]


def cpu_train(root: Path, **wall: float) -> list[Path]:
    return [
        write_json(
            root / f"results/models/{s}/train_metrics.json",
            {"gpu_hours": 0.0, "gpus": 0, "wall_seconds": w, "train_seconds": w - 1, "train_examples": 12},
        )
        for s, w in wall.items()
    ]


def test_table7_cpu_runs_are_costed_in_cpu_hours(tmp_path):
    i = cost_inputs(tmp_path)
    train = cpu_train(tmp_path, a=36.0, b=7200.0)
    tables.render_table7(COST_SPEC, ctx(), i["scores"], i["decode"], train, tmp_path / "t7")
    md = (tmp_path / "t7.md").read_text(encoding="utf-8").splitlines()
    assert md[2].endswith("| CPU hours | Instances/second |")
    assert md[4].endswith("| 0.01 | 3.00 |") and md[5].endswith("| 2.00 | 15.00 |")
    assert "CPU hours: training wall-clock hours on CPU (no system here trained on a GPU" in md[0]
    assert "GPU hours" not in "\n".join(md)
    rows = read_csv(tmp_path / "t7.csv")
    assert [(r["gpu_hours"], r["gpus"], r["cpu_hours"]) for r in rows] == [
        ("0.0000", "0", "0.0100"),
        ("0.0000", "0", "2.0000"),
    ]


def test_table7_mixed_cpu_and_gpu_runs(tmp_path):
    i = cost_inputs(tmp_path)  # b: 12.5 GPU-hours on 4 GPUs
    train = cpu_train(tmp_path, a=1800.0) + i["train"]
    tables.render_table7(COST_SPEC, ctx(), i["scores"], i["decode"], train, tmp_path / "t7")
    md = (tmp_path / "t7.md").read_text(encoding="utf-8").splitlines()
    assert md[2].endswith("| GPU hours | Instances/second |")
    assert md[4].endswith("| 0.50 (CPU) | 3.00 |") and md[5].endswith("| 12.50 | 15.00 |")
    assert "(CPU): trained on CPU, its wall-clock CPU hours (0 GPU-hours)." in md[0]
    check_latex_structure((tmp_path / "t7.tex").read_text(encoding="utf-8"), 10)


def test_old_train_metrics_without_gpus_are_told_by_zero_gpu_hours(tmp_path):
    i = cost_inputs(tmp_path)
    old = write_json(tmp_path / "results/models/a/train_metrics.json", {"gpu_hours": 0.0, "wall_seconds": 360.0})
    rows, *_ = tables.system_cost_rows(COST_SPEC, ctx(), i["scores"], i["decode"], [old] + i["train"], "table7")
    assert rows[0].on_cpu and rows[0].cpu_hours == 0.1 and not rows[1].on_cpu and rows[1].cpu_hours is None


def capture_cost_figure(monkeypatch) -> dict:
    seen: dict = {}
    save = figures.save_figure

    def capture(fig, prefix):
        ax = fig.axes[0]
        seen["xlabel"] = ax.get_xlabel()
        seen["x"] = sorted(float(c.get_offsets()[0][0]) for c in ax.collections)
        seen["texts"] = [t.get_text() for t in ax.texts]
        return save(fig, prefix)

    monkeypatch.setattr(figures, "save_figure", capture)
    return seen


def test_cost_figure_plots_cpu_runs_at_their_cpu_hours(tmp_path, monkeypatch):
    seen = capture_cost_figure(monkeypatch)
    i = cost_inputs(tmp_path)
    train = cpu_train(tmp_path, a=36.0, b=7200.0)
    figures.render_cost_quality(COST_SPEC, ctx(), i["scores"], i["decode"], train, tmp_path / "c")
    assert seen["xlabel"] == "Training CPU hours (wall clock, no GPU)"
    assert seen["x"] == [0.01, 2.0]  # not stacked at x = 0
    rows = read_csv(tmp_path / "c.csv")
    assert [(r["gpu_hours"], r["cpu_hours"], r["training_hours"], r["training_unit"]) for r in rows] == [
        ("0.0000", "0.0100", "0.0100", "cpu"),
        ("0.0000", "2.0000", "2.0000", "cpu"),
    ]


def test_cost_figure_annotates_cpu_runs_among_gpu_runs(tmp_path, monkeypatch):
    seen = capture_cost_figure(monkeypatch)
    i = cost_inputs(tmp_path)
    train = cpu_train(tmp_path, a=1800.0) + i["train"]
    figures.render_cost_quality(COST_SPEC, ctx(), i["scores"], i["decode"], train, tmp_path / "c")
    assert seen["xlabel"] == "Training GPU-hours (CPU runs: CPU hours)"
    assert seen["x"] == [0.5, 12.5] and seen["texts"] == ["CPU"]
    assert [r["training_unit"] for r in read_csv(tmp_path / "c.csv")] == ["cpu", "gpu"]


# --------------------------------------------------------------------------------------
# 4. Table 6's caption
# --------------------------------------------------------------------------------------


def test_table6_caption_reads(tmp_path):
    data, outputs = table6_inputs(tmp_path)
    cases.render_table6(T6_SPEC, ctx(), data, outputs, tmp_path / "t6")
    caption = (tmp_path / "t6.md").read_text(encoding="utf-8").splitlines()[0]
    assert "per test set (inputs on which the two systems answer differently come first)." in caption
    assert "the two answer differently first" not in caption
