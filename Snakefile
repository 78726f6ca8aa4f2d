# The CSTP ablation study: `snakemake --cores all results/table2.csv` regenerates Table 2.
# Experiments are data (config.yaml); every job is a `cstp` command (see docs/workflow.md).
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from cstp.errors import CstpError
from cstp.planning.rules import read_config

min_version("9.0")

# Snakemake refuses a config file that is not a mapping without naming it: say which file.
if Path("config.yaml").exists():
    try:
        read_config("config.yaml")
    except CstpError as err:
        raise WorkflowError(f"config: {err}") from None


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        all_tables(),
        all_figures(),
