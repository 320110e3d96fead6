# Helpers shared by all rules (config validation, look-ups, target lists, resources).
# Rules stay thin: they resolve paths and config fragments here, and call `writing-alpaca`.

import json
import os
import shlex
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

WORKFLOW_ROOT = Path(workflow.basedir)


# --------------------------------------------------------------------------------------
# Validation: the whole config against writing_alpaca.settings, the one definition of every
# key that the jobs' commands parse their fragments with too. Every configuration a job
# would reject fails here, at `snakemake -n`, with one line per problem naming the key.
# --------------------------------------------------------------------------------------
# the package from this checkout (the Snakefile's own environment needs only pydantic besides snakemake)
sys.path.insert(0, str(WORKFLOW_ROOT / "src"))
from writing_alpaca import settings as S


def config_file_of(problem, files):
    """The config file (of `files`, the last one wins) that sets the key a problem line names
    (`decodings.beam4: unknown key 'num_beam'` -> the overlay holding decodings.beam4.num_beam),
    or None (a default, a cross-check, `--config`)."""
    import yaml

    key, _, message = problem.partition(": ")
    path = key.split(".")
    unknown = re.match(r"unknown key '([^']+)'", message)
    if unknown:
        path.append(unknown.group(1))
    for file in reversed(files):
        try:
            node = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        for part in path:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            return file
    return None


def validate_config(cfg):
    """The configuration as `settings.Config` (types, bounds, defaults and every cross-field rule),
    or a WorkflowError listing every problem, one line each, with the config file that sets it."""
    try:
        return S.validate_config(cfg)
    except S.SettingsError as exc:
        # the workflow's own config.yaml is read first, the --configfile overlays on top of it
        files = [str(f) for f in getattr(workflow, "configfiles", [])]
        default = [f for f in files if Path(f).resolve() == (WORKFLOW_ROOT / "config.yaml").resolve()]
        ordered = default + [f for f in files if f not in default]

        def located(problem):
            where = config_file_of(problem, ordered)
            return f"{problem} (in {where})" if where else problem

        lines = [f"  {located(p)}" for p in exc.problems[:20]]
        more = f"\n  ... and {len(exc.problems) - 20} more" if len(exc.problems) > 20 else ""
        raise WorkflowError("invalid configuration:\n" + "\n".join(lines) + more) from None


SETTINGS = validate_config(config)

# Provenance: a base model or source the artefacts take at a branch or tag (not a commit) can change
# under the run. A warning, not an error (a user may need `main`); jobs on a cluster parse this file
# again, and stay quiet (docs/PAPER.md, "Provenance: pinned and unpinned revisions").
if getattr(workflow, "is_main_process", False):  # (tests load these helpers with a stand-in workflow)
    from snakemake.logging import logger

    for _line in S.revision_warnings(SETTINGS):
        logger.warning(f"unpinned revision: {_line}")


# --------------------------------------------------------------------------------------
# Code versions: every rule's `code` param is the version of the package code its command may
# run (writing_alpaca.codehash), so editing a scorer reruns the score jobs and what reads them,
# and nothing else; comments, docstrings and layout rerun nothing. Kept in .snakemake/ beside
# this workflow for the exact package source (building the graph takes seconds).
# --------------------------------------------------------------------------------------
from writing_alpaca import codehash

#: the function each `writing-alpaca` command of a rule runs (tests/test_codehash.py checks this
#: against the CLI's own parser and every rule's shell command)
COMMAND_FUNCTIONS = {
    "download": "writing_alpaca.download:_run",
    "fetch-model": "writing_alpaca.hub:_run",
    "data test": "writing_alpaca.data:cmd_test",
    "data train": "writing_alpaca.data:cmd_train",
    "data free": "writing_alpaca.data:cmd_free",
    "format": "writing_alpaca.format:cmd_format",
    "rehearsal standins": "writing_alpaca.rehearsal:_cmd_standins",
    "model build-tiny": "writing_alpaca.model:_cmd_build_tiny",
    "baselines build-tiny": "writing_alpaca.baselines:_build_tiny",
    "train": "writing_alpaca.train:_cmd_train",
    "baselines train": "writing_alpaca.baselines:_train",
    "decode": "writing_alpaca.decode:_cmd_decode",
    "baselines decode": "writing_alpaca.baselines:_decode",
    "score dataset": "writing_alpaca.score:_cmd_dataset",
    "analyse edits": "writing_alpaca.analyse:cmd_edits",
    "analyse bootstrap": "writing_alpaca.analyse:cmd_bootstrap",
    "render": "writing_alpaca.report.cli:cmd_render",
}
_CODE_VERSIONS = codehash.VersionCache(WORKFLOW_ROOT / ".snakemake" / "writing-alpaca" / "code-versions.json")


