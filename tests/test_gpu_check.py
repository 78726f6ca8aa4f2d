"""The GPU check script (tests/gpu/check.sh) runs end to end: on a CPU at its tiny size, so that
the one call a GPU session gets is not its first run."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_every_part_at_a_tiny_size_on_the_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    command = ["bash", str(REPO / "tests" / "gpu" / "check.sh"), "--tiny", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "(a) backbone training step" in done.stdout and "(e) end to end" in done.stdout
    assert "check: " in done.stdout and "resumed encoder bit-equal: True" in done.stdout
    report = json.loads((tmp_path / "gpu-check.json").read_text())
    assert report["device"] == "cpu" and report["bench"][0]["precision_run"] == "fp32"
    pretrain = report["pretrain"]
    assert pretrain["steps"] >= 20 and pretrain["exit_after_sigusr1"] == 128 + 10
    assert pretrain["tensors_differing"] == [] and len(pretrain["resumed_from"]) == 1
    # The signal follows the first epoch's line; on a busy machine the run may be an epoch further
    # on by then, so the check asks only that it resumed mid-way, not at its end.
    epoch = int(re.search(r"at epoch (\d+)", pretrain["resumed_from"][0]).group(1))
    assert 2 <= epoch <= pretrain["epochs"]
    assert 0 <= report["finetune"]["top1_video"] <= 1 and report["finetune"]["test_videos"] > 0
