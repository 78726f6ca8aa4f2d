# Config validation, the job plan, and every input function the rules use (no logic in rules).
import shlex
import signal
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config

from cstp.errors import CstpError
from cstp.planning.code import fingerprint
from cstp.planning.estimate import job_weight
from cstp.planning.figures import figure_inputs as figure_files, load_figures
from cstp.planning.plan import Plan
from cstp.planning.resources import local_gpus
from cstp.planning.rules import (
    Untracked,
    dataset_at,
    pretrain_launch,
    runtime_options,
    lost_marker,
    check_config,
    study_file,
    typed_overrides,
)

# Slurm's warning before a time limit (--signal=USR1@300) reaches every process of the job step: the
# Snakemake that runs the job there, its shell and cstp. Snakemake and the shell must outlive it
# (both die of SIGUSR1 by default, and the step's end then kills cstp mid-checkpoint); ignoring
# it here is inherited by the shell, while cstp and torchrun install their own handlers.
signal.signal(signal.SIGUSR1, signal.SIG_IGN)

update_config(config, typed_overrides(workflow.config_settings.config))
SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
try:  # the schema once (defaults filled in), then the typed specs; one line naming the key
    check_config(config, SCHEMA)
    PLAN = Plan.from_config(config)
    FIGURES = load_figures(config, PLAN)
except CstpError as err:
    raise WorkflowError(f"config: {err}") from None
# Every job reads its spec from runs/<kind>/<id>/spec.json, named by its content: write the
# missing ones now, and again any that does not hold its spec (cut short, edited by hand).
PLAN.write_specs()
STUDY = study_file(config)
# Per table, a file that changes when a run it was built from lost an output (see lost_marker):
# Snakemake then redoes that run, as `cstp plan --list` reports it missing.
LOST = {table: lost_marker(PLAN, table) for table in PLAN.tables}

ENV = "../../environment.yml"
TRAIN = PLAN.study.preset.resources.train
CLIP = PLAN.study.preset.clip
# Pretraining as N data-parallel processes (preset pretrain.processes): torchrun launches them,
# each with its share of the job's threads (one GPU each where the preset gives GPUs).
PROCESSES = PLAN.study.preset.pretrain.processes
PRETRAIN_LAUNCH = pretrain_launch(PROCESSES)
FRAME_CACHE = PLAN.study.preset.frame_cache
OTHER = PLAN.study.preset.resources.other
# What a training job asks of Slurm beyond resources (ignored locally): SIGUSR1 five minutes
# before its time limit (cstp checkpoints and exits, the retry resumes) and its Slurm log
# appended when a requeued job restarts. Set here, not in the profile, so that a site profile's
# set-resources for these rules (which replaces the profile's whole entry) keeps it; a site that
# sets slurm_extra itself must repeat it (README, Cluster).
TRAIN_SLURM = "--signal=USR1@300 --open-mode=append"

# Locally, GPU jobs are capped to the GPUs present (a profile or --resources gpu=N overrides).
if "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", local_gpus())

# The library code of each kind of job (its command's imports, transitively, without comments
# and docstrings): a job depends on the stamp file named by its fingerprint, so new code means a
# missing stamp and a re-run of exactly the jobs that run that code (docs/workflow.md).
LIBRARY = Path(workflow.basedir) / "cstp"


def code_stamp(kind):
    return f"runs/code/{kind}-{fingerprint(kind, LIBRARY)['digest']}.json"


wildcard_constraints:
    run="[0-9a-f]{10}",
    job="synth|scan|cache|pretrain|finetune|evaluate|features|table|figure",
    digest="[0-9a-f]{10}",
    table="table[0-9]+",
    figure="figure[0-9]+",
    row="[0-9]+",


def all_tables():
    return [f"results/{t}.{ext}" for t in PLAN.tables for ext in ("csv", "tex", "png")]


def all_figures():
    return [f"results/{name}.png" for name in FIGURES]


def figure_inputs(wildcards):
    if wildcards.figure not in FIGURES:
        raise WorkflowError(
            f"results/{wildcards.figure}.png: no such figure in the config"
        )
    return [str(p) for p in figure_files(PLAN, FIGURES[wildcards.figure])]


def dataset_of(wildcards):
    return dataset_at(PLAN, wildcards.dataset, int(wildcards.split))


def synth_marker(wildcards):
    marker = dataset_of(wildcards).synth_marker
    return [str(marker)] if marker else []


