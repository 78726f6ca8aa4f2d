"""The train / evaluate engine end to end on the tiny synthetic dataset, and its resumability."""

import dataclasses
import json
import signal

import pandas as pd
import pytest
import torch

from cstp.engine.evaluate import accuracies, evaluate
from cstp.engine.features import extract
from cstp.engine.finetune import finetune, split_validation, video_group
from cstp.engine.pretrain import pretrain
from cstp.engine.probe import effective_rank, linear_probe, retrieval_recall, retrieve
from cstp.engine.runtime import Runtime
from cstp.engine.trainer import Interrupted, NonFiniteLoss, learning_rate, make_optimizer
from cstp.errors import CstpError
from cstp.specs.base import from_dict, spec_hash
from cstp.specs.measure import EvalClips, EvaluateSpec, FeatureSpec, RetrievalSpec
from cstp.specs.train import FinetuneSpec, OptimSpec, PretrainSpec

CPU = Runtime(device="cpu", threads=1)
TINY = {"name": "r2plus1d_10", "width": 0.125}
CLIP = {"frames": 4, "size": 16}
HEADS = {"proj_hidden": 32, "proj_dim": 16, "pred_hidden": 32, "queue": 32}


def pretrain_spec(scheme="byol", epochs=2, **pretext):
    # Every task unless named (rotation=True: rotation alone; rotation=False: none).
    all_four = ["playback_rate", "rotation", "stor_spatial", "stor_temporal"]
    pretext = [name for name, on in pretext.items() if on] if pretext else all_four
    return from_dict(
        PretrainSpec,
        {
            "backbone": TINY,
            "sampling": {"clip": CLIP, "pretext": pretext, "playback_rates": [1, 2]},
            "contrastive": {"scheme": scheme, **HEADS},
            "optim": {"epochs": epochs, "batch_size": 4, "lr": 0.05, "warmup_epochs": 1},
        },
    )


def finetune_spec(pretrained=None, epochs=2, **extra):
    data = {
        "pretrain": pretrained,
        "backbone": TINY,
        "sampling": {"clip": CLIP},
        "optim": {"epochs": epochs, "batch_size": 4, "lr": 0.05},
        "val_fraction": 0.3,
        "val_clips": 2,
    }
    return from_dict(FinetuneSpec, data | extra)


def test_pretrain_finetune_evaluate_retrieve_probe(synth_index, tmp_path):
    spec = pretrain_spec("byol")
    pre = pretrain(spec, synth_index, tmp_path / "pre", CPU)
    assert pre["final"]["epoch"] == 2 and pre["run"] == spec_hash(spec)
    for term in ("contrastive", "playback_rate", "rotation", "stor_spatial", "stor_temporal"):
        assert torch.isfinite(torch.tensor(pre["final"][term]))
    assert sum(pre["labels"]["stor_spatial"].values()) == pre["videos"]
    assert (tmp_path / "pre" / "metrics.csv").read_text().count("\n") == 3  # header + 2 epochs

    down = finetune_spec(spec_hash(spec))
    fine = finetune(down, synth_index, tmp_path / "ft", tmp_path / "pre" / "encoder.pt", CPU)
    assert fine["selection"] == "best_val" and 1 <= fine["selected_epoch"] <= 2
    assert fine["videos"]["val"] > 0 and fine["classes"] == 4

    test_spec = EvaluateSpec(finetune=spec_hash(down), test=EvalClips(clips=3))
    test = evaluate(test_spec, tmp_path / "ft" / "model.pt", synth_index, tmp_path / "ev", CPU)
    videos = (pd.read_csv(synth_index)["subset"] == "test").sum()
    assert test["videos"] == videos and test["clips_per_video"] == 3
    assert (test["top1_video"] * videos) == pytest.approx(round(test["top1_video"] * videos))
    assert (
        json.loads((tmp_path / "ev" / "metrics.json").read_text())["top1_clip"] == test["top1_clip"]
    )
    other = EvaluateSpec(finetune="0123456789")
    with pytest.raises(CstpError, match="model of fine-tuning run"):
        evaluate(other, tmp_path / "ft" / "model.pt", synth_index, tmp_path / "ev2", CPU)

    features = FeatureSpec(
        pretrain=spec_hash(spec),
        backbone=down.backbone,
        views=EvalClips(clips=2),
        clip=down.sampling.clip,
    )
    data = extract(features, synth_index, tmp_path / "f.pt", tmp_path / "pre" / "encoder.pt", CPU)
    assert data["train"]["features"].shape[1] == 64  # r2plus1d_10 at width 1/8
    recall = retrieve(tmp_path / "f.pt", tmp_path / "r.json", RetrievalSpec(ks=(1, 5, 500)))
    assert recall["R@1"] <= recall["R@5"] <= recall["R@500"] == 1.0  # 500: the whole gallery