def code_version(command):
    """The version of the code `writing-alpaca COMMAND ...` runs (COMMAND: its leading words)."""
    words = command.split()
    for n in range(len(words), 0, -1):
        entry = COMMAND_FUNCTIONS.get(" ".join(words[:n]))
        if entry:
            return _CODE_VERSIONS.get(entry)
    raise WorkflowError(f"code_version: no entry for `writing-alpaca {command}` in COMMAND_FUNCTIONS (common.smk)")


def dir_state(*paths):
    """The state of directories a job reads (a model, a trained system): sha256 over every file's
    path, size and modification time. Snakemake dates a directory() output by its own timestamp
    file only, so a file changed inside (a swapped adapter) would rerun nothing; as a `params`
    entry it does (params are evaluated when the job runs, after the directory was written, and
    compared on every later run). Stat calls only: no weights are read."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        root = Path(path)
        digest.update(f"{path}\0".encode())
        if not root.is_dir():
            digest.update(b"absent\0")
            continue
        for file in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"):
            st = file.stat()
            digest.update(f"{file.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]


def tiny_command(wildcards):
    """The command that builds a tiny base model of its kind (LLaMA; or a baseline's RoBERTa / T5)."""
    kind = config["base_models"][wildcards.base]["kind"]
    return "model build-tiny" if kind == "causal_lm" else f"baselines build-tiny --kind {kind}"


def table_decodings(cfg):
    """Every table with systems decodes with the top-level `decoding` unless it names its own."""
    for spec in cfg["tables"].values():
        if "systems" in spec:
            spec.setdefault("decoding", cfg["decoding"])


table_decodings(config)


# --------------------------------------------------------------------------------------
# Look-ups
# --------------------------------------------------------------------------------------
def as_json(obj):
    """A config fragment as compact JSON for the command line (quote it with `:q`)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def alternatives(names):
    """A wildcard constraint that matches exactly one of the given names."""
    names = sorted(names)
    if not names:
        return "(?!x)x"  # matches nothing
    return "|".join(re.escape(n) for n in names)


# `file:relative/path` URLs stay relative in the download jobs' params (so a checkout moved or
# cloned elsewhere reruns nothing: the files are pinned by sha256), and `writing-alpaca download`
# resolves them (writing_alpaca.download.resolve_source_urls): those into `resources/` (the
# rehearsal's stand-ins) against the working directory, the others (demo/data, ../shared beside
# the checkout) against the workflow's root, which every job finds in this variable.
# (set here, not required from the user: so not an `envvars:` entry; writing_alpaca.download.WORKFLOW_ROOT_ENV)
os.environ.update({"WRITING_ALPACA_WORKFLOW_ROOT": str(WORKFLOW_ROOT)})


def workflow_file(path):
    """A file shipped with the workflow (relative paths are relative to its root)."""
    return str(WORKFLOW_ROOT / path) if not Path(path).is_absolute() else path


def source_spec(name):
    # keys set to null (e.g. by the demo overlay, which cannot delete keys) are dropped
    spec = {k: v for k, v in config["sources"][name].items() if v is not None}
    return spec


def source_dir(name):
    return f"resources/downloads/{name}"


# The rehearsal's stand-ins, generated by rehearsal_standin in workflow/rules/rehearsal.smk; files
# that `download` reads through `file:resources/rehearsal/<kind>/...` URLs (rehearsal/config.yaml).
STANDIN_ROOT = "resources/rehearsal"
# writing_alpaca.rehearsal.KINDS (tests/test_rehearsal.py checks the two agree)
STANDIN_KINDS = ["wnc", "wikilarge", "iterater_v2", "alpaca", "alpaca_gpt4", "clang8"]


def standin_inputs(source):
    """The stand-in directories a source's `file:resources/rehearsal/<kind>/...` URLs point into
    (none for the paper and the demo)."""
    prefix = f"file:{STANDIN_ROOT}/"
    kinds = set()
    for entry in config["sources"][source].get("files") or []:
        url = entry.get("url") or ""
        if url.startswith(prefix):
            kind = url[len(prefix) :].split("/", 1)[0]
            if kind not in STANDIN_KINDS:
                raise WorkflowError(
                    f"sources.{source}: {url} points into {STANDIN_ROOT}/{kind}, which no rule writes "
                    f"(stand-ins: {', '.join(STANDIN_KINDS)})"
                )
            kinds.add(kind)
    return [f"{STANDIN_ROOT}/{kind}" for kind in sorted(kinds)]


def test_set(name):
    return config["test_sets"][name]


# Keys only the renderers read (render_context): kept out of the data jobs' --spec, so that a
# table's naming (Table 2's corpus and abbreviation, Table 3's dataset titles) reruns no data
# preparation, nor anything downstream of it. (`title` of a test set has always reached them.)
DISPLAY_KEYS = {"test_sets": ("dataset", "abbrev"), "train_sets": ("title",)}


def data_spec(block, name):
    """The `test_sets`/`train_sets` entry a data job reads: without the display-only keys."""
    return {k: v for k, v in config[block][name].items() if k not in DISPLAY_KEYS[block]}


def is_m2_set(name):
    return test_set(name)["format"] == "m2"


M2_SETS = [n for n in config["test_sets"] if is_m2_set(n)]
TEXT_SETS = [n for n in config["test_sets"] if not is_m2_set(n)]


def system(name):
    return config["systems"][name]


def systems_where(**conditions):
    def ok(s):
        for key, allowed in conditions.items():
            if s.get(key) not in allowed:
                return False
        return True

    return [n for n, s in config["systems"].items() if ok(s)]


TRAINED_LM = systems_where(kind={"causal_lm"}, method={"lora", "full"})
UNTRAINED_LM = systems_where(kind={"causal_lm"}, method={"none"})
BASELINES = systems_where(kind={"seq2seq", "gector"})
BUILT_BASES = [n for n, b in config["base_models"].items() if "build_tiny" in b]
# decodings by backend: `vllm` ones run in envs/vllm.yaml (rules decode_vllm, decode_free_vllm)
VLLM_DECODINGS = [n for n, d in SETTINGS.decodings.items() if d.backend == "vllm"]
HF_DECODINGS = [n for n in config["decodings"] if n not in VLLM_DECODINGS]
HUB_BASES = [n for n, b in config["base_models"].items() if "hub" in b]


def base_model_dir(base):
    spec = config["base_models"][base]
    if "path" in spec:
        return spec["path"]
    return f"resources/models/{base}"


def system_dir(name):
    """The directory `decode` reads: a trained run, or the base model for untuned systems."""
    if system(name)["method"] == "none":
        return base_model_dir(system(name)["base"])
    return f"results/models/{name}"


def decoding_for(decoding):
    """A decoding setting; decoders write what the system answered, `score` post-processes it."""
    return dict(config["decodings"][decoding])


def hypothesis_file(system_name, decoding, dataset):
    """A system's answers post-processed for the test set's scorer (written by rule `score`);
    every consumer of outputs (scores, bootstrap, edit analysis, case studies) reads it."""
    return f"results/hypotheses/{system_name}/{decoding}/{dataset}.txt"


def postprocess_flag(dataset):
    tokenizer = test_set(dataset).get("postprocess")
    return f"--postprocess {tokenizer}" if tokenizer else ""


# The keys of `training:` (besides `baselines.<kind>`) that the baselines' trainers read.
BASELINE_TRAINING_KEYS = ("precision", "report_to")


def training_for(name):
    """The part of `training:` a system's trainer reads, with its own overrides (its DeepSpeed
    stage; its step budget `systems.<name>.training: {epochs|max_steps}`, which replaces
    `training.max_steps`).

    Snakemake reruns a job whose params changed, so each system gets only what it reads:
    editing a GECToR setting does not retrain the LLMs, nor a LoRA setting the baselines or
    the fully fine-tuned LLMs, nor `training.max_steps` the systems with their own budget.
    """
    block = json.loads(json.dumps(config["training"]))
    baselines = block.pop("baselines", None) or {}
    kind, method = system(name)["kind"], system(name)["method"]
    if kind == "causal_lm":
        if method == "full":
            block.pop("lora", None)
        if isinstance(block.get("learning_rate"), dict) and method in block["learning_rate"]:
            block["learning_rate"] = {method: block["learning_rate"][method]}
        if "deepspeed" in system(name):
            block["deepspeed"] = S.system_deepspeed(SETTINGS, name).model_dump()
        if "training" in system(name):
            for key in ("max_steps", "epochs"):
                block.pop(key, None)
            block.update(system(name)["training"])
    else:
        block = {key: block[key] for key in BASELINE_TRAINING_KEYS if key in block}
        block["baselines"] = {kind: baselines.get(kind) or {}}
    block["seed"] = config["seed"]
    return block


def mixture_train_sets(mixture):
    """A mixture's train sets: the generic one first, then the writing ones (Table 3's order)."""
    mix = config["mixtures"][mixture]
    return ([mix["generic"]] if mix.get("generic") else []) + list(mix["writing"])


def train_set_inputs(mixture):
    return [f"results/data/train/{n}.jsonl" for n in mixture_train_sets(mixture)]


# --------------------------------------------------------------------------------------
# Resources: config.resources.<group>, with a system's own `resources:` for training.
# --------------------------------------------------------------------------------------
def group_resources(group, system_name=None):
    return S.merged_resources(SETTINGS, group, system_name)


def res(group, key, per_system=False):
    """A resource callable for a rule's `resources:`/`threads:` directives."""
    if per_system:
        return lambda wildcards: group_resources(group, wildcards.system)[key]
    return group_resources(group)[key]


