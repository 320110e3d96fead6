"""One definition of every setting (writing_alpaca.settings): the Snakefile rejects at `snakemake -n`
every configuration a job would reject, with one line naming the key; the jobs' commands parse their
fragments with the same classes and accept every configuration the dry run accepts."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from snakemake.utils import update_config

from conftest import REPO, snakemake
from writing_alpaca import settings as S
from writing_alpaca.baselines.common import hyperparameters
from writing_alpaca.decode import DecodingSpec
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.training.config import TrainConfig

PAPER = yaml.safe_load((REPO / "config.yaml").read_text())
DEMO = yaml.safe_load((REPO / "demo" / "config.yaml").read_text())
REHEARSAL = yaml.safe_load((REPO / "rehearsal" / "config.yaml").read_text())


def overlaid(*layers: dict) -> dict:
    """Layers merged as snakemake merges --configfile overlays."""
    cfg = copy.deepcopy(PAPER)
    for layer in layers:
        update_config(cfg, copy.deepcopy(layer))
    return cfg


def problems(overlay: dict) -> list[str]:
    try:
        S.validate_config(overlaid(overlay))
    except S.SettingsError as exc:
        return exc.problems
    return []


# Every configuration a job would reject: (overlay on config.yaml, the one line `snakemake -n` prints).
INVALID = [
    # the four cases of issue 13 that a job used to reject after scheduling, and their neighbours
    (
        {"decodings": {"beam16": {"max_input_tokens": 0}}},
        "decodings.beam16.max_input_tokens: Input should be greater than or equal to 1 (got 0)",
    ),
    (
        {"training": {"lora": {"alpha": 16.5}}},
        "training.lora.alpha: Input should be a valid integer, got a number with a fractional part (got 16.5)",
    ),
    (
        {"decodings": {"beam16": {"backend": "vllm"}}},
        "decodings.beam16: backend 'vllm' decodes greedily only (num_beams: 1), got num_beams: 16; use backend: hf",
    ),
    (
        {"decodings": {"beam16": {"bf16": True}}},
        "decodings.beam16: unknown key 'bf16' (allowed: num_beams, batch_size, max_new_tokens, backend, precision, max_input_tokens, gector)",
    ),
    # types, bounds, names
    ({"trainig": {"max_steps": 3}}, "<top level>: unknown key 'trainig'"),
    ({"training": {"max_steps": "many"}}, "training.max_steps: expected a number, got 'many'"),
    (
        {"training": {"bf16": True}},
        "training.bf16: renamed: use precision: auto|bf16|fp16|fp32 (bf16: auto -> precision: auto, true -> bf16, false -> fp32)",
    ),
    (
        {"training": {"precision": "half"}},
        "training.precision: Input should be 'auto', 'bf16', 'fp16' or 'fp32' (got 'half')",
    ),
    ({"training": {"batch_size": 130}}, "training: batch_size (130) must be a multiple of micro_batch_size (4)"),
    ({"training": {"deepspeed": {"stage": 1, "offload": True}}}, "training.deepspeed: offload needs ZeRO stage 2 or 3"),
    (
        {"training": {"baselines": {"gector": {"lr": 1}}}},
        "training.baselines.gector: unknown key 'lr' (allowed: learning_rate,",
    ),
    (
        {"systems": {"alpaca-7b": {"method": "qlora"}}},
        "systems.alpaca-7b.method: Input should be 'none', 'lora' or 'full' (got 'qlora')",
    ),
    (
        {"systems": {"llama-7b-gec": {"training": {"max_steps": 10}}}},  # + the paper's epochs: 1
        "systems.llama-7b-gec.training: give exactly one step budget, max_steps (optimiser steps) or epochs (got both)",
    ),
    (
        {"systems": {"t5-large-gec": {"training": {"epochs": 1}}}},
        "systems.t5-large-gec.training: a step budget of its own is for trained causal_lm systems",
    ),
    ({"test_sets": {"jfleg": {"refs": None}}}, "test_sets.jfleg: format 'parallel' needs 'refs'"),
    (
        {"test_sets": {"jfleg": {"metric": "errant"}}},
        "test_sets.jfleg: metric 'errant' scores against M2 edits: it needs format 'm2'",
    ),
    (
        {"sources": {"jfleg": {"files": [{"url": "ftp://x/y", "name": "y"}]}}},
        "sources.jfleg.files.0.url: String should match pattern '^(https?|file):' (got 'ftp://x/y')",
    ),
    # a source's revision is the commit its URLs name (issue 14)
    (
        {"sources": {"jfleg": {"revision": "main"}}},
        "sources.jfleg.files.0.url: does not name revision 'main' (a source's http(s) URLs point at its revision",
    ),
    ({"sources": {"alpaca": {"revision": ""}}}, "sources.alpaca.revision: String should have at least 1 character"),
    (
        {"base_models": {"llama-7b": {"licence_id": "Apache 2"}}},
        "base_models.llama-7b.licence_id: String should match pattern",
    ),
    # cross-field rules
    ({"tables": {"table4": {"systems": ["alpaca-70b"]}}}, "tables.table4.systems: unknown system 'alpaca-70b'"),
    ({"test_sets": {"jfleg": {"source": "nowhere"}}}, "test_sets.jfleg.source: unknown source 'nowhere'"),
    (
        {"systems": {"writing-alpaca-7b-full": {"resources": {"gpu": 6, "nodes": 4}}}},
        "systems.writing-alpaca-7b-full.resources: gpu (6) must be a multiple of nodes (4)",
    ),
    (
        {"training": {"lora": {"target_modules": ["q_proj", "query"]}}},
        "training.lora.target_modules: query: not a layer of the causal_lm bases (LLaMA family)",
    ),
    (
        {"resources": {"decode": {"gpu": 2}}},
        "resources.decode.gpu: 2: a decode job is one process on one GPU (0 or 1); decode jobs run in parallel instead",
    ),
    (
        {"systems": {"roberta-gector": {"resources": {"gpu": 8}}}},
        "training.baselines.gector.batch_size: 128 is not a multiple of micro_batch_size 32 x the 8 processes of system 'roberta-gector'",
    ),
    (
        {"systems": {"alpaca-7b": {"deepspeed": {"stage": 1, "offload": True}}}},
        "systems.alpaca-7b.deepspeed: offload needs ZeRO stage 2 or 3",
    ),
    (
        {"systems": {"roberta-gector": {"method": "lora"}}},
        "systems.roberta-gector: method 'lora' is for causal_lm systems; a gector baseline is trained in full",
    ),
    (
        {"tables": {"table4": {"significance": {"reference": "llama-13b-gec"}}}},
        "tables.table4.significance.reference: 'llama-13b-gec' is not one of the table's systems",
    ),
    (
        {"tables": {"table6": {"systems": ["writing-alpaca-7b", "t5-large-gec"]}}},
        "tables.table6.instructions: system 't5-large-gec' is a seq2seq baseline",
    ),
]


@pytest.mark.parametrize("overlay, line", INVALID, ids=[line.split(":")[0] for _, line in INVALID])
def test_every_invalid_config_is_one_line_naming_the_key(overlay, line):
    found = problems(overlay)
    assert any(p.startswith(line) for p in found), found
    assert all("\n" not in p for p in found)


def test_snakemake_dry_run_refuses_every_invalid_config(tmp_path):
    """The same table through `snakemake -n --configfile overlay`: non-zero, the line, no traceback."""
    from concurrent.futures import ThreadPoolExecutor

    def dry_run(i: int):
        cfg = tmp_path / f"bad{i}.yaml"
        cfg.write_text(yaml.safe_dump(INVALID[i][0]))
        return snakemake("-n", f"--configfile={cfg}", "all", check=False)

    with ThreadPoolExecutor(max_workers=2) as pool:  # each is mostly snakemake's start-up
        runs = list(pool.map(dry_run, range(len(INVALID))))
    for (overlay, line), proc in zip(INVALID, runs):
        assert proc.returncode != 0, overlay
        assert "invalid configuration:\n" in proc.stdout, proc.stdout[-2000:]
        assert f"  {line}" in proc.stdout, (line, proc.stdout[-2000:])
        assert "Traceback" not in proc.stdout


def test_a_typo_names_its_overlay_file_and_the_key_it_meant(tmp_path):
    """A misspelt key: the line suggests the known key and names the --configfile that set it;
    a mistake in the workflow's own config.yaml would name that file instead."""
    overlay = tmp_path / "typo.yaml"
    overlay.write_text("decodings:\n  beam16: {num_beam: 4}\n")
    proc = snakemake("-n", f"--configfile={overlay}", "all", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stdout
    assert (
        "  decodings.beam16: unknown key 'num_beam' (allowed: num_beams, batch_size, max_new_tokens, backend, "
        f"precision, max_input_tokens, gector); did you mean 'num_beams'? (in {overlay})"
    ) in proc.stdout, proc.stdout[-2000:]


# Valid edge cases: the dry run accepts them, and so does the job's own parser.
def _decode_fragment(cfg, name="beam16"):
    return DecodingSpec.from_dict(cfg["decodings"][name])


def _train_fragment(cfg, system="writing-alpaca-7b"):
    ns = _common(cfg)
    return TrainConfig.from_fragments(system, ns["system"](system), ns["training_for"](system), cfg["template"])


VALID = [
    ({"decodings": {"beam16": {"max_input_tokens": 128}}}, lambda cfg: _decode_fragment(cfg).max_input_tokens == 128),
    ({"training": {"lora": {"alpha": 16.0}}}, lambda cfg: _train_fragment(cfg).lora.alpha == 16),
    ({"decodings": {"greedy": {"backend": "vllm"}}}, lambda cfg: _decode_fragment(cfg, "greedy").backend == "vllm"),
    ({"training": {"seed": 7}}, lambda cfg: _train_fragment(cfg).seed == 42),  # the rule passes the top-level seed
    (
        {"training": {"baselines": {"gector": {"seed": 3}}}},
        lambda cfg: hyperparameters("gector", _common(cfg)["training_for"]("roberta-gector"))["seed"] == 3,
    ),
    (
        {"sources": {"stsb": {"files": None, "hf": {"path": "csv", "data_files": {"test": "x.csv"}, "split": "test"}}}},
        lambda cfg: S.Source.from_dict(_common(cfg)["source_spec"]("stsb")).hf.data_files == {"test": "x.csv"},
    ),
    (
        {"systems": {"llama-7b-gec": {"training": {"epochs": None, "max_steps": 10}}}},
        lambda cfg: _train_fragment(cfg, "llama-7b-gec").max_steps == 10,
    ),
]


def _common(cfg: dict) -> dict:
    """workflow/rules/common.smk's helpers for ``cfg`` (which validates it on load)."""
    from types import SimpleNamespace

    namespace = {
        "workflow": SimpleNamespace(basedir=str(REPO)),
        "config": copy.deepcopy(cfg),
        "report": lambda p, **_: p,
    }
    source = REPO / "workflow" / "rules" / "common.smk"
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("overlay, accepted", VALID, ids=[json.dumps(o)[:60] for o, _ in VALID])
def test_valid_edge_cases_pass_the_dag_and_the_job(overlay, accepted):
    cfg = overlaid(overlay)
    assert problems(overlay) == []
    assert accepted(cfg)


def test_snakemake_dry_run_accepts_the_edge_cases(tmp_path):
    merged = {}
    for overlay, _ in VALID[:3]:  # the three that used to fail inside a job; one dry run of the paper's DAG
        update_config(merged, copy.deepcopy(overlay))
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump(merged))
    proc = snakemake("-n", f"--configfile={cfg}", "all")
    assert "This was a dry-run" in proc.stdout


