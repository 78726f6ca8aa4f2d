"""The paper's evaluation beyond the ablations: the retrieval table (Table 7) and the qualitative
figures (which videos they show, the neighbours and maps they draw, config errors), with a real
run of each on the smoke preset."""

import re
import subprocess

import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import TOOL_ENV, run_snakemake
from test_workflow import CONFIG, ROOT, job_stats
from torch import nn

from cstp.engine.activation import activation_maps
from cstp.engine.encoder import to_input
from cstp.engine.probe import ranked, retrieval_recall
from cstp.errors import CstpError
from cstp.models.backbones import BACKBONES, build_backbone
from cstp.planning.figures import figure_inputs, load_figures, pick_videos
from cstp.planning.plan import Plan


def test_pick_videos_takes_the_first_video_of_classes_spread_evenly():
    labels = [3, 3, 0, 1, 0, 2, 4, 5, 1, 2, 6, 7]
    assert pick_videos(labels, 4) == [2, 5, 6, 10]  # the first of classes 0, 2, 4, 6
    assert pick_videos(labels, 20) == [2, 3, 5, 0, 6, 7, 10, 11]  # every class once
    assert len({labels[i] for i in pick_videos(labels, 5)}) == 5


def test_ranked_orders_the_gallery_by_cosine_similarity_and_agrees_with_recall():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.2]])
    queries = torch.tensor([[2.0, 0.1], [0.0, -1.0]])
    similarity, order = ranked(queries, gallery)
    assert order.tolist() == [[0, 2, 1, 3], [0, 3, 2, 1]]
    expected = F.cosine_similarity(queries[:, None], gallery[None], dim=2)
    assert torch.allclose(similarity, expected.gather(1, order))
    labels, query_labels = torch.tensor([0, 1, 0, 2]), torch.tensor([1, 2])
    recall = retrieval_recall(queries, query_labels, gallery, labels, ks=(1, 2, 3))
    # Query 1's class is third in its ranking, query 2's second.
    assert recall == {"R@1": 0.0, "R@2": 0.5, "R@3": 1.0}
    centred = ranked(queries, gallery, center=True)[1]
    mean = gallery.mean(0)
    manual = F.normalize(queries - mean, dim=1) @ F.normalize(gallery - mean, dim=1).T
    assert centred.tolist() == manual.argsort(dim=1, descending=True).tolist()


class PoolOnly(nn.Module):
    """A 'backbone' whose last stage is its input: the map must be the clip's channel mean."""

    def __init__(self):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x):
        return self.avgpool(x).flatten(1)


def test_activation_map_is_the_channel_and_time_mean_of_the_last_stage_scaled_per_clip():
    clips = torch.randint(0, 256, (2, 3, 4, 8, 8), dtype=torch.uint8)
    maps, positions = activation_maps(PoolOnly(), clips)
    assert positions == (8, 8)
    expected = to_input(clips, torch.device("cpu")).mean(dim=(1, 2))
    for clip, got in zip(expected, maps, strict=True):
        scaled = (clip - clip.min()) / (clip.max() - clip.min())
        assert torch.allclose(got, scaled, atol=1e-6)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_gives_maps_of_the_clip_size(name):
    backbone = build_backbone(name, 0.125).train()
    clips = torch.randint(0, 256, (2, 3, 8, 32, 32), dtype=torch.uint8)
    maps, positions = activation_maps(backbone, clips)
    assert maps.shape == (2, 32, 32) and backbone.training  # mode restored
    assert float(maps.min()) >= 0 and float(maps.max()) <= 1
    if positions != (1, 1):
        assert float(maps.max()) == pytest.approx(1.0)


def _config(**figure) -> dict:
    return {**CONFIG, "figures": {"figure9": figure}}


