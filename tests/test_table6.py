"""Table 6 as the paper prints it: a cell averaged over the three official splits (per seed, then
mean and spread over seeds), splits that add only fine-tuning, evaluation and feature jobs, and
the other methods' rows printed from config as the paper's numbers only, with no job."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import run_snakemake

from cstp.errors import CstpError
from cstp.planning.plan import Plan
from cstp.planning.rules import schema_error
from cstp.reporting.latex import to_latex
from cstp.reporting.peers import with_peers
from cstp.reporting.tables import summarize

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def config(splits=None, seeds=(0,), **table6):
    out = copy.deepcopy({**CONFIG, "preset": "smoke", "seeds": list(seeds)})
    if splits:
        out["tables"]["table6"]["splits"] = list(splits)
    out["tables"]["table6"] |= table6
    return out


def test_a_cell_over_splits_is_the_mean_of_its_splits_per_seed():
    plan = Plan.from_config(config(splits=[1, 2, 3], seeds=[0, 1]))
    # Made-up accuracies per (seed, split): the cell's number per seed is the mean of its splits.
    made = {(0, 1): 60.0, (0, 2): 70.0, (0, 3): 80.0, (1, 1): 90.0, (1, 2): 90.0, (1, 3): 60.0}
    rows = [
        {
            "exp": e.cell.exp,
            "seed": e.seed,
            "dataset": e.dataset.key,
            "split": e.dataset.split,
            "ours": made[(e.seed, e.dataset.split)],
            "probe": made[(e.seed, e.dataset.split)] / 2,
            "pretrain_run": e.pretrain or "",
            "finetune_run": e.finetune,
        }
        for e in plan.tables["table6"]
    ]
    summary = summarize(plan, "table6", pd.DataFrame(rows)).set_index("Exp.")
    label = plan.study.datasets["ucf101"].label
    # Seed 0: (60 + 70 + 80) / 3 = 70; seed 1: (90 + 90 + 60) / 3 = 80.
    assert summary.loc["3", f"{label}: ours"] == 75.0
    assert summary.loc["3", f"{label}: ours std"] == pytest.approx(7.1)  # |80 - 70| / sqrt 2
    assert summary.loc["3", f"{label}: probe"] == 37.5
    assert summary.loc["3", f"{label}: ours - paper"] == pytest.approx(75.0 - 85.7)
    assert set(summary["splits"]) == {"1;2;3"} and set(summary["seeds"]) == {2}
    # Every fine-tune behind the number (3 splits x 2 seeds), and one pretraining per seed.
    assert len(summary.loc["3", f"{label}: run"].split(";")) == 6
    assert len(summary.loc["3", "pretrain run"].split(";")) == 2


def test_splits_add_only_finetune_evaluate_and_features_jobs():
    one, three = Plan.from_config(config()), Plan.from_config(config(splits=[1, 2, 3]))
    before, after = one.counts(["table6"]), three.counts(["table6"])
    assert after["pretrain"] == before["pretrain"] == 7
    for kind in ("finetune", "evaluate", "features"):
        assert after[kind] == 3 * before[kind] == 48
    assert one.added_by_splits("table6") is None
    assert three.added_by_splits("table6") == {
        "pretrain": 0,
        "finetune": 32,
        "evaluate": 32,
        "features": 32,
    }
    # Every split's fine-tune starts from the one pretraining on UCF-101 split 1 (T10) and
    # reads its own split's index; split 1's runs are the one-split plan's.
    for entry in three.tables["table6"]:
        if entry.pretrain:
            pretrain = three.run("pretrain", entry.pretrain)
            assert pretrain.dataset.split == 1 and pretrain.spec.split == 1
        finetune = three.run("finetune", entry.finetune)
        assert finetune.spec.split == entry.dataset.split
        assert finetune.dataset.index.name.endswith(f"_split{entry.dataset.split}.csv")
    split1 = {e.finetune for e in three.tables["table6"] if e.dataset.split == 1}
    assert split1 == {e.finetune for e in one.tables["table6"]}
    # The other tables keep the preset's split.
    assert {e.dataset.split for t in ("table2", "table7") for e in three.tables[t]} == {1}


def job_stats(*extra: str) -> dict[str, int]:
    out = run_snakemake(
        *("results/table6.csv", "--dry-run", "--forceall", "--nolock", "--cores", "1"),
        *("--config", "preset=smoke", *extra, "--quiet", "rules"),
        cwd=ROOT,
    ).stdout
    table = out.split("Job stats:")[1]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


def test_the_dag_with_three_splits_from_the_command_line():
    one = job_stats()
    three = job_stats('tables={"table6": {"splits": [1, 2, 3]}}')
    assert (one["pretrain"], one["finetune"], one["evaluate"], one["features"]) == (7, 16, 16, 16)
    assert (three["pretrain"], three["finetune"], three["evaluate"]) == (7, 48, 48)
    assert three["features"] == 48 and three["table"] == 1
    # Splits 2 and 3 of UCF-101 and HMDB-51 get their own index; the data is generated once.
    assert (one["scan"], three["scan"]) == (3, 7) and one["synth"] == three["synth"] == 3


def test_peer_rows_print_the_papers_numbers_and_create_no_job():
    plan = Plan.from_config(config())
    without = Plan.from_config(config(peers=[]))
    assert plan.counts(["table6"]) == without.counts(["table6"])
    assert {k: set(v) for k, v in plan.runs.items()} == {k: set(v) for k, v in without.runs.items()}
    summary = summarize(plan, "table6", _measured(plan))
    table = with_peers(plan, "table6", summary)
    ours, peers = table[table["source"] == "regenerated"], table[table["source"] == "paper"]
    assert list(ours["Exp."]) == [str(n) for n in range(1, 9)]
    assert len(peers) == 21 and list(table.columns) == [*summary.columns, "source", "reference"]
    ucf, hmdb = (plan.study.datasets[k].label for k in ("ucf101", "hmdb51"))
    vcop = peers[(peers["Exp."] == "VCOP") & (peers["Backbone"] == "R(2+1)D")].iloc[0]
    assert (vcop[f"{ucf}: paper"], vcop[f"{hmdb}: paper"]) == (72.4, 30.9)
    assert vcop["Dataset"] == "UCF-101" and vcop["Freeze"] == "✗"
    assert vcop["reference"] == "Xu et al. 2019"
    ccl = peers.iloc[0]
    assert (ccl["Exp."], ccl["Backbone"], ccl["Dataset"], ccl["Freeze"]) == (
        "CCL",
        "R3D-18",
        "K400",
        "✓",
    )
    assert peers[[f"{ucf}: ours", f"{hmdb}: ours", f"{ucf}: run"]].isna().all().all()
    assert peers["seeds"].isna().all() and list(ours["seeds"]) == [1] * 8
    assert "seeds\n1\n" in table[["seeds"]].head(1).to_csv(index=False)


def test_peer_rows_in_latex_are_a_block_below_the_rule_in_the_papers_order():
    plan = Plan.from_config(config())
    tex = to_latex(plan, "table6", summarize(plan, "table6", _measured(plan)))
    body = tex.split(r"\midrule")
    assert len(body) == 3  # header | our cells | peers
    ours, peers = body[1].strip().splitlines(), body[2].split(r"\bottomrule")[0].strip()
    # Each block is labelled: our regenerated cells, then the other methods (paper only).
    assert ours[0] == r"\multicolumn{8}{@{}l}{\textit{Ours, regenerated (synthetic)}} \\"
    assert "Other methods: the paper's numbers, not run here" in peers.splitlines()[0]
    assert len(ours) == 9 and r"\textbf" in body[1] and r"\textbf" not in peers
    names = [line.split(" & ")[0] for line in peers.splitlines()[1:]]
    assert names[:5] == ["CCL", "MemDPC", "TaCo", "MFO", "Supervised"]
    assert names[-3:] == ["MFO", "CoCLR*", "CoCLR*"] and len(names) == 21
    assert r"VCOP & R(2+1)D & UCF-101 & $\times$ &  & 72.4 &  & 30.9 \\" in peers
    assert r"CoCLR* & S3D & K400 & $\times$ &  & 87.9 &  & 54.6 \\" in peers
    words = tex.split(r"\caption")[1]
    assert "*CoCLR used optical flow as guidance on training." in words


def _measured(plan: Plan) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "exp": e.cell.exp,
            "seed": e.seed,
            "dataset": e.dataset.key,
            "split": e.dataset.split,
            "ours": 50.0 + i,
            "probe": 20.0,
            "pretrain_run": e.pretrain or "",
            "finetune_run": e.finetune,
        }
        for i, e in enumerate(plan.tables["table6"])
    )


def test_peers_need_columns_a_peer_can_fill_and_an_accuracy_table():
    bad = config()
    bad["tables"]["table2"]["peers"] = [{"method": "X", "paper": {"ucf101": 1.0}}]
    with pytest.raises(CstpError, match="has no value for a peer"):
        Plan.from_config(bad, check_paths=False)
    bad = config()
    bad["tables"]["table7"]["peers"] = [{"method": "X", "paper": {"ucf101": 1.0}}]
    with pytest.raises(CstpError, match="peer rows are for accuracy tables"):
        Plan.from_config(bad, check_paths=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"datasets": ["kinetics400"], "splits": [1, 2], "peers": []}, "has no official splits"),
    ],
)
def test_bad_splits_or_peers_say_which_key(change, message):
    with pytest.raises(CstpError, match=message):
        Plan.from_config(config(**change), check_paths=False)


def test_the_schema_allows_splits_1_to_3_only():
    assert schema_error(config(splits=[1, 2, 3]), SCHEMA) is None
    assert "tables.table6.splits.1" in schema_error(config(splits=[1, 4]), SCHEMA)


def test_plan_says_what_the_later_splits_add():
    command = [sys.executable, "-m", "cstp", "plan", "--preset", "smoke", "--splits", "1,2,3"]
    out = subprocess.run(
        [*command, "table6"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^table6 +8 +7 +7 +48 +48 +48 ", out, flags=re.M)
    assert "splits 2, 3 add 32 finetune, 32 evaluate, 32 features jobs and no pretraining" in out
    plain = subprocess.run(
        [*command[:-2], "table6"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^table6 +8 +7 +7 +16 +16 +16 ", plain, flags=re.M)
    assert "splits" not in plain
