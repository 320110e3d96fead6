"""The pipeline measures itself (issue 12): a benchmark file for every rule that does work, and
`writing-alpaca render costs` (results/tables/costs.*) from them.

The renderer is tested on hand-made benchmark TSVs; the workflow by dry runs of the demo and of
the paper configuration (every job's benchmark path, and rule render_costs's inputs against the
DAG Snakemake itself builds)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from conftest import REPO, snakemake
from writing_alpaca import cli, costs
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.report.inputs import Context

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"
SYSTEMS = {"b": {"label": "Sys B"}, "a": {"label": "Sys A"}}  # config order: b first


def record(s, rss, cpu) -> str:
    return f"{s}\t0:00:00\t{rss}\t900.0\t{rss}\t{rss}\t0.5\t0.25\t80.0\t{cpu}"


def bench(root: Path, rel: str, *records: str, header: str = HEADER) -> Path:
    path = root / "results" / "benchmarks" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *records]) + "\n", encoding="utf-8")
    return path


def run_files(root: Path) -> list[Path]:
    """A small run: two downloads, data, training (a base model and two systems), decoding, scoring, one render."""
    return [
        bench(root, "download/download/source=x.tsv", record(1.5, 100.0, 1.0)),
        bench(root, "download/download/source=y.tsv", record(2.5, 150.0, 2.0)),
        bench(root, "data/prepare_test/dataset=d1.tsv", record(4.0, 300.0, 3.5)),
        bench(root, "train/build_tiny_model/base=tiny.tsv", record(10.0, 300.0, 9.0)),
        bench(root, "train/train/system=a.tsv", record(100.0, 2000.0, 180.0)),
        bench(root, "train/train_baseline/system=b.tsv", record(50.0, 900.0, 40.0)),
        bench(root, "decode/decode/system=a/decoding=greedy/dataset=d1.tsv", record(20.0, 1200.0, 30.0)),
        bench(root, "decode/decode/system=a/decoding=greedy/dataset=d2.tsv", record(30.0, 1500.0, 45.0)),
        bench(root, "decode/decode_baseline/system=b/decoding=greedy/dataset=d1.tsv", record(5.0, 700.0, 6.0)),
        bench(root, "score/score/system=a/decoding=greedy/dataset=d1.tsv", record(6.0, 400.0, 5.0)),
        bench(root, "score/score/system=b/decoding=greedy/dataset=d1.tsv", record(7.0, 450.0, 6.5)),
        bench(root, "render/render_table2.tsv", record(3.0, 120.0, 2.5)),
    ]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def rows_by_key(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["stage"], r["system"]): r for r in read_csv(path)}


# ------------------------------------------------------------------------------------------
# The renderer
# ------------------------------------------------------------------------------------------
def test_costs_sum_per_stage_and_system_with_the_peak_as_maximum(tmp_path):
    files = run_files(tmp_path)
    paths = costs.render_costs(Context(systems=SYSTEMS), files, tmp_path / "out" / "costs")
    assert [p.name for p in paths] == ["costs.md", "costs.tex", "costs.csv"]
    rows = read_csv(tmp_path / "out" / "costs.csv")
    # stages in the pipeline's order, each train/decode/score stage followed by its systems (config order)
    assert [(r["stage"], r["system"]) for r in rows] == [
        ("download", ""),
        ("data", ""),
        ("train", ""),
        ("train", "b"),
        ("train", "a"),
        ("decode", ""),
        ("decode", "b"),
        ("decode", "a"),
        ("score", ""),
        ("score", "b"),
        ("score", "a"),
        ("render", ""),
        ("total", ""),
    ]
    by = rows_by_key(tmp_path / "out" / "costs.csv")
    expect = {  # (jobs, wall, cpu, peak)
        ("download", ""): (2, 4.0, 3.0, 150.0),
        ("data", ""): (1, 4.0, 3.5, 300.0),
        ("train", ""): (3, 160.0, 229.0, 2000.0),  # build_tiny_model counts in the stage, in no system
        ("train", "a"): (1, 100.0, 180.0, 2000.0),
        ("train", "b"): (1, 50.0, 40.0, 900.0),
        ("decode", ""): (3, 55.0, 81.0, 1500.0),
        ("decode", "a"): (2, 50.0, 75.0, 1500.0),  # peak: the larger job's, not the sum
        ("decode", "b"): (1, 5.0, 6.0, 700.0),
        ("score", ""): (2, 13.0, 11.5, 450.0),
        ("render", ""): (1, 3.0, 2.5, 120.0),
        ("total", ""): (12, 239.0, 330.5, 2000.0),
    }
    for key, (jobs, wall, cpu, peak) in expect.items():
        row = by[key]
        assert int(row["jobs"]) == jobs, key
        assert float(row["wall_s"]) == pytest.approx(wall), key
        assert float(row["cpu_s"]) == pytest.approx(cpu), key
        assert float(row["max_rss_mb"]) == pytest.approx(peak), key
        assert float(row["wall_share_pct"]) == pytest.approx(100 * wall / 239.0, abs=1e-4), key
        assert row["unmeasured_jobs"] == "0"
    assert sum(float(by[(s, "")]["wall_share_pct"]) for s in costs.STAGES if (s, "") in by) == pytest.approx(
        100.0, abs=1e-3
    )

    md = (tmp_path / "out" / "costs.md").read_text(encoding="utf-8")
    assert md.startswith("**Costs.** ")
    assert "| train |  | 3 | 160.0 | 229.0 | 2,000.0 | 66.9% |" in md
    assert "|  | Sys A | 2 | 50.0 | 75.0 | 1,500.0 | 20.9% |" in md  # decode, system a, by its label
    assert "| **Total** |  | **12** | **239.0** | **330.5** | **2,000.0** | **100.0%** |" in md
    assert "*" not in md.split("\n\n")[1].replace("**", "")  # nothing unmeasured, nothing marked
    tex = (tmp_path / "out" / "costs.tex").read_text(encoding="utf-8")
    assert (
        "\\begin{tabular}{llrrrrr}" in tex and tex.count("\\midrule") == 1 + 6
    )  # after the header, before every stage but the first, before Total
    assert "Sys A" in tex and "66.9\\%" in tex


def test_costs_unmeasured_jobs_repeats_and_unknown_systems(tmp_path):
    files = [
        bench(tmp_path, "score/score/system=a/decoding=g/dataset=d.tsv", record(2.0, "NA", "NA")),
        bench(tmp_path, "score/score/system=a/decoding=g/dataset=e.tsv", record(3.0, 200.0, 2.0)),
        # repeat(): two runs of one job, times add up, the peak is the larger
        bench(
            tmp_path, "score/score/system=zz/decoding=g/dataset=d.tsv", record(1.0, 50.0, 1.0), record(2.0, 80.0, 1.5)
        ),
        bench(tmp_path, "extra/my_rule/k=v.tsv", record(1.0, 10.0, 1.0)),  # a stage of its own, after the known ones
    ]
    costs.render_costs(Context(systems=SYSTEMS), files, tmp_path / "c")
    rows = read_csv(tmp_path / "c.csv")
    assert [(r["stage"], r["system"]) for r in rows] == [
        ("score", ""),
        ("score", "a"),
        ("score", "zz"),
        ("extra", ""),
        ("total", ""),
    ]
    by = rows_by_key(tmp_path / "c.csv")
    assert float(by[("score", "a")]["wall_s"]) == 5.0  # the unmeasured job's wall time counts
    assert float(by[("score", "a")]["cpu_s"]) == 2.0 and float(by[("score", "a")]["max_rss_mb"]) == 200.0
    assert by[("score", "a")]["unmeasured_jobs"] == "1" and by[("total", "")]["unmeasured_jobs"] == "1"
    assert float(by[("score", "zz")]["wall_s"]) == 3.0 and float(by[("score", "zz")]["max_rss_mb"]) == 80.0
    assert float(by[("score", "zz")]["cpu_s"]) == 2.5
    md = (tmp_path / "c.md").read_text(encoding="utf-8")
    assert "|  | Sys A | 2 | 5.0 | 2.0* | 200.0* |" in md
    assert "|  | zz | 1 | 3.0 | 2.5 | 80.0 |" in md  # a system not in --systems: its name
    assert "1 of 4 jobs ended before Snakemake's first sample" in md


def test_costs_all_unmeasured_is_a_dash(tmp_path):
    files = [bench(tmp_path, "render/render_table2.tsv", record(0.2, "NA", "NA"))]
    costs.render_costs(Context(), files, tmp_path / "c")
    assert "| render |  | 1 | 0.2 | – | – | 100.0% |" in (tmp_path / "c.md").read_text(encoding="utf-8")
    row = read_csv(tmp_path / "c.csv")[0]
    assert row["cpu_s"] == "" and row["max_rss_mb"] == ""


def test_costs_reads_the_extended_format(tmp_path):
    header = HEADER + "\tjobid\trule_name\twildcards\tparams\tthreads\tcpu_usage\tresources\tinput_size_mb"
    extra = "\t3\tscore\t{'system': 'a'}\t{}\t1\t10.0\t{'mem_mb': 1000}\t{}"
    f = bench(tmp_path, "score/score/system=a/decoding=g/dataset=d.tsv", record(4.0, 300.0, 3.0) + extra, header=header)
    costs.render_costs(Context(), [f], tmp_path / "c")
    assert float(rows_by_key(tmp_path / "c.csv")[("score", "a")]["wall_s"]) == 4.0


def test_costs_missing_file_names_it(tmp_path):
    files = run_files(tmp_path)
    missing = tmp_path / "results" / "benchmarks" / "train" / "train" / "system=c.tsv"
    with pytest.raises(WritingAlpacaError, match=re.escape(f"{missing}: file not found")):
        costs.render_costs(Context(), files + [missing], tmp_path / "c")
    assert not (tmp_path / "c.md").exists()


@pytest.mark.parametrize(
    "lines, where, message",
    [
        (
            [HEADER, record(1.0, 10.0, 1.0), "2.0\t0:00:02\t10.0"],
            3,
            "expected 10 tab-separated fields as the header, got 3",
        ),
        ([HEADER, record("abc", 10.0, 1.0)], 2, "column s: expected a number of seconds, got 'abc'"),
        ([HEADER, record("NA", 10.0, 1.0)], 2, "column s: expected a number of seconds, got 'NA'"),
        (
            [HEADER, record(1.0, 10.0, 1.0), record(1.0, "lots", 1.0)],
            3,
            "column max_rss: expected a number of MB, got 'lots'",
        ),
        ([HEADER, record(1.0, 10.0, -4)], 2, "column cpu_time: expected a number of seconds, got '-4'"),
        (["s\th:m:s\tmax_rss", "1.0\t0:00:01\t10.0"], 1, "no column cpu_time"),
        ([""], 1, "empty benchmark file"),
        ([HEADER], 1, "no benchmark record after the header"),
    ],
)
def test_costs_malformed_benchmark_names_file_and_line(tmp_path, lines, where, message):
    files = run_files(tmp_path)
    bad = tmp_path / "results" / "benchmarks" / "decode" / "decode" / "system=a" / "decoding=greedy" / "dataset=d3.tsv"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=re.escape(f"{bad}:{where}: ") + ".*" + re.escape(message)):
        costs.render_costs(Context(), files + [bad], tmp_path / "c")


@pytest.mark.parametrize(
    "rel, message",
    [
        ("elsewhere/score.tsv", "not a benchmark file of the workflow"),
        ("results/benchmarks/score.tsv", "cannot tell the stage and rule from the path"),
        ("results/benchmarks/score/score/a/b.tsv", "'a' is not <wildcard>=<value>"),
        ("results/benchmarks/score/score/system=a.json", "not a benchmark file of the workflow"),
    ],
)
def test_costs_path_that_is_no_benchmark_names_it(tmp_path, rel, message):
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "\n" + record(1.0, 1.0, 1.0) + "\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        costs.render_costs(Context(), [path], tmp_path / "c")


def test_costs_the_same_job_twice_is_an_error(tmp_path):
    a = bench(tmp_path, "train/train/system=a.tsv", record(1.0, 1.0, 1.0))
    b = bench(tmp_path / "copy", "train/train/system=a.tsv", record(1.0, 1.0, 1.0))
    with pytest.raises(WritingAlpacaError, match=re.escape(f"{b}: the same job as {a}")):
        costs.render_costs(Context(), [a, b], tmp_path / "c")
    with pytest.raises(WritingAlpacaError, match="no benchmark files given"):
        costs.render_costs(Context(), [], tmp_path / "c")


def test_costs_through_the_cli_as_rule_render_costs_calls_it(tmp_path, capsys):
    files = run_files(tmp_path)
    costs.render_costs(Context(systems=SYSTEMS), files, tmp_path / "direct")
    argv = [
        "render",
        "costs",
        "--systems",
        json.dumps(SYSTEMS),
        "--benchmarks",
        *map(str, files),
        "--out-prefix",
        str(tmp_path / "cli"),
    ]
    assert cli.main(argv) == 0  # no --spec: costs has no tables.<name> entry
    for ext in ("md", "tex", "csv"):
        assert (tmp_path / f"cli.{ext}").read_bytes() == (tmp_path / f"direct.{ext}").read_bytes()
    # benchmark files are no input of another artefact
    argv = [
        "render",
        "table4",
        "--spec",
        "{}",
        "--scores",
        "--benchmarks",
        str(files[0]),
        "--out-prefix",
        str(tmp_path / "t4"),
    ]
    assert cli.main(argv) == 2
    assert f"table4 does not take --benchmarks ({files[0]})" in capsys.readouterr().err
    bad = bench(tmp_path, "train/train/system=c.tsv", record("x", 1.0, 1.0))
    assert cli.main(["render", "costs", "--benchmarks", str(bad), "--out-prefix", str(tmp_path / "bad")]) == 2
    assert f"{bad}:2: column s" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# The workflow: a benchmark for every rule that does work, and render_costs's inputs
# ------------------------------------------------------------------------------------------
# The stage (rule group) of the pipeline's rules, as the costs table groups them (a rule added
# later needs only a stage among costs.STAGES).
STAGE_OF = {
    "download": "download",
    "fetch_base_model": "download",
    "rehearsal_standin": "download",
    "prepare_test": "data",
    "prepare_test_m2": "data",
    "prepare_train": "data",
    "free_instructions": "data",
    "format_mixture": "format",
    "build_tiny_model": "train",
    "train": "train",
    "train_baseline": "train",
    "decode": "decode",
    "decode_baseline": "decode",
    "decode_free": "decode",
    "score": "score",
    "analyse_edits": "analyse",
    "bootstrap": "analyse",
}
AGGREGATORS = {"all"}
JOB_RE = re.compile(r"^(?:localrule|rule) (\w+):$")
COST_TARGETS = {f"results/tables/costs.{ext}" for ext in ("md", "tex", "csv")}


def check_stage(rule: str, stage: str) -> None:
    assert stage in costs.STAGES, (rule, stage)
    if rule.startswith("render_") or rule in STAGE_OF:
        assert stage == ("render" if rule.startswith("render_") else STAGE_OF[rule]), (rule, stage)


def dry_run(*args: str) -> list[dict]:
    """A dry run's jobs: rule, wildcards, input, benchmark."""
    out = snakemake("-n", *args).stdout
    jobs, current = [], None
    for line in out.splitlines():
        m = JOB_RE.match(line.strip())
        if m:
            current = {"rule": m.group(1), "wildcards": {}, "input": [], "benchmark": None}
            jobs.append(current)
        elif current is not None and line.startswith("    ") and ": " in line:
            key, value = line.strip().split(": ", 1)
            if key == "wildcards":
                current["wildcards"] = dict(p.strip().split("=", 1) for p in value.split(","))
            elif key == "input":
                current["input"] = value.split(", ")
            elif key == "benchmark":
                current["benchmark"] = value
        elif not line.startswith("    "):
            current = None
    return jobs


