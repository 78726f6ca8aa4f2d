"""Writing a planned synthetic dataset to disk (`cstp synth`): every video rendered and encoded
through a temporary name, the official split files, and a manifest; resumable and parallel."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import av
from tqdm import tqdm

from cstp.data.encode import write_video
from cstp.data.render import render_video
from cstp.data.synth import (
    DATASETS,
    MANIFEST,
    TMP_DIR,
    SynthSpec,
    VideoEntry,
    class_table,
    plan_videos,
    split_files,
)
from cstp.errors import CstpError
from cstp.files import write_bytes_atomic


def _is_complete(path: Path, fingerprint: str) -> bool:
    """True when `path` is a finished video of this plan: files appear only by rename, complete."""
    if not path.is_file():
        return False
    try:
        with av.open(str(path)) as container:
            return container.metadata.get("comment") == f"cstp-synth {fingerprint}"
    except (av.FFmpegError, OSError):
        return False


def make_video(root: Path, entry: VideoEntry, spec: SynthSpec) -> int:
    """Render and encode one video under `root`, via a temporary name; returns its size in bytes."""
    frames = render_video(entry.params, spec.width, spec.height, spec.fps, entry.n_frames)
    final = root / entry.path
    tmp = root / TMP_DIR / f"{uuid.uuid4().hex}{Path(entry.path).suffix}"  # the same container
    tmp.parent.mkdir(parents=True, exist_ok=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    meta = {"comment": f"cstp-synth {entry.fingerprint(spec)}", "title": entry.action.camel}
    write_video(tmp, frames, spec.fps, quality=spec.quality, metadata=meta)
    os.replace(tmp, final)
    return final.stat().st_size


def _remove_stale(root: Path, dataset: str, keep: Iterable[str]) -> int:
    """Delete videos and split files of an earlier, different plan (only in a folder we made)."""
    if not (root / MANIFEST).is_file():
        return 0
    keep = set(keep)
    pattern = {"ucf101": "UCF-101/*/*.avi", "hmdb51": "videos/*/*.avi"}
    removed = 0
    for path in root.glob(pattern.get(dataset, "videos/*/*/*.mp4")):
        if path.relative_to(root).as_posix() not in keep:
            path.unlink()
            removed += 1
    for path in root.glob("testTrainMulti_7030_splits/*_test_split*.txt"):
        if path.relative_to(root).as_posix() not in keep:
            path.unlink()
    return removed


def _manifest(spec: SynthSpec, dataset: str, entries: Sequence[VideoEntry], root: Path) -> dict:
    """The spec, the generator's version and, per video, its ground truth (class and world)."""
    names = [name for name, _ in class_table(dataset, spec)]
    return {
        "generator": {"name": "cstp synth", "version": spec.generator_version, "world": spec.world},
        "dataset": dataset,
        "spec": dataclasses.asdict(spec),
        "classes": [
            {"id": i, "name": n, "shape": e.shape, "motion": e.motion}
            for i, (n, e) in enumerate(class_table(dataset, spec), start=1)
        ],
        "videos": [
            {
                "path": e.path,
                "class": names[e.label - 1],
                "label": e.label,
                "group": e.group,
                "clip": e.clip,
                "frames": e.n_frames,
                "bytes": (root / e.path).stat().st_size,
                "fingerprint": e.fingerprint(spec),
                "params": dataclasses.asdict(e.params),
            }
            for e in entries
        ],
    }


def _make_videos(root: Path, spec: SynthSpec, todo: list[VideoEntry], pool, bar) -> None:
    if pool is None:
        results = (make_video(root, e, spec) for e in todo)
    else:
        futures = [pool.submit(make_video, root, e, spec) for e in todo]
        results = (f.result() for f in as_completed(futures))
    try:
        for _ in results:
            bar.update()
    except OSError as err:
        raise CstpError(f"{err.filename or root}: cannot write a video: {err}") from err


def generate_dataset(out: Path, spec: SynthSpec, dataset: str, pool=None, progress=True) -> dict:
    """Write one dataset under `out/<dataset>`: videos, then the manifest, then the split files.

    Split files exist only while every video they list is complete: a reader may rely on them.
    """
    start = time.perf_counter()
    root = Path(out) / dataset
    entries = plan_videos(spec, dataset)
    splits = split_files(spec, dataset, entries)
    removed = _remove_stale(root, dataset, [e.path for e in entries] + list(splits))
    todo = [e for e in entries if not _is_complete(root / e.path, e.fingerprint(spec))]
    if todo:
        for name in splits:
            (root / name).unlink(missing_ok=True)
    done = len(entries) - len(todo)
    with tqdm(
        total=len(entries),
        initial=done,
        desc=dataset,
        unit="video",
        file=sys.stderr,
        disable=not progress,
    ) as bar:
        _make_videos(root, spec, todo, pool, bar)
    shutil.rmtree(root / TMP_DIR, ignore_errors=True)
    manifest = _manifest(spec, dataset, entries, root)
    write_bytes_atomic(root / MANIFEST, json.dumps(manifest, indent=1).encode())
    for name, text in splits.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(root / name, text.encode())
    return {
        "root": str(root),
        "videos": len(entries),
        "generated": len(todo),
        "removed": removed,
        "bytes": sum(v["bytes"] for v in manifest["videos"]),
        "seconds": time.perf_counter() - start,
    }


def generate(
    out: str | Path,
    spec: SynthSpec,
    datasets: Sequence[str] = DATASETS,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, dict]:
    """Generate `datasets` under `out` with `workers` processes (default: all cores); resumable.

    Returns per dataset: root, videos, generated (the rest were already complete), removed (stale
    videos of an earlier plan), bytes (all its videos) and seconds.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CstpError(f"--out {out}: expected a directory, found a file")
    for dataset in datasets:
        class_table(dataset, spec)
    workers = os.cpu_count() or 1 if workers is None else workers
    if workers < 1:
        raise CstpError(f"--workers {workers}: expected a number of processes >= 1")
    # forkserver: workers must not inherit the threads of a parent that has imported torch.
    context = get_context("forkserver")
    pool = ProcessPoolExecutor(workers, mp_context=context) if workers > 1 else None
    try:
        return {d: generate_dataset(out, spec, d, pool, progress) for d in datasets}
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
