"""The Snakemake workflow really run on the smoke preset: the table, its LaTeX and plot, reruns
after a failure, a kill or a code change, and a checkout whose path holds a space."""

import json
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import wait_for, workflow_copy
from test_workflow import ENV, cstp, snakemake


@pytest.mark.slow
def test_smoke_run_writes_csv_latex_and_plot(smoke_run):
    import pandas as pd

    table = pd.read_csv(smoke_run / "results" / "table5.csv")
    assert list(table["Exp."]) == ["baseline", "spatial", "temporal", "both"]
    label = "UCF-101 (synthetic stand-in, tiny)"
    assert list(table[f"{label}: paper"]) == [60.3, 67.8, 66.5, 69.6]
    index = pd.read_csv(next((smoke_run / "data" / "index").glob("*ucf101*.csv")))
    videos = int((index["subset"] == "test").sum())
    hits = table[f"{label}: ours"] * videos / 100  # video-level top-1 of `videos` test videos
    assert ((hits - hits.round()).abs() < 0.06 * videos / 100 + 1e-9).all()
    assert (
        table[f"{label}: ours - paper"]
        == (table[f"{label}: ours"] - table[f"{label}: paper"]).round(1)
    ).all()
    assert list(table["Overlap Rate Prediction: Spatial"]) == ["✗", "✓", "✗", "✓"]
    assert table["pretrain run"].iloc[0] == "scratch"
    assert (smoke_run / "results" / "table5.png").read_bytes()[:4] == b"\x89PNG"
    tex = (smoke_run / "results" / "table5.tex").read_text()
    assert "\\toprule" in tex and "\\checkmark" in tex and "synth./real" in tex
    # The caption reads the index: the test videos counted above, and the chance level.
    assert f"synthetic UCF-101: 4 classes, {videos} test videos, chance 25.0" in tex


@pytest.mark.slow
def test_regenerated_latex_compiles(smoke_run, tmp_path):
    from cstp.reporting.latex import standalone

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (.ci/run installs it)")
    document = tmp_path / "table.tex"
    document.write_text(standalone((smoke_run / "results" / "table5.tex").read_text()))
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "table.pdf").stat().st_size > 1000


@pytest.mark.slow
def test_report_holds_the_tables_and_plots(smoke_run):
    snakemake(
        "results/table5.csv", "--config", "preset=smoke", "--report", "report.html", cwd=smoke_run
    )
    report = (smoke_run / "report.html").read_text()
    assert "table5.png" in report and "table5.html" in report and "table5.md" in report
    assert "synthetic stand-ins" in report
    page = (smoke_run / "results" / "table5.html").read_text()
    assert "<table" in page and "\\begin{tabular}" in page and "Pretraining curves" in page
    assert page.count("data:image/png;base64,") >= 2  # the plot and the curves, embedded
    summary = (smoke_run / "results" / "summary.md").read_text()
    assert "## table5" in summary and "Spearman" in summary


@pytest.mark.slow
def test_a_rerun_after_a_failure_redoes_only_what_is_missing(smoke_run):
    assert (
        "Nothing to be done"
        in snakemake(
            "-n", "--cores", "1", "results/table5.csv", "--config", "preset=smoke", cwd=smoke_run
        ).stdout
    )
    # As after a job failed: its output and the table are missing, every other result is there.
    victim = next((smoke_run / "runs" / "evaluate").glob("*/metrics.json"))
    victim.unlink()
    for made in (smoke_run / "results").glob("table5.*"):
        made.unlink()
    stats = snakemake(
        "-n",
        "--cores",
        "1",
        "results/table5.csv",
        "--config",
        "preset=smoke",
        "--quiet",
        "rules",
        cwd=smoke_run,
    ).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", stats.split("Job stats:")[1], flags=re.M))
    # The lost-output marker renews every cell's stamp (rule cell_runs, local and instant), so
    # the failed evaluation runs again, then the table.
    assert counts == {"cell_runs": "4", "evaluate": "1", "table": "1", "total": "6"}
    snakemake("--cores", "1", "results/table5.csv", "--config", "preset=smoke", cwd=smoke_run)


