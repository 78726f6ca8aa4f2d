"""Writing frames to real video files through PyAV (for `cstp synth` and the test fixtures)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Codec by container: UCF-101 and HMDB-51 ship MPEG-4 part 2 in AVI; Kinetics clips are H.264 MP4.
DEFAULT_CODECS = {".avi": "mpeg4", ".mp4": "libx264", ".mkv": "libx264"}


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: int = 25,
    *,
    codec: str | None = None,
    gop: int = 12,
    quality: int = 4,
    bframes: int = 0,
    audio: bool = False,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Encode `frames` (T, H, W, 3) uint8 RGB into `path`; the container follows the suffix.

    `gop` is the keyframe interval (12 as in UCF-101's MPEG-4 files). `quality` is the MPEG-4
    quantiser (lower is better) or the x264 CRF divided by 6. `bframes` is the number of
    B-frames between references (Kinetics' web video has them: decode order != display order).
    `audio` adds a silent AAC track, as many real dataset files have one. `metadata` is written as
    container tags.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    codec = codec or DEFAULT_CODECS.get(path.suffix.lower(), "mpeg4")
    height, width = frames.shape[1:3]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        for key, value in (metadata or {}).items():
            container.metadata[key] = value
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = bframes
        if codec == "mpeg4":
            stream.codec_context.qmin = stream.codec_context.qmax = quality
        else:
            stream.options = {"crf": str(6 * quality), "preset": "veryfast", "bf": str(bframes)}
        sound = container.add_stream("aac", rate=16000) if audio else None
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if sound is not None:
            _write_silence(container, sound, seconds=len(frames) / fps)
    return path


def _write_silence(container: av.container.OutputContainer, stream, seconds: float) -> None:
    samples = max(1, int(seconds * stream.rate))
    block = 1024
    for start in range(0, samples, block):
        chunk = np.zeros((1, min(block, samples - start)), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate = stream.rate
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