# torchrun passes these signals on to its workers (SIGUSR1: `sbatch --signal=USR1@120`), then
# gives them this many seconds to save a checkpoint before SIGKILL.
TORCHRUN_SIGNALS = "--signals-to-handle SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1 --shutdown-timeout 300"


def launcher(wildcards):
    """`writing-alpaca`, or torchrun over the job's GPUs when it has more than one.

    `gpu` is the job's total GPU count (SLURM `--gpus`), spread evenly over `nodes`;
    multi-node runs start one torchrun per node and rendezvous on the allocation's first node.
    """
    r = group_resources("train", wildcards.system)
    gpus, nodes = int(r.get("gpu", 0)), int(r.get("nodes", 1))
    if gpus <= 1 and nodes <= 1:
        return "writing-alpaca"
    if nodes <= 1:
        return f"torchrun --standalone --nproc_per_node {gpus} {TORCHRUN_SIGNALS} -m writing_alpaca"
    # gpu is a multiple of nodes: settings.cross_checks refused any other config at DAG time
    return (
        # the job step itself is one task on one node: --overlap lets this step share its resources
        f"srun --overlap --nodes {nodes} --ntasks {nodes} --ntasks-per-node 1 torchrun --nnodes {nodes} --nproc_per_node {gpus // nodes} {TORCHRUN_SIGNALS} "
        "--rdzv_backend c10d --rdzv_id $SLURM_JOB_ID "
        '--rdzv_endpoint "$(scontrol show hostnames $SLURM_JOB_NODELIST | head -n1):29500" '
        "-m writing_alpaca"
    )


