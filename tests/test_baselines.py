"""Tests of the Table-7 baselines (T5 seq2seq, GECToR) on tiny randomly initialised models."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from _baselines_fixtures import BEA_TRAIN_M2, agreement_records, m2_pairs, write_jsonl
from writing_alpaca.baselines import register
from writing_alpaca.baselines.common import GECTOR_DEFAULTS, SEQ2SEQ_DEFAULTS, hyperparameters
from writing_alpaca.baselines.gector import label_vocab
from writing_alpaca.baselines.gector_tags import (
    APPEND,
    DELETE,
    KEEP,
    VerbForms,
    apply_tags,
    extract_tags,
    keep_one,
    lemminflect_verb_forms,
    load_verb_forms,
)
from writing_alpaca.errors import WritingAlpacaError

VERBS = VerbForms.from_lines(["go_goes:VB_VBZ", "goes_go:VBZ_VB", "eat_ate:VB_VBD"])


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["baselines", *argv])
    return args.func(args)


# ---------------------------------------------------------------- tag extraction


@pytest.mark.parametrize(
    "source, target, verbs, expected",
    [
        # replacement: $REPLACE without a verb dictionary, a verb g-transform with one
        ("He go to school .", "He goes to school .", None, {2: ["$REPLACE_goes"]}),
        ("He go to school .", "He goes to school .", VERBS, {2: ["$TRANSFORM_VERB_VB_VBZ"]}),
        # insertion: $APPEND on the token before; at the start, on $START (position 0)
        ("I like dog .", "I like the dog .", None, {2: ["$APPEND_the"]}),
        ("like dogs .", "I like dogs .", None, {0: ["$APPEND_I"]}),
        ("I like dogs", "I really like dogs .", None, {1: ["$APPEND_really"], 3: ["$APPEND_."]}),
        # deletion
        ("I I like it .", "I like it .", None, {1: [DELETE]}),
        ("He is is here", "He is here", None, {3: [DELETE]}),  # the longest match keeps "He is"
        # g-transforms: case, agreement, merge, hyphen split
        ("new york is big", "New York is big", None, {1: ["$TRANSFORM_CASE_CAPITAL"], 2: ["$TRANSFORM_CASE_CAPITAL"]}),
        ("I like cat .", "I like cats .", None, {3: ["$TRANSFORM_AGREEMENT_PLURAL"]}),
        ("He likes dogs .", "He like dogs .", None, {2: ["$TRANSFORM_AGREEMENT_SINGULAR"]}),
        ("to day is fine", "today is fine", None, {1: ["$MERGE_SPACE"]}),
        ("e mail me", "e-mail me", None, {1: ["$MERGE_HYPHEN"]}),
        ("a well-known man", "a well known man", None, {2: ["$TRANSFORM_SPLIT_HYPHEN"]}),
        # several edits on one token: replacement then insertions, in order
        ("He eat apple", "He ate an apple .", VERBS, {2: ["$TRANSFORM_VERB_VB_VBD", "$APPEND_an"], 3: ["$APPEND_."]}),
        ("", "Hello", None, {0: ["$APPEND_Hello"]}),
        ("Hello there", "", None, {1: [DELETE], 2: [DELETE]}),
        ("Nothing to do .", "Nothing to do .", None, {}),
    ],
)
def test_extract_tags_hand_checked(source, target, verbs, expected):
    src, tgt = source.split(), target.split()
    tags = extract_tags(src, tgt, verbs)
    assert len(tags) == len(src) + 1
    assert {i: t for i, t in enumerate(tags) if t} == expected
    assert apply_tags(src, tags, verbs) == tgt


def test_keep_one_and_single_tag_application():
    tags = extract_tags("He eat apple".split(), "He ate an apple .".split(), VERBS)
    first = keep_one(tags)
    assert first == [KEEP, KEEP, "$TRANSFORM_VERB_VB_VBD", "$APPEND_."]
    # one round of first tags fixes part of the sentence; the next round can finish it
    assert apply_tags("He eat apple".split(), first, VERBS) == "He ate apple .".split()
    # tags that do not apply leave the token unchanged
    assert apply_tags(["cat"], [KEEP, "$TRANSFORM_VERB_VB_VBZ"], VERBS) == ["cat"]
    assert apply_tags(["a", "b"], [KEEP, "<OOV>", DELETE]) == ["a"]


@pytest.mark.real_data
def test_tags_reconstruct_real_learner_corrections():
    """Every W&I train sentence (first 3,000) is rebuilt exactly from its extracted tags."""
    pairs = m2_pairs(BEA_TRAIN_M2, 3000)
    assert len(pairs) == 3000
    changed = 0
    for source, target in pairs:
        tags = extract_tags(source.split(), target.split())
        assert apply_tags(source.split(), tags) == target.split(), (source, target, tags)
        changed += source != target
        if source == target:
            assert not any(tags)
    assert changed > 1500  # most learner sentences carry edits


def test_verb_forms_file(tmp_path):
    path = tmp_path / "verbs.txt"
    path.write_text("go_goes:VB_VBZ\ngo_went:VB_VBD\ngo_gone:VB_VBD\n")
    verbs = VerbForms.load(path)
    assert verbs.tag("go", "went") == "$TRANSFORM_VERB_VB_VBD"
    assert verbs.apply("go", "$TRANSFORM_VERB_VB_VBD") == "went"  # first entry wins
    path.write_text("go_goes:VB_VBZ\nbroken line\n")
    with pytest.raises(WritingAlpacaError, match=r"verbs.txt:2: expected"):
        VerbForms.load(path)


@pytest.mark.real_data
def test_lemminflect_verb_forms_cover_regular_irregular_and_be(tmp_path):
    verbs = lemminflect_verb_forms()
    assert len(verbs.encode) > 50_000  # ~6,750 verbs x up to 20 ordered form pairs
    hand_checked = {
        ("go", "goes"): "VB_VBZ",
        ("go", "went"): "VB_VBD",
        ("goes", "go"): "VBZ_VB",
        ("eat", "eating"): "VB_VBG",
        ("eaten", "eat"): "VBN_VB",
        ("is", "was"): "VBZ_VBD",
        ("was", "is"): "VBD_VBZ",
        ("has", "have"): "VBZ_VB",
        ("been", "be"): "VBN_VB",
    }
    # "walked" is both VBD and VBN: the later entry of the pair keeps the encoding, as in GECToR
    assert verbs.encode["walking_walked"] in ("VBG_VBD", "VBG_VBN")
    for (word, form), tags in hand_checked.items():
        assert verbs.tag(word, form) == "$TRANSFORM_VERB_" + tags, (word, form)
        assert verbs.apply(word, "$TRANSFORM_VERB_" + tags) == form
    assert verbs.tag("apple", "apples") is None and verbs.tag("go", "gone away") is None
    # the dictionary drives the tags: agreement and tense errors become verb g-transformations
    src, tgt = "He go to school and have eat .".split(), "He goes to school and has eaten .".split()
    tags = extract_tags(src, tgt, verbs)
    assert [t for t in tags if t] == [
        ["$TRANSFORM_VERB_VB_VBZ"],
        ["$TRANSFORM_VERB_VB_VBZ"],
        ["$TRANSFORM_VERB_VB_VBN"],
    ]
    assert apply_tags(src, tags, verbs) == tgt
    # every real W&I correction is still rebuilt exactly with the dictionary
    for source, target in m2_pairs(BEA_TRAIN_M2, 500):
        assert apply_tags(source.split(), extract_tags(source.split(), target.split(), verbs), verbs) == target.split()


def test_load_verb_forms_settings(tmp_path):
    assert load_verb_forms(None) is None
    path = tmp_path / "verb-form-vocab.txt"
    path.write_text("go_goes:VB_VBZ\n")
    assert load_verb_forms(str(path)).tag("go", "goes") == "$TRANSFORM_VERB_VB_VBZ"
    assert load_verb_forms("lemminflect").tag("go", "went") == "$TRANSFORM_VERB_VB_VBD"
    with pytest.raises(WritingAlpacaError, match=r"verb_forms: .*missing.txt: file not found"):
        load_verb_forms(str(tmp_path / "missing.txt"))


def test_label_vocabulary_is_frequency_ranked():
    seqs = [[KEEP, "$APPEND_the", DELETE], [KEEP, DELETE, "$REPLACE_a"], [APPEND + "a", DELETE]]
    counts = Counter(tag for seq in seqs for tag in seq)
    assert label_vocab(counts, 4) == [KEEP, "<OOV>", DELETE, "$APPEND_a"]
    assert label_vocab(counts, 10) == [KEEP, "<OOV>", DELETE, "$APPEND_a", "$APPEND_the", "$REPLACE_a"]
    with pytest.raises(WritingAlpacaError, match="max_labels must be at least 3"):
        label_vocab(counts, 2)


def test_hyperparameters_defaults_and_errors():
    assert hyperparameters("seq2seq", {}) == SEQ2SEQ_DEFAULTS
    hp = hyperparameters("gector", {"seed": 7, "baselines": {"gector": {"max_steps": 3}}})
    assert hp["max_steps"] == 3 and hp["seed"] == 7 and hp["learning_rate"] == GECTOR_DEFAULTS["learning_rate"]
    with pytest.raises(WritingAlpacaError, match="unknown key"):
        hyperparameters("gector", {"baselines": {"gector": {"lr": 1}}})
    with pytest.raises(WritingAlpacaError, match=r"batch_size \(10\) must be a multiple of micro_batch_size \(4\)"):
        hyperparameters("seq2seq", {"baselines": {"seq2seq": {"batch_size": 10, "micro_batch_size": 4}}})
    with pytest.raises(
        WritingAlpacaError, match=r"gector.save_steps: Input should be greater than or equal to 0 \(got -1\)"
    ):
        hyperparameters("gector", {"baselines": {"gector": {"save_steps": -1}}})


# ---------------------------------------------------------------- tiny models


def _tree_digest(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


@pytest.mark.parametrize("kind", ["seq2seq", "gector"])
def test_build_tiny_offline_and_deterministic(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    corpus = write_jsonl(tmp_path / "corpus.jsonl", agreement_records(40))
    spec = json.dumps(
        {"kind": kind, "build_tiny": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "vocab": 300}}
    )
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert (
            run(
                "build-tiny",
                "--kind",
                kind,
                "--spec",
                spec,
                "--corpus",
                str(corpus),
                "--seed",
                str(seed),
                "--out",
                str(tmp_path / name),
            )
            == 0
        )
    a, b, c = (_tree_digest(tmp_path / n) for n in "abc")
    assert a == b
    assert a["model.safetensors"] != c["model.safetensors"] and a["tokenizer.json"] == c["tokenizer.json"]
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(tmp_path / "a")
    assert config.model_type == ("t5" if kind == "seq2seq" else "roberta")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "a")
    assert config.vocab_size == len(tokenizer) <= 300
    ids = tokenizer("He goes to school .")["input_ids"]
    if kind == "seq2seq":
        assert ids[-1] == tokenizer.eos_token_id == 1 and tokenizer.pad_token_id == 0
    else:
        assert ids[0] == tokenizer.bos_token_id == 0 and ids[-1] == tokenizer.eos_token_id == 2


def _train_and_decode(tmp_path_factory, kind: str, hp: dict) -> dict:
    tmp = tmp_path_factory.mktemp(kind)
    records = agreement_records(60)
    mixture = write_jsonl(
        tmp / "mixture.jsonl",
        records + [{"id": "g", "task": "generic", "instruction": "Say hi.", "input": "", "output": "hi"}],
    )
    test = [
        {"id": f"t{i}", "dataset": "toy", "task": "grammar", "source": r["input"], "references": [r["output"]]}
        for i, r in enumerate(records[::5])
    ]
    test.append({"id": "empty", "dataset": "toy", "task": "grammar", "source": "", "references": [""]})
    test_path = write_jsonl(tmp / "test.jsonl", test)
    spec = {
        "kind": kind,
        "build_tiny": {
            "layers": 2,
            "hidden": 64,
            "heads": 4,
            "intermediate": 128,
            "vocab": 400,
            "max_position_embeddings": 64,
        },
    }
    run(
        "build-tiny",
        "--kind",
        kind,
        "--spec",
        json.dumps(spec),
        "--corpus",
        str(mixture),
        "--seed",
        "1",
        "--out",
        str(tmp / "base"),
    )
    system = {"label": kind, "kind": kind, "base": "tiny", "method": "full", "mixture": "toy"}
    training = {"max_steps": 1000, "precision": "auto", "baselines": {kind: hp}}
    run(
        "train",
        "--system",
        f"tiny-{kind}",
        "--spec",
        json.dumps(system),
        "--training",
        json.dumps(training),
        "--base",
        str(tmp / "base"),
        "--data",
        str(mixture),
        "--out",
        str(tmp / "system"),
    )
    decoding = {"num_beams": 2, "batch_size": 3, "max_new_tokens": 16, "backend": "hf"}
    run(
        "decode",
        "--system-dir",
        str(tmp / "system"),
        "--data",
        str(test_path),
        "--decoding",
        json.dumps(decoding),
        "--out",
        str(tmp / "out.txt"),
        "--metrics",
        str(tmp / "out.metrics.json"),
    )
    return {"dir": tmp, "test": test}


@pytest.fixture(scope="module")
def t5_run(tmp_path_factory):
    hp = {
        "max_steps": 30,
        "batch_size": 8,
        "micro_batch_size": 8,
        "optimizer": "adamw",
        "learning_rate": 3e-3,
        "logging_steps": 5,
        "save_steps": 0,
        "source_prefix": "{task}: ",
    }
    return _train_and_decode(tmp_path_factory, "seq2seq", hp)


@pytest.fixture(scope="module")
def gector_run(tmp_path_factory):
    hp = {
        "max_steps": 30,
        "batch_size": 16,
        "micro_batch_size": 8,
        "learning_rate": 2e-3,
        "cold_learning_rate": 1e-2,
        "cold_steps": 5,
        "warmup_steps": 0,
        "logging_steps": 5,
        "max_length": 32,
    }
    return _train_and_decode(tmp_path_factory, "gector", hp)


def _gpu(monkeypatch, capability: tuple[int, int]) -> None:
    """Pretend a CUDA GPU of ``capability`` (torch says bf16 is supported below 8.0 only by emulation)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: capability >= (8, 0) or including_emulation
    )


