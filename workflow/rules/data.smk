# Download every upstream source, then parse test sets and training sources into the
# normalised JSON-lines records of docs/DESIGN.md.


rule download:
    input:
        # generated stand-ins its file: URLs read (the rehearsal's, rule rehearsal_standin); none otherwise
        lambda wildcards: standin_inputs(wildcards.source),
    output:
        directory("resources/downloads/{source}"),
    log:
        "logs/download/{source}.log",
    benchmark:
        benchmark_file("download", "download", "source")
    wildcard_constraints:
        source=alternatives(config["sources"]),
    conda:
        "../../envs/data.yaml"
    threads: res("download", "threads")
    resources:
        mem_mb=res("download", "mem_mb"),
        runtime=res("download", "runtime"),
    params:
        code=code_version("download"),
        spec=lambda wildcards: as_json(source_spec(wildcards.source)),
        manual=lambda wildcards: f"resources/manual/{wildcards.source}",
    shell:
        "writing-alpaca download --name {wildcards.source} --spec {params.spec:q} "
        "--manual-dir {params.manual:q} --out {output:q} > {log} 2>&1"


rule prepare_test:
    input:
        raw=lambda wildcards: source_dir(test_set(wildcards.dataset)["source"]),
    output:
        jsonl="results/data/test/{dataset}.jsonl",
    log:
        "logs/data/test/{dataset}.log",
    benchmark:
        benchmark_file("data", "prepare_test", "dataset")
    wildcard_constraints:
        dataset=alternatives(TEXT_SETS),
    conda:
        "../../envs/data.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    params:
        code=code_version("data test"),
        spec=lambda wildcards: as_json(data_spec("test_sets", wildcards.dataset)),
        seed=config["seed"],
        extra="",
    shell:
        "writing-alpaca data test --name {wildcards.dataset} --spec {params.spec:q} --raw {input.raw:q} "
        "--seed {params.seed} --out {output.jsonl:q} {params.extra} > {log} 2>&1"


# GEC test sets also keep their gold M2 for the M2 and ERRANT scorers.
use rule prepare_test as prepare_test_m2 with:
    output:
        jsonl="results/data/test/{dataset}.jsonl",
        m2="results/data/test/{dataset}.m2",
    benchmark:
        benchmark_file("data", "prepare_test_m2", "dataset")
    wildcard_constraints:
        dataset=alternatives(M2_SETS),
    params:
        code=code_version("data test"),
        spec=lambda wildcards: as_json(data_spec("test_sets", wildcards.dataset)),
        seed=config["seed"],
        extra=lambda wildcards, output: f"--m2-out {output.m2}",


rule prepare_train:
    input:
        raw=lambda wildcards: source_dir(config["train_sets"][wildcards.trainset]["source"]),
    output:
        "results/data/train/{trainset}.jsonl",
    log:
        "logs/data/train/{trainset}.log",
    benchmark:
        benchmark_file("data", "prepare_train", "trainset")
    wildcard_constraints:
        trainset=alternatives(config["train_sets"]),
    conda:
        "../../envs/data.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    params:
        code=code_version("data train"),
        spec=lambda wildcards: as_json(data_spec("train_sets", wildcards.trainset)),
        seed=config["seed"],
    shell:
        "writing-alpaca data train --name {wildcards.trainset} --spec {params.spec:q} --raw {input.raw:q} "
        "--seed {params.seed} --out {output:q} > {log} 2>&1"


# Free instructions of a table (tables.<table>.instructions: Table 6's chat case) as records with
# their own `instruction` and no input, for rule decode_free.
rule free_instructions:
    output:
        "results/data/free/{table}.jsonl",
    log:
        "logs/data/free/{table}.log",
    benchmark:
        benchmark_file("data", "free_instructions", "table")
    wildcard_constraints:
        table=alternatives(FREE_TABLES),
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("data free"),
        instructions=lambda wildcards: as_json(config["tables"][wildcards.table]["instructions"]),
    shell:
        "writing-alpaca data free --name {wildcards.table} --instructions {params.instructions:q} "
        "--out {output:q} > {log} 2>&1"
