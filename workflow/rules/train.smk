# Base models (fetched on the cluster, or built tiny for the demo) and training runs:
# LoRA / full fine-tuning of causal LMs, and the Table-7 seq2seq and GECToR baselines.


rule fetch_base_model:
    output:
        directory("resources/models/{base}"),
    log:
        "logs/models/fetch_{base}.log",
    benchmark:
        benchmark_file("download", "fetch_base_model", "base")
    wildcard_constraints:
        base=alternatives(HUB_BASES),
    conda:
        "../../envs/train.yaml"
    threads: res("download", "threads")
    resources:
        mem_mb=res("download", "mem_mb"),
        runtime=res("download", "runtime"),
    params:
        code=code_version("fetch-model"),
        repo=lambda wildcards: config["base_models"][wildcards.base]["hub"],
        # a commit SHA pins the weights; a branch (main, the default) is warned at DAG time, and the
        # commit it resolves to is recorded in the model's fetched_from.json (and the model cards)
        revision=lambda wildcards: config["base_models"][wildcards.base].get("revision") or "main",
    shell:
        "writing-alpaca fetch-model --repo {params.repo:q} --revision {params.revision:q} --out {output:q} > {log} 2>&1"


rule build_tiny_model:
    input:
        tiny_corpus,
    output:
        directory("resources/models/{base}"),
    log:
        "logs/models/build_{base}.log",
    benchmark:
        benchmark_file("train", "build_tiny_model", "base")
    wildcard_constraints:
        base=alternatives(BUILT_BASES),
    conda:
        "../../envs/train.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    params:
        code=lambda wildcards: code_version(tiny_command(wildcards)),
        command=tiny_command,
        spec=lambda wildcards: as_json(config["base_models"][wildcards.base]["build_tiny"]),
        seed=config["seed"],
    shell:
        "writing-alpaca {params.command} --spec {params.spec:q} --corpus {input:q} --seed {params.seed} "
        "--out {output:q} > {log} 2>&1"


rule train:
    input:
        base=lambda wildcards: base_model_dir(system(wildcards.system)["base"]),
        data=lambda wildcards: f"results/instructions/{system(wildcards.system)['mixture']}.jsonl",
    output:
        directory("results/models/{system}"),
    log:
        "logs/train/{system}.log",
    benchmark:
        benchmark_file("train", "train", "system")
    wildcard_constraints:
        system=alternatives(TRAINED_LM),
    conda:
        "../../envs/train.yaml"
    threads: res("train", "threads", per_system=True)
    resources:
        mem_mb=res("train", "mem_mb", per_system=True),
        runtime=res("train", "runtime", per_system=True),
        gpu=res("train", "gpu", per_system=True),
        nodes=res("train", "nodes", per_system=True),
    params:
        code=code_version("train"),
        base_state=lambda wildcards: dir_state(base_model_dir(system(wildcards.system)["base"])),
        launcher=launcher,
        command="train",
        spec=lambda wildcards: as_json(system(wildcards.system)),
        training=lambda wildcards: as_json(training_for(wildcards.system)),
        # the model card's provenance (base model, data sources, licences, revisions): OUT/README.md
        card=lambda wildcards: as_json(card_spec(wildcards.system)),
        # template and task prompts end up in system.json: decode and edit take them from there
        extra=lambda wildcards: (
            f"--template {shlex.quote(as_json(config['template']))} "
            f"--prompts {shlex.quote(as_json(task_prompts()))} "
            f"--checkpoint-dir {shlex.quote(checkpoint_dir(wildcards.system))} "
            f"--cache-dir {TOKENISED_CACHE} "
            f"--logging-dir {shlex.quote(logging_dir(wildcards.system))}"
        ),
    shell:
        "{params.launcher} {params.command} --system {wildcards.system} --spec {params.spec:q} "
        "--training {params.training:q} {params.extra} --card {params.card:q} --base {input.base:q} "
        "--data {input.data:q} --out {output:q} > {log} 2>&1"


# The Table-7 baselines (T5 seq2seq, GECToR) train through their own command.
use rule train as train_baseline with:
    benchmark:
        benchmark_file("train", "train_baseline", "system")
    wildcard_constraints:
        system=alternatives(BASELINES),
    params:
        code=code_version("baselines train"),
        base_state=lambda wildcards: dir_state(base_model_dir(system(wildcards.system)["base"])),
        launcher=launcher,
        command="baselines train",
        spec=lambda wildcards: as_json(system(wildcards.system)),
        training=lambda wildcards: as_json(training_for(wildcards.system)),
        card=lambda wildcards: as_json(card_spec(wildcards.system)),
        # data-parallel under the same launcher; checkpoints and resuming as the LLM trainer's
        extra=lambda wildcards: (
            f"--checkpoint-dir {shlex.quote(checkpoint_dir(wildcards.system))} --cache-dir {TOKENISED_CACHE} "
            f"--logging-dir {shlex.quote(logging_dir(wildcards.system))}"
        ),
