"""The Slurm profile on a real one-node Slurm (tests/slurm/cluster.sh): jobs go through sbatch with
the profile's requests, the table equals a local run's, and a pretraining job requeued mid-run
resumes from its checkpoint and ends with the same encoder as an uninterrupted run.

Skipped, with the reason, only where Slurm cannot be installed or started here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, TOOL_ENV, run_snakemake, wait_for, workflow_copy

pytestmark = pytest.mark.slow

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
PRETRAIN = (sys.executable, "-m", "cstp", "pretrain", "--threads", "1", "--spec")
# The shipped profile unchanged. The table's jobs run on CPUs (two at a time here); the requeued
# pretraining asks for the node's one (fake) GPU, so the profile's --gpus request is exercised as
# on a GPU cluster, and trains long enough to be requeued in the middle.
CONFIG = ("--config", "preset=smoke")
LONG = (
    'presets={"smoke": {"resources": {"train": {"gpu": 1}}, "pretrain": {"optim": {"epochs": 40}}}}'
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "CSTP_SLURM_DIR": str(folder)}
    started = subprocess.run([CLUSTER, "start"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        subprocess.run([CLUSTER, "stop"], env=env, capture_output=True)
        pytest.skip(f"no Slurm here: {started.stderr.strip().splitlines()[-1:]}")
    yield folder
    subprocess.run([CLUSTER, "stop"], env=env, check=True, capture_output=True)


def _sbatch_lines(work: Path, rule: str) -> list[str]:
    """The sbatch calls the plugin made for `rule` (logged at debug level in Snakemake's log)."""
    log = max((work / ".snakemake" / "log").glob("*.snakemake.log"))
    return [
        line.split("sbatch call:", 1)[1].strip()
        for line in log.read_text().splitlines()
        if line.startswith("sbatch call:") and f"--comment rule_{rule}_" in line
    ]


@pytest.fixture(scope="module")
def cluster_run(cluster, tmp_path_factory):
    """Table 5 on the smoke preset through `snakemake --profile slurm`: (copy, output, seconds)."""
    work = workflow_copy(tmp_path_factory.mktemp("cluster"), extra=("slurm",))
    started = time.monotonic()
    result = run_snakemake(
        "--profile", "slurm", "results/table5.csv", *CONFIG, "--verbose", cwd=work
    )
    return work, result.stdout + result.stderr, time.monotonic() - started


def test_a_table_through_slurm_equals_the_local_run(cluster_run, smoke_run):
    work, output, seconds = cluster_run
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", output)
    assert len(submitted) == 18, output[-3000:]  # every job but the 7 local code stamps
    pretrain, table = _sbatch_lines(work, "pretrain")[0], _sbatch_lines(work, "table")[0]
    for request in ("--requeue", "--signal=USR1@300", "--open-mode=append"):
        assert request in pretrain, pretrain
    assert "--gpus" not in table and "--signal" not in table, table
    local = (smoke_run / "results" / "table5.csv").read_bytes()
    assert (work / "results" / "table5.csv").read_bytes() == local
    print(f"table 5 through Slurm: {len(submitted)} jobs in {seconds:.0f} s")
    print(f"sbatch (pretrain): {pretrain}")
    print(f"sbatch (table): {table}")


def _squeue() -> list[tuple[str, ...]]:
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i|%k|%T"], capture_output=True, text=True, check=True
    ).stdout
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def _running(run_id: str) -> str | None:
    return next(
        (job for job, comment, state in _squeue() if run_id in comment and state == "RUNNING"), None
    )


def test_a_requeued_pretraining_resumes_and_ends_with_the_same_encoder(cluster_run, tmp_path):
    work, _, _ = cluster_run  # data and code stamps are there: only the pretraining runs
    config = ("--config", "preset=smoke", LONG)
    plan = run_snakemake("-n", "results/table5.csv", *config, cwd=work).stdout
    run = work / "runs" / "pretrain" / re.findall(r"pretrain ([0-9a-f]{10}):", plan)[0]
    command = [sys.executable, "-m", "snakemake", "--profile", "slurm", "--verbose"]
    workflow = subprocess.Popen(
        [*command, f"runs/pretrain/{run.name}/encoder.pt", *config],
        cwd=work,
        env=TOOL_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    history = run / "history.log"

    def started():
        assert workflow.poll() is None, workflow.communicate()[0][-3000:]  # ended too early
        return _running(run.name)

    job = wait_for(started, 300, "the pretraining job to run")
    wait_for(lambda: history.exists() and "epoch 3/40" in history.read_text(), 120, "3 epochs")
    subprocess.run(["scontrol", "requeue", job], check=True)
    # Slurm holds a requeued job for about two minutes (Reason=BeginTime); release it now.
    wait_for(lambda: any(j == job and s == "PENDING" for j, _, s in _squeue()), 120, "the requeue")
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    output, _ = workflow.communicate(timeout=600)
    assert workflow.returncode == 0, output[-3000:]
    text = history.read_text()
    resumed = re.search(r"resuming \S+ at epoch (\d+), batch (\d+)", text)
    assert resumed and int(resumed[1]) >= 3, text[-2000:]
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
    assert "Restarts=1" in shown, shown
    sbatch = _sbatch_lines(work, "pretrain")[0]
    assert "--gpus=1" in sbatch and "--signal=USR1@300" in sbatch, sbatch
    # The same spec, never interrupted, in one local process.
    alone = tmp_path / "alone"
    index = next((work / "data" / "index").glob("*ucf101*.csv"))
    subprocess.run(
        [*PRETRAIN, str(run / "spec.json"), "--index", str(index), "--out", str(alone)],
        cwd=work,
        check=True,
        capture_output=True,
    )
    assert (run / "encoder.pt").read_bytes() == (alone / "encoder.pt").read_bytes()
    print(f"requeued Slurm job {job}: {resumed[0]}; Restarts=1")
    print(f"sbatch (requeued pretrain): {sbatch}")
