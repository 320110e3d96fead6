"""Experiment tracking of every trainer: ``training.report_to`` (``tensorboard``, ``wandb``, ``mlflow``
or ``none``; :data:`writing_alpaca.settings.TRACKERS`).

- The Hugging Face trainers (the LLMs' :mod:`.recipe`, T5's :mod:`writing_alpaca.baselines.seq2seq`)
  hand ``wandb`` and ``mlflow`` to ``TrainingArguments(report_to=...)`` and log TensorBoard through
  :func:`hf_reporting`'s callback, which writes into the run's logging directory (this transformers
  has no ``logging_dir`` argument any more; its ``TENSORBOARD_LOGGING_DIR`` variable would be
  process-wide).
- GECToR's own loop logs through a :class:`Tracker` on rank 0.

Every trainer logs the same scalars at its logging steps: ``train/loss`` and ``train/learning_rate``
(GECToR also ``train/encoder_learning_rate``: the encoder is frozen during its cold steps); the
event files' names and their reader are :mod:`.events`'s.

One logging directory per system (the workflow's ``results/logs/<system>/``, outside the rule's
output so that a resumed run keeps it): a run that starts afresh (no checkpoint to resume from)
deletes the event files there first; a resumed run appends a new event file whose writer purges
(TensorBoard's ``purge_step``) what a killed attempt logged after the checkpoint it resumes from.
:func:`.events.read_scalars` merges the files in the same way: a later file replaces an earlier
one's points from its first step on.

A tracker whose package is missing is an error naming the setting (:func:`check_available`),
raised before the run loads anything.  ``wandb`` and ``mlflow`` are configured by their own
environment variables; unless set, ``WANDB_PROJECT`` and ``MLFLOW_EXPERIMENT_NAME`` default to
``writing-alpaca`` and ``WANDB_DIR`` to the logging directory.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import settings as S
from ..errors import WritingAlpacaError
from .events import ENCODER_LEARNING_RATE, LEARNING_RATE, LOSS, event_files

log = logging.getLogger(__name__)

__all__ = [
    "ENCODER_LEARNING_RATE",
    "LEARNING_RATE",
    "LOSS",
    "Tracker",
    "check_available",
    "default_logging_dir",
    "hf_reporting",
    "prepare_logging_dir",
    "report_to_setting",
]

#: the package each tracker needs (pip names)
PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
PROJECT = "writing-alpaca"


class _ReportTo(S.Settings):
    report_to: S.ReportTo = S.Training.model_fields["report_to"].default


def report_to_setting(block: Mapping[str, Any] | None, what: str = "training") -> tuple[str, ...]:
    """``report_to`` of a training block, parsed as :class:`settings.Training` parses it (default
    ``[tensorboard]``), without ``none``: the trackers to log to (empty: none)."""
    value = dict(block or {}).get("report_to", _ReportTo.model_fields["report_to"].default)
    return trackers(S.parse(_ReportTo, {"report_to": value}, what).report_to)


def trackers(report_to: Iterable[str]) -> tuple[str, ...]:
    """The trackers of a parsed ``report_to`` (``none`` left out)."""
    return tuple(t for t in report_to if t != "none")


def _importable(module: str) -> bool:
    return module in sys.modules or importlib.util.find_spec(module) is not None


def check_available(names: Iterable[str]) -> None:
    """Every tracker's package importable, else one error naming ``training.report_to``."""
    missing = [n for n in names if not _importable(PACKAGES[n])]
    if missing:
        pip = " ".join(PACKAGES[n] for n in missing)
        raise WritingAlpacaError(
            f"training.report_to: {', '.join(missing)} requested but not installed in this environment "
            f"(pip install {pip}); install it, or leave it out of training.report_to (none: no tracking)"
        )


def default_logging_dir(out: str | Path, checkpoint_dir: str | Path) -> Path:
    """``NAME.logs`` beside the checkpoint directory (so beside the system directory ``NAME`` when
    the checkpoints take their default place); the workflow passes ``results/logs/<system>``."""
    return Path(checkpoint_dir).parent / f"{Path(out).name}.logs"


