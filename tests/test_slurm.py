"""The Slurm profile on a real one-node Slurm (tests/slurm/cluster.sh): jobs go through sbatch with
the profile's requests and a table equals a local run's; a pretraining job that runs out of time
is resubmitted with a longer time limit, and once requeued mid-run it comes back; it resumes from
its checkpoint each time and ends with the same encoder as an uninterrupted run.

Skipped, with the reason, only where Slurm cannot be installed or started here."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, TOOL_ENV, run_snakemake, wait_for, workflow_copy

pytestmark = pytest.mark.slow

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
PRETRAIN = (sys.executable, "-m", "cstp", "pretrain", "--threads", "1", "--spec")
# The shipped profile unchanged, plus the one thing a test cluster wants: the plugin's first status
# check 5 s after a submission or an ended job instead of 40 (then 10 s more per check while nothing
# ends): most jobs here take 10-20 s.
POLL = ("--slurm-init-seconds-before-status-checks", "5")
# The training jobs ask for the node's one (fake) GPU, so the profile's --gpus request runs as on
# a GPU cluster.
GPU = {"resources": {"train": {"gpu": 1}}}
# One pretrained row of Table 5: a pretrain -> finetune and features -> evaluate -> table chain.
ROW = {"exp": "spatial", "pretext": ["stor_spatial"], "paper": {"ucf101": 67.8}}
ONE_ROW = "tables=" + json.dumps({"table5": {"rows": [ROW]}})
TABLE = ("--config", "preset=smoke", "presets=" + json.dumps({"smoke": GPU}), ONE_ROW)
# The interrupted pretraining. The test acts on the job's own progress, never on a clock or a speed
# estimate: once an attempt has logged the epochs it waits for in the run's history.log, it freezes
# that training process (SIGSTOP) and only then has Slurm end the job, so the job cannot train on
# to its end while Slurm takes its time (it checks time limits every 30 s); Slurm's termination
# continues it (SIGCONT before SIGTERM) and it checkpoints and exits. Three of the epochs are the
# test's (two of the first attempt, one of the second); the rest are the margin for the test's
# poll between an epoch line and the freeze (0.2 s, where an epoch takes a tenth of a second or
# more on any machine: the run would have to train 197 epochs unseen).
EPOCHS = 200


def _long(epochs: int) -> tuple[str, ...]:
    smoke = {**GPU, "pretrain": {"optim": {"epochs": epochs}}}
    return ("--config", "preset=smoke", "presets=" + json.dumps({"smoke": smoke}))


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


def _sbatch_lines(work: Path, rule: str, wildcards: str = "") -> list[str]:
    """The sbatch calls the plugin made for `rule` (logged at debug level in Snakemake's log)."""
    log = max((work / ".snakemake" / "log").glob("*.snakemake.log"))
    comment = f"rule_{rule}_wildcards_{wildcards}"
    return [
        line.split("sbatch call:", 1)[1].strip()
        for line in log.read_text().splitlines()
        if line.startswith("sbatch call:") and f"--comment {comment}" in line
    ]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The same row run locally, without the GPU request (not part of any spec): what the cluster
    run must equal. Its own, not the session's smoke run, so that these tests run on their own
    pytest-xdist worker beside the others."""
    work = workflow_copy(tmp_path_factory.mktemp("local"))
    local = ("--config", "preset=smoke", ONE_ROW)
    run_snakemake("--cores", "2", "results/table5.csv", *local, cwd=work)
    return work


@pytest.fixture(scope="module")
def cluster_run(cluster, local_run, tmp_path_factory):
    """One row of Table 5 on the smoke preset through `snakemake --profile slurm`, in a copy that
    starts from the local run's data and code stamps: (copy, output, seconds)."""
    work = workflow_copy(tmp_path_factory.mktemp("cluster"), extra=("slurm",))
    for name in ("data", "runs/code"):  # times kept: nothing there is newer than what it made
        shutil.copytree(local_run / name, work / name)
    started = time.monotonic()
    result = run_snakemake(
        "--profile", "slurm", "results/table5.csv", *TABLE, "--verbose", *POLL, cwd=work
    )
    return work, result.stdout + result.stderr, time.monotonic() - started


def test_a_table_through_slurm_equals_the_local_run(cluster_run, local_run):
    work, output, seconds = cluster_run
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", output)
    rules = ("pretrain", "finetune", "features", "evaluate", "table")
    assert len(submitted) == len(rules), output[-3000:]
    sbatch = {rule: _sbatch_lines(work, rule) for rule in rules}
    assert all(len(lines) == 1 for lines in sbatch.values()), sbatch
    for rule in ("pretrain", "finetune"):
        for request in ("--gpus=1", "--requeue", "--signal=USR1@300", "--open-mode=append"):
            assert request in sbatch[rule][0], sbatch[rule][0]
    table = sbatch["table"][0]
    assert "--requeue" in table and "--gpus" not in table and "--signal" not in table, table
    # The row, and what the jobs made (features.pt also holds its timing), byte for byte as the
    # local run made them.
    local = (local_run / "results" / "table5.csv").read_text()
    assert local.splitlines()[1].startswith("spatial,")
    assert (work / "results" / "table5.csv").read_text() == local
    made = [
        path.relative_to(work)
        for name in ("encoder.pt", "model.pt", "probe.json", "retrieval.json")
        for path in (work / "runs").glob(f"*/*/{name}")
    ]
    assert len(made) == 4, made
    for path in made:
        assert (work / path).read_bytes() == (local_run / path).read_bytes(), path
    print(f"one row of table 5 through Slurm: {len(submitted)} jobs in {seconds:.0f} s")
    print(f"sbatch (pretrain): {sbatch['pretrain'][0]}")
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


def _job(job: str) -> dict[str, str]:
    """`scontrol show job`'s fields (MinJobAge keeps an ended job there for 10 minutes)."""
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True)
    return dict(re.findall(r"(\w+)=(\S*)", shown.stdout))


