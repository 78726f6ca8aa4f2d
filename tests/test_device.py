"""The paper-scale path on a CPU: one device per process (CUDA mocked), mixed precision that
means what the spec says, and a training loop that never reads the device per step."""

import pytest
import torch
from test_engine import CPU, pretrain_spec
from torch.utils._python_dispatch import TorchDispatchMode

from cstp import distributed as dist
from cstp import losses
from cstp.engine import runtime as rt
from cstp.engine import trainer
from cstp.engine.pretrain import pretrain
from cstp.models.backbones import build_backbone
from cstp.models.contrastive import build_scheme
from cstp.models.joint import JointModel
from cstp.specs.train import ContrastiveSpec, LossWeights

BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine that says it has CUDA, with torch.cuda.set_device recorded instead of done."""
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    return chosen


def test_each_torchrun_process_takes_its_own_gpu(two_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert rt.Runtime().torch_device() == torch.device("cuda", 1)
    assert rt.Runtime(device="cuda").torch_device() == torch.device("cuda", 1)
    assert rt.Runtime(device="cuda:0").torch_device() == torch.device("cuda", 0)  # as asked
    assert rt.Runtime(device="cpu").torch_device() == torch.device("cpu")
    device = rt.configure(rt.Runtime(threads=1))
    assert device == torch.device("cuda", 1) and two_gpus == [torch.device("cuda", 1)]


def test_one_process_alone_takes_gpu_0(two_gpus, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert rt.Runtime().torch_device() == torch.device("cuda", 0)


def test_nccl_and_ddp_are_given_the_process_gpu(monkeypatch):
    joined, wrapped = [], []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda **kw: joined.append(kw))
    assert dist.init_from_environment(torch.device("cuda", 1))
    assert joined == [{"backend": "nccl", "device_id": torch.device("cuda", 1)}]

    monkeypatch.setattr(dist, "is_distributed", lambda: True)
    monkeypatch.setattr(
        torch.nn.parallel, "DistributedDataParallel", lambda m, **kw: wrapped.append(kw) or m
    )
    model = torch.nn.Linear(2, 2)
    assert dist.data_parallel(model, torch.device("cuda", 1)) is model
    assert dist.data_parallel(model, torch.device("cpu")) is model
    assert wrapped == [{"device_ids": [1]}, {"device_ids": None}]


def test_a_bad_local_rank_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "one")
    with pytest.raises(Exception, match="LOCAL_RANK='one': expected a process index"):
        rt.Runtime().torch_device()


def test_bf16_on_the_cpu_runs_fp32_and_says_so(caplog):
    a = torch.randn(4, 4)
    with rt.autocast(torch.device("cpu"), "bf16"):
        assert (a @ a).dtype == torch.float32
    assert rt.precision_run(torch.device("cpu"), "bf16") == "fp32"
    assert "the spec asks for bf16; on cpu this job runs fp32" in caplog.text
    assert rt.precision_run(torch.device("cuda", 0), "bf16") == "bf16"


def test_a_bf16_pretraining_on_the_cpu_records_that_it_ran_fp32(synth_index, tmp_path):
    import dataclasses

    spec = dataclasses.replace(pretrain_spec("simclr", epochs=1), precision="bf16")
    metrics = pretrain(spec, synth_index, tmp_path, CPU)
    assert metrics["precision_run"] == "fp32" and metrics["peak_memory_gib"] is None


def _pairs(n=8, d=16):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


CONTRASTIVE = {
    "SimCLR": lambda a, b: losses.info_nce(a, b, 0.1),
    "MoCo": lambda a, b: losses.moco_infonce(a, b, torch.cat([b.flip(0), a]), 0.2),
    "BYOL": lambda a, b: losses.byol_loss(a, a + 0.01 * b),  # nearly aligned: 2 - 2cos near 0
    "SimSiam": losses.simsiam_loss,
}


@pytest.mark.parametrize("name", CONTRASTIVE)
def test_contrastive_losses_stay_fp32_under_bf16_autocast(name):
    a, b = _pairs()
    expected = CONTRASTIVE[name](a, b)
    with torch.autocast(**BF16):
        got = CONTRASTIVE[name](a, b)
        from_bf16 = CONTRASTIVE[name](a.bfloat16(), b.bfloat16())
    assert got.dtype == torch.float32 and from_bf16.dtype == torch.float32
    # fp32 features give the fp32 loss exactly; bf16 features (what a bf16 backbone gives) only
    # lose their own rounding (8 bits of mantissa: 2^-8 relative per feature).
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    torch.testing.assert_close(from_bf16, expected, rtol=0.02, atol=0.02)


def _joint(scheme="byol"):
    torch.manual_seed(0)
    backbone = build_backbone("r2plus1d_10", 0.125)
    spec = ContrastiveSpec(scheme=scheme, proj_hidden=16, proj_dim=8, pred_hidden=16, queue=8)
    classes = {"rotation": 4, "playback_rate": 3, "stor_spatial": 5}
    return JointModel(backbone, build_scheme(spec, backbone), classes, LossWeights()).eval()


def test_the_joint_objective_under_bf16_autocast_is_fp32_and_near_the_fp32_run():
    g = torch.Generator().manual_seed(1)
    clips = torch.randn(4, 2, 3, 4, 16, 16, generator=g)
    labels = {
        "rotation": torch.randint(0, 4, (4, 2), generator=g),
        "playback_rate": torch.randint(0, 3, (4,), generator=g),
        "stor_spatial": torch.randint(0, 5, (4,), generator=g),
    }
    model = _joint()
    with torch.no_grad():
        loss32, terms32 = model(clips, labels)
        with torch.autocast(**BF16):
            loss16, terms16 = model(clips, labels)
    assert loss16.dtype == torch.float32
    assert all(terms16[k].dtype == torch.float32 for k in terms32 if not k.startswith("acc_"))
    # The backbone in bf16 moves every term by well under 5 % (measured: under 1 %).
    torch.testing.assert_close(loss16, loss32, rtol=0.05, atol=0.0)


class _Reads(TorchDispatchMode):
    """Counts reads of a tensor's value by the host (`.item()`, `float()`, `bool()`, ...: on
    CUDA each one waits for the device)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("scheme", ["byol", "moco"])