def checkpoint_dir(system_name):
    """Where a training run checkpoints: outside its declared output, which Snakemake deletes
    before re-running a failed job; the run resumes from here and removes it on success."""
    return f"results/checkpoints/{system_name}"


# Tokenised training sets, shared by the training jobs (one build per tokenizer, data and
# settings: LLaMA-7B-GEC and LLaMA-13B-GEC tokenise cLang-8 once), kept for retries and reruns;
# not a declared output (its content is keyed by what it holds): delete it when no job runs.
TOKENISED_CACHE = "results/cache/tokenised"


def logging_dir(system_name):
    """Where a training run's TensorBoard event files go (training.report_to): outside its declared
    output, so that a resumed run appends to them; one directory per system (a fresh run empties it)."""
    return f"results/logs/{system_name}"


# --------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------
TABLE_FORMATS = ["md", "tex", "csv"]
FIGURE_FORMATS = ["png", "pdf", "csv"]


# Tables whose numbers the paper prints (config `paper_results`): each has a `<table>_vs_paper`
# companion with this run's value, the paper's and the difference per cell.
PAPER_TABLES = ("table4", "table5", "table7")
# The report's menu sorts categories alphabetically (snakemake/report/html_reporter/template/
# components/menu.js: localeCompare): "Comparison with the paper" comes before "Figures" and "Tables".
PAPER_CATEGORY = "Comparison with the paper"


