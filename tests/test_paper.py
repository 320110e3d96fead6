"""The paper's own numbers (workflow/resources/paper_results.yaml) and the *_vs_paper tables.

The file must reproduce every average and cross-table identity the paper prints (Zhang et al.
2023, arXiv:2305.13225, Tables 4, 5, 7), Table 5's published rows must be its rows, and the
vs-paper tables must give the right differences on hand-made score files.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml

from test_render import check_latex_structure
from writing_alpaca import paper, report
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.report.inputs import Context, load_published

REPO = Path(__file__).resolve().parents[1]
PAPER_RESULTS = REPO / "workflow" / "resources" / "paper_results.yaml"
PUBLISHED = REPO / "workflow" / "resources" / "published_table5.yaml"
PAPER_TEXT = REPO.parent / "shared" / "paper" / "000_c93495b685b1af9b.txt"
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
TEN = ["conll14", "bea19_dev", "jfleg", "itr_f", "itr_l", "itr_o", "turk", "asset", "wnc", "sts"]


@pytest.fixture(scope="module")
def results() -> paper.PaperResults:
    return paper.load_paper_results(PAPER_RESULTS)


def dec(value: float) -> Decimal:
    """The number as the paper prints it (YAML floats keep their shortest repr: 59.3 for 59.30)."""
    return Decimal(repr(value))


def rounded(value: Decimal, digits: int) -> Decimal:
    """Half-up rounding on exact decimals, as a paper rounds (Python's round() on floats would
    give 43.75 for the mean 43.755 of Alpaca-13B's row, and 46.3 for 46.35)."""
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def f05(p: float, r: float) -> float:
    return 1.25 * p * r / (0.25 * p + r)


# --------------------------------------------------------------------------------------
# The paper's numbers
# --------------------------------------------------------------------------------------


def test_table4_average_column_is_the_mean_of_the_ten(results):
    t4 = results["table4"]
    assert list(t4.columns) == TEN
    for row in t4.rows:
        mean = sum(dec(row.values[c]) for c in TEN) / 10
        assert rounded(mean, 2) == dec(row.avg), (row.label, mean, row.avg)


def test_table4_averages_quoted_in_the_text(results):
    # Sections 3.6 and 3.7: 30.64 -> 43.07 (instruction tuning), 43.07 -> 48.65 (writing data),
    # 43.07 -> 43.76 (13B), 43.07 -> 42.81 (GPT-4 data), 48.65 -> 46.91 (no generic), 48.65 -> 50.52 (full)
    avgs = {row.system: row.avg for row in results["table4"].rows}
    assert avgs == {
        "llama-7b": 30.64,
        "alpaca-7b": 43.07,
        "alpaca-13b": 43.76,
        "alpaca-gpt4-7b": 42.81,
        "writing-alpaca-7b": 48.65,
        "writing-alpaca-7b-nogeneric": 46.91,
        "writing-alpaca-7b-full": 50.52,
    }
    # "the model degenerates heavily in the hold-out paraphrasing task (43.30 -> 27.79)"
    t4 = results["table4"]
    assert t4.row_for("writing-alpaca-7b").values["sts"] == 43.30
    assert t4.row_for("writing-alpaca-7b-nogeneric").values["sts"] == 27.79
    # "in the JFLEG dataset, Writing-Alpaca surpasses Alpaca by a mere 0.6"
    gain = dec(t4.row_for("writing-alpaca-7b").values["jfleg"]) - dec(t4.row_for("alpaca-7b").values["jfleg"])
    assert rounded(gain, 1) == Decimal("0.6")


def test_rows_are_the_configs_systems(results):
    assert results["table4"].systems == CONFIG["tables"]["table4"]["systems"]
    assert results["table7"].systems == CONFIG["tables"]["table7"]["systems"]
    assert results["table5"].systems == CONFIG["tables"]["table5"]["systems"]
    assert CONFIG["paper_results"] == "workflow/resources/paper_results.yaml"


def test_table5_writing_alpaca_is_table4_to_one_decimal(results):
    t4 = results["table4"].row_for("writing-alpaca-7b")
    t5 = results["table5"].row_for("writing-alpaca-7b")
    assert list(results["table5"].columns) == TEN
    for c in TEN:
        assert rounded(dec(t4.values[c]), 1) == dec(t5.values[c]), c


def test_table5_rows_in_the_papers_order(results):
    t5 = results["table5"]
    assert [r.label for r in t5.rows] == [
        "OPT-175B",
        "GPT3-175B",
        "InstructGPT-175B",
        "ChatGPT",
        "Writing-Alpaca-7B (ours)",
        "Prev. SOTA",
    ]
    # the EditEval rows have no Grammaticality cells (../shared/paper/README.md); the others have all ten
    for row in t5.rows:
        empty = [c for c in TEN if row.values[c] is None]
        assert empty == (["conll14", "bea19_dev"] if row.label in ("OPT-175B", "GPT3-175B") else []), row.label


def test_table7_writing_alpaca_f05_is_table4s(results):
    t4 = results["table4"].row_for("writing-alpaca-7b")
    t7 = results["table7"].row_for("writing-alpaca-7b")
    for c in ("conll14", "bea19_dev"):
        assert rounded(dec(t4.values[c]), 1) == dec(t7.prf[c][2]), c
    assert (t7.prf["conll14"][2], t7.prf["bea19_dev"][2]) == (55.9, 46.4)


def test_table7_f05_is_consistent_with_p_and_r(results):
    """Some P, R within half a printed unit of the printed ones give an F0.5 that rounds to the
    printed F0.5 (F0.5 grows with P and R, so the extremes are the box's corners)."""
    half = 0.05
    for row in results["table7"].rows:
        for c, (p, r, f) in row.prf.items():
            low, high = f05(p - half, r - half), f05(p + half, r + half)
            assert low - 1e-9 <= f + half and high + 1e-9 >= f - half, (row.label, c, p, r, f, low, high)
            assert abs(f05(p, r) - f) < 0.1, (row.label, c)


def test_table7_cost_and_data_columns(results):
    t7 = results["table7"]
    assert [(r.system, r.train_data, r.gpu_hours, r.instances_per_second) for r in t7.rows] == [
        ("roberta-gector", "2.4M", 21, 274.7),
        ("t5-large-gec", "2.4M", 75, 25.3),
        ("writing-alpaca-7b", "11.2k", 41, 2.1),  # as printed; the mixture is 112k (note in the file)
        ("llama-7b-gec", "2.4M", 191, 2.1),
        ("llama-13b-gec", "2.4M", 397, 0.7),
    ]
    assert "112k" in t7.row_for("writing-alpaca-7b").note


@pytest.mark.skipif(not PAPER_TEXT.is_file(), reason="the paper's text (../shared/paper) is not here")
def test_every_row_is_a_line_of_the_papers_text(results):
    """Each row, printed as the paper prints it, is a line of the paper's plain text."""
    lines = {line.strip() for line in PAPER_TEXT.read_text(encoding="utf-8").splitlines()}

    def line_of(label: str, values) -> str:
        return " ".join([label, *values])

    def found(text: str) -> bool:
        return any(line == text or line.endswith(text) for line in lines)  # "\hdashline" prefixes

    text_label = {
        "7B→13B": "7B\\rightarrow13B",
        "GPT3.5→GPT4 data": "GPT3.5\\rightarrowGPT4 data",
        "LoRA→Full Fine-tuning": "LoRA\\rightarrowFull Fine-tuning",
    }
    for row in results["table4"].rows:
        cells = [f"{row.values[c]:.2f}" for c in TEN] + [f"{row.avg:.2f}"]
        assert found(line_of(text_label.get(row.label, row.label), cells)), row.label
    for row in results["table5"].rows:
        cells = [f"{row.values[c]:.1f}" for c in TEN if row.values[c] is not None]
        assert found(line_of(row.label, cells)), row.label
    for row in results["table7"].rows:
        cells = [row.train_data] + [f"{v:.1f}" for c in ("conll14", "bea19_dev") for v in row.prf[c]]
        cells += [str(row.gpu_hours), f"{row.instances_per_second:.1f}"]
        assert found(line_of(row.label, cells)), row.label


def test_published_table5_rows_are_the_papers(results):
    """Table 5 renders published_table5.yaml: its numbers must be paper_results.yaml's (one copy checked
    against the other, so that they cannot drift)."""
    source, published = load_published(PUBLISHED)
    assert "2305.13225" in source
    theirs = [r for r in results["table5"].rows if r.system is None]
    assert [p.label for p in published] == [r.label for r in theirs]
    for p, r in zip(published, theirs, strict=True):
        assert p.values == {c: (None if v is None else float(v)) for c, v in r.values.items()}, p.label
    # the paper's layout: Prev. SOTA after this run's systems, with a source per test set
    assert [p.label for p in published if p.after_ours] == ["Prev. SOTA"]
    sota = published[-1]
    assert sota.citations == {
        "conll14": "Rothe et al. (2021)",
        "bea19_dev": "Zhang et al. (2022b)",
        "jfleg": "Stahlberg and Kumar (2021)",
        "itr_f": "Dwivedi-Yu et al. (2022)",
        "itr_l": "Du et al. (2022)",
        "itr_o": "Du et al. (2022)",
        "turk": "Dwivedi-Yu et al. (2022)",
        "asset": "Dwivedi-Yu et al. (2022)",
        "wnc": "Dwivedi-Yu et al. (2022)",
        "sts": "Dwivedi-Yu et al. (2022)",
    }
    for p in published[:3]:  # the * rows: EditEval's numbers
        assert p.citation.startswith("Dwivedi-Yu et al. (2022)"), p.label


# --------------------------------------------------------------------------------------
# Loader errors name the file
# --------------------------------------------------------------------------------------


def _doc() -> dict:
    return yaml.safe_load(PAPER_RESULTS.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["table4"]["rows"][0]["values"].pop(), r"table4\.rows\[1\] \(LLaMA-7B\): 'values' must list 10"),
        (lambda d: d["table4"]["rows"][1].pop("avg"), r"table4\.rows\[2\] \(Alpaca-7B\): missing 'avg'"),
        (lambda d: d["table5"]["rows"][0]["values"].__setitem__(2, "high"), r"value of jfleg: must be a number or"),
        (lambda d: d["table7"]["rows"][0]["values"]["conll14"].pop(), r"values\.conll14 must be \[P, R, F0\.5\]"),
        (lambda d: d["table7"]["rows"][0].__setitem__("speed", 1), r"unknown keys speed"),
        (lambda d: d["table4"]["rows"][1].__setitem__("system", "llama-7b"), r"more than one row of system llama-7b"),
        (lambda d: d.pop("table7"), r"<top level>: missing 'table7'"),
    ],
)
def test_paper_results_errors_name_the_file(tmp_path, edit, message):
    doc = _doc()
    edit(doc)
    bad = tmp_path / "paper_results.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=re.escape(str(bad)) + ".*" + message):
        paper.load_paper_results(bad)