def job_keys(jobs: list[dict]) -> set[tuple]:
    return {(j["rule"], tuple(sorted(j["wildcards"].items()))) for j in jobs}


RUNS = {
    "demo": (f"--configfile={REPO / 'demo' / 'config.yaml'}",),
    "paper": ("--profile", "profiles/slurm"),
}


@pytest.fixture(scope="module", params=sorted(RUNS))
def dags(request, tmp_path_factory):
    """The DAG of `all`, and that of the artefacts without the costs table, in an empty directory."""
    workdir = str(tmp_path_factory.mktemp(f"dag-{request.param}"))
    args = (*RUNS[request.param], "--directory", workdir)
    everything = dry_run(*args, "all")
    (target,) = [j for j in everything if j["rule"] == "all"]
    artefacts = [t for t in target["input"] if t not in COST_TARGETS]
    assert set(target["input"]) - set(artefacts) == COST_TARGETS  # the costs table is part of `all`
    return everything, dry_run(*args, *artefacts)


def test_every_job_has_its_own_benchmark_under_its_stage_and_rule(dags):
    everything, _ = dags
    paths = {}
    for job in everything:
        if job["rule"] in AGGREGATORS:
            assert job["benchmark"] is None
            continue
        path = job["benchmark"]
        assert path, f"rule {job['rule']} has no benchmark"
        # results/benchmarks/<stage>/<rule>[/<wildcard>=<value>...].tsv, read back as the costs table reads it
        stage, rule, wildcards = costs.job_key(path)
        assert path.startswith(f"results/benchmarks/{stage}/{job['rule']}") and path.endswith(".tsv"), path
        assert (rule, wildcards) == (job["rule"], job["wildcards"]), (job, path)
        check_stage(rule, stage)
        assert path not in paths, f"{path}: benchmark of both {paths.get(path)} and {job['rule']}"
        paths[path] = job["rule"]