def table_targets():
    return [
        f"results/tables/{t}.{ext}"
        for t in ("table2", "table3", "table4", "table5", "table7", *(f"{p}_vs_paper" for p in PAPER_TABLES))
        for ext in TABLE_FORMATS
    ]


def paper_results_file():
    return workflow_file(config["paper_results"])


def figure_targets():
    return [
        f"results/figures/{f}.{ext}" for f in ("figure1", "cost_quality") for ext in FIGURE_FORMATS
    ] + training_figure_targets()


def table_systems():
    """The systems some table (or figure) shows, in the config's order: those the DAG builds."""
    shown = {s for spec in config["tables"].values() if isinstance(spec, dict) for s in spec.get("systems") or []}
    return [s for s in config["systems"] if s in shown]


# Each trained system's training curves (the render_training rule) are drawn from its TensorBoard
# logs; there are none unless training.report_to has tensorboard.
TRAINING_CURVES = [s for s in table_systems() if system(s)["method"] != "none"]


def training_figure_targets():
    if "tensorboard" not in SETTINGS.training.report_to:
        return []
    return [f"results/figures/training/{s}.{ext}" for s in TRAINING_CURVES for ext in FIGURE_FORMATS]


def artefact_targets():
    """Every table and figure of the paper and the trained systems' model cards: what the costs
    table (cost_targets) measures."""
    return table_targets() + case_table_targets() + figure_targets() + card_targets()


def all_targets():
    return artefact_targets() + cost_targets()


def score_files(table):
    spec = config["tables"][table]
    return [f"results/scores/{s}/{spec['decoding']}/{ds}.json" for s in spec["systems"] for ds in spec["test_sets"]]


def decode_metric_files(table):
    spec = config["tables"][table]
    return [
        f"results/outputs/{s}/{spec['decoding']}/{ds}.metrics.json" for s in spec["systems"] for ds in spec["test_sets"]
    ]


def train_metric_files(table):
    return [f"results/models/{s}" for s in config["tables"][table]["systems"] if system(s)["method"] != "none"]


def edit_files(table):
    spec = config["tables"][table]
    return [
        f"results/analysis/{s}/{spec['decoding']}/{ds}.edits.json" for s in spec["systems"] for ds in spec["test_sets"]
    ]


# --------------------------------------------------------------------------------------
# Rule inputs and parameters
# --------------------------------------------------------------------------------------
def tiny_corpus(wildcards):
    spec = config["base_models"][wildcards.base]["build_tiny"]
    return [f"results/data/train/{ts}.jsonl" for ts in spec.get("corpus_from", [])]


def decode_inputs(wildcards):
    return {
        "data": f"results/data/test/{wildcards.dataset}.jsonl",
        "model": system_dir(wildcards.system),
    }


def score_inputs(wildcards):
    inputs = {
        "data": f"results/data/test/{wildcards.dataset}.jsonl",
        "hyp": f"results/outputs/{wildcards.system}/{wildcards.decoding}/{wildcards.dataset}.txt",
    }
    if is_m2_set(wildcards.dataset):
        inputs["m2"] = f"results/data/test/{wildcards.dataset}.m2"
    return inputs


def table_outputs(name, category="Tables"):
    """Markdown, LaTeX and CSV of a table; the CSV goes into the Snakemake report."""
    prefix = f"results/tables/{name}"
    return {
        "md": f"{prefix}.md",
        "tex": f"{prefix}.tex",
        "csv": report(f"{prefix}.csv", caption=f"../report/{name}.rst", category=category),
    }


def figure_outputs(name):
    """PNG, PDF and the plotted numbers (CSV) of a figure; the PNG goes into the report."""
    prefix = f"results/figures/{name}"
    return {
        "png": report(f"{prefix}.png", caption=f"../report/{name}.rst", category="Figures"),
        "pdf": f"{prefix}.pdf",
        "csv": f"{prefix}.csv",
    }


