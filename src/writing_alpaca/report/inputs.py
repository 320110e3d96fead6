"""What ``writing-alpaca render`` reads: the run's result files, by kind, and the config context.

Each kind of file comes with its own option (:data:`writing_alpaca.report.cli.INPUT_KINDS`),
as the rules of workflow/rules/render.smk pass them (named inputs of the same names); where
the workflow writes each kind:

=====================  ==============================================================
option                 file
=====================  ==============================================================
``--scores``           ``results/scores/{system}/{decoding}/{dataset}.json``
``--decode-metrics``   ``results/outputs/{system}/{decoding}/{dataset}.metrics.json``
``--train-metrics``    ``results/models/{system}`` (or its ``train_metrics.json``)
``--edits``            ``results/analysis/{system}/{decoding}/{dataset}.edits.json``
``--data``             ``results/data/test/{dataset}.jsonl``
``--outputs``          ``results/hypotheses/{system}/{decoding}/{dataset}.txt``
``--free-outputs``     ``results/outputs/{system}/{decoding}/free/{table}.txt``
``--bootstrap``        ``results/analysis/bootstrap/{table}/{dataset}.json``
``--instructions``     ``results/instructions/{mixture}.jsonl``
``--counts``           ``results/instructions/{mixture}.counts.json``
``--published``        ``workflow/resources/published_table5.yaml``
``--paper``            ``workflow/resources/paper_results.yaml``
``--benchmarks``       ``results/benchmarks/{stage}/{rule}[/{wildcard}={value}...].tsv``
=====================  ==============================================================

A file's kind is the option it was given with, never told from its name.  Whose it is
(system, decoding, dataset) is read from its content where it records it (a JSON file with
string fields ``system``/``decoding``/``dataset``, a training-metrics file's ``system``, a
bootstrap result's ``dataset``); score files, decode metrics, edit analyses and system outputs
record none, so for them :func:`path_fields` reads it from the path by the workflow's layout
(:data:`RUN_LAYOUT` and the others below) -- the one place a path is parsed (the costs
table's benchmark files have their own layout, :func:`writing_alpaca.costs.job_key`).

Fields read: scores ``score`` (and ``precision``/``recall``/``f0.5`` for table7, all 0-100, and
the counts ``tp``/``fp``: no edit proposed leaves the precision undefined, "–");
decode metrics ``instances_per_second`` (or ``instances``/``seconds``), ``batch_size``,
``num_beams``; training metrics ``gpu_hours``, ``gpus`` and ``wall_seconds`` (``gpus: 0``: a CPU
run, whose cost is shown in CPU hours, ``wall_seconds / 3600``) and ``train_examples`` (Table 7's #Data; older
files: ``examples`` or ``pairs``); edit analyses ``edits``, ``entity`` (and ``examples`` for
table8); bootstrap results ``pairs[].p_value`` (:mod:`writing_alpaca.bootstrap`).

A named input that does not exist is an error; a run the spec asks for but no input provides
is shown as "–" (and an average over fewer datasets is marked).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import WritingAlpacaError, located
from ..io import read_json, read_jsonl, read_lines, read_text

# The paper's task order (Tables 2-5); "generic" (Stanford Alpaca) leads Table 3, as in the paper.
TASK_ORDER = ("generic", "grammar", "fluency", "clarity", "coherence", "simplification", "neutralization", "paraphrase")
DEFAULT_TASK_LABELS = {
    "grammar": "Grammaticality",
    "fluency": "Fluency",
    "clarity": "Clarity",
    "coherence": "Coherence",
    "simplification": "Simplification",
    "neutralization": "Neutralization",
    "paraphrase": "Paraphrasing",
    "generic": "General",
}
METRIC_COLUMN = {"m2": "F0.5", "errant": "F0.5", "gleu": "GLEU", "sari": "SARI"}


# ======================================================================================
# Whose a file is: the workflow's file layout (workflow/rules/common.smk)
# ======================================================================================

# The one place a path is read.  A layout is a template of a path's last components; each
# ``{field}`` is one non-empty component or part of one (its suffix literal).
RUN_LAYOUT = "{system}/{decoding}/{dataset}"  # + the kind's suffix: .json, .metrics.json, .edits.json, .txt
FREE_OUTPUTS_LAYOUT = "{system}/{decoding}/free/{table}.txt"
TRAIN_METRICS_LAYOUT = "{system}/train_metrics.json"
TEST_DATA_LAYOUT = "{dataset}.jsonl"
BOOTSTRAP_LAYOUT = "{dataset}.json"  # only when the result lacks its `dataset` field
MIXTURE_LAYOUT = "{mixture}.jsonl"  # the mixture's counts when no counts file lies beside it


def path_fields(path: Path, layout: str) -> dict[str, str]:
    """The ``{field}`` values of ``path`` by ``layout``, matched against the path's last
    components: ``path_fields(Path("results/scores/a/beam16/jfleg.json"), RUN_LAYOUT + ".json")``
    is ``{"system": "a", "decoding": "beam16", "dataset": "jfleg"}``.  A path that does not
    match is an error naming the file and the layout."""
    pieces = re.split(r"\{(\w+)\}", layout)  # literal, field, literal, field, ..., literal
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(pieces))
    match = re.search(f"(?:^|/){pattern}$", path.as_posix())
    if match is None:
        names = pieces[1::2]
        what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        raise located(path, None, f"cannot tell the {what}: expected a path .../{layout}")
    return match.groupdict()


def mixture_of_path(path: Path) -> str:
    """The mixture of a counts file or mixture JSONL that does not name it: the file's name up to
    its first dot (``wa.counts.json``, ``wa.jsonl`` -> ``wa``)."""
    return path.name.split(".")[0]


@dataclass(frozen=True)
class RunKey:
    system: str
    decoding: str
    dataset: str


def run_key(path: Path, obj: Mapping[str, Any], suffix: str) -> RunKey:
    """The run of a per-run JSON file: its own ``system``/``decoding``/``dataset`` fields, else
    its path, ``.../{system}/{decoding}/{dataset}{suffix}``."""
    if all(isinstance(obj.get(k), str) for k in ("system", "decoding", "dataset")):
        return RunKey(obj["system"], obj["decoding"], obj["dataset"])
    return RunKey(**path_fields(path, RUN_LAYOUT + suffix))


def load_json_object(path: Path) -> dict[str, Any]:
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise located(path, None, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def load_runs(paths: Iterable[str | Path], suffix: str) -> dict[RunKey, tuple[Path, dict[str, Any]]]:
    """Index per-run JSON files by (system, decoding, dataset); duplicates are an error."""
    runs: dict[RunKey, tuple[Path, dict[str, Any]]] = {}
    for p in paths:
        path = Path(p)
        obj = load_json_object(path)
        key = run_key(path, obj, suffix)
        if key in runs:
            raise located(path, None, f"same run as {runs[key][0]} ({key.system}/{key.decoding}/{key.dataset})")
        runs[key] = (path, obj)
    return runs


def load_train_metrics(paths: Iterable[str | Path]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Index ``results/models/{system}/train_metrics.json`` files (or model directories) by system."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for p in paths:
        path = Path(p)
        if path.is_dir():
            path = path / "train_metrics.json"
        obj = load_json_object(path)
        system = (
            obj["system"] if isinstance(obj.get("system"), str) else path_fields(path, TRAIN_METRICS_LAYOUT)["system"]
        )
        if system in out:
            raise located(path, None, f"same system as {out[system][0]}")
        out[system] = (path, obj)
    return out


def number_field(path: Path, obj: Mapping[str, Any], *keys: str, required: bool = True) -> float | None:
    """The first of ``keys`` present in ``obj`` as a number (``null`` counts as missing)."""
    for key in keys:
        if key in obj:
            value = obj[key]
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise located(path, None, f"field {key!r} must be a finite number, got {value!r}")
            return float(value)
    if required:
        raise located(path, None, f"missing field {' or '.join(repr(k) for k in keys)}")
    return None


def headline_score(path: Path, obj: Mapping[str, Any]) -> float | None:
    return number_field(path, obj, "score")


def proposed_edits(path: Path, obj: Mapping[str, Any]) -> int | None:
    """The number of edits an M2/ERRANT score file's system proposed, ``tp + fp`` (``None``
    when the file has no counts)."""
    tp = number_field(path, obj, "tp", required=False)
    fp = number_field(path, obj, "fp", required=False)
    return None if tp is None or fp is None else int(tp + fp)


def score_prf(path: Path, obj: Mapping[str, Any]) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F0.5 (0-100) of an M2/ERRANT score file.

    The precision of an empty edit set (the system proposed no edit: ``tp + fp == 0`` in the
    file's counts) is undefined: ``None`` here, where the scorers report 100 by M2Scorer's
    convention (:func:`writing_alpaca.score.common.prf`); recall and F0.5 are as scored."""
    f = number_field(path, obj, "f0.5", "score")
    p = number_field(path, obj, "precision", required=False)
    r = number_field(path, obj, "recall", required=False)
    if proposed_edits(path, obj) == 0:
        p = None
    return p, r, f