@pytest.mark.parametrize("capability, gector, t5", [((7, 0), "float16", None), ((8, 0), "bfloat16", "bfloat16")])
def test_baselines_take_the_llm_trainers_precision(monkeypatch, capability, gector, t5):
    import torch

    from writing_alpaca.baselines.common import device_and_dtype
    from writing_alpaca.training.config import precision_setting
    from writing_alpaca.training.modelling import choose_precision

    _gpu(monkeypatch, capability)
    # as the GECToR trainer resolves training.precision: the LLM trainer's chooser
    device, dtype = device_and_dtype(choose_precision(precision_setting({"precision": "auto"})))
    assert device.type == "cuda" and dtype == getattr(torch, gector)
    # T5 overflows in fp16 (its trainer and decoder pass fp16=False): `auto` is fp32 (None) on a GPU without native bf16
    assert device_and_dtype(choose_precision("auto", fp16=False))[1] == (getattr(torch, t5) if t5 else None)
    assert device_and_dtype(choose_precision("fp16", fp16=False))[1] == torch.float16  # asked for explicitly
    assert device_and_dtype(choose_precision("fp32")) == (torch.device("cuda"), None)


def test_baselines_precision_errors(monkeypatch):
    import torch

    from writing_alpaca.baselines.common import device_and_dtype
    from writing_alpaca.training.config import precision_setting
    from writing_alpaca.training.modelling import choose_precision

    with pytest.raises(WritingAlpacaError, match=r"training.bf16: renamed: use precision"):
        precision_setting({"bf16": "auto"})
    _gpu(monkeypatch, (7, 0))
    with pytest.raises(WritingAlpacaError, match=r"training.precision is bf16 but this GPU has compute capability 7.0"):
        choose_precision("bf16")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_and_dtype(choose_precision("auto")) == (torch.device("cpu"), None)


