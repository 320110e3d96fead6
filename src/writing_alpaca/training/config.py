"""The training configuration: one validated dataclass built from the config fragments.

``TrainConfig.from_fragments(system, spec, training, template)`` takes exactly what the
Snakemake rule passes (``systems.<name>``, the ``training:`` block and ``template:``) and
turns every mistake into one :class:`~writing_alpaca.errors.WritingAlpacaError`.

The step budget is ``training.max_steps`` (every Table-4 run takes the same steps) unless the
system has its own ``systems.<name>.training: {epochs: E}`` or ``{max_steps: N}`` (the
Table-7 LLaMA-GEC runs: one epoch of cLang-8).  ``epochs`` becomes steps once the trainer
knows the number of examples: ``ceil(E x examples / batch_size)`` (:meth:`TrainConfig.resolve_steps`).

``training.precision: auto|bf16|fp16|fp32`` (:data:`PRECISIONS`) is read by
:func:`precision_setting` and resolved against the hardware by
:func:`writing_alpaca.training.modelling.choose_precision`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from typing import Any, Literal

from .. import settings as S
from ..errors import WritingAlpacaError

log = logging.getLogger(__name__)

Method = Literal["lora", "full"]
#: ``training.precision`` (writing_alpaca.settings, the one definition of every setting)
PRECISIONS = S.PRECISIONS
# The fragments' classes are the settings module's: one definition, here under their old names.
Template = S.Template
LoraSettings = S.Lora
DeepSpeedSettings = S.DeepSpeed
#: the keys of a step budget (``training`` or ``systems.<name>.training``): exactly one is set.
STEP_BUDGET_KEYS = tuple(S.StepBudget.model_fields)


class _Precision(S.Settings):
    precision: S.Precision = "auto"


def precision_setting(block: Mapping[str, Any], what: str = "training") -> str:
    """``precision`` of a training block (default ``auto``), parsed as :class:`settings.Training`
    parses it (the old ``bf16`` key: the rename message)."""
    if isinstance(block, Mapping) and "bf16" in block:
        S.parse(S.Training, {"bf16": block["bf16"]}, what)  # raises the rename message
    return S.parse(_Precision, {"precision": dict(block or {}).get("precision", "auto")}, what).precision


def steps_for_epochs(epochs: float, examples: int, batch_size: int) -> int:
    """Optimiser steps of ``epochs`` passes over ``examples`` at ``batch_size``: ``ceil(E x n / b)``.

    Exact decimal arithmetic (``epochs`` as written), so ``1`` epoch of 2,372,119 cLang-8 pairs at
    batch 128 is 18,533 steps; at least one step.
    """
    if examples < 1 or batch_size < 1:
        raise WritingAlpacaError(f"steps_for_epochs: examples ({examples}) and batch_size ({batch_size}) must be >= 1")
    return max(1, math.ceil(Fraction(str(epochs)) * examples / batch_size))


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs besides the paths."""

    system: str
    method: Method
    template: Template
    max_steps: int | None = 1000  # None until resolve_steps() when the budget is in epochs
    epochs: float | None = None
    batch_size: int = 128
    micro_batch_size: int = 4
    cutoff_len: int = 256
    train_on_inputs: bool = False
    learning_rate: float = 3e-4
    warmup_steps: int = 100
    save_steps: int = 200
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    lora: LoraSettings = field(default_factory=LoraSettings)
    deepspeed: DeepSpeedSettings = field(default_factory=DeepSpeedSettings)
    seed: int = 42
    logging_steps: int = 1
    #: ``training.report_to`` without ``none``: the trackers to log to (:mod:`.tracking`)
    report_to: tuple[str, ...] = ("tensorboard",)

    @classmethod
    def from_fragments(
        cls,
        system: str,
        spec: Mapping[str, Any],
        training: Mapping[str, Any],
        template: Mapping[str, Any],
        seed: int | None = None,
    ) -> TrainConfig:
        """Build from ``systems.<system>``, the ``training:`` block and ``template:``, each parsed
        with its class of :mod:`writing_alpaca.settings` (as the Snakefile validated them).

        ``seed`` (the top-level config seed, when the rule passes it) overrides
        ``training.seed``; without either the seed is 42.  A step budget in
        ``spec["training"]`` (``systems.<system>.training``) replaces the block's
        ``max_steps``/``epochs`` (the rule passes the block with it applied already).
        """
        sysc = S.parse(S.System, spec, f"systems.{system}")
        if sysc.method not in ("lora", "full"):
            raise WritingAlpacaError(f"systems.{system}.method: train needs 'lora' or 'full', got {sysc.method!r}")
        if sysc.kind != "causal_lm":
            raise WritingAlpacaError(f"systems.{system}.kind: train handles causal_lm systems, got {sysc.kind!r}")
        if isinstance(training, Mapping) and sysc.training is not None:
            training = {k: v for k, v in training.items() if k not in STEP_BUDGET_KEYS}
            training.update(sysc.training.model_dump(exclude_none=True))
        block = S.parse(S.Training, training, "training")
        rates = training.get("learning_rate") if isinstance(training, Mapping) else None
        if isinstance(rates, Mapping) and rates and sysc.method not in rates:
            raise WritingAlpacaError(f"training.learning_rate: no rate for method {sysc.method!r}")
        if seed is None:
            seed = block.seed if block.seed is not None else 42
        return cls(
            system=system,
            method=sysc.method,
            template=S.Template.from_dict(template),
            max_steps=block.max_steps,
            epochs=block.epochs,
            batch_size=block.batch_size,
            micro_batch_size=block.micro_batch_size,
            cutoff_len=block.cutoff_len,
            train_on_inputs=block.train_on_inputs,
            learning_rate=getattr(block.learning_rate, sysc.method),
            warmup_steps=block.warmup_steps,
            save_steps=block.save_steps,
            logging_steps=block.logging_steps,
            precision=block.precision,
            lora=block.lora,
            deepspeed=block.deepspeed,
            seed=seed,
            report_to=tuple(r for r in block.report_to if r != "none"),
        )

    def resolve_steps(self, examples: int) -> TrainConfig:
        """This config with ``max_steps`` fixed for ``examples`` training examples.

        A budget in steps is kept; one in epochs becomes ``ceil(epochs x examples / batch_size)``.
        """
        if self.epochs is None:
            return self
        return replace(self, max_steps=steps_for_epochs(self.epochs, examples, self.batch_size))

    def fingerprint(self) -> dict[str, Any]:
        """The settings that determine the optimisation trajectory (stored with checkpoints).

        Everything except ``save_steps``, ``logging_steps`` and ``report_to``, which change when
        state is written, printed or tracked but not the weights a run ends with.
        """
        skip = ("save_steps", "logging_steps", "report_to")
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        for key in ("template", "lora", "deepspeed"):
            data[key] = data[key].model_dump(mode="json")
        if self.method != "lora":
            data.pop("lora")  # irrelevant to full fine-tuning
        return data

    def gradient_accumulation(self, world_size: int = 1) -> int:
        """``batch_size / (micro_batch_size * world_size)``, at least 1 (as alpaca-lora)."""
        per_step = self.micro_batch_size * max(1, world_size)
        steps = max(1, self.batch_size // per_step)
        if steps * per_step != self.batch_size:
            log.warning(
                "batch_size %d is not a multiple of micro_batch_size x world_size = %d: effective batch is %d",
                self.batch_size,
                per_step,
                steps * per_step,
            )
        return steps
