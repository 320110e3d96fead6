"""Model cards: a ``README.md`` with Hugging Face model-card metadata in every trained system
and every merged model, and ``results/cards/<system>.md``, the same card with the run's scores.

A trained system directory (:mod:`writing_alpaca.systems`) holds, besides its weights::

    card.json     what its card says, machine-readable (:data:`CARD_JSON`)
    README.md     the model card (:data:`README_MD`): YAML metadata between two ``---`` lines
                  (base_model, license, library_name, datasets, tags, ...), then Markdown

both written by :func:`writing_alpaca.systems.write_system`, before ``system.json``.  A merged model
(``writing-alpaca merge``, :mod:`writing_alpaca.training.merge`) gets its README.md from the system's
``card.json`` (:func:`write_merged_card`); rule ``render_card`` writes ``results/cards/<system>.md``
with the scores (``writing-alpaca render card``, :func:`render_scored_card`).

What a card knows comes from three places:

* the config, through the train rule's ``--card JSON`` (:class:`CardSpec`, built by ``card_spec()``
  in workflow/rules/common.smk): the base model (name, Hub id, revision, licence) and the mixture's
  train sets with their sources' licences, revisions, URLs and sample sizes.  The trainer could not
  know them: they are the config's;
* the command: the fragments it was given (``--spec``, ``--training``, ``--template``, ``--prompts``)
  and the hyper-parameters they resolve to; the base directory's ``fetched_from.json``
  (:data:`writing_alpaca.hub.FETCHED_FROM_JSON`: the commit actually fetched); the training data
  file, hashed when the card is written;
* the run: its ``train_metrics.json`` (steps, final loss, GPU hours, hardware).

The **settings fingerprint** is the sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of
``{"settings": <the fragments>, "base_model": {hub, revision, commit, path, built},
"train_sets": [{name, source, revision, urls, n}]}``: two systems with the same fingerprint were made
by the same settings from the same base and the same data sources.  The training file's own sha256 is
recorded beside it.

Scores come later in the workflow than the system directory, which is a finished output once
training ends: its card says where the scores will be (``results/scores/<system>/<decoding>/<test
set>.json``) and that ``results/cards/<system>.md`` is the card with them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from . import settings as S
from .errors import WritingAlpacaError, located
from .hashing import sha256_file, sha256_text
from .io import atomic_path, parse_json_object, read_json, write_json

README_MD = "README.md"
CARD_JSON = "card.json"
#: incremented when card.json changes shape
CARD_VERSION = 1
PAPER = (
    "Zhang et al. (2023), *Multi-Task Instruction Tuning of LLaMA for Specific Scenarios: A Preliminary "
    "Study on Writing Assistance*, arXiv:2305.13225"
)
#: the Hub's pipeline of each kind of system
PIPELINE_TAG = {"causal_lm": "text-generation", "seq2seq": "text2text-generation", "gector": "token-classification"}
#: a tag per task of the training data
TASK_TAGS = {
    "generic": "instruction-tuning",
    "grammar": "grammatical-error-correction",
    "fluency": "fluency",
    "clarity": "clarity",
    "coherence": "coherence",
    "simplification": "text-simplification",
    "neutralization": "neutralization",
    "paraphrase": "paraphrasing",
}
METRIC_NAME = {"m2": "F0.5 (M2)", "errant": "F0.5 (ERRANT)", "gleu": "GLEU", "sari": "SARI"}


# ---------------------------------------------------------------------------- what the config says
class CardModel(S.Settings):
    """The base model as the config names it (``base_models.<name>``)."""

    WHERE: ClassVar[str] = "--card.base_model"

    name: S.NonEmpty
    hub: S.NonEmpty | None = None
    revision: S.NonEmpty | None = None
    path: S.NonEmpty | None = None
    built: S.Bool = Field(False, description="built locally (build_tiny): a tiny randomly initialised model")
    licence: S.Str | None = None
    licence_id: S.Str | None = None


class CardData(S.Settings):
    """A train set of the mixture, with its source's provenance."""

    name: S.NonEmpty
    task: S.Str
    source: S.NonEmpty
    licence: S.Str | None = None
    revision: S.NonEmpty | None = None
    urls: list[S.Str] = Field(default_factory=list)
    n: S.PosInt | None = Field(None, description="the seeded sample size (null: every item)")
    gated: S.Bool = False