def test_encoder_of_another_run_is_refused(synth_index, tmp_path):
    spec = pretrain_spec("simsiam", epochs=1)
    pretrain(spec, synth_index, tmp_path / "pre", CPU)
    wrong = finetune_spec("0123456789")
    with pytest.raises(CstpError, match="encoder of pretraining run"):
        finetune(wrong, synth_index, tmp_path / "ft", tmp_path / "pre" / "encoder.pt", CPU)


@pytest.mark.parametrize("scheme", ["simclr", "moco", "none"])
def test_every_scheme_pretrains(scheme, synth_index, tmp_path):
    spec = pretrain_spec(scheme, epochs=1, rotation=True)
    metrics = pretrain(spec, synth_index, tmp_path, CPU)
    assert ("contrastive" in metrics["final"]) == (scheme != "none")
    assert "acc_rotation" in metrics["final"]


def test_nothing_to_learn_is_refused(synth_index, tmp_path):
    with pytest.raises(CstpError, match="nothing to learn"):
        pretrain(pretrain_spec("none", epochs=1, rotation=False), synth_index, tmp_path, CPU)


def _kill_at(step):
    def hook(done):
        if done == step:
            signal.raise_signal(signal.SIGTERM)

    return hook


def _record(steps):
    return lambda done: steps.append(done)


