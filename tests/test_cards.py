"""Provenance (issue 14): every trained system and merged model has a model card (README.md with
Hugging Face metadata) naming its base model, data, their licences and revisions and the settings'
fingerprint (``writing_alpaca.cards``); rule render_card adds the run's scores; base models record
the commit fetched (``writing_alpaca.hub``); sources carry their revision to the download.

Cards are written through ``systems.write_system`` directly (no training); the workflow's side is
one dry run of the paper configuration."""

from __future__ import annotations

import json
import re
import shlex
import sys
import types
from pathlib import Path

import pytest
import yaml

from conftest import REPO, snakemake
from writing_alpaca import cards, cli, download, hub, systems
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.systems import SystemInfo

TEMPLATE = {
    "prompt_input": "{instruction}\n\n{input}\n\n### Response:\n",
    "prompt_no_input": "{instruction}\n\n### Response:\n",
    "response_split": "### Response:",
}
PROMPTS = {"grammar": "Fix grammatical errors in the text."}
METRICS = {"steps": 3, "final_loss": 0.5, "train_examples": 12, "gpu_hours": 0.0, "hardware": "CPU: test"}
LLAMA_SHA = "4782ad278652c7c71b72204d462d6d01eaaf7549"
ALPACA_SHA = "761dc5bfbdeeffa89b8bff5d038781a4055f796a"
SPEC = {
    "system": "toy",
    "base_model": {
        "name": "llama-7b",
        "hub": "huggyllama/llama-7b",
        "revision": LLAMA_SHA,
        "licence": "LLaMA (v1) non-commercial bespoke licence",
        "licence_id": "other",
    },
    "mixture": "writing_alpaca",
    "train_sets": [
        {
            "name": "alpaca",
            "task": "generic",
            "source": "alpaca",
            "licence": "data CC BY-NC 4.0",
            "revision": ALPACA_SHA,
            "urls": [f"https://raw.githubusercontent.com/tatsu-lab/stanford_alpaca/{ALPACA_SHA}/alpaca_data.json"],
        },
        {
            "name": "itr_fluency",
            "task": "fluency",
            "source": "iterater_v2",
            "licence": "Apache-2.0",
            "revision": "f549503ef55b76632d02538edb6987ea9f96f82c",
            "urls": [
                "https://huggingface.co/datasets/wanyu/IteraTeR_v2/resolve/"
                "f549503ef55b76632d02538edb6987ea9f96f82c/sent-level.train.intents.json"
            ],
            "n": 10000,
        },
        {"name": "turk_tune", "task": "simplification", "source": "turkcorpus", "licence": "GPL-3.0", "n": 2000},
    ],
}