class CardSpec(S.Settings):
    """``--card JSON`` of ``train`` / ``baselines train``: what only the config knows."""

    WHERE: ClassVar[str] = "--card"

    system: S.NonEmpty
    base_model: CardModel
    mixture: S.Str | None = None
    train_sets: list[CardData] = Field(default_factory=list)


def parse_card_arg(text: str | None, system: str) -> CardSpec | None:
    """``--card`` parsed (``None`` when not given); its ``system`` must be the command's."""
    if text is None:
        return None
    spec = CardSpec.from_dict(parse_json_object(text, "--card"))
    if spec.system != system:
        raise WritingAlpacaError(f"--card: for system {spec.system!r}, but --system is {system!r}")
    return spec


# ---------------------------------------------------------------------------- the card's record
def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def base_commit(base_dir: str | Path) -> str | None:
    """The commit a fetched base model directory records (``fetched_from.json``), else ``None``."""
    from .hub import FETCHED_FROM_JSON

    path = Path(base_dir) / FETCHED_FROM_JSON
    if not path.is_file():
        return None
    data = read_json(path)
    commit = data.get("commit") if isinstance(data, dict) else None
    return commit if isinstance(commit, str) and commit else None


def training_card(
    spec: CardSpec | None,
    *,
    system: str,
    kind: str,
    method: str,
    settings: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
    base: str | Path,
    data: str | Path | None,
    out: str | Path,
) -> dict[str, Any]:
    """The card of a run about to start: the config's provenance (``spec``; without it only the base
    directory is known), the command's settings and resolved hyper-parameters; the run's metrics and
    the data file's sha256 are added when the system is written (:func:`complete_card`)."""
    if spec is None:
        model: dict[str, Any] = CardModel(name=Path(base).name).as_dict()
        train_sets: list[dict[str, Any]] = []
        mixture = None
    else:
        model, train_sets, mixture = spec.base_model.as_dict(), [t.as_dict() for t in spec.train_sets], spec.mixture
    commit, commit_from = base_commit(base), "fetched_from.json"
    if commit is None and S.is_commit_sha(model.get("revision")) and model.get("hub"):
        commit, commit_from = model["revision"], "revision"  # a pinned revision is the commit
    model.update(commit=commit, commit_from=commit_from if commit else None, dir=str(base))
    card = {
        "card_version": CARD_VERSION,
        "system": system,
        "kind": kind,
        "method": method,
        "system_dir": str(out),
        "base_model": model,
        "mixture": mixture,
        "train_sets": train_sets,
        "settings": dict(settings),
        "hyperparameters": dict(hyperparameters),
        "data": {"file": str(data) if data is not None else None, "sha256": None},
    }
    render_card(card)  # a card that cannot be written fails now, not after the training
    return card


def minimal_card(info: Any, out: str | Path | None = None) -> dict[str, Any]:
    """The card of a system written without one (a direct call of ``write_system``): its
    ``system.json`` fields only."""
    if out is None:
        out = info.system_dir if info.system_dir is not None else "."
    return training_card(
        None,
        system=info.system,
        kind=info.kind,
        method=info.method,
        settings={},
        hyperparameters={},
        base=str(info.base),
        data=None,
        out=out,
    )


def settings_fingerprint(card: Mapping[str, Any]) -> str:
    """sha256 of the settings, the base model's and the train sets' provenance (module docstring)."""
    model = card.get("base_model") or {}
    return sha256_text(
        _canonical(
            {
                "settings": card.get("settings") or {},
                "base_model": {k: model.get(k) for k in ("hub", "revision", "commit", "path", "built")},
                "train_sets": [
                    {k: t.get(k) for k in ("name", "source", "revision", "urls", "n")}
                    for t in card.get("train_sets") or []
                ],
            }
        )
    )


