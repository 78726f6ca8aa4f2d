"""A frame cache (`cstp cache`): every usable video of an index decoded once, at the short side the
jobs read, into one uint8 .npy array (T, H, W, 3) per video that a job maps into memory and slices
by frame index instead of decoding.

The arrays hold exactly what `VideoReader.read` returns for the same frames and short side, so a
job reading the cache computes the same numbers as one decoding the videos (a test checks it): the
cache is a speed-up, not part of any run id. The manifest records per video its source's size,
modification time and SHA-256, and per array its size and a digest of its bytes. A source that
changed, or an array that is damaged (cut short, overwritten), is re-decoded by the next `cstp
cache`; `cstp cache --verify` reports damaged arrays without touching them. A job checks each
array's size on every open and its digest on the first open in each process, and decodes a video
whose entry is missing, changed or damaged instead, with a warning naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cstp.data.scan import read_index
from cstp.data.video import VideoError, VideoReader
from cstp.errors import CstpError
from cstp.files import write_atomic, write_text_atomic

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: each entry also records its array's size and digest
MANIFEST = "cache.json"


@dataclass(frozen=True)
class Entry:
    """One cached video: its array file (relative to the cache), the array's size and digest,
    and its source's identity."""

    file: str
    frames: int
    width: int
    height: int
    size: int
    mtime_ns: int
    sha256: str
    array_bytes: int
    array_digest: str


def _stamp(path: str | Path) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _array_digest(file: Path) -> str:
    """A digest of an array file's bytes: BLAKE2b, several times faster than decoding the video."""
    digest = hashlib.blake2b(digest_size=16)
    with open(file, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_damage(entry: dict, root: Path) -> str | None:
    """What is wrong with an entry's array file (missing, of another size, other bytes), or None."""
    file = root / entry["file"]
    try:
        size = file.stat().st_size
    except OSError:
        return f"{file.name} is missing"
    if size != entry["array_bytes"]:
        return f"{file.name} holds {size} bytes, not {entry['array_bytes']}"
    if _array_digest(file) != entry["array_digest"]:
        return f"{file.name} does not hold the bytes it was written with"
    return None


def _decode(path: str, frames: int, short_side: int | None, out: Path) -> dict:
    """Decode one video into out/<name>.npy (through a temporary name); its manifest entry."""
    name = hashlib.sha256(path.encode()).hexdigest()[:20] + ".npy"
    size, mtime_ns = _stamp(path)
    with VideoReader(path, num_frames=frames) as reader:
        array = reader.read(range(frames), short_side=short_side).numpy()
    write_atomic(out / name, lambda tmp: _save(tmp, array), "cached frames")
    _, height, width, _ = array.shape
    array_bytes, array_digest = (out / name).stat().st_size, _array_digest(out / name)
    entry = Entry(
        name, frames, width, height, size, mtime_ns, _sha256(path), array_bytes, array_digest
    )
    return asdict(entry)


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as file:  # a file object: np.save would add ".npy" to a name
        np.save(file, array, allow_pickle=False)


def _current(entry: dict | None, path: str, frames: int, out: Path) -> dict | None:
    """The entry, if it still serves `path` (its array is whole and the source is the one cached),
    with the source's time brought up to date when only that changed; else None."""
    if entry is None or entry["frames"] != frames:
        return None
    damage = array_damage(entry, out)
    if damage:
        log.warning("%s: damaged cached frames (%s); decoding it again", path, damage)
        return None
    try:
        size, mtime_ns = _stamp(path)
    except OSError:
        return None
    if (size, mtime_ns) == (entry["size"], entry["mtime_ns"]):
        return entry
    if size == entry["size"] and _sha256(path) == entry["sha256"]:
        return entry | {"mtime_ns": mtime_ns}  # touched, same bytes: jobs must accept it again
    return None


def build_cache(
    index: Path, out: Path, short_side: int | None, workers: int = 1, progress: bool = True
) -> dict:
    """Cache every usable video of `index` under `out`; resumable, and only what changed is redone.

    Returns the counts: videos, decoded (the rest were current), failed, bytes and seconds.
    """
    start = time.perf_counter()
    rows = read_index(index)
    rows = rows[rows["status"] == "ok"]
    if "frames" not in rows.columns or rows["frames"].isna().any():
        raise CstpError(f"{index}: no frame counts; scan the dataset with --probe")
    out.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(out)
    if manifest and manifest["short_side"] != short_side:
        raise CstpError(
            f"{out}: holds frames at short side {manifest['short_side']}, not {short_side}; "
            "give another --out"
        )
    videos = dict(manifest.get("videos", {})) if manifest else {}
    todo = []
    for path, frames in zip(rows["path"].astype(str), rows["frames"].astype(int), strict=True):
        kept = _current(videos.get(path), path, frames, out)
        if kept is None:
            todo.append((path, frames))
        else:
            videos[path] = kept
    failed = _decode_all(todo, short_side, out, workers, progress, videos)
    wanted = {str(p) for p in rows["path"]} - set(failed)
    videos = {p: e for p, e in videos.items() if p in wanted}
    _remove_orphans(out, {e["file"] for e in videos.values()})
    body = {"version": CACHE_VERSION, "short_side": short_side, "index": str(index)}
    write_text_atomic(out / MANIFEST, json.dumps(body | {"videos": videos}, indent=1))
    return {
        "videos": len(videos),
        "decoded": len(todo) - len(failed),
        "failed": failed,
        "bytes": sum((out / e["file"]).stat().st_size for e in videos.values()),
        "seconds": time.perf_counter() - start,
    }


def _decode_all(todo, short_side, out, workers, progress, videos) -> dict[str, str]:
    """Decode `todo` into `videos` (in place); returns {path: reason} of those that failed."""
    failed: dict[str, str] = {}
    bar = tqdm(total=len(todo), desc="cache", unit="video", file=sys.stderr, disable=not progress)
    pool = None
    if workers > 1 and todo:
        context = multiprocessing.get_context("forkserver")
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_end_with_parent)
    try:
        calls = [(p, f, short_side, out) for p, f in todo]
        results = pool.map(_decode_or_reason, calls) if pool else map(_decode_or_reason, calls)
        for (path, _), (entry, reason) in zip(todo, results, strict=True):
            if entry is None:
                failed[path] = reason
                log.warning("%s: not cached: %s", path, reason)
            else:
                videos[path] = entry
            bar.update()
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return failed


