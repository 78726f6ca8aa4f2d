"""The frame cache (`cstp cache`): exactly the decoded frames, rebuilt only where a source changed,
read by jobs in place of decoding with the same numbers, and wired into the workflow."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TOOL_ENV, wait_for

from cstp.cli import main
from cstp.data.cache import FrameCache, build_cache
from cstp.data.video import VideoReader
from cstp.errors import CstpError
from cstp.sampling.datasets import PairDataset, load_subset
from cstp.sampling.datasets import TestClipsDataset as ClipsOfTest
from cstp.specs.base import from_dict
from cstp.specs.sampling import SamplingSpec

SPEC = from_dict(
    SamplingSpec,
    {
        "clip": {"frames": 4, "size": 16},
        "playback_rates": [1, 2],
        "augment": {"playback_rate": True, "rotation": True},
        "pretext": ["stor_spatial", "stor_temporal"],
    },
)


@pytest.fixture(scope="module")
def copy_index(synth_index, tmp_path_factory):
    """A private copy of the tiny synthetic set (tests here change its files) and its index."""
    base = tmp_path_factory.mktemp("cached")
    root = synth_index.parent
    shutil.copytree(root, base / "ucf101")
    table = pd.read_csv(synth_index)
    table["path"] = [p.replace(str(root), str(base / "ucf101")) for p in table["path"]]
    index = base / "index.csv"
    table.to_csv(index, index=False)
    return index


@pytest.mark.parametrize("short_side", [None, 20])
def test_cached_frames_are_the_decoded_frames(copy_index, tmp_path, short_side):
    build_cache(copy_index, tmp_path / "cache", short_side, progress=False)
    cache = FrameCache(tmp_path / "cache")
    rows = pd.read_csv(copy_index).query("status == 'ok'")
    for path, frames in zip(rows["path"][:4], rows["frames"][:4], strict=True):
        wanted = [frames - 1, 0, 3, 3, frames // 2]
        with VideoReader(path, num_frames=int(frames)) as reader:
            decoded = reader.read(wanted, short_side=short_side)
        assert torch.equal(cache.source(path, int(frames)).read(wanted), decoded)


def test_datasets_read_the_same_samples_from_the_cache(copy_index, tmp_path):
    build_cache(copy_index, tmp_path / "cache", None, progress=False)
    rows = load_subset(copy_index, "train", min_frames=4)
    plain, cached = PairDataset(rows, SPEC, 0), PairDataset(rows, SPEC, 0, tmp_path / "cache")
    for item in [(0, 0), (1, 2), (3, len(rows) - 1)]:
        (a, labels_a), (b, labels_b) = plain[item], cached[item]
        assert torch.equal(a, b) and labels_a.keys() == labels_b.keys()
        assert all(torch.equal(labels_a[k], labels_b[k]) for k in labels_a)
    test = load_subset(copy_index, "test")
    plain, cached = (
        ClipsOfTest(test, SPEC, 2, 0.875),
        ClipsOfTest(test, SPEC, 2, 0.875, tmp_path / "cache"),
    )
    assert torch.equal(plain[0][0], cached[0][0])


def test_a_rebuild_redoes_only_changed_sources_and_drops_unlisted_ones(copy_index, tmp_path):
    out = tmp_path / "cache"
    first = build_cache(copy_index, out, None, progress=False)
    assert first["decoded"] == first["videos"] > 2 and not first["failed"]
    assert build_cache(copy_index, out, None, progress=False)["decoded"] == 0
    table = pd.read_csv(copy_index)
    changed = table["path"][0]
    os.utime(changed, ns=(1, 1))  # same bytes, new time: the SHA-256 says it is the same video
    assert build_cache(copy_index, out, None, progress=False)["decoded"] == 0
    smaller = tmp_path / "index.csv"
    table.iloc[1:].to_csv(smaller, index=False)
    result = build_cache(smaller, out, None, progress=False)
    assert result["videos"] == first["videos"] - 1
    assert len(list(out.glob("*.npy"))) == result["videos"]


def test_a_changed_source_is_decoded_instead_with_a_warning(copy_index, tmp_path, caplog):
    build_cache(copy_index, tmp_path / "cache", None, progress=False)
    cache = FrameCache(tmp_path / "cache")
    row = pd.read_csv(copy_index).iloc[2]
    os.utime(row["path"], ns=(5, 5))
    with caplog.at_level(logging.WARNING):
        assert cache.source(row["path"], int(row["frames"])) is None
    assert "changed since it was cached" in caplog.text
    assert cache.source("/no/such/video.avi", 10) is None


def test_a_cache_of_another_frame_size_is_refused(copy_index, tmp_path):
    build_cache(copy_index, tmp_path / "cache", 20, progress=False)
    rows = load_subset(copy_index, "train")
    with pytest.raises(CstpError, match="holds frames at short side 20, but this job reads them"):
        PairDataset(rows, SPEC, 0, tmp_path / "cache")
    with pytest.raises(CstpError, match="holds frames at short side 20, not None"):
        build_cache(copy_index, tmp_path / "cache", None, progress=False)


def test_cstp_cache_reports_what_it_wrote(copy_index, tmp_path, capsys):
    out = tmp_path / "c"
    args = ["cache", "--index", str(copy_index), "--out", str(out), "--workers", "2"]
    assert main([*args, "--no-progress", "--short-side", "none"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"cache {out}: ") and "decoded now" in printed
    manifest = FrameCache(out)
    assert manifest.short_side is None and len(manifest.videos) == len(list(out.glob("*.npy")))
    array = np.load(next(out.glob("*.npy")))
    assert array.dtype == np.uint8 and array.ndim == 4


def test_cstp_cache_refuses_a_missing_index_in_one_line(tmp_path, capsys):
    assert main(["cache", "--index", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such index file" in err[0]


def test_a_job_given_no_cache_there_says_so(copy_index, tmp_path):
    rows = load_subset(copy_index, "train")
    with pytest.raises(CstpError, match="no frame cache here"):
        PairDataset(rows, SPEC, 0, tmp_path / "empty")


def test_bench_decode_compares_the_cache_with_decoding(copy_index, tmp_path, capsys):
    build_cache(copy_index, tmp_path / "cache", None, progress=False)
    args = ["--clips", "4", "--clip-frames", "4", "--min-seconds", "0", "--max-videos", "3"]
    command = ["bench", "decode", "--index", str(copy_index), *args]
    assert main([*command, "--cache", str(tmp_path / "cache")]) == 0
    assert "the same clips from the frame cache (short side None)" in capsys.readouterr().out
    assert main([*command, "--cache", str(tmp_path / "none")]) == 2
    assert "no frame cache here" in capsys.readouterr().err


def test_an_index_without_frame_counts_is_refused(copy_index, tmp_path):
    table = pd.read_csv(copy_index).drop(columns=["frames"])
    table.to_csv(tmp_path / "plain.csv", index=False)
    with pytest.raises(CstpError, match="no frame counts; scan the dataset with --probe"):
        build_cache(tmp_path / "plain.csv", tmp_path / "cache", None, progress=False)


def test_a_touched_source_with_the_same_bytes_is_read_from_the_cache_again(copy_index, tmp_path):
    out = tmp_path / "cache"
    build_cache(copy_index, out, None, progress=False)
    row = pd.read_csv(copy_index).iloc[3]
    os.utime(row["path"], ns=(7, 7))
    assert FrameCache(out).source(row["path"], int(row["frames"])) is None  # changed, so far
    assert build_cache(copy_index, out, None, progress=False)["decoded"] == 0
    assert FrameCache(out).source(row["path"], int(row["frames"])) is not None


def _damage(file, how: str) -> None:
    """Cut an array file short (as `truncate -s 200` does), or overwrite its frames at the same
    size (a bad copy, a stray write)."""
    data = bytearray(file.read_bytes())
    if how == "truncated":
        file.write_bytes(bytes(data[:200]))
    else:
        data[-2000:] = bytes(255 - b for b in data[-2000:])
        file.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "overwritten"])
def test_a_damaged_array_is_found_decoded_instead_and_rebuilt(
    copy_index, tmp_path, caplog, capsys, how
):
    out = tmp_path / "cache"
    build_cache(copy_index, out, None, progress=False)
    test = load_subset(copy_index, "test")
    path = str(test["path"].iloc[0])
    entry = FrameCache(out).videos[path]
    size = (out / entry["file"]).stat().st_size
    _damage(out / entry["file"], how)
    assert ((out / entry["file"]).stat().st_size == size) == (how == "overwritten")
    # A job decodes that video instead, with a warning naming it, and reads the same clips.
    with caplog.at_level(logging.WARNING):
        cached = ClipsOfTest(test, SPEC, 2, 0.875, out)[0][0]
    assert f"{path}: damaged in the frame cache {out}" in caplog.text
    assert torch.equal(cached, ClipsOfTest(test, SPEC, 2, 0.875)[0][0])
    # `cstp cache --verify` names it and changes nothing; `cstp cache` rebuilds that array only.
    assert main(["cache", "--out", str(out), "--verify"]) == 1
    printed = capsys.readouterr().out
    assert f"  damaged: {path}: {entry['file']}" in printed and "1 damaged arrays" in printed
    assert build_cache(copy_index, out, None, progress=False)["decoded"] == 1
    assert main(["cache", "--out", str(out), "--verify"]) == 0
    assert FrameCache(out).source(path, int(test["frames"].iloc[0])) is not None


def _live_descendants(pid: int) -> set[int]:
    """Every process below `pid` that is still running (zombies excluded), from /proc."""
    children: dict[int, list[int]] = {}
    states: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        child = int(stat.parent.name)
        children.setdefault(int(parent), []).append(child)
        states[child] = state
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if states[child] != "Z":
                found.add(child)
    return found


def test_a_killed_cstp_cache_leaves_no_worker_behind(copy_index, tmp_path):
    """kill -9 of `cstp cache` runs no clean-up: its decoding workers must end by themselves
    (they used to wait for work as orphans for as long as the machine ran)."""
    rows = pd.read_csv(copy_index).query("status == 'ok'")
    first = rows.iloc[0]
    copies = []
    for i in range(200):  # enough work that the pool is busy when the command is killed
        copy = tmp_path / "videos" / f"v{i:03d}.avi"
        copy.parent.mkdir(exist_ok=True)
        shutil.copyfile(first["path"], copy)
        copies.append({**first.to_dict(), "path": str(copy)})
    pd.DataFrame(copies).to_csv(tmp_path / "many.csv", index=False)
    command = [sys.executable, "-m", "cstp", "cache", "--index", str(tmp_path / "many.csv")]
    command += ["--out", str(tmp_path / "cache"), "--workers", "2", "--no-progress"]
    job = subprocess.Popen(command, env=TOOL_ENV, stdout=subprocess.DEVNULL)
    below: set[int] = set()

    def started() -> bool:  # the forkserver and its two workers, at least
        below.update(_live_descendants(job.pid))
        return len(below) >= 3

    try:
        wait_for(started, 60, "the decoding workers to start")
        job.send_signal(signal.SIGKILL)
        job.wait()
        wait_for(lambda: not _alive(below), 30, f"the workers {sorted(_alive(below))} to end")
    finally:
        for pid in _alive(below):
            os.kill(pid, signal.SIGKILL)


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.add(pid)
    return alive