@pytest.mark.parametrize(
    ("figure", "message"),
    [
        ({"table": "table8", "exps": [1]}, "figures.figure9.table: 'table8' is not a table"),
        ({"exps": [99]}, "figures.figure9.exps: table2 has no Exp 99"),
        ({"dataset": "kinetics400"}, "figures.figure9.dataset: 'kinetics400' is not a dataset"),
        ({"exps": [1, 16]}, "trains from scratch: no pretrained encoder"),
        ({"kind": "retrieval", "exps": [2, 16]}, "a retrieval figure shows one cell"),
    ],
)
def test_a_figure_naming_what_the_config_lacks_is_one_clear_line(figure, message):
    spec = {"kind": "activation", "table": "table2", "exps": [2], "dataset": "ucf101"} | figure
    config = _config(**spec)
    with pytest.raises(CstpError, match=re.escape(message)):
        load_figures(config, Plan.from_config(config))


def test_figures_draw_on_the_runs_of_their_cells_and_share_them_with_the_tables():
    plan = Plan.from_config(CONFIG)
    figures = load_figures(CONFIG, plan)
    table2 = {(e.cell.exp, e.dataset.key): e for e in plan.tables["table2"] if e.seed == 0}
    five = [str(p) for p in figure_inputs(plan, figures["figure5"])]
    assert five[0] == f"runs/features/{table2['16', 'ucf101'].features}/features.pt"
    six = [str(p) for p in figure_inputs(plan, figures["figure6"])]
    assert six[:2] == [
        f"runs/pretrain/{table2[exp, 'ucf101'].pretrain}/encoder.pt" for exp in ("2", "16")
    ]
    # Dry run: no job beyond the cells' own, and `all` builds both figures.
    assert job_stats("results/figure5.png")["pretrain"] == 1
    stats = job_stats("results/figure6.png")
    assert stats["pretrain"] == 2 and stats.get("features", 0) == 0 and stats["figure"] == 1
    assert job_stats("all")["figure"] == 2


