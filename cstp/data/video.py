"""Reading video frames by index through PyAV: the clip reader, probing, and the one-line reasons
why a file cannot be read."""

from __future__ import annotations

import bisect
import logging
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from torchvision.transforms.v2 import functional as tvf

from cstp.errors import VideoError

log = logging.getLogger(__name__)

# A seek costs one pass over the packets (no decoding) to learn which pts is which frame, about the
# price of decoding two or three frames; below this first index, decoding from the start is cheaper.
SEEK_AFTER = 8

# Files already warned about reads past their last decodable frame (a dataset has thousands of
# readers per file over an epoch; one warning per file is enough).
_warned_past_end: set[str] = set()


def open_video(path: str | Path) -> av.container.InputContainer:
    """Open `path` for decoding, or raise VideoError with a one-line reason.

    Checks, in order: the file exists and is not empty, FFmpeg can open it (a file that cannot be
    opened and is shorter than its container claims is reported as truncated), and it has a video
    stream. A size mismatch alone does not refuse a file: `probe` and `check_video` judge it by the
    frames that decode. Metadata that is not valid UTF-8 (common in HMDB-51) is ignored.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        open(path, "rb").close()  # a folder named .avi, or no permission to read
    except FileNotFoundError:
        raise VideoError(path, "file not found") from None
    except OSError as err:
        raise VideoError(path, f"cannot read: {err.strerror}") from None
    if size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as err:
        mismatch = size_mismatch(path)
        if mismatch:
            raise VideoError(path, f"truncated: {mismatch}") from None
        if isinstance(err, av.error.InvalidDataError):
            raise VideoError(path, "not a video (invalid data)") from None
        raise VideoError(path, f"cannot open: {_one_line(err)}") from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise VideoError(path, f"no video stream (streams: {', '.join(kinds)})")
    return container


def size_mismatch(path: str | Path) -> str:
    """'container declares N bytes, file has M' where the RIFF size of an AVI or the top-level
    boxes of an MP4 claim more bytes than the file holds; '' otherwise (or where unknown)."""
    try:
        size = os.stat(path).st_size
        declared = _declared_size(Path(path)) if size else 0
    except OSError:
        return ""
    return f"container declares {declared} bytes, file has {size}" if declared > size else ""


def decode_all(path: str | Path, *, threads: int = 1) -> torch.Tensor:
    """Every frame of `path` in decoding order as uint8 (T, H, W, 3): the reference that reads
    must agree with, and the full-decode benchmark."""
    with open_video(path) as container:
        stream = container.streams.video[0]
        _set_threads(stream, threads)
        frames = [_rgb(frame, threads) for frame in _decode(container, stream, path)]
    if not frames:
        raise VideoError(path, "no decodable frames")
    return torch.from_numpy(np.stack(frames))


def resize_short_side(clip: torch.Tensor, short_side: int) -> torch.Tensor:
    """Resize uint8 (T, H, W, C) frames so that min(H, W) == short_side, keeping the aspect
    ratio (antialiased bilinear)."""
    resized = tvf.resize(clip.permute(0, 3, 1, 2), [short_side], antialias=True)
    return resized.permute(0, 2, 3, 1).contiguous()


@dataclass(frozen=True)
class _FrameTable:
    """Frame numbers of a stream's packets, learnt by demuxing without decoding."""

    pts: list[int]  # frame index -> pts, display order
    rank: dict[int, int]  # pts -> frame index
    keyframes: list[int]  # frame indices of keyframes, ascending

    def keyframe_at_or_before(self, index: int) -> int | None:
        position = bisect.bisect_right(self.keyframes, index)
        return self.keyframes[position - 1] if position else None


