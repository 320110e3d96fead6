"""The trained-system directory: one contract for its files, written and read only here.

A trained system (``results/models/{system}/``) holds::

    adapter/ | model/      LoRA adapter (peft) or full weights, each with the tokenizer
    deepspeed.json         the LLM trainer's generated DeepSpeed config (ZeRO stage > 0 only)
    train_metrics.json     the run's cost and loss (:data:`TRAIN_METRICS_JSON`)
    card.json, README.md   the model card: its record and the Hugging Face card (:mod:`writing_alpaca.cards`)
    system.json            written last: its presence marks a complete system (:data:`SYSTEM_JSON`)

``system.json`` is :class:`SystemInfo`::

    {"system": NAME, "kind": "causal_lm" | "seq2seq" | "gector", "method": "lora" | "full",
     "base": <base model dir as given to the trainer>, "adapter": <relative dir or null>,
     "model": <relative dir of full weights or null>,
     "template": {prompt_input, prompt_no_input, response_split},    # causal_lm only
     "prompts": {task: instruction, ...}}                            # causal_lm only

A LoRA system has ``adapter`` and no ``model``, a full one ``model`` and no ``adapter``; the
Table-7 baselines (``seq2seq``, ``gector``) are ``full`` and carry no template.  The causal
LMs record the prompt template they were trained with (config ``template:``) and the task
prompts (config ``tasks.<task>.prompt``): ``writing-alpaca edit`` and ``decode`` take them from
the system directory, so a trained system needs no second copy of them.

Writers: :func:`start_system` (a run begins: removes a stale ``system.json``) and
:func:`write_system` (the model card, ``train_metrics.json``, then ``system.json``), after checking the record
with the same checks :func:`read_system` applies when it reads one back (:func:`check_system`,
which a trainer also calls before it starts).  Every problem with a
``system.json`` (missing, not JSON, incomplete, inconsistent) is one
:class:`~writing_alpaca.errors.WritingAlpacaError` naming the file.

Paths: ``base`` is kept as the trainer was given it: used as is when absolute or when it exists
relative to the working directory, else relative to the system directory
(:func:`resolve_path`); ``adapter``/``model`` are relative to the system directory.
:func:`resolve_model_dirs` turns a system directory (or a bare base model) into the weights,
adapter and tokenizer directories to load.

Prompting precedence (:func:`prompt_template`, :func:`task_instruction`):

- a trained causal LM (``--system-dir``): the template recorded in its ``system.json`` is used;
  a ``--template`` given as well must equal it (else an error: the model would be asked in a
  format it was not trained on).  ``--task NAME`` picks the recorded prompt of ``NAME``;
  ``--task-prompt TEXT`` asks an explicit instruction instead.
- an untrained model (method ``none``: ``--base``, a bare base model without ``system.json``):
  ``--template`` is required and the instruction is ``--task-prompt``.

The Snakemake rules follow this: ``decode`` passes ``--task`` for a trained system and
``--task-prompt``/``--template`` only for an untrained one; ``train`` passes ``--template``
and ``--prompts`` (every ``tasks.<task>.prompt``), which end up in ``system.json``.

The hardware description recorded with every run (``train_metrics.json``, decoding metrics)
is :func:`hardware_description`.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .errors import WritingAlpacaError, located
from .io import read_json, write_json

SYSTEM_JSON = "system.json"
TRAIN_METRICS_JSON = "train_metrics.json"
#: the weights sub-directories of a system (``adapter`` for LoRA, ``model`` for full weights)
ADAPTER_DIR = "adapter"
MODEL_DIR = "model"

CAUSAL_LM = "causal_lm"
BASELINE_KINDS = ("seq2seq", "gector")
KINDS = (CAUSAL_LM, *BASELINE_KINDS)
METHODS = ("lora", "full")
#: the command that decodes each kind (named in errors)
_DECODER = {
    CAUSAL_LM: "writing-alpaca decode",
    "seq2seq": "writing-alpaca baselines decode",
    "gector": "writing-alpaca baselines decode",
}
_KEYS = ("system", "kind", "method", "base", "adapter", "model")
_LM_KEYS = ("template", "prompts")


@dataclass(frozen=True)
class SystemInfo:
    """The contents of ``system.json`` (and, once read, the directory it came from)."""

    system: str
    kind: str
    method: str
    base: str
    adapter: str | None = None
    model: str | None = None
    template: dict[str, str] | None = None
    prompts: dict[str, str] | None = None
    system_dir: Path | None = field(default=None, compare=False)

    @classmethod
    def causal_lm(
        cls, system: str, method: str, base: str | Path, template: Mapping[str, str], prompts: Mapping[str, str]
    ) -> SystemInfo:
        """A trained causal LM (``method``: lora|full) with its template and task prompts."""
        return cls(
            system=system,
            kind=CAUSAL_LM,
            method=method,
            base=str(base),
            adapter=ADAPTER_DIR if method == "lora" else None,
            model=MODEL_DIR if method == "full" else None,
            template=dict(template),
            prompts=dict(prompts),
        )

    @classmethod
    def baseline(cls, system: str, kind: str, base: str | Path) -> SystemInfo:
        """A Table-7 baseline (``kind``: seq2seq|gector): full weights in ``model/``."""
        return cls(system=system, kind=kind, method="full", base=str(base), model=MODEL_DIR)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``system.json`` (``template``/``prompts`` only for a causal LM)."""
        data: dict[str, Any] = {key: getattr(self, key) for key in _KEYS}
        if self.kind == CAUSAL_LM:
            data.update(template=self.template, prompts=self.prompts)
        return data

    @property
    def path(self) -> Path:
        """The ``system.json`` this record was read from."""
        if self.system_dir is None:
            raise WritingAlpacaError(f"system {self.system}: not read from a directory")
        return self.system_dir / SYSTEM_JSON

    @property
    def model_dir(self) -> Path | None:
        """The full weights' directory (``None`` for a LoRA system)."""
        return None if self.model is None else self.path.parent / self.model

    @property
    def adapter_dir(self) -> Path | None:
        """The LoRA adapter's directory (``None`` unless LoRA)."""
        return None if self.adapter is None else self.path.parent / self.adapter

    @property
    def base_dir(self) -> Path:
        """The base model's directory (see :func:`resolve_path`)."""
        return resolve_path(self.base, self.path.parent)

    def prompt(self, task: str) -> str:
        """The recorded instruction of ``task`` (config ``tasks.<task>.prompt`` at training time)."""
        prompts = self.prompts or {}
        if task not in prompts:
            known = ", ".join(sorted(prompts)) or "none"
            raise located(self.path, None, f"no prompt recorded for task {task!r} (recorded: {known})")
        return prompts[task]