def _end_with_parent() -> None:
    """Pool worker start-up: end this worker as soon as the process that started it is gone.
    A `cstp cache` killed outright (kill -9, a job runner's timeout) runs no clean-up, and its
    workers would otherwise wait for work for ever as orphans."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def verify_cache(out: Path) -> dict[str, str]:
    """{video: what is wrong} for every entry of the cache at `out` whose array is damaged
    (size and bytes checked); changes nothing."""
    manifest = _read_manifest(out)
    if manifest is None:
        raise CstpError(f"{out}: no frame cache here (build it with cstp cache)")
    damaged = {}
    for path, entry in manifest["videos"].items():
        damage = array_damage(entry, out)
        if damage:
            damaged[path] = damage
    return damaged


def _decode_or_reason(call) -> tuple[dict | None, str]:
    try:
        return _decode(*call), ""
    except VideoError as err:
        return None, str(err)
    except OSError as err:
        where = err.filename or call[3]
        raise CstpError(f"{where}: cannot write the cache: {err.strerror}") from err


def _remove_orphans(out: Path, keep: set[str]) -> None:
    """Arrays no entry names, and temporary files of a build that was killed."""
    for path in [*out.glob("*.npy"), *out.glob(".*.tmp")]:
        if path.name not in keep:
            path.unlink()


def _read_manifest(out: Path) -> dict | None:
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except ValueError:
        log.warning("%s: unreadable manifest; rebuilding the cache", path)
        return None
    return manifest if manifest.get("version") == CACHE_VERSION else None


class FrameCache:
    """A built cache, opened by jobs: `source(path, frames)` gives a reader of the cached frames,
    or None (the caller decodes) when the video is not cached or its source changed."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        manifest = _read_manifest(self.root)
        if manifest is None:
            raise CstpError(f"--cache {self.root}: no frame cache here (build it with cstp cache)")
        self.short_side = manifest["short_side"]
        self.videos = manifest["videos"]
        # Arrays this process has checked (source unchanged, bytes as written): a job reads each
        # video once an epoch, and the checks cost a few percent of a small pretraining step.
        # Each read maps its array anew: a mapping holds a file descriptor, and a real dataset's
        # thousands of videos would exceed the limit on open files.
        self._checked: set[str] = set()

    def source(self, path: str, frames: int) -> CachedSource | None:
        entry = self.videos.get(str(path))
        if entry is None or entry["frames"] != frames:
            log.warning("%s: not in the frame cache %s; decoding it", path, self.root)
            return None
        if entry["file"] in self._checked:
            return CachedSource(_load_array(self.root / entry["file"], entry))
        try:
            stamp = _stamp(path)
        except OSError:
            stamp = None  # the source is gone: the cached frames are all there is
        if stamp is not None and stamp != (entry["size"], entry["mtime_ns"]):
            log.warning("%s: changed since it was cached in %s; decoding it", path, self.root)
            return None
        damage = array_damage(entry, self.root)
        if damage is None:
            try:
                source = CachedSource(_load_array(self.root / entry["file"], entry))
            except (OSError, ValueError) as err:
                damage = f"{entry['file']} does not load: {err}"
        if damage:
            log.warning(
                "%s: damaged in the frame cache %s (%s); decoding it (cstp cache rebuilds it)",
                *(path, self.root, damage),
            )
            return None
        self._checked.add(entry["file"])
        return source


def _load_array(file: Path, entry: dict) -> np.ndarray:
    """The cached frames of `entry`, memory-mapped: frames x height x width x 3."""
    array = np.load(file, mmap_mode="r", allow_pickle=False)
    if array.shape[:3] != (entry["frames"], entry["height"], entry["width"]):
        raise ValueError(f"shape {array.shape} is not the entry's")
    return array


class CachedSource:
    """The FrameSource of one cached video (see cstp.sampling.sample.FrameSource)."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.num_frames, self.height, self.width, _ = array.shape

    def __enter__(self) -> CachedSource:
        return self

    def __exit__(self, *exc) -> None:
        self.array = None

    def read(self, indices: list[int]) -> torch.Tensor:
        last = self.num_frames - 1
        rows = [min(int(i), last) for i in indices]
        return torch.from_numpy(np.ascontiguousarray(self.array[rows]))
