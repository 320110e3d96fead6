# Score every decoded test set with the paper's metric for it (M2, ERRANT, GLEU or SARI).
# The system's answers are first post-processed for the set's official scorer (test set
# `postprocess`: into the gold's tokenisation, source-preserving); the hypotheses as scored are
# an output, read by every later consumer.


rule score:
    input:
        unpack(score_inputs),
    output:
        score="results/scores/{system}/{decoding}/{dataset}.json",
        hyp="results/hypotheses/{system}/{decoding}/{dataset}.txt",
    log:
        "logs/score/{system}/{decoding}/{dataset}.log",
    benchmark:
        benchmark_file("score", "score", "system", "decoding", "dataset")
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
        code=code_version("score dataset"),
        metric=lambda wildcards: test_set(wildcards.dataset)["metric"],
        postprocess=lambda wildcards: postprocess_flag(wildcards.dataset),
        m2=lambda wildcards, input: f"--m2 {input.m2}" if "m2" in input.keys() else "",
        spacy_model=config["spacy_model"],
        cache="results/cache/score",
    shell:
        "writing-alpaca score dataset --data {input.data:q} --hyp {input.hyp:q} --metric {params.metric} "
        "{params.postprocess} --hyp-out {output.hyp:q} {params.m2} --spacy-model {params.spacy_model:q} "
        "--cache {params.cache:q} --out {output.score:q} > {log} 2>&1"
