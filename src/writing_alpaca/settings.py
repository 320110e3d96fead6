"""Every configuration setting, defined once.

The classes below (pydantic models) are the single definition of ``config.yaml``: every key, its
type, its bounds, its default and what it means.  Two places use them, so the two can never disagree:

- the Snakefile validates the whole (overlaid) configuration at DAG time with :func:`validate_config`
  (``workflow/rules/common.smk``), so ``snakemake -n`` rejects every configuration a job would
  reject, with one line per problem naming the key, the value and what is allowed;
- each command parses the fragment its rule passes it (``--decoding``, ``--training``, ``--spec``)
  with :func:`parse` and the same class.

Cross-field rules that concern one fragment (a vLLM decoding with beams, ``offload`` without ZeRO 2/3,
exactly one step budget, a test set's format and its path keys) are validators of its class; rules
that join fragments (names that must exist, a system's LoRA targets against its base model's family,
``gpu`` a multiple of ``nodes`` after a system's overrides, a decode job given several GPUs) are in
:func:`cross_checks`.  Base models and sources the tables take at a moving revision (a branch or tag,
or none on a git host) are warnings, not errors (:func:`revision_warnings`, printed by the Snakefile).  ``workflow/schemas/config.schema.json`` is generated from :class:`Config`
(``writing-alpaca settings schema``; a test checks it is current) for editors and readers.

Only the standard library and pydantic are imported here: the Snakefile imports this module.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import WritingAlpacaError

# --------------------------------------------------------------------------------------
# Value types
# --------------------------------------------------------------------------------------


def _no_bool_or_text(value: Any) -> Any:
    # YAML's `yes`/`true` and quoted numbers are not numbers; an integral float (16.0) is an integer
    if isinstance(value, (bool, str)):
        raise ValueError(f"expected a number, got {value!r}")
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return value


Int = Annotated[int, BeforeValidator(_no_bool_or_text)]
PosInt = Annotated[int, BeforeValidator(_no_bool_or_text), Field(ge=1)]
NonNegInt = Annotated[int, BeforeValidator(_no_bool_or_text), Field(ge=0)]
Number = Annotated[float, BeforeValidator(_no_bool_or_text), BeforeValidator(_finite)]
PosNumber = Annotated[float, BeforeValidator(_no_bool_or_text), BeforeValidator(_finite), Field(gt=0)]
Str = Annotated[str, Field(strict=True)]
NonEmpty = Annotated[str, Field(strict=True, min_length=1)]
Bool = StrictBool
#: names of sources, test sets, systems, ...: they become file names and wildcard values
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"
Name = Annotated[str, StringConstraints(strict=True, pattern=NAME_PATTERN)]


def _relative(value: Any) -> Any:
    if isinstance(value, str) and (value.startswith("/") or ".." in value.split("/")):
        raise ValueError(f"must be a relative path without '..', got {value!r}")
    return value


RelPath = Annotated[str, Field(strict=True, min_length=1), BeforeValidator(_relative)]
Sha256 = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]


class Settings(BaseModel):
    """A config fragment: unknown keys are errors, values are immutable after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: the config key this fragment sits at, for error messages (``from_dict``'s default)
    WHERE: ClassVar[str] = "config"

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Any, where: str | None = None) -> Any:
        """``data`` parsed as this fragment (:func:`parse`): a :class:`SettingsError` naming
        ``where`` (default :attr:`WHERE`) and the key for every mistake."""
        return parse(cls, {} if data is None else data, where or cls.WHERE)


# --------------------------------------------------------------------------------------
# Prompts
# --------------------------------------------------------------------------------------
class Template(Settings):
    """The Alpaca prompt template (alpaca-lora ``templates/alpaca.json``)."""

    WHERE: ClassVar[str] = "template"

    prompt_input: Str = Field(description="prompt with an input: {instruction} then {input}")
    prompt_no_input: Str = Field(description="prompt without input: {instruction}")
    response_split: NonEmpty = Field(description="the marker after which the model's answer starts")

    @model_validator(mode="after")
    def _slots(self) -> Template:
        i, j = self.prompt_input.find("{instruction}"), self.prompt_input.find("{input}")
        if i < 0 or j < i:
            raise ValueError("prompt_input needs the {instruction} slot and then the {input} slot")
        if "{instruction}" not in self.prompt_no_input:
            raise ValueError("prompt_no_input needs the {instruction} slot")
        return self


class Task(Settings):
    prompt: NonEmpty = Field(description="the instruction of the task (the paper's Table 1)")
    label: Str | None = Field(None, description="its name in the tables (default: the task's name)")


# --------------------------------------------------------------------------------------
# Sources (rule download)
# --------------------------------------------------------------------------------------
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ZIP_SUFFIXES = (".zip",)


def archive_kind(name: str) -> str | None:
    """``tar`` / ``zip`` for an archive's file name, else None."""
    lower = name.lower()
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    if lower.endswith(ZIP_SUFFIXES):
        return "zip"
    return None


class FileEntry(Settings):
    """A file of a source; ``url`` is needed unless the source is licence-gated (placed by hand)."""

    url: Annotated[str, StringConstraints(strict=True, pattern=r"^(https?|file):")] | None = None
    name: RelPath | None = Field(None, description="where it is saved (default: the URL's last segment)")
    sha256: Sha256 | None = Field(None, description="checked after download; null: not pinned")
    extract: Bool = Field(False, description="unpack the archive (tar/zip) into the source directory")

    @model_validator(mode="after")
    def _named(self) -> FileEntry:
        if self.name is None and self.url is None:
            raise ValueError("needs a url or a name")
        if self.extract and archive_kind(self.saved_name) is None:
            raise ValueError(
                f"extract: cannot extract '{self.saved_name}': not a known archive type "
                f"({', '.join(TAR_SUFFIXES + ZIP_SUFFIXES)})"
            )
        return self

    @property
    def saved_name(self) -> str:
        if self.name is not None:
            return self.name
        tail = (self.url or "").split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return tail or "download"


