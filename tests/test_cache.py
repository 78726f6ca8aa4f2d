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


def test_a_process_checks_each_array_once(copy_index, tmp_path, monkeypatch):
    # A job reads every video once an epoch: the checks happen at its first read only.
    build_cache(copy_index, tmp_path / "cache", None, progress=False)
    cache = FrameCache(tmp_path / "cache")
    row = pd.read_csv(copy_index).iloc[4]
    path, frames = row["path"], int(row["frames"])
    first = cache.source(path, frames).read([0, 2])
    os.utime(path, ns=(9, 9))  # changed after this process checked it: not looked at again
    assert torch.equal(cache.source(path, frames).read([0, 2]), first)
    assert FrameCache(tmp_path / "cache").source(path, frames) is None  # a new job checks it


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


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent, start time) of process `pid` from /proc, or None where it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def _live_descendants(pid: int) -> dict[int, int]:
    """{pid: start time} of every process below `pid` that is still running (zombies excluded)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[str, int, int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(entry.name))
        if stat is not None:
            stats[int(entry.name)] = stat
            children.setdefault(stat[1], []).append(int(entry.name))
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if stats[child][0] != "Z":
                found[child] = stats[child][2]
    return found


def _alive(processes: dict[int, int]) -> dict[int, int]:
    """Those of `processes` ({pid: start time}) still running: not ended, not a zombie, and not
    another process that has since been given the same pid."""
    alive = {}
    for pid, started in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z" and stat[2] == started:
            alive[pid] = started
    return alive


def _describe(processes: dict[int, int]) -> str:
    """A line per process still running: its pid, state, kernel wait, threads and command line."""
    lines = []
    for pid in sorted(_alive(processes)):
        proc = Path(f"/proc/{pid}")
        try:
            state = _stat(pid)[0]
            wchan = (proc / "wchan").read_text()
            threads = len(list((proc / "task").iterdir()))
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, TypeError):
            continue
        lines.append(f"  {pid} state {state}, in {wchan or '-'}, {threads} threads: {command}")
    return "\n".join(lines) or "  (none left)"


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
    out = tmp_path / "cache"
    command = [sys.executable, "-m", "cstp", "cache", "--index", str(tmp_path / "many.csv")]
    command += ["--out", str(out), "--workers", "2", "--no-progress"]
    job = subprocess.Popen(command, env=TOOL_ENV, stdout=subprocess.DEVNULL)
    below: dict[int, int] = {}

    def arrays() -> list[str]:
        return sorted(p.name for p in out.glob("*.npy")) if out.is_dir() else []

    def decoding() -> bool:  # the pool at work: an array written (or the job over: fail)
        below.update(_live_descendants(job.pid))
        return bool(arrays()) or job.poll() is not None

    def seen() -> str:
        status = f"the job: exit status {job.poll()}; {len(arrays())} arrays"
        return f"{status}; still running:\n{_describe(below)}"

    try:
        # Killed once its pool has written an array (a worker past its start-up, decoding), by
        # the job's progress, not by a guess at how long the start-up takes.
        wait_for(decoding, 600, "a first cached array", seen)
        below.update(_live_descendants(job.pid))
        job.send_signal(signal.SIGKILL)
        assert job.wait() == -signal.SIGKILL, f"the job ended before it was killed; {seen()}"
        assert not (out / "cache.json").exists(), "the job had finished; give it more videos"
        assert len(below) >= 3, f"no decoding workers below the job; {seen()}"  # forkserver, 2
        wait_for(lambda: not _alive(below), 300, "the decoding workers to end", seen)
    finally:
        for pid in _alive(below):
            os.kill(pid, signal.SIGKILL)