class VideoReader:
    """Frames of one video by index, decoding only what a read needs.

    `num_frames` is the true frame count where known (e.g. from a probed index); otherwise the
    header's count is used, which for AVI files is often one more than decodes. An index past
    the last decodable frame (but below `num_frames`) is served by the last decodable frame,
    with one warning per file. `threads` is FFmpeg's decoding thread count (1: comparable
    timings, and the right choice inside data-loader workers that each decode their own video).
    """

    def __init__(self, path: str | Path, num_frames: int | None = None, *, threads: int = 1):
        self.path = Path(path)
        self.threads = threads
        self.frames_decoded = 0  # running count, for benchmarks and tests of seeking
        self._table: _FrameTable | None = None  # None: not built, or pts unusable
        self._table_built = False
        self._open()
        self._header_frames = self._stream.frames
        self._num_frames = num_frames if num_frames is not None else self._header_frames

    def _open(self) -> None:
        self._container = open_video(self.path)
        self._stream = self._container.streams.video[0]
        _set_threads(self._stream, self.threads)
        self._fresh = True  # nothing read from the container yet

    def _reopen(self) -> None:
        self._container.close()
        self._open()

    @property
    def fps(self) -> float:
        return _fps(self._stream)

    @property
    def width(self) -> int:
        return self._stream.codec_context.width

    @property
    def height(self) -> int:
        return self._stream.codec_context.height

    @property
    def num_frames(self) -> int:
        return self._num_frames

    def read(self, indices: Sequence[int], short_side: int | None = None) -> torch.Tensor:
        """Frames `indices` (any order, repeats allowed) as uint8 (T, H, W, 3), optionally resized
        so that the short side is `short_side` pixels."""
        wanted = [int(i) for i in indices]
        if not wanted:
            raise ValueError(f"{self.path}: no frame indices given")
        if min(wanted) < 0:
            raise ValueError(f"{self.path}: negative frame index {min(wanted)}")
        if self._num_frames > 0 and max(wanted) >= self._num_frames:
            raise ValueError(
                f"{self.path}: frame index {max(wanted)} out of range ({self._num_frames} frames)"
            )
        unique = sorted(set(wanted))
        decoded = self._decode_frames(unique)
        clip = torch.from_numpy(np.stack([decoded[i] for i in unique]))
        if short_side is not None:
            clip = resize_short_side(clip, short_side)
        if wanted == unique:
            return clip
        position = {index: n for n, index in enumerate(unique)}
        return clip[[position[i] for i in wanted]]

    def _decode_frames(self, unique: list[int]) -> dict[int, np.ndarray]:
        if not self._fresh or unique[0] >= SEEK_AFTER:
            table = self._frame_table()
            if table is not None:
                decoded = self._decode_after_seek(unique, table)
                if decoded is not None:
                    return decoded
            # pts that do not tell frames apart: only counting from the start is exact
            self._reopen()
        return self._decode_from_start(unique)

    def _decode_from_start(self, unique: list[int]) -> dict[int, np.ndarray]:
        self._fresh = False
        wanted, decoded = set(unique), {}
        count, last = 0, None
        for frame in self._frames():
            if count in wanted:
                decoded[count] = _rgb(frame, self.threads)
            last, count = frame, count + 1
            if count > unique[-1]:
                return decoded
        return self._serve_past_end(unique, decoded, last, count)

    def _decode_after_seek(
        self, unique: list[int], table: _FrameTable
    ) -> dict[int, np.ndarray] | None:
        """Seek to the keyframe before the first wanted frame and decode from there, mapping each
        frame to its index by pts. None where the decoded frames do not match the table."""
        first = min(unique[0], len(table.rank) - 1)
        key = table.keyframe_at_or_before(first)
        if key is None:
            return None
        # Seek by pts: MP4 demuxers compare display times, so a keyframe's dts (earlier, with
        # B-frames) would land one GOP early.
        self._container.seek(table.pts[key], stream=self._stream, backward=True, any_frame=False)
        wanted, decoded = set(unique), {}
        expected, last = first, None
        for frame in self._frames():
            index = table.rank.get(frame.pts)  # type: ignore[arg-type]
            if index is None:
                return None
            if expected == first and index < first:
                continue  # frames between the keyframe and the first wanted one
            if index != expected:
                return None  # a frame was skipped (or the seek landed too late)
            if index in wanted:
                decoded[index] = _rgb(frame, self.threads)
            last, expected = frame, expected + 1
            if expected > unique[-1]:
                return decoded
        if last is None:
            return None
        return self._serve_past_end(unique, decoded, last, expected)

    def _frame_table(self) -> _FrameTable | None:
        if not self._table_built:
            if not self._fresh:  # the table needs every packet from the first one
                self._reopen()
            self._table_built, self._fresh = True, False
            self._table = _demux_frame_table(self._container, self._stream)
        return self._table

    def _frames(self) -> Iterator[av.VideoFrame]:
        for frame in _decode(self._container, self._stream, self.path):
            self.frames_decoded += 1
            yield frame

    def _serve_past_end(
        self, unique: list[int], decoded: dict[int, np.ndarray], last, count: int
    ) -> dict[int, np.ndarray]:
        if last is None:
            raise VideoError(self.path, "no decodable frames")
        if str(self.path) not in _warned_past_end:
            _warned_past_end.add(str(self.path))
            log.warning(
                "%s: frame %d asked for, but only %d frames decode (header claims %d); "
                "serving the last frame instead",
                self.path,
                unique[-1],
                count,
                self._header_frames,
            )
        image = _rgb(last, self.threads)
        for index in unique:
            if index >= count:
                decoded[index] = image
        return decoded

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _demux_frame_table(container, stream) -> _FrameTable | None:
    """Read every packet once (no decoding): a frame's index is the rank of its pts. Unlike
    pts * time_base * fps, ranks stay exact where pts skip values (AVI files with empty chunks,
    e.g. muxed with audio) or the frame rate varies. None where pts are missing or repeat."""
    pts, keyframes = [], []
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # empty AVI chunks decode to nothing; so does the final flush packet
            if packet.pts is None:
                return None
            pts.append(packet.pts)
            if packet.is_keyframe:
                keyframes.append(packet.pts)
    except av.error.FFmpegError:
        return None  # let the sequential decode meet the damage and report it
    if not pts or len(set(pts)) != len(pts):
        return None
    pts.sort()
    rank = {p: n for n, p in enumerate(pts)}
    return _FrameTable(pts=pts, rank=rank, keyframes=sorted(rank[p] for p in keyframes))