def test_render_costs_takes_the_benchmark_of_every_other_job_and_adds_none(dags):
    everything, artefacts_only = dags
    (costs_job,) = [j for j in everything if j["rule"] == "render_costs"]
    others = [j for j in everything if j["rule"] not in AGGREGATORS | {"render_costs"}]
    assert sorted(costs_job["input"]) == sorted(j["benchmark"] for j in others)
    assert costs_job["benchmark"] not in costs_job["input"]  # the costs table does not measure itself
    # its inputs pull no job into the DAG that the artefacts would not run anyway
    assert job_keys(others) == job_keys([j for j in artefacts_only if j["rule"] not in AGGREGATORS])


def smk_rules() -> dict[str, str]:
    """Every rule declared in the workflow's files, with the text of its declaration."""
    rules = {}
    for smk in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        text = smk.read_text(encoding="utf-8")
        heads = list(re.finditer(r"^(?:rule (\w+)|use rule \w+ as (\w+) with):\n", text, re.M))
        for i, m in enumerate(heads):
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            body = text[m.end() : end]
            body = body[: re.search(r"^\S", body, re.M).start()] if re.search(r"^\S", body, re.M) else body
            rules[m.group(1) or m.group(2)] = body
    return rules


def test_every_rule_that_does_work_declares_its_own_benchmark():
    declared = smk_rules()
    listed = set(snakemake("--list-rules").stdout.split())
    assert set(declared) == listed
    assert set(STAGE_OF) | {"render_costs", "render_table4"} <= set(declared)
    for rule, body in declared.items():
        calls = re.findall(r"benchmark:\n\s+benchmark_file\(\"(\w+)\", \"(\w+)\"", body)
        if rule in AGGREGATORS:
            assert not calls, rule
        else:  # a `use rule ... with:` names its own file, not its parent's
            assert [r for _, r in calls] == [rule], (rule, calls)
            check_stage(rule, calls[0][0])
