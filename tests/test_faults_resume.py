"""One resume contract for every trainer (the LLM recipe, the T5 and GECToR baselines).

A run killed at any point resumes to the result of an uninterrupted run, or says clearly why
it cannot: a changed setting is refused, a checkpoint cut short while being written is
discarded (with a warning) in favour of the previous complete one, the cost of every attempt
is summed, and a run killed after its final checkpoint but before its output was written does
not train a step further (``steps`` is ``max_steps``, the loss and tokens are the trajectory's).

Every run here is tiny and in this process; a kill is simulated by an exception raised where
the process would have died (:class:`_Killed`, a ``BaseException`` as SIGKILL leaves nothing
to catch), a signal by :class:`~writing_alpaca.training.checkpoints.StopOnSignal` answering yes
at a given step.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from _baselines_fixtures import agreement_records, baseline_training, tiny_baseline_base
from _baselines_fixtures import write_jsonl as write_records
from _causal_lm_fixtures import PROMPTS, SYSTEM, TEMPLATE, TRAINING, instruction_file, tiny_base
from _causal_lm_fixtures import baseline_weights as _baseline_weights
from _causal_lm_fixtures import stop_after as _stop_after
from _causal_lm_fixtures import tensors as _tensors
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.training.checkpoints import COMPLETE, CheckpointDir, StopOnSignal, TrainingInterrupted


class _Killed(BaseException):
    """The process died here (nothing after this point ran)."""


def _die(*args: Any, **kwargs: Any) -> None:
    raise _Killed()


def _same_tensors(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return set(a) == set(b) and all(a[k].equal(b[k]) for k in a)


def _metrics(out: Path) -> dict[str, Any]:
    return json.loads((out / "train_metrics.json").read_text())


def _steps(attempts: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(a["start_step"], a["end_step"]) for a in attempts]


def _assert_summed(metrics: dict[str, Any]) -> None:
    attempts = metrics["attempts"]
    assert metrics["wall_seconds"] == pytest.approx(sum(a["wall_seconds"] for a in attempts), abs=0.01)
    assert metrics["train_seconds"] == pytest.approx(sum(a["train_seconds"] for a in attempts), abs=0.01)
    assert metrics["tokens_processed"] == sum(a["tokens_processed"] for a in attempts)


def _corrupt(checkpoint: Path, how: str) -> None:
    """A checkpoint cut short while being written, its COMPLETE marker there all the same (the
    data was not on disk yet when the node died; or a copy by hand stopped half-way)."""
    if how == "no-state":
        (checkpoint / "trainer_state.json").unlink()
    else:
        weights = checkpoint / ("adapter_model.safetensors" if how == "lora-weights" else "model.safetensors")
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])


# ---------------------------------------------------------------------------- the LLM recipe

# 24 examples at batch 8: 3 optimiser steps an epoch, so max_steps 4 ends inside an epoch
# (where the Trainer, resumed from the final checkpoint, used to run a 5th step at lr 0)
LLM_TRAINING = {**TRAINING, "max_steps": 4, "save_steps": 2}


def _llm_config(**overrides: Any):
    from writing_alpaca.training.config import TrainConfig

    return TrainConfig.from_fragments(
        "toy-lora", {**SYSTEM, "method": "lora"}, {**LLM_TRAINING, **overrides}, TEMPLATE, seed=1
    )


def _llm_train(out: Path, checkpoints: Path | None = None, **overrides: Any) -> dict[str, Any]:
    from writing_alpaca.training.recipe import train

    return train(
        _llm_config(**overrides), tiny_base(), instruction_file(24), out, checkpoint_dir=checkpoints, prompts=PROMPTS
    )


@pytest.fixture(scope="module")
def llm_reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("llm-reference") / "sys"
    _llm_train(out)
    return out


def _adapter(out: Path) -> dict[str, Any]:
    return _tensors(out / "adapter" / "adapter_model.safetensors")


def test_llm_killed_after_its_final_checkpoint_does_not_train_further(tmp_path, monkeypatch, llm_reference):
    from writing_alpaca.training import recipe

    out, checkpoints = tmp_path / "sys", tmp_path / "ckpt"
    monkeypatch.setattr(recipe, "_replace_dir", _die)  # trainer.train() returned; the system is not written
    with pytest.raises(_Killed):
        _llm_train(out, checkpoints)
    monkeypatch.undo()
    assert (checkpoints / "checkpoint-4" / COMPLETE).is_file() and not (out / "system.json").exists()

    steps_run = []
    monkeypatch.setattr(StopOnSignal, "on_step_end", lambda self, args, state, control, **kw: steps_run.append(1))
    metrics = _llm_train(out, checkpoints)
    assert steps_run == [], "the resumed run trained beyond max_steps"
    reference = _metrics(llm_reference)
    assert metrics == _metrics(out)
    assert metrics["steps"] == 4 and metrics["epochs"] == reference["epochs"]
    assert metrics["loss_history"] == reference["loss_history"] and len(metrics["loss_history"]) == 4
    assert metrics["final_loss"] == reference["final_loss"]
    assert metrics["tokens_seen"] == reference["tokens_seen"] > 0
    assert metrics["resumed_from"] == str(checkpoints / "checkpoint-4")
    assert _steps(metrics["attempts"]) == [(0, 4), (4, 4)]
    assert [a["outcome"] for a in metrics["attempts"]] == ["killed", "finished"]
    assert metrics["attempts"][1]["tokens_processed"] == 0
    _assert_summed(metrics)
    assert _same_tensors(_adapter(out), _adapter(llm_reference))
    assert not checkpoints.exists()


@pytest.mark.parametrize("how", ["no-state", "lora-weights"])
def test_llm_discards_a_checkpoint_cut_short_and_resumes_from_the_one_before(
    tmp_path, monkeypatch, caplog, llm_reference, how
):
    from writing_alpaca.training import recipe

    out, checkpoints = tmp_path / "sys", tmp_path / "ckpt"
    monkeypatch.setattr(recipe, "_replace_dir", _die)
    with pytest.raises(_Killed):
        _llm_train(out, checkpoints)
    monkeypatch.undo()
    _corrupt(checkpoints / "checkpoint-4", how)

    with caplog.at_level(logging.WARNING, logger="writing_alpaca.training.checkpoints"):
        metrics = _llm_train(out, checkpoints)
    assert any("checkpoint-4" in r.getMessage() and "discarded" in r.getMessage() for r in caplog.records)
    assert metrics["resumed_from"] == str(checkpoints / "checkpoint-2")
    assert _steps(metrics["attempts"]) == [(0, 4), (2, 4)]
    reference = _metrics(llm_reference)
    assert metrics["steps"] == 4 and metrics["loss_history"] == reference["loss_history"]
    assert metrics["tokens_seen"] == reference["tokens_seen"]
    _assert_summed(metrics)
    assert _same_tensors(_adapter(out), _adapter(llm_reference))


def test_llm_with_every_checkpoint_cut_short_starts_afresh_and_keeps_the_books(tmp_path, monkeypatch, llm_reference):
    from writing_alpaca.training import recipe

    out, checkpoints = tmp_path / "sys", tmp_path / "ckpt"
    monkeypatch.setattr(recipe, "_replace_dir", _die)
    with pytest.raises(_Killed):
        _llm_train(out, checkpoints)
    monkeypatch.undo()
    for checkpoint in checkpoints.glob("checkpoint-*"):
        _corrupt(checkpoint, "no-state")
    metrics = _llm_train(out, checkpoints)
    assert metrics["resumed_from"] is None
    assert _steps(metrics["attempts"]) == [(0, 4), (0, 4)]  # the lost attempt is still paid for
    _assert_summed(metrics)
    assert _same_tensors(_adapter(out), _adapter(llm_reference))


# ---------------------------------------------------------------------------- the baselines


@pytest.fixture(scope="module")
def mixture(tmp_path_factory) -> Path:
    return write_records(tmp_path_factory.mktemp("faults-baselines") / "mixture.jsonl", agreement_records(40))


#: 40 pairs at batch 8: 5 steps an epoch; T5's 8 steps end inside its second epoch
BASELINE_HP = {"seq2seq": {}, "gector": {"max_steps": 12, "save_steps": 4}}
FINAL_CHECKPOINT = {"seq2seq": 8, "gector": 8}  # GECToR saves none at max_steps: its last is at 8


def _baseline_train(kind: str, base: Path, data: Path, out: Path, checkpoints: Path, training: dict) -> dict:
    import torch

    from writing_alpaca.baselines import gector, seq2seq

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {"seq2seq": seq2seq, "gector": gector}[kind].train(
            system=f"toy-{kind}",
            spec={"kind": kind, "method": "full", "base": "tiny", "mixture": "toy"},
            training=training,
            base=base,
            data=data,
            out=out,
            checkpoint_dir=checkpoints,
        )
    finally:
        torch.set_num_threads(threads)


_REFERENCES: dict[str, Path] = {}


def _setup(kind: str, mixture: Path, tmp_path_factory) -> tuple[Path, dict, Path]:
    base = tiny_baseline_base(kind, mixture.parent, mixture, dropout=True)
    training = baseline_training(kind, **BASELINE_HP[kind])
    if kind not in _REFERENCES:
        out = tmp_path_factory.mktemp(f"reference-{kind}") / "sys"
        _baseline_train(kind, base, mixture, out, out.with_name("ckpt"), training)
        _REFERENCES[kind] = out
    return base, training, _REFERENCES[kind]


def _kill_before_output(monkeypatch, kind: str) -> None:
    from writing_alpaca.baselines import gector, seq2seq

    if kind == "seq2seq":
        monkeypatch.setattr(seq2seq, "atomic_dir", _die)
    else:
        monkeypatch.setattr(gector, "_save", _die)


@pytest.mark.parametrize("kind", ["seq2seq", "gector"])
def test_baseline_killed_after_its_final_checkpoint_does_not_train_further(
    tmp_path, tmp_path_factory, monkeypatch, mixture, kind
):
    base, training, reference = _setup(kind, mixture, tmp_path_factory)
    total = training["baselines"][kind]["max_steps"]
    out, checkpoints = tmp_path / "sys", tmp_path / "ckpt"
    _kill_before_output(monkeypatch, kind)
    with pytest.raises(_Killed):
        _baseline_train(kind, base, mixture, out, checkpoints, training)
    monkeypatch.undo()
    last = FINAL_CHECKPOINT[kind]
    assert (checkpoints / f"checkpoint-{last}" / COMPLETE).is_file() and not (out / "system.json").exists()

    metrics = _baseline_train(kind, base, mixture, out, checkpoints, training)
    ref = _metrics(reference)
    assert metrics == _metrics(out)
    assert metrics["steps"] == total
    assert metrics["loss_history"] == ref["loss_history"] and metrics["final_loss"] == ref["final_loss"]
    assert metrics["tokens_seen"] == ref["tokens_seen"] > 0
    assert metrics["resumed_from"] == str(checkpoints / f"checkpoint-{last}")
    assert _steps(metrics["attempts"]) == [(0, total), (last, total)]
    _assert_summed(metrics)
    if kind == "seq2seq":  # resumed at max_steps: nothing processed again
        assert metrics["attempts"][1]["tokens_processed"] == 0
        assert metrics["tokens_processed"] == metrics["tokens_seen"]
    assert _same_tensors(_baseline_weights(out), _baseline_weights(reference))
    assert not checkpoints.exists()


@pytest.mark.parametrize("kind", ["seq2seq", "gector"])
def test_baseline_refuses_a_changed_setting_and_discards_a_checkpoint_cut_short(
    tmp_path, tmp_path_factory, monkeypatch, caplog, mixture, kind
):
    """The T5 baseline's contract is the LLM recipe's: a changed learning rate is refused (the
    weights would follow the old one while the metrics record the new one), a checkpoint cut
    short is discarded with a warning, the attempts' cost is summed."""
    base, training, reference = _setup(kind, mixture, tmp_path_factory)
    total = training["baselines"][kind]["max_steps"]
    out, checkpoints = tmp_path / "sys", tmp_path / "ckpt"
    stop = 6
    _stop_after(monkeypatch, stop)
    with pytest.raises(TrainingInterrupted, match=rf"at step {stop} of {total}"):
        _baseline_train(kind, base, mixture, out, checkpoints, training)
    monkeypatch.undo()

    changed = json.loads(json.dumps(training))
    changed["baselines"][kind]["learning_rate"] *= 2
    with pytest.raises(WritingAlpacaError, match=r"refusing to resume.*hyperparameters\.learning_rate"):
        _baseline_train(kind, base, mixture, out, checkpoints, changed)

    # the newest checkpoint was cut short (COMPLETE marker there, its contents not)
    before = sorted((p for p in checkpoints.glob("checkpoint-*")), key=lambda p: int(p.name.split("-")[1]))
    assert [p.name for p in before][-1] == f"checkpoint-{stop}"
    previous = before[-2]
    _corrupt(checkpoints / f"checkpoint-{stop}", "weights")
    with caplog.at_level(logging.WARNING, logger="writing_alpaca.training.checkpoints"):
        metrics = _baseline_train(kind, base, mixture, out, checkpoints, training)
    assert any(f"checkpoint-{stop}" in r.getMessage() and "discarded" in r.getMessage() for r in caplog.records)
    assert metrics["resumed_from"] == str(previous)
    resumed_at = int(previous.name.split("-")[1])
    assert _steps(metrics["attempts"]) == [(0, stop), (resumed_at, total)]
    assert [a["outcome"] for a in metrics["attempts"]] == ["interrupted", "finished"]
    _assert_summed(metrics)
    ref = _metrics(reference)
    assert metrics["steps"] == total and metrics["loss_history"] == ref["loss_history"]
    assert metrics["tokens_seen"] == ref["tokens_seen"]
    assert metrics["hyperparameters"]["learning_rate"] == training["baselines"][kind]["learning_rate"]
    assert _same_tensors(_baseline_weights(out), _baseline_weights(reference))


