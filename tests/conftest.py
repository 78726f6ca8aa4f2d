"""Shared fixtures: tiny real-format videos, the damage real dataset files show (AVI headers that
over-count, non-UTF-8 metadata, truncation, zero bytes, text named .avi), and small copies of
UCF-101, HMDB-51 and Kinetics-400 laid out as published, quirks included."""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from cstp.data.encode import write_video


def moving_frames(num_frames: int, height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    """Smooth drifting gradients, (T, H, W, 3) uint8: every frame differs from the others, and the
    motion is predictable enough that encoders use P- and B-frames between keyframes."""
    y, x = np.mgrid[0:height, 0:width]
    t = np.arange(num_frames)[:, None, None]
    red = x * 7 + t * 3 + seed * 40
    green = y * 9 + t * 5
    blue = (x + y) * 4 + t * 11 + seed * 20
    return (np.stack([red, green, blue], axis=-1) % 256).astype(np.uint8)


def make_video(
    path: Path, num_frames: int = 20, height: int = 24, width: int = 32, seed: int = 0, **encode
) -> Path:
    """A real video file; `encode` goes to write_video (fps, gop, bframes, audio, metadata, ...)."""
    return write_video(path, moving_frames(num_frames, height, width, seed), **encode)


def overcount_avi_header(path: Path, extra: int = 1) -> Path:
    """Make an AVI's headers claim `extra` more frames than it holds, as many HMDB-51 files do:
    the main header's total frames and the video stream header's length."""
    data = bytearray(path.read_bytes())
    main = data.index(b"avih") + 8
    struct.pack_into("<I", data, main + 16, struct.unpack_from("<I", data, main + 16)[0] + extra)
    stream = data.index(b"vids", data.index(b"strh"))  # first field of the video stream header
    struct.pack_into(
        "<I", data, stream + 32, struct.unpack_from("<I", data, stream + 32)[0] + extra
    )
    path.write_bytes(data)
    return path


def spoil_metadata(path: Path, marker: str) -> Path:
    """Overwrite metadata text `marker` (written with write_video(metadata=...)) with bytes that
    are not UTF-8, as in some HMDB-51 files."""
    data = path.read_bytes()
    spoilt = b"\xe9\xff" * (len(marker) // 2) + b"\xe9" * (len(marker) % 2)
    assert marker.encode() in data
    path.write_bytes(data.replace(marker.encode(), spoilt, 1))
    return path


def truncate(path: Path, keep: float = 0.6) -> Path:
    """Cut a file short, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def drop_avi_index(path: Path) -> Path:
    """Cut an AVI's trailing idx1 chunk off and keep its RIFF size, as some real UCF-101 copies
    are: the container claims more bytes than the file holds, yet every frame decodes."""
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"idx1")])
    return path


def damage_middle(path: Path, count: int = 3000, seed: int = 1) -> Path:
    """Overwrite `count` bytes a third of the way into a file with random ones (bit rot, a bad
    copy): the size and headers stay right, and FFmpeg conceals the damage while decoding."""
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start : start + count] = np.random.default_rng(seed).bytes(count)[: len(data) - start]
    path.write_bytes(bytes(data))
    return path


def write_audio_only(path: Path, seconds: float = 0.5) -> Path:
    """A valid media file with no video stream."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = int(16000 * seconds)
        for start in range(0, samples, 1024):
            chunk = np.zeros((1, min(1024, samples - start)), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_lines(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + newline for line in lines).encode())
    return path


@dataclass
class DatasetCopy:
    """A dataset copy on disk: `root` holds the videos, `splits` the official split files (a
    folder, or Kinetics' annotation folder). `files` names the interesting videos by role."""

    dataset: str
    root: Path
    splits: Path
    files: dict[str, Path] = field(default_factory=dict)


def build_ucf101(base: Path) -> DatasetCopy:
    """Split 1 of a three-class UCF-101 with CRLF split files; the lists write HandStandPushups,
    classInd.txt and the folder HandstandPushups. Train: ok with an audio track, missing,
    ok at another frame size, zero bytes. Test: ok with a header that over-counts by one,
    truncated, a text file named .avi, missing."""
    root, splits = base / "UCF-101", base / "ucfTrainTestlist"
    write_lines(
        splits / "classInd.txt", ["1 ApplyEyeMakeup", "2 HandstandPushups", "3 YoYo"], "\r\n"
    )
    write_lines(
        splits / "trainlist01.txt",
        [
            "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1",
            "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c02.avi 1",
            "HandStandPushups/v_HandStandPushups_g08_c01.avi 2",
            "YoYo/v_YoYo_g08_c01.avi 3",
        ],
        "\r\n",
    )
    write_lines(
        splits / "testlist01.txt",
        [
            "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
            "HandStandPushups/v_HandStandPushups_g01_c01.avi",
            "YoYo/v_YoYo_g01_c01.avi",
            "YoYo/v_YoYo_g01_c02.avi",
        ],
        "\r\n",
    )
    files = {
        "audio": make_video(root / "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 30, audio=True),
        "resized": make_video(
            root / "HandstandPushups/v_HandStandPushups_g08_c01.avi", 25, 48, 64, seed=1
        ),
        "empty": root / "YoYo/v_YoYo_g08_c01.avi",
        "overcount": overcount_avi_header(
            make_video(root / "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", 20, seed=2)
        ),
        "truncated": truncate(
            make_video(root / "HandstandPushups/v_HandStandPushups_g01_c01.avi", 40, seed=3)
        ),
        "text": root / "YoYo/v_YoYo_g01_c01.avi",
    }
    files["empty"].parent.mkdir(parents=True)
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a video\n")
    return DatasetCopy("ucf101", root, splits, files)


def build_hmdb51(base: Path) -> DatasetCopy:
    """Split 1 of a three-class HMDB-51 (marks 1 train, 2 test, 0 unused; trailing blanks), with
    non-UTF-8 metadata, an over-counting header, and one class (cartwheel) absent from disk."""
    root, splits = base / "hmdb51", base / "testTrainMulti_7030_splits"
    lists = {
        "brush_hair": ["Brushing_my_hair_a.avi 1 ", "Brushing_my_hair_b.avi 2 ", "hair_c.avi 0 "],
        "cartwheel": ["Cartwheel_d.avi 1 ", "Cartwheel_e.avi 2 "],
        "pour": ["Pouring_f.avi 1 ", "Pouring_g.avi 2 "],
    }
    for name, lines in lists.items():
        write_lines(splits / f"{name}_test_split1.txt", lines)
    files = {
        "non_utf8": spoil_metadata(
            make_video(root / "brush_hair/Brushing_my_hair_a.avi", 20, metadata={"title": "XXXX"}),
            "XXXX",
        ),
        "overcount": overcount_avi_header(
            make_video(root / "brush_hair/Brushing_my_hair_b.avi", 24, seed=1)
        ),
        "unused": make_video(root / "brush_hair/hair_c.avi", 12, seed=2),
        "train": make_video(root / "pour/Pouring_f.avi", 16, 30, 40, seed=3),
        "test": make_video(root / "pour/Pouring_g.avi", 18, seed=4),
    }
    return DatasetCopy("hmdb51", root, splits, files)


def build_kinetics400(base: Path) -> DatasetCopy:
    """Kinetics-400 annotations as train/validate/test csv (test without labels), videos named
    `<id>_<start:06d>_<end:06d>.mp4` in split/label folders, `<id>.mp4` and `<id>_<start>_<end>`
    in other folders; one validation video is missing. Ids contain '-' and '_' as real ones do."""
    root, annotations = base / "kinetics400", base / "annotations"
    header = "label,youtube_id,time_start,time_end,split"
    write_lines(
        annotations / "train.csv",
        [header, "abseiling,--a_b3C4d5E,10,20,train", '"air drumming",Bb-_8aXyz01,0,10,train'],
    )
    write_lines(
        annotations / "validate.csv",
        [header, "abseiling,Cc9_zz-1234,15,25,validate", "air drumming,Dd0000000_0,3,13,validate"],
    )
    write_lines(annotations / "test.csv", ["youtube_id,time_start,time_end,split", "Ee1,5,15,test"])
    h264 = {"fps": 30, "gop": 250, "bframes": 2}
    files = {
        "canonical": make_video(root / "train/abseiling/--a_b3C4d5E_000010_000020.mp4", 40, **h264),
        "id_only": make_video(root / "train_256/air_drumming/Bb-_8aXyz01.mp4", 20, seed=1),
        "prefix": make_video(root / "val/Cc9_zz-1234_15_25.mp4", 24, 36, 64, seed=2),
        "test": make_video(root / "test/Ee1_000005_000015.mp4", 10, seed=3),
    }
    return DatasetCopy("kinetics400", root, annotations, files)


@pytest.fixture(scope="session")
def ucf101_copy(tmp_path_factory) -> DatasetCopy:
    return build_ucf101(tmp_path_factory.mktemp("ucf101"))


@pytest.fixture(scope="session")
def hmdb51_copy(tmp_path_factory) -> DatasetCopy:
    return build_hmdb51(tmp_path_factory.mktemp("hmdb51"))


@pytest.fixture(scope="session")
def kinetics400_copy(tmp_path_factory) -> DatasetCopy:
    return build_kinetics400(tmp_path_factory.mktemp("kinetics400"))


@pytest.fixture(scope="session")
def media() -> SimpleNamespace:
    """The helpers above, for tests that build their own files."""
    return SimpleNamespace(
        moving_frames=moving_frames,
        make_video=make_video,
        overcount_avi_header=overcount_avi_header,
        spoil_metadata=spoil_metadata,
        truncate=truncate,
        drop_avi_index=drop_avi_index,
        damage_middle=damage_middle,
        write_audio_only=write_audio_only,
        write_lines=write_lines,
    )


@pytest.fixture(scope="session")
def synth_index(tmp_path_factory) -> Path:
    """The tiny synthetic UCF-101-like dataset, generated and scanned with --probe: index csv."""
    from cstp.data.generate import generate
    from cstp.data.scan import scan, write_index
    from cstp.data.synth import PRESETS

    out = tmp_path_factory.mktemp("synth")
    generate(out, PRESETS["tiny"], ["ucf101"], workers=1, progress=False)
    root = out / "ucf101"
    index = scan("ucf101", root / "UCF-101", root / "ucfTrainTestlist", 1, probe_videos=True)
    return write_index(index, root / "index.csv")


REPO = Path(__file__).resolve().parents[1]


def workflow_copy(work: Path, extra: tuple[str, ...] = ()) -> Path:
    """A scratch copy of the workflow in `work`: the workflow files linked, the library copied (the
    code the stamps fingerprint, so tests can edit it)."""
    work.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "profiles", "config.yaml", "environment.yml", *extra):
        (work / name).symlink_to(REPO / name)
    shutil.copytree(REPO / "cstp", work / "cstp", ignore=shutil.ignore_patterns("__pycache__"))
    return work


# The environment of a subprocess that runs this interpreter's tools (snakemake, cstp, torchrun).
TOOL_ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def wait_for(condition, seconds: float, what: str, seen=None):
    """Poll `condition` until it returns something true (returned), or fail after `seconds` with
    what was there to see: `seen()`, else the condition's last answer. Give it a deadline for a
    machine ten times slower than this one; it is no measure of speed."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            saw = seen() if seen else repr(found)
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}; saw:\n{saw}")
        time.sleep(0.2)


def run_within(command: list[str], seconds: float, **options) -> subprocess.CompletedProcess:
    """subprocess.run(command, capture_output=True, text=True, **options), killed after `seconds`
    (give it ten times what it takes here) and then failing with its output so far."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=seconds, **options)
    except subprocess.TimeoutExpired as late:
        raise AssertionError(
            f"{shlex.join(map(str, command))} still running after {seconds:.0f} s; "
            f"its output so far:\n{_text(late.stdout)[-3000:]}\n{_text(late.stderr)[-3000:]}"
        ) from None


def _text(output: bytes | str | None) -> str:
    """A timed-out process's output comes as bytes, even where text was asked for."""
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def run_snakemake(
    *args: str, cwd: Path, check: bool = True, timeout: float = 1800
) -> subprocess.CompletedProcess:
    """`python -m snakemake ARGS` in `cwd`, with this interpreter's folder first on PATH; killed
    after `timeout` seconds (ten times the longest run here, a table through Slurm)."""
    command = [sys.executable, "-m", "snakemake", *args]
    result = run_within(command, timeout, cwd=cwd, env=TOOL_ENV)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """Table 5 (4 cells) really run locally on the smoke preset, in a scratch copy of the
    workflow (the Slurm test compares its cluster run with this one)."""
    work = workflow_copy(tmp_path_factory.mktemp("workflow"))
    run_snakemake("--cores", "2", "results/table5.csv", "--config", "preset=smoke", cwd=work)
    return work


# pytest-xdist (`-n auto --dist loadgroup`): the Slurm tests (their own cluster and runs) go to one
# worker as one unit, the tests that share the session's smoke run to one worker as another, and
# both units are handed out first, so that everything else fills the other worker around them.
# The units come from our own scheduler, not from xdist_group marks: with pytest 9.2, xdist 3.8's
# loadgroup no longer sees the marks (it rewrites a node id field pytest stopped reading;
# pytest-dev/pytest-xdist#1386).
GROUPS = ("slurm", "smoke")


def _smoke_tests() -> frozenset[str]:
    """'tests/<file>::<function>' of every test that takes the session's smoke run."""
    found = set()
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            test = isinstance(node, ast.FunctionDef) and node.name.startswith("test")
            if test and "smoke_run" in {arg.arg for arg in node.args.args}:
                found.add(f"{path.parent.name}/{path.name}::{node.name}")
    return frozenset(found)


SMOKE_TESTS = _smoke_tests()


def unit_of(nodeid: str) -> str | None:
    """The unit a test runs in (None: on its own)."""
    path, _, name = nodeid.partition("::")
    if Path(path).name == "test_slurm.py":
        return "slurm"
    return "smoke" if f"{path}::{name.split('[')[0]}" in SMOKE_TESTS else None


def pytest_collection_modifyitems(config, items):
    """Groups first, in the order of GROUPS, so the scheduler hands them out first."""
    if config.pluginmanager.hasplugin("xdist"):
        rank = {group: i for i, group in enumerate(GROUPS)}
        items.sort(key=lambda item: rank.get(unit_of(item.nodeid), len(GROUPS)))


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Groups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid) or nodeid

    return Groups(config, log)