def front_matter(path: Path) -> tuple[dict, str]:
    """The YAML metadata of a model card (parsed) and its body."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), text[:80]
    meta, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(meta), body


def lora_system(root: Path, spec: dict | None = SPEC, base: Path | None = None) -> Path:
    """A LoRA system directory written as the trainer writes it: card, metrics, system.json."""
    base = base or (root / "base")
    base.mkdir(parents=True, exist_ok=True)
    (base / "config.json").write_text("{}")
    data = root / "mixture.jsonl"
    data.write_text('{"id": "a", "instruction": "x", "input": "", "output": "y"}\n', encoding="utf-8")
    out = root / "models" / "toy"
    (out / systems.ADAPTER_DIR).mkdir(parents=True)
    (out / systems.ADAPTER_DIR / "adapter_config.json").write_text("{}")
    card = cards.training_card(
        cards.CardSpec.from_dict(spec) if spec else None,
        system="toy",
        kind="causal_lm",
        method="lora",
        settings={"spec": {"method": "lora"}, "training": {"max_steps": 3}, "template": TEMPLATE, "prompts": PROMPTS},
        hyperparameters={"max_steps": 3, "learning_rate": 3e-4, "lora": {"r": 8, "alpha": 16}},
        base=base,
        data=data,
        out=out,
    )
    systems.write_system(out, SystemInfo.causal_lm("toy", "lora", base, TEMPLATE, PROMPTS), METRICS, card=card)
    return out


# ---------------------------------------------------------------------------- the system's card
def test_a_trained_system_has_a_card_whose_metadata_parses_and_names_the_data_licences(tmp_path):
    out = lora_system(tmp_path)
    assert systems.read_system(out).system == "toy"  # system.json still the record of a complete system
    meta, body = front_matter(out / cards.README_MD)
    assert meta["base_model"] == "huggyllama/llama-7b" and meta["base_model_relation"] == "adapter"
    assert meta["license"] == "other" and meta["library_name"] == "peft" and meta["pipeline_tag"] == "text-generation"
    assert meta["datasets"] == ["wanyu/IteraTeR_v2"]  # the one source on the Hub
    assert {"writing-alpaca", "lora", "instruction-tuning", "text-simplification"} <= set(meta["tags"])
    assert "grammatical-error-correction" not in meta["tags"]  # no grammar data in this mixture
    licences = {t["name"]: t["licence"] for t in meta["training_data"]}
    assert licences == {"alpaca": "data CC BY-NC 4.0", "itr_fluency": "Apache-2.0", "turk_tune": "GPL-3.0"}
    assert [t["examples"] for t in meta["training_data"]] == ["all", 10000, 2000]
    assert meta["base_model_revision"] == meta["base_model_commit"] == LLAMA_SHA
    record = json.loads((out / cards.CARD_JSON).read_text())
    assert meta["settings_sha256"] == record["fingerprint"] == cards.settings_fingerprint(record)
    assert meta["training_data_sha256"] == record["data"]["sha256"] and re.fullmatch(
        r"[0-9a-f]{64}", record["data"]["sha256"]
    )
    # the body: base model and its licence, the data and theirs, hyper-parameters, loading, where the scores will be
    for text in (
        "LLaMA (v1) non-commercial bespoke licence",
        "| alpaca | generic | alpaca | all | data CC BY-NC 4.0 | `761dc5bfbdeeffa89b8bff5d038781a4055f796a` |",
        "| turk_tune | simplification | turkcorpus | 2,000 (seeded sample) | GPL-3.0 | – |",
        "| `lora.r` | 8 |",
        f'AutoModelForCausalLM.from_pretrained("huggyllama/llama-7b", revision="{LLAMA_SHA}")',
        f'PeftModel.from_pretrained(base, "{out}/adapter")',
        "## Scores",
        "results/scores/toy/<decoding>/<test set>.json",
        "results/cards/toy.md",
        "- Examples trained on: 12",
    ):
        assert text in body, text
    assert cards.read_card(out)["fingerprint"] == record["fingerprint"]


def test_the_fingerprint_follows_settings_and_provenance_not_licences(tmp_path):
    def fingerprint(root: Path, spec: dict) -> str:
        return json.loads((lora_system(root, spec) / cards.CARD_JSON).read_text())["fingerprint"]

    first = fingerprint(tmp_path / "a", SPEC)
    relicensed = json.loads(json.dumps(SPEC))
    relicensed["train_sets"][0]["licence"] = "CC BY-NC 4.0 (text)"
    assert fingerprint(tmp_path / "b", relicensed) == first
    moved = json.loads(json.dumps(SPEC))
    moved["base_model"]["revision"] = "main"
    assert fingerprint(tmp_path / "c", moved) != first


def test_a_fetched_base_records_the_commit_a_branch_resolved_to(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / hub.FETCHED_FROM_JSON).write_text(
        json.dumps({"repo": "huggyllama/llama-7b", "revision": "main", "commit": "c" * 40})
    )
    spec = json.loads(json.dumps(SPEC))
    spec["base_model"]["revision"] = "main"
    meta, body = front_matter(lora_system(tmp_path, spec, base=base) / cards.README_MD)
    assert meta["base_model_revision"] == "main" and meta["base_model_commit"] == "c" * 40
    assert "(a branch or tag: not pinned)" in body and f"`{'c' * 40}` (fetched" in body


def test_a_system_written_without_a_card_gets_one_from_its_record(tmp_path):
    systems.write_system(tmp_path / "g", SystemInfo.baseline("g", "gector", "bases/roberta"), {"steps": 1})
    meta, body = front_matter(tmp_path / "g" / cards.README_MD)
    assert meta["license"] == "unknown" and meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "token-classification" and meta["training_data"] == []
    assert "base_model" not in meta and "no `--card`" in body and "writing-alpaca baselines decode" in body


def test_card_arguments_are_checked():
    with pytest.raises(WritingAlpacaError, match=r"--card: for system 'toy', but --system is 'other'"):
        cards.parse_card_arg(json.dumps(SPEC), "other")
    with pytest.raises(WritingAlpacaError, match=r"--card\.base_model: missing \(required\)"):
        cards.parse_card_arg(json.dumps({"system": "toy"}), "toy")
    assert cards.parse_card_arg(None, "toy") is None


@pytest.mark.parametrize("command", ["train", "baselines train"])
def test_the_trainers_commands_hand_the_card_to_the_trainer(tmp_path, monkeypatch, command):
    """``--card`` and the command's fragments reach the trainer as the card it writes (the trainers
    themselves are stubbed: what they do with it is ``write_system``'s, tested above)."""
    from writing_alpaca.baselines import gector
    from writing_alpaca.training import recipe

    got = {}
    monkeypatch.setattr(recipe, "train", lambda *a, **kw: got.update(kw))
    monkeypatch.setattr(gector, "train", lambda **kw: got.update(kw))
    base = tmp_path / "base"
    base.mkdir()
    (tmp_path / "data.jsonl").write_text("{}\n")
    baseline = command != "train"
    spec = {"label": "G", "kind": "gector" if baseline else "causal_lm", "base": "b", "method": "full", "mixture": "m"}
    training = {"baselines": {"gector": {"max_steps": 2}}} if baseline else {"max_steps": 2}
    card = {**SPEC, "system": "sys"}
    argv = [*command.split(), "--system", "sys", "--spec", json.dumps(spec), "--training", json.dumps(training)]
    if not baseline:
        argv += ["--template", json.dumps(TEMPLATE), "--prompts", json.dumps(PROMPTS)]
    argv += ["--card", json.dumps(card), "--base", str(base), "--data", str(tmp_path / "data.jsonl")]
    assert cli.main([*argv, "--out", "results/models/sys"]) == 0
    written = got["card"]
    assert written["system"] == "sys" and written["system_dir"] == "results/models/sys"
    assert written["base_model"]["licence"] == SPEC["base_model"]["licence"]
    assert [t["licence"] for t in written["train_sets"]] == ["data CC BY-NC 4.0", "Apache-2.0", "GPL-3.0"]
    assert written["settings"]["spec"] == spec and written["settings"]["training"] == training
    assert written["hyperparameters"]["max_steps"] == 2 and written["data"]["file"] == str(tmp_path / "data.jsonl")
    assert cli.main([*argv[:-2], "--card", json.dumps(SPEC), *argv[-2:], "--out", "x"]) == 2  # another system's


