"""The Snakemake workflow itself: lint, the paper-scale DAG under the SLURM profile, config
validation, and the whole demo run end to end on this machine (no GPU, no internet)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, snakemake
from writing_alpaca.io import read_jsonl, read_lines
from writing_alpaca.score import dataset_postprocessor

PAPER = yaml.safe_load((REPO / "config.yaml").read_text())
DEMO_OVERLAY = REPO / "demo" / "config.yaml"

JOB_RE = re.compile(r"^(?:localrule|rule) (\w+):$")


def dry_run_jobs(*args: str, cwd: Path | None = None) -> list[dict]:
    """Parse a dry run's job blocks into {rule, wildcards, resources} records."""
    out = snakemake("-n", "--printshellcmds", *args, cwd=cwd).stdout
    jobs, current = [], None
    for line in out.splitlines():
        m = JOB_RE.match(line.strip())
        if m:
            current = {"rule": m.group(1), "wildcards": {}, "resources": ""}
            jobs.append(current)
        elif current is not None and line.strip().startswith("wildcards:"):
            pairs = line.strip()[len("wildcards:") :].split(",")
            current["wildcards"] = dict(p.strip().split("=", 1) for p in pairs if "=" in p)
        elif current is not None and line.strip().startswith("resources:"):
            current["resources"] = line.strip()
    return jobs


def keys(jobs, rule, *fields):
    return {tuple(j["wildcards"][f] for f in fields) for j in jobs if j["rule"] == rule}


# ------------------------------------------------------------------------------------------
# Static checks on the paper configuration
# ------------------------------------------------------------------------------------------
def test_lint_is_clean():
    proc = snakemake("--lint")
    assert "Congratulations, your workflow is in a good condition" in proc.stdout


def test_paper_dry_run_under_slurm_lists_every_job_of_tables_4_and_7():
    jobs = dry_run_jobs("--profile", "profiles/slurm", "all")
    t4, t7 = PAPER["tables"]["table4"], PAPER["tables"]["table7"]
    systems = PAPER["systems"]

    trained = {s for s in t4["systems"] + t7["systems"] if systems[s]["method"] != "none"}
    lm_trained = {(s,) for s in trained if systems[s]["kind"] == "causal_lm"}
    baselines = {(s,) for s in trained if systems[s]["kind"] != "causal_lm"}
    assert keys(jobs, "train", "system") == lm_trained
    assert keys(jobs, "train_baseline", "system") == baselines
    assert {("roberta-gector",), ("t5-large-gec",)} <= baselines

    decoding = PAPER["decoding"]  # one decoding for every table
    assert "decoding" not in t4 and "decoding" not in t7
    expected_decodes = {(s, decoding, d) for s in t4["systems"] for d in t4["test_sets"]}
    expected_decodes |= {(s, decoding, d) for s in t7["systems"] for d in t7["test_sets"]}
    decodes = keys(jobs, "decode", "system", "decoding", "dataset") | keys(
        jobs, "decode_baseline", "system", "decoding", "dataset"
    )
    assert decodes == expected_decodes
    assert keys(jobs, "score", "system", "decoding", "dataset") == expected_decodes
    # Writing-Alpaca-7B is in both tables: its CoNLL-14 and BEA-19 outputs are decoded once, for both
    assert len(expected_decodes) == 7 * 10 + 5 * 2 - 2
    wa = [
        j
        for j in jobs
        if j["rule"] == "decode"
        and j["wildcards"]["system"] == "writing-alpaca-7b"
        and j["wildcards"]["dataset"] == "conll14"
    ]
    assert [j["wildcards"]["decoding"] for j in wa] == ["beam16"]

    # Training asks SLURM for GPUs; the full fine-tuning runs for more of them.
    train_jobs = {j["wildcards"]["system"]: j["resources"] for j in jobs if j["rule"] in ("train", "train_baseline")}
    for name, res in train_jobs.items():
        gpus = int(re.search(r"\bgpu=(\d+)", res).group(1))
        assert gpus >= 1, (name, res)
    assert "gpu=8" in train_jobs["writing-alpaca-7b-full"]
    # LLaMA-13B-GEC is LoRA on one 8-GPU node (the paper's 8 x V100), its frozen base sharded by ZeRO-3
    assert re.search(r"\bgpu=8\b", train_jobs["llama-13b-gec"]) and re.search(
        r"\bnodes=1\b", train_jobs["llama-13b-gec"]
    )

    # Every artefact is a target.
    rules = {j["rule"] for j in jobs}
    assert {
        "render_table2",
        "render_table3",
        "render_table4",
        "render_table5",
        "render_table7",
        "render_figure1",
        "render_cost_quality",
        "render_costs",
        "render_training",
    } <= rules


