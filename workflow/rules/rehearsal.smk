# The rehearsal (rehearsal/config.yaml): seeded stand-ins, of the real size and in the upstream
# layout, for the training sources ../shared/data does not hold. Rule `download` reads them
# through the overlay's `file:resources/rehearsal/<kind>/...` URLs (common.smk, standin_inputs),
# so they are written first; without such a URL (the paper, the demo) no job of this file runs.


rule rehearsal_standin:
    output:
        directory(f"{STANDIN_ROOT}/{{standin}}"),
    log:
        "logs/rehearsal/{standin}.log",
    benchmark:
        benchmark_file("download", "rehearsal_standin", "standin")
    wildcard_constraints:
        standin=alternatives(STANDIN_KINDS),
    conda:
        "../../envs/data.yaml"
    threads: res("data", "threads")
    resources:
        mem_mb=res("data", "mem_mb"),
        runtime=res("data", "runtime"),
    params:
        code=code_version("rehearsal standins"),
        root=lambda wildcards, output: os.path.dirname(output[0]),
        seed=config["seed"],
    shell:
        "writing-alpaca rehearsal standins --kinds {wildcards.standin} --seed {params.seed} "
        "--out {params.root:q} > {log} 2>&1"
