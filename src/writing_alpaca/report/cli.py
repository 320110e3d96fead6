"""``writing-alpaca render ARTEFACT``: one sub-command per artefact, its input files by kind.

Every kind of input file has its option (:data:`INPUT_KINDS`; the option is the kind's name,
``decode_metrics`` -> ``--decode-metrics``, as the rules' named inputs in
workflow/rules/render.smk are), and each artefact takes the kinds :data:`ARTEFACT_INPUTS` lists.
A kind the artefact does not take, a required kind left out, a file that does not exist: each
is one error naming the option (and the file).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WritingAlpacaError
from ..io import parse_json_object
from .cases import render_table6, render_table8
from .figures import render_cost_quality, render_figure1, render_training
from .inputs import Context, load_json_object
from .tables import render_table2, render_table3, render_table4, render_table5, render_table7

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputKind:
    """A kind of input file: what the workflow gives for it, whether it is one file or many, and
    for JSON kinds the fields of which a file of the kind has at least one (its signature: a file
    given under another kind's option is an error, not a run that matches nothing)."""

    help: str
    many: bool = True
    fields: tuple[str, ...] = ()

    @staticmethod
    def option(kind: str) -> str:
        return "--" + kind.replace("_", "-")


# The kinds of input, by name (the rules' named inputs); the files are where the workflow writes them.
INPUT_KINDS: dict[str, InputKind] = {
    "scores": InputKind("results/scores/{system}/{decoding}/{dataset}.json (score dataset)", fields=("score", "f0.5")),
    "decode_metrics": InputKind(
        "results/outputs/{system}/{decoding}/{dataset}.metrics.json (decode)",
        fields=("instances_per_second", "instances"),
    ),
    "train_metrics": InputKind(
        "results/models/{system} directories (or their train_metrics.json)", fields=("gpu_hours",)
    ),
    "edits": InputKind(
        "results/analysis/{system}/{decoding}/{dataset}.edits.json (analyse edits)", fields=("edits", "entity")
    ),
    "data": InputKind("results/data/test/{dataset}.jsonl (normalised test records)"),
    "outputs": InputKind("results/hypotheses/{system}/{decoding}/{dataset}.txt (post-processed outputs)"),
    "free_outputs": InputKind("results/outputs/{system}/{decoding}/free/{table}.txt (answers to free instructions)"),
    "bootstrap": InputKind("results/analysis/bootstrap/{table}/{dataset}.json (analyse bootstrap)", fields=("pairs",)),
    "instructions": InputKind("results/instructions/{mixture}.jsonl (the mixture)", many=False),
    "counts": InputKind("results/instructions/{mixture}.counts.json (the mixture's counts)", many=False),
    "published": InputKind(
        "published rows YAML (default: the spec's 'published', workflow/resources/published_table5.yaml)", many=False
    ),
    "paper": InputKind("the paper's numbers YAML (workflow/resources/paper_results.yaml)", many=False),
    "benchmarks": InputKind("results/benchmarks/{stage}/{rule}[/{wildcard}={value}...].tsv (Snakemake benchmarks)"),
    "logs": InputKind("results/logs/{system} (a trainer's TensorBoard event files, training.report_to)", many=False),
}
# The kinds each artefact takes: kind -> required (the option must be given, even with no files).
_COST_INPUTS = {"scores": True, "decode_metrics": True, "train_metrics": True}
ARTEFACT_INPUTS: dict[str, dict[str, bool]] = {
    "table2": {"data": True},
    "table3": {"instructions": False, "counts": False},  # one of them; the counts when both are given
    "table4": {"scores": True, "bootstrap": False},
    "table5": {"scores": True, "published": False},
    "table7": _COST_INPUTS,
    "figure1": {"edits": True},
    "cost_quality": _COST_INPUTS,
    "table6": {"data": True, "outputs": True, "free_outputs": False},
    "table8": {"edits": True},
    # this run's Tables 4, 5 and 7 beside the paper's numbers (writing_alpaca.paper)
    "table4_vs_paper": {"scores": True, "paper": True},
    "table5_vs_paper": {"scores": True, "paper": True},
    "table7_vs_paper": {**_COST_INPUTS, "paper": True},
    # what the run cost, per stage and per system (writing_alpaca.costs)
    "costs": {"benchmarks": True},
    # a trained system's model card with this run's scores (writing_alpaca.cards; --spec {"system": NAME})
    "card": {"train_metrics": True, "scores": True},
    # one trained system's loss and learning rate against the step (its TensorBoard scalars)
    "training": {"logs": True, "train_metrics": False},
}
ARTEFACT_HELP = {
    "table2": "Table 2: test sets (task, dataset, abbreviation, metric, size)",
    "table3": "Table 3: training data of a mixture (task, dataset, size)",
    "table4": "Table 4: systems x the ten test sets, grouped by task, with Avg. (and significance marks)",
    "table5": "Table 5: our systems beside published LLM and SOTA numbers",
    "table7": "Table 7: GEC #Data, P/R/F0.5, training GPU hours (CPU hours for CPU runs) and inference speed",
    "figure1": "Figure 1: edits per action (insert/replace/delete) of each system + entity-touching corrections",
    "cost_quality": "Figure: F0.5 against training GPU-hours (CPU hours for CPU runs) and inference instances/s",
    "table6": "Table 6: case study, outputs of two systems (with / without generic data) on seeded inputs and free instructions",
    "table8": "Table 8: case study, seeded entity-touching corrections of the Figure-1 systems",
    "table4_vs_paper": "Table 4 beside the paper's: ours, the paper's and the difference per cell",
    "table5_vs_paper": "Table 5 beside the paper's: ours, the paper's and the difference per cell",
    "table7_vs_paper": "Table 7 beside the paper's: P/R/F0.5, GPU-hours, inst./s, ours vs the paper's",
    "costs": "Costs: wall time, CPU time and peak memory of the run's jobs per stage and per system (Snakemake benchmarks)",
    "card": "Model card of one trained system (--train-metrics: its directory) with this run's scores: PREFIX.md",
    "training": "Training curves of one system: loss and learning rate against the step, from its TensorBoard logs",
}
#: artefacts rendered without a tables.<name> entry (--spec)
NO_SPEC = ("costs", "training")


def _json_arg(value: str | None, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    return parse_json_object(value, what)


def _given(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def check_kind(artefact: str, kind: str, path: Path) -> None:
    """``path`` exists and, for a JSON kind, has the kind's signature (:attr:`InputKind.fields`)."""
    option, fields = InputKind.option(kind), INPUT_KINDS[kind].fields
    if not path.exists():
        raise WritingAlpacaError(f"{artefact} {option} {path}: no such file or directory")
    if fields:
        obj = load_json_object(path / "train_metrics.json" if path.is_dir() else path)
        if not any(f in obj for f in fields):
            raise WritingAlpacaError(
                f"{artefact} {option} {path}: not a file of this kind (it has none of the fields "
                f"{', '.join(map(repr, fields))}; expected {INPUT_KINDS[kind].help})"
            )


def collect_inputs(artefact: str, args: argparse.Namespace) -> dict[str, Any]:
    """The artefact's input files by kind (a list, or one path or ``None`` for single-file kinds),
    each checked (:func:`check_kind`); an option of a kind the artefact does not take is an error."""
    takes = ARTEFACT_INPUTS[artefact]
    options = ", ".join(InputKind.option(k) for k in takes)
    if args.inputs is not None:
        raise WritingAlpacaError(
            f"{artefact}: --inputs (one mixed list) is no longer read; give the files by kind: {options}"
        )
    inputs: dict[str, Any] = {}
    for kind, spec in INPUT_KINDS.items():
        option, files = InputKind.option(kind), _given(getattr(args, kind))
        if kind not in takes:
            if getattr(args, kind) is not None:
                raise WritingAlpacaError(
                    f"{artefact} does not take {option} ({', '.join(files) or 'no files'}); its inputs: {options}"
                )
            continue
        paths = [Path(name) for name in files]
        for path in paths:
            check_kind(artefact, kind, path)
        inputs[kind] = paths if spec.many else (paths[0] if paths else None)
    return inputs


def cmd_render(args: argparse.Namespace) -> int:
    artefact = args.artefact
    spec = _json_arg(args.spec, "--spec")
    ctx = Context(
        systems=_json_arg(args.systems, "--systems"),
        test_sets=_json_arg(args.test_sets, "--test-sets"),
        tasks=_json_arg(args.tasks, "--tasks"),
    )
    inputs = collect_inputs(artefact, args)
    prefix = args.out_prefix
    if artefact == "table2":
        paths = render_table2(spec, ctx, inputs["data"], prefix)
    elif artefact == "table3":
        mixture = inputs["counts"] or inputs["instructions"]
        if mixture is None:
            raise WritingAlpacaError("table3: give --counts or --instructions (the mixture's counts or its JSONL)")
        paths = render_table3(spec, ctx, mixture, prefix, _json_arg(args.train_sets, "--train-sets"))
    elif artefact == "table4":
        paths = render_table4(spec, ctx, inputs["scores"], prefix, inputs["bootstrap"])
    elif artefact == "table5":
        paths = render_table5(spec, ctx, inputs["scores"], prefix, inputs["published"])
    elif artefact in ("table7", "cost_quality"):
        render_fn = render_table7 if artefact == "table7" else render_cost_quality
        extra = {"decodings": _json_arg(args.decodings, "--decodings")} if artefact == "table7" else {}
        paths = render_fn(
            spec, ctx, inputs["scores"], inputs["decode_metrics"], inputs["train_metrics"], prefix, **extra
        )
    elif artefact == "table6":
        paths = render_table6(spec, ctx, inputs["data"], inputs["outputs"], prefix, inputs["free_outputs"])
    elif artefact == "table8":
        paths = render_table8(spec, ctx, inputs["edits"], prefix)
    elif artefact.endswith("_vs_paper"):
        from .. import paper

        if artefact == "table7_vs_paper":
            paths = paper.render_table7_vs_paper(
                spec, ctx, inputs["scores"], inputs["decode_metrics"], inputs["train_metrics"], inputs["paper"], prefix
            )
        else:
            paths = paper.render_scores_vs_paper(artefact, spec, ctx, inputs["scores"], inputs["paper"], prefix)
    elif artefact == "costs":
        from .. import costs

        paths = costs.render_costs(ctx, inputs["benchmarks"], prefix)
    elif artefact == "card":
        from .. import cards

        paths = cards.render_scored_card(spec, ctx, inputs["train_metrics"], inputs["scores"], prefix)
    elif artefact == "training":
        metrics = inputs["train_metrics"]
        if len(metrics) > 1:
            raise WritingAlpacaError("training: one --train-metrics (the system's directory), got several")
        paths = render_training(ctx, args.system, inputs["logs"], prefix, metrics[0] if metrics else None)
    else:
        paths = render_figure1(spec, ctx, inputs["edits"], prefix)
    for path in paths:
        LOG.info("wrote %s", path)
    return 0


def _add_inputs(p: argparse.ArgumentParser, takes: Mapping[str, bool]) -> None:
    """One option per input kind; those the artefact does not take are hidden (and an error)."""
    for kind, spec in INPUT_KINDS.items():
        used = kind in takes
        p.add_argument(
            InputKind.option(kind),
            dest=kind,
            nargs="*" if spec.many else None,
            default=None,
            required=used and takes[kind],
            metavar="FILE",
            help=(spec.help + ("" if takes.get(kind) else " (optional)")) if used else argparse.SUPPRESS,
        )
    p.add_argument("--inputs", nargs="*", default=None, help=argparse.SUPPRESS)  # gone: an error naming the options


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render", help="render the paper's tables and figures (Markdown, LaTeX, CSV, PNG/PDF)"
    )
    sub = parser.add_subparsers(dest="artefact", metavar="ARTEFACT")
    sub.required = True
    for artefact, help_text in ARTEFACT_HELP.items():
        p = sub.add_parser(artefact, help=help_text, description=help_text)
        p.add_argument(
            "--spec", required=artefact not in NO_SPEC, help=f"JSON: the tables.<name> config entry of {artefact}"
        )
        p.add_argument("--out-prefix", required=True, help="output path without extension")
        p.add_argument("--systems", default=None, help="JSON: the config's systems block (labels)")
        p.add_argument("--test-sets", default=None, help="JSON: the config's test_sets block (titles, tasks, metrics)")
        p.add_argument("--tasks", default=None, help="JSON: the config's tasks block (task labels)")
        if artefact == "table3":
            p.add_argument(
                "--train-sets",
                default=None,
                help="JSON: the config's train_sets block (dataset titles, upstream sources)",
            )
        if artefact == "training":
            p.add_argument("--system", required=True, help="the trained system (systems.<name>)")
        if artefact == "table7":
            p.add_argument(
                "--decodings", default=None, help="JSON: the config's decodings block (when metrics lack beam/batch)"
            )
        _add_inputs(p, ARTEFACT_INPUTS[artefact])
        p.set_defaults(func=cmd_render)