def _check_training_artefacts(system_dir: Path, kind: str, steps: int) -> dict:
    system = json.loads((system_dir / "system.json").read_text())
    assert system == {
        "system": f"tiny-{kind}",
        "kind": kind,
        "method": "full",
        "base": str(system_dir.parent / "base"),
        "adapter": None,
        "model": "model",
    }
    metrics = json.loads((system_dir / "train_metrics.json").read_text())
    for key in (
        "wall_seconds",
        "gpus",
        "gpu_hours",
        "tokens_seen",
        "tokens_per_second",
        "steps",
        "final_loss",
        "loss_history",
        "hardware",
    ):
        assert key in metrics
    assert metrics["steps"] == steps and metrics["pairs"] == 60  # the generic record without input is skipped
    assert metrics["tokens_seen"] > 0 and metrics["wall_seconds"] > 0
    losses = metrics["loss_history"]
    assert len(losses) >= 5 and metrics["final_loss"] == losses[-1]
    assert losses[-1] < 0.5 * losses[0], losses
    assert not list(system_dir.parent.glob(".system*"))  # no temporary or checkpoint dirs left
    return metrics


def _check_outputs(run_info: dict) -> dict:
    lines = (run_info["dir"] / "out.txt").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(run_info["test"])  # one line per record, final newline
    outputs = lines[:-1]
    refs = [r["references"][0] for r in run_info["test"][:-1]]
    # the toy task is learnt: most outputs equal their own reference, so the order is kept
    assert sum(o == r for o, r in zip(outputs, refs)) >= 0.75 * len(refs), list(zip(outputs, refs))
    metrics = json.loads((run_info["dir"] / "out.metrics.json").read_text())
    for key in (
        "instances",
        "seconds",
        "instances_per_second",
        "generated_tokens",
        "tokens_per_second",
        "batch_size",
        "num_beams",
        "device",
        "hardware",
    ):
        assert key in metrics
    assert (
        metrics["instances"] == len(run_info["test"]) and metrics["batch_size"] == 3 and metrics["generated_tokens"] > 0
    )
    return metrics


