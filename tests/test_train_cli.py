"""The training commands as the workflow calls them: spec files in, run folders out."""

import json

import yaml

from cstp.cli import main
from cstp.spec import from_dict, spec_hash


def _write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


TINY = {"name": "r2plus1d_10", "width": 0.125}
CLIP = {"frames": 4, "size": 16}


def test_a_cell_from_the_command_line(synth_index, tmp_path, capsys):
    from cstp.engine.specs import PretrainSpec

    pre = {
        "backbone": TINY,
        "sampling": {"clip": CLIP, "pretext": {"rotation": True, "stor_spatial": True}},
        "contrastive": {"scheme": "simsiam", "proj_hidden": 16, "proj_dim": 8, "pred_hidden": 16},
        "optim": {"epochs": 1, "batch_size": 4, "warmup_epochs": 0},
    }
    pre_hash = spec_hash(from_dict(PretrainSpec, pre))
    run = ["--index", str(synth_index), "--device", "cpu", "--threads", "1"]
    assert (
        main(
            [
                "pretrain",
                "--spec",
                str(_write(tmp_path / "p.yaml", pre)),
                "--out",
                str(tmp_path / "pre"),
                *run,
            ]
        )
        == 0
    )
    down = {
        "pretrain": pre_hash,
        "backbone": TINY,
        "sampling": {"clip": CLIP},
        "optim": {"epochs": 1, "batch_size": 4},
        "selection": "last",
        "val_fraction": 0.0,
    }
    encoder = str(tmp_path / "pre" / "encoder.pt")
    assert (
        main(
            [
                "linear",
                "--spec",
                str(_write(tmp_path / "d.yaml", down)),
                "--encoder",
                encoder,
                "--out",
                str(tmp_path / "lin"),
                *run,
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "lin" / "metrics.json").read_text())["kind"] == "linear"
    assert (
        main(
            [
                "evaluate",
                "--run",
                str(tmp_path / "lin"),
                "--out",
                str(tmp_path / "t.json"),
                "--clips",
                "2",
                *run,
            ]
        )
        == 0
    )
    feats = {"pretrain": pre_hash, "backbone": TINY, "clip": CLIP, "clips": 2}
    assert (
        main(
            [
                "features",
                "--spec",
                str(_write(tmp_path / "f.yaml", feats)),
                "--encoder",
                encoder,
                "--out",
                str(tmp_path / "f.pt"),
                *run,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "retrieve",
                "--features",
                str(tmp_path / "f.pt"),
                "--out",
                str(tmp_path / "r.json"),
                "--center",
            ]
        )
        == 0
    )
    assert (
        main(["probe", "--features", str(tmp_path / "f.pt"), "--out", str(tmp_path / "pr.json")])
        == 0
    )
    assert json.loads((tmp_path / "r.json").read_text())["center"] is True
    assert 0 <= json.loads((tmp_path / "pr.json").read_text())["probe_test"] <= 1
    assert "top-1 video" in capsys.readouterr().out


def test_bad_spec_key_and_missing_index_are_one_line_errors(tmp_path, capsys):
    spec = _write(tmp_path / "p.yaml", {"optim": {"lr": "fast"}})
    assert main(["pretrain", "--spec", str(spec), "--index", "x.csv", "--out", "o"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"cstp pretrain: error: {spec}.optim.lr: expected float, got 'fast'"
    spec = _write(tmp_path / "q.yaml", {"sampling": {"pretext": {"rotation": True}}})
    assert (
        main(["pretrain", "--spec", str(spec), "--index", str(tmp_path / "none.csv"), "--out", "o"])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "none.csv: no such index file" in err and "\n" not in err
    broken = tmp_path / "b.yaml"
    broken.write_text("optim: [1,\n")
    assert main(["finetune", "--spec", str(broken), "--index", "x", "--out", "o"]) == 2
    assert "not valid YAML/JSON" in capsys.readouterr().err
