"""The GPU check of the paper preset, in one run (tests/gpu/check.sh starts it; docs/engine.md).

For Table 2 Exp 16 of the `paper` preset (R(2+1)D at 16x112x112, BYOL + playback rate + rotation
+ STOR, bf16, batch 60) on synthetic videos it generates itself:
1. `cstp bench step` (a)-(e), eager and compiled, for R(2+1)D-10 and R(2+1)D-18;
2. a 20-step pretraining, run whole and run again killed by SIGUSR1 mid-way and resumed by the
   same command (deterministic kernels): the two encoders compared bit for bit;
3. a one-epoch fine-tune on the UCF-101 stand-in from that encoder, and its evaluation;
4. the peak memory of each.
Everything it prints is also in OUT/gpu-check.json. `--tiny` runs the same steps on the CPU at a
size that takes a minute (the test suite does, so the script itself is tested where no GPU is).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from cstp.commands.bench import step_report  # noqa: E402
from cstp.engine.runtime import Runtime  # noqa: E402
from cstp.engine.stepbench import StepBench, measure_step  # noqa: E402
from cstp.planning.plan import Plan  # noqa: E402
from cstp.sampling.datasets import load_subset  # noqa: E402
from cstp.specs.base import from_dict, spec_hash, spec_json, to_dict  # noqa: E402
from cstp.specs.measure import EvaluateSpec  # noqa: E402
from cstp.specs.train import FinetuneSpec, PretrainSpec  # noqa: E402

STEPS = 20  # pretraining steps of part 2
# --tiny: what shrinks so that the CPU runs every part in about a minute.
TINY = {"width": 0.125, "frames": 4, "size": 16, "batch": 4}


def cell_specs(tiny: bool) -> tuple[PretrainSpec, FinetuneSpec, EvaluateSpec]:
    """The pretraining, UCF-101 fine-tuning and evaluation specs of Table 2 Exp 16, seed 0, of
    the paper preset."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config = copy.deepcopy(config) | {"preset": "paper", "seeds": [0]}
    plan = Plan.from_config(config, check_paths=False)
    runs = next(
        r for r in plan.tables["table2"] if str(r.cell.exp) == "16" and r.dataset.key == "ucf101"
    )
    pretrain = plan.run("pretrain", runs.pretrain).spec
    finetune = plan.run("finetune", runs.finetune).spec
    evaluate = plan.run("evaluate", runs.evaluate).spec
    if not tiny:
        return pretrain, finetune, evaluate
    return shrink(pretrain), shrink(finetune), evaluate


def shrink(spec):
    data = to_dict(spec)
    data["backbone"]["width"] = TINY["width"]
    data["sampling"]["clip"] |= {"frames": TINY["frames"], "size": TINY["size"], "short_side": 20}
    data["optim"]["batch_size"] = TINY["batch"]
    if "contrastive" in data:
        small = {"proj_hidden": 32, "proj_dim": 16, "pred_hidden": 32, "queue": 32}
        data["contrastive"] |= small
    return from_dict(type(spec), data, "tiny")


def with_budget(spec, **optim):
    data = to_dict(spec)
    data["optim"] |= optim
    return from_dict(type(spec), data, "check")


def cstp(*args: str, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "cstp", *args]
    handle = open(log, "a")  # noqa: SIM115 (closed with the process)
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)


def finish(process: subprocess.Popen, what: str, log: Path) -> None:
    if process.wait() != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise SystemExit(f"check: {what} failed ({process.returncode}); {log}:\n{tail}")


def make_data(work: Path, tiny: bool) -> Path:
    """The UCF-101 stand-in (cstp synth) and its index."""
    data, index = work / "synth", work / "ucf101_index.csv"
    if index.exists():
        return index
    size = ["--size", "64x48"] if tiny else ["--size", "170x128"]
    preset = ["--preset", "tiny"] if tiny else []
    log = work / "data.log"
    synth = ["synth", "--out", str(data), "--datasets", "ucf101", *preset, *size, "--no-progress"]
    finish(cstp(*synth, log=log), "cstp synth", log)
    root = data / "ucf101"
    scan = ["data", "scan", "ucf101", "--root", str(root / "UCF-101")]
    scan += ["--splits", str(root / "ucfTrainTestlist"), "--out", str(index), "--probe"]
    finish(cstp(*scan, log=log), "cstp data scan", log)
    return index


def bench(spec: PretrainSpec, index: Path, device: str, tiny: bool) -> list[dict]:
    """Part 1: bench step of the cell, eager and compiled, on two backbones."""
    results = []
    backbones = ["r2plus1d_10"] if tiny else ["r2plus1d_10", "r2plus1d_18"]
    modes = ["off"] if tiny else ["off", "on"]  # Inductor on a CPU takes minutes per network
    for name in backbones:
        data = to_dict(spec)
        data["backbone"]["name"] = name
        cell = from_dict(PretrainSpec, data, "bench")
        for mode in modes:
            runtime = Runtime(device=device, threads=1 if tiny else 8, compile=mode)
            setup = StepBench(steps=5, warmup=3, repeats=3, workers=0 if tiny else 8)
            started = time.time()
            result = measure_step(cell, runtime, setup, index if mode == "off" else None)
            result["wall_s"] = time.time() - started
            results.append(result)
            print(step_report(result), flush=True)
    return results