# ---------------------------------------------------------------------------- merged, scored
def test_a_merged_model_gets_the_systems_card_as_a_transformers_model(tmp_path):
    out = lora_system(tmp_path)
    merged = tmp_path / "merged"
    merged.mkdir()
    cards.write_merged_card(merged, out)
    meta, body = front_matter(merged / cards.README_MD)
    assert meta["library_name"] == "transformers" and meta["base_model_relation"] == "finetune"
    assert meta["base_model"] == "huggyllama/llama-7b"
    assert {t["licence"] for t in meta["training_data"]} == {"data CC BY-NC 4.0", "Apache-2.0", "GPL-3.0"}
    assert f'AutoModelForCausalLM.from_pretrained("{merged}")' in body and "merged_from.json" in body


def score(root: Path, dataset: str, value: float, system: str = "toy", **extra) -> Path:
    path = root / "results" / "scores" / system / "beam4" / f"{dataset}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"score": value, **extra}))
    return path


TEST_SETS = {
    "conll14": {"title": "CoNLL-14", "task": "grammar", "metric": "m2", "licence": "NUS terms"},
    "jfleg": {"title": "JFLEG", "task": "fluency", "metric": "gleu", "licence": "CC BY-NC-SA 4.0"},
}


def test_render_card_adds_the_runs_scores_and_the_test_data_licences(tmp_path):
    out = lora_system(tmp_path)
    files = [score(tmp_path, "jfleg", 45.5), score(tmp_path, "conll14", 50.0, precision=60.0, recall=30.0)]
    args = ["render", "card", "--spec", '{"system": "toy"}', "--systems", '{"toy": {"label": "Toy-Alpaca"}}']
    args += ["--test-sets", json.dumps(TEST_SETS), "--train-metrics", str(out), "--scores", *map(str, files)]
    assert cli.main([*args, "--out-prefix", str(tmp_path / "cards" / "toy")]) == 0
    meta, body = front_matter(tmp_path / "cards" / "toy.md")
    assert body.lstrip().startswith("# Toy-Alpaca (`toy`)")
    rows = [line for line in body.splitlines() if line.startswith("| CoNLL-14") or line.startswith("| JFLEG")]
    assert rows == [  # the paper's task order: grammar first
        "| CoNLL-14 | Grammaticality | F0.5 (M2) | beam4 | 50.00 | 60.00 | 30.00 | NUS terms |",
        "| JFLEG | Fluency | GLEU | beam4 | 45.50 | – | – | CC BY-NC-SA 4.0 |",
    ]
    results = meta["model-index"][0]["results"]
    assert [(r["dataset"]["type"], r["metrics"][0]["value"]) for r in results] == [("conll14", 50.0), ("jfleg", 45.5)]
    assert {t["licence"] for t in meta["training_data"]} == {"data CC BY-NC 4.0", "Apache-2.0", "GPL-3.0"}
    # a score of another system is an error naming the file
    other = score(tmp_path, "jfleg", 1.0, system="other")
    bad = [*args[:-3], "--scores", str(other), "--out-prefix", str(tmp_path / "bad")]
    assert cli.main(bad) == 2
    assert not (tmp_path / "bad.md").exists()