def test_one_artefact_builds_only_its_ancestors(tmp_path):
    jobs = dry_run_jobs(
        f"--configfile={DEMO_OVERLAY}", "--directory", str(tmp_path), "--cores", "2", "results/tables/table4.md"
    )
    rules = {j["rule"] for j in jobs}
    assert "render_table4" in rules
    # Nothing that Table 4 does not need: no baselines, no Table-7 beam search, no analysis.
    assert not rules & {
        "train_baseline",
        "decode_baseline",
        "analyse_edits",
        "render_table7",
        "render_figure1",
        "render_table2",
        "render_table3",
    }
    demo = yaml.safe_load(DEMO_OVERLAY.read_text())
    t4 = demo["tables"]["table4"]
    assert {j["wildcards"]["decoding"] for j in jobs if j["rule"] == "decode"} == {demo["decoding"]}
    assert {j["wildcards"]["system"] for j in jobs if j["rule"] == "score"} == set(t4["systems"])


# ------------------------------------------------------------------------------------------
# Bad input: one clear error naming the file (bad configuration: tests/test_settings.py)
# ------------------------------------------------------------------------------------------
def test_missing_input_names_the_file(tmp_path):
    overlay = yaml.safe_load(DEMO_OVERLAY.read_text())
    overlay["sources"]["stsb"]["files"][0]["url"] = "file:demo/data/stsb/no-such-file.csv"
    cfg = tmp_path / "broken.yaml"
    cfg.write_text(yaml.safe_dump(overlay))
    proc = snakemake(
        f"--configfile={cfg}",
        "--directory",
        str(tmp_path / "run"),
        "--cores",
        "1",
        "resources/downloads/stsb",
        check=False,
    )
    assert proc.returncode != 0
    log = (tmp_path / "run" / "logs" / "download" / "stsb.log").read_text()
    assert "no-such-file.csv" in log
    assert "writing-alpaca: error:" in log
    assert "Traceback" not in log
    assert not (tmp_path / "run" / "resources" / "downloads" / "stsb").exists()


# ------------------------------------------------------------------------------------------
# The demo, end to end
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    start = time.monotonic()
    proc = snakemake(
        "--profile",
        "profiles/local",
        f"--configfile={DEMO_OVERLAY}",
        "--directory",
        str(workdir),
        "--cores",
        "2",
        "all",
        timeout=1800,
    )
    return workdir, time.monotonic() - start, proc.stdout


@pytest.mark.slow
def test_demo_runs_every_stage_and_writes_every_artefact(demo_run):
    workdir, seconds, _ = demo_run
    print(f"demo DAG took {seconds:.0f} s")
    for name in (
        "table2",
        "table3",
        "table4",
        "table5",
        "table6",
        "table7",
        "table8",
        "table4_vs_paper",
        "table5_vs_paper",
        "table7_vs_paper",
        "costs",
    ):
        for ext in ("md", "tex", "csv"):
            path = workdir / "results" / "tables" / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
    for name in ("figure1", "cost_quality"):
        for ext in ("png", "pdf", "csv"):
            path = workdir / "results" / "figures" / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, path


