"""The rehearsal (rehearsal/config.yaml): the paper's DAG, the real test sets at Table 2's sizes,
the stand-ins' sizes and formats, and the upstream file names the paper config reads."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tarfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake.utils import update_config

from conftest import REPO, SHARED_DATA, snakemake
from writing_alpaca import cli, data, rehearsal
from writing_alpaca.download import download_source
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.io import read_jsonl

PAPER = yaml.safe_load((REPO / "config.yaml").read_text())
OVERLAY_PATH = REPO / "rehearsal" / "config.yaml"
OVERLAY = yaml.safe_load(OVERLAY_PATH.read_text())

# Table 2 of Zhang et al. (2023); WNC's 1,000 are the stand-in's (../shared has no biased.word.test)
TABLE2 = {
    "conll14": 1312,
    "bea19_dev": 4384,
    "jfleg": 747,
    "itr_f": 88,
    "itr_l": 185,
    "itr_o": 35,
    "turk": 359,
    "asset": 359,
    "wnc": 1000,
    "sts": 97,
}
STANDIN_SOURCES = {"iterater_v2", "wnc", "wikilarge", "alpaca", "alpaca_gpt4", "clang8"}


def merged() -> dict:
    cfg = copy.deepcopy(PAPER)
    update_config(cfg, copy.deepcopy(OVERLAY))
    return cfg


REAL_URL = "file:../shared/data/"  # how rehearsal/config.yaml names the real data, beside the checkout


def real_file(url: str) -> Path:
    """The file a rehearsal URL ``file:../shared/data/...`` names, under SHARED_DATA (which
    WRITING_ALPACA_SHARED_DATA may move)."""
    return SHARED_DATA / url[len(REAL_URL) :]


def with_real_data(cfg: dict) -> dict:
    """``cfg`` with its ``file:../shared/data/`` URLs pointing at SHARED_DATA where that is not
    ../shared/data beside the checkout (unchanged otherwise)."""
    if SHARED_DATA.resolve() == (REPO.parent / "shared" / "data").resolve():
        return cfg
    for src in cfg["sources"].values():
        for f in src.get("files") or []:
            if f["url"].startswith(REAL_URL):
                f["url"] = real_file(f["url"]).as_uri()
    return cfg


def workflow_helpers(cfg: dict) -> dict:
    """common.smk's helpers (source_spec, data_spec, ...) for ``cfg``, which it validates on load."""
    namespace = {"workflow": SimpleNamespace(basedir=str(REPO)), "config": cfg, "report": lambda path, **_: path}
    source = REPO / "workflow" / "rules" / "common.smk"
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    return namespace


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------
# The DAG: every job of the paper's, base models built instead of fetched, stand-ins first
# ------------------------------------------------------------------------------------------
JOB_RE = re.compile(r"^(?:localrule|rule) (\w+):$")


def dry_run_jobs(workdir: Path, *args: str) -> set[tuple]:
    out = snakemake("-n", "--directory", str(workdir), "all", *args).stdout
    jobs, current = set(), None
    for line in out.splitlines() + [""]:
        m = JOB_RE.match(line.strip())
        if m or not line.startswith("    "):
            if current is not None:
                jobs.add((current[0], tuple(sorted(current[1].items()))))
            current = (m.group(1), {}) if m else None
        elif line.strip().startswith("wildcards:"):
            pairs = line.strip()[len("wildcards:") :].split(",")
            current[1].update(p.strip().split("=", 1) for p in pairs if "=" in p)
    return jobs


def test_rehearsal_dry_run_is_the_papers_dag(tmp_path):
    paper = dry_run_jobs(tmp_path / "paper")
    ours = dry_run_jobs(tmp_path / "rehearsal", f"--configfile={OVERLAY_PATH}")
    base_rules = {"fetch_base_model", "build_tiny_model"}
    # the same jobs, wildcard for wildcard (systems, test sets, sources, train sets, mixtures, tables)
    assert {j for j in ours if j[0] not in base_rules | {"rehearsal_standin"}} == {
        j for j in paper if j[0] not in base_rules
    }
    assert len(paper) > 200
    # each base model of the paper is built tiny instead of fetched, one for one
    cfg = merged()
    fetched = {dict(w)["base"] for r, w in paper if r == "fetch_base_model"}
    built = {dict(w)["base"] for r, w in ours if r == "build_tiny_model"}
    assert not {r for r, _ in ours if r == "fetch_base_model"}
    mapping = {PAPER["systems"][s]["base"]: cfg["systems"][s]["base"] for s in PAPER["systems"]}
    assert set(mapping) == fetched and set(mapping.values()) == built and len(built) == len(fetched) == 4
    # the stand-ins: one job each, written before `download` reads them
    assert {dict(w)["standin"] for r, w in ours if r == "rehearsal_standin"} == set(rehearsal.KINDS)


