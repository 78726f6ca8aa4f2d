"""Synthetic UCF-101-, HMDB-51- and Kinetics-400-like datasets as a plan: specs and presets, the
published file layouts, every video's parameters and the official split files
(`cstp.data.generate` writes them).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cstp.data.world import (
    HMDB_CLASSES,
    UCF_CLASSES,
    WORLD_VERSION,
    WORLDS,
    ActionClass,
    VideoParams,
    balanced_counts,
    sample_video_params,
)
from cstp.errors import CstpError

# World version . layout version: part of every video's fingerprint, so a change regenerates.
LAYOUT_VERSION = 1
DATASETS = ("ucf101", "hmdb51", "kinetics400")
# Seed entropy that tells the datasets apart.
DATASET_KEYS = {"ucf101": 101, "hmdb51": 51, "kinetics400": 400}
LONG_VIDEO = 128  # frames for 16-frame clips at playback rate 8
SHORT_FRACTION = 0.15
MANIFEST = "synth.json"
# Where each dataset puts its videos and its split files, as the real datasets are published.
LAYOUT = {
    "ucf101": ("UCF-101", "ucfTrainTestlist"),
    "hmdb51": ("videos", "testTrainMulti_7030_splits"),
    "kinetics400": ("videos", "annotations"),
}
K400_VALIDATE = 0.25  # a Kinetics-like class's validation clips, as a share of its training ones
K400_HEADER = "label,youtube_id,time_start,time_end,split\n"
TMP_DIR = ".synth-tmp"
RNG_ROLES = {"scene": 1, "clip": 2, "clip_count": 3, "sources": 4, "split": 5}
SCENE_NAMES = ("Meadow", "Steppe", "Field", "Dunes", "Heath", "Prairie", "Valley", "Moor")


@dataclasses.dataclass(frozen=True)
class SynthSpec:
    """All knobs of one synthetic dataset pair; validated on construction."""

    seed: int = 0
    width: int = 64
    height: int = 48
    fps: int = 25
    frames: tuple[int, int] = (40, 200)  # video length range; see draw_length
    ucf_classes: int = 10
    groups: int = 10  # UCF-101 has 25
    clips_per_group: tuple[int, int] = (3, 5)  # UCF-101 has 4-7
    hmdb_classes: int = 8
    videos_per_class: int = 30  # HMDB-51 has >= 101
    # The Kinetics-400 stand-in: every class of the world (the 32 shapes x motions, more than
    # either table), this many training clips each (Kinetics-400 has 250-1000).
    k400_videos_per_class: int = 16
    quality: int = 4  # MPEG-4 quantiser, lower is better
    # Clips of one group share scene and actor look, as UCF-101's groups do. Off by default: with
    # a few groups per class, a small network memorises the training groups' scenes instead of
    # learning the actions (docs/synthetic-world.md, "Shared scenes").
    shared_scenes: bool = False
    # Which world is drawn (cstp.data.world.WORLDS): 2, a landscape; 3, a plain backdrop without
    # scene identity or "up" (docs/synthetic-world.md, "World version 3"); 4, world 3 with a
    # camera that follows the actor ("World version 4"); 5, world 4 with an actor whose colour and
    # size drift within a video ("World version 5").
    world: int = WORLD_VERSION

    @property
    def generator_version(self) -> str:
        return f"{self.world}.{LAYOUT_VERSION}"

    def __post_init__(self) -> None:
        size, aspect = f"{self.width}x{self.height}", self.width / self.height
        even = self.width % 2 == 0 and self.height % 2 == 0 and self.height >= 16
        counts = sorted(set(balanced_counts(UCF_CLASSES)) & set(balanced_counts(HMDB_CLASSES)))
        shown = ", ".join(map(str, counts))
        frames, clips = _in_range(self.frames, 8, 100_000), _in_range(self.clips_per_group, 1, 99)
        videos = self.videos_per_class
        checks = [
            (self.seed >= 0, "--seed", self.seed, "an integer >= 0"),
            (even, "--size", size, "WxH with even width and height, height >= 16"),
            (1.2 <= aspect <= 2.5, "--size", size, "width / height between 1.2 and 2.5 (4:3)"),
            (1 <= self.fps <= 240, "--fps", self.fps, "frames per second in 1..240"),
            (frames, "--frames", self.frames, "MIN,MAX with 8 <= MIN <= MAX"),
            (self.ucf_classes in counts, "--classes", self.ucf_classes, f"one of {shown}"),
            (self.hmdb_classes in counts, "--classes", self.hmdb_classes, f"one of {shown}"),
            (2 <= self.groups <= 99, "--groups", self.groups, "2..99 groups per class"),
            (clips, "--clips-per-group", self.clips_per_group, "MIN,MAX, 1 <= MIN <= MAX <= 99"),
            (2 <= videos <= 999, "--videos-per-class", videos, "2..999 videos per class"),
            (
                1 <= self.k400_videos_per_class <= 999,
                "--k400-videos-per-class",
                self.k400_videos_per_class,
                "1..999 training videos per class",
            ),
            (1 <= self.quality <= 31, "quality", self.quality, "an MPEG-4 quantiser in 1..31"),
            (self.world in WORLDS, "--world", self.world, f"one of {', '.join(map(str, WORLDS))}"),
        ]
        for ok, option, value, expected in checks:
            if not ok:
                text = ",".join(map(str, value)) if isinstance(value, tuple) else value
                raise CstpError(f"{option} {text}: expected {expected}")


def _in_range(pair: tuple[int, int], low: int, high: int) -> bool:
    return len(pair) == 2 and low <= pair[0] <= pair[1] <= high


PRESETS = {
    "default": SynthSpec(),
    "tiny": SynthSpec(
        width=32,
        height=24,
        frames=(20, 40),
        ucf_classes=4,
        groups=3,
        clips_per_group=(1, 2),
        hmdb_classes=4,
        videos_per_class=4,
        k400_videos_per_class=2,
    ),
    "plain": SynthSpec(world=3),  # the default's datasets in world 3
    # World 4 with 48 HMDB-like videos per class: 103-106 test videos per split (the default's
    # 62-72), so that one test video is at most one point, as on the UCF-like set (117-123).
    "follow": SynthSpec(world=4, videos_per_class=48),
    "drift": SynthSpec(world=5, videos_per_class=48),  # world 5, the follow preset's sizes
}


@dataclasses.dataclass(frozen=True)
class VideoEntry:
    """One planned video: where it goes, what it shows, and its ground truth."""

    path: str  # relative to the dataset root
    label: int  # 1-based class id, as in classInd.txt
    action: ActionClass
    group: int  # UCF group, or HMDB source video (see SynthSpec.shared_scenes)
    clip: int
    n_frames: int
    params: VideoParams

    def fingerprint(self, spec: SynthSpec) -> str:
        """A hash of everything that decides the file's bytes: equal hashes, equal files."""
        params = dataclasses.asdict(self.params)
        if params.pop("world") != WORLD_VERSION:  # world 2's files keep their fingerprints
            params["world"] = self.params.world
        what = [spec.generator_version, spec.width, spec.height, spec.fps, spec.quality]
        what += [self.n_frames, params]
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:20]