@pytest.mark.slow
def test_demo_outputs_are_real(demo_run):
    workdir, _, _ = demo_run
    demo = yaml.safe_load(DEMO_OVERLAY.read_text())
    results = workdir / "results"
    # every decoded file has exactly one line per test record
    for hyp in (results / "outputs").glob("*/*/*.txt"):
        dataset = hyp.stem
        n_records = len((results / "data" / "test" / f"{dataset}.jsonl").read_text().splitlines())
        assert len(hyp.read_text(encoding="utf-8").split("\n")) - 1 == n_records, hyp
    # the scored hypotheses are the answers post-processed for each set's scorer, and the score
    # says how; nothing else re-tokenises outputs
    n_hyps = 0
    for hyp in (results / "hypotheses").glob("*/*/*.txt"):
        system, decoding, dataset = hyp.parts[-3], hyp.parts[-2], hyp.stem
        data = results / "data" / "test" / f"{dataset}.jsonl"
        tokenizer = PAPER["test_sets"][dataset].get("postprocess")
        answers = read_lines(results / "outputs" / system / decoding / f"{dataset}.txt")
        expected = dataset_postprocessor(read_jsonl(data), tokenizer, data)(answers)
        assert read_lines(hyp) == expected, hyp
        score = json.loads((results / "scores" / system / decoding / f"{dataset}.json").read_text())
        assert score["postprocess"] == tokenizer, hyp
        n_hyps += 1
    assert n_hyps == len(list((results / "scores").glob("*/*/*.json")))
    # scores are computed numbers in range, for every (system, test set) of Table 4

    t4 = demo["tables"]["table4"]
    for s in t4["systems"]:
        for d in PAPER["tables"]["table4"]["test_sets"]:
            score = json.loads((results / "scores" / s / demo["decoding"] / f"{d}.json").read_text())
            assert 0.0 <= score["score"] <= 100.0, (s, d, score)
    # trained systems learned something: the loss fell
    for s in ("tiny-alpaca", "tiny-writing-alpaca"):
        metrics = json.loads((results / "models" / s / "train_metrics.json").read_text())
        assert metrics["steps"] == demo["training"]["max_steps"]
        assert metrics["loss_history"][-1] < metrics["loss_history"][0], metrics["loss_history"]
    # the LLaMA-GEC system's own budget in epochs became ceil(epochs x examples / batch_size) steps
    gec = json.loads((results / "models" / "tiny-llama-gec" / "train_metrics.json").read_text())
    epochs = demo["systems"]["tiny-llama-gec"]["training"]["epochs"]
    assert gec["steps"] == -(-epochs * gec["examples"] // demo["training"]["batch_size"]), gec["steps"]
    # Table 4 lists every system by its label
    table4 = (results / "tables" / "table4.md").read_text()
    for s in t4["systems"]:
        assert demo["systems"][s]["label"] in table4


@pytest.mark.slow
def test_demo_second_run_has_nothing_to_do(demo_run):
    workdir, _, _ = demo_run
    proc = snakemake(
        "--profile", "profiles/local", f"--configfile={DEMO_OVERLAY}", "--directory", str(workdir), "-n", "all"
    )
    assert "Nothing to be done" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "tweak, retrained",
    [
        ("training:\n  baselines:\n    gector: {dropout: 0.1}\n", {("train_baseline", "tiny-gector")}),
        ("training:\n  lora: {dropout: 0.1}\n", {("train", "tiny-alpaca"), ("train", "tiny-writing-alpaca")}),
    ],
)
def test_demo_a_changed_trainer_setting_retrains_only_the_systems_that_read_it(demo_run, tmp_path, tweak, retrained):
    workdir, _, _ = demo_run
    (tmp_path / "tweak.yaml").write_text(tweak)
    jobs = dry_run_jobs(
        "--directory", str(workdir), "all", "--configfile", str(DEMO_OVERLAY), str(tmp_path / "tweak.yaml")
    )
    planned = {(j["rule"], j["wildcards"]["system"]) for j in jobs if j["rule"] in ("train", "train_baseline")}
    assert planned == retrained


def _checkout_copy(root: Path) -> Path:
    """The workflow and package as a second checkout (no results, models or environments)."""
    ignore = shutil.ignore_patterns(".git", ".venv", ".snakemake", "results", "resources", "logs", "__pycache__")
    shutil.copytree(REPO, root, ignore=ignore)
    return root