def test_the_training_loop_reads_nothing_from_the_device_between_intervals(
    scheme, synth_index, tmp_path, monkeypatch
):
    monkeypatch.setattr(trainer, "LOG_EVERY", 2)
    reads, seen = _Reads(), []
    spec = pretrain_spec(scheme, epochs=3)
    with reads:
        pretrain(spec, synth_index, tmp_path, CPU, hooks=(lambda step: seen.append(reads.count),))
    per_epoch = len(seen) // 3
    quiet = [s for s in range(1, len(seen)) if ((s - 1) % per_epoch + 1) % 2 and s % per_epoch]
    assert per_epoch >= 3 and quiet, "the test needs steps between intervals"
    # seen[s - 1] is the count after step s. A step that ends no interval (every second step)
    # and no epoch reads nothing: the next step starts where it ended.
    for s in quiet:
        assert seen[s] == seen[s - 1], f"steps {s} -> {s + 1} read the device: {seen}"
    assert seen[-1] > seen[0], "the intervals do read"


def test_loader_workers_are_capped_to_the_cores_of_each_process():
    from cstp.planning.rules import runtime_options
    from cstp.specs.preset import ResourceSpec

    paper = ResourceSpec(threads=8, workers=7, compile="cuda")
    assert runtime_options(paper, 8) == "--threads 8 --workers 7 --compile cuda"
    assert runtime_options(paper, 2) == "--threads 2 --workers 1 --compile cuda"  # 2 cores
    assert runtime_options(paper, 16, processes=8) == "--threads 2 --workers 1 --compile cuda"
    assert runtime_options(ResourceSpec(), 1) == "--threads 1 --workers 0 --compile off"


def test_a_global_batch_that_does_not_divide_over_the_processes_says_what_would():
    import copy
    from pathlib import Path

    import yaml

    from cstp.errors import CstpError
    from cstp.planning.plan import Plan

    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    config = copy.deepcopy(config) | {"preset": "paper"}
    config["presets"]["paper"]["pretrain"]["processes"] = 8
    config["presets"]["paper"]["resources"]["train"]["gpu"] = 8
    with pytest.raises(CstpError) as err:
        Plan.from_config(config, check_paths=False)
    message = str(err.value)
    assert "processes: 8 do not divide optim.batch_size 60, the global batch" in message
    assert "use a batch of 56 or 64" in message and "10, 12, 15, 20, 30 or 60 processes" in message