def scan_args(wildcards):
    d = dataset_of(wildcards)
    split = f" --split {d.split}" if d.kind != "kinetics400" else ""
    root, splits = shlex.quote(str(d.root)), shlex.quote(str(d.splits))
    return f"{d.kind} --root {root} --splits {splits}{split}"


def index_of(kind):
    def index(wildcards):
        return str(PLAN.run(kind, wildcards.run).dataset.index)

    return index


def cache_of(kind):
    """The frame cache a job reads (preset frame_cache), as an input whose time is ignored: the
    cache changes no number, so a manifest rewritten outside the workflow re-runs nothing.
    """

    def cache(wildcards):
        run = PLAN.run(kind, wildcards.run)
        return [ancient(str(run.dataset.cache(CLIP.short_side)))] if FRAME_CACHE else []

    return cache


def cache_option(kind):
    """`--cache DIR` or nothing (not a rerun trigger: see Untracked)."""

    def option(wildcards):
        if not FRAME_CACHE:
            return Untracked("")
        folder = PLAN.run(kind, wildcards.run).dataset.cache(CLIP.short_side).parent
        return Untracked(f"--cache {shlex.quote(str(folder))}")

    return option


def cache_dataset(wildcards):
    """The dataset whose frame cache a folder of data/cache is."""
    for d in PLAN.datasets():
        manifest = d.cache(CLIP.short_side)
        if manifest.parent.name == wildcards.cache:
            return d
    raise WorkflowError(
        f"data/cache/{wildcards.cache}: no dataset of the plan caches there"
    )


def cache_index(wildcards):
    return str(cache_dataset(wildcards).index)


def encoder_of(kind):
    def encoder(wildcards):
        path = PLAN.encoder_file(kind, wildcards.run)
        return [str(path)] if path else []

    return encoder


def encoder_option(kind):
    def option(wildcards):
        path = PLAN.encoder_file(kind, wildcards.run)
        return f"--encoder {shlex.quote(str(path))}" if path else ""

    return option


def model_of(wildcards):
    return f"runs/finetune/{PLAN.run('evaluate', wildcards.run).parent}/model.pt"


def priority_of(kind):
    """The job's estimated work (cstp.planning.estimate.job_weight, in millions): Snakemake starts
    the longest ready jobs first, so the short ones fill the end instead of one long job running
    alone. The data jobs (synth, scan, cache) come before any: every other job waits for them.
    """
    return lambda wildcards: job_weight(PLAN, PLAN.run(kind, wildcards.run)) / 1e6


# Above any job's weight in millions (a paper-scale pretraining: about 1e6).
DATA_FIRST = 1e9


def cells_of(kind):
    """The table cells a job serves, for its message (not a rerun trigger: see Untracked)."""
    return lambda wildcards: Untracked(PLAN.run(kind, wildcards.run).describe())


def runtime_of(resources, processes=1):
    """--threads, --workers and --compile of each process of a job (not a rerun trigger: see
    Untracked)."""

    def options(wildcards, threads):
        return Untracked(runtime_options(resources, threads, processes))

    return options


def runtime(base):
    """Minutes, growing with each retry (a job that hit its time limit resumes with more)."""
    return lambda wildcards, attempt: base * attempt


def table_inputs(wildcards):
    """One stamp per cell (rule cell_runs), so the table job's reason names a few stamps, not
    every run output of the table; the positive control's outputs; the lost-output marker.
    """
    rows = range(len(PLAN.cells[wildcards.table]))
    control = [str(p) for p in PLAN.control_files(wildcards.table)]
    return (
        [f"runs/cells/{wildcards.table}/row{row}.done" for row in rows]
        + control
        + [LOST[wildcards.table]]
    )


def cell_exp(wildcards):
    return PLAN.cells[wildcards.table][int(wildcards.row)].exp


def cell_inputs(wildcards):
    """Every output of the runs behind one cell of a table, what the table reads of them, and
    the table's lost-output marker: a run that lost an output makes the cells' stamps out of
    date, so Snakemake redoes that run (an input of a job that runs), as for the table.
    """
    files = PLAN.table_inputs(wildcards.table, cell_exp(wildcards))
    return [str(p) for p in files] + [LOST[wildcards.table]]


def cell_name(wildcards):
    return Untracked(f"{wildcards.table} Exp {cell_exp(wildcards)}")
