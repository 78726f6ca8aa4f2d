"""Matching a dataset copy on disk against its official split: the index (one row per listed video,
with its status and, when probed, its true frame count), the index csv, and the scan's report."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from cstp.data.check import check_video, probe
from cstp.data.splits import SUBSETS, Entry, read_split
from cstp.errors import CstpError, VideoError
from cstp.files import write_atomic

log = logging.getLogger(__name__)

INDEX_COLUMNS = ("path", "video", "label", "class_name", "subset", "status", "reason")
# Written by every scan since the size-mismatch rule; optional when reading older indexes.
WARNING_COLUMN = "warning"
# Nullable types: a video that is missing or unreadable has no frame count.
PROBE_DTYPES = {
    "frames": "Int64",
    "header_frames": "Int64",
    "fps": "float64",
    "width": "Int64",
    "height": "Int64",
    "has_audio": "boolean",
}
PROBE_COLUMNS = tuple(PROBE_DTYPES)
# Kinetics copies differ in container; UCF-101 and HMDB-51 are matched by the listed file name.
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov")
UNREADABLE_SHOWN = 20


def scan(
    dataset: str,
    root: str | Path,
    splits: str | Path,
    split: int = 1,
    *,
    probe_videos: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per video the official `split` lists: where it is under `root` and whether it reads.

    Without `probe_videos` a found file is only opened (size, container, video stream); with it
    every frame is decoded and the true frame count, header count, fps and size are recorded.
    """
    root = Path(root)
    if not root.is_dir():
        raise CstpError(f"{root}: no such videos folder")
    official = read_split(dataset, splits, split)
    entries = official.entries
    files = _Files(root)
    rows = []
    bar = tqdm(entries, desc=f"scan {dataset}", unit="video", disable=None if progress else True)
    for entry in bar:
        found = files.find_kinetics(entry) if entry.youtube_id else files.find(entry)
        row = _check(entry, found, root, probe_videos)
        _note_other_copies(row, entry, found, files.others.get(entry.video, []), root)
        rows.append(row)
    columns = [*INDEX_COLUMNS, WARNING_COLUMN, *(PROBE_COLUMNS if probe_videos else ())]
    index = pd.DataFrame(rows, columns=columns)
    if probe_videos:
        index = index.astype(PROBE_DTYPES)
    _warn_about_absences(index, root, Path(splits))
    _warn_about_unlisted_classes(official.classes, index, Path(splits))
    return index


def _note_other_copies(row: dict, entry: Entry, found, others: list[Path], root: Path) -> None:
    """Warn (in the log and the row) when more files than the one used could be the listed
    video: a copy in a subfolder of its class folder, or elsewhere under the root."""
    if not others:
        return
    shown = ", ".join(str(p.relative_to(root)) for p in others[:3])
    note = (
        f"{len(others)} other file(s) could be it ({shown}"
        f"{', ...' if len(others) > 3 else ''}); using {found.relative_to(root)}"
    )
    log.warning("%s: %s", entry.video, note)
    row[WARNING_COLUMN] = "; ".join(w for w in (row[WARNING_COLUMN], note) if w)


def _check(entry: Entry, found: Path | None, root: Path, probe_videos: bool) -> dict:
    row = {
        "path": os.path.abspath(found if found is not None else root / entry.video),
        "video": entry.video,
        "label": entry.label,
        "class_name": entry.class_name,
        "subset": entry.subset,
        "status": "ok",
        "reason": "",
        WARNING_COLUMN: "",
    }
    if found is None:
        row["status"] = "missing"
        return row
    try:
        if probe_videos:
            row.update(asdict(probe(found)))
        else:
            row[WARNING_COLUMN] = check_video(found)
    except VideoError as err:
        log.debug("%s: %s", found, err.reason)
        row["status"], row["reason"] = "unreadable", err.reason
    except Exception as err:  # one odd file among thousands must not end the scan
        reason = f"unexpected {type(err).__name__}: {_one_line(err)}"
        log.warning("%s: %s", found, reason)
        row["status"], row["reason"] = "unreadable", reason
    return row


class _Files:
    """Every file under a videos folder, walked once, looked up by name."""

    def __init__(self, root: Path):
        self.root = root
        self.by_name: dict[str, list[Path]] = defaultdict(list)  # case-folded file name
        self.by_stem: dict[str, list[Path]] = defaultdict(list)  # video file stem
        self.by_folded_stem: dict[str, list[Path]] = defaultdict(list)  # the same, case-folded
        self.by_prefix: dict[str, list[Path]] = defaultdict(list)  # stem up to any "_"
        self.others: dict[str, list[Path]] = {}  # listed video -> the files find() passed over
        for folder, _, names in os.walk(root, followlinks=True):
            for name in sorted(names):
                path = Path(folder, name)
                self.by_name[name.casefold()].append(path)
                stem, suffix = os.path.splitext(name)
                if suffix.lower() in VIDEO_SUFFIXES:
                    self.by_stem[stem].append(path)
                    self.by_folded_stem[stem.casefold()].append(path)
                    for end in (n for n, char in enumerate(stem) if char == "_"):
                        self.by_prefix[stem[:end]].append(path)

    def find(self, entry: Entry) -> Path | None:
        """UCF-101 / HMDB-51: the listed name in any folder, ignoring case, else a video of the
        same stem in another container (re-encoded copies: v_X_g01_c01.mp4 for the listed .avi);
        where several files qualify, the one at the listed relative path, else in a folder named
        after the class."""
        listed_name = Path(entry.video).name
        candidates = self.by_name.get(listed_name.casefold()) or self.by_folded_stem.get(
            Path(listed_name).stem.casefold(), []
        )
        listed = entry.video.casefold()
        class_folder = entry.video.split("/", 1)[0].casefold()
        ranked = sorted(
            candidates,
            key=lambda path: (
                path.relative_to(self.root).with_suffix("").as_posix().casefold()
                != str(Path(listed).with_suffix("")),
                path.parent.name.casefold() != class_folder,
                str(path),
            ),
        )
        if len(ranked) > 1:
            self.others[entry.video] = ranked[1:]
        return ranked[0] if ranked else None

    def find_kinetics(self, entry: Entry) -> Path | None:
        """Kinetics-400: `<id>_<start:06d>_<end:06d>.*`, else `<id>.*`, else `<id>_<anything>.*`,
        in any folder (copies differ in folder names and in how they name files)."""
        canonical = Path(entry.video).stem
        for candidates in (
            self.by_stem.get(canonical),
            self.by_stem.get(entry.youtube_id),
            self.by_prefix.get(entry.youtube_id),
        ):
            if candidates:
                return sorted(candidates)[0]
        return None


