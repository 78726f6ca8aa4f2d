"""Writes the disk refuses (full, no folder): one line naming the file and what it held, exit
status 75, no temporary file left behind, and nothing written before lost."""

from __future__ import annotations

import os
import subprocess

import pytest
import torch
import yaml

from cstp.cli import main
from cstp.engine.checkpoint import save_atomic
from cstp.files import EXIT_WRITE_FAILED, WriteError, write_text_atomic

PRETRAIN = {
    "backbone": {"name": "r2plus1d_10", "width": 0.125},
    "sampling": {"clip": {"frames": 4, "size": 16}, "pretext": ["rotation"]},
    "contrastive": {"scheme": "simsiam", "proj_hidden": 16, "proj_dim": 8, "pred_hidden": 16},
    "optim": {"epochs": 1, "batch_size": 4, "warmup_epochs": 0},
}


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs: a real file system that runs out of space (needs root's mount)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def _grow(disk, size="16m"):
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)


def test_a_full_disk_is_one_line_and_keeps_the_previous_version(small_disk):
    target = small_disk / "run" / "metrics.json"
    write_text_atomic(target, "old\n", "metrics")
    with pytest.raises(WriteError) as error:
        write_text_atomic(target, "x" * 200_000, "metrics")
    message = f"{target}: cannot write the metrics (No space left on device); "
    assert str(error.value) == message + "the previous version is kept"
    assert target.read_text() == "old\n"
    assert os.listdir(target.parent) == ["metrics.json"]  # the temporary file is gone


def test_a_checkpoint_the_disk_cannot_hold_is_named_not_a_torch_traceback(small_disk):
    target = small_disk / "state" / "last.pt"
    with pytest.raises(WriteError) as error:
        save_atomic({"weights": torch.zeros(100_000)}, target)
    assert str(error.value) == (
        f"{target}: cannot write the checkpoint (No space left on device); it was not created"
    )
    assert os.listdir(target.parent) == []


def test_a_job_on_a_full_disk_exits_75_and_runs_to_the_end_once_there_is_room(
    synth_index, small_disk, tmp_path, capsys
):
    spec = tmp_path / "p.yaml"
    spec.write_text(yaml.safe_dump(PRETRAIN))
    out = small_disk / "pre"
    args = ["pretrain", "--spec", str(spec), "--index", str(synth_index), "--out", str(out)]
    args += ["--device", "cpu", "--threads", "1"]
    assert main(args) == EXIT_WRITE_FAILED
    # After the progress bar (redraws on a terminal, lines in a file): the error, in one line.
    err = capsys.readouterr().err.rsplit("\r", 1)[-1].splitlines(keepends=True)[-1]
    assert err == (
        f"cstp pretrain: error: {out}/state/last.pt: cannot write the checkpoint "
        "(No space left on device); it was not created\n"
    )
    assert not [name for _, _, names in os.walk(out) for name in names if name.endswith(".tmp")]
    _grow(small_disk)
    assert main(args) == 0
    assert (out / "encoder.pt").is_file()


def test_a_run_folder_that_cannot_be_created_is_one_line(synth_index, tmp_path, capsys):
    spec = tmp_path / "p.yaml"
    spec.write_text(yaml.safe_dump(PRETRAIN))
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be\n")
    out = blocker / "pretrain" / "abc"
    args = ["pretrain", "--spec", str(spec), "--index", str(synth_index), "--out", str(out)]
    assert main([*args, "--device", "cpu"]) == EXIT_WRITE_FAILED
    assert capsys.readouterr().err == (
        f"cstp pretrain: error: {out}: cannot create the run folder (Not a directory)\n"
    )


def test_two_processes_never_train_one_run_folder(synth_index, tmp_path):
    """A second job on a folder another live process holds is refused, naming the holder; once
    the holder is killed (-9: no clean-up) the folder is free again."""
    import signal
    import socket
    import sys

    from cstp.errors import CstpError
    from cstp.files import hold_folder

    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from cstp.files import hold_folder; hold_folder({str(run)!r}); "
            # held until the test kills it, however long the test takes: no sleep to outlast
            "print('held', flush=True); import sys; sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(CstpError) as error:
            hold_folder(run)
        assert str(error.value).startswith(
            f"{run.resolve()}: another process is training this run folder "
            f"(pid {holder.pid} on {socket.gethostname()}, since "
        )
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    hold_folder(run)  # the dead holder's lock file is left behind and blocks nothing
    assert json_of(run / "lock")["pid"] == os.getpid()
    hold_folder(run)  # this process may take its own folder again (a resumed job in a test)


def json_of(path):
    import json

    return json.loads(path.read_text())