def _decode(container, stream, path) -> Iterator[av.VideoFrame]:
    try:
        yield from container.decode(stream)
    except av.error.FFmpegError as err:
        raise VideoError(path, f"decode error: {_one_line(err)}") from None


def _set_threads(stream, threads: int) -> None:
    if threads > 1:
        stream.codec_context.thread_type = "AUTO"  # frame and slice threads; output is identical
    stream.codec_context.thread_count = threads


def _rgb(frame: av.VideoFrame, threads: int) -> np.ndarray:
    # swscale's default (threads=0: one per core) costs 1-2 ms a frame instead of 0.1 when the
    # other cores are busy, as they are under a multi-worker data loader.
    return frame.to_ndarray(format="rgb24", threads=threads)


def _fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _one_line(err: BaseException) -> str:
    return " ".join(str(getattr(err, "strerror", None) or err).split())


def _declared_size(path: Path) -> int:
    """Bytes the container's top-level structure claims (0 where unknown): the RIFF size of an
    AVI, or the end of the last top-level box of an MP4/MOV. A file shorter than this was cut."""
    with open(path, "rb") as file:
        head = file.read(12)
        if head[:4] == b"RIFF":
            return struct.unpack("<I", head[4:8])[0] + 8
        if head[4:8] not in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
            return 0
        end, size = 0, os.fstat(file.fileno()).st_size
        while end < size:
            file.seek(end)
            header = file.read(16)
            if len(header) < 8:
                return end + 8
            box = struct.unpack(">I", header[:4])[0]
            if box == 1 and len(header) == 16:
                box = struct.unpack(">Q", header[8:16])[0]
            if box == 0:  # box runs to the end of the file
                return size
            if box < 8:
                return 0  # not a box structure we understand
            end += box
        return end