def test_t5_trains_and_loss_falls(t5_run):
    _check_training_artefacts(t5_run["dir"] / "system", "seq2seq", 30)
    settings = json.loads((t5_run["dir"] / "system" / "model" / "baseline.json").read_text())
    assert settings["source_prefix"] == "{task}: "


def test_t5_decode_one_line_per_input_in_order(t5_run):
    metrics = _check_outputs(t5_run)
    assert metrics["num_beams"] == 2 and metrics["device"] == "cpu"


def test_gector_trains_and_loss_falls(gector_run):
    _check_training_artefacts(gector_run["dir"] / "system", "gector", 30)
    settings = json.loads((gector_run["dir"] / "system" / "model" / "gector.json").read_text())
    assert settings["labels"][:2] == [KEEP, "<OOV>"] and "$REPLACE_goes" in settings["labels"]
    assert settings["iterations"] == 5


def test_gector_with_lemminflect_verb_forms_learns_agreement_as_verb_transforms(tmp_path_factory):
    hp = {
        "max_steps": 30,
        "batch_size": 16,
        "micro_batch_size": 8,
        "learning_rate": 2e-3,
        "cold_learning_rate": 1e-2,
        "cold_steps": 5,
        "warmup_steps": 0,
        "logging_steps": 5,
        "max_length": 32,
        "verb_forms": "lemminflect",
    }
    run_info = _train_and_decode(tmp_path_factory, "gector", hp)
    model_dir = run_info["dir"] / "system" / "model"
    settings = json.loads((model_dir / "gector.json").read_text())
    # go->goes, like->likes, eat->eats, want->wants: one verb tag instead of four $REPLACE tags
    assert "$TRANSFORM_VERB_VB_VBZ" in settings["labels"] and not any(
        t.startswith("$REPLACE_") for t in settings["labels"]
    )
    assert settings["verb_forms"] == "verb-form-vocab.txt"
    saved = VerbForms.load(model_dir / settings["verb_forms"])  # the dictionary travels with the model
    assert saved.tag("want", "wants") == "$TRANSFORM_VERB_VB_VBZ" and len(saved.encode) > 50_000
    _check_outputs(run_info)


