"""Pretraining under the workflow's own torchrun line, two gloo processes on the CPU: a stop
signal to the launcher or to one process stops both after the same step, the first writes the one
checkpoint, and the same command resumes to the weights of a run never interrupted."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import wait_for

from cstp.planning.rules import pretrain_launch

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
EPOCHS = 12  # a run several times longer than the test takes to act on its second epoch


def _spec(tmp_path: Path, scheme: str) -> Path:
    spec = tmp_path / f"{scheme}.yaml"
    heads = {"proj_hidden": 16, "proj_dim": 8, "pred_hidden": 16, "queue": 16}
    data = {
        "backbone": {"name": "r2plus1d_10", "width": 0.125},
        "sampling": {"clip": {"frames": 4, "size": 16}, "pretext": ["rotation"]},
        "contrastive": {"scheme": scheme, **heads},
        "optim": {"epochs": EPOCHS, "batch_size": 4, "warmup_epochs": 1},
        "processes": 2,
    }
    spec.write_text(yaml.safe_dump(data))
    return spec


def _command(spec: Path, index: Path, out: Path) -> list[str]:
    launch = shlex.split(pretrain_launch(2))
    assert launch[0] == "torchrun" and "SIGUSR1" in launch[launch.index("--signals-to-handle") + 1]
    job = ["pretrain", "--spec", spec, "--index", index, "--out", out, "--device", "cpu"]
    return [str(BIN / "torchrun"), *launch[1:], *map(str, job), "--threads", "1"]


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=1800)


def _state(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "state" / "last.pt", weights_only=False)["model"]


def _ranks(launcher: int) -> dict[int, int]:
    """pid of each torchrun process, by its RANK."""
    found = {}
    children = subprocess.run(["pgrep", "-P", str(launcher)], capture_output=True, text=True)
    for pid in map(int, children.stdout.split()):
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        rank = [v for v in environ if v.startswith(b"RANK=")]
        if rank:
            found[int(rank[0][5:])] = pid
    return found


@pytest.fixture(scope="module")
def uninterrupted(synth_index, tmp_path_factory):
    """The run folder of each scheme's run never interrupted (one per module)."""
    runs = {}

    def run(scheme: str, spec: Path) -> Path:
        if scheme not in runs:
            out = tmp_path_factory.mktemp(f"whole-{scheme}")
            done = _run(_command(spec, synth_index, out))
            assert done.returncode == 0, done.stderr[-3000:]
            runs[scheme] = out
        return runs[scheme]

    return run


def _interrupt(command: list[str], out: Path, to_rank: int | None) -> tuple[str, list[int]]:
    """Start the run, wait for its second epoch, send SIGUSR1 to the launcher (or one process);
    the launcher's output and the pids of its processes."""
    launcher = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    history = out / "history.log"
    seen = lambda: history.exists() and f"epoch 2/{EPOCHS}" in history.read_text()  # noqa: E731
    wait_for(seen, 600, "the second epoch in history.log")
    ranks = _ranks(launcher.pid)
    assert len(ranks) == 2, ranks
    os.kill(launcher.pid if to_rank is None else ranks[to_rank], signal.SIGUSR1)
    output, _ = launcher.communicate(timeout=600)
    assert launcher.returncode != 0, output[-3000:]
    return output, list(ranks.values())


@pytest.mark.parametrize(
    ("scheme", "to_rank"), [("byol", None), ("moco", None), ("moco", 1)], ids=str
)
def test_a_stop_signal_under_torchrun_stops_both_processes_and_resumes_equal(
    scheme, to_rank, synth_index, tmp_path, uninterrupted
):
    spec = _spec(tmp_path, scheme)
    whole = uninterrupted(scheme, spec)

    out = tmp_path / "stopped"
    output, pids = _interrupt(_command(spec, synth_index, out), out, to_rank)
    stops = re.findall(r"stopped by signal 10 at epoch (\d+), batch (\d+)", output)
    assert len(stops) == 2 and stops[0] == stops[1], output[-3000:]  # both, after one step
    assert int(stops[0][0]) < EPOCHS
    assert "received SIGUSR1: checkpointing and stopping" in output
    assert (out / "state" / "last.pt").exists() and not (out / "encoder.pt").exists()
    assert not list((out / "state").glob("*.damaged"))
    time.sleep(1)
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids), "orphaned processes"

    if to_rank is not None:  # and the checkpoint damaged: the first process alone sets it aside
        (out / "state" / "last.pt").write_bytes(b"not a checkpoint")
    resumed = _run(_command(spec, synth_index, out))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    epoch, batch = stops[0]
    history = (out / "history.log").read_text()
    if to_rank is None:
        assert f"resuming {out} at epoch {epoch}, batch {batch}" in history
    else:
        assert [p.name for p in (out / "state").glob("*.damaged")] == ["last.pt.damaged"]
        assert "FileNotFoundError" not in resumed.stdout + resumed.stderr
        assert f"resuming {out} at epoch " in history, history[-3000:]  # from previous.pt
    a, b = _state(whole), _state(out)  # backbone, heads, target encoder, queue
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    encoder = (whole / "encoder.pt").read_bytes()
    assert (out / "encoder.pt").read_bytes() == encoder
