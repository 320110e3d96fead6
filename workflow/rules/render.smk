# The paper's artefacts: Tables 2-8, Figure 1 and the cost-vs-quality figure, and Tables 4, 5, 7
# beside the paper's own numbers (*_vs_paper); each trained system's training curves.
# Every table comes as Markdown, LaTeX (booktabs) and CSV; every figure as PNG, PDF and CSV.
# One rule per artefact, so that `snakemake results/tables/table4.md` builds only its ancestors.
# Each rule's inputs are named by kind, and `writing-alpaca render` takes each kind under the
# option of that name (input `decode_metrics` -> `--decode-metrics FILE ...`; params.inputs).


rule render_table2:
    input:
        data=test_data_files("table2"),
    output:
        **table_outputs("table2"),
    log:
        "logs/render/table2.log",
    benchmark:
        benchmark_file("render", "render_table2")
    conda:
        "../../envs/render.yaml"
    threads: res("render", "threads")
    resources:
        mem_mb=res("render", "mem_mb"),
        runtime=res("render", "runtime"),
    params:
        **render_params("table2", "table2"),
        code=code_version("render"),
        inputs=inputs_by_kind,
    shell:
        "writing-alpaca render {params.artefact} --spec {params.spec:q} --systems {params.systems:q} "
        "--test-sets {params.test_sets:q} --tasks {params.tasks:q} {params.inputs} "
        "--out-prefix {params.prefix} > {log} 2>&1"


use rule render_table2 as render_table3 with:
    input:
        instructions=f"results/instructions/{config['tables']['table3']['mixture']}.jsonl",
        counts=f"results/instructions/{config['tables']['table3']['mixture']}.counts.json",
    output:
        **table_outputs("table3"),
    log:
        "logs/render/table3.log",
    benchmark:
        benchmark_file("render", "render_table3")
    params:
        **render_params("table3", "table3"),
        code=code_version("render"),
        inputs=inputs_by_kind,


use rule render_table2 as render_table4 with:
    input:
        scores=score_files("table4"),
        bootstrap=bootstrap_files("table4"),
    output:
        **table_outputs("table4"),
    log:
        "logs/render/table4.log",
    benchmark:
        benchmark_file("render", "render_table4")
    params:
        **render_params("table4", "table4"),
        code=code_version("render"),
        inputs=inputs_by_kind,


use rule render_table2 as render_table5 with:
    input:
        scores=score_files("table5"),
        published=workflow_file(config["tables"]["table5"]["published"]),
    output:
        **table_outputs("table5"),
    log:
        "logs/render/table5.log",
    benchmark:
        benchmark_file("render", "render_table5")
    params:
        **render_params("table5", "table5"),
        code=code_version("render"),
        inputs=inputs_by_kind,


use rule render_table2 as render_table7 with:
    input:
        scores=score_files("table7"),
        decode_metrics=decode_metric_files("table7"),
        train_metrics=train_metric_files("table7"),
    output:
        **table_outputs("table7"),
    log:
        "logs/render/table7.log",
    benchmark:
        benchmark_file("render", "render_table7")
    params:
        **render_params("table7", "table7"),
        code=code_version("render"),
        models_state=lambda wildcards: dir_state(*train_metric_files("table7")),
        inputs=inputs_by_kind,


# The paper's own numbers beside ours (config `paper_results`): per system and cell this run's
# value, the paper's and the difference, from the same inputs as the table itself.
use rule render_table2 as render_table4_vs_paper with:
    input:
        scores=score_files("table4"),
        paper=paper_results_file(),
    output:
        **table_outputs("table4_vs_paper", category=PAPER_CATEGORY),
    log:
        "logs/render/table4_vs_paper.log",
    benchmark:
        benchmark_file("render", "render_table4_vs_paper")
    params:
        **render_params("table4_vs_paper", "table4"),
        code=code_version("render"),
        inputs=inputs_by_kind,


use rule render_table2 as render_table5_vs_paper with:
    input:
        scores=score_files("table5"),
        paper=paper_results_file(),
    output:
        **table_outputs("table5_vs_paper", category=PAPER_CATEGORY),
    log:
        "logs/render/table5_vs_paper.log",
    benchmark:
        benchmark_file("render", "render_table5_vs_paper")
    params:
        **render_params("table5_vs_paper", "table5"),
        code=code_version("render"),
        inputs=inputs_by_kind,


use rule render_table2 as render_table7_vs_paper with:
    input:
        scores=score_files("table7"),
        decode_metrics=decode_metric_files("table7"),
        train_metrics=train_metric_files("table7"),
        paper=paper_results_file(),
    output:
        **table_outputs("table7_vs_paper", category=PAPER_CATEGORY),
    log:
        "logs/render/table7_vs_paper.log",
    benchmark:
        benchmark_file("render", "render_table7_vs_paper")
    params:
        **render_params("table7_vs_paper", "table7"),
        code=code_version("render"),
        models_state=lambda wildcards: dir_state(*train_metric_files("table7")),
        inputs=inputs_by_kind,


use rule render_table2 as render_figure1 with:
    input:
        edits=edit_files("figure1"),
    output:
        **figure_outputs("figure1"),
    log:
        "logs/render/figure1.log",
    benchmark:
        benchmark_file("render", "render_figure1")
    params:
        **render_params("figure1", "figure1"),
        code=code_version("render"),
        inputs=inputs_by_kind,