def _warn_about_absences(index: pd.DataFrame, root: Path, splits: Path) -> None:
    found = index[index["status"] != "missing"]
    if found.empty:
        log.warning("no listed video was found under %s (is --root the videos folder?)", root)
        return
    listed = index.loc[index["label"] >= 0, "class_name"].unique()
    absent = sorted(set(listed) - set(found["class_name"]))
    if absent:
        log.warning(
            "%d of %d classes in %s have no video under %s: %s",
            len(absent),
            len(listed),
            splits,
            root,
            _some(absent),
        )


def _warn_about_unlisted_classes(
    classes: tuple[str, ...], index: pd.DataFrame, splits: Path
) -> None:
    """A class of the class index that no split list names: its head output is kept (labels come
    from the class index) but it can never be trained or tested."""
    unlisted = sorted(set(classes) - set(index["class_name"]))
    if unlisted:
        log.warning(
            "%d class(es) of %s are named by no video of the split lists: %s",
            len(unlisted),
            splits,
            _some(unlisted),
        )


def _some(names: list[str], shown: int = 5) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def summarize(index: pd.DataFrame) -> pd.DataFrame:
    """Per subset (and in total): listed, found, missing, unreadable and ok videos, and the number
    of classes with at least one ok video."""
    rows = []
    groups = [(s, index[index["subset"] == s]) for s in SUBSETS if (index["subset"] == s).any()]
    for subset, group in [*groups, ("total", index)]:
        ok = group[group["status"] == "ok"]
        rows.append(
            {
                "subset": subset,
                "listed": len(group),
                "found": int((group["status"] != "missing").sum()),
                "missing": int((group["status"] == "missing").sum()),
                "unreadable": int((group["status"] == "unreadable").sum()),
                "ok": len(ok),
                "classes": ok.loc[ok["label"] >= 0, "class_name"].nunique(),
            }
        )
    return pd.DataFrame(rows)


def report(index: pd.DataFrame, out: Path | None = None, shown: int = UNREADABLE_SHOWN) -> str:
    """The text `cstp data scan` prints: the summary table, then the unreadable files with their
    reasons, the missing ones, and the kept files with a warning (each list cut at `shown`)."""
    lines = [summarize(index).to_string(index=False)]
    warning = (
        index[WARNING_COLUMN] if WARNING_COLUMN in index.columns else pd.Series("", index.index)
    )
    sections = (
        ("unreadable videos", index["status"] == "unreadable", "reason"),
        ("missing videos (listed, no file found)", index["status"] == "missing", None),
        ("kept with a warning", (index["status"] == "ok") & (warning.fillna("") != ""), "warning"),
    )
    for title, chosen, detail in sections:
        rows = index[chosen]
        if rows.empty:
            continue
        lines.append(f"{title} ({len(rows)}):")
        for row in rows.head(shown).to_dict("records"):
            lines.append(f"  {row['path']}: {row[detail]}" if detail else f"  {row['video']}")
        if len(rows) > shown:
            where = f" (in {out})" if out else ""
            lines.append(f"  ... and {len(rows) - shown} more{where}")
    if out is not None:
        lines.append(f"index of {len(index)} videos written to {out}")
    return "\n".join(lines)


def write_index(index: pd.DataFrame, out: str | Path) -> Path:
    """Write the index csv atomically: readers never see a half-written file."""
    return write_atomic(out, lambda tmp: index.to_csv(tmp, index=False), "index")


def read_index(path: str | Path) -> pd.DataFrame:
    """An index csv written by `write_index`, checked for the columns every index has."""
    try:
        # empty reasons and class names stay strings; empty probe cells are missing numbers
        index = pd.read_csv(
            path, keep_default_na=False, na_values={column: [""] for column in PROBE_COLUMNS}
        )
    except FileNotFoundError:
        raise CstpError(f"{path}: no such index csv") from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise CstpError(f"{path}: cannot read index csv ({_one_line(err)})") from None
    missing = [column for column in INDEX_COLUMNS if column not in index.columns]
    if missing:
        raise CstpError(f"{path}: not an index from `cstp data scan` (no {', '.join(missing)})")
    return index.astype({c: t for c, t in PROBE_DTYPES.items() if c in index.columns})


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())
