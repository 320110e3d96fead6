"""Experiment tracking (training.report_to): the setting, TensorBoard event files of every trainer
in the run's logging directory (kept across a resumed run), wandb/mlflow through their APIs, and
the training-curve figure drawn from the logged scalars."""

from __future__ import annotations

import argparse
import copy
import csv
import importlib.machinery
import json
import re
import signal
import sys
import types
from pathlib import Path

import pytest
import yaml

from _baselines_fixtures import agreement_records, tiny_baseline_base, write_jsonl
from _causal_lm_fixtures import SYSTEM, TRAINING, instruction_file, tiny_base
from conftest import REPO
from writing_alpaca import report
from writing_alpaca import settings as S
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.format import PROMPTS, TEMPLATE
from writing_alpaca.report import figures
from writing_alpaca.report.inputs import Context
from writing_alpaca.training import events, tracking
from writing_alpaca.training.config import TrainConfig

PAPER = yaml.safe_load((REPO / "config.yaml").read_text())
DEMO = yaml.safe_load((REPO / "demo" / "config.yaml").read_text())


# ------------------------------------------------------------------------------ the setting


@pytest.mark.parametrize(
    "value, parsed",
    [
        (None, ("tensorboard",)),  # the default
        ("wandb", ("wandb",)),  # one name is a list of one
        (["tensorboard", "mlflow", "tensorboard"], ("tensorboard", "mlflow")),
        ("none", ()),
        ([], ()),
    ],
)
def test_report_to_values(value, parsed):
    training = {**TRAINING} if value is None else {**TRAINING, "report_to": value}
    config = TrainConfig.from_fragments("toy", {**SYSTEM, "method": "lora"}, training, TEMPLATE)
    assert config.report_to == parsed
    assert tracking.report_to_setting(training) == parsed  # as the baselines read it
    # tracking changes no weights: a run may resume with other trackers
    assert (
        config.fingerprint()
        == TrainConfig.from_fragments(
            "toy", {**SYSTEM, "method": "lora"}, {**TRAINING, "report_to": "none"}, TEMPLATE
        ).fingerprint()
    )


@pytest.mark.parametrize(
    "value, line",
    [
        ("tensorbord", "training.report_to: unknown tracker 'tensorbord' (allowed: tensorboard, wandb, mlflow, none)"),
        (["tensorboard", "comet"], "training.report_to: unknown tracker 'comet'"),
        (["none", "wandb"], "training.report_to: 'none' (no tracking) cannot be combined with other trackers"),
        (3, "training.report_to: expected a tracker or a list of trackers (tensorboard, wandb, mlflow, none), got 3"),
    ],
)
def test_a_bad_report_to_is_one_line_naming_the_key(value, line):
    cfg = copy.deepcopy(PAPER)
    cfg["training"]["report_to"] = value
    with pytest.raises(S.SettingsError) as caught:
        S.validate_config(cfg)
    assert any(p.startswith(line) for p in caught.value.problems), caught.value.problems
    with pytest.raises(WritingAlpacaError, match="^invalid training:\n  " + re.escape(line)):  # the job says the same
        tracking.report_to_setting({"report_to": value})


def test_a_tracker_that_is_not_installed_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(tracking, "_importable", lambda module: module != "wandb")
    tracking.check_available(["tensorboard", "mlflow"])
    message = r"training.report_to: wandb requested but not installed in this environment \(pip install wandb\)"
    with pytest.raises(WritingAlpacaError, match=message):
        tracking.check_available(["tensorboard", "wandb"])
    from writing_alpaca.training.recipe import train

    config = TrainConfig.from_fragments(
        "toy", {**SYSTEM, "method": "lora"}, {**TRAINING, "report_to": ["wandb"]}, TEMPLATE
    )
    base = tmp_path / "base"  # never loaded: the run stops before it reads anything
    base.mkdir()
    (base / "config.json").write_text("{}")
    with pytest.raises(WritingAlpacaError, match=message):
        train(config, base, instruction_file(), tmp_path / "out", checkpoint_dir=tmp_path / "ckpt")
    assert not (tmp_path / "out").exists() and not (tmp_path / "ckpt").exists()