def draw_length(rng: np.random.Generator, frames: tuple[int, int]) -> int:
    """Most videos hold LONG_VIDEO frames or more; SHORT_FRACTION are short (MIN to halfway)."""
    low, high = frames
    if low < LONG_VIDEO <= high:
        if rng.uniform() < SHORT_FRACTION:
            return int(rng.integers(low, (low + LONG_VIDEO) // 2 + 1))
        return int(rng.integers(LONG_VIDEO, high + 1))
    return int(rng.integers(low, high + 1))


def class_table(dataset: str, spec: SynthSpec) -> list[tuple[str, ActionClass]]:
    """(name as the dataset spells it, action) per class, in class-id order."""
    if dataset == "ucf101":
        return [(a.camel, a) for a in UCF_CLASSES[: spec.ucf_classes]]
    if dataset == "hmdb51":
        return [(a.snake, a) for a in HMDB_CLASSES[: spec.hmdb_classes]]
    if dataset == "kinetics400":  # lower case with spaces, as Kinetics names its classes
        return [(f"{a.shape} {a.motion}", a) for a in UCF_CLASSES + HMDB_CLASSES]
    raise CstpError(f"--datasets {dataset}: expected one of {', '.join(DATASETS)}")


def _rng(spec, dataset: str, role: str, label=0, group=0, clip=0) -> np.random.Generator:
    # Keys of one length: numpy's SeedSequence treats [..., k] and [..., k, 0] as the same seed.
    keys = [spec.seed, DATASET_KEYS[dataset], RNG_ROLES[role], label, group, clip]
    return np.random.default_rng(keys)


def _clip(spec, dataset, label, action, group, clip, path_of) -> VideoEntry:
    scene_rng = _rng(spec, dataset, "scene", label, group, 0 if spec.shared_scenes else clip)
    rng = _rng(spec, dataset, "clip", label, group, clip)
    n_frames = draw_length(rng, spec.frames)
    params = sample_video_params(action, spec.width / spec.height, scene_rng, rng, spec.world)
    return VideoEntry(path_of(params), label, action, group, clip, n_frames, params)


def plan_videos(spec: SynthSpec, dataset: str) -> list[VideoEntry]:
    """Every video of `dataset`, each drawn from generators keyed by (seed, dataset, class, ...)."""
    entries = []
    clips_of = {"ucf101": _ucf_clips, "hmdb51": _hmdb_clips, "kinetics400": _k400_clips}[dataset]
    for label, (name, action) in enumerate(class_table(dataset, spec), start=1):
        for group, clip, path_of in clips_of(spec, label, name):
            entries.append(_clip(spec, dataset, label, action, group, clip, path_of))
    return entries


def _ucf_clips(spec: SynthSpec, label: int, name: str):
    """(group, clip, path maker) of one class: groups gXX of 1-based clips cYY."""
    low, high = spec.clips_per_group
    for g in range(1, spec.groups + 1):
        n_clips = int(_rng(spec, "ucf101", "clip_count", label, g).integers(low, high + 1))
        for c in range(1, n_clips + 1):
            path = f"UCF-101/{name}/v_{name}_g{g:02d}_c{c:02d}.avi"
            yield g, c, lambda _params, path=path: path


def _hmdb_clips(spec: SynthSpec, label: int, name: str):
    """(source, clip, path maker) of one class: clips named after their source film, from 0."""
    sizes = _source_sizes(_rng(spec, "hmdb51", "sources", label), spec.videos_per_class)
    for s, size in enumerate(sizes, start=1):
        word = int(_rng(spec, "hmdb51", "sources", label, s).integers(len(SCENE_NAMES)))
        for k in range(size):
            stem = f"videos/{name}/{SCENE_NAMES[word]}{s:02d}_{name}"
            yield s, k + 1, functools.partial(_hmdb_path, stem, k)


def _k400_clips(spec: SynthSpec, label: int, name: str):
    """(clip, 1, path maker) of one class: training clips, then validation ones, each named by a
    YouTube-like id and a 10-second window, in the crawler's split/class folders."""
    train = spec.k400_videos_per_class
    for i in range(1, train + max(1, round(K400_VALIDATE * train)) + 1):
        digest = hashlib.sha256(f"{spec.seed} {label} {i}".encode()).hexdigest()
        start = int(digest[11:15], 16) % 300
        split = "train" if i <= train else "validate"
        path = f"videos/{split}/{name}/{digest[:11]}_{start:06d}_{start + 10:06d}.mp4"
        yield i, 1, lambda _params, path=path: path


def _k400_annotations(entries: Sequence[VideoEntry]) -> dict[str, str]:
    """annotations/train.csv and validate.csv, one row per clip, as Kinetics-400 publishes them."""
    rows: dict[str, list[str]] = {"train": [], "validate": []}
    for e in entries:
        _, split, name, file = e.path.split("/")
        youtube_id, start, end = Path(file).stem.rsplit("_", 2)
        rows[split].append(f"{name},{youtube_id},{int(start)},{int(end)},{split}\n")
    return {f"annotations/{split}.csv": K400_HEADER + "".join(r) for split, r in rows.items()}


def _hmdb_path(stem: str, k: int, params: VideoParams) -> str:
    return f"{stem}_{_hmdb_attrs(params)}_{k}.avi"


def _source_sizes(rng: np.random.Generator, n: int) -> list[int]:
    """HMDB's clips come 1-3 per source film; at least two sources, so train and test get one."""
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(min(int(rng.integers(1, 4)), n - sum(sizes)))
    if len(sizes) == 1:
        sizes = [1, n - 1]
    return sizes


def _hmdb_attrs(p: VideoParams) -> str:
    """HMDB's name tags: visible body part, camera motion, number of movers, viewpoint, quality."""
    camera = "cm" if abs(p.camera.pan_speed) > 0.03 else "nm"
    view = "ri" if p.motion.direction > 0 else "le"
    return f"f_{camera}_np{1 + len(p.distractors)}_{view}_goo"


def ucf_test_groups(groups: int, split: int) -> set[int]:
    """Groups held out by `split` (1-3): UCF-101's blocks of 7 of 25 groups, scaled to `groups`."""
    block = max(1, round(7 * groups / 25))
    return {((split - 1) * block + j) % groups + 1 for j in range(block)}


def hmdb_marks(spec: SynthSpec, entries: Sequence[VideoEntry], split: int) -> dict[str, int]:
    """Mark per video path for one split: 1 train, 2 test, 0 unused; whole sources at a time."""
    marks = {}
    by_label: dict[int, list[VideoEntry]] = {}
    for e in entries:
        by_label.setdefault(e.label, []).append(e)
    for label, videos in by_label.items():
        sources = sorted({e.group for e in videos})
        order = _rng(spec, "hmdb51", "split", label, split).permutation(sources).tolist()
        unused = len(order) // 10
        test = max(1, round(0.3 * (len(order) - unused)))
        mark = {s: 0 if i < unused else 2 if i < unused + test else 1 for i, s in enumerate(order)}
        marks.update({e.path: mark[e.group] for e in videos})
    return marks


def split_files(spec: SynthSpec, dataset: str, entries: Sequence[VideoEntry]) -> dict[str, str]:
    """The official split files' names (relative to the dataset root) and their exact text."""
    if dataset == "kinetics400":
        return _k400_annotations(entries)
    names = [name for name, _ in class_table(dataset, spec)]
    files = {}
    if dataset == "ucf101":  # the official lists have CRLF line endings
        files["ucfTrainTestlist/classInd.txt"] = "".join(
            f"{i} {n}\r\n" for i, n in enumerate(names, 1)
        )
        videos = [(e.path.removeprefix("UCF-101/"), e) for e in entries]
        for k in (1, 2, 3):
            test = ucf_test_groups(spec.groups, k)
            train_lines = [f"{v} {e.label}\r\n" for v, e in videos if e.group not in test]
            files[f"ucfTrainTestlist/trainlist0{k}.txt"] = "".join(train_lines)
            files[f"ucfTrainTestlist/testlist0{k}.txt"] = "".join(
                f"{v}\r\n" for v, e in videos if e.group in test
            )
        return files
    for k in (1, 2, 3):
        marks = hmdb_marks(spec, entries, k)
        for label, name in enumerate(names, 1):
            videos = sorted((Path(e.path).name, marks[e.path]) for e in entries if e.label == label)
            # The official lines end in a space and LF.
            text = "".join(f"{v} {mark} \n" for v, mark in videos)
            files[f"testTrainMulti_7030_splits/{name}_test_split{k}.txt"] = text
    return files