def _weights(path):
    return torch.load(path, weights_only=False)["state_dict"]


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_a_killed_and_resumed_pretraining_ends_bit_for_bit_equal(synth_index, tmp_path, optimizer):
    spec = pretrain_spec("moco", epochs=3)
    optim = {**_plain(spec.optim), "optimizer": optimizer}
    spec = from_dict(PretrainSpec, {**_plain(spec), "optim": optim})
    whole = pretrain(spec, synth_index, tmp_path / "whole", CPU)
    with pytest.raises(Interrupted):
        pretrain(spec, synth_index, tmp_path / "killed", CPU, hooks=(_kill_at(3),))
    assert (tmp_path / "killed" / "state" / "last.pt").exists()
    assert not (tmp_path / "killed" / "encoder.pt").exists()
    steps = []
    resumed = pretrain(spec, synth_index, tmp_path / "killed", CPU, hooks=(_record(steps),))
    assert steps[0] == 4  # it resumed after step 3 instead of starting again
    a, b = _weights(tmp_path / "whole" / "encoder.pt"), _weights(tmp_path / "killed" / "encoder.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for key, value in whole["final"].items():
        if key != "samples_per_s":
            assert resumed["final"][key] == value, key


def test_a_checkpoint_of_other_code_is_not_resumed(synth_index, tmp_path, caplog):
    """A code change re-runs a finished job (its code stamp): the job must train again, not
    resume its final checkpoint and write the old weights. The same code still resumes."""
    spec = pretrain_spec("byol", epochs=1)
    old = dataclasses.replace(CPU, code="0123456789")
    new = dataclasses.replace(CPU, code="abcdef0123")
    pretrain(spec, synth_index, tmp_path / "run", old)
    steps = []
    pretrain(spec, synth_index, tmp_path / "run", old, hooks=(_record(steps),))
    assert steps == []  # same code: the final checkpoint is resumed, nothing to train
    caplog.set_level("WARNING")
    pretrain(spec, synth_index, tmp_path / "run", new, hooks=(_record(steps),))
    assert steps[0] == 1 and len(steps) == 3  # other code: every step of the epoch again
    assert "written by other code (0123456789; this job's: abcdef0123)" in caplog.text
    state = torch.load(tmp_path / "run" / "state" / "last.pt", weights_only=False)
    assert state["code"] == "abcdef0123"
    pretrain(spec, synth_index, tmp_path / "fresh", new)
    a, b = _weights(tmp_path / "fresh" / "encoder.pt"), _weights(tmp_path / "run" / "encoder.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)  # as a fresh run of today's code


def test_a_killed_and_resumed_finetune_ends_equal(synth_index, tmp_path, caplog):
    caplog.set_level("INFO")
    spec = finetune_spec(None, epochs=3)
    whole = finetune(spec, synth_index, tmp_path / "whole", None, CPU)
    with pytest.raises(Interrupted):
        finetune(spec, synth_index, tmp_path / "killed", None, CPU, hooks=(_kill_at(4),))
    steps = []
    resumed = finetune(spec, synth_index, tmp_path / "killed", None, CPU, hooks=(_record(steps),))
    assert steps[0] == 5
    # Both attempts are in the run's own history (appended, where Slurm and Snakemake replace
    # their logs), and nothing of the other run.
    history = (tmp_path / "killed" / "history.log").read_text()
    assert f"{tmp_path / 'killed'}: pid " in history
    assert f"resuming {tmp_path / 'killed'} at epoch" in history
    assert str(tmp_path / "whole") not in history
    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "killed" / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["selected_epoch"] == whole["selected_epoch"]


def test_non_finite_loss_names_epoch_step_and_term(synth_index, tmp_path):
    spec = pretrain_spec("byol", epochs=2)
    spec = from_dict(PretrainSpec, {**_plain(spec), "optim": {**_plain(spec.optim), "lr": 1e30}})
    with pytest.raises(
        NonFiniteLoss, match=r"non-finite loss at epoch \d+, step \d+: \w+ ="
    ) as err:
        pretrain(spec, synth_index, tmp_path, CPU)
    state = tmp_path / "state" / "last.pt"
    if state.exists():  # it blew up after the first epoch's checkpoint
        assert str(err.value).endswith(
            f"the last checkpoint is {state} (running again resumes from it)"
        )
    else:
        assert str(err.value).endswith(
            "no checkpoint was written yet (running again starts afresh)"
        )


def _plain(spec):
    from cstp.specs.base import to_dict

    return to_dict(spec)


def test_linear_mode_freezes_the_backbone_and_its_statistics(synth_index, tmp_path):
    spec = finetune_spec(None, epochs=1, protocol="linear", selection="last", val_fraction=0.0)
    finetune(spec, synth_index, tmp_path, None, CPU)
    model = torch.load(tmp_path / "model.pt", weights_only=False)["model"]
    from cstp.models.backbones import build_backbone

    torch.manual_seed(spec.seed)
    fresh = build_backbone(TINY["name"], TINY["width"]).state_dict()
    for key, value in fresh.items():
        assert torch.equal(model[f"backbone.{key}"], value), key


def test_learning_rate_warms_up_then_decays():
    spec = OptimSpec(epochs=10, lr=1.0, min_lr=0.0, warmup_epochs=2)
    assert learning_rate(spec, 0, 10) == 0.0
    assert learning_rate(spec, 10, 10) == pytest.approx(0.5)
    assert learning_rate(spec, 20, 10) == pytest.approx(1.0)
    assert learning_rate(spec, 60, 10) == pytest.approx(0.5)
    assert learning_rate(spec, 100, 10) == pytest.approx(0.0)


def test_video_level_accuracy_on_hand_made_logits():
    # Video 0: clips say 1, 1, 0 -> video 1 (right). Video 1: clips say 0, 2, 2 but one clip is
    # very sure of 0 -> the average says 0 (right), although 2 of 3 clips are wrong.
    logits = torch.tensor(
        [
            [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
            [[9.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]],
        ]
    )
    result = accuracies(logits, torch.tensor([1, 0]))
    assert result == {"top1_clip": pytest.approx(3 / 6), "top1_video": 1.0}


def test_retrieval_recall_on_a_hand_made_feature_set():
    gallery = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    gallery_labels = torch.tensor([0, 1, 1, 0])
    queries = torch.tensor([[1.0, 0.05], [0.05, 1.0]])
    query_labels = torch.tensor([1, 1])
    # Query 0: ranked gallery 0 (class 0), 1 (class 1) -> miss at 1, hit at 2.
    # Query 1: ranked 2 (class 1) -> hit at 1.
    recall = retrieval_recall(queries, query_labels, gallery, gallery_labels, ks=(1, 2))
    assert recall == {"R@1": 0.5, "R@2": 1.0}
    gallery = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.4]])
    gallery_labels = torch.tensor([0, 1, 2])
    query = torch.tensor([[1.2, 1.0]])
    # Uncentred, the nearest by angle is gallery 2 (1.0, 1.4). The gallery mean is (1.0, 1.13);
    # centred, the query is (0.2, -0.13) and gallery 0 is (1.0, -1.13): the nearest is gallery 0.
    plain = retrieval_recall(query, torch.tensor([0]), gallery, gallery_labels, ks=(1,))
    centred = retrieval_recall(query, torch.tensor([0]), gallery, gallery_labels, (1,), True)
    assert plain == {"R@1": 0.0} and centred == {"R@1": 1.0}


def test_linear_probe_separates_separable_features():
    torch.manual_seed(0)
    centres = torch.randn(3, 8) * 5
    labels = torch.arange(3).repeat(20)
    train = centres[labels] + torch.randn(60, 8)
    test = centres[labels] + torch.randn(60, 8)
    result = linear_probe(train, labels, test, labels)
    assert result["probe_test"] > 0.95
    shuffled = linear_probe(train, labels[torch.randperm(60)], test, labels)
    assert shuffled["probe_test"] < 0.7


