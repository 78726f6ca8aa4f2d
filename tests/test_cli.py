"""The command line's contract: every subcommand is listed, user errors are one line and exit 2."""

import re
import subprocess
import sys

import pytest

from cstp.cli import main


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    listed = set(re.findall(r"^    ([a-z][a-z-]+)\s", capsys.readouterr().out, flags=re.M))
    jobs = {"synth", "data", "cache", "pretrain", "finetune", "linear", "evaluate", "features"}
    jobs |= {"table", "figure"}
    tools = {"plan", "code", "probe", "retrieve", "bench", "stor-stats", "show-pair"}
    assert listed == jobs | tools


def test_console_script_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "cstp", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("cstp ")
