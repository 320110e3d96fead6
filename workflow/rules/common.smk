# Helpers shared by all rules (config validation, look-ups, target lists, resources).
# Rules stay thin: they resolve paths and config fragments here, and call `writing-alpaca`.

import json
import os
import shlex
import re
from pathlib import Path

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError

WORKFLOW_ROOT = Path(workflow.basedir)
SCHEMA_PATH = WORKFLOW_ROOT / "workflow" / "schemas" / "config.schema.yaml"


# --------------------------------------------------------------------------------------
# Validation: the schema, then the cross-references the schema cannot express.
# --------------------------------------------------------------------------------------
def _config_path(error_path):
    return ".".join(str(p) for p in error_path) or "<top level>"


# Keys renamed since earlier versions of this workflow: the schema would only say "unexpected".
RENAMED_KEYS = {
    ("training", "bf16"): "renamed: use training.precision: auto|bf16|fp16|fp32 "
    "(bf16: auto -> precision: auto, true -> bf16, false -> fp32)",
}


def validate_config(cfg):
    renamed = [
        f"  {'.'.join(path)}: {why}"
        for path, why in RENAMED_KEYS.items()
        if isinstance(cfg.get(path[0]), dict) and path[1] in cfg[path[0]]
    ]
    if renamed:
        raise WorkflowError("invalid configuration:\n" + "\n".join(renamed))
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {_config_path(e.absolute_path)}: {e.message}" for e in errors[:10]]
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise WorkflowError("invalid configuration:\n" + "\n".join(lines) + more)

    problems = []

    def need(kind, name, where, pool):
        if name is not None and name not in pool:
            problems.append(f"  {where}: unknown {kind} '{name}' (known: {', '.join(sorted(pool))})")

    for name, ts in cfg["test_sets"].items():
        need("source", ts["source"], f"test_sets.{name}.source", cfg["sources"])
        need("task", ts["task"], f"test_sets.{name}.task", cfg["tasks"])
    for name, ts in cfg["train_sets"].items():
        need("source", ts["source"], f"train_sets.{name}.source", cfg["sources"])
        if ts["task"] != "generic":
            need("task", ts["task"], f"train_sets.{name}.task", cfg["tasks"])
    for name, mix in cfg["mixtures"].items():
        need("train set", mix.get("generic"), f"mixtures.{name}.generic", cfg["train_sets"])
        for ts in mix["writing"]:
            need("train set", ts, f"mixtures.{name}.writing", cfg["train_sets"])
    for name, base in cfg["base_models"].items():
        for ts in base.get("build_tiny", {}).get("corpus_from", []):
            need("train set", ts, f"base_models.{name}.build_tiny.corpus_from", cfg["train_sets"])
    for name, sysc in cfg["systems"].items():
        need("base model", sysc["base"], f"systems.{name}.base", cfg["base_models"])
        need("mixture", sysc.get("mixture"), f"systems.{name}.mixture", cfg["mixtures"])
        if sysc["method"] != "none" and not sysc.get("mixture"):
            problems.append(f"  systems.{name}: method '{sysc['method']}' needs a mixture")
        if "training" in sysc and (sysc["kind"] != "causal_lm" or sysc["method"] == "none"):
            problems.append(
                f"  systems.{name}.training: a step budget of its own is for trained causal_lm systems "
                f"(the baselines' is training.baselines.{sysc['kind']}.max_steps)"
            )
        base_kind = cfg["base_models"].get(sysc["base"], {}).get("kind")
        if base_kind and base_kind != sysc["kind"]:
            problems.append(f"  systems.{name}: kind '{sysc['kind']}' but base '{sysc['base']}' is '{base_kind}'")
    need("decoding", cfg["decoding"], "decoding", cfg["decodings"])
    for table, spec in cfg["tables"].items():
        for s in spec.get("systems", []):
            need("system", s, f"tables.{table}.systems", cfg["systems"])
        for ds in spec.get("test_sets", []):
            need("test set", ds, f"tables.{table}.test_sets", cfg["test_sets"])
        need("decoding", spec.get("decoding"), f"tables.{table}.decoding", cfg["decodings"])
        need("mixture", spec.get("mixture"), f"tables.{table}.mixture", cfg["mixtures"])
        if spec.get("instructions"):  # free instructions are decoded with the Alpaca template
            for s in spec.get("systems", []):
                if s in cfg["systems"] and cfg["systems"][s]["kind"] != "causal_lm":
                    problems.append(
                        f"  tables.{table}.instructions: system '{s}' is a {cfg['systems'][s]['kind']} baseline, "
                        "which answers no instruction (free instructions need causal_lm systems)"
                    )
        for s in spec.get("paper_rows", {}):
            if s not in spec.get("systems", []):
                problems.append(
                    f"  tables.{table}.paper_rows: '{s}' is not one of the table's systems "
                    f"({', '.join(spec.get('systems', []))})"
                )
        sig = spec.get("significance")
        if sig and sig["reference"] not in spec.get("systems", []):
            problems.append(
                f"  tables.{table}.significance.reference: '{sig['reference']}' is not one of the table's systems "
                f"({', '.join(spec.get('systems', []))})"
            )
    if problems:
        raise WorkflowError("invalid configuration:\n" + "\n".join(problems))


validate_config(config)


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


def resolve_url(url):
    """`file:relative/path` URLs in the config are relative to the workflow's root (demo/data,
    ../shared beside the checkout), those into `resources/` (the rehearsal's stand-ins, which
    rehearsal_standin in workflow/rules/rehearsal.smk writes first) to the working directory."""
    if url.startswith("file:") and not url.startswith("file:/"):
        relative = url[len("file:") :]
        base = Path.cwd() if relative.startswith("resources/") else WORKFLOW_ROOT
        return (base / relative).resolve().as_uri()
    return url


def workflow_file(path):
    """A file shipped with the workflow (relative paths are relative to its root)."""
    return str(WORKFLOW_ROOT / path) if not Path(path).is_absolute() else path


def source_spec(name):
    # keys set to null (e.g. by the demo overlay, which cannot delete keys) are dropped
    spec = {k: v for k, v in config["sources"][name].items() if v is not None}
    if spec.get("files"):
        # a licence-gated source lists the files to place by name only (no url)
        spec["files"] = [dict(f, url=resolve_url(f["url"])) if f.get("url") else f for f in spec["files"]]
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
BASELINE_TRAINING_KEYS = ("precision",)


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
            block["deepspeed"] = dict(block["deepspeed"], **system(name)["deepspeed"])
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
    res = dict(config["resources"][group])
    if system_name is not None and "resources" in system(system_name):
        res.update(system(system_name)["resources"])
    return res


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
    if gpus % nodes:
        raise WorkflowError(f"systems.{wildcards.system}.resources: gpu ({gpus}) must be a multiple of nodes ({nodes})")
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
    return [f"results/figures/{f}.{ext}" for f in ("figure1", "cost_quality") for ext in FIGURE_FORMATS]


def artefact_targets():
    """Every table and figure of the paper: what the costs table (cost_targets) measures."""
    return table_targets() + case_table_targets() + figure_targets()


def all_targets():
    return artefact_targets() + cost_targets()


def score_files(table):
    spec = config["tables"][table]
    return [
        f"results/scores/{s}/{spec['decoding']}/{ds}.json" for s in spec["systems"] for ds in spec["test_sets"]
    ]


def decode_metric_files(table):
    spec = config["tables"][table]
    return [
        f"results/outputs/{s}/{spec['decoding']}/{ds}.metrics.json"
        for s in spec["systems"]
        for ds in spec["test_sets"]
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
