"""The official split files parse to the same entries as published, quirks included, and every
malformed file is a one-line CstpError naming the file and line."""

from __future__ import annotations

import re

import pytest

from cstp.data.splits import Entry, read_hmdb51, read_kinetics400, read_split, read_ucf101
from cstp.errors import CstpError


def test_ucf101_matches_class_names_ignoring_case_and_crlf(ucf101_copy):
    split = read_ucf101(ucf101_copy.splits, 1)
    assert split.classes == ("ApplyEyeMakeup", "HandstandPushups", "YoYo")
    assert [(e.video, e.class_name, e.label, e.subset) for e in split.entries] == [
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "ApplyEyeMakeup", 0, "train"),
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c02.avi", "ApplyEyeMakeup", 0, "train"),
        ("HandStandPushups/v_HandStandPushups_g08_c01.avi", "HandstandPushups", 1, "train"),
        ("YoYo/v_YoYo_g08_c01.avi", "YoYo", 2, "train"),
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "ApplyEyeMakeup", 0, "test"),
        ("HandStandPushups/v_HandStandPushups_g01_c01.avi", "HandstandPushups", 1, "test"),
        ("YoYo/v_YoYo_g01_c01.avi", "YoYo", 2, "test"),
        ("YoYo/v_YoYo_g01_c02.avi", "YoYo", 2, "test"),
    ]


def test_the_parent_of_the_split_folder_is_accepted(ucf101_copy):
    assert read_ucf101(ucf101_copy.splits.parent, 1) == read_ucf101(ucf101_copy.splits, 1)


def _ucf(tmp_path, media, train, test=("A/v_A_g01_c01.avi",), classes=("1 A", "2 B")):
    media.write_lines(tmp_path / "classInd.txt", list(classes), "\r\n")
    media.write_lines(tmp_path / "trainlist01.txt", list(train), "\r\n")
    media.write_lines(tmp_path / "testlist01.txt", list(test), "\r\n")
    return tmp_path


@pytest.mark.parametrize(
    ("train", "message"),
    [
        (["A/v_A_g08_c01.avi 1", "C/v_C_g08_c01.avi 3"], "trainlist01.txt:2: class 'C' is not"),
        (["A/v_A_g08_c01.avi 1", "v_A_g08_c02.avi 1"], "trainlist01.txt:2: expected '<class>/"),
        (["A/v_A_g08_c01.avi 1 extra"], "trainlist01.txt:1: expected"),
        (["B/v_B_g08_c01.avi 1"], "trainlist01.txt:1: class id 1 but classInd.txt gives 2"),
        (["", "  "], "trainlist01.txt: empty split (no entries)"),
    ],
)
def test_ucf101_bad_lists_name_file_and_line(tmp_path, media, train, message):
    folder = _ucf(tmp_path, media, train)
    with pytest.raises(CstpError, match=re.escape(message)):
        read_ucf101(folder, 1)


def test_ucf101_bad_class_index(tmp_path, media):
    folder = _ucf(tmp_path, media, ["A/v_A_g08_c01.avi 1"], classes=("1 A", "3 B"))
    with pytest.raises(CstpError, match=r"classInd.txt:2: expected '2 <class>'"):
        read_ucf101(folder, 1)


def test_ucf101_missing_files_and_splits(ucf101_copy, tmp_path, media):
    folder = _ucf(tmp_path, media, ["A/v_A_g08_c01.avi"])
    (folder / "testlist01.txt").unlink()
    with pytest.raises(CstpError, match=r"testlist01.txt: no such split file"):
        read_ucf101(folder, 1)
    with pytest.raises(CstpError, match=r"trainlist02.txt: no such split file"):
        read_ucf101(ucf101_copy.splits, 2)
    with pytest.raises(CstpError, match="split 4 does not exist"):
        read_ucf101(ucf101_copy.splits, 4)
    with pytest.raises(CstpError, match="no such split folder"):
        read_ucf101(tmp_path / "nowhere", 1)