class HfSource(Settings):
    """A Hugging Face dataset split, saved as ``file`` (JSON lines)."""

    path: NonEmpty = Field(description="dataset repository, or a packaged builder (json, csv, ...) with data_files")
    name: Str | None = Field(None, description="dataset configuration")
    split: NonEmpty = "train"
    file: RelPath | None = Field(None, description="output file name (default: <split>.jsonl)")
    data_files: Str | list[Str] | dict[Str, Str | list[Str]] | None = Field(
        None, description="passed to datasets.load_dataset(path, name, data_files=...)"
    )


#: a pinned revision: a full git commit SHA (GitHub, the Hugging Face Hub)
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
#: hosts whose URLs name a git revision (a source there without ``revision`` follows a branch)
GIT_HOSTS = ("github.com", "raw.githubusercontent.com", "huggingface.co", "gitlab.com")


def is_commit_sha(revision: Any) -> bool:
    """Whether ``revision`` pins a commit (40 lowercase hex digits), not a branch or tag."""
    return isinstance(revision, str) and COMMIT_SHA.match(revision) is not None


def url_names_revision(url: str | None, revision: str) -> bool:
    """Whether an http(s) ``url`` has ``revision`` as one of its path segments (``.../<sha>/file``);
    other URLs (``file:``, none) are not checked."""
    if not url or not url.startswith(("http://", "https://")):
        return True
    return revision in url.split("?", 1)[0].split("/")[3:]


def _url_host(url: str | None) -> str:
    """``github.com`` of ``https://github.com/...`` (empty for a URL without a host)."""
    if not url or "://" not in url:
        return ""
    return url.split("://", 1)[1].split("/", 1)[0].lower()


class Gated(Settings):
    """Licence-gated data: the user requests it and places the files by hand."""

    request: NonEmpty
    place: NonEmpty


class Source(Settings):
    WHERE: ClassVar[str] = "source"

    licence: Str | None = Field(
        None, description="the data's licence or terms (recorded in the model card of every system trained on it)"
    )
    revision: NonEmpty | None = Field(
        None,
        description="the upstream revision the files come from: a 40-hex commit SHA pins it; a branch or tag "
        "(main) follows upstream and is warned at DAG time. Every http(s) URL of `files` must name it as a path "
        "segment; an `hf` source loads the dataset at it. Recorded in the model cards; null for data that is not "
        "upstream's at a revision (unversioned hosts, the demo's own files, the rehearsal's stand-ins)",
    )
    files: Annotated[list[FileEntry], Field(min_length=1)] | None = None
    hf: HfSource | None = None
    gated: Gated | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if self.files and self.hf:
            raise ValueError("give either 'files' or 'hf', not both")
        if self.gated is not None and self.hf is not None:
            raise ValueError("a gated source lists 'files' (or none), not 'hf'")
        if self.gated is None and not (self.files or self.hf):
            raise ValueError("needs 'files' or 'hf' (or 'gated' for licence-gated data)")
        seen: set[str] = set()
        for i, entry in enumerate(self.files or []):
            if self.gated is None and entry.url is None:
                raise ValueError(f"files.{i}.url: missing (only a gated source's files are placed by hand)")
            if entry.saved_name in seen:
                raise ValueError(f"files.{i}.name: '{entry.saved_name}' is listed twice")
            if self.revision is not None and not url_names_revision(entry.url, self.revision):
                raise ValueError(
                    f"files.{i}.url: does not name revision '{self.revision}' (a source's http(s) URLs point at "
                    "its revision: put it in the URL, or set revision: null)"
                )
            seen.add(entry.saved_name)
        return self


# --------------------------------------------------------------------------------------
# Data (rules prepare_test, prepare_train)
# --------------------------------------------------------------------------------------
# The vocabularies below are the package's own (data, score, bootstrap, postprocess import them).
TEST_FORMATS = ("m2", "parallel", "iterater", "stsb", "wnc")
TRAIN_FORMATS = ("m2", "parallel", "iterater", "wnc", "alpaca", "tsv")
METRICS = ("m2", "errant", "gleu", "sari")
#: ``postprocess``: the gold's tokenizer (nltk: CoNLL-14, ptb: JFLEG, spacy: BEA-19)
TOKENIZERS = ("nltk", "ptb", "spacy")
#: the keys each format reads (besides the common ones)
_TEST_FORMAT_KEYS = {
    "m2": ("path",),
    "parallel": ("src", "refs"),
    "iterater": ("path", "label"),
    "stsb": ("path",),
    "wnc": ("path",),
}
_TRAIN_FORMAT_KEYS = {
    "parallel": ("src", "tgt"),
    "iterater": ("path", "label"),
    "wnc": ("path",),
    "alpaca": ("path",),
    "tsv": ("path",),
}


def _require(spec: BaseModel, keys: Iterable[str], what: str) -> None:
    missing = [k for k in keys if getattr(spec, k) is None]
    if missing:
        raise ValueError(f"format '{what}' needs {' and '.join(repr(k) for k in missing)}")