#: what a card keeps of ``train_metrics.json``
METRIC_KEYS = (
    "steps",
    "final_loss",
    "train_examples",
    "tokens_seen",
    "wall_seconds",
    "gpus",
    "gpu_hours",
    "hardware",
)


def complete_card(
    card: Mapping[str, Any] | None, info: Any, metrics: Mapping[str, Any], out_dir: str | Path | None = None
) -> dict[str, Any]:
    """``card`` (or :func:`minimal_card`) as written with the system ``info`` into ``out_dir``: its
    record, the run's metrics, the training file's sha256 and the settings fingerprint."""
    out = json.loads(json.dumps(dict(card) if card is not None else minimal_card(info, out_dir), default=str))
    out.update(system=info.system, kind=info.kind, method=info.method)
    out["system_json"] = info.as_dict()
    out["metrics"] = {k: metrics[k] for k in METRIC_KEYS if k in metrics}
    data = out.setdefault("data", {"file": None, "sha256": None})
    if data.get("file") and not data.get("sha256") and Path(data["file"]).is_file():
        data["sha256"] = sha256_file(data["file"])
    out["fingerprint"] = settings_fingerprint(out)
    return out


def write_card(out_dir: str | Path, card: Mapping[str, Any]) -> Path:
    """``card.json`` and ``README.md`` of a system directory; returns the README's path."""
    out_dir = Path(out_dir)
    write_json(out_dir / CARD_JSON, dict(card))
    return write_markdown(out_dir / README_MD, render_card(card))


def read_card(system_dir: str | Path) -> dict[str, Any]:
    """A system's ``card.json``, or for a system written before cards existed the card its
    ``system.json`` and ``train_metrics.json`` give (no config provenance)."""
    from .systems import read_system, read_train_metrics

    system_dir = Path(system_dir)
    path = system_dir / CARD_JSON
    if path.is_file():
        card = read_json(path)
        if not isinstance(card, dict) or not isinstance(card.get("base_model"), dict):
            raise located(path, None, "not a model card record (expected an object with 'base_model')")
        return card
    info = read_system(system_dir)
    return complete_card(None, info, read_train_metrics(system_dir))