def test_invalid_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "paper_results.yaml"
    bad.write_text("source: x\ntable4: {columns: [a\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=re.escape(str(bad)) + r":\d+: invalid YAML"):
        paper.load_paper_results(bad)


# --------------------------------------------------------------------------------------
# The vs-paper tables on hand-made score files
# --------------------------------------------------------------------------------------

TEST_SETS = {
    "conll14": {"title": "CoNLL-14", "task": "grammar", "metric": "m2"},
    "bea19_dev": {"title": "BEA-19", "task": "grammar", "metric": "errant"},
    "jfleg": {"title": "JFLEG", "task": "fluency", "metric": "gleu"},
}
SYSTEMS = {"tiny": {"label": "Tiny"}, "alpaca-7b": {"label": "Alpaca-7B"}, "other": {"label": "Other"}}
MINI_PAPER = """\
source: "Paper (2023)"
table4:
  columns: [conll14, bea19_dev, jfleg]
  rows:
    - {system: writing-alpaca-7b, label: "Writing-Alpaca-7B", values: [55.88, 46.35, 59.93], avg: 54.05}
    - {system: alpaca-7b, label: "Alpaca-7B", values: [52.86, 36.19, null], avg: 44.53}
table5:
  columns: [conll14, bea19_dev, jfleg]
  rows:
    - {label: "Big LM", values: [1.0, 2.0, 3.0]}
    - {system: writing-alpaca-7b, label: "Writing-Alpaca-7B (ours)", values: [55.9, 46.4, 59.9]}
table7:
  columns: [conll14, bea19_dev]
  metrics: [precision, recall, f0.5]
  rows:
    - {system: writing-alpaca-7b, label: "Writing-Alpaca-7B", train_data: "11.2k",
       values: {conll14: [68.0, 32.7, 55.9], bea19_dev: [53.5, 30.3, 46.4]}, gpu_hours: 41, instances_per_second: 2.1,
       note: "printed 11.2k"}
"""


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def inputs(tmp_path):
    s = tmp_path / "results" / "scores"
    scores = [
        write_json(s / "tiny/greedy/conll14.json", {"score": 50.88}),
        write_json(s / "tiny/greedy/bea19_dev.json", {"score": 48.35}),
        write_json(s / "tiny/greedy/jfleg.json", {"score": 59.93}),
        write_json(s / "alpaca-7b/greedy/conll14.json", {"score": 50.86}),
        write_json(s / "alpaca-7b/greedy/bea19_dev.json", {"score": 40.19}),
        write_json(s / "alpaca-7b/greedy/jfleg.json", {"score": 61.0}),
        write_json(s / "other/greedy/conll14.json", {"score": 10.0}),
    ]
    results = tmp_path / "paper_results.yaml"
    results.write_text(MINI_PAPER, encoding="utf-8")
    return scores, results


def ctx() -> Context:
    return Context(systems=SYSTEMS, test_sets=TEST_SETS)


SPEC = {
    "systems": ["tiny", "alpaca-7b", "other"],
    "test_sets": ["conll14", "bea19_dev", "jfleg"],
    "decoding": "greedy",
    "paper_rows": {"tiny": "writing-alpaca-7b"},
}


def test_table4_vs_paper_differences_and_mean(tmp_path, inputs):
    scores, results = inputs
    paths = paper.render_scores_vs_paper("table4_vs_paper", SPEC, ctx(), scores, results, tmp_path / "t4vp")
    assert [p.name for p in paths] == ["t4vp.md", "t4vp.tex", "t4vp.csv"]
    rows = {r["system"]: r for r in read_csv(tmp_path / "t4vp.csv")}
    tiny = rows["tiny"]
    assert tiny["paper_system"] == "writing-alpaca-7b"  # by the spec's paper_rows
    assert [float(tiny[f"{d}_diff"]) for d in ("conll14", "bea19_dev", "jfleg")] == pytest.approx([-5.0, 2.0, 0.0])
    assert float(tiny["mean_diff"]) == pytest.approx(-1.0) and tiny["n_diff"] == "3"
    # Avg.: ours (50.88 + 48.35 + 59.93) / 3 = 53.0533 against the printed 54.05; not in the mean
    assert float(tiny["avg_diff"]) == pytest.approx(53.053333 - 54.05, abs=1e-4)
    alpaca = rows["alpaca-7b"]  # same name in the paper; its JFLEG cell is empty there
    assert alpaca["paper_system"] == "alpaca-7b"
    assert float(alpaca["conll14_diff"]) == pytest.approx(-2.0)
    assert float(alpaca["bea19_dev_diff"]) == pytest.approx(4.0)
    assert alpaca["jfleg_paper"] == "" and alpaca["jfleg_diff"] == ""
    assert float(alpaca["mean_diff"]) == pytest.approx(1.0) and alpaca["n_diff"] == "2"
    other = rows["other"]  # no paper row: ours only
    assert other["paper_system"] == "" and other["mean_diff"] == "" and other["n_diff"] == "0"

    md = (tmp_path / "t4vp.md").read_text(encoding="utf-8").splitlines()
    assert md[2] == "| Model | Source | CoNLL-14 | BEA-19 | JFLEG | Avg. | Mean Δ |"
    assert md[4:11] == [
        "| Tiny | this run | 50.88 | 48.35 | 59.93 | 53.05 |  |",
        "|  | paper: Writing-Alpaca-7B | 55.88 | 46.35 | 59.93 | 54.05 |  |",
        "|  | Δ (ours − paper) | -5.00 | +2.00 | +0.00 | -1.00 | -1.00 |",
        "| Alpaca-7B | this run | 50.86 | 40.19 | 61.00 | 50.68 |  |",
        "|  | paper: Alpaca-7B | 52.86 | 36.19 | – | 44.53 |  |",
        "|  | Δ (ours − paper) | -2.00 | +4.00 | – | +6.15 | +1.00* |",
        "| Other | this run | 10.00 | – | – | – |  |",
    ]
    notes = "\n".join(md[11:])
    assert "Mean Δ over the cells that both" in notes and "No paper row for Other" in notes
    tex = (tmp_path / "t4vp.tex").read_text(encoding="utf-8")
    check_latex_structure(tex, 7)
    assert tex.count("\\midrule") == 3  # header + before each system after the first
    assert " & $\\Delta$ (ours $-$ paper) & -5.00 & +2.00 & +0.00 & -1.00 & -1.00 \\\\" in tex
    assert "\\multicolumn{2}{c}{Grammaticality}" in tex


def test_table4_vs_paper_avg_needs_the_papers_ten_columns(tmp_path, inputs):
    scores, results = inputs
    spec = dict(SPEC, test_sets=["conll14", "jfleg"])
    paper.render_scores_vs_paper("table4_vs_paper", spec, ctx(), scores, results, tmp_path / "t")
    tiny = read_csv(tmp_path / "t.csv")[0]
    assert tiny["avg_paper"] == "" and tiny["avg_diff"] == ""
    assert "not compared" in (tmp_path / "t.md").read_text(encoding="utf-8")


def test_table5_vs_paper_compares_with_the_one_decimal_row(tmp_path, inputs):
    scores, results = inputs
    spec = dict(SPEC, systems=["tiny"], paper_rows={"tiny": "writing-alpaca-7b"})
    paper.render_scores_vs_paper("table5_vs_paper", spec, ctx(), scores, results, tmp_path / "t5vp")
    row = read_csv(tmp_path / "t5vp.csv")[0]
    assert [float(row[f"{d}_diff"]) for d in ("conll14", "bea19_dev", "jfleg")] == pytest.approx([-5.02, 1.95, 0.03])
    assert float(row["mean_diff"]) == pytest.approx((-5.02 + 1.95 + 0.03) / 3, abs=1e-4)  # CSV: 4 decimals
    assert "avg_diff" not in row  # Table 5 has no average column
    md = (tmp_path / "t5vp.md").read_text(encoding="utf-8")
    assert "|  | paper: Writing-Alpaca-7B (ours) | 55.9 | 46.4 | 59.9 |  |" in md
    assert "Avg." not in md


def test_vs_paper_mapping_errors(tmp_path, inputs):
    scores, results = inputs
    with pytest.raises(WritingAlpacaError, match=re.escape(str(results)) + r": table4 has no row of system 'nope'"):
        paper.render_scores_vs_paper(
            "table4_vs_paper", dict(SPEC, paper_rows={"tiny": "nope"}), ctx(), scores, results, tmp_path / "t"
        )
    with pytest.raises(WritingAlpacaError, match="paper_rows of systems not in the table: ghost"):
        paper.render_scores_vs_paper(
            "table4_vs_paper", dict(SPEC, paper_rows={"ghost": "alpaca-7b"}), ctx(), scores, results, tmp_path / "t"
        )


def test_table7_vs_paper(tmp_path, inputs):
    _, results = inputs
    r = tmp_path / "results"
    prf = {"conll14": (60.0, 30.7, 50.9), "bea19_dev": (50.5, 20.3, 40.4)}
    scores = [
        write_json(r / f"scores/tiny/beam4/{d}.json", {"score": f, "precision": p, "recall": rc, "f0.5": f})
        for d, (p, rc, f) in prf.items()
    ]
    decode = [
        write_json(r / "outputs/tiny/beam4/conll14.metrics.json", {"instances": 10, "instances_per_second": 3.0}),
        write_json(r / "outputs/tiny/beam4/bea19_dev.metrics.json", {"instances": 10, "instances_per_second": 5.0}),
    ]
    train = [write_json(r / "models/tiny/train_metrics.json", {"gpu_hours": 0.5, "examples": 112002})]
    spec = {
        "systems": ["tiny"],
        "test_sets": ["conll14", "bea19_dev"],
        "decoding": "beam4",
        "paper_rows": {"tiny": "writing-alpaca-7b"},
    }
    paper.render_table7_vs_paper(spec, ctx(), scores, decode, [train[0].parent], results, tmp_path / "t7vp")
    row = read_csv(tmp_path / "t7vp.csv")[0]
    assert row["train_data_ours"] == "112002" and row["train_data_paper"] == "11.2k" and row["train_data_diff"] == ""
    assert float(row["conll14_precision_diff"]) == pytest.approx(-8.0)
    assert float(row["conll14_f0.5_diff"]) == pytest.approx(-5.0)
    assert float(row["bea19_dev_recall_diff"]) == pytest.approx(-10.0)
    assert float(row["gpu_hours_diff"]) == pytest.approx(-40.5)
    assert float(row["instances_per_second_diff"]) == pytest.approx(1.9)
    # mean over the six P/R/F0.5 cells only: (-8 - 2 - 5 - 3 - 10 - 6) / 6
    assert float(row["mean_diff"]) == pytest.approx(-34 / 6, abs=1e-4) and row["n_diff"] == "6"
    md = (tmp_path / "t7vp.md").read_text(encoding="utf-8")
    assert "| Tiny | this run | 112.0k | 60.00 | 30.70 | 50.90 | 50.50 | 20.30 | 40.40 | 0.50 | 4.00 |  |" in md
    assert "|  | paper: Writing-Alpaca-7B | 11.2k | 68.0 | 32.7 | 55.9 | 53.5 | 30.3 | 46.4 | 41 | 2.1 |  |" in md
    assert "Writing-Alpaca-7B (paper): printed 11.2k" in md


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    report.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_vs_paper_through_the_cli_as_the_rules_pass_it(tmp_path, inputs, capsys):
    scores, results = inputs
    argv = [
        "render",
        "table4_vs_paper",
        "--spec",
        json.dumps(SPEC),
        "--systems",
        json.dumps(SYSTEMS),
        "--test-sets",
        json.dumps(TEST_SETS),
        "--scores",
        *map(str, scores),
        "--paper",
        str(results),
        "--out-prefix",
        str(tmp_path / "cli"),
    ]
    assert _cli(argv) == 0
    assert read_csv(tmp_path / "cli.csv")[0]["mean_diff"] == "-1.0000"
    # the paper file is required; Table 5's published-rows YAML is no input of it
    with pytest.raises(SystemExit):
        _cli(argv[: argv.index("--paper")] + ["--out-prefix", str(tmp_path / "x")])
    assert "the following arguments are required: --paper" in capsys.readouterr().err
    with pytest.raises(
        WritingAlpacaError, match=r"table4_vs_paper does not take --published \(.*published_table5\.yaml\)"
    ):
        _cli(
            [
                "render",
                "table4_vs_paper",
                "--spec",
                json.dumps(SPEC),
                "--scores",
                "--paper",
                str(results),
                "--published",
                str(PUBLISHED),
                "--out-prefix",
                str(tmp_path / "x"),
            ]
        )


def test_repository_paper_results_render_the_three_tables(tmp_path, inputs):
    """The real file through every vs-paper artefact (the workflow's inputs, demo-style mapping)."""
    scores, _ = inputs
    spec = dict(SPEC, paper_rows={"tiny": "writing-alpaca-7b"})
    for artefact in ("table4_vs_paper", "table5_vs_paper"):
        paper.render_scores_vs_paper(artefact, spec, ctx(), scores, PAPER_RESULTS, tmp_path / artefact)
        md = (tmp_path / f"{artefact}.md").read_text(encoding="utf-8")
        assert "arXiv:2305.13225" in md and "paper: Writing-Alpaca-7B" in md
