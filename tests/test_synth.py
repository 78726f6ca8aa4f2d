"""Synthetic datasets: published layouts and split files, determinism, resuming, and bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import av
import numpy as np
import pytest

from cstp.cli import main
from cstp.data.generate import generate
from cstp.data.synth import (
    PRESETS,
    SynthSpec,
    hmdb_marks,
    plan_videos,
    split_files,
    ucf_test_groups,
)
from cstp.data.world import DISTRACTOR_COLOR
from cstp.errors import CstpError

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, TINY, workers=1, progress=False)
    return out


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_ucf_layout_and_split_files(tiny):
    root = tiny / "ucf101"
    lists = root / "ucfTrainTestlist"
    class_ind = (lists / "classInd.txt").read_bytes().decode()
    assert re.fullmatch(r"(\d+ [A-Z][A-Za-z]+\r\n)+", class_ind)
    ids = {name: int(i) for i, name in (line.split() for line in class_ind.splitlines())}
    assert sorted(ids.values()) == list(range(1, TINY.ucf_classes + 1))
    videos = {p.relative_to(root / "UCF-101").as_posix() for p in root.glob("UCF-101/*/*.avi")}
    for k in (1, 2, 3):
        train = (lists / f"trainlist0{k}.txt").read_bytes().decode()
        test = (lists / f"testlist0{k}.txt").read_bytes().decode()
        train_lines = re.findall(r"(([A-Za-z]+)/v_\2_g(\d\d)_c(\d\d)\.avi) (\d+)\r\n", train)
        test_lines = re.findall(r"(([A-Za-z]+)/v_\2_g(\d\d)_c(\d\d)\.avi)\r\n", test)
        assert sum(len(m[0]) + len(m[4]) + 3 for m in train_lines) == len(train)
        assert sum(len(m[0]) + 2 for m in test_lines) == len(test)
        assert all(ids[m[1]] == int(m[4]) for m in train_lines)
        # Every video in exactly one list, and no group on both sides.
        assert sorted([m[0] for m in train_lines] + [m[0] for m in test_lines]) == sorted(videos)
        train_groups = {(m[1], m[2]) for m in train_lines}
        test_groups = {(m[1], m[2]) for m in test_lines}
        assert not train_groups & test_groups
        assert {m[1] for m in train_lines} == {m[1] for m in test_lines} == set(ids)


@pytest.mark.parametrize("groups", [2, 3, 10, 25, 99])
def test_ucf_splits_hold_out_groups_like_ucf101(groups):
    held = [ucf_test_groups(groups, k) for k in (1, 2, 3)]
    for test in held:
        assert test and len(test) < groups
    if groups == 25:
        assert held == [set(range(1, 8)), set(range(8, 15)), set(range(15, 22))]
    if groups >= 4:
        assert not (held[0] & held[1]) and not (held[1] & held[2])


def test_hmdb_layout_and_split_files(tiny):
    root = tiny / "hmdb51"
    classes = sorted(p.name for p in (root / "videos").iterdir())
    assert len(classes) == TINY.hmdb_classes
    assert all(re.fullmatch(r"[a-z]+_[a-z]+", c) for c in classes)
    for name in classes:
        videos = sorted(p.name for p in (root / "videos" / name).glob("*.avi"))
        assert len(videos) == TINY.videos_per_class
        pattern = rf"([A-Z][a-z]+\d\d)_{name}_f_[cn]m_np\d_(le|ri)_goo_\d+\.avi"
        assert all(re.fullmatch(pattern, v) for v in videos)
        for k in (1, 2, 3):
            text = (root / "testTrainMulti_7030_splits" / f"{name}_test_split{k}.txt").read_bytes()
            lines = text.decode().split("\n")
            assert lines[-1] == "" and "\r" not in text.decode()
            marks = dict(re.fullmatch(r"(\S+\.avi) ([012]) ", line).groups() for line in lines[:-1])
            assert sorted(marks) == videos
            assert {"1", "2"} <= set(marks.values())
            # Clips of one source film never straddle train and test.
            source_marks = {}
            for video, mark in marks.items():
                source_marks.setdefault(video.split("_")[0], set()).add(mark)
            assert all(len(m) == 1 for m in source_marks.values())


def test_hmdb_marks_are_about_70_30_with_a_few_unused():
    spec = PRESETS["default"]
    entries = plan_videos(spec, "hmdb51")
    for k in (1, 2, 3):
        marks = list(hmdb_marks(spec, entries, k).values())
        train, test, unused = (marks.count(m) for m in (1, 2, 0))
        assert 0.2 < test / (train + test) < 0.4
        assert 0 < unused < 0.2 * len(marks)
    assert hmdb_marks(spec, entries, 1) != hmdb_marks(spec, entries, 2)


def test_videos_decode_with_the_planned_size_and_length(tiny):
    entries = {e.path: e for e in plan_videos(TINY, "ucf101")}
    for path, entry in list(entries.items())[:4]:
        with av.open(str(tiny / "ucf101" / path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == entry.n_frames
        assert frames[0].shape == (TINY.height, TINY.width, 3)


def test_manifest_records_spec_version_and_ground_truth(tiny):
    manifest = json.loads((tiny / "ucf101" / "synth.json").read_text())
    assert manifest["spec"] == json.loads(json.dumps(dataclasses.asdict(TINY)))
    assert manifest["generator"]["version"]
    planned = plan_videos(TINY, "ucf101")
    assert [v["path"] for v in manifest["videos"]] == [e.path for e in planned]
    video = manifest["videos"][0]
    assert video["class"] == planned[0].action.camel
    assert video["params"]["motion"]["kind"] == planned[0].action.motion
    assert video["bytes"] == (tiny / "ucf101" / video["path"]).stat().st_size


def test_plans_are_seeded():
    a, b = plan_videos(TINY, "hmdb51"), plan_videos(TINY, "hmdb51")
    c = plan_videos(dataclasses.replace(TINY, seed=1), "hmdb51")
    assert a == b and a != c


def test_world_2_videos_keep_their_fingerprints_and_world_3_changes_them():
    """Fingerprints of main e5a6383, before worlds were a spec field: old datasets stay valid."""
    old = {"ucf101": ("2b75eac8a8bdeae8bd8d", "eed8b4ca9a3f53da497a")}
    old["hmdb51"] = ("31022babf30a7349ccb5", "2de37a5e0e90d8e7ad5c")
    plain = dataclasses.replace(TINY, world=3)
    for dataset, (first, last) in old.items():
        entries = plan_videos(TINY, dataset)
        assert (entries[0].fingerprint(TINY), entries[-1].fingerprint(TINY)) == (first, last)
        assert plan_videos(plain, dataset)[0].fingerprint(plain) != first
    assert plan_videos(PRESETS["default"], "ucf101")[5].fingerprint(PRESETS["default"]) == (
        "b0261dc32b28fa0474a6"
    )
    # World 3 draws the same numbers: the same motions and looks, the ground line moved.
    a, b = plan_videos(TINY, "ucf101")[3].params, plan_videos(plain, "ucf101")[3].params
    assert (a.motion, a.color, a.camera) == (b.motion, b.color, b.camera)
    assert (a.world, b.world, b.scene.ground_line) == (2, 3, 0.62)
    assert PRESETS["plain"] == dataclasses.replace(PRESETS["default"], world=3)


def test_world_4_draws_world_3s_numbers_and_its_preset_has_100_hmdb_test_videos():
    follow = dataclasses.replace(TINY, world=4)
    a, b = plan_videos(TINY, "ucf101")[3].params, plan_videos(follow, "ucf101")[3].params
    assert (a.motion, a.color, a.camera) == (b.motion, b.color, b.camera)
    assert (b.world, b.scene.ground_line) == (4, 0.62)
    assert {d.color for d in b.distractors} == {DISTRACTOR_COLOR}
    assert plan_videos(follow, "ucf101")[0].fingerprint(follow) != (
        plan_videos(TINY, "ucf101")[0].fingerprint(TINY)
    )
    spec = PRESETS["follow"]
    assert spec == dataclasses.replace(PRESETS["default"], world=4, videos_per_class=48)
    assert PRESETS["drift"] == dataclasses.replace(spec, world=5)
    entries = plan_videos(spec, "hmdb51")
    for k in (1, 2, 3):  # one test video is at most one point
        assert list(hmdb_marks(spec, entries, k).values()).count(2) >= 100


def test_lengths_mostly_allow_rate_8_and_some_are_short():
    lengths = np.array([e.n_frames for e in plan_videos(PRESETS["default"], "ucf101")])
    short = (lengths < 128).mean()
    assert 0.08 < short < 0.25 and lengths.min() >= 40 and lengths.max() <= 200


def test_parallel_generation_gives_identical_files(tiny, tmp_path):
    generate(tmp_path, TINY, datasets=["ucf101"], workers=2, progress=False)
    assert digests(tmp_path / "ucf101") == digests(tiny / "ucf101")


def test_rerun_regenerates_only_what_is_missing(tmp_path):
    first = generate(tmp_path, TINY, datasets=["hmdb51"], workers=1, progress=False)["hmdb51"]
    before = digests(tmp_path / "hmdb51")
    victim = next((tmp_path / "hmdb51" / "videos").rglob("*.avi"))
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "hmdb51").rglob("*.avi") if p != victim}
    victim.unlink()
    broken = next(p for p in stamps if p.parent != victim.parent)
    broken.write_bytes(b"RIFF but not a video")  # replaced by something else
    del stamps[broken]
    (tmp_path / "hmdb51" / "testTrainMulti_7030_splits" / "ball_spin_test_split1.txt").unlink()
    again = generate(tmp_path, TINY, datasets=["hmdb51"], workers=1, progress=False)["hmdb51"]
    assert first["generated"] == first["videos"] and again["generated"] == 2
    assert digests(tmp_path / "hmdb51") == before
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in stamps.items())


def test_rerun_with_another_spec_replaces_stale_videos(tmp_path):
    generate(tmp_path, TINY, datasets=["ucf101"], workers=1, progress=False)
    smaller = dataclasses.replace(TINY, groups=2, seed=5)
    summary = generate(tmp_path, smaller, datasets=["ucf101"], workers=1, progress=False)
    root = tmp_path / "ucf101"
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.glob("UCF-101/*/*.avi"))
    assert on_disk == sorted(e.path for e in plan_videos(smaller, "ucf101"))
    assert summary["ucf101"]["removed"] > 0 and summary["ucf101"]["generated"] == len(on_disk)
    assert (
        split_files(smaller, "ucf101", plan_videos(smaller, "ucf101"))[
            "ucfTrainTestlist/trainlist01.txt"
        ]
        == (root / "ucfTrainTestlist" / "trainlist01.txt").read_bytes().decode()
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--size", "64x"], "--size 64x: expected WxH"),
        (["--size", "63x48"], "--size 63x48: expected"),
        (["--size", "48x64"], "--size 48x64: expected width / height"),
        (["--classes", "20"], "--classes 20: expected one of 4, 8, 10"),
        (["--classes", "ten"], "--classes ten: expected an integer"),
        (["--frames", "50,40"], "--frames 50,40: expected MIN,MAX"),
        (["--clips-per-group", "3"], "--clips-per-group 3: expected MIN,MAX"),
        (["--groups", "1"], "--groups 1: expected 2..99"),
        (["--datasets", "ucf101,kinetics"], "--datasets ucf101,kinetics: expected"),
        (["--preset", "huge"], "--preset huge: expected one of default, tiny"),
        (["--workers", "0"], "--workers 0: expected"),
        (["--world", "6"], "--world 6: expected one of 2, 3, 4, 5"),
    ],
)
def test_bad_options_name_the_option_value_and_expectation(args, expected, tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--preset", "tiny", *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_out_must_be_a_directory(tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(CstpError, match="--out"):
        generate(target, TINY, workers=1, progress=False)


def test_command_line_writes_and_reports(tmp_path, capsys):
    args = ["--preset", "tiny", "--datasets", "ucf101", "--classes", "4", "--size", "40x30"]
    args += ["--frames", "16,20", "--groups", "2", "--clips-per-group", "1,1", "--workers", "1"]
    assert main(["synth", "--out", str(tmp_path), *args, "--no-progress"]) == 0
    report = capsys.readouterr().out
    assert re.match(r"ucf101: 8 videos \(8 written, 0 already there\), [\d.]+ MB, ", report)
    spec = json.loads((tmp_path / "ucf101" / "synth.json").read_text())["spec"]
    assert (spec["width"], spec["height"], spec["frames"], spec["groups"]) == (40, 30, [16, 20], 2)


def test_spec_validation_is_in_the_library():
    with pytest.raises(CstpError, match="--fps 0"):
        SynthSpec(fps=0)
