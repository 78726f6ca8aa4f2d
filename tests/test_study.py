"""The typed preset: every key of it reaches some job's spec (so its run id), or is one of the few
that say how a job runs or what a table prints; anything else is rejected with the key named."""

import copy
import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from cstp.errors import CstpError
from cstp.planning.plan import KINDS, Plan
from cstp.specs.base import from_dict, to_dict
from cstp.specs.preset import PresetSpec

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
# Keys that change no run by design: how a job runs (Snakemake resources, reading a frame cache
# that holds the decoded frames exactly), what a table prints, and where a real dataset lies (its
# scan job's command; runs name a dataset by its key).
NOT_IN_RUNS = ("resources.", "frame_cache", "datasets.ucf101.label", "datasets.hmdb51.label")


def leaves(cls, prefix=""):
    """(dotted key, type, field) of every scalar field under a spec class."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint, key = hints[f.name], f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hint):
            yield from leaves(hint, f"{key}.")
        elif typing.get_origin(hint) is dict:
            item = typing.get_args(hint)[1]
            # A pretraining recipe per dataset (optim_on) is read for the datasets pretrained
            # on: the default preset's is ucf101.
            names = ("ucf101",) if f.name == "optim_on" else ("ucf101", "hmdb51")
            for name in names:
                yield from leaves(item, f"{key}.{name}.")
        else:
            yield key, hint, f


def alternatives(value, hint, f):
    """Other values a key could take (some may be invalid: the test tries them in turn)."""
    choices = f.metadata.get("choices")
    if choices:
        return [c for c in choices if c != value]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, max(1, value // 2)]
    if isinstance(value, float):
        return [round(value * 0.5, 6), round(value + 0.05, 6)] if value else [0.1]
    if isinstance(value, list):
        if len(value) == 2 and all(isinstance(v, float) for v in value):
            return [[value[0] * 1.1, value[1]], [value[0], value[1] * 0.9]]
        return [value[:-1], value[1:]]
    if value is None:
        return [64, 5.0, 0.2]
    if isinstance(value, str):
        return ["hmdb51" if value == "ucf101" else f"{value} (renamed)"]
    return []


def run_ids(config) -> dict[str, set[str]]:
    plan = Plan.from_config(config)
    return {kind: set(plan.runs[kind]) for kind in KINDS}


def _get(data, key):
    for part in key.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _set(data, key, value):
    *path, last = key.split(".")
    for part in path:
        data = data.setdefault(part, {})
    data[last] = value


def test_every_preset_key_changes_a_run_id_or_is_declared_not_to():
    typed = to_dict(from_dict(PresetSpec, CONFIG["presets"]["default"]))
    base = run_ids(CONFIG)
    untested = []
    for key, hint, f in leaves(PresetSpec):
        if key.endswith((".root", ".splits", ".synthetic")):
            continue  # real datasets only (a synthetic one refuses them): see the next test
        value = _get(typed, key)
        changed = None
        for other in alternatives(value, hint, f):
            config = copy.deepcopy(CONFIG)
            _set(config["presets"]["default"], key, other)
            try:
                ids = run_ids(config)
            except CstpError:
                continue  # not a valid value: try the next one
            changed = ids != base
            break
        if changed is None:
            untested.append(key)
        elif key.startswith(NOT_IN_RUNS) or key in NOT_IN_RUNS:
            assert not changed, f"{key} is declared not to change runs, but it does"
        else:
            assert changed, f"presets.default.{key} changes no run id: a setting nothing reads"
    assert not untested, f"no valid other value found for {untested}"


def _real_copies(tmp_path, config, preset, copy_name="copy"):
    datasets = config["presets"][preset]["datasets"]
    for key in ("ucf101", "hmdb51", "kinetics400"):
        for part in ("root", "splits"):
            (tmp_path / copy_name / key / part).mkdir(parents=True, exist_ok=True)
            datasets[key] = {**datasets[key], part: str(tmp_path / copy_name / key / part)}
    return config


def test_a_real_dataset_is_named_by_its_key_and_where_it_lives(tmp_path):
    """The scan job reads the location; the runs name it, so runs trained on one copy are never
    reused for another."""
    config = _real_copies(tmp_path, {**copy.deepcopy(CONFIG), "preset": "paper"}, "paper")
    plan = Plan.from_config(config)
    assert {d.root for d in plan.datasets()} == {
        tmp_path / "copy" / key / "root" for key in ("ucf101", "hmdb51", "kinetics400")
    }
    moved = copy.deepcopy(config)
    moved["presets"]["paper"]["datasets"]["ucf101"]["root"] = str(tmp_path / "other")
    (tmp_path / "other").mkdir()
    again = Plan.from_config(moved)
    finetunes = {run.spec.dataset for run in plan.runs["finetune"].values()}
    assert {name.split("-")[0] for name in finetunes} == {"ucf101", "hmdb51"}
    kept = {key for key in plan.runs["finetune"] if key in again.runs["finetune"]}
    for key, run in plan.runs["finetune"].items():
        # Kept: HMDB-51 fine-tunes that read nothing of UCF-101 (from scratch, or pretrained on
        # Kinetics-400), nothing else.
        pretrain = run.spec.pretrain and plan.run("pretrain", run.spec.pretrain).spec.dataset
        no_ucf = pretrain is None or pretrain.startswith("kinetics400-")
        assert (key in kept) == (run.spec.dataset.startswith("hmdb51-") and no_ucf), key
    assert plan.runs["pretrain"].keys() != again.runs["pretrain"].keys()  # pretrained on UCF-101


def test_real_data_over_a_synthetic_preset_is_never_labelled_synthetic(tmp_path):
    """A user's config file sets `synthetic: false` and paths over the default preset, whose labels
    say "synthetic stand-in": the tables name the real datasets."""
    config = copy.deepcopy(CONFIG)
    for key in ("ucf101", "hmdb51", "kinetics400"):
        config["presets"]["default"]["datasets"][key]["synthetic"] = False
    plan = Plan.from_config(_real_copies(tmp_path, config, "default"))
    assert {d.label for d in plan.datasets()} == {"UCF-101", "HMDB-51", "Kinetics-400"}
    synthetic = Plan.from_config(copy.deepcopy(CONFIG))
    assert all("synthetic stand-in" in d.label for d in synthetic.datasets())


def test_interpretation_and_seeds_change_run_ids():
    base = run_ids(CONFIG)
    assert run_ids({**CONFIG, "interpretation": {"finetune_augment": "row"}}) != base
    assert run_ids({**CONFIG, "seeds": [1]}) != base


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("pretrain.optim.epochs", "x", "presets.default.pretrain.optim.epochs: expected int"),
        ("probe.weight_decai", 1.0, "presets.default.probe.weight_decai: unknown key"),
        ("colour", 1, "presets.default.colour: unknown key"),
        ("datasets.ucf101.root", "/x", "presets.default.datasets.ucf101: synthetic: true but"),
        ("pretrain.contrastive.scheme", "byol", "pretrain.contrastive.scheme: unknown key"),
        ("test.clips", 0, "presets.default.test.clips: 0 is out of range; expected >= 1"),
        ("finetune.optim.epochs", 0, "presets.default.finetune.optim.epochs: 0 is out of range"),
        ("features.crop", 1.5, "presets.default.features.crop: 1.5 is out of range; expected > 0"),
        ("resources.train.threads", 0, "presets.default.resources.train.threads: 0 is out of"),
        ("pretrain.loss.rotation", float("inf"), "pretrain.loss.rotation: expected a finite"),
    ],
)
def test_a_bad_preset_key_is_named_before_any_job(key, value, message):
    config = copy.deepcopy(CONFIG)
    _set(config["presets"]["default"], key, value)
    with pytest.raises(CstpError, match=message.replace(".", r"\.")):
        Plan.from_config(config)


def test_a_number_written_as_yaml_reads_it_is_a_number():
    config = copy.deepcopy(CONFIG)
    _set(config["presets"]["default"], "pretrain.optim.min_lr", "1e-5")  # YAML 1.1: a string
    plan = Plan.from_config(config)
    spec = next(iter(plan.runs["pretrain"].values())).spec
    assert spec.optim.min_lr == 1e-5


def test_every_synth_preset_of_the_generator_can_be_named_in_a_config_preset():
    from cstp.data.synth import PRESETS
    from cstp.specs.preset import SYNTH_PRESETS

    assert set(SYNTH_PRESETS) == set(PRESETS)