def write_markdown(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


# ---------------------------------------------------------------------------- rendering
def hub_dataset_ids(train_sets: Iterable[Mapping[str, Any]]) -> list[str]:
    """The Hugging Face dataset ids of the train sets whose files are on the Hub (``datasets:``)."""
    ids: list[str] = []
    for ts in train_sets:
        for url in ts.get("urls") or []:
            marker = "huggingface.co/datasets/"
            if marker in url:
                parts = url.split(marker, 1)[1].split("/")
                if len(parts) >= 2 and f"{parts[0]}/{parts[1]}" not in ids:
                    ids.append(f"{parts[0]}/{parts[1]}")
    return ids


def _is_adapter(card: Mapping[str, Any]) -> bool:
    return card.get("method") == "lora" and not card.get("merged")


def metadata(card: Mapping[str, Any], scores: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The card's YAML metadata (Hugging Face model-card keys, then this workflow's own)."""
    model = card.get("base_model") or {}
    train_sets = card.get("train_sets") or []
    meta: dict[str, Any] = {}
    if model.get("hub"):
        meta["base_model"] = model["hub"]
        meta["base_model_relation"] = "adapter" if _is_adapter(card) else "finetune"
    meta["license"] = model.get("licence_id") or "unknown"
    meta["library_name"] = "peft" if _is_adapter(card) else "transformers"
    meta["pipeline_tag"] = PIPELINE_TAG.get(card.get("kind", ""), "text-generation")
    meta["language"] = ["en"]
    tags = ["writing-alpaca", "writing-assistance", "text-editing"]
    if card.get("method") == "lora":
        tags += ["lora"]
    tags += [TASK_TAGS.get(t.get("task", ""), str(t.get("task"))) for t in train_sets]
    meta["tags"] = list(dict.fromkeys(tags))
    datasets = hub_dataset_ids(train_sets)
    if datasets:
        meta["datasets"] = datasets
    meta["training_data"] = [
        {
            "name": t.get("name"),
            "source": t.get("source"),
            "licence": t.get("licence"),
            "revision": t.get("revision"),
            "examples": t.get("n") if t.get("n") is not None else "all",
        }
        for t in train_sets
    ]
    meta["base_model_licence"] = model.get("licence")
    meta["base_model_revision"] = model.get("revision")
    meta["base_model_commit"] = model.get("commit")
    meta["settings_sha256"] = card.get("fingerprint")
    meta["training_data_sha256"] = (card.get("data") or {}).get("sha256")
    if scores:
        meta["model-index"] = [
            {
                "name": card.get("system"),
                "results": [
                    {
                        "task": {"type": meta["pipeline_tag"], "name": row["task_label"]},
                        "dataset": {"name": row["title"], "type": row["dataset"]},
                        "metrics": [{"type": row["metric"], "name": row["metric_name"], "value": row["score"]}],
                    }
                    for row in scores
                    if row.get("score") is not None
                ],
            }
        ]
    return meta


def _code(value: Any) -> str:
    return "–" if value in (None, "") else f"`{value}`"


def _cell(value: Any) -> str:
    return "–" if value in (None, "") else str(value).replace("|", "\\|").replace("\n", " ")


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            rows += _flatten(value, name)
        else:
            rows.append((name, value))
    return rows


def _json_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def _base_section(card: Mapping[str, Any]) -> list[str]:
    model = card.get("base_model") or {}
    lines = ["## Base model", ""]
    if model.get("hub"):
        lines.append(f"- Hugging Face repository: [`{model['hub']}`](https://huggingface.co/{model['hub']})")
        revision, commit = model.get("revision") or "main", model.get("commit")
        pinned = " (a commit: pinned)" if S.is_commit_sha(revision) else " (a branch or tag: not pinned)"
        lines.append(f"- Revision asked for: `{revision}`{pinned}")
        where = {
            "fetched_from.json": " (fetched: the base directory's fetched_from.json)",
            "revision": " (the pinned revision)",
        }.get(model.get("commit_from") or "", "")
        lines.append(f"- Commit: {_code(commit) + where if commit else 'not recorded'}")
    elif model.get("built"):
        lines.append(
            "- Built locally (`build_tiny`): a tiny randomly initialised model with a tokenizer trained on the "
            "workflow's training data (demo, rehearsal, tests); no upstream weights"
        )
    elif model.get("path"):
        lines.append(f"- Placed by the user at `{model['path']}`")
    else:
        lines.append("- Origin not given to the trainer (no `--card`)")
    lines.append(f"- Config name: `{model.get('name')}`; directory trained from: `{model.get('dir')}`")
    lines.append(f"- Licence: {model.get('licence') or 'not stated in the config'}")
    lines.append("")
    return lines


def _data_section(card: Mapping[str, Any]) -> list[str]:
    train_sets = card.get("train_sets") or []
    metrics = card.get("metrics") or {}
    data = card.get("data") or {}
    lines = ["## Training data", ""]
    if card.get("mixture"):
        lines.append(f"Mixture `{card['mixture']}` of the workflow's config, its train sets in order:")
        lines.append("")
    if train_sets:
        lines += [
            "| Train set | Task | Source | Examples | Licence | Revision |",
            "|---|---|---|---|---|---|",
        ]
        for t in train_sets:
            examples = f"{t['n']:,} (seeded sample)" if t.get("n") else "all"
            lines.append(
                f"| {_cell(t.get('name'))} | {_cell(t.get('task'))} | {_cell(t.get('source'))} | {examples} | "
                f"{_cell(t.get('licence'))} | {_code(t.get('revision'))} |"
            )
        lines.append("")
        urls = [(t.get("source"), u) for t in train_sets for u in t.get("urls") or []]
        if urls:
            lines.append("Files, as the config fetches them:")
            lines.append("")
            lines += [f"- {src}: <{u}>" if "://" in u else f"- {src}: `{u}`" for src, u in dict.fromkeys(urls)]
            lines.append("")
        gated = [t["source"] for t in train_sets if t.get("gated")]
        if gated:
            lines.append(f"Licence-gated, placed by hand: {', '.join(dict.fromkeys(gated))}.")
            lines.append("")
    else:
        lines += ["The config's provenance of the training data was not given to the trainer (no `--card`).", ""]
    facts = []
    if data.get("file"):
        facts.append(f"- Training file: `{data['file']}`, sha256 {_code(data.get('sha256'))}")
    if metrics.get("train_examples") is not None:
        facts.append(f"- Examples trained on: {metrics['train_examples']:,}")
    if facts:
        lines += [*facts, ""]
    lines += [
        "The weights derive from the base model and from these data: the base model's licence and the "
        "data's terms, above, apply to their use.",
        "",
    ]
    return lines


def _training_section(card: Mapping[str, Any]) -> list[str]:
    metrics = card.get("metrics") or {}
    lines = ["## Training", ""]
    method = {"lora": "LoRA (peft)", "full": "full fine-tuning"}.get(card.get("method", ""), card.get("method"))
    lines.append(f"- Method: {method}; kind: `{card.get('kind')}`")
    lines.append(
        f"- Settings fingerprint: {_code(card.get('fingerprint'))} (sha256 of the canonical JSON of the command's "
        "settings and of the base model's and train sets' provenance: `writing_alpaca.cards`)"
    )
    for key, label in (
        ("steps", "Optimiser steps"),
        ("final_loss", "Final loss"),
        ("gpu_hours", "GPU hours"),
        ("wall_seconds", "Wall time (s)"),
        ("hardware", "Hardware"),
    ):
        if key == "gpu_hours" and metrics.get("gpus") == 0 and metrics.get("wall_seconds") is not None:
            lines.append(f"- CPU hours (no GPU; wall clock): {round(metrics['wall_seconds'] / 3600, 4)}")
        elif metrics.get(key) is not None:
            value = metrics[key]
            lines.append(f"- {label}: {round(value, 4) if isinstance(value, float) else value}")
    hp = card.get("hyperparameters") or {}
    if hp:
        lines += ["", "Hyper-parameters:", "", "| Setting | Value |", "|---|---|"]
        lines += [f"| `{k}` | {_cell(_json_value(v))} |" for k, v in _flatten(hp)]
    lines.append("")
    return lines


def _load_section(card: Mapping[str, Any]) -> list[str]:
    where = card.get("merged_dir") or card.get("system_dir") or "."
    model = card.get("base_model") or {}
    kind, method = card.get("kind"), card.get("method")
    base_ref = f'"{model["hub"]}"' if model.get("hub") else f'"{model.get("dir") or model.get("path")}"'
    revision = model.get("commit") or model.get("revision")
    rev_arg = f', revision="{revision}"' if model.get("hub") and revision else ""
    lines = ["## How to load", ""]
    if card.get("merged"):
        lines += [
            "```python",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            f'model = AutoModelForCausalLM.from_pretrained("{where}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{where}")',
            "```",
            "",
            "Prompt it with the Alpaca template and the task prompts it was trained with (`merged_from.json`), "
            f"e.g. `writing-alpaca decode --base {where} --template JSON --task-prompt TEXT ...`.",
        ]
    elif kind == "causal_lm" and method == "lora":
        lines += [
            "```python",
            "from peft import PeftModel",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            f"base = AutoModelForCausalLM.from_pretrained({base_ref}{rev_arg})",
            f'model = PeftModel.from_pretrained(base, "{where}/adapter")',
            f'tokenizer = AutoTokenizer.from_pretrained("{where}/adapter")  # else the base model\'s',
            "```",
            "",
            f'Or `writing-alpaca edit --model {where} --task grammar --text "..."`, which prompts it with the '
            "template and task prompts recorded in `system.json`; `writing-alpaca merge --system-dir "
            f"{where} --out DIR` writes a standalone model.",
        ]
    elif kind == "causal_lm":
        lines += [
            "```python",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            f'model = AutoModelForCausalLM.from_pretrained("{where}/model")',
            f'tokenizer = AutoTokenizer.from_pretrained("{where}/model")',
            "```",
            "",
            f'Or `writing-alpaca edit --model {where} --task grammar --text "..."` (the template and task prompts '
            "are recorded in `system.json`).",
        ]
    elif kind == "seq2seq":
        lines += [
            "```python",
            "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer",
            "",
            f'model = AutoModelForSeq2SeqLM.from_pretrained("{where}/model")',
            f'tokenizer = AutoTokenizer.from_pretrained("{where}/model")',
            "```",
            "",
            f"Or `writing-alpaca baselines decode --system-dir {where} --data TEST.jsonl --decoding JSON "
            "--out X.txt --metrics X.json` (its source prefix and lengths are in `model/`).",
        ]
    else:
        lines += [
            "A GECToR tagger (the encoder in `model/`, its tag heads and tag vocabulary beside it): "
            f"`writing-alpaca baselines decode --system-dir {where} --data TEST.jsonl --decoding JSON "
            "--out X.txt --metrics X.json` runs its iterative correction.",
        ]
    lines.append("")
    return lines


def _scores_section(card: Mapping[str, Any], scores: Sequence[Mapping[str, Any]] | None) -> list[str]:
    system = card.get("system")
    lines = ["## Scores", ""]
    if scores is None:
        lines += [
            "Not scored yet: this card was written when training finished, before evaluation. The workflow "
            f"writes this system's scores to `results/scores/{system}/<decoding>/<test set>.json` (`score`, and "
            "precision and recall for M2/ERRANT, post-processed as `docs/PAPER.md` describes), and rule "
            f"`render_card` writes `results/cards/{system}.md`: this card with the run's scores.",
            "",
        ]
        return lines
    if not scores:
        return lines + ["No test set of the config's tables scores this system.", ""]
    lines += [
        "This run's scores (0-100), one decoding per row, on the test sets the config's tables score this system on:",
        "",
        "| Test set | Task | Metric | Decoding | Score | P | R | Test data licence |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def num(value: Any) -> str:
        return "–" if value is None else f"{value:.2f}"

    for row in scores:
        lines.append(
            f"| {_cell(row['title'])} | {_cell(row['task_label'])} | {_cell(row['metric_name'])} | "
            f"{_cell(row['decoding'])} | {num(row['score'])} | {num(row.get('precision'))} | "
            f"{num(row.get('recall'))} | {_cell(row.get('licence'))} |"
        )
    lines += ["", f"From `results/scores/{system}/<decoding>/<test set>.json`.", ""]
    return lines


def render_card(
    card: Mapping[str, Any], scores: Sequence[Mapping[str, Any]] | None = None, label: str | None = None
) -> str:
    """The README.md text of ``card``: YAML metadata, then the body; ``scores`` (rows of
    :func:`score_rows`) fill the Scores section, else it says where they will be."""
    import yaml

    meta = yaml.safe_dump(metadata(card, scores), sort_keys=False, allow_unicode=True, width=100)
    system = card.get("system")
    title = f"{label} (`{system}`)" if label and label != system else f"`{system}`"
    if card.get("merged"):
        title += ", merged"
    model = card.get("base_model") or {}
    what = {
        ("causal_lm", "lora"): "a LoRA adapter",
        ("causal_lm", "full"): "a fully fine-tuned model",
        ("seq2seq", "full"): "a fine-tuned seq2seq model (a Table-7 baseline)",
        ("gector", "full"): "a GECToR tagger (a Table-7 baseline)",
    }.get((card.get("kind"), card.get("method")), "a trained model")
    if card.get("merged"):
        what = f"{what} merged into its base model (one standalone model)"
    base = model.get("hub") or model.get("name")
    body = [
        f"# {title}",
        "",
        f"{what[0].upper()}{what[1:]} of `{base}`, trained by the writing-alpaca workflow, which reproduces {PAPER}.",
        "",
    ]
    if card.get("merged"):
        body += [f"Merged from the system directory `{card['merged'].get('system_dir')}` (`merged_from.json`).", ""]
    body += _base_section(card)
    body += _data_section(card)
    body += _training_section(card)
    body += _load_section(card)
    body += _scores_section(card, scores)
    return f"---\n{meta}---\n\n" + "\n".join(body).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------- merged models
def write_merged_card(out_dir: str | Path, system_dir: str | Path, shown_as: str | Path | None = None) -> Path:
    """``out_dir/README.md`` of a LoRA system merged into its base (``writing-alpaca merge``):
    the system's card as a standalone transformers model; ``shown_as``: the directory's final name
    (``out_dir`` may be a temporary one)."""
    card = read_card(system_dir)
    card["merged"] = {"system_dir": str(system_dir)}
    card["merged_dir"] = str(shown_as if shown_as is not None else out_dir)
    return write_markdown(Path(out_dir) / README_MD, render_card(card))


# ---------------------------------------------------------------------------- with the run's scores
def score_rows(system: str, paths: Iterable[str | Path], ctx: Any) -> list[dict[str, Any]]:
    """One row per score file of ``system`` (others are an error), the paper's task order, then decoding."""
    from .report.inputs import headline_score, load_runs, number_field, task_rank

    runs = load_runs(paths, ".json")
    rows = []
    for key, (path, obj) in runs.items():
        if key.system != system:
            raise located(path, None, f"a score of system {key.system!r}, not of {system!r}")
        entry = ctx.test_sets.get(key.dataset) if isinstance(ctx.test_sets.get(key.dataset), Mapping) else {}
        metric = entry.get("metric") or obj.get("metric")
        task = entry.get("task")
        rows.append(
            {
                "dataset": key.dataset,
                "title": ctx.dataset_label(key.dataset),
                "task": task,
                "task_label": ctx.task_label(task) if task else "",
                "metric": metric,
                "metric_name": METRIC_NAME.get(metric, metric),
                "decoding": key.decoding,
                "score": headline_score(path, obj),
                "precision": number_field(path, obj, "precision", required=False),
                "recall": number_field(path, obj, "recall", required=False),
                "licence": entry.get("licence"),
            }
        )
    return sorted(rows, key=lambda r: (task_rank(r["task"] or ""), r["title"], r["decoding"]))


def render_scored_card(
    spec: Mapping[str, Any], ctx: Any, system_dirs: Sequence[Path], scores: Sequence[Path], prefix: str | Path
) -> list[Path]:
    """``PREFIX.md``: the card of the one system of ``system_dirs`` with its ``scores``
    (``writing-alpaca render card``, rule render_card)."""
    if len(system_dirs) != 1:
        raise WritingAlpacaError(f"card: give one system directory (--train-metrics), got {len(system_dirs)}")
    system_dir = system_dirs[0]
    if system_dir.name == "train_metrics.json":
        system_dir = system_dir.parent
    card = read_card(system_dir)
    system = spec.get("system") or card.get("system")
    if system != card.get("system"):
        raise WritingAlpacaError(f"card: --spec names system {system!r}, but {system_dir} is {card.get('system')!r}")
    label = ctx.system_label(system) if ctx.systems else None
    text = render_card(card, score_rows(system, scores, ctx), label=label)
    return [write_markdown(Path(f"{prefix}.md"), text)]


__all__ = [
    "README_MD",
    "CARD_JSON",
    "CardSpec",
    "CardModel",
    "CardData",
    "parse_card_arg",
    "training_card",
    "complete_card",
    "write_card",
    "read_card",
    "render_card",
    "metadata",
    "settings_fingerprint",
    "write_merged_card",
    "score_rows",
    "render_scored_card",
]