def _common(cfg: dict) -> dict:
    """workflow/rules/common.smk's helpers for ``cfg``."""
    namespace = {
        "workflow": types.SimpleNamespace(basedir=str(REPO), is_main_process=False),
        "config": cfg,
        "report": lambda p, **_: p,
    }
    source = REPO / "workflow" / "rules" / "common.smk"
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    return namespace


def test_the_workflow_passes_the_setting_and_targets_a_figure_per_trained_system():
    from snakemake.utils import update_config

    cfg = copy.deepcopy(PAPER)
    update_config(cfg, copy.deepcopy(DEMO))
    cfg["training"]["report_to"] = ["tensorboard", "mlflow"]
    ns = _common(cfg)
    assert ns["training_for"]("tiny-gector")["report_to"] == ["tensorboard", "mlflow"]  # the baselines read it too
    assert ns["training_for"]("tiny-alpaca")["report_to"] == ["tensorboard", "mlflow"]
    trained = ["tiny-alpaca", "tiny-writing-alpaca", "tiny-llama-gec", "tiny-t5-gec", "tiny-gector"]
    assert ns["TRAINING_CURVES"] == trained  # the untrained tiny-llama has none
    targets = ns["all_targets"]()
    assert {f"results/figures/training/{s}.{ext}" for s in trained for ext in ("png", "pdf", "csv")} <= set(targets)
    assert ns["logging_dir"]("tiny-gector") == "results/logs/tiny-gector"
    cfg["training"]["report_to"] = "none"
    assert not [t for t in _common(cfg)["all_targets"]() if "/training/" in t]  # no logs, no curves


# ------------------------------------------------------------------------------ the logging directory


def _write_events(directory: Path, points: dict[str, list[tuple[int, float]]], purge_step: int | None = None) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(directory), purge_step=purge_step)
    steps = sorted({step for series in points.values() for step, _ in series})
    for step in steps:
        for tag, series in points.items():
            for s, value in series:
                if s == step:
                    writer.add_scalar(tag, value, step)
    writer.close()


def test_a_resumed_attempt_replaces_what_the_killed_one_logged_after_its_checkpoint(tmp_path):
    logs = tmp_path / "logs"
    # attempt 1 logged steps 1-6 and was killed; its last complete checkpoint was at step 4
    _write_events(logs, {events.LOSS: [(s, 10.0 - s) for s in range(1, 7)]})
    _write_events(logs, {events.LOSS: [(s, 100.0 + s) for s in range(5, 9)]}, purge_step=tracking.purge_step(4))
    assert len(events.event_files(logs)) == 2
    assert events.read_scalars(logs)[events.LOSS] == [(1, 9.0), (2, 8.0), (3, 7.0), (4, 6.0)] + [
        (s, 100.0 + s) for s in range(5, 9)
    ]
    # TensorBoard's own reading of the directory agrees (it purges from purge_step on)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logs), size_guidance={"scalars": 0})
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars(events.LOSS)] == events.read_scalars(logs)[events.LOSS]


def test_a_fresh_run_empties_the_logging_directory_a_resumed_one_keeps_it(tmp_path):
    logs = tmp_path / "logs"
    _write_events(logs, {events.LOSS: [(1, 1.0)]})
    (logs / "notes.txt").write_text("mine")
    tracking.prepare_logging_dir(logs, ["tensorboard"], resumed=True)
    assert len(events.event_files(logs)) == 1
    tracking.prepare_logging_dir(logs, ["tensorboard"], resumed=False, is_main=False)  # only rank 0 deletes
    assert len(events.event_files(logs)) == 1
    tracking.prepare_logging_dir(logs, ["tensorboard"], resumed=False)
    assert events.event_files(logs) == [] and (logs / "notes.txt").read_text() == "mine"
    with pytest.raises(WritingAlpacaError, match="no TensorBoard event files .*training.report_to"):
        events.read_scalars(logs)
    assert tracking.prepare_logging_dir(tmp_path / "none", [], resumed=False) and not (tmp_path / "none").exists()