def test_hmdb51_marks_and_sorted_labels(hmdb51_copy):
    split = read_hmdb51(hmdb51_copy.splits, 1)
    assert split.classes == ("brush_hair", "cartwheel", "pour")
    assert split.entries == (
        Entry("brush_hair/Brushing_my_hair_a.avi", "brush_hair", 0, "train"),
        Entry("brush_hair/Brushing_my_hair_b.avi", "brush_hair", 0, "test"),
        Entry("brush_hair/hair_c.avi", "brush_hair", 0, "unused"),
        Entry("cartwheel/Cartwheel_d.avi", "cartwheel", 1, "train"),
        Entry("cartwheel/Cartwheel_e.avi", "cartwheel", 1, "test"),
        Entry("pour/Pouring_f.avi", "pour", 2, "train"),
        Entry("pour/Pouring_g.avi", "pour", 2, "test"),
    )
    assert read_split("hmdb51", hmdb51_copy.splits.parent, 1) == split


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["a.avi 1", "b.avi 3"], r"jump_test_split1.txt:2: expected '<video>.avi <0\|1\|2>'"),
        (["a.avi"], r"jump_test_split1.txt:1: expected"),
        ([" "], r"jump_test_split1.txt: empty split \(no entries\)"),
    ],
)
def test_hmdb51_bad_lines_name_file_and_line(tmp_path, media, lines, message):
    media.write_lines(tmp_path / "jump_test_split1.txt", lines)
    with pytest.raises(CstpError, match=message):
        read_hmdb51(tmp_path, 1)


def test_hmdb51_without_split_files(hmdb51_copy, tmp_path):
    with pytest.raises(CstpError, match=r"no \*_test_split2.txt files"):
        read_hmdb51(hmdb51_copy.splits, 2)
    with pytest.raises(CstpError, match="no such split folder"):
        read_hmdb51(tmp_path / "nowhere", 1)


def test_kinetics400_subsets_and_labels(kinetics400_copy):
    split = read_kinetics400(kinetics400_copy.splits)
    assert split.classes == ("abseiling", "air drumming")
    assert split.entries == (
        Entry(
            "train/abseiling/--a_b3C4d5E_000010_000020.mp4", "abseiling", 0, "train", "--a_b3C4d5E"
        ),
        Entry(
            "train/air drumming/Bb-_8aXyz01_000000_000010.mp4",
            "air drumming",
            1,
            "train",
            "Bb-_8aXyz01",
        ),
        Entry(
            "validate/abseiling/Cc9_zz-1234_000015_000025.mp4",
            "abseiling",
            0,
            "test",
            "Cc9_zz-1234",
        ),
        Entry(
            "validate/air drumming/Dd0000000_0_000003_000013.mp4",
            "air drumming",
            1,
            "test",
            "Dd0000000_0",
        ),
        Entry("test/Ee1_000005_000015.mp4", "", -1, "unused", "Ee1"),
    )


def test_kinetics400_single_csv(kinetics400_copy):
    split = read_split("kinetics400", kinetics400_copy.splits / "validate.csv")
    assert [(e.youtube_id, e.label, e.subset) for e in split.entries] == [
        ("Cc9_zz-1234", 0, "test"),
        ("Dd0000000_0", 1, "test"),
    ]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["label,youtube_id,time_start,split", "a,x,1,train"], "missing column.*time_end"),
        (["label,youtube_id,time_start,time_end,split", "a,x,1,2,dev"], r"k.csv:2: split 'dev'"),
        (["label,youtube_id,time_start,time_end,split", "a,x,1.5,2,train"], "k.csv:2: expected"),
        (["label,youtube_id,time_start,time_end,split"], r"empty split \(no entries\)"),
        ([], "not a readable csv"),
    ],
)
def test_kinetics400_bad_csv(tmp_path, media, lines, message):
    media.write_lines(tmp_path / "k.csv", lines)
    with pytest.raises(CstpError, match=message):
        read_kinetics400(tmp_path / "k.csv")


def test_kinetics400_without_annotations(tmp_path):
    with pytest.raises(
        CstpError,
        match=r"holds none of train\.csv, validate\.csv, test\.csv or kinetics-400_train\.csv",
    ):
        read_kinetics400(tmp_path)
    with pytest.raises(CstpError, match="no such annotation csv or folder"):
        read_kinetics400(tmp_path / "k400.csv")


def test_unknown_dataset(tmp_path):
    with pytest.raises(CstpError, match="unknown dataset 'ucf'"):
        read_split("ucf", tmp_path)