def training_figure_outputs():
    """A system's training curves (PNG, PDF, CSV); the PNG goes into the report, one per system."""
    prefix = "results/figures/training/{system}"
    return {
        "png": report(
            f"{prefix}.png", caption="../report/training.rst", category="Training", labels={"system": "{system}"}
        ),
        "pdf": f"{prefix}.pdf",
        "csv": f"{prefix}.csv",
    }


def render_context(table):
    """Only what a renderer prints: labels of the table's systems, titles of its test sets."""
    spec = config["tables"][table]
    systems = {s: {k: system(s)[k] for k in ("label", "kind", "method")} for s in spec.get("systems", [])}
    test_sets = {
        d: {k: test_set(d)[k] for k in ("title", "dataset", "abbrev", "task", "metric") if k in test_set(d)}
        for d in spec.get("test_sets", config["tables"]["table2"]["test_sets"])
    }
    tasks = {t: {"label": v.get("label", t)} for t, v in config["tasks"].items()}
    if "mixture" in spec:  # Table 3: its mixture's train sets (dataset titles, upstream sources)
        names = mixture_train_sets(spec["mixture"])
        spec = dict(
            spec,
            train_sets={
                n: {k: config["train_sets"][n][k] for k in ("title", "task", "source") if k in config["train_sets"][n]}
                for n in names
            },
        )
    return spec, systems, test_sets, tasks


def render_params(artefact, table):
    # JSON goes through functions: Snakemake would read its braces as wildcards in plain strings
    spec, systems, test_sets, tasks = render_context(table)
    return dict(
        artefact=artefact,
        prefix=lambda wildcards, output: os.path.splitext(output[0])[0],
        spec=lambda wildcards: as_json(spec),
        systems=lambda wildcards: as_json(systems),
        test_sets=lambda wildcards: as_json(test_sets),
        tasks=lambda wildcards: as_json(tasks),
    )


# --------------------------------------------------------------------------------------
# Significance (rule bootstrap) and the case-study Tables 6 and 8
# --------------------------------------------------------------------------------------
# Tables whose systems are compared by paired bootstrap on each of their test sets.
SIGNIFICANCE_TABLES = [t for t, spec in config["tables"].items() if spec.get("significance")]
BOOTSTRAP_DEFAULTS = {"samples": 1000, "alpha": 0.05}


def significance(table, key):
    return config["tables"][table]["significance"].get(key, BOOTSTRAP_DEFAULTS.get(key))


def bootstrap_files(table):
    """results/analysis/bootstrap/{table}/{dataset}.json of every test set (none without `significance`)."""
    if table not in SIGNIFICANCE_TABLES:
        return []
    return [f"results/analysis/bootstrap/{table}/{ds}.json" for ds in config["tables"][table]["test_sets"]]


def bootstrap_inputs(wildcards):
    spec = config["tables"][wildcards.table]
    inputs = {
        "data": f"results/data/test/{wildcards.dataset}.jsonl",
        "hyps": [hypothesis_file(s, spec["decoding"], wildcards.dataset) for s in spec["systems"]],
    }
    if is_m2_set(wildcards.dataset):
        inputs["m2"] = f"results/data/test/{wildcards.dataset}.m2"
    return inputs


def bootstrap_hyps(wildcards, input):
    """`SYSTEM=PATH` arguments of `analyse bootstrap --hyps`, quoted for the shell."""
    systems = config["tables"][wildcards.table]["systems"]
    return " ".join(shlex.quote(f"{s}={path}") for s, path in zip(systems, input.hyps))


def output_files(table):
    spec = config["tables"][table]
    return [hypothesis_file(s, spec["decoding"], ds) for s in spec["systems"] for ds in spec["test_sets"]]


def test_data_files(table):
    return [f"results/data/test/{ds}.jsonl" for ds in config["tables"][table]["test_sets"]]


# Free instructions (`tables.table6.instructions`, the paper's "Tell me about panda."): written as
# records by rule free_instructions, answered by rule decode_free with the no-input template.
FREE_TABLES = [t for t in ("table6",) if config["tables"][t].get("instructions")]


def free_output_files(table):
    """Answers of a table's systems to its free instructions (none without `instructions`)."""
    if table not in FREE_TABLES:
        return []
    spec = config["tables"][table]
    return [f"results/outputs/{s}/{spec['decoding']}/free/{table}.txt" for s in spec["systems"]]


