"""The Snakemake workflow planned but not run: job counts per table, shared cells, config errors,
the Slurm profile, lint. The runs themselves are in test_workflow_runs.py."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import TOOL_ENV, run_snakemake, workflow_copy

from cstp.planning.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
ENV = TOOL_ENV


def snakemake(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    return run_snakemake(*args, cwd=cwd, check=check)


def cstp(*args: str, cwd: Path, pythonpath: Path | None = None) -> str:
    env = ENV if pythonpath is None else {**ENV, "PYTHONPATH": str(pythonpath)}
    command = [sys.executable, "-m", "cstp", *args]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout


def job_stats(target: str, *extra: str) -> dict[str, int]:
    out = snakemake(
        target,
        "--dry-run",
        "--forceall",
        "--nolock",
        "--cores",
        "1",
        "--config",
        "preset=smoke",
        *extra,
        "--quiet",
        "rules",
    ).stdout
    table = out.split("Job stats:")[1]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


EXPECTED = {  # pretrain, finetune (= evaluate), features, from the paper's tables
    "table1": (7, 11, 8),
    "table2": (15, 32, 32),
    "table3": (16, 32, 32),
    "table4": (6, 12, 12),
    "table5": (3, 4, 4),
    "table6": (7, 16, 16),
    "table7": (2, 0, 4),  # retrieval: frozen features only, no fine-tuning
}


@pytest.mark.parametrize("table", sorted(EXPECTED))
def test_dry_run_job_counts_per_table(table):
    stats = job_stats(f"results/{table}.csv")
    pretrain, finetune, features = EXPECTED[table]
    datasets = len(CONFIG["tables"][table]["datasets"])
    assert stats["pretrain"] == pretrain
    assert stats.get("finetune", 0) == stats.get("evaluate", 0) == finetune
    assert stats["code_stamp"] == (7 if finetune else 5)  # one per kind of job
    assert stats["features"] == features
    # Table 6 also pretrains on the Kinetics-400 stand-in.
    assert stats["synth"] == stats["scan"] == datasets + (table == "table6")
    assert stats["table"] == 1


def test_the_table_job_names_its_log_and_a_short_reason():
    """The table job depends on one stamp per cell (rule cell_runs), not on every run output:
    its reason in a dry run is a line of cell stamps, not several kilobytes of run files."""
    out = snakemake(
        *("results/table2.csv", "--dry-run", "--nolock", "--cores", "1"),
        *("--config", "preset=smoke", "seeds=[0,1,2]"),
    ).stdout
    lines = out.splitlines()
    job = next(i for i, line in enumerate(lines) if ": table table2:" in line)
    assert lines[job].endswith("(log: logs/table/table2.log)")
    reason = lines[job + 1]
    assert reason.startswith("Reason:") and "runs/cells/table2/row15.done" in reason
    assert len(reason) < 1000 and "runs/finetune" not in reason
    assert "table2 Exp 16: every run behind it is done (log: logs/cells/table2/row15.log)" in out


def test_all_tables_share_equal_cells():
    stats = job_stats("all")
    # Tables 1-5: 47 cells pretrain, 9 of them repeat another cell: 38 distinct runs
    # (paper-tables note); Table 7 adds its C3D row (its R(2+1)D row is Table 2 Exp 16), Table 6
    # five more (its R(2+1)D and C3D rows on UCF-101 are Table 2 Exp 16's and Table 7's).
    assert stats["pretrain"] == 44
    assert stats["finetune"] == 88 and stats["table"] == 7
    counts = Plan.from_config(CONFIG).counts(sorted(EXPECTED))
    assert counts["cells_that_pretrain"] == 56 and counts["pretrain"] == 44
    ablations = Plan.from_config(CONFIG).counts([t for t in EXPECTED if t < "table6"])
    assert ablations["cells_that_pretrain"] == 47 and ablations["pretrain"] == 38


def _runs(plan, table, exp, dataset="ucf101"):
    for entry in plan.tables[table]:
        if entry.cell.exp == str(exp) and entry.dataset.key == dataset:
            return entry.pretrain, entry.finetune, entry.features
    raise KeyError((table, exp))


def test_equal_cells_of_different_tables_are_one_job():
    plan = Plan.from_config(CONFIG)
    same = [
        (("table1", 4), ("table2", 1)),  # scratch with Base + PB + Rot augmentation
        (("table1", 6), ("table2", 3)),
        (("table1", 8), ("table2", 4)),
        (("table1", 11), ("table2", 5)),
        (("table2", 5), ("table4", 5)),
        (("table1", 1), ("table5", "baseline")),
        (("table1", 9), ("table5", "both")),
        (("table2", 16), ("table3", "BYOL-4")),
    ]
    for a, b in same:
        assert _runs(plan, *a) == _runs(plan, *b), (a, b)
    assert _runs(plan, "table2", 5, "hmdb51") == _runs(plan, "table4", 5, "hmdb51")
    # A pretraining run is shared by the datasets that fine-tune from it.
    assert _runs(plan, "table2", 16)[0] == _runs(plan, "table2", 16, "hmdb51")[0]
    assert _runs(plan, "table2", 16)[1] != _runs(plan, "table2", 16, "hmdb51")[1]
    assert _runs(plan, "table1", 5) != _runs(plan, "table1", 6)
    # Table 7's R(2+1)D row is Table 2 Exp 16's pretraining and features, without fine-tuning.
    for key in ("ucf101", "hmdb51"):
        pretrain, finetune, features = _runs(plan, "table7", "CSTP", key)
        assert (pretrain, features) == _runs(plan, "table2", 16, key)[::2] and finetune is None
    assert _runs(plan, "table6", 3)[0] == _runs(plan, "table2", 16)[0]
    assert _runs(plan, "table6", 5)[0] == _runs(plan, "table7", "CSTP-C3D")[0]
    k400 = plan.run("pretrain", _runs(plan, "table6", 4)[0])
    assert k400.dataset.key == "kinetics400" and k400.spec.backbone.name == "r2plus1d_10"
    assert plan.run("finetune", _runs(plan, "table6", 1)[1]).spec.protocol == "linear"  # Freeze
    c3d = plan.run("pretrain", _runs(plan, "table7", "CSTP-C3D")[0]).spec
    assert c3d.backbone.name == "c3d" and c3d.backbone.width == plan.study.preset.backbone.width
    assert plan.run("features", _runs(plan, "table7", "CSTP-C3D")[2]).spec.backbone == c3d.backbone


def test_several_seeds_multiply_the_runs():
    plan = Plan.from_config({**CONFIG, "seeds": [0, 1, 2]})
    assert plan.counts(["table2"])["pretrain"] == 45


def _smoke_optim(recipe: str, key: str, value) -> dict:
    """The config's presets with one optimiser setting of the smoke preset's `recipe` replaced."""
    smoke = CONFIG["presets"]["smoke"]
    section = smoke.get(recipe, {})
    optim = {**section.get("optim", {}), key: value}
    presets = {**CONFIG["presets"], "smoke": {**smoke, recipe: {**section, "optim": optim}}}
    return {"presets": presets, "preset": "smoke"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"preset": "nope"},
            "preset: 'nope' is not defined; defined presets: default, effects, paper, smoke",
        ),
        ({"seeds": []}, "[] should be non-empty"),
        (
            {
                "tables": {
                    "table9": {
                        "datasets": ["ucf101"],
                        "columns": [{"name": "x", "show": "base"}],
                        "rows": [{"exp": 1, "contrastive": "swav"}],
                    }
                }
            },
            "'swav' is not one of ['none', 'simclr', 'moco', 'byol', 'simsiam']",
        ),
        (
            {
                "presets": {
                    **CONFIG["presets"],
                    "smoke": {**CONFIG["presets"]["smoke"], "backbone": {"name": "vit"}},
                },
                "preset": "smoke",
            },
            "presets.smoke.backbone.name: 'vit' is not one of c3d, r2plus1d_10, r2plus1d_18",
        ),
        ({"preset": "paper"}, "presets.paper.datasets.ucf101.root: /data/UCF-101 does not exist"),
        (
            {  # a user's own copy given to a synthetic dataset: refused, never silently ignored
                "presets": {
                    **CONFIG["presets"],
                    "default": {
                        **CONFIG["presets"]["default"],
                        "datasets": {
                            **CONFIG["presets"]["default"]["datasets"],
                            "ucf101": {
                                **CONFIG["presets"]["default"]["datasets"]["ucf101"],
                                "root": "/data/UCF-101",
                                "splits": "/data/ucfTrainTestlist",
                            },
                        },
                    },
                },
            },
            "presets.default.datasets.ucf101: synthetic: true but `root`/`splits` are given",
        ),
        ({"colour": 1}, "Additional properties are not allowed ('colour' was unexpected)"),
        *(  # budgets and rates out of range: an untrained "pretrained" encoder, a traceback
            (
                _smoke_optim(recipe, key, value),
                f"presets.smoke.{recipe}.optim.{key}: {wanted}",
            )
            for recipe, key, value, wanted in (
                ("pretrain", "epochs", 0, "0 is out of range; expected >= 1"),
                ("finetune", "batch_size", 0, "0 is out of range; expected >= 1"),
                ("pretrain", "lr", float("nan"), "expected a finite number, got nan"),
            )
        ),
    ],
)
def test_bad_config_stops_before_any_job_and_says_why(override, message, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, **override}))
    result = snakemake("-n", "--nolock", "--configfile", str(config), "--cores", "1", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "Job stats" not in result.stdout
    said = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(said) < 25, f"{len(said)} lines for one bad key"


def test_slurm_profile_and_a_site_profile_keep_the_checkpoint_signal(tmp_path):
    profile = yaml.safe_load((ROOT / "slurm" / "profile.yaml").read_text())
    assert "set-resources" not in profile  # GPUs come from the preset, the signal from the rules
    assert profile["slurm-status-command"] == "squeue"  # sacct hangs without accounting
    # A site profile layered on top, with its own set-resources for a training rule.
    site = tmp_path / "site"
    site.mkdir()
    (site / "profile.yaml").write_text(
        yaml.safe_dump(
            {
                "default-resources": {"slurm_account": "abc", "mem_mb": 8000, "runtime": 60},
                "set-resources": {"pretrain": {"slurm_partition": "gpu"}},
            }
        )
    )
    gpus = 'presets={"smoke": {"resources": {"train": {"gpu": 1}}}}'
    out = snakemake(
        *("results/table5.csv", "-n", "--nolock", "--profile", "slurm", "--profile", str(site)),
        *("--config", "preset=smoke", gpus),
    ).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M))
    assert (counts["pretrain"], counts["finetune"]) == ("3", "4")  # every job planned
    # The signal lives in the training rules (a site's set-resources cannot drop it); the sbatch
    # lines of a real cluster run show it (tests/test_slurm.py).
    for rule in ("pretrain", "finetune"):
        text = (ROOT / "workflow" / "rules" / f"{rule}.smk").read_text()
        assert "slurm_extra=TRAIN_SLURM," in text
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    assert 'TRAIN_SLURM = "--signal=USR1@300 --open-mode=append"' in common


def test_a_preset_with_processes_launches_pretraining_through_torchrun():
    train = {"threads": 4, "workers": 7, "compile": "cuda"}
    override = 'presets={"smoke": {"pretrain": {"processes": 2}, "resources": {"train": %s}}}'
    commands = snakemake(
        *("results/table5.csv", "-n", "-p", "--forceall", "--nolock", "--cores", "4"),
        *("--config", "preset=smoke", override % json.dumps(train)),
    ).stdout
    lines = [line for line in commands.splitlines() if " pretrain --spec" in line]
    launch = (
        "Shell command: torchrun --standalone --nproc-per-node 2 --signals-to-handle "
        "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1 --shutdown-timeout 120 -m cstp pretrain --spec"
    )
    # Each process: half the cores, loader workers capped to that less one, the fast path.
    runtime = "--threads 2 --workers 1 --compile cuda "
    assert lines and all(line.startswith(launch) and runtime in line for line in lines)
    bad = 'presets={"smoke": {"pretrain": {"processes": 2}, "resources": {"train": {"gpu": 1}}}}'
    result = snakemake("results/table5.csv", "-n", "--config", "preset=smoke", bad, check=False)
    assert result.returncode != 0
    assert "resources.train.gpu: 1 GPUs for pretrain.processes 2" in result.stdout + result.stderr


def test_lint_and_formatting_are_clean():
    for command in (
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "ruff", "format", "--check", "."],
        [str(Path(sys.executable).parent / "snakefmt"), "--check", "."],
    ):
        result = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True)
        assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"
    lint = snakemake("--lint", "--nolock", check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_finetune_augment_switch():
    def augment(rule, table, exp):
        plan = Plan.from_config({**CONFIG, "interpretation": {"finetune_augment": rule}})
        finetune = plan.run("finetune", _runs(plan, table, exp)[1]).spec
        return finetune.sampling.augment.playback_rate, finetune.sampling.augment.rotation

    assert augment("scratch_only", "table2", 16) == (False, False)
    assert augment("row", "table2", 16) == (True, True)
    assert augment("scratch_only", "table2", 1) == (True, True)  # from scratch: its recipe
    assert augment("row", "table1", 5) == (True, False)


def test_plan_list_names_the_cells_of_each_job(tmp_path):
    config = str(ROOT / "config.yaml")
    result = cstp("plan", "--config", config, "--list", "results/table2.csv", cwd=tmp_path)
    result = result.splitlines()
    pretrain = [line for line in result if line.startswith("pretrain")]
    assert len(pretrain) == 15 and all(" missing: " in line for line in pretrain)
    row16 = [line for line in pretrain if "table2 Exp 16 (seed 0)" in line]
    assert len(row16) == 1 and "table3 Exp BYOL-4 (seed 0)" in row16[0]
    # 15 + 32 + 32 + 32, and the default preset's positive control: a fine-tune, two features
    assert result[-1] == "114 missing of 114 jobs"
    control = [line for line in result if line.startswith("finetune") and "control" in line]
    assert len(control) == 1 and "table2 control (seed 0)" in control[0]


def test_the_frame_cache_switch_adds_cache_jobs_that_the_jobs_read():
    override = 'presets={"smoke": {"frame_cache": true}}'
    stats = job_stats("results/table2.csv", override)
    assert stats["cache"] == 2  # one per dataset
    commands = snakemake(
        *("results/table2.csv", "-n", "-p", "--forceall", "--nolock", "--cores", "1"),
        *("--config", "preset=smoke", override),
    ).stdout
    for kind in ("pretrain", "finetune", "evaluate", "features"):
        lines = [line for line in commands.splitlines() if f"cstp {kind} --spec" in line]
        assert lines and all("--cache data/cache/synth-tiny-" in line for line in lines)
    assert "cache" not in job_stats("results/table2.csv")


@pytest.mark.parametrize(
    ("text", "kind"), [("- preset: smoke\n", "a list"), ("smoke\n", "a single value ('smoke')")]
)
def test_a_config_file_that_is_not_a_mapping_is_named(text, kind, tmp_path):
    work = tmp_path / "work"
    workflow_copy(work)
    (work / "config.yaml").unlink()  # the copy's link to the repository's config
    (work / "config.yaml").write_text(text)
    result = snakemake("-n", "--nolock", "--cores", "1", cwd=work, check=False)
    said = result.stdout + result.stderr
    assert result.returncode != 0 and "Job stats" not in said
    message = (
        f"a config file holds a mapping of keys (preset:, seeds:, presets:, tables:), not {kind}"
    )
    assert f"config: config.yaml: {message}" in said
    listed = subprocess.run(
        [sys.executable, "-m", "cstp", "plan", "--config", str(work / "config.yaml")],
        cwd=work,
        env=ENV,
        capture_output=True,
        text=True,
    )
    err = listed.stderr.strip().splitlines()
    assert listed.returncode == 2 and len(err) == 1
    assert err[0].endswith(f"{work / 'config.yaml'}: {message}")
