# Config validation, the job plan, and every input function the rules use (no logic in rules).
import hashlib
import json
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from cstp.errors import CstpError
from cstp.workflow.plan import Plan
from cstp.workflow.resources import local_gpus

validate(config, "../schemas/config.schema.yaml", set_default=True)
try:
    PLAN = Plan.from_config(config)
except CstpError as err:
    raise WorkflowError(f"config: {err}") from None

ENV = "../../environment.yml"
CONFIG_JSON = json.dumps(config, sort_keys=True, separators=(",", ":"))
TRAIN = PLAN.study.resources("train")
OTHER = PLAN.study.resources("other")

# Locally, GPU jobs are capped to the GPUs present (a profile or --resources gpu=N overrides).
if "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", local_gpus())


def library(*parts):
    """Library sources matching `parts` (globs under cstp/), as paths relative to here."""
    root = Path(workflow.basedir) / "cstp"
    files = sorted(p for part in parts for p in root.glob(part))
    return [os.path.relpath(p) for p in files]


# Library sources whose change must re-run a job (Snakemake does not follow imports). A rule
# depends on one stamp file named by the hash of its group's sources: new code, new stamp.
CODE = {
    "data": library(
        "data/synth.py",
        "data/world.py",
        "data/render.py",
        "data/encode.py",
        "data/scan.py",
        "data/splits.py",
        "data/video.py",
    ),
    "train": library(
        "engine/*.py",
        "models/*.py",
        "sampling/*.py",
        "data/dataset.py",
        "data/video.py",
        "losses.py",
        "spec.py",
    ),
    "table": library("workflow/*.py"),
}


def code_stamp(group):
    digest = hashlib.sha256()
    for path in CODE[group]:
        digest.update(Path(path).read_bytes())
    return f"runs/code/{group}-{digest.hexdigest()[:10]}.txt"


def code_files(wildcards):
    return CODE[wildcards.group]


DATA_CODE = code_stamp("data")
TRAIN_CODE = code_stamp("train")
TABLE_CODE = code_stamp("table")


wildcard_constraints:
    run="[0-9a-f]{10}",
    group="data|train|table",
    digest="[0-9a-f]{10}",
    table="table[0-9]+",


def all_tables():
    return [f"results/{t}.{ext}" for t in PLAN.tables for ext in ("csv", "tex", "png")]


def dataset_of(wildcards):
    return next(d for d in PLAN.datasets() if d.name == wildcards.dataset)


def synth_marker(wildcards):
    marker = dataset_of(wildcards).synth_marker
    return [str(marker)] if marker else []


def scan_args(wildcards):
    d = dataset_of(wildcards)
    split = f" --split {d.split}" if d.kind != "kinetics400" else ""
    return f"{d.kind} --root {d.root} --splits {d.splits}{split}"


def run_of(kind):
    return lambda wildcards: PLAN.run(kind, wildcards.run)


def spec_json(kind):
    def spec(wildcards):
        return PLAN.run(kind, wildcards.run).spec_json()

    return spec


def index_of(kind):
    def index(wildcards):
        return str(PLAN.run(kind, wildcards.run).dataset.index)

    return index


def encoder_of(kind):
    def encoder(wildcards):
        pretrain = PLAN.run(kind, wildcards.run).pretrain
        return [f"runs/pretrain/{pretrain}/encoder.pt"] if pretrain else []

    return encoder


def encoder_option(kind):
    def option(wildcards):
        pretrain = PLAN.run(kind, wildcards.run).pretrain
        return f"--encoder runs/pretrain/{pretrain}/encoder.pt" if pretrain else ""

    return option


def runtime(base):
    """Minutes, growing with each retry (a job that hit its time limit resumes with more)."""
    return lambda wildcards, attempt: base * attempt


def table_inputs(wildcards):
    return [str(p) for p in PLAN.result_files(wildcards.table)]


def test_options():
    test = PLAN.study.settings.get("test", {})
    return " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in test.items() if k != "batch_size"
    )