# Table 8 samples the figure1 systems' entity-touching corrections; Table 6 has its own systems.
CASE_TABLES = {"table6": "table6", "table8": "figure1"}


def case_table_targets():
    return [f"results/tables/{t}.{ext}" for t in CASE_TABLES for ext in TABLE_FORMATS]


def case_render_params(artefact):
    """render_params of a case-study table: its base table's spec with its own options and the seed."""
    params = render_params(artefact, CASE_TABLES[artefact])
    spec = dict(config["tables"][CASE_TABLES[artefact]], **config["tables"][artefact], seed=config["seed"])
    params["spec"] = lambda wildcards: as_json(spec)
    return params


# --------------------------------------------------------------------------------------
# Costs: every rule that does work has a benchmark file (Snakemake's wall time, CPU time and
# peak memory of the job), results/benchmarks/<stage>/<rule>/...; rule render_costs tabulates
# those of every job the artefacts take (results/tables/costs.*).
# --------------------------------------------------------------------------------------
BENCHMARK_ROOT = "results/benchmarks"
# Rules that only collect targets: no job of theirs runs anything, so none has a benchmark.
AGGREGATOR_RULES = {"all"}


def benchmark_file(stage, rule_name, *wildcards):
    """A rule's `benchmark:`, one file per job: results/benchmarks/<stage>/<rule>.tsv, or with the
    rule's wildcards (all of them, in this order) .../<stage>/<rule>/<wildcard>=<value>/....tsv.

    `writing-alpaca render costs` reads the stage, the rule and the `system=` from this path;
    the rule's name is given, not inherited, so that a rule derived by `use rule` names its own file
    (tests/test_costs.py checks every rule's against its name)."""
    if not wildcards:
        return f"{BENCHMARK_ROOT}/{stage}/{rule_name}.tsv"
    parts = [f"{w}={{{w}}}" for w in wildcards]
    return f"{BENCHMARK_ROOT}/{stage}/{rule_name}/{'/'.join(parts)}.tsv"


def cost_targets():
    return [f"results/tables/costs.{ext}" for ext in TABLE_FORMATS]


def dag_jobs(targets):
    """The jobs that building `targets` takes, as {(name, sorted wildcard items): Rule}.

    Found as Snakemake finds them, from the rules themselves: a file's producer by the rules'
    output patterns (with their wildcard constraints), the producer's inputs by its own input
    functions, recursively. A file no rule writes (the workflow's own resources, a base model's
    `path`) ends its branch. Used for render_costs's inputs: a benchmark file of a job outside
    the DAG would pull that job in, a missing one would leave a job out of the costs."""
    jobs, seen, todo = {}, set(), [str(t) for t in targets]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        producers = [r for r in workflow.rules if r.name not in AGGREGATOR_RULES and r.is_producer(path)]
        if not producers:
            continue
        if len(producers) > 1:
            raise WorkflowError(
                f"costs: {path} matches the outputs of several rules ({', '.join(r.name for r in producers)}); "
                "their wildcard constraints must tell them apart"
            )
        producer = producers[0]
        wildcards = producer.get_wildcards(path) or {}
        key = (producer.name, tuple(sorted(wildcards.items())))
        if key in jobs:
            continue
        jobs[key] = producer
        todo.extend(str(f) for f in producer.expand_input(wildcards)[0])
    return jobs


def benchmark_files(wildcards=None):
    """Rule render_costs's inputs: the benchmark file of every job of the artefacts' DAG (its
    own is not one: the costs table cannot measure itself)."""
    files = set()
    for (name, wc), producer in dag_jobs(artefact_targets()).items():
        if producer.benchmark is None:
            raise WorkflowError(
                f"costs: {name} declares no benchmark file (every rule that does work needs one, "
                "`benchmark: benchmark_file(stage, rule_name, *wildcards)`, for results/tables/costs.*)"
            )
        files.add(str(producer.expand_benchmark(dict(wc))))
    return sorted(files)


def costs_systems():
    """What the costs table prints of the systems: their labels, in the config's order."""
    return {name: {"label": spec["label"]} for name, spec in config["systems"].items()}