def test_revisions_that_can_move_are_warnings_not_errors():
    """A base model or source the artefacts take at a branch (or on a git host without a revision) is
    one warning line naming the key; the three configs pin every one; an unused one is not named."""
    for layers in ((), (DEMO,), (REHEARSAL,)):
        assert S.revision_warnings(S.validate_config(overlaid(*layers))) == [], layers
    main_url = "https://raw.githubusercontent.com/tatsu-lab/stanford_alpaca/main/alpaca_data.json"
    cfg = S.validate_config(
        overlaid(
            {
                "base_models": {"llama-7b": {"revision": "main"}, "llama-13b": {"revision": None}},
                "sources": {
                    "alpaca": {"revision": "main", "files": [{"url": main_url, "name": "alpaca_data.json"}]},
                    "alpaca_gpt4": {"revision": None, "files": [{"url": main_url, "name": "alpaca_gpt4_data.json"}]},
                },
            }
        )
    )
    assert S.revision_warnings(cfg) == [
        "base_models.llama-7b.revision: 'main' is a branch or tag, not a commit SHA: huggyllama/llama-7b can "
        "change under it (pin a 40-hex commit)",
        "base_models.llama-13b.revision: not set: huggyllama/llama-13b is fetched at main, which can move "
        "(pin a 40-hex commit SHA)",
        "sources.alpaca.revision: 'main' is a branch or tag, not a commit SHA: its files can change under it "
        "(pin a 40-hex commit)",
        "sources.alpaca_gpt4.revision: not set, but its URLs are on raw.githubusercontent.com: name the commit "
        "they point at",
    ]
    # the demo's tables take none of the paper's base models: their revisions are not its business
    demo = S.validate_config(overlaid(DEMO, {"base_models": {"llama-7b": {"revision": "main"}}}))
    assert S.revision_warnings(demo) == []
    assert S.is_commit_sha("0" * 40) and not S.is_commit_sha("main") and not S.is_commit_sha("A" * 40)