class TestSet(Settings):
    WHERE: ClassVar[str] = "test set"

    __test__ = False  # not a pytest class

    title: Str = Field(description="the column name in Tables 4, 5, 7")
    dataset: NonEmpty | None = Field(
        None, description="the corpus, as Table 2's Dataset column names it (default: title)"
    )
    abbrev: NonEmpty | None = Field(
        None, description="Table 2's Abbrev. column; Table 7's column groups (default: title)"
    )
    task: Str
    source: Str
    format: Literal[TEST_FORMATS]
    path: RelPath | None = None
    src: RelPath | None = None
    refs: Annotated[list[RelPath], Field(min_length=1)] | None = None
    label: Str | None = Field(None, description="IteraTeR: the edit intention kept")
    sample: PosInt | None = Field(None, description="a seeded sample of this many items (null: all)")
    metric: Literal[METRICS]
    tokenized: Bool = Field(False, description="the upstream text is tokenised")
    detokenize: Bool = Field(False, description="the model sees detokenised (natural) text")
    postprocess: Literal[TOKENIZERS] | None = Field(
        None,
        description="score on the upstream tokenisation: answers are brought into it with the rules of the "
        "gold's tokenizer (nltk: CoNLL-14, ptb: JFLEG, spacy: BEA-19); null: scored on natural text",
    )
    size: PosInt | None = Field(None, description="the expected number of items (Table 2): checked")

    @model_validator(mode="after")
    def _format(self) -> TestSet:
        _require(self, _TEST_FORMAT_KEYS[self.format], self.format)
        if self.metric in ("m2", "errant") and self.format != "m2":
            raise ValueError(
                f"metric '{self.metric}' scores against M2 edits: it needs format 'm2', got '{self.format}'"
            )
        if self.postprocess is None and self.format == "m2" and self.detokenize:
            raise ValueError(
                "'detokenize: true' on an M2 set needs 'postprocess' (the gold M2 is tokenised; "
                f"one of {', '.join(TOKENIZERS)})"
            )
        if self.postprocess is not None and not self.tokenized:
            raise ValueError(
                f"'postprocess: {self.postprocess}' re-tokenises answers like a tokenised gold, "
                "but the set has 'tokenized: false'"
            )
        return self


class TrainSet(Settings):
    WHERE: ClassVar[str] = "train set"

    title: NonEmpty | None = Field(None, description="Table 3's Dataset name (default: the train set's name)")
    task: Str = Field(description="a task of `tasks`, or `generic` (instruction data)")
    source: Str
    format: Literal[TRAIN_FORMATS]
    path: RelPath | None = None
    paths: Annotated[list[RelPath], Field(min_length=1)] | None = None
    src: RelPath | None = None
    tgt: RelPath | None = None
    label: Str | None = None
    n: PosInt | None = Field(None, description="a seeded sample of this many items (null: all)")
    repair: Literal["mojibake"] | None = None
    unescape_ptb: Bool = False
    detokenize: Bool = False

    @model_validator(mode="after")
    def _format(self) -> TrainSet:
        if self.format == "m2":
            if self.path is None and self.paths is None:
                raise ValueError("format 'm2' needs 'path' or 'paths'")
        else:
            _require(self, _TRAIN_FORMAT_KEYS[self.format], self.format)
        if (self.format == "alpaca") != (self.task == "generic"):
            raise ValueError(
                f"format 'alpaca' goes with task 'generic' and only with it (got format '{self.format}', task '{self.task}')"
            )
        return self


class Mixture(Settings):
    WHERE: ClassVar[str] = "mixture"

    generic: Str | None = Field(None, description="the generic instruction data (a train set), or null")
    writing: list[Str] = Field(description="the writing-task train sets")


# --------------------------------------------------------------------------------------
# Base models
# --------------------------------------------------------------------------------------
Kind = Literal["causal_lm", "seq2seq", "gector"]


class BuildTiny(Settings):
    """A tiny randomly initialised model of the base's family (LLaMA, T5, RoBERTa), built locally
    with a tokenizer trained on ``corpus_from`` (the demo, the rehearsal and the tests)."""

    WHERE: ClassVar[str] = "build_tiny"

    layers: PosInt = 2
    hidden: PosInt = 64
    heads: PosInt = 4
    intermediate: PosInt = 128
    vocab: PosInt = 512
    max_position_embeddings: PosInt | None = Field(None, description="default: 512 (LLaMA), 258 (RoBERTa)")
    padding_side: Literal["left", "right"] = "right"
    corpus_from: list[Str] = Field(default_factory=list, description="train sets the tokenizer learns from")

    @model_validator(mode="after")
    def _shape(self) -> BuildTiny:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if self.vocab < 260:  # 256 bytes + 3 special tokens + 1 merge
            raise ValueError(f"vocab {self.vocab} is too small for a byte-level BPE (needs > 259)")
        return self


class BaseModelSpec(Settings):
    kind: Kind
    hub: NonEmpty | None = Field(None, description="a Hugging Face model repository, fetched by rule fetch_base_model")
    revision: NonEmpty | None = Field(
        None,
        description="the Hub revision fetched (default main): a 40-hex commit SHA pins the weights; a branch or "
        "tag (main) follows the repository and is warned at DAG time. The commit actually fetched is recorded in "
        "resources/models/<base>/fetched_from.json and in the model cards",
    )
    path: NonEmpty | None = Field(None, description="a model directory placed by you")
    build_tiny: BuildTiny | None = None
    licence: Str | None = Field(
        None, description="the model's licence or terms (recorded in the model card of every system built on it)"
    )
    licence_id: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z0-9][a-z0-9.+-]*$")] | None = Field(
        None,
        description="its Hugging Face licence identifier (apache-2.0, mit, other, ...): the `license:` of the model "
        "cards' metadata",
    )

    @model_validator(mode="after")
    def _one_origin(self) -> BaseModelSpec:
        given = [k for k in ("hub", "path", "build_tiny") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of hub, path or build_tiny (got {', '.join(given) or 'none'})")
        return self


#: The layers of a LLaMA model that peft's LoRA adapts (transformers' LlamaAttention and LlamaMLP
#: linears, the output head and the input embedding):
#: what `training.lora.target_modules` may name for a causal_lm base (every causal_lm base here
#: is of the LLaMA family: huggyllama/llama-7b, -13b and the tiny LlamaConfig models).
LORA_TARGETS = {
    "causal_lm": (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
        "lm_head",
        "embed_tokens",
    )
}


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
Precision = Literal["auto", "bf16", "fp16", "fp32"]
#: ``training.report_to``: where the trainers log their scalars (``none``: nowhere)
TRACKERS = ("tensorboard", "wandb", "mlflow", "none")


def _trackers(value: Any) -> Any:
    # one name is a list of one; each name known; `none` alone; a name given twice counts once
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"expected a tracker or a list of trackers ({', '.join(TRACKERS)}), got {value!r}")
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ValueError(f"unknown tracker {unknown[0]!r} (allowed: {', '.join(TRACKERS)})")
    if "none" in names and len(set(names)) > 1:
        raise ValueError(f"'none' (no tracking) cannot be combined with other trackers, got {list(names)}")
    return tuple(dict.fromkeys(names))