# ---- model cards (writing_alpaca.cards): train.smk passes card_spec, render.smk renders the scores
def card_spec(name):
    """What a trained system's model card needs from the config, which its trainer cannot know
    (`--card`): the base model (name, Hub id, revision used, licence) and the mixture's train sets
    with their sources' licences, revisions, the URLs of the files they read and sample sizes.
    Display-only keys (labels, titles) stay out: the train job reruns when its params change;
    rule render_card adds the label when it renders the card with the scores."""
    spec = system(name)
    base = config["base_models"][spec["base"]]
    train_sets = []
    for ts in mixture_train_sets(spec["mixture"]) if spec.get("mixture") else []:
        entry = config["train_sets"][ts]
        src = config["sources"][entry["source"]]
        files = [f for f in src.get("files") or [] if f.get("url")]
        read = {entry.get(k) for k in ("path", "src", "tgt")} | set(entry.get("paths") or [])
        # the files the train set reads, or the archives they come out of
        urls = [f["url"] for f in files if (f.get("name") or f["url"].rsplit("/", 1)[-1]) in read]
        train_sets.append(
            {
                "name": ts,
                "task": entry["task"],
                "source": entry["source"],
                "licence": src.get("licence"),
                "revision": src.get("revision"),
                "urls": urls or [f["url"] for f in files if f.get("extract")] or [f["url"] for f in files],
                "n": entry.get("n"),
                "gated": src.get("gated") is not None,
            }
        )
    hub = base.get("hub")
    return {
        "system": name,
        "base_model": {
            "name": spec["base"],
            "hub": hub,
            # what rule fetch_base_model asks the Hub for
            "revision": (base.get("revision") or "main") if hub else base.get("revision"),
            "path": base.get("path"),
            "built": base.get("build_tiny") is not None,
            "licence": base.get("licence"),
            "licence_id": base.get("licence_id"),
        },
        "mixture": spec.get("mixture"),
        "train_sets": train_sets,
    }


# The trained systems some table shows: each gets results/cards/<system>.md (rule render_card).
CARD_SYSTEMS = [s for s in table_systems() if system(s)["method"] != "none"]


def card_targets():
    return [f"results/cards/{s}.md" for s in CARD_SYSTEMS]


def system_score_files(name):
    """Every score file of a system that the config's tables take (each decoding, each test set)."""
    files = []
    for spec in config["tables"].values():
        if name in (spec.get("systems") or []):
            for ds in spec.get("test_sets") or []:
                path = f"results/scores/{name}/{spec['decoding']}/{ds}.json"
                if path not in files:
                    files.append(path)
    return files


def card_test_sets(name):
    """render_card's --test-sets: the titles, tasks and metrics of a system's test sets, with the
    licence and revision of their sources (the evaluation data's provenance)."""
    out = {}
    for path in system_score_files(name):
        ds = Path(path).stem
        entry, src = test_set(ds), config["sources"][test_set(ds)["source"]]
        out[ds] = {k: entry[k] for k in ("title", "task", "metric") if k in entry}
        out[ds].update(source=entry["source"], licence=src.get("licence"), revision=src.get("revision"))
    return out


# ---- used by train.smk
def task_prompts():
    """Every task's instruction (tasks.<task>.prompt), recorded in a trained LM's system.json."""
    return {task: spec["prompt"] for task, spec in config["tasks"].items()}


# ---- used by decode.smk
def prompt_args(name, task=None):
    """decode's prompting arguments. A trained system recorded the template and the task prompts in
    its system.json when the train rule ran, so it is given only the task's name. An untrained one (method none,
    a bare base model) is given the task's prompt and the template."""
    if system(name)["method"] != "none":
        return f"--task {shlex.quote(task)}" if task else ""
    task_prompt = f"--task-prompt {shlex.quote(config['tasks'][task]['prompt'])} " if task else ""
    return f"{task_prompt}--template {shlex.quote(as_json(config['template']))}"


# ---- used by render.smk
def inputs_by_kind(wildcards, input):
    """The rule's named inputs as `render` options, one per kind (`--scores A B --bootstrap C`),
    quoted for the shell; a kind without files (no significance test, no trained system) is
    passed with none, so that every rule states every kind its artefact takes."""
    options = []
    for kind, files in input.items():
        files = [files] if isinstance(files, str) else list(files)
        options.append(" ".join([f"--{kind.replace('_', '-')}", *(shlex.quote(str(f)) for f in files)]))
    return " ".join(options)
