# writing-alpaca: reproduce Zhang et al. (2023), "Multi-Task Instruction Tuning of LLaMA for
# Specific Scenarios: A Preliminary Study on Writing Assistance", end to end.
#
#   snakemake --profile profiles/slurm all                     # the paper, on a SLURM GPU cluster
#   snakemake all --profile profiles/local --configfile demo/config.yaml   # the embedded demo
#   snakemake --profile profiles/slurm results/tables/table4.md            # one artefact

from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# The paper configuration beside this file; `--configfile` overlays (demo/config.yaml) go on top.
configfile: f"{workflow.basedir}/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/rehearsal.smk"
include: "workflow/rules/format.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/decode.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/render.smk"


rule all:
    default_target: True
    input:
        all_targets(),
    localrule: True