def test_gector_decode_one_line_per_input(gector_run):
    metrics = _check_outputs(gector_run)
    lines = (gector_run["dir"] / "out.txt").read_text().split("\n")
    assert lines[-2] == ""  # the empty source stays an empty line
    assert metrics["num_beams"] is None and "not applicable" in metrics["num_beams_note"]


def test_gector_decode_overrides_and_thresholds(gector_run, tmp_path):
    system = gector_run["dir"] / "system"
    test = gector_run["dir"] / "test.jsonl"
    # a minimum error probability above 1 leaves every sentence unchanged
    decoding = {"batch_size": 2, "gector": {"min_error_prob": 1.01, "iterations": 2}}
    run(
        "decode",
        "--system-dir",
        str(system),
        "--data",
        str(test),
        "--decoding",
        json.dumps(decoding),
        "--out",
        str(tmp_path / "o.txt"),
        "--metrics",
        str(tmp_path / "m.json"),
    )
    assert (tmp_path / "o.txt").read_text().split("\n")[:-1] == [r["source"] for r in gector_run["test"]]
    assert json.loads((tmp_path / "m.json").read_text())["iterations"] == 2
    with pytest.raises(WritingAlpacaError, match="unknown key"):
        run(
            "decode",
            "--system-dir",
            str(system),
            "--data",
            str(test),
            "--decoding",
            json.dumps({"gector": {"beam": 3}}),
            "--out",
            str(tmp_path / "o.txt"),
            "--metrics",
            str(tmp_path / "m.json"),
        )