def _process(pid: int) -> str:
    """A process's state and command line, as /proc shows them (for a failure message)."""
    proc = Path(f"/proc/{pid}")
    try:
        state = next(line for line in (proc / "status").read_text().splitlines() if "State" in line)
        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return f"pid {pid}: gone\n"
    return f"pid {pid}: {state}, {command}\n"


def _log_of(run: Path) -> str:
    history = run / "history.log"
    return history.read_text()[-3000:] if history.exists() else f"no {history}"


def test_after_snakemake_is_killed_the_same_command_finishes_the_work(smoke_run):
    """kill -9 of Snakemake mid-job leaves its lock, an incomplete output and an orphaned job
    still training. The orphan holds its run folder; after `--unlock` the same command (the
    workflow profile sets rerun-incomplete) finishes the work."""
    import json
    import signal

    run = next((smoke_run / "runs" / "finetune").glob("*/model.pt")).parent
    target = str((run / "model.pt").relative_to(smoke_run))
    args = ("--cores", "1", target, "--config", "preset=smoke")
    for output in ("model.pt", "metrics.json", "lock"):  # and its checkpoints: it trains anew
        (run / output).unlink()
    shutil.rmtree(run / "state")
    command = [sys.executable, "-m", "snakemake", *args]
    output = smoke_run / "killed-snakemake.log"
    with open(output, "w") as sink:
        workflow = subprocess.Popen(command, cwd=smoke_run, env=ENV, stdout=sink, stderr=sink)
    taken = f"the finetune job to take its run folder ({output})"
    wait_for((run / "lock").exists, 600, taken, lambda: output.read_text()[-3000:])
    workflow.send_signal(signal.SIGKILL)  # Snakemake only: its job goes on as an orphan
    workflow.wait()
    orphan = json.loads((run / "lock").read_text())["pid"]
    assert orphan != workflow.pid
    locked = snakemake(*args, cwd=smoke_run, check=False)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    snakemake("--unlock", *args, cwd=smoke_run)
    ended = lambda: not Path(f"/proc/{orphan}").exists()  # noqa: E731
    wait_for(ended, 600, "the orphaned job to end", lambda: _process(orphan) + _log_of(run))
    snakemake(*args, cwd=smoke_run)  # no --rerun-incomplete: the workflow profile has it
    assert (run / "model.pt").is_file()
    assert "Nothing to be done" in snakemake("-n", *args, cwd=smoke_run).stdout
    # the cell's evaluation and the table follow the new model (for the tests after this one)
    snakemake("--cores", "1", "results/table5.csv", "--config", "preset=smoke", cwd=smoke_run)


def test_sigusr1_to_a_whole_job_step_checkpoints_and_the_same_command_resumes(tmp_path):
    """What Slurm's --signal=USR1@300 does: SIGUSR1 to every process of the job (Snakemake, its
    shell, cstp). Snakemake and the shell outlive it, cstp checkpoints and exits, Snakemake
    reports the job failed, and the same command resumes the run from its checkpoint."""
    import os
    import signal

    work = workflow_copy(tmp_path / "work")
    long = {"smoke": {"pretrain": {"optim": {"epochs": 60}}}}
    args = ("--cores", "1", "--config", "preset=smoke", "presets=" + json.dumps(long), ONE_ROW)
    command = [sys.executable, "-m", "snakemake", "results/table5.csv", *args]
    output = work / "signalled.log"
    with open(output, "w") as sink:
        job = subprocess.Popen(
            command, cwd=work, env=ENV, stdout=sink, stderr=sink, start_new_session=True
        )

    def second_epoch():
        logs = list((work / "runs" / "pretrain").glob("*/history.log"))
        return logs and "epoch 2/60:" in logs[0].read_text() and logs[0]

    history = wait_for(second_epoch, 600, "the pretraining's second epoch", output.read_text)
    os.killpg(job.pid, signal.SIGUSR1)  # the whole process group, as Slurm signals a step
    assert job.wait(timeout=600) == 1, output.read_text()[-3000:]  # not killed by the signal
    run = history.parent
    assert "received SIGUSR1: checkpointing and stopping" in history.read_text()
    assert (run / "state" / "last.pt").exists() and not (run / "encoder.pt").exists()
    snakemake(str((run / "encoder.pt").relative_to(work)), *args, cwd=work)
    assert "resuming" in history.read_text() and (run / "encoder.pt").exists()


