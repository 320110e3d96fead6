# Edit types (insert/replace/delete) and the named-entity ("hallucination") analysis.


rule analyse_edits:
    input:
        data="results/data/test/{dataset}.jsonl",
        hyp="results/hypotheses/{system}/{decoding}/{dataset}.txt",
    output:
        "results/analysis/{system}/{decoding}/{dataset}.edits.json",
    log:
        "logs/analyse/{system}/{decoding}/{dataset}.log",
    benchmark:
        benchmark_file("analyse", "analyse_edits", "system", "decoding", "dataset")
    wildcard_constraints:
        system=alternatives(config["systems"]),
        decoding=alternatives(config["decodings"]),
        dataset=alternatives(config["test_sets"]),
    conda:
        "../../envs/score.yaml"
    threads: res("score", "threads")
    resources:
        mem_mb=res("score", "mem_mb"),
        runtime=res("score", "runtime"),
    params:
        code=code_version("analyse edits"),
        spacy_model=config["spacy_model"],
    shell:
        "writing-alpaca analyse edits --data {input.data:q} --hyp {input.hyp:q} "
        "--spacy-model {params.spacy_model:q} --out {output:q} > {log} 2>&1"


# Paired bootstrap (1,000 seeded samples by default) of every system of a table on one test
# set: intervals and p-values of the differences, for Table 4's significance marks.
rule bootstrap:
    input:
        unpack(bootstrap_inputs),
    output:
        "results/analysis/bootstrap/{table}/{dataset}.json",
    log:
        "logs/analyse/bootstrap/{table}/{dataset}.log",
    benchmark:
        benchmark_file("analyse", "bootstrap", "table", "dataset")
    wildcard_constraints:
        table=alternatives(SIGNIFICANCE_TABLES),
        dataset=alternatives(config["test_sets"]),
    conda:
        "../../envs/score.yaml"
    threads: res("score", "threads")
    resources:
        mem_mb=res("score", "mem_mb"),
        runtime=res("score", "runtime"),
    params:
        code=code_version("analyse bootstrap"),
        metric=lambda wildcards: test_set(wildcards.dataset)["metric"],
        m2=lambda wildcards, input: f"--m2 {shlex.quote(input.m2)}" if "m2" in input.keys() else "",
        hyps=bootstrap_hyps,
        decoding=lambda wildcards: config["tables"][wildcards.table]["decoding"],
        samples=lambda wildcards: significance(wildcards.table, "samples"),
        alpha=lambda wildcards: significance(wildcards.table, "alpha"),
        seed=config["seed"],
        spacy_model=config["spacy_model"],
        cache="results/cache/score",
    shell:
        "writing-alpaca analyse bootstrap --data {input.data:q} --metric {params.metric} {params.m2} "
        "--hyps {params.hyps} --samples {params.samples} --seed {params.seed} --alpha {params.alpha} "
        "--spacy-model {params.spacy_model:q} --cache {params.cache:q} --dataset {wildcards.dataset} "
        "--decoding {params.decoding:q} --out {output:q} > {log} 2>&1"