@dataclass
class Context:
    """Config blocks the tables need for names and labels."""

    systems: Mapping[str, Any] = field(default_factory=dict)
    test_sets: Mapping[str, Any] = field(default_factory=dict)
    tasks: Mapping[str, Any] = field(default_factory=dict)

    def system_label(self, system: str) -> str:
        entry = self.systems.get(system)
        if self.systems and entry is None:
            raise WritingAlpacaError(f"system {system!r} is not in --systems")
        label = entry.get("label") if isinstance(entry, Mapping) else None
        return str(label) if label else system

    def test_set(self, dataset: str) -> Mapping[str, Any]:
        entry = self.test_sets.get(dataset)
        if not isinstance(entry, Mapping):
            raise WritingAlpacaError(f"test set {dataset!r} is not in --test-sets")
        return entry

    def dataset_label(self, dataset: str) -> str:
        entry = self.test_sets.get(dataset)
        title = entry.get("title") if isinstance(entry, Mapping) else None
        return str(title) if title else dataset

    def dataset_field(self, dataset: str, key: str) -> str:
        """``test_sets.<dataset>.<key>`` (Table 2's ``dataset`` corpus name, ``abbrev``), else its title."""
        entry = self.test_sets.get(dataset)
        value = entry.get(key) if isinstance(entry, Mapping) else None
        return str(value) if value else self.dataset_label(dataset)

    def dataset_task(self, dataset: str) -> str:
        task = self.test_set(dataset).get("task")
        if not isinstance(task, str):
            raise WritingAlpacaError(f"test set {dataset!r} has no task in --test-sets")
        return task

    def dataset_metric(self, dataset: str) -> str:
        metric = self.test_set(dataset).get("metric")
        if not isinstance(metric, str):
            raise WritingAlpacaError(f"test set {dataset!r} has no metric in --test-sets")
        return metric

    def task_label(self, task: str) -> str:
        entry = self.tasks.get(task)
        label = entry.get("label") if isinstance(entry, Mapping) else None
        return str(label) if label else DEFAULT_TASK_LABELS.get(task, task)