# ---------------------------------------------------------------------------- the contract itself


def test_a_complete_marker_does_not_vouch_for_files_cut_short(tmp_path, caplog):
    directory = CheckpointDir(tmp_path / "ckpt", required=("trainer_state.json",))
    fingerprint = {"a": 1}
    assert directory.prepare(fingerprint) is None
    for step in (2, 4, 6):
        path = directory.path / f"checkpoint-{step}"
        path.mkdir()
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        (path / "optimizer.pt").write_bytes(b"x" * 100)
        directory.mark_complete(path)
    (directory.path / "checkpoint-6" / "optimizer.pt").write_bytes(b"x" * 10)  # shorter than when marked
    (directory.path / "checkpoint-4" / "trainer_state.json").unlink()
    with caplog.at_level(logging.WARNING, logger="writing_alpaca.training.checkpoints"):
        assert directory.prepare(fingerprint) == directory.path / "checkpoint-2"
    assert [p.name for p in directory.checkpoints()] == ["checkpoint-2"]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "checkpoint-6" in messages and "optimizer.pt" in messages and "checkpoint-4" in messages

    # a marker of an older version (a timestamp, no list of files) still vouches for what is there
    legacy = directory.path / "checkpoint-8"
    legacy.mkdir()
    (legacy / "trainer_state.json").write_text("{}")
    (legacy / COMPLETE).write_text("2024-01-01T00:00:00+00:00\n")
    assert directory.prepare(fingerprint) == legacy
    shutil.rmtree(legacy / "trainer_state.json", ignore_errors=True)
    (legacy / "trainer_state.json").write_text("{trunc")  # not JSON: cut short
    assert directory.prepare(fingerprint) == directory.path / "checkpoint-2"