@pytest.mark.slow
def test_a_compiled_pretraining_writes_an_encoder_a_finetune_reads(
    synth_index, tmp_path, monkeypatch
):
    """compile: on, on the CPU. The backend is aot_eager (TorchDynamo's graph capture and
    AOTAutograd, everything but Inductor's code generation, which takes about 160 s for this tiny
    network on this machine's CPU; the GPU check compiles with Inductor)."""
    import torch._dynamo
    from test_engine import finetune_spec

    from cstp.engine.finetune import finetune
    from cstp.specs.base import spec_hash

    compiled = []
    original = torch.nn.Module.compile

    def compile_(module, **kwargs):
        compiled.append(type(module).__name__)
        return original(module, backend="aot_eager")

    monkeypatch.setattr(torch.nn.Module, "compile", compile_)
    torch._dynamo.reset()
    spec = pretrain_spec("byol", epochs=1)
    fast = rt.Runtime(device="cpu", threads=1, compile="on")
    pretrain(spec, synth_index, tmp_path / "compiled", fast)
    assert compiled == ["VideoResNet"]  # the backbone alone, once
    pretrain(spec, synth_index, tmp_path / "eager", CPU)
    a = torch.load(tmp_path / "compiled" / "encoder.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "eager" / "encoder.pt", weights_only=False)["state_dict"]
    assert a.keys() == b.keys()  # no compiled-module prefixes in what the encoder holds
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)
    tuned = finetune_spec(spec_hash(spec), epochs=1)
    metrics = finetune(
        tuned, synth_index, tmp_path / "tuned", tmp_path / "compiled" / "encoder.pt", CPU
    )
    assert metrics["final"]["epoch"] == 1 and (tmp_path / "tuned" / "model.pt").exists()


def _layout(model: torch.nn.Module) -> bool:
    """Whether the first 3D convolution's weight is in channels_last_3d."""
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv3d))
    return conv.weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_a_cpu_trains_in_channels_last_and_infers_in_the_contiguous_layout():
    """channels_last_3d made a pretraining 1.28x faster on this CPU but a forward without gradient
    slower (docs/engine.md): training jobs take it, inference on a CPU does not, and
    --no-channels-last keeps the contiguous layout everywhere."""
    cpu = torch.device("cpu")

    def prepared(training, **runtime):
        model = build_backbone("r2plus1d_10", 0.125)
        return rt.prepare_model(model, cpu, rt.Runtime(device="cpu", **runtime), training)

    assert _layout(prepared(training=True))
    assert not _layout(prepared(training=False))
    assert not _layout(prepared(training=True, channels_last=False))


def test_the_layout_moves_a_pretraining_only_by_rounding(synth_index, tmp_path):
    """Not bit for bit: three SGD steps through BatchNorm on batches of four carry the layout's
    rounding to about 4e-4 in a weight; the losses agree to 1e-4."""
    spec = pretrain_spec("byol", epochs=1)
    last = pretrain(spec, synth_index, tmp_path / "last", CPU)
    contiguous = rt.Runtime(device="cpu", threads=1, channels_last=False)
    plain = pretrain(spec, synth_index, tmp_path / "contiguous", contiguous)
    assert "loss" in last["final"] and "contrastive" in last["final"]
    for name, value in last["final"].items():
        if name in ("samples_per_s", "lr", "epoch"):
            continue
        assert value == pytest.approx(plain["final"][name], rel=1e-4, abs=1e-6), name
    a = torch.load(tmp_path / "last" / "encoder.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "contiguous" / "encoder.pt", weights_only=False)["state_dict"]
    # The saved weights keep the layout they trained in: pretrain asked for channels_last_3d.
    assert a["stem.0.weight"].is_contiguous(memory_format=torch.channels_last_3d)
    assert not b["stem.0.weight"].is_contiguous(memory_format=torch.channels_last_3d)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=2e-3, msg=key)