def _planned(work: Path, target: str = "results/table5.csv") -> dict[str, int]:
    out = snakemake(
        "-n", "--cores", "1", target, "--config", "preset=smoke", "--quiet", "rules", cwd=work
    ).stdout
    if "Nothing to be done" in out:
        return {}
    counts = re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M)
    return {rule: int(n) for rule, n in counts if rule != "total"}


@contextmanager
def _appended(path: Path, line: str):
    """`path` with `line` added at its end for the duration, then as it was."""
    text = path.read_text()
    path.write_text(f"{text}\n{line}\n")
    try:
        yield
    finally:
        path.write_text(text)


@pytest.mark.slow
def test_a_change_of_comments_docstrings_or_layout_reruns_nothing(smoke_run):
    library = sorted((smoke_run / "cstp").rglob("*.py"))
    saved = {path: path.read_text() for path in library}
    try:
        for path, text in saved.items():
            # A comment on top, blank lines, and every docstring's first line reworded.
            edited = re.sub(r'"""(\w)', r'"""Reworded: \1', f"# edited\n\n{text}\n\n")
            path.write_text(edited)
        assert _planned(smoke_run) == {}
    finally:
        for path, text in saved.items():
            path.write_text(text)


@pytest.mark.slow
def test_a_change_of_probe_code_reruns_features_and_tables_only(smoke_run):
    with _appended(smoke_run / "cstp" / "engine" / "probe.py", "PROBE_CHANGED = True"):
        planned = _planned(smoke_run)
        assert planned == {"code_stamp": 1, "features": 4, "cell_runs": 4, "table": 1}
        listing = cstp(
            *("plan", "--preset", "smoke", "--list", "results/table5.csv"),
            cwd=smoke_run,
            pythonpath=smoke_run,
        )
        assert "stale (code changed: cstp.engine.probe)" in listing
        assert not [
            line for line in listing.splitlines() if line.startswith("pretrain") and "stale" in line
        ]


@pytest.mark.slow
def test_a_change_of_latex_code_reruns_the_tables_only(smoke_run):
    with _appended(smoke_run / "cstp" / "reporting" / "latex.py", "LATEX_CHANGED = True"):
        assert _planned(smoke_run) == {"code_stamp": 1, "table": 1}


@pytest.mark.slow
def test_job_logs_start_with_the_command_and_messages_name_the_cells(smoke_run):
    log = next((smoke_run / "logs" / "pretrain").glob("*.log")).read_text()
    first, second = log.splitlines()[:2]
    assert (
        first.startswith("$ cstp pretrain --spec runs/pretrain/") and "--index data/index/" in first
    )
    assert re.fullmatch(r"pretrain [0-9a-f]{10}, spec:", second)
    out = snakemake(
        "-n",
        "--forceall",
        "--cores",
        "1",
        "results/table5.csv",
        "--config",
        "preset=smoke",
        cwd=smoke_run,
    ).stdout
    assert re.search(r"pretrain [0-9a-f]{10}: table1 Exp 9 \(seed 0\), table5 Exp both", out)
    assert re.search(r"evaluate [0-9a-f]{10}: table5 Exp spatial \(ucf101, seed 0\)", out)