@pytest.mark.slow
def test_both_figures_on_the_smoke_preset(smoke_run):
    run_snakemake(
        "--cores", "2", "results/figure5.png", "results/figure6.png", "--config",
        "preset=smoke", cwd=smoke_run,
    )  # fmt: skip
    for name in ("figure5", "figure6"):
        assert (smoke_run / "results" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    # The hits the retrieval figure reports are the neighbours' classes in its features file.
    study = yaml.safe_load((ROOT / "config.yaml").read_text()) | {"preset": "smoke"}
    plan = Plan.from_config(study, check_paths=False)
    features = torch.load(
        smoke_run / figure_inputs(plan, load_figures(study, plan)["figure5"])[0],
        weights_only=False,
    )
    test, train = features["test"], features["train"]
    log = (smoke_run / "logs" / "figure" / "figure5.log").read_text()
    lines = re.findall(r"^  (\S+) \((\w+)\): ((?:hit|miss)(?: (?:hit|miss))*)$", log, re.M)
    assert len(lines) == 4  # 4 classes in the tiny set, 5 asked for
    for video, _, marks in lines:
        q = test["videos"].index(video)
        order = ranked(test["features"][q : q + 1], train["features"])[1][0, :3]
        hits = ["hit" if train["labels"][i] == test["labels"][q] else "miss" for i in order]
        assert marks.split() == hits
    # Drawn: the same targets have nothing left to do.
    dry = run_snakemake(
        "-n", "results/figure5.png", "results/figure6.png", "--config", "preset=smoke",
        cwd=smoke_run,
    )  # fmt: skip
    assert "Nothing to be done" in dry.stdout


def test_cstp_figure_names_the_figures_a_config_has(tmp_path):
    result = subprocess.run(
        ["cstp", "figure", "figure9", "--preset", "smoke", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        env=TOOL_ENV,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "figure9: no such figure in config.yaml; figures: figure5, figure6" in result.stderr


@pytest.mark.slow
def test_the_retrieval_table_on_the_smoke_preset(smoke_run):
    import json

    import pandas as pd

    run_snakemake("--cores", "2", "results/table7.csv", "--config", "preset=smoke", cwd=smoke_run)
    table = pd.read_csv(smoke_run / "results" / "table7.csv")
    assert list(table["Exp."]) == ["CSTP", "CSTP-C3D"]
    assert list(table["Backbone"]) == ["R(2+1)D-10", "C3D"]
    label = "HMDB-51 (synthetic stand-in, tiny)"
    assert list(table[f"{label}: paper R@1"]) == [21.6, 19.3]
    for _, row in table.iterrows():  # ours: the features job's recall, in percent
        retrieval = json.loads(
            (
                smoke_run / "runs" / "features" / row[f"{label}: features run"] / "retrieval.json"
            ).read_text()
        )
        for k in (1, 5, 10, 20, 50):
            assert row[f"{label}: R@{k}"] == round(100 * retrieval[f"R@{k}"], 1)
    assert not any(c.endswith(": ours") for c in table.columns)  # no fine-tuning column
    tex = (smoke_run / "results" / "table7.tex").read_text()
    assert r"\quad paper" in tex and "R@10" in tex
    assert "## table7" in (smoke_run / "results" / "summary.md").read_text()


def test_plan_prints_the_jobs_each_table_shares_with_the_others(tmp_path):
    out = subprocess.run(
        ["cstp", "plan", "--config", str(ROOT / "config.yaml")],
        cwd=tmp_path, env=TOOL_ENV, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert out.splitlines()[1].split()[-4:] == ["shared", "pretrain", "shared", "features"]
    # cells, that pretrain, pretrain, finetune, evaluate, features, shared pretrain / features:
    # Table 7's R(2+1)D row is Table 2 Exp 16, its C3D row Table 6 Exp 5: both pretraining runs
    # and their features on both datasets are shared.
    assert lines["table7"] == ["2", "2", "2", "0", "0", "4", "2", "4"]
    # Table 6: the scratch row's random-init features too, and the default preset's positive
    # control (one feature job per dataset, every accuracy table's).
    assert lines["table6"][-2:] == ["2", "8"]
    assert lines["all"][-2:] == ["-", "-"]


def test_a_reader_that_goes_away_ends_cstp_quietly(tmp_path):
    # Ten seeds: far more lines than a pipe holds, so cstp is still writing when the reader goes.
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "seeds": list(range(10))}))
    plan = subprocess.Popen(
        ["cstp", "plan", "--config", str(config), "--list"],
        cwd=tmp_path, env=TOOL_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    plan.stdout.readline()
    plan.stdout.close()  # as `| head -1` does
    try:
        plan.wait(timeout=600)  # it takes seconds: ten times that and more
    except subprocess.TimeoutExpired:
        plan.kill()
        plan.wait()
        raise AssertionError(f"still running after its reader went: {plan.stderr.read()}") from None
    errors = plan.stderr.read().decode()
    assert plan.returncode == 0 and "Traceback" not in errors, errors


def test_the_kinetics_stand_in_is_read_as_kinetics_400_is(tmp_path):
    from cstp.data.generate import generate
    from cstp.data.scan import scan
    from cstp.data.synth import PRESETS

    generate(tmp_path, PRESETS["tiny"], ["kinetics400"], workers=1, progress=False)
    root = tmp_path / "kinetics400"
    train = (root / "annotations" / "train.csv").read_text().splitlines()
    assert train[0] == "label,youtube_id,time_start,time_end,split"
    assert len(train) == 1 + 32 * 2 and train[1].startswith("ball bounce,")
    label, youtube_id, start, end, split = train[1].split(",")
    video = root / "videos" / "train" / label / f"{youtube_id}_{int(start):06d}_{int(end):06d}.mp4"
    assert video.is_file() and int(end) - int(start) == 10 and split == "train"
    frame = scan("kinetics400", root / "videos", root / "annotations", 1, probe_videos=True)
    assert frame["class_name"].nunique() == 32  # more classes than either table's stand-in
    assert (frame["subset"] == "train").sum() == 64 and (frame["subset"] == "test").sum() == 32
    assert (frame["status"] == "ok").all()
