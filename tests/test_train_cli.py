"""The training commands as the workflow calls them: spec files in, run folders out."""

import json

import pytest
import yaml

from cstp.cli import main
from cstp.specs.base import from_dict, spec_hash


def _write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


TINY = {"name": "r2plus1d_10", "width": 0.125}
CLIP = {"frames": 4, "size": 16}


def test_a_cell_from_the_command_line(synth_index, tmp_path, capsys):
    from cstp.specs.train import FinetuneSpec, PretrainSpec

    pre = {
        "backbone": TINY,
        "sampling": {"clip": CLIP, "pretext": ["rotation", "stor_spatial"]},
        "contrastive": {"scheme": "simsiam", "proj_hidden": 16, "proj_dim": 8, "pred_hidden": 16},
        "optim": {"epochs": 1, "batch_size": 4, "warmup_epochs": 0},
    }
    pre_hash = spec_hash(from_dict(PretrainSpec, pre))
    run = ["--index", str(synth_index), "--device", "cpu", "--threads", "1"]
    spec = str(_write(tmp_path / "p.yaml", pre))
    assert main(["pretrain", "--spec", spec, "--out", str(tmp_path / "pre"), *run]) == 0
    down = {
        "pretrain": pre_hash,
        "backbone": TINY,
        "sampling": {"clip": CLIP},
        "optim": {"epochs": 1, "batch_size": 4},
        "selection": "last",
        "val_fraction": 0.0,
    }
    encoder = str(tmp_path / "pre" / "encoder.pt")
    lin = ["--spec", str(_write(tmp_path / "d.yaml", down)), "--encoder", encoder]
    assert main(["linear", *lin, "--out", str(tmp_path / "lin"), *run]) == 0
    assert json.loads((tmp_path / "lin" / "metrics.json").read_text())["protocol"] == "linear"
    trained = json.loads((tmp_path / "lin" / "spec.json").read_text())
    test = {"finetune": spec_hash(from_dict(FinetuneSpec, trained)), "test": {"clips": 2}}
    model = str(tmp_path / "lin" / "model.pt")
    ev = ["--spec", str(_write(tmp_path / "e.yaml", test)), "--model", model]
    capsys.readouterr()
    assert main(["evaluate", *ev, "--out", str(tmp_path / "ev"), *run]) == 0
    log = capsys.readouterr().out
    assert log.startswith("$ cstp evaluate --spec ") and "top-1 video" in log
    assert json.loads((tmp_path / "ev" / "code.json").read_text())["kind"] == "evaluate"
    other = ["--spec", str(_write(tmp_path / "o.yaml", {**test, "finetune": "0123456789"}))]
    assert main(["evaluate", *other, "--model", model, "--out", str(tmp_path / "o"), *run]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "but the spec names 0123456789; delete it and run the workflow again, which fine-tunes "
            "run 0123456789 anew"
        )
    )

    feats = {"pretrain": pre_hash, "backbone": TINY, "clip": CLIP, "views": {"clips": 2}}
    feats["retrieval"] = {"center": True}
    fe = ["--spec", str(_write(tmp_path / "f.yaml", feats)), "--encoder", encoder]
    assert main(["features", *fe, "--out", str(tmp_path / "f"), *run]) == 0
    assert json.loads((tmp_path / "f" / "retrieval.json").read_text())["retrieval"]["center"]
    features = str(tmp_path / "f" / "features.pt")
    assert main(["retrieve", "--features", features, "--out", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["retrieval"]["center"] is False
    assert main(["probe", "--features", features, "--out", str(tmp_path / "pr.json")]) == 0
    probe = json.loads((tmp_path / "pr.json").read_text())
    in_job = json.loads((tmp_path / "f" / "probe.json").read_text())
    # The same features and settings give the same probe, alone or in the features job.
    assert probe["probe_test"] == in_job["probe_test"]
    assert probe["feature_rank"] == in_job["feature_rank"] > 1.0


def test_bad_spec_key_and_missing_index_are_one_line_errors(tmp_path, capsys):
    spec = _write(tmp_path / "p.yaml", {"optim": {"lr": "fast"}})
    assert main(["pretrain", "--spec", str(spec), "--index", "x.csv", "--out", "o"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"cstp pretrain: error: {spec}.optim.lr: expected float, got 'fast'"
    spec = _write(tmp_path / "q.yaml", {"sampling": {"pretext": ["rotation"]}})
    assert (
        main(["pretrain", "--spec", str(spec), "--index", str(tmp_path / "none.csv"), "--out", "o"])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "none.csv: no such index file" in err and "\n" not in err
    broken = tmp_path / "b.yaml"
    broken.write_text("optim: [1,\n")
    assert main(["finetune", "--spec", str(broken), "--index", "x", "--out", "o"]) == 2
    assert "not valid YAML" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "optim", "message"),
    [
        ("pretrain", {"epochs": 0}, "optim.epochs: 0 is out of range; expected >= 1"),
        ("finetune", {"batch_size": 0}, "optim.batch_size: 0 is out of range; expected >= 1"),
        ("pretrain", {"lr": float("nan")}, "optim.lr: expected a finite number, got nan"),
        ("finetune", {"lr": 0}, "optim.lr: 0 is out of range; expected > 0"),
    ],
)
def test_a_spec_with_a_budget_or_rate_out_of_range_is_refused_by_key(
    command, optim, message, tmp_path, capsys
):
    spec = _write(tmp_path / "s.yaml", {"optim": optim})
    index = tmp_path / "none.csv"  # never read: the spec is refused first
    assert main([command, "--spec", str(spec), "--index", str(index), "--out", "o"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"cstp {command}: error: {spec}.{message}"
    assert not (tmp_path / "o").exists()