# One pretrained row of Table 5: a pretrain -> finetune and features -> evaluate -> table chain.
ONE_ROW = "tables=" + json.dumps(
    {
        "table5": {
            "rows": [{"exp": "spatial", "pretext": ["stor_spatial"], "paper": {"ucf101": 67.8}}]
        }
    }
)


ONE_ROW_ARGS = ("--cores", "1", "results/table5.csv", "--config", "preset=smoke", ONE_ROW)


@pytest.fixture(scope="module")
def one_row_run(tmp_path_factory) -> Path:
    """One row of Table 5 built on the smoke preset in a workflow copy whose path holds a space
    and non-ASCII characters, as a user's checkout in '~/a b/Übung é' would."""
    work = workflow_copy(tmp_path_factory.mktemp("spaced") / "a b" / "Übung é")
    snakemake(*ONE_ROW_ARGS, cwd=work)
    return work


@pytest.mark.slow
def test_a_checkout_whose_path_holds_a_space_and_non_ascii_builds_the_table(one_row_run):
    """Every path a rule's shell line passes is quoted (the code stamps failed first)."""
    table = (one_row_run / "results" / "table5.csv").read_text().splitlines()
    assert len(table) == 2 and table[1].startswith("spatial,")
    stamps = sorted(p.name.split("-")[0] for p in (one_row_run / "runs" / "code").glob("*.json"))
    assert stamps == ["evaluate", "features", "finetune", "pretrain", "scan", "synth", "table"]
    assert "Nothing to be done" in snakemake("-n", *ONE_ROW_ARGS, cwd=one_row_run).stdout


def _plan_list(work: Path) -> str:
    study = next((work / "runs" / "study").glob("*.json"))
    listing = cstp("plan", "--config", str(study), "--list", "results/table5.csv", cwd=work)
    return listing.splitlines()[-1]


@pytest.mark.slow
def test_a_failed_or_deleted_run_is_redone_by_the_same_command(one_row_run):
    """A run whose outputs went missing is missing for the workflow as for `cstp plan --list`: the
    same command redoes it (it used to say "Nothing to be done" over a table of a lost run)."""
    work = one_row_run
    finetune = next((work / "runs" / "finetune").glob("*/model.pt")).parent
    pretrain = next((work / "runs" / "pretrain").glob("*/encoder.pt")).parent
    # A damaged spec.json (cut short; its job then failed on it and lost its model): the
    # workflow writes it again, and the run, made from that very spec, stays as it is.
    spec = finetune / "spec.json"
    text = spec.read_text()
    spec.write_text(text[:40])
    model = (finetune / "model.pt").stat().st_mtime_ns
    rerun = snakemake(*ONE_ROW_ARGS, cwd=work)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
    assert spec.read_text() == text and (finetune / "model.pt").stat().st_mtime_ns == model
    # A failed job (Snakemake deletes its outputs), or a run folder emptied by hand.
    for outputs in ((finetune / "model.pt", finetune / "metrics.json"), (pretrain / "encoder.pt",)):
        for output in outputs:
            output.unlink()
        assert "1 missing" in _plan_list(work)
        study = next((work / "runs" / "study").glob("*.json"))
        by_hand = subprocess.run(
            [sys.executable, "-m", "cstp", "table", "table5", "--config", str(study)],
            cwd=work,
            env=ENV,
            capture_output=True,
            text=True,
        )
        assert by_hand.returncode != 0
        assert f"{outputs[0].relative_to(work)} " in by_hand.stderr  # the table refuses, naming it
        planned = snakemake("-n", *ONE_ROW_ARGS, cwd=work)
        said = [line for line in planned.stderr.splitlines() if "although the table exists" in line]
        assert len(said) == 1 and said[0].startswith(f"table5: {outputs[0].relative_to(work)}")
        snakemake(*ONE_ROW_ARGS, cwd=work)
        assert all(output.is_file() for output in outputs)
        assert _plan_list(work) == "4 done of 4 jobs"
    assert "Nothing to be done" in snakemake("-n", *ONE_ROW_ARGS, cwd=work).stdout