def prepare_logging_dir(directory: str | Path, names: Iterable[str], resumed: bool, is_main: bool = True) -> Path:
    """Create the logging directory (rank 0); a run starting afresh deletes the event files an
    earlier run of the system left there (one trajectory per directory); a resumed run keeps them."""
    directory = Path(directory)
    if is_main and tuple(names):
        directory.mkdir(parents=True, exist_ok=True)
        old = event_files(directory)
        if old and not resumed:
            log.info("%s: a new run: %d event file(s) of an earlier run deleted", directory, len(old))
            for path in old:
                path.unlink(missing_ok=True)
    return directory


def purge_step(resumed_step: int | None) -> int | None:
    """TensorBoard's ``purge_step`` of a writer resuming after ``resumed_step``: the points an
    interrupted attempt logged from the next step on are superseded."""
    return None if resumed_step is None else resumed_step + 1


def _environment_defaults(names: Iterable[str], directory: Path) -> None:
    names = tuple(names)
    if "wandb" in names:
        os.environ.setdefault("WANDB_PROJECT", PROJECT)
        os.environ.setdefault("WANDB_DIR", str(directory))
    if "mlflow" in names:
        os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", PROJECT)


def hf_reporting(names: Iterable[str], directory: str | Path, resumed_step: int | None) -> tuple[list[str], list[Any]]:
    """``(report_to, callbacks)`` of a Hugging Face trainer: ``report_to`` for ``TrainingArguments``
    (wandb, mlflow; ``[]`` for none) and the TensorBoard callback writing into ``directory``."""
    names = tuple(names)
    _environment_defaults(names, Path(directory))
    callbacks = [_tensorboard_callback(Path(directory), purge_step(resumed_step))] if "tensorboard" in names else []
    return [n for n in names if n != "tensorboard"], callbacks


def _tensorboard_callback(directory: Path, purge: int | None) -> Any:
    from transformers.integrations import TensorBoardCallback

    class _TensorBoard(TensorBoardCallback):
        """transformers' TensorBoard callback (rank 0 only; every log entry as ``train/<key>`` at
        the global step) writing into ``directory``, purging what an interrupted attempt logged."""

        def __init__(self) -> None:
            super().__init__()
            self.logging_dir = str(directory)

        def _init_summary_writer(self, args: Any) -> None:
            self.tb_writer = self._SummaryWriter(log_dir=self.logging_dir, purge_step=purge)

    return _TensorBoard()


class Tracker:
    """The trackers of a hand-written loop (GECToR), on rank 0: :meth:`log` scalars at a step,
    :meth:`close` at the end.  Other ranks get one that does nothing (``enabled=False``)."""

    def __init__(
        self,
        names: Iterable[str],
        directory: str | Path,
        run_name: str,
        params: Mapping[str, Any] | None = None,
        resumed_step: int | None = None,
        enabled: bool = True,
    ) -> None:
        self.names = tuple(names) if enabled else ()
        self._tensorboard = self._wandb = self._mlflow = None
        directory = Path(directory)
        params = {k: v for k, v in (params or {}).items()}
        _environment_defaults(self.names, directory)
        if "tensorboard" in self.names:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(log_dir=str(directory), purge_step=purge_step(resumed_step))
        if "wandb" in self.names:
            import wandb

            self._wandb = wandb.init(
                project=os.environ.get("WANDB_PROJECT", PROJECT),
                name=run_name,
                dir=os.environ.get("WANDB_DIR", str(directory)),
                config=params,
            )
        if "mlflow" in self.names:
            import mlflow

            mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", PROJECT))
            mlflow.start_run(run_name=run_name)
            mlflow.log_params({k: str(v) for k, v in params.items()})
            self._mlflow = mlflow

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        if self._tensorboard is not None:
            for tag, value in scalars.items():
                self._tensorboard.add_scalar(tag, value, step)
            self._tensorboard.flush()
        if self._wandb is not None:
            self._wandb.log(dict(scalars), step=step)
        if self._mlflow is not None:
            self._mlflow.log_metrics(dict(scalars), step=step)

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None
        if self._mlflow is not None:
            self._mlflow.end_run()
            self._mlflow = None