def test_effective_rank_counts_equally_strong_directions():
    # Rows +-e_i for i < k: centred already, k singular values of sqrt(2), entropy log k.
    eye = torch.eye(6)
    for k in (1, 2, 5):
        features = torch.cat([eye[:k], -eye[:k]])
        assert effective_rank(features) == pytest.approx(k)
    # Variances 3 : 1 on two axes: p = (3/4, 1/4), rank exp(-(3/4 ln 3/4 + 1/4 ln 1/4)) = 1.7548.
    features = torch.tensor([[3**0.5, 0.0], [-(3**0.5), 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert effective_rank(features) == pytest.approx(1.7548, abs=1e-4)
    assert effective_rank(torch.ones(4, 3)) == 0.0  # every video the same vector


def test_validation_groups_never_straddle():
    import pandas as pd

    videos = [f"A/v_A_g{g:02d}_c{c:02d}.avi" for g in range(1, 11) for c in range(1, 4)]
    rows = pd.DataFrame({"video": videos})
    train, val = split_validation(rows, 0.2, seed=0)
    assert len(val) == 6 and len(train) == 24
    assert not set(train["video"].map(video_group)) & set(val["video"].map(video_group))


def test_a_damaged_checkpoint_is_set_aside_and_the_run_still_ends_equal(
    synth_index, tmp_path, caplog
):
    spec = pretrain_spec("byol", epochs=3)
    pretrain(spec, synth_index, tmp_path / "whole", CPU)
    with pytest.raises(Interrupted):
        pretrain(spec, synth_index, tmp_path / "killed", CPU, hooks=(_kill_at(5),))
    state = tmp_path / "killed" / "state"
    assert (state / "previous.pt").exists()  # the checkpoint before the last is kept
    last = state / "last.pt"
    last.write_bytes(last.read_bytes()[:100])  # as a full disk or a kill mid-write leaves it
    with caplog.at_level("WARNING"):
        pretrain(spec, synth_index, tmp_path / "killed", CPU)
    assert f"{last}: not a readable checkpoint" in caplog.text
    assert (state / "last.pt.damaged").exists()
    a, b = _weights(tmp_path / "whole" / "encoder.pt"), _weights(tmp_path / "killed" / "encoder.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_kill_between_the_two_checkpoint_files_resumes_from_the_older(synth_index, tmp_path):
    """_save moves last.pt to previous.pt, then writes last.pt: a job killed in between (SIGKILL,
    a node lost) leaves previous.pt alone, and resumes from it instead of starting again."""
    spec = pretrain_spec("byol", epochs=3)
    pretrain(spec, synth_index, tmp_path / "whole", CPU)
    with pytest.raises(Interrupted):
        pretrain(spec, synth_index, tmp_path / "killed", CPU, hooks=(_kill_at(5),))
    state = tmp_path / "killed" / "state"
    (state / "last.pt").replace(state / "previous.pt")
    previous = torch.load(state / "previous.pt", weights_only=False)
    steps = []
    pretrain(spec, synth_index, tmp_path / "killed", CPU, hooks=(_record(steps),))
    assert previous["batch"] > 0 and steps[0] == 6  # after step 5, not from step 1
    a, b = _weights(tmp_path / "whole" / "encoder.pt"), _weights(tmp_path / "killed" / "encoder.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_damaged_encoder_is_named(tmp_path):
    from cstp.engine.encoder import build_encoder
    from cstp.specs.train import BackboneSpec

    bad = tmp_path / "encoder.pt"
    bad.write_bytes(b"")
    with pytest.raises(CstpError, match=f"{bad}: not a readable checkpoint"):
        build_encoder(BackboneSpec(**TINY), "0123456789", bad)


def test_the_classes_come_from_the_whole_index_not_the_training_labels(synth_index, tmp_path):
    index = pd.read_csv(synth_index)
    last = index["label"].max()
    # Every training video of the last class is unreadable: the head still has its output.
    index.loc[(index["label"] == last) & (index["subset"] == "train"), "status"] = "unreadable"
    damaged = tmp_path / "index.csv"
    index.to_csv(damaged, index=False)
    spec = finetune_spec(None, epochs=1, selection="last", val_fraction=0.0)
    assert finetune(spec, damaged, tmp_path / "ft", None, CPU)["classes"] == last + 1


@pytest.mark.parametrize(("name", "kind"), [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_the_spec_names_the_optimiser_and_1d_parameters_get_no_weight_decay(name, kind):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    optimizer = make_optimizer(model, OptimSpec(optimizer=name, weight_decay=0.01))
    assert type(optimizer) is kind
    decays = {
        p.ndim: group["weight_decay"] for group in optimizer.param_groups for p in group["params"]
    }
    assert decays == {2: 0.01, 1: 0.0}