def test_rehearsal_keeps_the_papers_shape():
    cfg = merged()
    assert set(cfg["systems"]) == set(PAPER["systems"]) and len(PAPER["systems"]) == 11
    assert cfg["tables"] == PAPER["tables"] and cfg["mixtures"] == PAPER["mixtures"]
    assert {k: v["size"] for k, v in cfg["test_sets"].items()} == TABLE2
    assert cfg["test_sets"] == PAPER["test_sets"]
    for name, spec in PAPER["train_sets"].items():  # the paper's samples: 10k, 2k + 8k, all of Alpaca and cLang-8
        assert cfg["train_sets"][name]["n"] == spec["n"], name
    for name, spec in PAPER["systems"].items():  # only the base model (and the hardware) differ
        same = {k: v for k, v in spec.items() if k not in ("base", "training", "resources", "deepspeed")}
        assert {k: cfg["systems"][name][k] for k in same} == same, name
        assert cfg["base_models"][cfg["systems"][name]["base"]].get("build_tiny"), name
    # a step budget of its own stays one (in epochs) where the paper gives one
    assert all(("training" in cfg["systems"][s]) == ("training" in PAPER["systems"][s]) for s in PAPER["systems"])
    assert cfg["decoding"] == PAPER["decoding"] == "beam16" and cfg["decodings"]["beam16"]["num_beams"] > 1
    assert cfg["training"]["max_steps"] <= 20 and cfg["training"]["batch_size"] == PAPER["training"]["batch_size"]


def test_standin_kinds_agree_with_the_rule():
    text = (REPO / "workflow" / "rules" / "common.smk").read_text()
    listed = re.search(r"^STANDIN_KINDS = (\[.*\])$", text, re.M).group(1)
    assert json.loads(listed) == list(rehearsal.KINDS)


# ------------------------------------------------------------------------------------------
# Sources: the real files of ../shared/data, pinned; stand-ins where it has none
# ------------------------------------------------------------------------------------------
@pytest.mark.real_data
def test_every_source_is_local_and_every_shared_file_pinned(shared_data):
    cfg = merged()
    for name, src in cfg["sources"].items():
        assert src.get("gated") is None and src.get("hf") is None, name
        for f in src["files"]:
            url = f["url"]
            if name in STANDIN_SOURCES:
                assert url.startswith(f"file:resources/rehearsal/{name}/"), (name, url)
                continue
            assert url.startswith(REAL_URL), (name, url)
            path = real_file(url)
            assert f["sha256"] == sha256(path), (name, path)


@pytest.mark.real_data
def test_paper_pins_are_the_bytes_of_shared_data(shared_data):
    """Where the paper's URL is the repository, commit and path ../shared/data copied (PROVENANCE.md),
    its sha256 is that file's; the rehearsal takes the same file under the same name."""
    cfg, checked = merged(), 0
    for name, src in PAPER["sources"].items():
        ours = {f["name"]: f for f in cfg["sources"][name]["files"]}
        for f in src.get("files") or []:
            if f.get("sha256") and f["name"] in ours and ours[f["name"]]["url"].startswith("file:../shared/"):
                assert f["sha256"] == ours[f["name"]]["sha256"], (name, f["name"])
                checked += 1
    assert checked == 5 + 11 + 11 + 1  # JFLEG, TurkCorpus, ASSET, STS-B
    # IteraTeR's zip is pinned from PROVENANCE.md (the zip itself is not in ../shared)
    assert (
        PAPER["sources"]["iterater"]["files"][0]["sha256"] in (SHARED_DATA / "iterater" / "PROVENANCE.md").read_text()
    )