def interrupted_pretraining(spec: PretrainSpec, index: Path, work: Path, device: str) -> dict:
    """Part 2: STEPS steps whole, and again killed by SIGUSR1 after the first epoch and resumed."""
    videos = len(load_subset(index, "train", min_frames=spec.sampling.clip.frames))
    per_epoch = max(1, videos // spec.optim.batch_size)
    epochs = max(2, math.ceil(STEPS / per_epoch))
    spec = with_budget(spec, epochs=epochs, warmup_epochs=epochs / 2)  # half, as the recipe
    path = work / "pretrain.json"
    path.write_text(spec_json(spec))
    common = ["--spec", str(path), "--index", str(index), "--device", device, "--deterministic"]
    common += ["--threads", "1"] if device == "cpu" else ["--workers", "8"]
    whole, cut = work / "whole", work / "cut"
    log = work / "pretrain.log"
    started = time.time()
    finish(cstp("pretrain", *common, "--out", str(whole), log=log), "pretraining", log)
    seconds = time.time() - started
    process = cstp("pretrain", *common, "--out", str(cut), log=log)
    history = cut / "history.log"
    deadline = time.time() + 1800
    while not (history.exists() and f"epoch 1/{epochs}:" in history.read_text()):
        if process.poll() is not None or time.time() > deadline:
            raise SystemExit("check: the pretraining to interrupt ended before its first epoch")
        time.sleep(0.2)
    process.send_signal(signal.SIGUSR1)
    stopped = process.wait()
    finish(cstp("pretrain", *common, "--out", str(cut), log=log), "resumed pretraining", log)
    a = torch.load(whole / "encoder.pt", weights_only=False)["state_dict"]
    b = torch.load(cut / "encoder.pt", weights_only=False)["state_dict"]
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    metrics = json.loads((whole / "metrics.json").read_text())
    return {
        "spec": spec_hash(spec),
        "steps": epochs * per_epoch,
        "epochs": epochs,
        "seconds_whole": seconds,
        "exit_after_sigusr1": stopped,
        "resumed_from": [ln for ln in history.read_text().splitlines() if "resuming" in ln],
        "tensors_differing": differ,
        "max_abs_difference": max((float((a[k] - b[k]).abs().max()) for k in differ), default=0.0),
        "peak_memory_gib": metrics.get("peak_memory_gib"),
        "encoder": str(whole / "encoder.pt"),
    }


def finetune_and_evaluate(specs, pretrain: dict, index: Path, work: Path, device: str) -> dict:
    """Part 3: one fine-tuning epoch from the encoder of part 2, then its evaluation."""
    finetune, evaluate = specs
    tuned = dataclasses.replace(with_budget(finetune, epochs=1), pretrain=pretrain["spec"])
    path, run = work / "finetune.json", work / "finetune"
    path.write_text(spec_json(tuned))
    log = work / "finetune.log"
    args = ["--spec", str(path), "--index", str(index), "--device", device]
    args += ["--threads", "1"] if device == "cpu" else ["--workers", "8"]
    started = time.time()
    args += ["--encoder", pretrain["encoder"], "--out", str(run)]
    finish(cstp("finetune", *args, log=log), "fine-tuning", log)
    trained = time.time() - started
    evaluate = dataclasses.replace(evaluate, finetune=spec_hash(tuned))
    epath = work / "evaluate.json"
    epath.write_text(spec_json(evaluate))
    eargs = ["--spec", str(epath), "--index", str(index), "--device", device]
    eargs += ["--threads", "1"] if device == "cpu" else ["--workers", "8"]
    eargs += ["--model", str(run / "model.pt"), "--out", str(work / "evaluate")]
    started = time.time()
    finish(cstp("evaluate", *eargs, log=log), "evaluation", log)
    tested = json.loads((work / "evaluate" / "metrics.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    return {
        "finetune_seconds": trained,
        "finetune_peak_memory_gib": metrics.get("peak_memory_gib"),
        "evaluate_seconds": time.time() - started,
        "top1_video": tested["top1_video"],
        "test_videos": tested["videos"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-check")))
    parser.add_argument("--tiny", action="store_true", help="every part, tiny, on the CPU")
    args = parser.parse_args()
    device = "cpu" if args.tiny else "cuda"
    if not args.tiny and not torch.cuda.is_available():
        raise SystemExit("check: no CUDA device here (use --tiny for the CPU flow check)")
    work = args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    report = {"torch": torch.__version__, "device": device}
    if device == "cuda":
        report["gpu"] = torch.cuda.get_device_name(0)
    started = time.time()
    pretrain, finetune, evaluate = cell_specs(args.tiny)
    index = make_data(work, args.tiny)
    report["data_seconds"] = time.time() - started
    report["bench"] = bench(pretrain, index, device, args.tiny)
    report["pretrain"] = interrupted_pretraining(pretrain, index, work, device)
    print("pretraining:", json.dumps(report["pretrain"], indent=1), flush=True)
    specs = (finetune, evaluate)
    report["finetune"] = finetune_and_evaluate(specs, report["pretrain"], index, work, device)
    print("fine-tune and evaluation:", json.dumps(report["finetune"], indent=1), flush=True)
    report["seconds"] = time.time() - started
    (args.out / "gpu-check.json").write_text(json.dumps(report, indent=1) + "\n")
    equal = not report["pretrain"]["tensors_differing"]
    print(f"check: {report['seconds']:.0f} s; resumed encoder bit-equal: {equal}")
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