def test_cli_errors(tmp_path, gector_run):
    with pytest.raises(WritingAlpacaError, match="system.json: not found"):
        run(
            "decode",
            "--system-dir",
            str(tmp_path),
            "--data",
            "x.jsonl",
            "--decoding",
            "{}",
            "--out",
            "o",
            "--metrics",
            "m",
        )
    with pytest.raises(WritingAlpacaError, match="method: full"):
        run(
            "train",
            "--system",
            "s",
            "--spec",
            '{"kind": "seq2seq", "method": "lora"}',
            "--training",
            "{}",
            "--base",
            str(tmp_path),
            "--data",
            "x",
            "--out",
            str(tmp_path / "o"),
        )
    with pytest.raises(WritingAlpacaError, match="kind must be one of"):
        run(
            "train",
            "--system",
            "s",
            "--spec",
            '{"kind": "causal_lm"}',
            "--training",
            "{}",
            "--base",
            str(tmp_path),
            "--data",
            "x",
            "--out",
            str(tmp_path / "o"),
        )
    mixture = write_jsonl(
        tmp_path / "m.jsonl", [{"id": "1", "task": "generic", "instruction": "Hi", "input": "", "output": "x"}]
    )
    with pytest.raises(WritingAlpacaError, match="m.jsonl: no record with a non-empty 'input'"):
        run(
            "train",
            "--system",
            "s",
            "--spec",
            '{"kind": "gector"}',
            "--training",
            "{}",
            "--base",
            str(gector_run["dir"] / "base"),
            "--data",
            str(mixture),
            "--out",
            str(tmp_path / "o"),
        )


