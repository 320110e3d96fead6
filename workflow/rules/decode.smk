# Decode every (system, decoding, test set): one output line per test record.


rule decode:
    input:
        unpack(decode_inputs),
    output:
        text="results/outputs/{system}/{decoding}/{dataset}.txt",
        metrics="results/outputs/{system}/{decoding}/{dataset}.metrics.json",
    log:
        "logs/decode/{system}/{decoding}/{dataset}.log",
    benchmark:
        benchmark_file("decode", "decode", "system", "decoding", "dataset")
    wildcard_constraints:
        system=alternatives(TRAINED_LM + UNTRAINED_LM),
        decoding=alternatives(HF_DECODINGS),
        dataset=alternatives(config["test_sets"]),
    conda:
        "../../envs/train.yaml"
    threads: res("decode", "threads")
    resources:
        mem_mb=res("decode", "mem_mb"),
        runtime=res("decode", "runtime"),
        gpu=res("decode", "gpu"),
    params:
        code=code_version("decode"),
        model_state=lambda wildcards: dir_state(system_dir(wildcards.system)),
        command="decode",
        model_flag=lambda wildcards: "--base" if system(wildcards.system)["method"] == "none" else "--system-dir",
        decoding=lambda wildcards: as_json(decoding_for(wildcards.decoding)),
        extra=lambda wildcards: prompt_args(wildcards.system, test_set(wildcards.dataset)["task"]),
    shell:
        "writing-alpaca {params.command} {params.model_flag} {input.model:q} --data {input.data:q} "
        "--decoding {params.decoding:q} {params.extra} --out {output.text:q} --metrics {output.metrics:q} > {log} 2>&1"


# `backend: vllm` decodings: the same command in vLLM's own environment (its torch and
# transformers differ from the training environment's).
use rule decode as decode_vllm with:
    benchmark:
        benchmark_file("decode", "decode_vllm", "system", "decoding", "dataset")
    wildcard_constraints:
        system=alternatives(TRAINED_LM + UNTRAINED_LM),
        decoding=alternatives(VLLM_DECODINGS),
        dataset=alternatives(config["test_sets"]),
    conda:
        "../../envs/vllm.yaml"


# The Table-7 baselines decode through their own command (no prompt template).
use rule decode as decode_baseline with:
    benchmark:
        benchmark_file("decode", "decode_baseline", "system", "decoding", "dataset")
    wildcard_constraints:
        system=alternatives(BASELINES),
        decoding=alternatives(config["decodings"]),
        dataset=alternatives(config["test_sets"]),
    params:
        code=code_version("baselines decode"),
        model_state=lambda wildcards: dir_state(system_dir(wildcards.system)),
        command="baselines decode",
        model_flag="--system-dir",
        # only what the baseline reads (GECToR: no beams), so a beam-size change re-decodes T5 only
        decoding=lambda wildcards: as_json(
            S.decoding_read_by(system(wildcards.system)["kind"], decoding_for(wildcards.decoding))
        ),
        extra="",


# A table's free instructions (Table 6: "Tell me about panda."): every record its own
# instruction, no input, so the template's prompt_no_input; no task prompt. Answers are not scored.
rule decode_free:
    input:
        data="results/data/free/{table}.jsonl",
        model=lambda wildcards: system_dir(wildcards.system),
    output:
        text="results/outputs/{system}/{decoding}/free/{table}.txt",
        metrics="results/outputs/{system}/{decoding}/free/{table}.metrics.json",
    log:
        "logs/decode/{system}/{decoding}/free/{table}.log",
    benchmark:
        benchmark_file("decode", "decode_free", "system", "decoding", "table")
    wildcard_constraints:
        system=alternatives(TRAINED_LM + UNTRAINED_LM),
        decoding=alternatives(HF_DECODINGS),
        table=alternatives(FREE_TABLES),
    conda:
        "../../envs/train.yaml"
    threads: res("decode", "threads")
    resources:
        mem_mb=res("decode", "mem_mb"),
        runtime=res("decode", "runtime"),
        gpu=res("decode", "gpu"),
    params:
        code=code_version("decode"),
        model_state=lambda wildcards: dir_state(system_dir(wildcards.system)),
        model_flag=lambda wildcards: "--base" if system(wildcards.system)["method"] == "none" else "--system-dir",
        decoding=lambda wildcards: as_json(decoding_for(wildcards.decoding)),
        extra=lambda wildcards: prompt_args(wildcards.system),
    shell:
        "writing-alpaca decode {params.model_flag} {input.model:q} --data {input.data:q} "
        "--decoding {params.decoding:q} {params.extra} --out {output.text:q} "
        "--metrics {output.metrics:q} > {log} 2>&1"


use rule decode_free as decode_free_vllm with:
    benchmark:
        benchmark_file("decode", "decode_free_vllm", "system", "decoding", "table")
    wildcard_constraints:
        system=alternatives(TRAINED_LM + UNTRAINED_LM),
        decoding=alternatives(VLLM_DECODINGS),
        table=alternatives(FREE_TABLES),
    conda:
        "../../envs/vllm.yaml"
