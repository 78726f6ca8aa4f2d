"""Parsers of the official split and annotation files of UCF-101, HMDB-51 and Kinetics-400, each
returning the same typed list of labelled entries; every malformed input is a one-line CstpError."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cstp.errors import CstpError

DATASETS = ("ucf101", "hmdb51", "kinetics400")
SUBSETS = ("train", "test", "unused")
SPLITS = (1, 2, 3)

# HMDB-51 marks in `<class>_test_split<K>.txt`.
HMDB_MARKS = {"0": "unused", "1": "train", "2": "test"}
# Kinetics-400 `split` column -> our subset. The official validation set is the test set of every
# paper that reports Kinetics numbers; the official test set has no public labels.
KINETICS_SUBSETS = {"train": "train", "validate": "test", "val": "test", "test": "unused"}
KINETICS_COLUMNS = ("youtube_id", "time_start", "time_end", "split")
# One file per official subset, as the dataset's site ships them and as the ActivityNet crawler
# names them; a folder is read with the first naming it holds.
KINETICS_FILES = (
    ("train.csv", "validate.csv", "test.csv"),
    ("kinetics-400_train.csv", "kinetics-400_val.csv", "kinetics-400_test.csv"),
    ("kinetics_400_train.csv", "kinetics_400_val.csv", "kinetics_400_test.csv"),
)


@dataclass(frozen=True)
class Entry:
    """One listed video."""

    video: str  # path relative to the videos folder, as the split files name it
    class_name: str  # the class's official spelling ("" where unlabelled)
    label: int  # 0-based; -1 where unlabelled (Kinetics' test set)
    subset: str  # train, test or unused
    youtube_id: str = ""  # Kinetics only: files are found by this id


@dataclass(frozen=True)
class Split:
    """A dataset's classes (label -> name) and its listed videos for one official split."""

    dataset: str
    classes: tuple[str, ...]
    entries: tuple[Entry, ...]


def read_split(dataset: str, splits: str | Path, split: int = 1) -> Split:
    """The entries of `dataset`'s official `split` (1-3; ignored for kinetics400) read from
    `splits`: the split folder (UCF-101, HMDB-51) or annotation csv / csv folder (Kinetics-400)."""
    splits = Path(splits)
    if dataset == "ucf101":
        return read_ucf101(splits, split)
    if dataset == "hmdb51":
        return read_hmdb51(splits, split)
    if dataset == "kinetics400":
        return read_kinetics400(splits)
    raise CstpError(f"unknown dataset {dataset!r} (expected one of {', '.join(DATASETS)})")


def read_ucf101(folder: Path, split: int = 1) -> Split:
    """`ucfTrainTestlist/`: classInd.txt (`<id> <class>`, 1-based), trainlist0K.txt
    (`<class>/<video>.avi <id>`), testlist0K.txt (`<class>/<video>.avi`). Class names are matched
    without regard to case: the lists write HandStandPushups where classInd.txt has
    HandstandPushups."""
    folder = _split_folder(folder, "ucfTrainTestlist", "classInd.txt")
    _check_split_number(split)
    classes: list[str] = []
    for where, fields in _lines(folder / "classInd.txt"):
        if len(fields) != 2 or fields[0] != str(len(classes) + 1):
            raise CstpError(f"{where}: expected '{len(classes) + 1} <class>', got {fields}")
        classes.append(fields[1])
    if not classes:
        raise CstpError(f"{folder / 'classInd.txt'}: no classes")
    label_of = _label_lookup(classes, folder / "classInd.txt")
    entries = []
    for subset, name in (("train", "trainlist"), ("test", "testlist")):
        path = folder / f"{name}{split:02d}.txt"
        lines = _lines(path)
        if not lines:
            raise CstpError(f"{path}: empty split (no entries)")
        for where, fields in lines:
            if len(fields) not in (1, 2) or "/" not in fields[0]:
                raise CstpError(f"{where}: expected '<class>/<video>.avi [<id>]', got {fields}")
            folder_name = fields[0].split("/", 1)[0]
            label = label_of.get(folder_name.casefold())
            if label is None:
                raise CstpError(f"{where}: class {folder_name!r} is not in classInd.txt")
            if len(fields) == 2 and fields[1] != str(label + 1):
                raise CstpError(f"{where}: class id {fields[1]} but classInd.txt gives {label + 1}")
            entries.append(Entry(fields[0], classes[label], label, subset))
    return Split("ucf101", tuple(classes), tuple(entries))


def read_hmdb51(folder: Path, split: int = 1) -> Split:
    """`testTrainMulti_7030_splits/`: one `<class>_test_split<K>.txt` per class with lines
    `<video>.avi <mark>` (1 train, 2 test, 0 unused). Labels follow sorted class names."""
    folder = _split_folder(folder, "testTrainMulti_7030_splits", f"*_test_split{split}.txt")
    _check_split_number(split)
    suffix = f"_test_split{split}.txt"
    files = {path.name[: -len(suffix)]: path for path in folder.glob(f"*{suffix}")}
    if not files:
        raise CstpError(f"{folder}: no *{suffix} files (is this testTrainMulti_7030_splits/?)")
    classes = sorted(files)
    entries = []
    for label, class_name in enumerate(classes):
        lines = _lines(files[class_name])
        if not lines:
            raise CstpError(f"{files[class_name]}: empty split (no entries)")
        for where, fields in lines:
            if len(fields) != 2 or fields[1] not in HMDB_MARKS:
                raise CstpError(f"{where}: expected '<video>.avi <0|1|2>', got {fields}")
            subset = HMDB_MARKS[fields[1]]
            entries.append(Entry(f"{class_name}/{fields[0]}", class_name, label, subset))
    return Split("hmdb51", tuple(classes), tuple(entries))


