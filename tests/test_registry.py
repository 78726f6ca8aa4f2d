"""A pretext task and a contrastive scheme are each one registration: a toy of each, registered
here without touching the library, is checked by the specs and the config schema, labelled by the
sampler, given a head and a loss, and trained in a smoke pretraining."""

import copy
from pathlib import Path

import pytest
import torch
import yaml

from cstp.engine.pretrain import pretrain
from cstp.engine.runtime import Runtime
from cstp.errors import CstpError
from cstp.models.contrastive import IMPLEMENTATIONS, ContrastiveScheme, implements
from cstp.planning.cells import cells
from cstp.planning.config import load_study
from cstp.planning.rules import schema_error
from cstp.reporting.figure_plots import task_words
from cstp.specs import registry
from cstp.specs.base import from_dict
from cstp.specs.train import PretrainSpec

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CONSTANT = registry.PretextTask(
    "constant",
    row="constant",
    column="constant",
    short="Const",
    per_clip=False,
    classes=lambda sampling: 2,
    label=lambda plan: 0,  # every pair: class 0
    weight=lambda weights: 1.0,
)


class OneLoss(ContrastiveScheme):
    """A scheme whose loss is 1 whatever the clips (gradient zero): the trivial scheme."""

    def loss(self, h1, h2, x1, x2) -> torch.Tensor:
        return 1.0 + 0.0 * (self.projector(h1).sum() + h2.sum())


@pytest.fixture
def toys():
    registry.register_pretext(CONSTANT)
    registry.register_scheme(registry.Scheme("one", "One"))
    implements("one")(OneLoss)
    yield
    del registry.PRETEXT_TASKS["constant"], registry.SCHEMES["one"], IMPLEMENTATIONS["one"]


def spec(**sampling) -> PretrainSpec:
    data = {
        "backbone": {"name": "r2plus1d_10", "width": 0.125},
        "sampling": {"clip": {"frames": 4, "size": 16}, "playback_rates": [1, 2]} | sampling,
        "contrastive": {"scheme": "one", "proj_hidden": 16, "proj_dim": 8},
        "optim": {"epochs": 1, "batch_size": 4, "lr": 0.05, "warmup_epochs": 0},
    }
    return from_dict(PretrainSpec, data, "pretrain")


def test_a_registered_task_and_scheme_train_in_a_smoke_pretraining(toys, synth_index, tmp_path):
    run = spec(pretext=["constant", "rotation"])
    assert run.sampling.pretext == ("rotation", "constant")  # the registry's order
    metrics = pretrain(run, synth_index, tmp_path, Runtime(device="cpu", threads=1))
    final = metrics["final"]
    assert final["contrastive"] == pytest.approx(1.0)
    assert torch.isfinite(torch.tensor(final["constant"])) and 0 <= final["acc_constant"] <= 1
    assert metrics["labels"]["constant"] == {"0": metrics["videos"]}  # one label, every pair
    assert {"rotation", "acc_rotation"} <= set(final)


def test_without_the_registration_the_names_are_refused_naming_the_key():
    with pytest.raises(CstpError, match=r"pretrain\.sampling: pretext: 'constant' is not a"):
        spec(pretext=["constant"])
    with pytest.raises(CstpError, match=r"pretrain\.contrastive: scheme: 'one' is not one of"):
        spec()


def test_the_config_schema_and_the_cells_read_the_registry(toys):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    toy = copy.deepcopy(config)
    toy["tables"]["table2"]["rows"][0] |= {"contrastive": "one", "pretext": ["constant"]}
    assert schema_error(toy, SCHEMA) is None
    first = cells(load_study(toy).tables["table2"])[0]
    assert first.pretext == {"constant"} and first.show("pretext.constant") is True
    assert task_words(first.pretext | {"stor_spatial", "stor_temporal"}) == ["STOR", "Const"]
    del registry.PRETEXT_TASKS["constant"]
    try:
        assert "rows.0.pretext.0" in schema_error(toy, SCHEMA)
    finally:
        registry.PRETEXT_TASKS["constant"] = CONSTANT