ReportTo = Annotated[Literal[TRACKERS] | tuple[Literal[TRACKERS], ...], BeforeValidator(_trackers)]


class Lora(Settings):
    WHERE: ClassVar[str] = "training.lora"

    r: PosInt = 8
    alpha: PosInt = Field(16, description="LoRA scaling numerator (alpha / r), an integer as alpaca-lora's")
    dropout: Annotated[Number, Field(ge=0, le=1)] = 0.05
    target_modules: Annotated[tuple[NonEmpty, ...], Field(min_length=1)] = ("q_proj", "v_proj")


class DeepSpeed(Settings):
    WHERE: ClassVar[str] = "training.deepspeed"

    stage: Literal[0, 1, 2, 3] = Field(0, description="ZeRO stage (0: no DeepSpeed)")
    offload: Bool = Field(False, description="offload optimiser state (and at stage 3 parameters) to CPU")

    @field_validator("stage", mode="before")
    @classmethod
    def _stage_not_bool(cls, value: Any) -> Any:
        return _no_bool_or_text(value)

    @model_validator(mode="after")
    def _offload(self) -> DeepSpeed:
        if self.offload and self.stage < 2:
            raise ValueError("offload needs ZeRO stage 2 or 3")
        return self

    @property
    def enabled(self) -> bool:
        return self.stage > 0


class DeepSpeedOverride(Settings):
    """A system's own DeepSpeed keys, laid over ``training.deepspeed``."""

    stage: Literal[0, 1, 2, 3] | None = None
    offload: Bool | None = None

    @field_validator("stage", mode="before")
    @classmethod
    def _stage_not_bool(cls, value: Any) -> Any:
        return _no_bool_or_text(value)


class StepBudget(Settings):
    """Exactly one of ``max_steps`` (optimiser steps) or ``epochs`` (passes over the training
    examples: ``ceil(epochs x examples / batch_size)`` steps)."""

    max_steps: PosInt | None = None
    epochs: PosNumber | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StepBudget:
        if (self.max_steps is None) == (self.epochs is None):
            found = "got both" if self.max_steps is not None else "got neither"
            raise ValueError(f"give exactly one step budget, max_steps (optimiser steps) or epochs ({found})")
        return self


class LearningRate(Settings):
    lora: PosNumber = 3.0e-4
    full: PosNumber = 2.0e-5


class Seq2SeqTraining(Settings):
    """T5 fine-tuning as in Rothe et al. (2021) on cLang-8: Adafactor, constant rate 1e-3, 256
    sentences a batch, 128 sub-words each side."""

    WHERE: ClassVar[str] = "training.baselines.seq2seq"

    optimizer: Literal["adafactor", "adamw"] = "adafactor"
    learning_rate: PosNumber = 1.0e-3
    lr_scheduler: NonEmpty = Field("constant", description="a transformers scheduler name")
    warmup_steps: NonNegInt = 0
    weight_decay: Annotated[Number, Field(ge=0)] = 0.0
    max_steps: PosInt = 20000
    batch_size: PosInt = 256
    micro_batch_size: PosInt = 16
    max_source_length: PosInt = 128
    max_target_length: PosInt = 128
    source_prefix: Str = Field("", description='e.g. "{task}: " -> "grammar: He go ..."; also used at decode time')
    save_steps: NonNegInt = Field(2000, description="0: no intermediate checkpoints")
    logging_steps: PosInt = 10
    seed: NonNegInt | None = Field(None, description="default: the top-level seed")

    @model_validator(mode="after")
    def _batch(self) -> Seq2SeqTraining:
        _batch_multiple(self.batch_size, self.micro_batch_size)
        return self


class GectorTraining(Settings):
    """Omelianchuk et al. (2020) / the ``gector`` package: AdamW, lr 1e-5 after "cold" steps that
    train only the tag heads at lr 1e-3, batch 128, 5000 tags, 80 sub-words, 5 correction rounds."""

    WHERE: ClassVar[str] = "training.baselines.gector"

    learning_rate: PosNumber = 1.0e-5
    cold_learning_rate: PosNumber = 1.0e-3
    cold_steps: NonNegInt = Field(2000, description="steps training only the tag heads (GECToR's cold epochs)")
    warmup_steps: NonNegInt = 500
    max_steps: PosInt = 20000
    batch_size: PosInt = 128
    micro_batch_size: PosInt = 32
    max_length: PosInt = Field(80, description="sub-words per sentence (the tail of a longer one is kept as is)")
    max_labels: Annotated[Int, Field(ge=3)] = Field(
        5000, description="size of the tag vocabulary, most frequent first ($KEEP, <OOV>, ...)"
    )
    skip_correct: Bool = Field(False, description="drop training pairs with source == target")
    label_smoothing: Annotated[Number, Field(ge=0, lt=1)] = 0.0
    dropout: Annotated[Number, Field(ge=0, lt=1)] = Field(0.0, description="dropout before the tag head")
    verb_forms: Str | None = Field(
        None, description="$TRANSFORM_VERB tags: lemminflect, a GECToR verb-form-vocab.txt path, or null (none)"
    )
    iterations: PosInt = Field(5, description="inference: correction rounds")
    keep_confidence: Number = Field(0.0, description="inference: bias added to P($KEEP)")
    min_error_prob: Annotated[Number, Field(ge=0)] = Field(
        0.0, description="inference: sentence-level minimum error probability"
    )
    save_steps: NonNegInt = Field(2000, description="checkpoint every N steps (0: only when stopped by a signal)")
    logging_steps: PosInt = 10
    seed: NonNegInt | None = Field(None, description="default: the top-level seed")

    @model_validator(mode="after")
    def _batch(self) -> GectorTraining:
        _batch_multiple(self.batch_size, self.micro_batch_size)
        return self