def _add_statement(path: Path, function: str) -> None:
    """Insert a no-op statement at the top of ``function``'s body: a change to the code it runs."""
    import ast

    text = path.read_text(encoding="utf-8")
    node = next(n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef) and n.name == function)
    lines = text.splitlines(keepends=True)
    first = node.body[1 if ast.get_docstring(node) else 0]
    indent = " " * first.col_offset
    lines.insert(first.lineno - 1, f"{indent}_changed = True\n")
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.slow
def test_demo_a_code_change_reruns_exactly_the_jobs_that_run_it(demo_run, tmp_path):
    """Each rule's `code` param: a comment reruns nothing, a scorer's code the score jobs (and
    what reads their files), a renderer's the tables; never a training or decoding job."""
    workdir, _, _ = demo_run
    copy = _checkout_copy(tmp_path / "checkout")
    args = ("-s", str(copy / "Snakefile"), f"--configfile={DEMO_OVERLAY}", "--directory", str(workdir), "all")

    def planned() -> set[tuple[str, tuple]]:
        return {(j["rule"], tuple(sorted(j["wildcards"].items()))) for j in dry_run_jobs(*args)}

    # the copy alone: only what reads the workflow's own files by path (the paper's numbers, Table 5's
    # published rows: their paths moved) reruns, nothing that trains, decodes or scores
    moved = planned()
    assert all(rule.startswith("render_") or rule == "all" for rule, _ in moved), moved

    m2 = copy / "src" / "writing_alpaca" / "score" / "m2.py"
    m2.write_text("# a comment\n" + m2.read_text(encoding="utf-8"), encoding="utf-8")
    assert planned() == moved  # a comment: nothing more

    _add_statement(m2, "parse_m2")
    rules = {rule for rule, _ in planned() - moved}
    assert "score" in rules and "bootstrap" in rules, rules
    assert not rules & {"train", "train_baseline", "decode", "decode_baseline", "prepare_test", "download"}, rules

    shutil.copy2(REPO / "src" / "writing_alpaca" / "score" / "m2.py", m2)  # only a renderer changed now
    _add_statement(copy / "src" / "writing_alpaca" / "report" / "tables.py", "render_table2")
    rules = {rule for rule, _ in planned()}
    assert "render_table2" in rules and all(r.startswith("render_") or r == "all" for r in rules), rules