# ---------------------------------------------------------------------------- fetching at a revision
def test_fetch_model_resolves_a_branch_to_a_commit_and_records_it(tmp_path, monkeypatch):
    calls = []

    class Api:
        def model_info(self, repo, revision=None):
            calls.append(("info", repo, revision))
            return types.SimpleNamespace(sha="d" * 40)

    def snapshot_download(repo_id, revision, local_dir, ignore_patterns):
        calls.append(("download", repo_id, revision))
        Path(local_dir, "config.json").write_text("{}")

    fake = types.ModuleType("huggingface_hub")
    fake.HfApi, fake.snapshot_download = Api, snapshot_download
    errors = types.ModuleType("huggingface_hub.errors")
    errors.HfHubHTTPError = type("HfHubHTTPError", (Exception,), {})
    errors.LocalEntryNotFoundError = type("LocalEntryNotFoundError", (Exception,), {})
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    monkeypatch.setitem(sys.modules, "huggingface_hub.errors", errors)

    hub.fetch_model("org/model", "main", str(tmp_path / "m"))
    assert calls == [("info", "org/model", "main"), ("download", "org/model", "d" * 40)]  # downloads that commit
    assert json.loads((tmp_path / "m" / hub.FETCHED_FROM_JSON).read_text()) == {
        "repo": "org/model",
        "revision": "main",
        "commit": "d" * 40,
    }
    assert cards.base_commit(tmp_path / "m") == "d" * 40
    calls.clear()
    hub.fetch_model("org/model", "e" * 40, str(tmp_path / "pinned"))  # a commit needs no look-up
    assert calls == [("download", "org/model", "e" * 40)]