def _download(helpers, name: str, root: Path) -> Path:
    out = root / "resources" / "downloads" / name
    download_source(name, helpers["source_spec"](name), out, manual_dir=root / "manual" / name)
    return out


def _data_test(helpers, name: str, raw: Path, out_dir: Path) -> list[dict]:
    """`writing-alpaca data test`, the command of rules prepare_test/prepare_test_m2."""
    spec = json.dumps(helpers["data_spec"]("test_sets", name))
    out = out_dir / f"{name}.jsonl"
    extra = ["--m2-out", str(out_dir / f"{name}.m2")] if helpers["is_m2_set"](name) else []
    assert (
        cli.main(
            [
                "data",
                "test",
                "--name",
                name,
                "--spec",
                spec,
                "--raw",
                str(raw),
                "--seed",
                "42",
                "--out",
                str(out),
                *extra,
            ]
        )
        == 0
    )
    return read_jsonl(out)


@pytest.mark.real_data
def test_data_stage_gives_table2_sizes(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # resources/rehearsal/... (the stand-ins) resolve against the working directory
    monkeypatch.setitem(rehearsal.REAL_SIZES, "wnc", {"train": 20, "dev": 700, "test": 1000})  # WNC test at its size
    rehearsal.write_standins(tmp_path / "resources" / "rehearsal", ["wnc"])
    helpers = workflow_helpers(with_real_data(merged()))
    sizes, raws = {}, {}
    for name in TABLE2:
        source = PAPER["test_sets"][name]["source"]
        if source not in raws:
            raws[source] = _download(helpers, source, tmp_path)
        records = _data_test(helpers, name, raws[source], tmp_path / "results" / "data" / "test")
        sizes[name] = len(records)
        assert all(r["source"] and r["references"] for r in records), name
    assert sizes == TABLE2
    assert (tmp_path / "results" / "data" / "test" / "bea19_dev.m2").read_bytes() == (
        shared_data / "bea2019_wi_locness" / "m2" / "ABCN.dev.gold.bea19.m2"
    ).read_bytes()


# ------------------------------------------------------------------------------------------
# The stand-ins: sizes, layouts and formats (small scale), read by the paper's own specs
# ------------------------------------------------------------------------------------------
SCALE = 0.002


def test_standins_have_the_real_sizes_at_scale_one():
    assert rehearsal.REAL_SIZES == {
        "wnc": {"train": 53_803, "dev": 700, "test": 1_000},
        "wikilarge": {"train": 296_402, "valid": 992, "test": 359},
        "iterater_v2": {"train": 292_929},
        "alpaca": {"train": 52_002},
        "alpaca_gpt4": {"train": 52_002},
        "clang8": {"train": 2_372_119},
    }
    assert {(k, s): rehearsal._count(k, s, 1.0) for k, v in rehearsal.REAL_SIZES.items() for s in v} == {
        (k, s): n for k, v in rehearsal.REAL_SIZES.items() for s, n in v.items()
    }


@pytest.fixture(scope="module")
def standins(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("standins")
    rehearsal.write_standins(root, scale=SCALE, seed=42)
    return root


def n(kind: str, split: str = "train") -> int:
    return rehearsal._count(kind, split, SCALE)


def test_standins_are_deterministic(standins, tmp_path):
    rehearsal.write_standins(tmp_path, scale=SCALE, seed=42)
    for kind in rehearsal.KINDS:
        (ours,) = (standins / kind).iterdir()
        assert (tmp_path / kind / ours.name).read_bytes() == ours.read_bytes(), kind


def test_wnc_standin_zip(standins, tmp_path):
    with zipfile.ZipFile(standins / "wnc" / "bias_data.zip") as zf:
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
        assert names == [f"bias_data/WNC/biased.word.{s}" for s in ("train", "dev", "test")]
        lines = {
            s: zf.read(f"bias_data/WNC/biased.word.{s}").decode("utf-8").splitlines() for s in ("train", "dev", "test")
        }
    assert {s: len(v) for s, v in lines.items()} == {s: n("wnc", s) for s in ("train", "dev", "test")}
    widths = [len(line.split("\t")) for line in lines["train"]]
    assert set(widths) == {5, 7} and widths.count(7) > 0.9 * len(widths)
    for line in lines["train"]:
        cells = line.split("\t")
        src, tgt = cells[3].split(), cells[4].split()
        assert cells[0].isdigit() and cells[1] == cells[1].lower() and src != tgt and abs(len(src) - len(tgt)) <= 1
        if len(cells) == 7:
            assert len(cells[5].split()) == len(cells[6].split()) == len(cells[1].split())
    # the paper's train_sets.wnc_train reads it after the download extracts the zip
    raw = tmp_path / "raw"
    download_source(
        "wnc",
        {"files": [{"url": (standins / "wnc" / "bias_data.zip").as_uri(), "name": "bias_data.zip", "extract": True}]},
        raw,
    )
    records = data.build_train_records("wnc_train", dict(PAPER["train_sets"]["wnc_train"], n=None), raw, 42)
    assert len(records) == n("wnc")


def test_wikilarge_standin_tarball(standins, tmp_path):
    with tarfile.open(standins / "wikilarge" / "data-simplification.tar.bz2") as tar:
        files = sorted(m.name for m in tar.getmembers() if m.isfile())
        src = tar.extractfile("data-simplification/wikilarge/wiki.full.aner.ori.train.src").read().decode("utf-8")
    assert files == sorted(
        f"data-simplification/wikilarge/wiki.full.aner.ori.{s}.{e}"
        for s in ("train", "valid", "test")
        for e in ("src", "dst")
    )
    assert "-LRB-" in src and "Ã" in src  # PTB brackets and double-encoded UTF-8, as DRESS's release
    raw = tmp_path / "raw"
    download_source(
        "wikilarge",
        {
            "files": [
                {
                    "url": (standins / "wikilarge" / "data-simplification.tar.bz2").as_uri(),
                    "name": "data-simplification.tar.bz2",
                    "extract": True,
                }
            ]
        },
        raw,
    )
    records = data.build_train_records("wikilarge", dict(PAPER["train_sets"]["wikilarge"], n=None), raw, 42)
    assert len(records) == n("wikilarge") and not any("-LRB-" in r["source"] for r in records)


def test_iterater_v2_standin(standins):
    path = standins / "iterater_v2" / PAPER["train_sets"]["itr_fluency"]["path"]
    rows = read_jsonl(path)
    assert len(rows) == n("iterater_v2")
    assert all(
        list(r)
        == ["before_sent", "before_sent_with_intent", "after_sent", "labels", "confidence", "doc_id", "revision_depth"]
        for r in rows
    )
    assert all(isinstance(r["confidence"], str) and isinstance(r["revision_depth"], str) for r in rows)
    assert {r["labels"] for r in rows} == set(rehearsal.ITERATER_LABELS)
    assert all(re.fullmatch(r"<[a-z-]+> .* <S> .+ </S> .*", r["before_sent_with_intent"], re.S) for r in rows)
    assert any(r["after_sent"] == " " for r in rows)  # deletions, which EditEval's filter drops
    for label, ts in (("fluency", "itr_fluency"), ("clarity", "itr_clarity"), ("coherence", "itr_coherence")):
        records = data.build_train_records(ts, dict(PAPER["train_sets"][ts], n=None), standins / "iterater_v2", 42)
        expected = sum(r["labels"] == label and len(r["after_sent"]) > 1 for r in rows)
        assert len(records) == expected > 0
    # at full size each intent has the paper's 10,000 to sample from
    assert (
        min(rehearsal.ITERATER_LABELS[k] for k in ("fluency", "clarity", "coherence"))
        * (1 - rehearsal.ITERATER_DELETED_SHARE)
        * rehearsal.REAL_SIZES["iterater_v2"]["train"]
        > 2 * 10_000
    )


def test_alpaca_standins(standins):
    items = json.loads((standins / "alpaca" / "alpaca_data.json").read_text(encoding="utf-8"))
    gpt4 = json.loads((standins / "alpaca_gpt4" / "alpaca_gpt4_data.json").read_text(encoding="utf-8"))
    assert len(items) == len(gpt4) == n("alpaca")
    assert all(list(it) == ["instruction", "input", "output"] for it in items + gpt4)
    assert [(a["instruction"], a["input"]) for a in items] == [(g["instruction"], g["input"]) for g in gpt4]
    assert (
        0 < sum(not it["output"] for it in items) <= 3
        and 0.2 < sum(bool(it["input"]) for it in items) / len(items) < 0.6
    )
    assert sum(len(g["output"]) for g in gpt4) > 2 * sum(len(a["output"]) for a in items)
    records = data.build_train_records("alpaca", PAPER["train_sets"]["alpaca"], standins / "alpaca", 42)
    assert len(records) == n("alpaca")  # every item, the empty outputs too


def test_clang8_standin_has_run_sh_name_and_format(standins):
    path = standins / "clang8" / PAPER["train_sets"]["clang8"]["path"]
    assert path.name == "clang8_source_target_en.spacy_tokenized.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == n("clang8") and all(line.count("\t") == 1 for line in lines)
    pairs = [line.split("\t") for line in lines]
    assert 0.25 < sum(s == t for s, t in pairs) / len(pairs) < 0.55
    assert any(" n't " in s for s, _ in pairs) and all(s.endswith((" .", " ?", " !")) for s, _ in pairs)
    records = data.build_train_records("clang8", PAPER["train_sets"]["clang8"], standins / "clang8", 42)
    assert len(records) == n("clang8")


def test_unknown_kind_and_bad_scale_are_errors(tmp_path):
    with pytest.raises(WritingAlpacaError, match="unknown kind"):
        rehearsal.write_standins(tmp_path, ["lang8"])
    with pytest.raises(WritingAlpacaError, match="scale"):
        rehearsal.write_standins(tmp_path, ["wnc"], scale=0)


# ------------------------------------------------------------------------------------------
# The paper's cLang-8: run.sh's output name, and an error naming it otherwise
# ------------------------------------------------------------------------------------------
def test_paper_clang8_wants_run_sh_output_and_names_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    helpers = workflow_helpers(copy.deepcopy(PAPER))
    spec = helpers["source_spec"]("clang8")
    manual = tmp_path / "resources" / "manual" / "clang8"
    manual.mkdir(parents=True)
    (manual / "clang8_en.tsv").write_text("A sentence .\tA sentence .\n")
    with pytest.raises(WritingAlpacaError) as err:
        download_source("clang8", spec, tmp_path / "out", manual_dir=manual)
    message = str(err.value)
    assert (
        "missing: clang8_source_target_en.spacy_tokenized.tsv" in message and "it holds only: clang8_en.tsv" in message
    )
    assert "output_data/clang8_source_target_en.spacy_tokenized.tsv" in message  # where run.sh wrote it
    (manual / "clang8_source_target_en.spacy_tokenized.tsv").write_text("I has a cat .\tI have a cat .\n")
    raw = tmp_path / "out"
    download_source("clang8", spec, raw, manual_dir=manual)
    records = data.build_train_records("clang8", PAPER["train_sets"]["clang8"], raw, 42)
    assert [(r["source"], r["target"]) for r in records] == [("I has a cat .", "I have a cat .")]


def test_paper_iterater_v2_reads_the_datasets_own_train_file():
    (entry,) = PAPER["sources"]["iterater_v2"]["files"]
    assert entry["url"] == (
        "https://huggingface.co/datasets/wanyu/IteraTeR_v2/resolve/"
        "f549503ef55b76632d02538edb6987ea9f96f82c/sent-level.train.intents.json"
    )
    assert entry["name"] == "sent-level.train.intents.json" and "hf" not in PAPER["sources"]["iterater_v2"]
    assert {PAPER["train_sets"][t]["path"] for t in ("itr_fluency", "itr_clarity", "itr_coherence")} == {entry["name"]}


def test_only_a_gated_source_lists_files_without_url():
    from snakemake.exceptions import WorkflowError

    cfg = copy.deepcopy(PAPER)
    assert "url" not in cfg["sources"]["clang8"]["files"][0]  # the paper's gated cLang-8 validates (PAPER loads)
    workflow_helpers(copy.deepcopy(cfg))
    del cfg["sources"]["stsb"]["files"][0]["url"]
    with pytest.raises(
        WorkflowError, match=r"sources\.stsb\.files\.0\.url: missing \(only a gated source's files are placed by hand\)"
    ):
        workflow_helpers(cfg)