@pytest.mark.slow
def test_demo_a_file_changed_inside_a_trained_system_reruns_what_reads_it(demo_run):
    """A directory() output is dated by Snakemake's own timestamp file; the readers' `model_state`
    param sees a file changed inside it (here: its time) and reruns them, never the training."""
    workdir, _, _ = demo_run
    adapter = next((workdir / "results" / "models" / "tiny-writing-alpaca").rglob("adapter_config.json"))
    before = adapter.stat()
    try:
        os.utime(adapter, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        jobs = dry_run_jobs(f"--configfile={DEMO_OVERLAY}", "--directory", str(workdir), "all")
        planned = {(j["rule"], j["wildcards"].get("system")) for j in jobs}
        assert ("decode", "tiny-writing-alpaca") in planned and ("render_card", "tiny-writing-alpaca") in planned
        assert not {r for r, s in planned if r.startswith(("train", "decode")) and s != "tiny-writing-alpaca"}
        assert not {r for r, _ in planned if r.startswith("train")}
    finally:
        os.utime(adapter, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (
        "Nothing to be done"
        in snakemake("-n", f"--configfile={DEMO_OVERLAY}", "--directory", str(workdir), "all").stdout
    )


@pytest.mark.slow
def test_demo_a_beam_change_redecodes_every_system_but_gector(demo_run, tmp_path):
    """GECToR tags tokens and has no beams: its decode job gets only what it reads (batch size,
    its own settings), so a beam-size change re-decodes the others and not it."""
    workdir, _, _ = demo_run
    demo = yaml.safe_load(DEMO_OVERLAY.read_text(encoding="utf-8"))
    beams = demo["decodings"][demo["decoding"]]["num_beams"]
    (tmp_path / "beams.yaml").write_text(f"decodings:\n  {demo['decoding']}: {{num_beams: {beams + 1}}}\n")
    jobs = dry_run_jobs(
        "--directory", str(workdir), "all", "--configfile", str(DEMO_OVERLAY), str(tmp_path / "beams.yaml")
    )
    redecoded = {j["wildcards"]["system"] for j in jobs if j["rule"] in ("decode", "decode_baseline")}
    assert {"tiny-t5-gec", "tiny-writing-alpaca"} <= redecoded and "tiny-gector" not in redecoded, redecoded


@pytest.mark.slow
def test_demo_rebuilds_one_artefact_alone(demo_run):
    workdir, _, _ = demo_run
    for ext in ("md", "tex", "csv"):
        (workdir / "results" / "tables" / f"table4.{ext}").unlink()
    jobs = dry_run_jobs(f"--configfile={DEMO_OVERLAY}", "--directory", str(workdir), "results/tables/table4.md")
    assert [j["rule"] for j in jobs] == ["render_table4"]
    snakemake(
        "--profile",
        "profiles/local",
        f"--configfile={DEMO_OVERLAY}",
        "--directory",
        str(workdir),
        "results/tables/table4.md",
    )
    assert (workdir / "results" / "tables" / "table4.md").is_file()


@pytest.mark.slow
def test_demo_logs_training_and_decoding_and_cards_every_system(demo_run):
    """Issue 14 on the demo itself: TensorBoard event files per trained system, a progress line
    (instances/s) in every decode job's log, and a model card naming its data licences in every
    trained system directory."""
    from writing_alpaca.training.events import event_files

    workdir, _, _ = demo_run
    demo = yaml.safe_load(DEMO_OVERLAY.read_text(encoding="utf-8"))
    trained = [name for name, spec in demo["systems"].items() if spec.get("method", "lora") != "none"]
    assert trained
    for name in trained:
        assert event_files(workdir / "results" / "logs" / name), name
        card = (workdir / "results" / "models" / name / "README.md").read_text(encoding="utf-8")
        assert card.startswith("---\n") and "licen" in card.lower(), name
    logs = sorted((workdir / "logs" / "decode").rglob("*.log"))
    assert logs
    for log in logs:
        text = log.read_text(encoding="utf-8")
        # GECToR reports each tagging round over the sentences; the generators the instances
        assert re.search(r"done, \d+ (instances|sentences) in \S+ \([\d.]+ (instances|sentences)/s\)", text), log


REPORT_ARTEFACTS = (
    [f"results/tables/table{n}.csv" for n in (2, 3, 4, 5, 6, 7, 8)]
    + [f"results/tables/table{n}_vs_paper.csv" for n in (4, 5, 7)]
    + [f"results/figures/{name}.png" for name in ("figure1", "cost_quality")]
    + ["results/tables/costs.csv"]  # what the run cost (Snakemake benchmarks), tests/test_costs.py
    # each trained system's loss and learning-rate curves (TensorBoard scalars), tests/test_tracking.py
    + [
        f"results/figures/training/{s}.png"
        for s in ("tiny-alpaca", "tiny-writing-alpaca", "tiny-llama-gec", "tiny-t5-gec", "tiny-gector")
    ]
)


def _caption_file(path: str) -> Path:
    """The report caption of an artefact: its stem's, or its folder's for a per-system figure."""
    stem = "training" if "/figures/training/" in path else Path(path).stem
    return REPO / "workflow" / "report" / f"{stem}.rst"


@pytest.mark.slow
def test_demo_report_holds_every_artefact_with_its_caption(demo_run):
    workdir, _, _ = demo_run
    report = workdir / "results" / "report.html"
    snakemake("--report", str(report), f"--configfile={DEMO_OVERLAY}", "--directory", str(workdir))
    html = report.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="https?://', html), "the report must be self-contained"
    embedded = re.search(r'<script id="results">\s*var results = (.*?);\s*</script>', html, re.S)
    assert embedded, "no embedded results in the report"
    results = json.loads(embedded.group(1))
    assert sorted(results) == sorted(REPORT_ARTEFACTS)
    # the paper's numbers beside ours come first: the report's menu sorts categories alphabetically
    cats = re.search(r'<script id="categories">\s*var categories = (.*?);\s*</script>', html, re.S)
    categories = {
        path: cat for cat, subs in json.loads(cats.group(1)).items() for paths in subs.values() for path in paths
    }
    assert {c for p, c in categories.items() if "_vs_paper" in p} == {"Comparison with the paper"}
    assert sorted(set(categories.values()))[0] == "Comparison with the paper"
    for path, entry in results.items():
        caption = _caption_file(path).read_text(encoding="utf-8")
        title = re.match(r"\*\*(.+?)\*\*", caption).group(1)  # e.g. "Table 6."
        assert f"<strong>{title}</strong>" in entry["caption"], (path, entry["caption"])
        data = base64.b64decode(entry["data_uri"].split(";base64,", 1)[1])
        assert data == (workdir / path).read_bytes(), path
