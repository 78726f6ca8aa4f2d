"""`cstp data scan` finds listed videos in quirky copies of the three datasets, records why a file
is unreadable, summarises per subset, and fails on bad input with one line and exit status 2."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import pytest
from conftest import build_ucf101

from cstp.cli import main
from cstp.data.scan import read_index, report, scan, summarize, write_index
from cstp.errors import CstpError

UCF_ROWS = [  # path under the root, label, class_name, subset, status, reason
    ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0, "ApplyEyeMakeup", "train", "ok", ""),
    ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c02.avi", 0, "ApplyEyeMakeup", "train", "missing", ""),
    ("HandstandPushups/v_HandStandPushups_g08_c01.avi", 1, "HandstandPushups", "train", "ok", ""),
    ("YoYo/v_YoYo_g08_c01.avi", 2, "YoYo", "train", "unreadable", "empty file (0 bytes)"),
    ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", 0, "ApplyEyeMakeup", "test", "ok", ""),
    (
        "HandstandPushups/v_HandStandPushups_g01_c01.avi",
        1,
        "HandstandPushups",
        "test",
        "unreadable",
        "truncated: container declares {declared} bytes, file has {size}; 10 of 40 frames decode",
    ),
    ("YoYo/v_YoYo_g01_c01.avi", 2, "YoYo", "test", "unreadable", "not a video (invalid data)"),
    ("YoYo/v_YoYo_g01_c02.avi", 2, "YoYo", "test", "missing", ""),
]


def _rows(index, root):
    columns = ["path", "label", "class_name", "subset", "status", "reason"]
    return [
        (os.path.relpath(row[0], root).replace(os.sep, "/"), *row[1:])
        for row in index[columns].itertuples(index=False)
    ]


def test_ucf101_index_takes_every_quirk_in_stride(ucf101_copy):
    index = scan("ucf101", ucf101_copy.root, ucf101_copy.splits, 1)
    truncated = ucf101_copy.files["truncated"]
    size = truncated.stat().st_size
    declared = int.from_bytes(truncated.read_bytes()[4:8], "little") + 8
    expected = [(*row[:5], row[5].format(declared=declared, size=size)) for row in UCF_ROWS]
    assert _rows(index, ucf101_copy.root) == expected
    assert list(index["video"])[2] == "HandStandPushups/v_HandStandPushups_g08_c01.avi"
    assert all(os.path.isabs(path) for path in index["path"])


def test_ucf101_probe_records_true_and_header_frame_counts(ucf101_copy):
    index = scan("ucf101", ucf101_copy.root, ucf101_copy.splits, 1, probe_videos=True)
    ok = index[index["status"] == "ok"]
    columns = ["frames", "header_frames", "fps", "width", "height", "has_audio"]
    assert [tuple(row) for row in ok[columns].itertuples(index=False)] == [
        (30, 32, 25.0, 32, 24, True),  # audio track; its AVI header over-counts by two
        (25, 25, 25.0, 64, 48, False),  # another frame size in the same dataset
        (20, 21, 25.0, 32, 24, False),  # header over-counts by one
    ]
    assert index.loc[index["status"] != "ok", "frames"].isna().all()
    assert list(index["status"]) == [row[4] for row in UCF_ROWS]


def test_summary_counts_per_subset(ucf101_copy):
    summary = summarize(scan("ucf101", ucf101_copy.root, ucf101_copy.splits, 1))
    assert summary.to_dict("records") == [
        {
            "subset": "train",
            "listed": 4,
            "found": 3,
            "missing": 1,
            "unreadable": 1,
            "ok": 2,
            "classes": 2,
        },
        {
            "subset": "test",
            "listed": 4,
            "found": 3,
            "missing": 1,
            "unreadable": 2,
            "ok": 1,
            "classes": 1,
        },
        {
            "subset": "total",
            "listed": 8,
            "found": 6,
            "missing": 2,
            "unreadable": 3,
            "ok": 3,
            "classes": 2,
        },
    ]


def test_cli_writes_the_index_and_prints_the_summary(ucf101_copy, tmp_path, capsys):
    out = tmp_path / "index" / "ucf101.csv"
    args = ["data", "scan", "ucf101", "--root", str(ucf101_copy.root)]
    assert main([*args, "--splits", str(ucf101_copy.splits), "--out", str(out), "--probe"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == [
        "subset",
        "listed",
        "found",
        "missing",
        "unreadable",
        "ok",
        "classes",
    ]
    assert printed[1].split() == ["train", "4", "3", "1", "1", "2", "2"]
    assert printed[4] == "unreadable videos (3):"
    assert printed[5].endswith("v_YoYo_g08_c01.avi: empty file (0 bytes)")
    assert printed[-1] == f"index of 8 videos written to {out}"
    assert os.listdir(out.parent) == ["ucf101.csv"]  # the temporary file was renamed
    written = read_index(out)
    expected = scan("ucf101", ucf101_copy.root, ucf101_copy.splits, 1, probe_videos=True)
    pd.testing.assert_frame_equal(written, expected)


def test_report_names_unreadable_and_missing_videos_a_limited_number_each(ucf101_copy, tmp_path):
    index = scan("ucf101", ucf101_copy.root, ucf101_copy.splits, 1)
    out = tmp_path / "i.csv"
    text = report(index, out, shown=1).splitlines()
    start = text.index("unreadable videos (3):")
    assert text[start + 1] == f"  {ucf101_copy.files['empty']}: empty file (0 bytes)"
    assert text[start + 2 :] == [
        f"  ... and 2 more (in {out})",
        "missing videos (listed, no file found) (2):",
        "  ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c02.avi",
        f"  ... and 1 more (in {out})",
        f"index of 8 videos written to {out}",
    ]


def test_a_video_is_judged_by_what_decodes_not_by_its_size_fields(tmp_path, media, caplog):
    """An AVI without its trailing index is kept with a warning; one with random bytes in the
    middle (which FFmpeg conceals) is refused as damaged, with --probe and without."""
    copy = build_ucf101(tmp_path)
    no_index = media.drop_avi_index(copy.files["audio"])
    damaged = media.damage_middle(copy.files["resized"])
    for probe_videos in (False, True):
        index = scan("ucf101", copy.root, copy.splits, 1, probe_videos=probe_videos).set_index(
            "path"
        )
        kept = index.loc[str(no_index)]
        assert (kept["status"], kept["reason"]) == ("ok", "")
        size = no_index.stat().st_size
        assert kept["warning"].startswith("container declares ")
        assert kept["warning"].endswith(f"bytes, file has {size}; all 30 frames decode")
        if probe_videos:
            assert kept["frames"] == 30
            refused = index.loc[str(damaged)]
            assert refused["status"] == "unreadable"
            assert refused["reason"].startswith(
                "damaged: 17 of 25 frames decode, 0 flagged corrupt"
            )
        else:  # the cheap check opens files only: damage inside is found by --probe
            assert index.loc[str(damaged), "status"] == "ok"
    text = report(index.reset_index())
    assert f"kept with a warning (1):\n  {no_index}: container declares" in text


def test_scan_warns_about_a_class_no_split_list_names(tmp_path, caplog):
    copy = build_ucf101(tmp_path)
    classes = copy.splits / "classInd.txt"
    classes.write_text(classes.read_text() + "4 Zumba\r\n")
    caplog.set_level(logging.WARNING)
    scan("ucf101", copy.root, copy.splits, 1)
    assert f"1 class(es) of {copy.splits} are named by no video of the split lists: Zumba" in (
        caplog.messages
    )


def test_hmdb51_scan_reads_non_utf8_files_and_warns_about_absent_classes(hmdb51_copy, caplog):
    caplog.set_level(logging.WARNING)
    index = scan("hmdb51", hmdb51_copy.root, hmdb51_copy.splits, 1, probe_videos=True)
    assert list(zip(index["subset"], index["status"], index["frames"], strict=True)) == [
        ("train", "ok", 20),  # non-UTF-8 metadata
        ("test", "ok", 24),  # header claims 25
        ("unused", "ok", 12),
        ("train", "missing", pd.NA),
        ("test", "missing", pd.NA),
        ("train", "ok", 16),
        ("test", "ok", 18),
    ]
    assert list(index["label"]) == [0, 0, 0, 1, 1, 2, 2]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"1 of 3 classes in {hmdb51_copy.splits} have no video under")
    assert warning.endswith(": cartwheel")


def test_kinetics400_files_are_found_by_id_whatever_their_names(kinetics400_copy):
    index = scan("kinetics400", kinetics400_copy.root, kinetics400_copy.splits)
    files = kinetics400_copy.files
    found = [os.path.abspath(files[name]) for name in ("canonical", "id_only", "prefix")]
    assert list(index["path"])[:3] == found
    assert list(index["path"])[4] == os.path.abspath(files["test"])
    assert list(index["status"]) == ["ok", "ok", "ok", "missing", "ok"]
    assert list(index["subset"]) == ["train", "train", "test", "test", "unused"]
    assert list(index["label"]) == [0, 1, 0, 1, -1]


def test_nothing_found_is_a_warning_not_an_error(ucf101_copy, tmp_path, caplog, capsys):
    caplog.set_level(logging.WARNING)
    out = tmp_path / "i.csv"
    args = ["data", "scan", "ucf101", "--root", str(tmp_path), "--splits", str(ucf101_copy.splits)]
    assert main([*args, "--out", str(out)]) == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"no listed video was found under {tmp_path} (is --root the videos folder?)"
    ]
    assert (read_index(out)["status"] == "missing").all()


def _cli_error(capsys, args):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cstp data: error: ")
    return err.strip()


def test_cli_errors_are_one_line(ucf101_copy, kinetics400_copy, tmp_path, media, capsys):
    root, splits = str(ucf101_copy.root), str(ucf101_copy.splits)
    scan_args = ["data", "scan"]
    missing_root = _cli_error(
        capsys, [*scan_args, "ucf101", "--root", str(tmp_path / "no"), "--splits", splits]
    )
    assert missing_root.endswith("no: no such videos folder")
    assert "trainlist02.txt: no such split file" in _cli_error(
        capsys, [*scan_args, "ucf101", "--root", root, "--splits", splits, "--split", "2"]
    )
    assert "--split applies to ucf101 and hmdb51" in _cli_error(
        capsys,
        [
            *scan_args,
            "kinetics400",
            "--root",
            root,
            "--splits",
            str(kinetics400_copy.splits),
            "--split",
            "1",
        ],
    )
    media.write_lines(tmp_path / "classInd.txt", ["1 A"], "\r\n")
    media.write_lines(tmp_path / "trainlist01.txt", ["A/v_A_g01_c01.avi 1", "Z/v_Z_g01_c01.avi 1"])
    media.write_lines(tmp_path / "testlist01.txt", [])
    args = [*scan_args, "ucf101", "--root", root, "--splits", str(tmp_path)]
    assert _cli_error(capsys, args).endswith("trainlist01.txt:2: class 'Z' is not in classInd.txt")
    media.write_lines(tmp_path / "trainlist01.txt", ["A/v_A_g01_c01.avi 1"])
    assert _cli_error(capsys, args).endswith("testlist01.txt: empty split (no entries)")


def test_write_index_replaces_atomically_and_reports_failures(tmp_path):
    out = tmp_path / "i.csv"
    out.write_text("old")
    write_index(pd.DataFrame({"path": ["a"], "status": ["ok"]}), out)
    assert out.read_text() == "path,status\na,ok\n"
    assert os.listdir(tmp_path) == ["i.csv"]
    with pytest.raises(CstpError, match="cannot create the folder for the index"):
        write_index(pd.DataFrame({"path": ["a"]}), out / "below_a_file.csv")


def test_read_index_rejects_other_csv(tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CstpError, match=r"other.csv: not an index from `cstp data scan`"):
        read_index(tmp_path / "other.csv")
    with pytest.raises(CstpError, match=r"none.csv: no such index csv"):
        read_index(tmp_path / "none.csv")


def test_bench_decode_reads_the_ok_videos_of_an_index(ucf101_copy, tmp_path, capsys):
    out = tmp_path / "i.csv"
    write_index(scan("ucf101", ucf101_copy.root, ucf101_copy.splits, 1), out)
    args = ["--clips", "3", "--clip-frames", "4", "--min-seconds", "0", "--max-videos", "2"]
    assert main(["bench", "decode", "--index", str(out), *args]) == 0
    assert capsys.readouterr().out.startswith("decode: 2 video(s), 1 thread(s)")
    write_index(scan("ucf101", tmp_path, ucf101_copy.splits, 1), out)
    assert main(["bench", "decode", "--index", str(out)]) == 2
    assert capsys.readouterr().err.strip().endswith("i.csv: no video with status ok")


def test_an_unexpected_failure_marks_one_video_and_the_scan_goes_on(hmdb51_copy, monkeypatch):
    def fussy(path):
        if path.name == "hair_c.avi":
            raise RuntimeError("odd\nfile")

    monkeypatch.setattr("cstp.data.scan.check_video", fussy)
    index = scan("hmdb51", hmdb51_copy.root, hmdb51_copy.splits, 1)
    assert list(index["status"]) == ["ok", "ok", "unreadable", "missing", "missing", "ok", "ok"]
    assert index["reason"][2] == "unexpected RuntimeError: odd file"


def test_videos_too_short_for_a_job_are_named(ucf101_copy, tmp_path, caplog):
    from cstp.sampling.datasets import load_subset

    index = write_index(
        scan("ucf101", ucf101_copy.root, ucf101_copy.splits, 1, probe_videos=True),
        tmp_path / "index.csv",
    )
    caplog.set_level(logging.WARNING)
    rows = load_subset(index, "train", min_frames=26)
    assert list(rows["frames"]) == [30]
    assert caplog.messages == [
        f"{index}: 1 train videos are shorter than 26 frames and are left out: "
        "HandStandPushups/v_HandStandPushups_g08_c01.avi (25)"
    ]


def _crawler_annotations(folder, media):
    """Kinetics-400 annotations as the ActivityNet crawler writes them (split 'val', an is_cc
    column, a test csv without labels)."""
    header = "label,youtube_id,time_start,time_end,split,is_cc"
    media.write_lines(
        folder / "kinetics-400_train.csv",
        [header, "abseiling,aB-_1,10,20,train,0", '"air drumming",cD_2-x,0,10,train,0'],
    )
    media.write_lines(folder / "kinetics-400_val.csv", [header, "abseiling,eF3,15,25,val,0"])
    media.write_lines(
        folder / "kinetics-400_test.csv", ["youtube_id,time_start,time_end,split", "gH4,5,15,test"]
    )
    return folder


@pytest.mark.parametrize("layout", ["flat, bare ids", "class folders, id_start_end"])
def test_kinetics400_crawler_annotations_and_both_file_namings(tmp_path, media, layout):
    annotations = _crawler_annotations(tmp_path / "kinetics400" / "annotations", media)
    root = tmp_path / "kinetics400" / "videos"
    for n, (label, video, start, end) in enumerate(
        [
            ("abseiling", "aB-_1", 10, 20),
            ("air drumming", "cD_2-x", 0, 10),
            ("abseiling", "eF3", 15, 25),
            ("", "gH4", 5, 15),
        ]
    ):
        if layout.startswith("flat"):
            path = root / f"{video}.mp4"
        else:
            path = root / (label or "test") / f"{video}_{start:06d}_{end:06d}.mp4"
        media.make_video(path, 12, seed=n)
    out = tmp_path / "index.csv"
    args = ["data", "scan", "kinetics400", "--root", str(root), "--splits", str(annotations)]
    assert main([*args, "--out", str(out)]) == 0
    index = read_index(out)
    assert list(index["status"]) == ["ok"] * 4
    assert list(index["subset"]) == ["train", "train", "test", "unused"]
    assert list(index["class_name"]) == ["abseiling", "air drumming", "abseiling", ""]
    assert list(index["label"]) == [0, 1, 0, -1]
    assert [Path(path).stem.split("_0")[0] for path in index["path"]] == [
        "aB-_1",
        "cD_2-x",
        "eF3",
        "gH4",
    ]


def test_ucf101_copies_re_encoded_to_mp4_are_found_by_their_listed_names(tmp_path, media):
    copy = build_ucf101(tmp_path)
    for role in ("audio", "resized"):  # the listed .avi replaced by an .mp4 of the same stem
        avi = copy.files[role]
        media.make_video(avi.with_suffix(".mp4"), 14)
        avi.unlink()
    index = scan("ucf101", copy.root, copy.splits, 1, probe_videos=True).set_index("video")
    for role in ("audio", "resized"):
        listed = (
            copy.files[role].relative_to(copy.root).as_posix().replace("Handstand", "HandStand")
        )
        row = index.loc[listed]
        assert (row["status"], row["frames"]) == ("ok", 14)
        assert row["path"] == os.path.abspath(copy.files[role].with_suffix(".mp4"))


def test_a_copy_of_a_listed_video_in_a_subfolder_is_named_in_a_warning(tmp_path, media, caplog):
    copy = build_ucf101(tmp_path)
    listed = copy.files["audio"]  # ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi
    media.make_video(listed.parent / "old" / listed.name, 12, seed=5)  # a stray older copy
    caplog.set_level(logging.WARNING)
    index = scan("ucf101", copy.root, copy.splits, 1).set_index("video")
    row = index.loc["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"]
    assert row["path"] == os.path.abspath(listed)  # the one at the listed place
    note = (
        "1 other file(s) could be it (ApplyEyeMakeup/old/v_ApplyEyeMakeup_g08_c01.avi); "
        "using ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    )
    assert row["warning"].endswith(note)
    assert f"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi: {note}" in caplog.messages
    others = [m for m in caplog.messages if "other file(s) could be it" in m]
    assert len(others) == 1  # no other video of the copy has a double