def test_a_sources_revision_reaches_the_download_and_its_manifest():
    spec = {"files": [{"url": "https://example.org/a/b.txt", "name": "b.txt"}], "licence": "CC0", "revision": "abc"}
    parsed = download.parse_source_spec("src", spec)
    assert parsed.revision == "abc"
    hf = download.parse_source_spec("h", {"hf": {"path": "org/data"}, "revision": "f" * 40})
    assert hf.hf.revision == "f" * 40
    with pytest.raises(WritingAlpacaError, match=r"revision: expected a non-empty string"):
        download.parse_source_spec("src", {**spec, "revision": ""})


# ---------------------------------------------------------------------------- the workflow
def test_the_paper_dry_run_passes_the_card_its_provenance_and_warns_of_nothing(tmp_path):
    out = snakemake(
        "-n", "-p", "--profile", "profiles/slurm", "--directory", str(tmp_path), "results/cards/writing-alpaca-7b.md"
    ).stdout
    assert "unpinned revision" not in out  # every revision of the paper's config is a commit
    (train,) = [line for line in out.splitlines() if " train --system writing-alpaca-7b " in line]
    words = shlex.split(
        train.split("Shell command: ", 1)[-1].rsplit(" > ", 1)[0]
    )  # torchrun ... -m writing_alpaca train
    card = json.loads(words[words.index("--card") + 1])
    assert card["base_model"] == {
        "name": "llama-7b",
        "hub": "huggyllama/llama-7b",
        "revision": LLAMA_SHA,
        "path": None,
        "built": False,
        "licence": "LLaMA (v1) non-commercial bespoke licence, research use only (Meta AI, 2023; the repository's LICENSE)",
        "licence_id": "other",
    }
    sets = {t["name"]: t for t in card["train_sets"]}
    assert list(sets) == [
        "alpaca",
        "wi_locness",
        "itr_fluency",
        "itr_clarity",
        "itr_coherence",
        "turk_tune",
        "wikilarge",
        "wnc_train",
    ]
    assert sets["alpaca"]["licence"] == "data CC BY-NC 4.0" and sets["alpaca"]["revision"] == ALPACA_SHA
    assert sets["alpaca"]["urls"] == [
        f"https://raw.githubusercontent.com/tatsu-lab/stanford_alpaca/{ALPACA_SHA}/alpaca_data.json"
    ]
    assert (
        sets["turk_tune"]["n"] == 2000 and len(sets["turk_tune"]["urls"]) == 2
    )  # the files it reads, not the test files
    assert all(t["licence"] for t in card["train_sets"])
    assert (
        "writing-alpaca render card --spec" in out
        and "--scores results/scores/writing-alpaca-7b/beam16/conll14.json" in out
    )


def test_the_configs_revisions_are_commits_named_by_their_urls():
    from writing_alpaca import settings as S

    paper = yaml.safe_load((REPO / "config.yaml").read_text())
    for name, base in paper["base_models"].items():
        assert S.is_commit_sha(base["revision"]) and base["licence"] and base["licence_id"], name
    for name in (
        "jfleg",
        "iterater",
        "iterater_v2",
        "turkcorpus",
        "asset",
        "stsb",
        "wikilarge",
        "alpaca",
        "alpaca_gpt4",
    ):
        src = paper["sources"][name]
        assert S.is_commit_sha(src["revision"]), name
        assert all(f"/{src['revision']}/" in f["url"] for f in src["files"]), name
    demo = yaml.safe_load((REPO / "demo" / "config.yaml").read_text())
    assert all(src["revision"] is None for src in demo["sources"].values())  # the demo's own files