def test_paper_demo_and_rehearsal_configs_are_valid():
    for layers in ((), (DEMO,), (REHEARSAL,)):
        cfg = S.validate_config(overlaid(*layers))
        assert cfg.decodings[cfg.decoding].num_beams in (2, 16) or layers == (DEMO,)


def test_defaults_are_defined_once_and_the_commands_read_them():
    # a decoding with only what config.yaml must say gets the same defaults in the job as the schema documents
    schema = S.json_schema()
    decoding = schema["$defs"]["Decoding"]["properties"]
    spec = DecodingSpec.from_dict({})
    assert (spec.num_beams, spec.batch_size, spec.max_new_tokens, spec.backend) == (
        decoding["num_beams"]["default"],
        decoding["batch_size"]["default"],
        decoding["max_new_tokens"]["default"],
        decoding["backend"]["default"],
    )
    assert (
        hyperparameters("seq2seq", {})["max_steps"]
        == schema["$defs"]["Seq2SeqTraining"]["properties"]["max_steps"]["default"]
    )


def test_generated_schema_is_current():
    path = REPO / "workflow" / "schemas" / "config.schema.json"
    assert path.read_text(encoding="utf-8") == S.schema_text(), (
        "workflow/schemas/config.schema.json is stale: run `writing-alpaca settings schema --out workflow/schemas/config.schema.json`"
    )


