"""`cstp plan`: its help explains the columns it prints, and `--list` shows a job that holds its
run folder's lock as running (not missing)."""

import multiprocessing
from pathlib import Path

import pytest
import yaml

from cstp.files import folder_holder, hold_folder
from cstp.planning.plan import RUNS, Plan
from cstp.planning.status import job_states

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


def test_the_help_explains_every_column_it_prints(capsys):
    from cstp.cli import main

    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for column in ("cells_that_pretrain", "shared pretrain", "shared features", "running"):
        assert column in text
    assert "another table of the config also needs" in text


def _hold(folder: str, ready, done) -> None:
    hold_folder(folder)
    ready.set()
    done.wait(30)


def test_a_run_folder_whose_lock_is_held_is_running_and_free_again_when_its_holder_ends(
    tmp_path,
):
    plan = Plan.from_config({**CONFIG, "preset": "smoke", "seeds": [0]}, check_paths=False)
    runs = plan.runs_of(["table5"])
    run = runs["pretrain"][0]
    folder = tmp_path / RUNS / "pretrain" / run.id
    assert folder_holder(folder) is None
    ready, done = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.get_context("fork").Process(
        target=_hold, args=(str(folder), ready, done)
    )
    holder.start()
    try:
        assert ready.wait(30)
        assert folder_holder(folder)["pid"] == holder.pid
        state = job_states(plan, runs, tmp_path)[("pretrain", run.id)]
        assert state.word == "running" and f"pid {holder.pid}" in state.why
    finally:
        done.set()
        holder.join(30)
    assert folder_holder(folder) is None
    assert job_states(plan, runs, tmp_path)[("pretrain", run.id)].word == "missing"