def _batch_multiple(batch_size: int, micro_batch_size: int) -> None:
    if batch_size % micro_batch_size:
        raise ValueError(f"batch_size ({batch_size}) must be a multiple of micro_batch_size ({micro_batch_size})")


class Baselines(Settings):
    """Hyper-parameters of the Table-7 baselines."""

    seq2seq: Seq2SeqTraining = Seq2SeqTraining()
    gector: GectorTraining = GectorTraining()

    @field_validator("seq2seq", "gector", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any) -> Any:
        return {} if value is None else value


class Training(Settings):
    """The LLM trainer's settings (alpaca-lora's hyper-parameters); ``baselines`` for Table 7's."""

    WHERE: ClassVar[str] = "training"

    max_steps: PosInt | None = Field(None, description="optimiser steps of every Table-4 run")
    epochs: PosNumber | None = Field(None, description="or passes over the training examples (instead of max_steps)")
    batch_size: PosInt = 128
    micro_batch_size: PosInt = 4
    cutoff_len: Annotated[Int, Field(ge=8)] = Field(256, description="tokens per example (prompt + response)")
    train_on_inputs: Bool = Field(False, description="also learn the prompt (alpaca-lora's default: false)")
    learning_rate: LearningRate = LearningRate()
    warmup_steps: NonNegInt = 100
    save_steps: PosInt = 200
    logging_steps: PosInt = 1
    precision: Precision = Field(
        "auto",
        description="auto: bf16 on a GPU with native bf16 (compute capability 8.0+), else fp16 mixed precision "
        "with dynamic loss scaling (pre-Ampere GPUs such as the paper's V100s; T5 falls back to fp32), fp32 on CPU. "
        "bf16 needs native bf16; bf16 and fp16 need a GPU. Read by the LLM trainer and the baselines' trainers.",
    )
    report_to: ReportTo = Field(
        ("tensorboard",),
        description="experiment tracking of every trainer (the LLMs' and the baselines'): a list of tensorboard "
        "(event files in results/logs/<system>/), wandb, mlflow (their packages must be installed; configured by "
        "their environment variables), or none; one name alone is a list of one",
    )
    seed: NonNegInt | None = Field(None, description="default: the top-level seed")
    lora: Lora = Lora()
    deepspeed: DeepSpeed = DeepSpeed()
    baselines: Baselines = Baselines()

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "bf16" in data:
            raise ValueError(
                "bf16: renamed: use precision: auto|bf16|fp16|fp32 "
                "(bf16: auto -> precision: auto, true -> bf16, false -> fp32)"
            )
        return data

    @model_validator(mode="after")
    def _budget(self) -> Training:
        if (self.max_steps is None) == (self.epochs is None):
            found = "got both" if self.max_steps is not None else "got neither"
            raise ValueError(f"give exactly one step budget, max_steps (optimiser steps) or epochs ({found})")
        _batch_multiple(self.batch_size, self.micro_batch_size)
        return self


# --------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------
class GectorDecoding(Settings):
    """GECToR's inference settings, overriding those its training stored."""

    WHERE: ClassVar[str] = "decoding.gector"

    iterations: PosInt | None = None
    keep_confidence: Number | None = None
    min_error_prob: Annotated[Number, Field(ge=0)] | None = None


class Decoding(Settings):
    """One entry of ``decodings:``."""

    WHERE: ClassVar[str] = "decoding"

    num_beams: PosInt = 1
    batch_size: PosInt = 16
    max_new_tokens: PosInt = Field(256, description="per answer, at most 2 x the source's tokens + 16")
    backend: Literal["hf", "vllm"] = Field("hf", description="vllm: GPU clusters, greedy only (num_beams: 1)")
    precision: Precision = Field(
        "auto",
        description="the weights' dtype when decoding, either backend: auto = bf16 on a GPU with native bf16, "
        "fp16 on an older one (the paper's V100s), fp32 on CPU",
    )
    max_input_tokens: PosInt | None = Field(
        None,
        description="the T5 baseline's encoder input, sub-words (default 1024); the causal LMs' prompts are never cut",
    )
    gector: GectorDecoding | None = None

    @model_validator(mode="after")
    def _backend(self) -> Decoding:
        if self.backend == "vllm" and self.num_beams != 1:
            raise ValueError(
                f"backend 'vllm' decodes greedily only (num_beams: 1), got num_beams: {self.num_beams}; use backend: hf"
            )
        return self


#: what a kind of system reads of its decoding (None: all of it). GECToR tags tokens: no beams, no
#: generation length, no backend; its job gets only these, so that e.g. a beam-size change does not
#: re-decode it (workflow/rules/common.smk's decoding_for_system).
DECODING_KEYS_READ: dict[str, tuple[str, ...] | None] = {"gector": ("batch_size", "gector")}