use rule render_table2 as render_cost_quality with:
    input:
        scores=score_files("table7"),
        decode_metrics=decode_metric_files("table7"),
        train_metrics=train_metric_files("table7"),
    output:
        **figure_outputs("cost_quality"),
    log:
        "logs/render/cost_quality.log",
    benchmark:
        benchmark_file("render", "render_cost_quality")
    params:
        **render_params("cost_quality", "table7"),
        code=code_version("render"),
        models_state=lambda wildcards: dir_state(*train_metric_files("table7")),
        inputs=inputs_by_kind,


# Each trained system's loss and learning rate against the step, from the TensorBoard scalars its
# trainer logged (results/logs/<system>/, training.report_to: tensorboard). The logs are no declared
# output of the train rules (a resumed run appends to them): the system directory is the input,
# complete once its logs are.
rule render_training:
    input:
        train_metrics="results/models/{system}",
    output:
        **training_figure_outputs(),
    log:
        "logs/render/training/{system}.log",
    benchmark:
        benchmark_file("render", "render_training", "system")
    wildcard_constraints:
        system=alternatives(TRAINING_CURVES),
    conda:
        "../../envs/render.yaml"
    threads: res("render", "threads")
    resources:
        mem_mb=res("render", "mem_mb"),
        runtime=res("render", "runtime"),
    params:
        code=code_version("render"),
        models_state=lambda wildcards: dir_state(f"results/models/{wildcards.system}"),
        prefix=lambda wildcards, output: os.path.splitext(output[0])[0],
        systems=lambda wildcards: as_json({wildcards.system: {"label": system(wildcards.system)["label"]}}),
        logs=lambda wildcards: logging_dir(wildcards.system),
    shell:
        "writing-alpaca render training --system {wildcards.system} --systems {params.systems:q} "
        "--logs {params.logs:q} --train-metrics {input.train_metrics:q} --out-prefix {params.prefix} > {log} 2>&1"


# Case studies: Table 6 (two systems' outputs on seeded inputs of each test set) and Table 8
# (seeded entity-touching corrections of the Figure-1 systems).
use rule render_table2 as render_table6 with:
    input:
        data=test_data_files("table6"),
        outputs=output_files("table6"),
        free_outputs=free_output_files("table6"),
    output:
        **table_outputs("table6"),
    log:
        "logs/render/table6.log",
    benchmark:
        benchmark_file("render", "render_table6")
    params:
        **case_render_params("table6"),
        code=code_version("render"),
        inputs=inputs_by_kind,


use rule render_table2 as render_table8 with:
    input:
        edits=edit_files("figure1"),
    output:
        **table_outputs("table8"),
    log:
        "logs/render/table8.log",
    benchmark:
        benchmark_file("render", "render_table8")
    params:
        **case_render_params("table8"),
        code=code_version("render"),
        inputs=inputs_by_kind,


# What this run cost: wall time, CPU time and peak memory of every job the artefacts above take
# (their benchmark files, results/benchmarks/), per stage, per system and in total.
rule render_costs:
    input:
        benchmarks=benchmark_files,
    output:
        **table_outputs("costs"),
    log:
        "logs/render/costs.log",
    benchmark:
        benchmark_file("render", "render_costs")
    conda:
        "../../envs/render.yaml"
    threads: res("render", "threads")
    resources:
        mem_mb=res("render", "mem_mb"),
        runtime=res("render", "runtime"),
    params:
        code=code_version("render"),
        prefix=lambda wildcards, output: os.path.splitext(output[0])[0],
        systems=lambda wildcards: as_json(costs_systems()),
    shell:
        "writing-alpaca render costs --systems {params.systems:q} --benchmarks {input.benchmarks:q} "
        "--out-prefix {params.prefix} > {log} 2>&1"


# Each trained system's model card with this run's scores: its README.md (written when training
# ended, before any score existed: it says where they will be) with a table of every score the
# config's tables take of it, and the test data's licences.
rule render_card:
    input:
        train_metrics="results/models/{system}",
        scores=lambda wildcards: system_score_files(wildcards.system),
    output:
        "results/cards/{system}.md",
    log:
        "logs/render/card/{system}.log",
    benchmark:
        benchmark_file("render", "render_card", "system")
    wildcard_constraints:
        system=alternatives(CARD_SYSTEMS),
    conda:
        "../../envs/render.yaml"
    threads: res("render", "threads")
    resources:
        mem_mb=res("render", "mem_mb"),
        runtime=res("render", "runtime"),
    params:
        code=code_version("render"),
        models_state=lambda wildcards: dir_state(f"results/models/{wildcards.system}"),
        prefix=lambda wildcards, output: os.path.splitext(output[0])[0],
        spec=lambda wildcards: as_json({"system": wildcards.system}),
        systems=lambda wildcards: as_json({wildcards.system: {"label": system(wildcards.system)["label"]}}),
        test_sets=lambda wildcards: as_json(card_test_sets(wildcards.system)),
        tasks=lambda wildcards: as_json({t: {"label": v.get("label", t)} for t, v in config["tasks"].items()}),
        inputs=inputs_by_kind,
    shell:
        "writing-alpaca render card --spec {params.spec:q} --systems {params.systems:q} "
        "--test-sets {params.test_sets:q} --tasks {params.tasks:q} {params.inputs} "
        "--out-prefix {params.prefix} > {log} 2>&1"