def _check(data: Any, path: Path) -> SystemInfo:
    """Every check of a ``system.json`` record; errors name ``path``."""

    def fail(message: str) -> WritingAlpacaError:
        return located(path, None, message)

    if not isinstance(data, dict):
        raise fail(f"expected a JSON object with {', '.join(_KEYS)}, got {type(data).__name__}")
    missing = [key for key in _KEYS if key not in data]
    if data.get("kind") == CAUSAL_LM:
        missing += [key for key in _LM_KEYS if key not in data]
    if missing:
        raise fail(
            f"incomplete: missing {', '.join(missing)} (written by an older version, or not by a trainer: "
            "retrain the system)"
        )
    for key in ("system", "kind", "method", "base"):
        if not isinstance(data[key], str) or not data[key]:
            raise fail(f"{key!r} must be a non-empty string, got {data[key]!r}")
    for key in ("adapter", "model"):
        if data[key] is not None and (not isinstance(data[key], str) or not data[key]):
            raise fail(f"{key!r} must be a relative directory or null, got {data[key]!r}")
    kind, method = data["kind"], data["method"]
    if kind not in KINDS:
        raise fail(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if method not in METHODS or (kind != CAUSAL_LM and method != "full"):
        allowed = METHODS if kind == CAUSAL_LM else ("full",)
        raise fail(f"a {kind} system's method must be one of {', '.join(allowed)}, got {method!r}")
    if method == "lora" and (data["adapter"] is None or data["model"] is not None):
        raise fail("a LoRA system names its adapter dir and no model dir")
    if method == "full" and (data["model"] is None or data["adapter"] is not None):
        raise fail("a fully trained system names its model dir and no adapter dir")
    template = prompts = None
    if kind == CAUSAL_LM:
        from .training.config import Template

        try:
            template = Template.from_dict(data["template"]).as_dict()
        except WritingAlpacaError as exc:
            raise fail(str(exc)) from None
        prompts = data["prompts"]
        if not isinstance(prompts, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in prompts.items()
        ):
            raise fail(f"'prompts' must map task names to non-empty instructions, got {prompts!r}")
        prompts = dict(prompts)
    else:
        extra = [key for key in _LM_KEYS if data.get(key) is not None]
        if extra:
            raise fail(f"a {kind} system has no {' or '.join(extra)} (causal LMs only)")
    return SystemInfo(
        system=data["system"],
        kind=kind,
        method=method,
        base=data["base"],
        adapter=data["adapter"],
        model=data["model"],
        template=template,
        prompts=prompts,
        system_dir=path.parent,
    )


def is_system_dir(path: str | Path) -> bool:
    """Whether ``path`` holds a ``system.json`` (a finished trained system, not a bare model)."""
    return (Path(path) / SYSTEM_JSON).is_file()


def start_system(out: str | Path) -> None:
    """A run begins writing ``out``: create it and remove a stale ``system.json`` (only a finished run has one)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / SYSTEM_JSON).unlink(missing_ok=True)


def check_system(info: SystemInfo, out: str | Path) -> SystemInfo:
    """``info`` if :func:`read_system` would accept it as ``out/system.json`` (a trainer checks
    the record it will end with before it starts)."""
    _check(info.as_dict(), Path(out) / SYSTEM_JSON)
    return info


def write_system(
    out: str | Path, info: SystemInfo, metrics: Mapping[str, Any], card: Mapping[str, Any] | None = None
) -> Path:
    """Write the model card (``card.json``, ``README.md``), ``train_metrics.json``, then
    ``system.json`` (last: it marks ``out`` complete).

    ``card`` is what the trainer's command knows of the run's provenance
    (:func:`writing_alpaca.cards.training_card`); without it the card has only this record's fields."""
    from .cards import complete_card, write_card

    out = Path(out)
    check_system(info, out)  # never write what read_system would refuse
    write_card(out, complete_card(card, info, metrics, out))
    write_json(out / TRAIN_METRICS_JSON, dict(metrics))
    write_json(out / SYSTEM_JSON, info.as_dict())
    return out / SYSTEM_JSON


def read_system(system_dir: str | Path, kinds: tuple[str, ...] | None = None) -> SystemInfo:
    """Read and check ``system_dir/system.json``; ``kinds``: the kinds the caller can use."""
    system_dir = Path(system_dir)
    path = system_dir / SYSTEM_JSON
    if not path.is_file():
        raise located(
            path,
            None,
            f"not found (system.json missing: {system_dir} is not a trained system, or its training did not finish)",
        )
    info = _check(read_json(path), path)
    if kinds is not None and info.kind not in kinds:
        raise located(
            path,
            None,
            f"a {info.kind} system, expected {' or '.join(kinds)}: it is decoded by '{_DECODER[info.kind]}'",
        )
    return info


def read_train_metrics(system_dir: str | Path) -> dict[str, Any]:
    """``train_metrics.json`` of a system directory."""
    path = Path(system_dir) / TRAIN_METRICS_JSON
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        raise located(path, None, f"expected a JSON object, got {type(metrics).__name__}")
    return metrics


# ---------------------------------------------------------------------------- model directories


class ModelDirs(NamedTuple):
    """What to load: the weights (full or base), the LoRA adapter (or ``None``), the tokenizer."""

    weights: Path
    adapter: Path | None
    tokenizer: Path


def resolve_path(path: str | Path, system_dir: Path) -> Path:
    """A path from ``system.json``: as given when absolute or present relative to the working
    directory, else relative to the system directory."""
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return system_dir / candidate


def check_model_dir(path: str | Path, what: str = "base model") -> Path:
    """``path`` if it is a Hugging Face model directory (has ``config.json``)."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise WritingAlpacaError(f"{path}: not a Hugging Face model directory ({what}: config.json missing)")
    return path


def resolve_model_dirs(system_dir: str | Path | None = None, base: str | Path | None = None) -> ModelDirs:
    """:class:`ModelDirs` of a trained causal-LM system directory or of a bare base model."""
    if (system_dir is None) == (base is None):
        raise WritingAlpacaError("give exactly one of --system-dir and --base")
    if base is not None:
        base = check_model_dir(base)
        return ModelDirs(base, None, base)
    info = read_system(system_dir, kinds=(CAUSAL_LM,))
    if info.model_dir is not None:
        weights = check_model_dir(info.model_dir, "full fine-tuned model")
        return ModelDirs(weights, None, weights)
    weights = check_model_dir(info.base_dir)
    adapter = info.adapter_dir  # not None: read_system checked that a LoRA system names it
    assert adapter is not None
    if not (adapter / "adapter_config.json").is_file():
        raise WritingAlpacaError(f"{adapter}: LoRA adapter missing (adapter_config.json)")
    tokenizer = adapter if (adapter / "tokenizer_config.json").is_file() else weights
    return ModelDirs(weights, adapter, tokenizer)


# ---------------------------------------------------------------------------- prompting


def prompt_template(info: SystemInfo | None, given: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The template to prompt with: a trained system's recorded one (``given``, if any, must
    equal it), else ``given`` (an untrained model has no ``system.json``: required)."""
    from .training.config import Template

    if info is None:
        if given is None:
            raise WritingAlpacaError("--template: required with --base (an untrained model records no template)")
        return Template.from_dict(given).as_dict()
    recorded = info.template
    if recorded is None:  # a baseline: read_system(kinds=...) keeps it out of here
        raise located(info.path, None, f"a {info.kind} system has no prompt template")
    if given is not None and Template.from_dict(given).as_dict() != recorded:
        raise located(
            info.path,
            None,
            "--template differs from the template this system was trained with (recorded here): "
            "drop --template, or retrain with the new one",
        )
    return recorded


def task_instruction(info: SystemInfo | None, task: str | None = None, task_prompt: str | None = None) -> str | None:
    """The instruction for test records: ``task_prompt`` as given, or the prompt of ``task``
    recorded by a trained system; ``None`` when neither is given (records carry their own)."""
    if task is not None and task_prompt is not None:
        raise WritingAlpacaError("give one of --task and --task-prompt")
    if task is None:
        return task_prompt
    if info is None:
        raise WritingAlpacaError(
            f"--task {task}: an untrained model records no task prompts: give --task-prompt (config tasks.{task}.prompt)"
        )
    return info.prompt(task)


# ---------------------------------------------------------------------------- hardware


def hardware_description() -> str:
    """``"2 x NVIDIA H100 80GB HBM3"`` or the CPU model name (``/proc/cpuinfo``) and core count."""
    import torch

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return ", ".join(sorted({f"{names.count(n)} x {n}" for n in names}))
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {name} ({os.cpu_count()} cores)"


def hardware() -> tuple[int, str]:
    """(GPUs visible to this process, :func:`hardware_description`)."""
    import torch

    return (torch.cuda.device_count() if torch.cuda.is_available() else 0), hardware_description()


__all__ = [
    "SYSTEM_JSON",
    "TRAIN_METRICS_JSON",
    "ADAPTER_DIR",
    "MODEL_DIR",
    "CAUSAL_LM",
    "BASELINE_KINDS",
    "KINDS",
    "SystemInfo",
    "ModelDirs",
    "is_system_dir",
    "check_system",
    "start_system",
    "write_system",
    "read_system",
    "read_train_metrics",
    "resolve_path",
    "check_model_dir",
    "resolve_model_dirs",
    "prompt_template",
    "task_instruction",
    "hardware_description",
    "hardware",
]
