"""The tokenised training set (writing_alpaca.training.cache): built once, by rank 0, into an
Arrow dataset beside the checkpoints or in a directory shared by runs; read (not re-tokenised)
by the other ranks, by a retry and by another system with the same tokenizer and data (a second
job waits for the first one's build); rebuilt for other settings; never read half-written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from _causal_lm_fixtures import GRAMMAR, SYSTEM, TEMPLATE, TRAINING, instruction_file, sentences, tiny_base, write_jsonl
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.training import cache, recipe
from writing_alpaca.training.config import Template, TrainConfig
from writing_alpaca.training.examples import build_examples, load_instruction_records, padding_collator


def _tokenizer():
    from writing_alpaca.training.modelling import load_tokenizer

    return load_tokenizer(tiny_base())


def _records_file(tmp_path: Path) -> Path:
    """Grammar pairs plus the corner cases: no input, an empty output (EOS is its label),
    non-ASCII text, a prompt longer than the cutoff (dropped), CRLF line ends."""
    records = [
        {"id": f"i{i}", "task": "grammar", "instruction": GRAMMAR, "input": s, "output": s.capitalize() + "."}
        for i, s in enumerate(sentences(30, seed=3))
    ]
    records[3] = {"instruction": "Say hi.", "input": "", "output": "Hi!"}
    records[7] = {"instruction": "Say nothing.", "input": "", "output": ""}
    records[11] = {"instruction": GRAMMAR, "input": "Ünïcödé — “quotes” … 北京", "output": "Unicode, 北京."}
    records[19] = {"instruction": GRAMMAR, "input": "word " * 300, "output": "Lost."}
    path = tmp_path / "mixture.jsonl"
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in records).encode("utf-8"))
    return path


def _fingerprint(data: Path, cutoff_len: int = 128, train_on_inputs: bool = False, template=TEMPLATE, base=None):
    from writing_alpaca.hashing import sha256_file

    base = base or tiny_base()
    from writing_alpaca.training.modelling import load_tokenizer

    tokenizer = load_tokenizer(base)
    return cache.cache_fingerprint(
        sha256_file(data),
        cache.tokenizer_identity(base, tokenizer),
        Template.from_dict(template),
        cutoff_len,
        train_on_inputs,
    )


def _lock(path: Path) -> str:
    return f".{path.name}.lock"


class _Counter:
    """Wraps a function and counts its calls."""

    def __init__(self, func):
        self.func, self.calls = func, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.func(*args, **kwargs)


def _builder(data: Path, cutoff_len: int = 128, train_on_inputs: bool = False, workers: int = 1):
    tokenizer = _tokenizer()
    template = Template.from_dict(TEMPLATE)
    return lambda path: cache.build(data, tokenizer, template, cutoff_len, train_on_inputs, path, workers=workers)


# --------------------------------------------------------------------------- same ids and labels


@pytest.mark.parametrize("train_on_inputs", [False, True])
@pytest.mark.parametrize("workers", [1, 2])
def test_the_cache_holds_exactly_the_examples_of_build_examples(tmp_path, monkeypatch, train_on_inputs, workers):
    monkeypatch.setattr(cache, "BATCH_SIZE", 7)  # several batches, one of them short
    monkeypatch.setattr(cache, "PARALLEL_MIN_RECORDS", 0)  # workers=2: datasets.map(num_proc=2)
    data = _records_file(tmp_path)
    tokenizer, template = _tokenizer(), Template.from_dict(TEMPLATE)
    info = cache.build(data, tokenizer, template, 128, train_on_inputs, tmp_path / "cache", workers=workers)
    expected = build_examples(load_instruction_records(data), tokenizer, template, 128, train_on_inputs)
    dropped = 0 if train_on_inputs else 1  # the prompt longer than the cutoff has no label unless inputs are trained
    assert (info["records"], info["examples"], info["dropped"], info["workers"]) == (30, 30 - dropped, dropped, workers)

    dataset = cache.open_cached(tmp_path / "cache").dataset
    assert [dict(row) for row in dataset] == expected
    assert len(dataset) == len(expected) == 30 - dropped
    # what the Trainer's data loader fetches (__getitems__), padded per batch by the same collator
    collate = padding_collator(tokenizer)
    for got, want in zip(
        collate(dataset.__getitems__([4, 0, 11])).values(), collate([expected[i] for i in (4, 0, 11)]).values()
    ):
        assert got.tolist() == want.tolist()


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_records_are_located_errors_and_leave_no_cache(tmp_path, monkeypatch, workers):
    monkeypatch.setattr(cache, "BATCH_SIZE", 4)
    monkeypatch.setattr(cache, "PARALLEL_MIN_RECORDS", 0)
    good = json.dumps({"instruction": GRAMMAR, "input": "x", "output": "y"}) + "\n"
    bad = tmp_path / "bad.jsonl"
    for lineno, line, message in [
        (25, json.dumps({"instruction": GRAMMAR}) + "\n", "instruction record lacks a string 'output'"),
        (18, "\n", "empty line in a JSON-lines file"),
        (30, "[1, 2]", "expected a JSON object, got list"),
        (2, '{"instruction": "x", "output": ', "invalid JSON"),
    ]:
        lines = [good] * 30
        lines[lineno - 1] = line
        bad.write_text("".join(lines))
        with pytest.raises(WritingAlpacaError, match=rf"bad.jsonl:{lineno}: {message}"):
            cache.build(
                bad, _tokenizer(), Template.from_dict(TEMPLATE), 128, False, tmp_path / "cache", workers=workers
            )
        assert list(tmp_path.iterdir()) == [bad]  # neither the cache nor its temporary directory
    bad.write_bytes(good.encode() + b"\xff\xfe\n")
    with pytest.raises(WritingAlpacaError, match=r"bad.jsonl:2: not valid utf-8"):
        cache.build(bad, _tokenizer(), Template.from_dict(TEMPLATE), 128, False, tmp_path / "cache")
    bad.write_text("")
    with pytest.raises(WritingAlpacaError, match=r"bad.jsonl: no training records"):
        cache.build(bad, _tokenizer(), Template.from_dict(TEMPLATE), 128, False, tmp_path / "cache")

    long = write_jsonl(tmp_path / "long.jsonl", [{"instruction": GRAMMAR, "input": "word " * 300, "output": "x"}])
    with pytest.raises(WritingAlpacaError, match="no trainable example"):
        cache.build(long, _tokenizer(), Template.from_dict(TEMPLATE), 64, False, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------- built once


def test_a_retry_reads_the_cache_and_does_not_tokenise_again(tmp_path, monkeypatch, caplog):
    """A first attempt dies after tokenising (here: loading the model fails); the second attempt,
    with the same checkpoint directory, trains on the cached examples without tokenising."""
    builds = _Counter(cache.build)
    batches = _Counter(cache.tokenize_batch)
    monkeypatch.setattr(cache, "build", builds)
    monkeypatch.setattr(cache, "tokenize_batch", batches)
    real_load = recipe.load_base_model

    def crash(*args, **kwargs):
        raise RuntimeError("node failure")

    config = TrainConfig.from_fragments(
        "toy", {**SYSTEM, "method": "lora"}, {**TRAINING, "max_steps": 2, "save_steps": 100}, TEMPLATE, seed=1
    )
    out, checkpoints = tmp_path / "models" / "toy", tmp_path / "checkpoints" / "toy"
    monkeypatch.setattr(recipe, "load_base_model", crash)
    with pytest.raises(RuntimeError, match="node failure"):
        recipe.train(config, tiny_base(), instruction_file(), out, checkpoint_dir=checkpoints)
    assert (builds.calls, batches.calls) == (1, 1)
    [built] = [p for p in checkpoints.iterdir() if p.name.startswith(cache.PREFIX)]

    monkeypatch.setattr(recipe, "load_base_model", real_load)
    caplog.set_level("INFO", logger="writing_alpaca.training.cache")
    metrics = recipe.train(config, tiny_base(), instruction_file(), out, checkpoint_dir=checkpoints)
    assert (builds.calls, batches.calls) == (1, 1)  # not tokenised again
    assert f"{built} (cached)" in caplog.text
    assert metrics["examples"] == metrics["train_examples"] == 16 and metrics["steps"] == 2
    assert not checkpoints.exists()  # the cache goes with the checkpoints once the system is written


def test_the_cached_run_trains_exactly_as_the_in_memory_examples_did(tmp_path, monkeypatch):
    """Same batches, same losses, same weights as a run fed the in-memory lists of build_examples
    (the former path)."""
    import torch
    from safetensors.torch import load_file

    config = TrainConfig.from_fragments(
        "toy", {**SYSTEM, "method": "full"}, {**TRAINING, "max_steps": 4, "save_steps": 100}, TEMPLATE, seed=1
    )
    cached = recipe.train(config, tiny_base(), instruction_file(), tmp_path / "cached")

    class ListDataset(torch.utils.data.Dataset):
        def __init__(self, examples):
            self.examples = examples

        def __len__(self):
            return len(self.examples)

        def __getitem__(self, index):
            return self.examples[index]

    examples = build_examples(
        load_instruction_records(instruction_file()), _tokenizer(), config.template, config.cutoff_len
    )
    original = recipe.tokenised_training_set

    def in_memory(*args, **kwargs):
        tokenised = original(*args, **kwargs)
        tokenised.dataset = ListDataset(examples)
        return tokenised

    monkeypatch.setattr(recipe, "tokenised_training_set", in_memory)
    listed = recipe.train(config, tiny_base(), instruction_file(), tmp_path / "listed")
    assert cached["loss_history"] == listed["loss_history"] and cached["tokens_seen"] == listed["tokens_seen"]
    a = load_file(str(tmp_path / "cached" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "listed" / "model" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_other_ranks_wait_for_rank_0_and_read_its_cache(tmp_path, monkeypatch):
    """Two ranks (threads here, a torch.distributed barrier in a run): only rank 0 tokenises; rank 1
    waits for the cache directory to appear, then for the barrier, and reads rank 0's files."""
    monkeypatch.setattr(cache, "WAIT_POLL_S", 0.01)
    data = _records_file(tmp_path)
    fingerprint = _fingerprint(data)
    builder = _builder(data)
    seen_by_rank_1: list[bool] = []

    def slow_build(path: Path) -> dict:
        time.sleep(0.5)  # rank 1 is waiting meanwhile
        seen_by_rank_1.append(path.exists())
        return builder(path)

    build = _Counter(slow_build)
    meeting = threading.Barrier(2, timeout=60)
    results: dict[int, cache.Tokenised] = {}

    def rank(index: int) -> None:
        results[index] = cache.prepare(tmp_path / "ckpt", fingerprint, build, is_main=index == 0, barrier=meeting.wait)

    threads = [threading.Thread(target=rank, args=(i,)) for i in (1, 0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert build.calls == 1 and seen_by_rank_1 == [False]
    assert results[0].built and not results[1].built
    assert results[0].path == results[1].path == cache.cache_path(tmp_path / "ckpt", fingerprint)
    assert [dict(r) for r in results[1].dataset] == [dict(r) for r in results[0].dataset]


def test_a_rank_that_never_sees_the_cache_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "WAIT_POLL_S", 0.01)
    data = _records_file(tmp_path)
    with pytest.raises(WritingAlpacaError, match="within 0 s .*file system every rank sees"):
        cache.prepare(
            tmp_path / "ckpt",
            _fingerprint(data),
            _builder(data),
            is_main=False,
            barrier=lambda: None,
            wait_timeout_s=0.1,
        )


# --------------------------------------------------------------------------- shared by systems


def test_systems_with_the_same_tokenizer_and_data_share_one_build_and_runs_never_prune_it(tmp_path, monkeypatch):
    """As LLaMA-7B-GEC and LLaMA-13B-GEC on cLang-8: two systems (here: LoRA and full fine-tuning
    of the same base) on one mixture, with the workflow's shared --cache-dir, tokenise it once;
    the cache (and another key's, from other settings) outlives both runs, their checkpoints do not."""
    builds = _Counter(cache.build)
    monkeypatch.setattr(cache, "build", builds)
    shared = tmp_path / "cache" / "tokenised"
    foreign = shared / f"{cache.PREFIX}0123456789abcdef"
    foreign.mkdir(parents=True)
    results = {}
    for name, method in (("gec-a", "lora"), ("gec-b", "full")):
        config = TrainConfig.from_fragments(
            name, {**SYSTEM, "method": method}, {**TRAINING, "max_steps": 1, "save_steps": 100}, TEMPLATE, seed=1
        )
        checkpoints = tmp_path / "checkpoints" / name
        results[name] = recipe.train(
            config,
            tiny_base(),
            instruction_file(),
            tmp_path / "models" / name,
            checkpoint_dir=checkpoints,
            cache_dir=shared,
        )
        assert not checkpoints.exists()
    assert builds.calls == 1
    assert results["gec-a"]["examples"] == results["gec-b"]["examples"] == 16
    [built] = [p for p in shared.iterdir() if p.name.startswith(cache.PREFIX) and p != foreign]
    assert foreign.is_dir() and len(cache.open_cached(built)) == 16


def test_a_second_job_waits_for_the_one_building_the_same_key_and_reads_its_build(tmp_path, monkeypatch, caplog):
    """Another process holds the key's lock (it is tokenising): this one waits, logs that it waits,
    and reads that build instead of tokenising a second time."""
    monkeypatch.setattr(cache, "WAIT_POLL_S", 0.02)
    monkeypatch.setattr(cache, "WAIT_LOG_S", 0.1)
    data = _records_file(tmp_path)
    root = tmp_path / "shared"
    fingerprint = _fingerprint(data)
    script = textwrap.dedent(
        f"""
        import json, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from _causal_lm_fixtures import TEMPLATE, tiny_base
        from writing_alpaca.training import cache
        from writing_alpaca.training.config import Template
        from writing_alpaca.training.modelling import load_tokenizer
        fingerprint = json.loads({json.dumps(json.dumps(fingerprint))})
        path = cache.cache_path({str(root)!r}, fingerprint)
        path.parent.mkdir(parents=True, exist_ok=True)
        with cache._building(path, 60):
            print("locked", flush=True)
            time.sleep(1.0)
            cache.build({str(data)!r}, load_tokenizer({str(tiny_base())!r}), Template.from_dict(TEMPLATE), 128,
                        False, path, fingerprint=fingerprint)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        builds = _Counter(_builder(data))
        caplog.set_level("INFO", logger="writing_alpaca.training.cache")
        tokenised = cache.prepare(root, fingerprint, builds)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert builds.calls == 0 and not tokenised.built and len(tokenised) == 29
    assert "waiting for another job tokenising the same training set" in caplog.text
    assert "built by another job meanwhile" in caplog.text


# --------------------------------------------------------------------------- other settings


def test_everything_that_determines_the_ids_is_in_the_fingerprint(tmp_path, monkeypatch):
    data = _records_file(tmp_path)
    reference = _fingerprint(data)
    assert _fingerprint(data) == reference  # stable

    other_data = tmp_path / "other.jsonl"
    other_data.write_bytes(data.read_bytes().replace(b"Hi!", b"Hello!"))
    base = tmp_path / "base"
    shutil.copytree(tiny_base(), base)
    tokenizer_json = json.loads((base / "tokenizer.json").read_text())
    tokenizer_json["model"]["merges"] = tokenizer_json["model"]["merges"][:-5]  # a retrained tokenizer
    (base / "tokenizer.json").write_text(json.dumps(tokenizer_json))
    template = {**TEMPLATE, "prompt_input": TEMPLATE["prompt_input"].replace("### Input:", "### Text:")}
    variants = {
        "data": _fingerprint(other_data),
        "tokenizer": _fingerprint(data, base=base),
        "template": _fingerprint(data, template=template),
        "cutoff_len": _fingerprint(data, cutoff_len=64),
        "train_on_inputs": _fingerprint(data, train_on_inputs=True),
    }
    monkeypatch.setattr(cache, "CACHE_VERSION", cache.CACHE_VERSION + 1)
    variants["code version"] = _fingerprint(data)
    keys = {name: cache.cache_key(f) for name, f in variants.items()}
    assert cache.cache_key(reference) not in keys.values()
    assert len(set(keys.values())) == len(keys), keys


def test_other_settings_tokenise_again_and_the_stale_cache_is_removed(tmp_path):
    data = _records_file(tmp_path)
    root = tmp_path / "ckpt"
    builds = _Counter(lambda path: _builder(data, cutoff_len=128)(path))
    first = cache.prepare(root, _fingerprint(data, cutoff_len=128), builds)
    again = cache.prepare(root, _fingerprint(data, cutoff_len=128), builds)
    assert builds.calls == 1 and first.built and not again.built and again.path == first.path

    rebuilds = _Counter(lambda path: _builder(data, cutoff_len=88)(path))
    changed = cache.prepare(root, _fingerprint(data, cutoff_len=88), rebuilds)
    assert rebuilds.calls == 1 and changed.built and changed.path != first.path
    assert max(len(r["input_ids"]) for r in changed.dataset) == 88 < max(len(r["input_ids"]) for r in first.dataset)
    assert first.path.exists()  # kept until the run's checkpoints accept the new settings
    (root / "checkpoint-2").mkdir()
    cache.remove_stale(root, keep=changed.path)
    assert sorted(p.name for p in root.iterdir()) == sorted(["checkpoint-2", changed.path.name, _lock(changed.path)])


# --------------------------------------------------------------------------- never half-written


def test_a_build_that_fails_midway_leaves_nothing_behind(tmp_path, monkeypatch):
    data = _records_file(tmp_path)
    monkeypatch.setattr(cache, "BATCH_SIZE", 4)
    real = cache.tokenize_batch
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "tokenize_batch", failing)
    root = tmp_path / "ckpt"
    with pytest.raises(MemoryError):
        cache.prepare(root, _fingerprint(data), _builder(data))
    assert [p.name for p in root.iterdir()] == [_lock(cache.cache_path(root, _fingerprint(data)))]  # the lock only


def test_a_killed_build_is_never_read_and_the_next_attempt_builds_afresh(tmp_path):
    """SIGKILL while tokenising (after the first batches are written): the temporary directory
    stays, no cache appears; the next attempt ignores and deletes it and builds the whole set."""
    data = _records_file(tmp_path)
    root = tmp_path / "ckpt"
    fingerprint = _fingerprint(data)
    path = cache.cache_path(root, fingerprint)
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from _causal_lm_fixtures import TEMPLATE, tiny_base
        from writing_alpaca.training import cache
        from writing_alpaca.training.config import Template
        from writing_alpaca.training.modelling import load_tokenizer
        cache.BATCH_SIZE = 4
        real, calls = cache.tokenize_batch, []
        def slow(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                print("midway", flush=True)
                time.sleep(300)
            return real(*args, **kwargs)
        cache.tokenize_batch = slow
        cache.build({str(data)!r}, load_tokenizer({str(tiny_base())!r}), Template.from_dict(TEMPLATE), 128, False,
                    {str(path)!r}, fingerprint=None)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    try:
        assert proc.stdout.readline().strip() == "midway"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    leftovers = [p for p in root.iterdir()]
    assert [p.name for p in leftovers] == [f".{path.name}.{proc.pid}.tmp"] and not path.exists()

    builds = _Counter(_builder(data))
    tokenised = cache.prepare(root, fingerprint, builds)
    assert builds.calls == 1 and tokenised.built and len(tokenised) == 29
    assert sorted(p.name for p in root.iterdir()) == [_lock(path), path.name]  # the killed build's directory is gone
    expected = build_examples(load_instruction_records(data), _tokenizer(), Template.from_dict(TEMPLATE), 128)
    assert [dict(r) for r in tokenised.dataset] == expected


def test_a_damaged_cache_is_an_error_that_says_what_to_delete(tmp_path):
    data = _records_file(tmp_path)
    cache.build(data, _tokenizer(), Template.from_dict(TEMPLATE), 128, False, tmp_path / "cache")
    info = json.loads((tmp_path / "cache" / cache.INFO).read_text())
    (tmp_path / "cache" / cache.INFO).write_text(json.dumps({**info, "examples": 3}))
    with pytest.raises(WritingAlpacaError, match=r"holds 29 examples, cache.json says 3: delete it"):
        cache.open_cached(tmp_path / "cache")
    (tmp_path / "cache" / cache.INFO).unlink()
    with pytest.raises(WritingAlpacaError, match="unreadable tokenised cache.*delete it"):
        cache.open_cached(tmp_path / "cache")


def test_tokenising_processes_follow_the_job_threads(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setenv("OMP_NUM_THREADS", "6")  # Snakemake: the rule's threads
    assert cache.default_workers() == 6
    monkeypatch.setenv("OMP_NUM_THREADS", "64")
    assert cache.default_workers() == 16  # no more than the CPUs this process may use
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cache.default_workers() == 16