def decoding_read_by(kind: str, decoding: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a ``decodings.<name>`` entry that a system of ``kind`` reads."""
    keys = DECODING_KEYS_READ.get(kind)
    return dict(decoding) if keys is None else {k: v for k, v in decoding.items() if k in keys}


# --------------------------------------------------------------------------------------
# Systems and resources
# --------------------------------------------------------------------------------------
class Resources(Settings):
    """A job's cluster resources (SLURM: gpu = GPUs per job spread over `nodes`; runtime in minutes)."""

    threads: PosInt | None = None
    mem_mb: PosInt | None = None
    runtime: PosInt | None = None
    gpu: NonNegInt | None = None
    nodes: PosInt | None = None


class System(Settings):
    WHERE: ClassVar[str] = "system"

    label: Str
    kind: Kind
    base: Str
    method: Literal["none", "lora", "full"]
    mixture: Str | None = None
    resources: Resources | None = Field(None, description="overrides resources.train for its training job")
    deepspeed: DeepSpeedOverride | None = Field(None, description="overrides training.deepspeed")
    training: StepBudget | None = Field(None, description="its own step budget, replacing training.max_steps")

    @model_validator(mode="after")
    def _coherent(self) -> System:
        if self.method != "none" and not self.mixture:
            raise ValueError(f"method '{self.method}' needs a mixture")
        if self.training is not None and (self.kind != "causal_lm" or self.method == "none"):
            raise ValueError(
                "training: a step budget of its own is for trained causal_lm systems "
                f"(the baselines' is training.baselines.{self.kind}.max_steps)"
            )
        if self.kind != "causal_lm" and self.method == "lora":
            raise ValueError(f"method 'lora' is for causal_lm systems; a {self.kind} baseline is trained in full")
        return self


class ResourceGroups(Settings):
    download: Resources
    data: Resources
    train: Resources
    decode: Resources
    score: Resources
    render: Resources


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------
class Significance(Settings):
    """Paired bootstrap marks: each system against ``reference`` on each test set (rule bootstrap)."""

    reference: Str = Field(description="a system of the table")
    samples: Annotated[Int, Field(ge=10)] = 1000
    alpha: Annotated[Number, Field(gt=0, lt=1)] = Field(0.05, description="significance level, and 1 - CI level")


class ResultTable(Settings):
    systems: Annotated[list[Str], Field(min_length=1)]
    test_sets: Annotated[list[Str], Field(min_length=1)]
    decoding: Str | None = Field(None, description="a `decodings` entry for this table only (default: `decoding`)")
    published: Str | None = Field(None, description="YAML of published rows printed beside ours (Table 5)")
    paper_rows: dict[Name, NonEmpty] = Field(
        default_factory=dict, description="{system: paper system} for the *_vs_paper companions (default: same name)"
    )
    significance: Significance | None = None


class Table2(Settings):
    test_sets: Annotated[list[Str], Field(min_length=1)]


class Table3(Settings):
    mixture: Str


class Table5(ResultTable):
    published: Str


class Table6(Settings):
    """Case study: outputs of two systems (with / without generic data) on seeded inputs."""

    systems: Annotated[list[Str], Field(min_length=2, max_length=2)]
    test_sets: Annotated[list[Str], Field(min_length=1)]
    decoding: Str | None = None
    examples: PosInt = Field(2, description="examples per test set")
    instructions: list[Annotated[str, StringConstraints(strict=True, pattern=r"\S")]] = Field(
        default_factory=list, description="free instructions answered without input (the paper's chat case)"
    )


class Table8(Settings):
    """Case study: seeded entity-touching corrections of the figure1 systems."""

    examples: PosInt = Field(3, description="examples per system")


class Tables(Settings):
    table2: Table2
    table3: Table3
    table4: ResultTable
    table5: Table5
    table6: Table6
    table7: ResultTable
    figure1: ResultTable
    table8: Table8


# --------------------------------------------------------------------------------------
# The whole configuration
# --------------------------------------------------------------------------------------
class Config(Settings):
    """writing-alpaca configuration (config.yaml, optionally overlaid with --configfile)."""

    spacy_model: NonEmpty = Field(description="spaCy pipeline used by ERRANT and the entity analysis")
    seed: NonNegInt
    template: Template
    tasks: Annotated[dict[Name, Task], Field(min_length=1)]
    sources: dict[Name, Source]
    test_sets: Annotated[dict[Name, TestSet], Field(min_length=1)]
    train_sets: dict[Name, TrainSet]
    mixtures: dict[Name, Mixture]
    base_models: dict[Name, BaseModelSpec]
    training: Training
    decodings: Annotated[dict[Name, Decoding], Field(min_length=1)]
    decoding: Str = Field(description="the `decodings` entry every table decodes with unless it names its own")
    systems: Annotated[dict[Name, System], Field(min_length=1)]
    paper_results: NonEmpty = Field(description="YAML of every number of the paper's Tables 4, 5 and 7")
    tables: Tables
    resources: ResourceGroups


# --------------------------------------------------------------------------------------
# Errors: one line per problem, naming the key, the value and what is allowed
# --------------------------------------------------------------------------------------
class SettingsError(WritingAlpacaError):
    """Invalid settings; ``problems`` holds one ``key: message`` line each."""

    def __init__(self, problems: list[str], heading: str = "invalid configuration"):
        self.problems = problems
        super().__init__(heading + ":\n" + "\n".join(f"  {p}" for p in problems))


def _unwrap(annotation: Any) -> Any:
    """The model class behind ``X | None``, ``Annotated[X, ...]`` (else the annotation)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            models = [a for a in get_args(annotation) if a is not type(None)]
            if len(models) != 1:
                return annotation
            annotation = models[0]
        else:
            return annotation


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The keys allowed at ``loc`` inside ``model`` (None when it cannot be told)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_KEY_FIRST = re.compile(r"^[A-Za-z_][\w.]*: ")


def problems_of(error: ValidationError, model: type[BaseModel], prefix: str = "") -> list[str]:
    """One ``key: message`` line per pydantic error."""
    lines = []
    for e in error.errors(include_url=False):
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc) or "<top level>"
        kind, msg = e["type"], e["msg"]
        if kind == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            where = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc[:-1]) or "<top level>"
            known = f" (allowed: {', '.join(allowed)})" if allowed else ""
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            lines.append(f"{where}: unknown key '{loc[-1]}'{known}{hint}")
            continue
        if kind == "missing":
            lines.append(f"{key}: missing (required)")
            continue
        msg = msg.removeprefix("Value error, ")
        if kind == "value_error" and _KEY_FIRST.match(msg):
            # a fragment's own rule that names its key first ("bf16: renamed ...", "files.0.url: missing")
            field, _, msg = msg.partition(": ")
            lines.append(f"{key + '.' if key != '<top level>' else ''}{field}: {msg.strip()}")
            continue
        if kind in ("model_type", "dict_type", "model_attributes_type"):
            msg = "expected a mapping"
        # this module's own rules say the value themselves; pydantic's do not
        shown = "" if kind in ("value_error", "assertion_error") else f" (got {_show(e.get('input'))})"
        lines.append(f"{key}: {msg}{shown}")
    return lines


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, where: str) -> M:
    """``data`` (a config fragment a rule passed) as ``model``; every mistake as one
    :class:`SettingsError` whose lines name ``where.<key>``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(problems_of(exc, model, where), heading=f"invalid {where}") from None


def parse_json(model: type[M], text: str, where: str) -> M:
    """A JSON command-line argument as ``model`` (see :func:`parse`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            [f"{where}: not valid JSON ({exc.msg} at character {exc.pos})"], heading=f"invalid {where}"
        ) from None
    return parse(model, data, where)


# --------------------------------------------------------------------------------------
# Rules that join fragments
# --------------------------------------------------------------------------------------
def merged_resources(cfg: Config, group: str, system: str | None = None) -> dict[str, Any]:
    """``resources.<group>`` with a system's own ``resources:`` laid over it (training)."""
    res = getattr(cfg.resources, group).model_dump(exclude_none=True)
    if system is not None and cfg.systems[system].resources is not None:
        res.update(cfg.systems[system].resources.model_dump(exclude_none=True))
    return res


def system_deepspeed(cfg: Config, system: str) -> DeepSpeed:
    """``training.deepspeed`` with the system's own keys laid over it."""
    own = cfg.systems[system].deepspeed
    merged = cfg.training.deepspeed.model_dump()
    if own is not None:
        merged.update(own.model_dump(exclude_none=True))
    return DeepSpeed.model_validate(merged)


def cross_checks(cfg: Config) -> list[str]:
    """Every rule that joins two fragments, as ``key: message`` lines (empty: the config is sound)."""
    problems: list[str] = []

    def need(kind: str, name: str | None, where: str, pool: Mapping[str, Any]) -> None:
        if name is not None and name not in pool:
            problems.append(f"{where}: unknown {kind} '{name}' (known: {', '.join(sorted(pool))})")

    for name, ts in cfg.test_sets.items():
        need("source", ts.source, f"test_sets.{name}.source", cfg.sources)
        need("task", ts.task, f"test_sets.{name}.task", cfg.tasks)
    for name, tr in cfg.train_sets.items():
        need("source", tr.source, f"train_sets.{name}.source", cfg.sources)
        if tr.task != "generic":
            need("task", tr.task, f"train_sets.{name}.task", cfg.tasks)
    for name, mix in cfg.mixtures.items():
        need("train set", mix.generic, f"mixtures.{name}.generic", cfg.train_sets)
        for ts in mix.writing:
            need("train set", ts, f"mixtures.{name}.writing", cfg.train_sets)
    for name, base in cfg.base_models.items():
        for ts in base.build_tiny.corpus_from if base.build_tiny else []:
            need("train set", ts, f"base_models.{name}.build_tiny.corpus_from", cfg.train_sets)
    for name, sysc in cfg.systems.items():
        need("base model", sysc.base, f"systems.{name}.base", cfg.base_models)
        need("mixture", sysc.mixture, f"systems.{name}.mixture", cfg.mixtures)
        base = cfg.base_models.get(sysc.base)
        if base is not None and base.kind != sysc.kind:
            problems.append(f"systems.{name}.kind: '{sysc.kind}' but base '{sysc.base}' is '{base.kind}'")
        if sysc.method != "none":
            res = merged_resources(cfg, "train", name)
            gpus, nodes = res.get("gpu", 0), res.get("nodes", 1)
            if nodes > 1 and gpus % nodes:
                problems.append(f"systems.{name}.resources: gpu ({gpus}) must be a multiple of nodes ({nodes})")
            if nodes > 1 and gpus < nodes:
                problems.append(f"systems.{name}.resources: {nodes} nodes need at least one GPU each (gpu: {gpus})")
            procs = max(1, gpus)
            if sysc.kind in ("seq2seq", "gector"):
                hp = getattr(cfg.training.baselines, sysc.kind)
                if hp.batch_size % (hp.micro_batch_size * procs):
                    problems.append(
                        f"training.baselines.{sysc.kind}.batch_size: {hp.batch_size} is not a multiple of micro_batch_size "
                        f"{hp.micro_batch_size} x the {procs} processes of system '{name}' (one per GPU: resources.gpu)"
                    )
            try:
                system_deepspeed(cfg, name)
            except ValidationError as exc:
                problems.extend(problems_of(exc, DeepSpeed, f"systems.{name}.deepspeed"))
    lora_systems = [n for n, sc in cfg.systems.items() if sc.method == "lora"]
    for kind in sorted({cfg.systems[n].kind for n in lora_systems}):
        allowed = LORA_TARGETS.get(kind, ())
        wrong = [m for m in cfg.training.lora.target_modules if m not in allowed]
        if wrong:
            users = [n for n in lora_systems if cfg.systems[n].kind == kind]
            problems.append(
                f"training.lora.target_modules: {', '.join(wrong)}: not a layer of the {kind} bases (LLaMA family) "
                f"that {', '.join(users)} adapt (allowed: {', '.join(allowed)})"
            )
    for group in ("download", "data", "decode", "score", "render"):
        res = merged_resources(cfg, group)
        if res.get("nodes", 1) > 1:
            problems.append(f"resources.{group}.nodes: {res['nodes']}: only training jobs span several nodes")
    decode_gpus = merged_resources(cfg, "decode").get("gpu", 0)
    if decode_gpus > 1:
        problems.append(
            f"resources.decode.gpu: {decode_gpus}: a decode job is one process on one GPU "
            "(0 or 1); decode jobs run in parallel instead"
        )
    need("decoding", cfg.decoding, "decoding", cfg.decodings)
    for table in Tables.model_fields:
        spec = getattr(cfg.tables, table)
        systems = list(getattr(spec, "systems", []) or [])
        for s in systems:
            need("system", s, f"tables.{table}.systems", cfg.systems)
        for ds in getattr(spec, "test_sets", []) or []:
            need("test set", ds, f"tables.{table}.test_sets", cfg.test_sets)
        need("decoding", getattr(spec, "decoding", None), f"tables.{table}.decoding", cfg.decodings)
        need("mixture", getattr(spec, "mixture", None), f"tables.{table}.mixture", cfg.mixtures)
        if getattr(spec, "instructions", None):  # free instructions are decoded with the Alpaca template
            for s in systems:
                if s in cfg.systems and cfg.systems[s].kind != "causal_lm":
                    problems.append(
                        f"tables.{table}.instructions: system '{s}' is a {cfg.systems[s].kind} baseline, "
                        "which answers no instruction (free instructions need causal_lm systems)"
                    )
        for s in getattr(spec, "paper_rows", {}) or {}:
            if s not in systems:
                problems.append(
                    f"tables.{table}.paper_rows: '{s}' is not one of the table's systems ({', '.join(systems)})"
                )
        sig = getattr(spec, "significance", None)
        if sig is not None and sig.reference not in systems:
            problems.append(
                f"tables.{table}.significance.reference: '{sig.reference}' is not one of the table's systems ({', '.join(systems)})"
            )
    return problems


def validate_config(data: Any) -> Config:
    """The whole configuration, checked: types and bounds, then every rule joining fragments.

    Raises :class:`SettingsError` listing every problem (one line each) when anything is wrong.
    """
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(problems_of(exc, Config)) from None
    problems = cross_checks(cfg)
    if problems:
        raise SettingsError(problems)
    return cfg


# --------------------------------------------------------------------------------------
# Provenance: what the artefacts take, and which of it follows a moving revision
# --------------------------------------------------------------------------------------
def used_by_tables(cfg: Config) -> tuple[list[str], list[str], list[str]]:
    """The systems, base models and sources that the tables' artefacts take, in config order."""
    systems: set[str] = set()
    test_sets: set[str] = set()
    mixtures: set[str] = {cfg.tables.table3.mixture}
    for table in Tables.model_fields:
        spec = getattr(cfg.tables, table)
        systems.update(getattr(spec, "systems", None) or [])
        test_sets.update(getattr(spec, "test_sets", None) or [])
    used_systems = [n for n in cfg.systems if n in systems]
    bases = [b for b in cfg.base_models if any(cfg.systems[s].base == b for s in used_systems)]
    mixtures.update(cfg.systems[s].mixture for s in used_systems if cfg.systems[s].method != "none")
    train_sets: set[str] = set()
    for m in mixtures:
        mix = cfg.mixtures.get(m) if m else None
        if mix is not None:
            train_sets.update(([mix.generic] if mix.generic else []) + list(mix.writing))
    for b in bases:
        if cfg.base_models[b].build_tiny is not None:
            train_sets.update(cfg.base_models[b].build_tiny.corpus_from)
    wanted = {cfg.test_sets[d].source for d in test_sets if d in cfg.test_sets}
    wanted |= {cfg.train_sets[t].source for t in train_sets if t in cfg.train_sets}
    return used_systems, bases, [s for s in cfg.sources if s in wanted]


def revision_warnings(cfg: Config) -> list[str]:
    """One ``key: message`` line per base model or source the artefacts take whose revision can
    move under the run (a branch or tag, or none on a git host): the Snakefile prints them as
    warnings at ``snakemake -n`` (not errors: a user may need ``main``)."""
    _, bases, sources = used_by_tables(cfg)
    lines: list[str] = []
    for name in bases:
        base = cfg.base_models[name]
        if base.hub is None:
            continue
        if base.revision is None:
            lines.append(
                f"base_models.{name}.revision: not set: {base.hub} is fetched at main, which can move "
                "(pin a 40-hex commit SHA)"
            )
        elif not is_commit_sha(base.revision):
            lines.append(
                f"base_models.{name}.revision: '{base.revision}' is a branch or tag, not a commit SHA: "
                f"{base.hub} can change under it (pin a 40-hex commit)"
            )
    for name in sources:
        src = cfg.sources[name]
        if src.revision is not None:
            if not is_commit_sha(src.revision):
                lines.append(
                    f"sources.{name}.revision: '{src.revision}' is a branch or tag, not a commit SHA: "
                    "its files can change under it (pin a 40-hex commit)"
                )
            continue
        hosts = sorted({_url_host(f.url) for f in src.files or []} & set(GIT_HOSTS))
        if hosts:
            lines.append(
                f"sources.{name}.revision: not set, but its URLs are on {', '.join(hosts)}: "
                "name the commit they point at"
            )
    return lines


# --------------------------------------------------------------------------------------
# The JSON schema (generated; workflow/schemas/config.schema.json)
# --------------------------------------------------------------------------------------
def json_schema() -> dict[str, Any]:
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$comment"] = "Generated from writing_alpaca.settings by `writing-alpaca settings schema`; do not edit."
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _cmd_schema(args: argparse.Namespace) -> int:
    text = schema_text()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    import yaml

    data: dict[str, Any] = {}
    for path in args.configfile:
        try:
            layer = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise WritingAlpacaError(f"{path}: {exc}") from None
        data = _overlay(data, layer)
    validate_config(data)
    print(f"{' + '.join(args.configfile)}: valid")
    return 0


def _overlay(base: Any, layer: Any) -> Any:
    """Snakemake's --configfile semantics: mappings merged key by key, everything else replaced."""
    if isinstance(base, dict) and isinstance(layer, dict):
        out = dict(base)
        for key, value in layer.items():
            out[key] = _overlay(base.get(key), value) if key in base else value
        return out
    return layer


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("settings", help="the configuration's definition: check a config, print its JSON schema")
    ss = p.add_subparsers(dest="settings_command", metavar="ACTION")
    ss.required = True
    s = ss.add_parser("schema", help="print (or write) the JSON schema generated from writing_alpaca.settings")
    s.add_argument("--out", help="write here instead of standard output")
    s.set_defaults(func=_cmd_schema)
    c = ss.add_parser("check", help="validate config files layered in order (as snakemake --configfile)")
    c.add_argument("configfile", nargs="+")
    c.set_defaults(func=_cmd_check)