def test_command_fragments_fail_with_the_key(tmp_path, capsys):
    with pytest.raises(
        WritingAlpacaError, match=r"decoding.num_beams: Input should be greater than or equal to 1 \(got 0\)"
    ):
        DecodingSpec.from_dict({"num_beams": 0})
    with pytest.raises(WritingAlpacaError, match=r"--decoding: not valid JSON"):
        S.parse_json(S.Decoding, "{", "--decoding")
    from writing_alpaca import cli

    spec = json.dumps(
        {"title": "X", "task": "grammar", "source": "s", "format": "wnc", "metric": "errant", "path": "x"}
    )
    argv = [
        "data",
        "test",
        "--name",
        "x",
        "--spec",
        spec,
        "--raw",
        str(tmp_path),
        "--seed",
        "1",
        "--out",
        str(tmp_path / "o.jsonl"),
    ]
    assert cli.main(argv) == 2
    assert (
        "test_sets.x: metric 'errant' scores against M2 edits: it needs format 'm2', got 'wnc'"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "o.jsonl").exists()


def test_settings_check_command(tmp_path, capsys):
    from writing_alpaca import cli

    assert cli.main(["settings", "check", str(REPO / "config.yaml"), str(REPO / "demo" / "config.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {lora: {alpha: 16.5}}\n")
    assert cli.main(["settings", "check", str(REPO / "config.yaml"), str(bad)]) == 2
    assert "training.lora.alpha" in capsys.readouterr().err