def test_default_logging_dir_is_beside_the_checkpoints():
    out = Path("results/models/sys")
    assert tracking.default_logging_dir(out, Path("results/models/.sys.checkpoints")) == Path("results/models/sys.logs")
    assert tracking.default_logging_dir(out, Path("ckpt/sys")) == Path("ckpt/sys.logs")


# ------------------------------------------------------------------------------ the trainers


class _Recorder(types.ModuleType):
    """A stand-in for the wandb / mlflow modules recording each call."""

    def __init__(self, name: str):
        super().__init__(name)
        self.__spec__ = importlib.machinery.ModuleSpec(name, None)  # what importlib.util.find_spec reads
        self.calls: list[tuple] = []

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)

        def call(*args, **kwargs):
            self.calls.append((attr, args, kwargs))
            return self

        return call


def test_hf_trainers_get_wandb_and_mlflow_by_name_and_tensorboard_as_a_callback(tmp_path, monkeypatch):
    for var in ("WANDB_PROJECT", "WANDB_DIR", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    report_to, callbacks = tracking.hf_reporting(["tensorboard", "wandb", "mlflow"], tmp_path, None)
    assert report_to == ["wandb", "mlflow"] and len(callbacks) == 1
    assert callbacks[0].logging_dir == str(tmp_path)
    assert (
        tracking.os.environ["WANDB_PROJECT"],
        tracking.os.environ["WANDB_DIR"],
        tracking.os.environ["MLFLOW_EXPERIMENT_NAME"],
    ) == ("writing-alpaca", str(tmp_path), "writing-alpaca")
    assert tracking.hf_reporting([], tmp_path, None) == ([], [])


def _interrupt_at(step: int):
    from writing_alpaca.training.checkpoints import StopOnSignal

    class StopAt(StopOnSignal):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                self.received = signal.SIGTERM
            super().on_step_end(args, state, control, **kwargs)

    return StopAt


def test_llm_training_logs_loss_and_learning_rate_and_a_resumed_run_appends(tmp_path, monkeypatch):
    """A tiny LoRA run stopped (SIGTERM) at step 3 of 5, then resumed: the logging directory holds
    both attempts' event files, and their scalars are the run's loss history, step by step."""
    from writing_alpaca.training import recipe
    from writing_alpaca.training.checkpoints import TrainingInterrupted

    config = TrainConfig.from_fragments(
        "toy", {**SYSTEM, "method": "lora"}, {**TRAINING, "max_steps": 5, "save_steps": 100}, TEMPLATE, seed=1
    )
    out, checkpoints, logs = tmp_path / "models" / "toy", tmp_path / "checkpoints" / "toy", tmp_path / "logs" / "toy"
    (logs).mkdir(parents=True)
    _write_events(logs, {events.LOSS: [(1, 99.0)]})  # an earlier run of the system: gone when this one starts

    def run():
        return recipe.train(
            config, tiny_base(), instruction_file(), out, checkpoint_dir=checkpoints, logging_dir=logs, prompts=PROMPTS
        )

    monkeypatch.setattr(recipe, "StopOnSignal", _interrupt_at(3))
    with pytest.raises(TrainingInterrupted, match="at step 3 of 5"):
        run()
    assert len(events.event_files(logs)) == 1
    assert [s for s, _ in events.read_scalars(logs)[events.LOSS]] == [1, 2, 3]
    monkeypatch.undo()
    metrics = run()
    assert metrics["resumed_from"].endswith("checkpoint-3")
    assert len(events.event_files(logs)) == 2  # the resumed attempt appended its own file
    scalars = events.read_scalars(logs)
    loss = scalars[events.LOSS]
    assert [s for s, _ in loss] == [1, 2, 3, 4, 5]
    assert [v for _, v in loss] == pytest.approx(metrics["loss_history"], rel=1e-6)
    rates = dict(scalars[events.LEARNING_RATE])
    # the rate each step trained at: linear warm-up from 0 (step 1) to 2e-2 (step 3), then linear decay
    assert rates[1] == 0.0 and rates[3] == pytest.approx(2e-2) and rates[5] < rates[4] < rates[3]
    # the logs are no part of the system directory, and outlive the checkpoints
    assert not checkpoints.exists() and (out / "system.json").is_file() and not list(out.rglob("events.out.*"))


@pytest.fixture(scope="module")
def toy_mixture(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("baselines") / "mixture.jsonl", agreement_records(24))


@pytest.mark.parametrize("kind", ["gector", "seq2seq"])
def test_baselines_log_loss_and_learning_rate(kind, tmp_path, toy_mixture, monkeypatch):
    """GECToR's own loop (through wandb too, a recording stand-in here) and T5's Seq2SeqTrainer
    write the same scalars into the logging directory they are given."""
    import accelerate  # noqa: F401  (imported before the stand-in: it probes for wandb when imported)
    import transformers  # noqa: F401

    from writing_alpaca.baselines import register

    wandb = _Recorder("wandb")
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.delenv("WANDB_DIR", raising=False)
    base = tiny_baseline_base(kind, toy_mixture.parent, toy_mixture)
    hp = {"max_steps": 4, "batch_size": 4, "micro_batch_size": 4, "logging_steps": 1, "save_steps": 0}
    hp.update({"cold_steps": 2, "warmup_steps": 0, "max_length": 32} if kind == "gector" else {"optimizer": "adamw"})
    trackers = ["tensorboard", "wandb"] if kind == "gector" else ["tensorboard"]
    training = {"precision": "auto", "seed": 1, "report_to": trackers, "baselines": {kind: hp}}
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    logs = tmp_path / "logs" / f"toy-{kind}"
    args = parser.parse_args(
        ["baselines", "train", "--system", f"toy-{kind}", "--spec", json.dumps({"kind": kind, "method": "full"})]
        + ["--training", json.dumps(training), "--base", str(base), "--data", str(toy_mixture)]
        + ["--out", str(tmp_path / "system"), "--checkpoint-dir", str(tmp_path / "ckpt"), "--logging-dir", str(logs)]
    )
    assert args.func(args) == 0
    metrics = json.loads((tmp_path / "system" / "train_metrics.json").read_text())
    scalars = events.read_scalars(logs)
    assert [s for s, _ in scalars[events.LOSS]] == [1, 2, 3, 4]
    assert [v for _, v in scalars[events.LOSS]] == pytest.approx(metrics["loss_history"], rel=1e-5)
    assert [s for s, _ in scalars[events.LEARNING_RATE]] == [1, 2, 3, 4]
    if kind == "gector":
        encoder = dict(scalars[events.ENCODER_LEARNING_RATE])
        assert encoder[1] == encoder[2] == 0.0 and encoder[3] > 0  # frozen for the 2 cold steps
        logged = [(kwargs["step"], args[0]) for name, args, kwargs in wandb.calls if name == "log"]
        assert [step for step, _ in logged] == [1, 2, 3, 4]
        assert logged[0][1][events.LOSS] == pytest.approx(metrics["loss_history"][0], rel=1e-6)
        init = next(kwargs for name, _, kwargs in wandb.calls if name == "init")
        assert init["name"] == "toy-gector" and init["dir"] == str(logs) and init["config"]["max_steps"] == 4
        assert wandb.calls[-1][0] == "finish"


def test_the_loop_tracker_calls_mlflow_and_does_nothing_off_rank_0(tmp_path, monkeypatch):
    mlflow = _Recorder("mlflow")
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    tracking.check_available(["mlflow"])
    tracker = tracking.Tracker(["mlflow"], tmp_path, "sys", params={"lr": 0.1})
    tracker.log({events.LOSS: 1.5}, 7)
    tracker.close()
    assert [c[0] for c in mlflow.calls] == ["set_experiment", "start_run", "log_params", "log_metrics", "end_run"]
    assert mlflow.calls[1][2] == {"run_name": "sys"} and mlflow.calls[3][1:] == (({events.LOSS: 1.5},), {"step": 7})
    mlflow.calls.clear()
    idle = tracking.Tracker(["mlflow", "tensorboard"], tmp_path / "rank1", "sys", enabled=False)
    idle.log({events.LOSS: 1.0}, 1)
    idle.close()
    assert mlflow.calls == [] and not (tmp_path / "rank1").exists()


# ------------------------------------------------------------------------------ the figure


def _system_logs(tmp_path: Path) -> Path:
    logs = tmp_path / "logs" / "toy"
    _write_events(
        logs,
        {
            events.LOSS: [(s, 5.0 / s) for s in range(1, 7)],
            events.LEARNING_RATE: [(s, 1e-5 * min(s, 3)) for s in range(1, 7)],
            events.ENCODER_LEARNING_RATE: [(s, 0.0 if s <= 2 else 1e-5) for s in range(1, 7)],
        },
    )
    _write_events(
        logs, {events.LOSS: [(s, 0.5) for s in range(5, 11)], events.LEARNING_RATE: [(s, 3e-5) for s in range(5, 11)]},
        purge_step=5,
    )  # fmt: skip
    return logs


def _render(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    report.register(parser.add_subparsers())
    args = parser.parse_args(["render", *argv])
    return args.func(args)


def test_the_training_figure_renders_from_the_event_files(tmp_path):
    logs = _system_logs(tmp_path)
    metrics = tmp_path / "models" / "toy"
    metrics.mkdir(parents=True)
    (metrics / "train_metrics.json").write_text(json.dumps({"gpu_hours": 0.0, "steps": 10}))
    prefix = tmp_path / "figures" / "training" / "toy"
    systems = json.dumps({"toy": {"label": "Toy system"}})
    assert (
        _render(
            ["training", "--system", "toy", "--systems", systems, "--logs", str(logs)]
            + ["--train-metrics", str(metrics), "--out-prefix", str(prefix)]
        )
        == 0
    )
    for ext in ("png", "pdf", "csv"):
        assert prefix.with_suffix(f".{ext}").stat().st_size > 0
    rows = list(csv.DictReader(prefix.with_suffix(".csv").open()))
    assert list(rows[0]) == ["step", "loss", "learning_rate", "encoder_learning_rate"]
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    assert [float(r["loss"]) for r in rows[3:6]] == [1.25, 0.5, 0.5]  # the resumed attempt's from step 5
    assert rows[0]["learning_rate"] == "1e-05" and rows[9]["learning_rate"] == "3e-05"
    assert rows[1]["encoder_learning_rate"] == "0" and rows[5]["encoder_learning_rate"] == ""  # not logged on resume


def test_the_training_figure_refuses_logs_of_another_run_and_missing_logs(tmp_path):
    logs = _system_logs(tmp_path)
    metrics = tmp_path / "train_metrics.json"
    metrics.write_text(json.dumps({"gpu_hours": 0.0, "steps": 20}))
    with pytest.raises(
        WritingAlpacaError, match=r"logged up to step 10, but .*train_metrics.json says the system trained 20 steps"
    ):
        figures.render_training(Context(), "toy", logs, tmp_path / "fig", metrics)
    with pytest.raises(WritingAlpacaError, match=r"training --logs .*nowhere: no such file or directory"):
        _render(
            ["training", "--system", "toy", "--logs", str(tmp_path / "nowhere"), "--out-prefix", str(tmp_path / "f")]
        )
    (tmp_path / "empty").mkdir()
    with pytest.raises(WritingAlpacaError, match=r"empty: no TensorBoard event files"):
        _render(["training", "--system", "toy", "--logs", str(tmp_path / "empty"), "--out-prefix", str(tmp_path / "f")])