def _seconds(duration: str) -> int:
    """Slurm's [D-]HH:MM:SS."""
    days, _, clock = duration.rpartition("-")
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return int(days or 0) * 86400 + hours * 3600 + minutes * 60 + seconds


def _tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return f"({path.name} not written yet)"
    return "\n".join(path.read_text().splitlines()[-lines:])


def _requeue(job: str, pid: int, seen) -> None:
    """`scontrol requeue`, the job's frozen training process continued to its checkpoint, then
    Slurm's two-minute hold on the job released (Reason=BeginTime)."""
    subprocess.run(["scontrol", "requeue", job], check=True)
    pending = lambda: any(j == job and s == "PENDING" for j, _, s in _squeue())  # noqa: E731
    wait_for(pending, 300, f"job {job} to be requeued", seen)
    _thaw(pid, seen)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)


def _ended(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rpartition(")")[2].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def _thaw(pid: int, seen) -> None:
    """Continue a frozen training process once Slurm has ended its job, and wait until it has
    checkpointed and exited. Slurm sends SIGCONT too, but its SIGUSR1 ends the job's Snakemake and
    shell first, and the process can be left behind, or killed while stopped (the retry then
    resumes from the last checkpoint it wrote)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: _ended(pid), 300, f"pid {pid} to checkpoint and exit", seen)


def _pretraining(work: Path, epochs: int) -> tuple[Path, Path]:
    """The smoke preset's pretraining run of Table 5's row at `epochs` (its spec written by a dry
    run) and the index it reads."""
    plan = run_snakemake("-n", "results/table5.csv", *_long(epochs), cwd=work).stdout
    run = work / "runs" / "pretrain" / re.findall(r"pretrain ([0-9a-f]{10}):", plan)[0]
    return run, next((work / "data" / "index").glob("*ucf101*.csv"))


def _train(work: Path, run: Path, index: Path, out: Path) -> subprocess.Popen:
    """That pretraining in one local process, its output in `out`.log (a file, not a pipe that
    nobody reads until the end)."""
    with out.with_suffix(".log").open("w") as log:
        return subprocess.Popen(
            [*PRETRAIN, str(run / "spec.json"), "--index", str(index), "--out", str(out)],
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _attempts(history: Path) -> list[tuple[int, str]]:
    """Each attempt at a run, from its history.log: the pid of the training process (the attempt's
    first line, '<run>: pid N on HOST') and the lines it logged."""
    text = history.read_text() if history.exists() else ""
    parts = re.split(r"^\S+ \S+ INFO \S+: \S+: pid (\d+) on \S+\n", text, flags=re.M)
    return [(int(pid), lines) for pid, lines in zip(parts[1::2], parts[2::2], strict=True)]


def _freeze(history: Path, attempt: int, epochs: int, alive) -> int:
    """Once attempt number `attempt` at the run has logged `epochs` epoch lines, stop its
    training process with SIGSTOP and return its pid: it trains no further until it is continued
    once Slurm has ended its job (then it checkpoints at its next step and exits)."""

    def trained() -> int | None:
        alive()
        found = _attempts(history)
        if len(found) < attempt:
            return None
        pid, lines = found[attempt - 1]
        return pid if len(re.findall(r": epoch \d+/\d+: ", lines)) >= epochs else None

    what = f"attempt {attempt} at the run to log {epochs} epoch(s)"
    pid = wait_for(trained, 600, what, lambda: _tail(history))
    command = Path(f"/proc/{pid}/cmdline")
    assert command.exists() and b"pretrain" in command.read_bytes(), _tail(history)
    os.kill(pid, signal.SIGSTOP)
    text = history.read_text()
    assert f"epoch {EPOCHS}/{EPOCHS}:" not in text, f"the run ended before the test acted:\n{text}"
    epoch = re.findall(r": epoch (\d+)/", text)[-1]
    print(f"attempt {attempt} (pid {pid}) stopped after epoch {epoch} of {EPOCHS}")
    return pid


def _interrupt(workflow: subprocess.Popen, log: Path, run: Path, frozen: list[int]):
    """The pretraining's first job runs out of time, then its retry is requeued: each once it has
    trained, frozen while Slurm ends it. Returns both job ids."""
    history = run / "history.log"

    def alive():
        if workflow.poll() is not None:
            raise AssertionError(f"Snakemake ended early:\n{_tail(log, 60)}\n{_tail(history, 60)}")

    def seen() -> str:
        return f"squeue: {_squeue()}\nhistory.log:\n{_tail(history)}\nSnakemake:\n{_tail(log)}"

    def running():
        alive()
        return _running(run.name)

    # 1. Out of time. Once the first job has trained two epochs (a checkpoint at the end of the
    # first is on disk) and Slurm has counted a minute of it, its limit is lowered to one minute:
    # Slurm ends it at its next time-limit check (SIGUSR1, then SIGCONT and SIGTERM; state
    # TIMEOUT), the test sees the process to its checkpoint, and Snakemake submits the job again
    # with runtime x attempt.
    first = wait_for(running, 600, "the pretraining job to run", seen)
    frozen.append(_freeze(history, 1, 2, alive))
    ran = lambda: _seconds(_job(first)["RunTime"]) >= 61  # noqa: E731  Slurm's clock, not work
    wait_for(ran, 300, "a minute of the job's run time", seen)
    subprocess.run(["scontrol", "update", f"JobId={first}", "TimeLimit=1"], check=True)
    ended = lambda: _job(first)["JobState"] != "RUNNING"  # noqa: E731
    wait_for(ended, 300, "Slurm to end the job at its time limit", seen)
    _thaw(frozen[-1], seen)

    def retried():
        state = _job(first)["JobState"]
        assert state in ("RUNNING", "COMPLETING", "TIMEOUT"), f"job {first} ended {state}"
        job = running()
        return job if job not in (None, first) else None

    second = wait_for(retried, 600, "Snakemake's retry to run", seen)
    # 2. Preempted: the retry is requeued once it has resumed and trained an epoch.
    frozen.append(_freeze(history, 2, 1, alive))
    _requeue(second, frozen[-1], seen)
    _wait(workflow, 1200, seen)  # the rest of the run: a minute or two here
    return first, second


def _wait(process: subprocess.Popen, seconds: float, seen) -> None:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{process.args[:4]} still running after {seconds} s:\n{seen()}"
        ) from None


def _stop(processes: tuple[subprocess.Popen, ...], frozen: list[int]) -> None:
    """What the interruption test leaves behind when it fails: no process stopped or running."""
    for pid in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    for process in processes:
        if process.poll() is None:
            process.terminate()  # Snakemake cancels its Slurm jobs
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_a_pretraining_out_of_time_or_requeued_resumes_and_ends_with_the_same_encoder(
    cluster_run, tmp_path
):
    work, _, _ = cluster_run  # data and code stamps are there: only the pretraining runs
    run, index = _pretraining(work, EPOCHS)
    history = run / "history.log"
    # The same spec, never interrupted, trained meanwhile in one local process.
    alone = tmp_path / "alone"
    reference = _train(work, run, index, alone)
    command = [sys.executable, "-m", "snakemake", "--profile", "slurm", "--verbose", *POLL]
    log = tmp_path / "snakemake.log"
    with log.open("w") as sink:
        workflow = subprocess.Popen(
            [*command, f"runs/pretrain/{run.name}/encoder.pt", *_long(EPOCHS)],
            cwd=work,
            env=TOOL_ENV,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    frozen: list[int] = []
    started = time.monotonic()
    try:
        first, second = _interrupt(workflow, log, run, frozen)
        finished = time.monotonic() - started
        # It trained beside the Slurm job and is done or nearly: 20 minutes, and what it wrote.
        _wait(reference, 1200, lambda: _tail(alone.with_suffix(".log")))
    finally:
        _stop((workflow, reference), frozen)
    output = log.read_text()
    assert workflow.returncode == 0, output[-3000:]

    timed_out, requeued = _job(first), _job(second)
    assert timed_out["JobState"] == "TIMEOUT" and timed_out["TimeLimit"] == "00:01:00", timed_out
    assert f"SLURM-job '{first}' failed, SLURM status is: 'TIMEOUT'" in output, output[-3000:]
    assert requeued["Restarts"] == "1" and requeued["JobState"] == "COMPLETED", requeued
    sbatch = _sbatch_lines(work, "pretrain", run.name)
    limits = [int(re.search(r" -t (\d+) ", line)[1]) for line in sbatch]
    assert limits == [10, 20], sbatch  # the preset's 10 minutes x attempt
    for line in sbatch:
        assert "--gpus=1" in line and "--signal=USR1@300" in line, line
    text = history.read_text()
    resumed = [int(e) for e in re.findall(r"resuming \S+ at epoch (\d+), batch \d+", text)]
    assert len(resumed) == 2 and 1 < resumed[0] <= resumed[1] < EPOCHS, text[-3000:]
    assert f"epoch {EPOCHS}/{EPOCHS}" in text
    assert reference.returncode == 0, alone.with_suffix(".log").read_text()[-2000:]
    assert (run / "encoder.pt").read_bytes() == (alone / "encoder.pt").read_bytes()
    print(f"pretraining of {EPOCHS} epochs, interrupted twice: {finished:.0f} s through Slurm")
    print(f"Slurm job {first}: JobState={timed_out['JobState']} TimeLimit={timed_out['TimeLimit']}")
    print(next(line for line in output.splitlines() if "SLURM status is: 'TIMEOUT'" in line))
    print(f"Slurm job {second}: Restarts={requeued['Restarts']}")
    for line in sbatch:
        print(f"sbatch (pretrain, out of time): {line}")
    for line in text.splitlines():
        if re.search(r"received|resuming|pid \d+ on", line):
            print(f"history.log: {line}")