def read_kinetics400(annotations: Path) -> Split:
    """Annotation csv(s) with columns label, youtube_id, time_start, time_end, split: one file, or
    a folder holding train.csv / validate.csv / test.csv (or the crawler's kinetics-400_train.csv
    / _val.csv / _test.csv). Rows without a label (the official test set) are unused; labels
    follow sorted label names."""
    if annotations.is_dir():
        paths = next(
            (found for names in KINETICS_FILES if (found := _present(annotations, names))), []
        )
        if not paths:
            expected = " or ".join(", ".join(names) for names in KINETICS_FILES)
            raise CstpError(f"{annotations}: holds none of {expected}")
    elif annotations.is_file():
        paths = [annotations]
    else:
        raise CstpError(f"{annotations}: no such annotation csv or folder")
    rows = [row for path in paths for row in _read_kinetics_csv(path)]
    if not rows:
        raise CstpError(f"{annotations}: empty split (no entries)")
    classes = sorted({row.label for row in rows if row.label})
    label_of = {name: n for n, name in enumerate(classes)}
    entries = []
    for row in rows:
        stem = f"{row.youtube_id}_{row.time_start:06d}_{row.time_end:06d}"
        entries.append(
            Entry(
                video=f"{row.split}/{row.label}/{stem}.mp4"
                if row.label
                else f"{row.split}/{stem}.mp4",
                class_name=row.label,
                label=label_of[row.label] if row.label else -1,
                subset=KINETICS_SUBSETS[row.split] if row.label else "unused",
                youtube_id=row.youtube_id,
            )
        )
    return Split("kinetics400", tuple(classes), tuple(entries))


def _present(folder: Path, names: tuple[str, ...]) -> list[Path]:
    return [folder / name for name in names if (folder / name).is_file()]


@dataclass(frozen=True)
class _KineticsRow:
    label: str  # "" where the csv gives none
    youtube_id: str
    time_start: int
    time_end: int
    split: str


def _read_kinetics_csv(path: Path) -> list[_KineticsRow]:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CstpError(f"{path}: not a readable csv ({_first_line(err)})") from None
    missing = [column for column in KINETICS_COLUMNS if column not in table.columns]
    if missing:
        raise CstpError(f"{path}: missing column(s) {', '.join(missing)}")
    if "label" not in table.columns:  # the official test.csv has no label column
        table["label"] = ""
    rows = []
    for line, row in enumerate(table.itertuples(index=False), start=2):
        start, end = _whole(row.time_start), _whole(row.time_end)
        if start is None or end is None or not row.youtube_id.strip():
            raise CstpError(
                f"{path}:{line}: expected youtube_id and whole-second times, got "
                f"{row.youtube_id!r}, {row.time_start!r}, {row.time_end!r}"
            )
        if row.split not in KINETICS_SUBSETS:
            choices = ", ".join(KINETICS_SUBSETS)
            raise CstpError(f"{path}:{line}: split {row.split!r} is not one of {choices}")
        rows.append(_KineticsRow(row.label.strip(), row.youtube_id.strip(), start, end, row.split))
    return rows


def _whole(value: str) -> int | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _split_folder(folder: Path, official_name: str, marker: str) -> Path:
    """`folder`, or its `official_name` subfolder where the user named the folder above it."""
    if not folder.is_dir():
        raise CstpError(f"{folder}: no such split folder (expected {official_name}/)")
    if not any(folder.glob(marker)) and (folder / official_name).is_dir():
        return folder / official_name
    return folder


def _check_split_number(split: int) -> None:
    if split not in SPLITS:
        raise CstpError(f"split {split} does not exist (official splits: 1, 2, 3)")


def _lines(path: Path) -> list[tuple[str, list[str]]]:
    """Non-blank lines of a text file as ('file:line', fields); CRLF, trailing blanks and a UTF-8
    byte-order mark are taken in stride."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise CstpError(f"{path}: no such split file") from None
    except OSError as err:
        raise CstpError(f"{path}: cannot read ({err.strerror})") from None
    return [
        (f"{path}:{number}", line.split())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


def _label_lookup(classes: list[str], source: Path) -> dict[str, int]:
    lookup: dict[str, int] = {}
    for label, name in enumerate(classes):
        if name.casefold() in lookup:
            raise CstpError(f"{source}: class {name!r} is listed twice (ignoring case)")
        lookup[name.casefold()] = label
    return lookup


def _first_line(err: BaseException) -> str:
    return re.split(r"[\r\n]", str(err).strip(), maxsplit=1)[0]
