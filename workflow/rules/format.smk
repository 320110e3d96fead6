# Turn the normalised training sets of a mixture into Alpaca-style instruction data.


rule format_mixture:
    input:
        lambda wildcards: train_set_inputs(wildcards.mixture),
    output:
        data="results/instructions/{mixture}.jsonl",
        counts="results/instructions/{mixture}.counts.json",
    log:
        "logs/format/{mixture}.log",
    benchmark:
        benchmark_file("format", "format_mixture", "mixture")
    wildcard_constraints:
        mixture=alternatives(config["mixtures"]),
    conda:
        "../../envs/data.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    params:
        code=code_version("format"),
        spec=lambda wildcards: as_json(config["mixtures"][wildcards.mixture]),
        tasks=lambda wildcards: as_json(config["tasks"]),
        seed=config["seed"],
    shell:
        "writing-alpaca format --name {wildcards.mixture} --spec {params.spec:q} --tasks {params.tasks:q} "
        "--seed {params.seed} --inputs {input:q} --out {output.data:q} --counts-out {output.counts:q} > {log} 2>&1"
