"""Judging a video file by what decodes: the scan's cheap check, the full probe (true frame
count, damage FFmpeg conceals, cut files), and the warnings of files that are kept."""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.logging

from cstp.data.video import _decode, _fps, _one_line, _set_threads, open_video, size_mismatch
from cstp.errors import VideoError


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` learns by decoding a whole file."""

    frames: int  # frames that actually decode
    header_frames: int  # frames the container header claims (0 where it does not say)
    fps: float
    width: int
    height: int
    has_audio: bool
    warning: str = ""  # kept, but worth knowing (a size mismatch where every frame decodes)


def check_video(path: str | Path) -> str:
    """The cheap check of a scan: the file opens and has a video stream (nothing is decoded).

    A file shorter than its container claims is decoded whole and judged by `probe` (an AVI that
    lost only its trailing index still delivers every frame). Returns a warning, or ''.
    """
    if size_mismatch(path):
        return probe(path).warning
    open_video(path).close()
    return ""


def probe(path: str | Path) -> VideoInfo:
    """Decode every frame of `path` (no colour conversion) and report the true frame count.

    Refused: a file with no decodable frame; a file shorter than its container claims whose frame
    data is cut (it decodes fewer frames than its header declares, or a partial last one); a file
    the decoder flags frames of as corrupt (bytes damaged inside the file, which FFmpeg would
    otherwise conceal). A size mismatch where the frames are all there (an AVI that lost only its
    trailing index) is kept, with a warning.
    """
    mismatch = size_mismatch(path)
    with _ffmpeg_errors() as errors, open_video(path) as container:
        stream = container.streams.video[0]
        _set_threads(stream, 1)  # FFmpeg's threads gained nothing measurable here; see docs/data.md
        count, corrupt = 0, 0
        width, height = stream.codec_context.width, stream.codec_context.height
        try:
            for frame in _decode(container, stream, path):
                if count == 0:
                    width, height = frame.width, frame.height
                count += 1
                corrupt += bool(frame.is_corrupt)
        except VideoError:
            if mismatch:
                raise VideoError(
                    path, f"truncated: {mismatch}; decoding fails after {count} frames"
                ) from None
            raise
        header = stream.frames
        if mismatch and not _frame_data_complete(path) and (count < header or corrupt):
            raise VideoError(path, f"truncated: {mismatch}; {count} of {header} frames decode")
        if count == 0:
            raise VideoError(path, "no decodable frames")
        if corrupt or (errors and count < header):
            raise VideoError(
                path,
                f"damaged: {count} of {header} frames decode, {corrupt} flagged corrupt, "
                f"{len(errors)} FFmpeg error(s) ({_one_line(errors[0][2]) if errors else 'none'})",
            )
        warnings = [f"{mismatch}; all {count} frames decode"] if mismatch else []
        if errors:
            warnings.append(f"FFmpeg reported {len(errors)} error(s): {_one_line(errors[0][2])}")
        return VideoInfo(
            frames=count,
            header_frames=header,
            fps=_fps(stream),
            width=width,
            height=height,
            has_audio=bool(container.streams.audio),
            warning="; ".join(warnings),
        )


@contextlib.contextmanager
def _ffmpeg_errors() -> Iterator[list[tuple]]:
    """FFmpeg's error messages while the block runs, as (level, source, text): the damage its
    decoders conceal (a frame rebuilt from its neighbours) shows only here."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=True) as messages:
            yield messages
    finally:
        av.logging.set_level(previous)


def _frame_data_complete(path: str | Path) -> bool:
    """Whether an AVI's `movi` list (every frame's data) ends inside the file: true where only
    chunks after it are missing (the idx1 index). False for other containers or a cut list."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if file.read(12)[8:12] != b"AVI ":
            return False
        offset = 12
        while offset + 12 <= size:
            file.seek(offset)
            kind, length, form = struct.unpack("<4sI4s", file.read(12))
            if kind == b"LIST" and form == b"movi":
                return offset + 8 + length <= size
            offset += 8 + length + (length & 1)
        return False