# ---------------------------------------------------------------- the tokenised training set


def _cache_mixture(path: Path) -> Path:
    """Pairs with the corner cases: generic records (no input), unchanged pairs, real learner
    corrections, non-ASCII text, a sentence longer than max_length, CRLF line ends."""
    records = [
        {"id": f"w{i}", "task": "grammar", "instruction": "Fix.", "input": src, "output": tgt}
        for i, (src, tgt) in enumerate(m2_pairs(BEA_TRAIN_M2, 40))
    ]
    records[2] = {"id": "g1", "task": "generic", "instruction": "Say hi.", "input": "", "output": "Hi!"}
    records[9] = {"id": "g2", "task": "generic", "instruction": "Name a colour.", "output": "Red."}
    records[5] = {
        "id": "same",
        "task": "grammar",
        "instruction": "Fix.",
        "input": "It is fine .",
        "output": "It is fine .",
    }
    records[13] = {
        "id": "u",
        "task": "clarity",
        "instruction": "Fix.",
        "input": "Ünïcödé “quotes” 北京 .",
        "output": "Unicode 北京 .",
    }
    records[21] = {
        "id": "long",
        "task": "grammar",
        "instruction": "Fix.",
        "input": "word " * 60,
        "output": "words " * 60,
    }
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in records).encode("utf-8"))
    return path


def _expected_rows(kind: str, records: list[dict], tokenizer, hp: dict) -> list[dict]:
    """The rows the former in-memory trainers built from each pair."""
    from writing_alpaca.baselines.gector import _encode

    rows = []
    for rec in records:
        if not rec.get("input"):
            continue
        if kind == "seq2seq":
            source = hp["source_prefix"].format(task=rec["task"]) + rec["input"]
            rows.append(
                {
                    "input_ids": tokenizer(source, truncation=True, max_length=hp["max_source_length"])["input_ids"],
                    "labels": tokenizer(rec["output"], truncation=True, max_length=hp["max_target_length"])[
                        "input_ids"
                    ],
                }
            )
        else:
            source, target = rec["input"].split(), rec["output"].split()
            if hp["skip_correct"] and source == target:
                continue
            [encoded] = _encode(tokenizer, [source], hp["max_length"])
            tags = keep_one(extract_tags(source, target, VERBS))
            rows.append({"input_ids": encoded.input_ids, "positions": encoded.positions, "tags": tags})
    return rows


