# Edit types (insert/replace/delete) and the named-entity ("hallucination") analysis.


rule analyse_edits:
    input:
        data="results/data/test/{dataset}.jsonl",
        hyp="results/outputs/{system}/{decoding}/{dataset}.txt",
    output:
        "results/analysis/{system}/{decoding}/{dataset}.edits.json",
    params:
        spacy_model=config["spacy_model"],
    log:
        "logs/analyse/{system}/{decoding}/{dataset}.log",
    wildcard_constraints:
        system=alternatives(config["systems"]),
        decoding=alternatives(config["decodings"]),
        dataset=alternatives(config["test_sets"]),
    threads: res("score", "threads")
    resources:
        mem_mb=res("score", "mem_mb"),
        runtime=res("score", "runtime"),
    conda:
        "../../envs/score.yaml"
    shell:
        "writing-alpaca analyse edits --data {input.data:q} --hyp {input.hyp:q} "
        "--spacy-model {params.spacy_model:q} --out {output:q} > {log} 2>&1"
