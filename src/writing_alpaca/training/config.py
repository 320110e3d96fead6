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
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal, Mapping

from ..errors import WritingAlpacaError

log = logging.getLogger(__name__)

Method = Literal["lora", "full"]
TEMPLATE_KEYS = ("prompt_input", "prompt_no_input", "response_split")
#: ``training.precision``: auto = bf16 on a GPU with native bf16 (Ampere and newer), fp16
#: mixed precision with dynamic loss scaling on an older GPU (the paper's V100s), fp32 on CPU.
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
#: the keys of a step budget (``training`` or ``systems.<name>.training``): exactly one is set.
STEP_BUDGET_KEYS = ("max_steps", "epochs")


def _err(what: str, message: str) -> WritingAlpacaError:
    return WritingAlpacaError(f"{what}: {message}")


def _int(block: Mapping[str, Any], key: str, what: str, default: int | None = None, minimum: int = 1) -> int:
    if key not in block:
        if default is None:
            raise _err(what, f"missing required key {key!r}")
        return default
    value = block[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _err(what, f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _float(value: Any, what: str, minimum: float = 0.0, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(what, f"expected a number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise _err(what, f"must be {bound}, got {value!r}")
    return float(value)


def precision_setting(block: Mapping[str, Any], what: str = "training") -> str:
    """``precision`` of a training block (default ``auto``); the old ``bf16`` key is an error."""
    if "bf16" in block:
        raise _err(
            f"{what}.bf16",
            "renamed: use precision: auto|bf16|fp16|fp32 (bf16: auto -> precision: auto, "
            "true -> bf16, false -> fp32)",
        )
    value = block.get("precision", "auto")
    if value not in PRECISIONS:
        raise _err(f"{what}.precision", f"must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return value


def step_budget(block: Mapping[str, Any], what: str) -> tuple[int | None, float | None]:
    """``(max_steps, epochs)`` of a step budget: exactly one of the two keys, the other None.

    ``max_steps`` is an integer >= 1; ``epochs`` a number > 0 (passes over the training
    examples; turned into steps by :meth:`TrainConfig.resolve_steps`).
    """
    given = [key for key in STEP_BUDGET_KEYS if key in block]
    if len(given) != 1:
        found = f"got {' and '.join(given)}" if given else "got neither"
        raise _err(what, f"give exactly one step budget, max_steps (optimiser steps) or epochs ({found})")
    if given == ["max_steps"]:
        return _int(block, "max_steps", what), None
    epochs = block["epochs"]
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not math.isfinite(epochs) or epochs <= 0:
        raise _err(what, f"epochs must be a number > 0, got {epochs!r}")
    return None, float(epochs)


def steps_for_epochs(epochs: float, examples: int, batch_size: int) -> int:
    """Optimiser steps of ``epochs`` passes over ``examples`` at ``batch_size``: ``ceil(E x n / b)``.

    Exact decimal arithmetic (``epochs`` as written), so ``1`` epoch of 2,372,119 cLang-8 pairs at
    batch 128 is 18,533 steps; at least one step.
    """
    if examples < 1 or batch_size < 1:
        raise WritingAlpacaError(f"steps_for_epochs: examples ({examples}) and batch_size ({batch_size}) must be >= 1")
    return max(1, math.ceil(Fraction(str(epochs)) * examples / batch_size))


@dataclass(frozen=True)
class Template:
    """The Alpaca prompt template (alpaca-lora's ``templates/alpaca.json``)."""

    prompt_input: str
    prompt_no_input: str
    response_split: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Template":
        if not isinstance(data, Mapping):
            raise _err("template", f"expected a mapping, got {type(data).__name__}")
        missing = [key for key in TEMPLATE_KEYS if not isinstance(data.get(key), str)]
        if missing:
            raise _err("template", f"missing or non-string keys: {', '.join(missing)}")
        for key, slots in (("prompt_input", ("{instruction}", "{input}")), ("prompt_no_input", ("{instruction}",))):
            for slot in slots:
                if slot not in data[key]:
                    raise _err("template", f"{key} lacks the {slot} slot")
        return cls(**{key: data[key] for key in TEMPLATE_KEYS})

    def as_dict(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in TEMPLATE_KEYS}


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "LoraSettings":
        data = dict(data or {})
        what = "training.lora"
        unknown = set(data) - {"r", "alpha", "dropout", "target_modules"}
        if unknown:
            raise _err(what, f"unknown keys: {', '.join(sorted(unknown))}")
        modules = data.get("target_modules", list(cls.target_modules))
        if not isinstance(modules, list) or not modules or not all(isinstance(m, str) and m for m in modules):
            raise _err(what, f"target_modules must be a non-empty list of module names, got {modules!r}")
        return cls(
            r=_int(data, "r", what, cls.r),
            alpha=_int(data, "alpha", what, cls.alpha),
            dropout=_float(data.get("dropout", cls.dropout), f"{what}.dropout", 0.0, 1.0),
            target_modules=tuple(modules),
        )


@dataclass(frozen=True)
class DeepSpeedSettings:
    stage: int = 0  # 0 = no DeepSpeed
    offload: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "DeepSpeedSettings":
        data = dict(data or {})
        what = "training.deepspeed"
        unknown = set(data) - {"stage", "offload"}
        if unknown:
            raise _err(what, f"unknown keys: {', '.join(sorted(unknown))}")
        stage = data.get("stage", 0)
        if stage not in (0, 1, 2, 3) or isinstance(stage, bool):
            raise _err(what, f"stage must be 0 (off), 1, 2 or 3, got {stage!r}")
        offload = data.get("offload", False)
        if not isinstance(offload, bool):
            raise _err(what, f"offload must be true or false, got {offload!r}")
        if offload and stage < 2:
            raise _err(what, "offload needs ZeRO stage 2 or 3")
        return cls(stage=stage, offload=offload)

    @property
    def enabled(self) -> bool:
        return self.stage > 0


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

    @classmethod
    def from_fragments(
        cls,
        system: str,
        spec: Mapping[str, Any],
        training: Mapping[str, Any],
        template: Mapping[str, Any],
        seed: int | None = None,
    ) -> "TrainConfig":
        """Build from ``systems.<system>``, the ``training:`` block and ``template:``.

        ``seed`` (the top-level config seed, when the rule passes it) overrides
        ``training.seed``; without either the seed is 42.  A step budget in
        ``spec["training"]`` (``systems.<system>.training``) replaces the block's
        ``max_steps``/``epochs`` (the rule passes the block with it applied already).
        """
        if not isinstance(spec, Mapping):
            raise _err(f"systems.{system}", "expected a mapping")
        if not isinstance(training, Mapping):
            raise _err("training", "expected a mapping")
        method = spec.get("method")
        if method not in ("lora", "full"):
            raise _err(f"systems.{system}.method", f"train needs 'lora' or 'full', got {method!r}")
        kind = spec.get("kind", "causal_lm")
        if kind != "causal_lm":
            raise _err(f"systems.{system}.kind", f"train handles causal_lm systems, got {kind!r}")

        lr = training.get("learning_rate", {"lora": 3e-4, "full": 2e-5})
        if isinstance(lr, Mapping):
            if method not in lr:
                raise _err("training.learning_rate", f"no rate for method {method!r}")
            lr = lr[method]
        learning_rate = _float(lr, f"training.learning_rate.{method}")
        if learning_rate <= 0:
            raise _err(f"training.learning_rate.{method}", "must be > 0")

        precision = precision_setting(training)
        own = spec.get("training")
        if own is not None:
            if not isinstance(own, Mapping):
                raise _err(f"systems.{system}.training", f"expected a mapping {{epochs: E}} or {{max_steps: N}}, got {own!r}")
            unknown = sorted(set(own) - set(STEP_BUDGET_KEYS))
            if unknown:
                raise _err(f"systems.{system}.training", f"unknown keys: {', '.join(unknown)} (a system sets only its step budget: epochs or max_steps)")
            max_steps, epochs = step_budget(own, f"systems.{system}.training")
        else:
            max_steps, epochs = step_budget(training, "training")
        train_on_inputs = training.get("train_on_inputs", False)
        if not isinstance(train_on_inputs, bool):
            raise _err("training.train_on_inputs", f"must be true or false, got {train_on_inputs!r}")

        what = "training"
        config = cls(
            system=system,
            method=method,
            template=Template.from_dict(template),
            max_steps=max_steps,
            epochs=epochs,
            batch_size=_int(training, "batch_size", what),
            micro_batch_size=_int(training, "micro_batch_size", what),
            cutoff_len=_int(training, "cutoff_len", what, minimum=2),
            train_on_inputs=train_on_inputs,
            learning_rate=learning_rate,
            warmup_steps=_int(training, "warmup_steps", what, 0, minimum=0),
            save_steps=_int(training, "save_steps", what, 200),
            logging_steps=_int(training, "logging_steps", what, 1),
            precision=precision,
            lora=LoraSettings.from_dict(training.get("lora")),
            deepspeed=DeepSpeedSettings.from_dict(training.get("deepspeed")),
            seed=seed if seed is not None else _int(training, "seed", what, 42, minimum=0),
        )
        if config.batch_size % config.micro_batch_size:
            raise _err(what, f"batch_size ({config.batch_size}) must be a multiple of micro_batch_size ({config.micro_batch_size})")
        return config

    def resolve_steps(self, examples: int) -> "TrainConfig":
        """This config with ``max_steps`` fixed for ``examples`` training examples.

        A budget in steps is kept; one in epochs becomes ``ceil(epochs x examples / batch_size)``.
        """
        if self.epochs is None:
            return self
        return replace(self, max_steps=steps_for_epochs(self.epochs, examples, self.batch_size))

    def fingerprint(self) -> dict[str, Any]:
        """The settings that determine the optimisation trajectory (stored with checkpoints).

        Everything except ``save_steps`` and ``logging_steps``, which change when state is
        written or printed but not the weights a run ends with.
        """
        data = asdict(self)
        for key in ("save_steps", "logging_steps"):
            data.pop(key)
        if self.method == "lora":
            data["lora"]["target_modules"] = list(self.lora.target_modules)
        else:
            data.pop("lora")  # irrelevant to full fine-tuning
        return data

    def gradient_accumulation(self, world_size: int = 1) -> int:
        """``batch_size / (micro_batch_size * world_size)``, at least 1 (as alpaca-lora)."""
        per_step = self.micro_batch_size * max(1, world_size)
        steps = max(1, self.batch_size // per_step)
        if steps * per_step != self.batch_size:
            log.warning(
                "batch_size %d is not a multiple of micro_batch_size x world_size = %d: effective batch is %d",
                self.batch_size, per_step, steps * per_step,
            )
        return steps