@pytest.mark.real_data
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("kind", ["seq2seq", "gector"])
def test_the_cached_training_set_holds_the_rows_of_every_pair(tmp_path, monkeypatch, kind, workers, t5_run, gector_run):
    """Tokenised (and for GECToR aligned into tags) once into Arrow, in one process or two
    (datasets.map num_proc), batch by batch: exactly the rows the in-memory trainers built."""
    from writing_alpaca.baselines import gector, seq2seq
    from writing_alpaca.training import cache

    monkeypatch.setattr(cache, "BATCH_SIZE", 7)  # several batches, one of them short
    monkeypatch.setattr(cache, "PARALLEL_MIN_RECORDS", 0)
    monkeypatch.setenv("OMP_NUM_THREADS", str(workers))
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(4)))
    data = _cache_mixture(tmp_path / "mixture.jsonl")
    records = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    base = (t5_run if kind == "seq2seq" else gector_run)["dir"] / "base"
    if kind == "seq2seq":
        from transformers import AutoTokenizer

        hp = {**SEQ2SEQ_DEFAULTS, "source_prefix": "{task}: ", "max_source_length": 24, "max_target_length": 20}
        tokenizer = AutoTokenizer.from_pretrained(str(base))
        tokenised = seq2seq.training_set(hp, data, base, tokenizer, tmp_path / "cache")
    else:
        hp = {**GECTOR_DEFAULTS, "skip_correct": True, "max_length": 24}
        tokenizer = gector._load_tokenizer(base)
        tokenised = gector.training_set(hp, data, base, tokenizer, tmp_path / "cache", VERBS)
    expected = _expected_rows(kind, records, tokenizer, hp)
    assert tokenised.built and tokenised.info["workers"] == workers
    unchanged = sum(r.get("input", "").split() == r["output"].split() for r in records if r.get("input"))
    assert unchanged > 1 and len(expected) == 38 - (unchanged if kind == "gector" else 0)  # 2 generic records
    assert (tokenised.info["records"], tokenised.info["examples"]) == (40, len(expected))
    assert [dict(row) for row in tokenised.dataset] == expected
    if kind == "gector":  # the tag vocabulary is counted by Arrow over the cached column
        assert gector.tag_counts(tokenised.dataset) == Counter(t for row in expected for t in row["tags"])


@pytest.mark.real_data
@pytest.mark.parametrize("kind", ["seq2seq", "gector"])
def test_a_second_baseline_run_reads_the_shared_cache_and_bad_lines_are_located(
    tmp_path, monkeypatch, kind, t5_run, gector_run
):
    """Two runs with the workflow's --cache-dir (a retry, or a second system on the same data)
    tokenise once; a bad line of the mixture is an error naming the file and line, leaving no cache."""
    from writing_alpaca.training import cache

    builds: list[Path] = []
    real = cache.build_dataset
    monkeypatch.setattr(
        cache, "build_dataset", lambda data, out, *a, **k: builds.append(out) or real(data, out, *a, **k)
    )
    data = _cache_mixture(tmp_path / "mixture.jsonl")
    base = (t5_run if kind == "seq2seq" else gector_run)["dir"] / "base"
    hp = {"max_steps": 2, "batch_size": 4, "micro_batch_size": 4, "logging_steps": 1, "save_steps": 0}
    hp.update({"max_length": 32} if kind == "gector" else {"max_source_length": 32, "max_target_length": 32})
    training = json.dumps({"precision": "auto", "baselines": {kind: hp}})
    spec = json.dumps({"kind": kind, "method": "full"})

    def train(name: str, mixture: Path) -> dict:
        run(
            "train", "--system", name, "--spec", spec, "--training", training, "--base", str(base),
            "--data", str(mixture), "--out", str(tmp_path / name), "--checkpoint-dir", str(tmp_path / "ckpt" / name),
            "--cache-dir", str(tmp_path / "shared"), "--logging-dir", str(tmp_path / "logs" / name),
        )  # fmt: skip
        return json.loads((tmp_path / name / "train_metrics.json").read_text())

    first, second = train("a", data), train("b", data)
    assert len(builds) == 1 and first["pairs"] == second["pairs"] == 38  # the 2 generic records are left out
    assert first["loss_history"] == second["loss_history"]  # the same data, the same trajectory
    assert builds[0].is_dir() and not (tmp_path / "ckpt").exists() or not list((tmp_path / "ckpt").iterdir())

    bad = tmp_path / "bad.jsonl"
    lines = data.read_bytes().split(b"\r\n")
    lines[6] = b'{"input": "x", "output": 3}'
    bad.write_bytes(b"\r\n".join(lines))
    with pytest.raises(WritingAlpacaError, match=r"bad.jsonl:7: field 'output' must be a string"):
        train("c", bad)
    assert sorted(p.name for p in (tmp_path / "shared").iterdir() if not p.name.endswith(".lock")) == [builds[0].name]
