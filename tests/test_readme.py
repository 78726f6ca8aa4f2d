"""The README's two quick-start commands are the ones CI and users run."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = _quick_start_commands()[1]
    assert "pytest" in test_command
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def _printed_snakemake_commands() -> list[str]:
    texts = [(ROOT / "README.md").read_text()]
    texts += [p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))]
    found = {c for text in texts for c in re.findall(r"`(snakemake [^`]*)`", text)}
    return sorted(c.replace("TARGET", "results/table5.csv") for c in found)


@pytest.mark.parametrize("command", _printed_snakemake_commands())
def test_every_snakemake_command_the_docs_print_plans(command):
    """Each one as a dry run: the overrides parse, the targets exist, the profile resolves.

    --forceall counts every job of the DAG, also in a checkout whose results are already made
    (the README's main command run before the tests)."""
    args = shlex.split(command)[1:]
    if "--report" in args or "--touch" in args:
        pytest.skip("needs finished results: covered by the smoke-run tests")
    args = [a for a in args if a != "-n"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            *args,
            "-n",
            "--forceall",
            "--nolock",
            "--quiet",
            "rules",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    if "seeds=[0,1,2]" in command:
        stats = result.stdout.split("Job stats:")[1]
        assert re.search(r"^pretrain\s+45$", stats, flags=re.M)  # 15 per seed
    if '"splits": [1,2,3]' in command:  # Table 6 on three splits: one pretraining per cell
        stats = result.stdout.split("Job stats:")[1]
        assert re.search(r"^pretrain\s+7$", stats, flags=re.M)
        assert re.search(r"^finetune\s+49$", stats, flags=re.M)  # 48 and the control's


def _printed_plan_commands() -> list[str]:
    texts = [(ROOT / "README.md").read_text()]
    texts += [p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))]
    found = {" ".join(c.split()) for t in texts for c in re.findall(r"`(cstp\s+plan[^`]*)`", t)}
    return sorted(c.replace("TARGET", "results/table5.csv") for c in found if "<" not in c)


@pytest.mark.parametrize("command", _printed_plan_commands())
def test_every_cstp_plan_command_the_docs_print_runs(command):
    """`cstp plan` reads no data, so each printed one runs as it is (estimates included)."""
    result = subprocess.run(
        [sys.executable, "-m", "cstp", *shlex.split(command)[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
