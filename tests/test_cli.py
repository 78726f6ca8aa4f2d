"""The command line's contract: every subcommand is listed, user errors are one line and exit 2."""

import subprocess
import sys

import pytest

from cstp.cli import main


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in (
        "synth",
        "data",
        "bench",
        "stor-stats",
        "show-pair",
        "pretrain",
        "linear",
        "probe",
    ):
        assert command in out


def test_console_script_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "cstp", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("cstp ")