def task_rank(task: str) -> int:
    return TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER)


def spec_list(spec: Mapping[str, Any], key: str, artefact: str, required: bool = True) -> list[str]:
    value = spec.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WritingAlpacaError(f"{artefact}: --spec needs {key!r} as a list of names, got {value!r}")
    return value


def spec_str(spec: Mapping[str, Any], key: str, artefact: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise WritingAlpacaError(f"{artefact}: --spec needs {key!r} (a name), got {value!r}")
    return value


def spec_int(spec: Mapping[str, Any], key: str, artefact: str, default: int, minimum: int | None = None) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise WritingAlpacaError(f"{artefact}: --spec {key!r} must be an integer{bound}, got {value!r}")
    return value


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def ordered_datasets(datasets: Sequence[str], ctx: Context) -> list[str]:
    """Datasets grouped by task in the paper's task order (stable within a task)."""
    return sorted(datasets, key=lambda d: task_rank(ctx.dataset_task(d)))


# --------------------------------------------------------------------------------------
# Inputs of single artefacts: bootstrap results (Table 4), published rows (Table 5), mixture
# counts (Table 3), test data and system outputs (Tables 2 and 6)
# --------------------------------------------------------------------------------------


def load_bootstrap(paths: Iterable[str | Path], decoding: str) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Index ``analyse bootstrap`` results by dataset; another decoding or a duplicate is an error."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for p in paths:
        path = Path(p)
        obj = load_json_object(path)
        if obj.get("kind") != "paired_bootstrap" or not isinstance(obj.get("pairs"), list):
            raise located(path, None, "not an `analyse bootstrap` result (needs kind 'paired_bootstrap' and 'pairs')")
        dataset = (
            obj["dataset"] if isinstance(obj.get("dataset"), str) else path_fields(path, BOOTSTRAP_LAYOUT)["dataset"]
        )
        if obj.get("decoding") not in (None, decoding):
            raise located(path, None, f"bootstrap of decoding {obj['decoding']!r}; the table is {decoding!r}")
        if dataset in out:
            raise located(path, None, f"same test set as {out[dataset][0]} ({dataset})")
        out[dataset] = (path, obj)
    return out


@dataclass
class PublishedRow:
    label: str
    citation: str
    values: dict[str, float | None]
    citations: dict[str, str] = field(default_factory=dict)  # per-dataset sources (Prev. SOTA)
    after_ours: bool = False  # rendered after this run's systems (the paper's Prev. SOTA)

    def cited(self, datasets: Sequence[str], ctx: Context) -> str:
        """The row's citation; with per-cell ``citations``, each source with its datasets."""
        if not self.citations:
            return self.citation
        groups: dict[str, list[str]] = {}
        for d in datasets:
            groups.setdefault(self.citations.get(d, self.citation), []).append(ctx.dataset_label(d))
        return "; ".join(f"{c} ({', '.join(ds)})" for c, ds in groups.items())


def load_published(path: str | Path) -> tuple[str, list[PublishedRow]]:
    """Load ``workflow/resources/published_table5.yaml``: its source note and its rows.

    Format: ``source`` (citation of the table), ``rows: [{label, citation, values: {dataset:
    number|null}, citations: {dataset: source}, after_ours: bool}]``.  ``null`` = not available
    (rendered "–"); ``citations`` (optional) credits single cells (the previous SOTA of each test
    set); ``after_ours: true`` puts the row after this run's systems (the paper's Prev. SOTA).
    """
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise located(path, mark.line + 1 if mark else None, f"invalid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise located(path, None, "expected a mapping with a 'rows' list")
    source = doc.get("source")
    if not isinstance(source, str) or not source.strip():
        raise located(path, None, "missing 'source' (the citation of the published table)")
    rows = []
    for i, entry in enumerate(doc["rows"], start=1):
        where = f"rows[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str):
            raise located(path, None, f"{where}: needs a string 'label'")
        where = f"{where} ({entry['label']})"
        unknown = set(entry) - {"label", "citation", "values", "citations", "after_ours"}
        if unknown:
            raise located(path, None, f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}")
        citation = entry.get("citation")
        if not isinstance(citation, str) or not citation.strip():
            raise located(path, None, f"{where}: needs a 'citation'")
        values = entry.get("values") or {}
        if not isinstance(values, dict):
            raise located(path, None, f"{where}: 'values' must map dataset -> number or null")
        for dataset, value in values.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise located(path, None, f"{where}: value of {dataset!r} must be a number or null")
        cells = entry.get("citations") or {}
        if not isinstance(cells, dict) or not all(isinstance(c, str) and c.strip() for c in cells.values()):
            raise located(path, None, f"{where}: 'citations' must map dataset -> source")
        stray = [str(d) for d in cells if d not in values]
        if stray:
            raise located(path, None, f"{where}: 'citations' of datasets without a value: {', '.join(stray)}")
        after = entry.get("after_ours", False)
        if not isinstance(after, bool):
            raise located(path, None, f"{where}: 'after_ours' must be true or false")
        rows.append(
            PublishedRow(
                entry["label"],
                citation.strip(),
                {str(k): None if v is None else float(v) for k, v in values.items()},
                {str(k): v.strip() for k, v in cells.items()},
                after,
            )
        )
    return source.strip(), rows


def load_mixture_counts(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Per-task / per-trainset counts of a mixture: ``M.counts.json`` or counted from ``M.jsonl``.

    For ``M.jsonl`` the sibling ``M.counts.json`` (written by ``format``) is used when it exists.
    """
    from ..format import count_summary, default_counts_path

    path = Path(path)
    if path.name.endswith(".jsonl"):
        counts_path = default_counts_path(path)
        if counts_path.is_file():
            path = counts_path
        else:
            mixture = path_fields(path, MIXTURE_LAYOUT)["mixture"]
            records = read_jsonl(path)
            for lineno, rec in enumerate(records, start=1):
                if not isinstance(rec.get("task"), str) or not isinstance(rec.get("id"), str):
                    raise located(path, lineno, "instruction record needs string 'id' and 'task'")
            return path, count_summary(records, mixture)
    counts = load_json_object(path)
    if not isinstance(counts.get("trainsets"), dict) and not isinstance(counts.get("tasks"), dict):
        raise located(path, None, "expected a counts object with 'tasks' and/or 'trainsets'")
    return path, counts


def load_outputs(paths: Iterable[str | Path]) -> dict[RunKey, tuple[Path, list[str]]]:
    out: dict[RunKey, tuple[Path, list[str]]] = {}
    for p in paths:
        path = Path(p)
        key = RunKey(**path_fields(path, RUN_LAYOUT + ".txt"))
        if key in out:
            raise located(path, None, f"same run as {out[key][0]} ({key.system}/{key.decoding}/{key.dataset})")
        out[key] = (path, read_lines(path))
    return out


def load_test_sets(paths: Iterable[str | Path]) -> dict[str, tuple[Path, list[dict[str, Any]]]]:
    """Normalised test records by dataset (``{dataset}.jsonl``)."""
    out: dict[str, tuple[Path, list[dict[str, Any]]]] = {}
    for p in paths:
        path = Path(p)
        dataset = path_fields(path, TEST_DATA_LAYOUT)["dataset"]
        if dataset in out:
            raise located(path, None, f"test set {dataset!r} given twice")
        records = read_jsonl(path)
        for lineno, rec in enumerate(records, start=1):
            if not isinstance(rec.get("source"), str):
                raise located(path, lineno, "record has no string field 'source'")
        out[dataset] = (path, records)
    return out


def load_free_outputs(paths: Iterable[str | Path], table: str) -> dict[tuple[str, str], tuple[Path, list[str]]]:
    """Answers to a table's free instructions, ``.../outputs/{system}/{decoding}/free/{table}.txt``,
    by ``(system, decoding)``."""
    out: dict[tuple[str, str], tuple[Path, list[str]]] = {}
    for p in paths:
        path = Path(p)
        run = path_fields(path, FREE_OUTPUTS_LAYOUT)
        if run["table"] != table:
            raise located(path, None, f"answers to the free instructions of {run['table']!r}, not of {table!r}")
        key = (run["system"], run["decoding"])
        if key in out:
            raise located(path, None, f"same run as {out[key][0]} ({key[0]}/{key[1]})")
        out[key] = (path, read_lines(path))
    return out
