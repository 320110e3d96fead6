# The paper's artefacts: Tables 2-8, Figure 1 and the cost-vs-quality figure, and Tables 4, 5, 7
# beside the paper's own numbers (*_vs_paper).
# Every table comes as Markdown, LaTeX (booktabs) and CSV; every figure as PNG, PDF and CSV.
# One rule per artefact, so that `snakemake results/tables/table4.md` builds only its ancestors.


rule render_table2:
    input:
        expand("results/data/test/{dataset}.jsonl", dataset=config["tables"]["table2"]["test_sets"]),
    output:
        **table_outputs("table2"),
    params:
        **render_params("table2", "table2"),
    log:
        "logs/render/table2.log",
    benchmark:
        benchmark_file("render", "render_table2"),
    threads: res("render", "threads")
    resources:
        mem_mb=res("render", "mem_mb"),
        runtime=res("render", "runtime"),
    conda:
        "../../envs/render.yaml"
    shell:
        "writing-alpaca render {params.artefact} --spec {params.spec:q} --systems {params.systems:q} "
        "--test-sets {params.test_sets:q} --tasks {params.tasks:q} --inputs {input:q} "
        "--out-prefix {params.prefix} > {log} 2>&1"


use rule render_table2 as render_table3 with:
    input:
        f"results/instructions/{config['tables']['table3']['mixture']}.jsonl",
        f"results/instructions/{config['tables']['table3']['mixture']}.counts.json",
    output:
        **table_outputs("table3"),
    params:
        **render_params("table3", "table3"),
    log:
        "logs/render/table3.log",
    benchmark:
        benchmark_file("render", "render_table3"),


use rule render_table2 as render_table4 with:
    input:
        score_files("table4"),
        bootstrap_files("table4"),
    output:
        **table_outputs("table4"),
    params:
        **render_params("table4", "table4"),
    log:
        "logs/render/table4.log",
    benchmark:
        benchmark_file("render", "render_table4"),


use rule render_table2 as render_table5 with:
    input:
        score_files("table5"),
        workflow_file(config["tables"]["table5"]["published"]),
    output:
        **table_outputs("table5"),
    params:
        **render_params("table5", "table5"),
    log:
        "logs/render/table5.log",
    benchmark:
        benchmark_file("render", "render_table5"),


use rule render_table2 as render_table7 with:
    input:
        score_files("table7"),
        decode_metric_files("table7"),
        train_metric_files("table7"),
    output:
        **table_outputs("table7"),
    params:
        **render_params("table7", "table7"),
    log:
        "logs/render/table7.log",
    benchmark:
        benchmark_file("render", "render_table7"),


# The paper's own numbers beside ours (config `paper_results`): per system and cell this run's
# value, the paper's and the difference, from the same inputs as the table itself.
use rule render_table2 as render_table4_vs_paper with:
    input:
        score_files("table4"),
        paper_results_file(),
    output:
        **table_outputs("table4_vs_paper", category=PAPER_CATEGORY),
    params:
        **render_params("table4_vs_paper", "table4"),
    log:
        "logs/render/table4_vs_paper.log",
    benchmark:
        benchmark_file("render", "render_table4_vs_paper"),


use rule render_table2 as render_table5_vs_paper with:
    input:
        score_files("table5"),
        paper_results_file(),
    output:
        **table_outputs("table5_vs_paper", category=PAPER_CATEGORY),
    params:
        **render_params("table5_vs_paper", "table5"),
    log:
        "logs/render/table5_vs_paper.log",
    benchmark:
        benchmark_file("render", "render_table5_vs_paper"),


use rule render_table2 as render_table7_vs_paper with:
    input:
        score_files("table7"),
        decode_metric_files("table7"),
        train_metric_files("table7"),
        paper_results_file(),
    output:
        **table_outputs("table7_vs_paper", category=PAPER_CATEGORY),
    params:
        **render_params("table7_vs_paper", "table7"),
    log:
        "logs/render/table7_vs_paper.log",
    benchmark:
        benchmark_file("render", "render_table7_vs_paper"),


use rule render_table2 as render_figure1 with:
    input:
        edit_files("figure1"),
    output:
        **figure_outputs("figure1"),
    params:
        **render_params("figure1", "figure1"),
    log:
        "logs/render/figure1.log",
    benchmark:
        benchmark_file("render", "render_figure1"),


use rule render_table2 as render_cost_quality with:
    input:
        score_files("table7"),
        decode_metric_files("table7"),
        train_metric_files("table7"),
    output:
        **figure_outputs("cost_quality"),
    params:
        **render_params("cost_quality", "table7"),
    log:
        "logs/render/cost_quality.log",
    benchmark:
        benchmark_file("render", "render_cost_quality"),


# Case studies: Table 6 (two systems' outputs on seeded inputs of each test set) and Table 8
# (seeded entity-touching corrections of the Figure-1 systems).
use rule render_table2 as render_table6 with:
    input:
        test_data_files("table6"),
        output_files("table6"),
        free_output_files("table6"),
    output:
        **table_outputs("table6"),
    params:
        **case_render_params("table6"),
    log:
        "logs/render/table6.log",
    benchmark:
        benchmark_file("render", "render_table6"),


use rule render_table2 as render_table8 with:
    input:
        edit_files("figure1"),
    output:
        **table_outputs("table8"),
    params:
        **case_render_params("table8"),
    log:
        "logs/render/table8.log",
    benchmark:
        benchmark_file("render", "render_table8"),


# What this run cost: wall time, CPU time and peak memory of every job the artefacts above take
# (their benchmark files, results/benchmarks/), per stage, per system and in total.
rule render_costs:
    input:
        benchmark_files,
    output:
        **table_outputs("costs"),
    params:
        prefix=lambda wildcards, output: os.path.splitext(output[0])[0],
        systems=lambda wildcards: as_json(costs_systems()),
    log:
        "logs/render/costs.log",
    benchmark:
        benchmark_file("render", "render_costs"),
    threads: res("render", "threads")
    resources:
        mem_mb=res("render", "mem_mb"),
        runtime=res("render", "runtime"),
    conda:
        "../../envs/render.yaml"
    shell:
        "writing-alpaca render costs --systems {params.systems:q} --inputs {input:q} "
        "--out-prefix {params.prefix} > {log} 2>&1"
