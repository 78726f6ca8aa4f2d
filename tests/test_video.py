"""The clip reader agrees frame for frame with a full decode, decodes only what it needs, and turns
every unreadable file into a one-line VideoError; `cstp bench decode` runs on real files."""

from __future__ import annotations

import logging

import av
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cstp.cli import main
from cstp.data import video
from cstp.data.check import check_video, probe
from cstp.data.video import VideoReader, decode_all, resize_short_side
from cstp.errors import VideoError

# name -> (frames, write_video options): the encodings the datasets use, and their quirks
CLIPS = {
    "gop12.avi": (60, {"gop": 12}),  # UCF-101 / HMDB-51: MPEG-4 part 2, keyframe every 12
    "long_gop.mp4": (50, {"fps": 30, "gop": 250, "bframes": 2}),  # Kinetics: H.264, B-frames
    "gop20.mp4": (90, {"fps": 30, "gop": 20, "bframes": 2}),  # seekable H.264 with B-frames
    "audio.avi": (40, {"gop": 12, "audio": True}),  # its video pts skip values
    "long.avi": (300, {"gop": 12}),
}


@pytest.fixture(scope="session")
def clips(tmp_path_factory, media) -> dict[str, tuple]:
    """name -> (path, every frame decoded in order)."""
    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for seed, (name, (frames, options)) in enumerate(CLIPS.items()):
        path = media.make_video(folder / name, frames, seed=seed, **options)
        made[name] = (path, decode_all(path))
    overcount = media.overcount_avi_header(media.make_video(folder / "overcount.avi", 20, seed=9))
    made["overcount.avi"] = (overcount, decode_all(overcount))
    return made


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(video, "_warned_past_end", set())


@settings(max_examples=80, deadline=None)
@given(data=st.data(), name=st.sampled_from([*sorted(CLIPS), "overcount.avi"]))
def test_reads_agree_with_a_full_decode(clips, data, name):
    path, reference = clips[name]
    with VideoReader(path) as reader:
        # up to the header's count: audio.avi and overcount.avi claim more frames than decode
        index = st.integers(0, reader.num_frames - 1)
        reads = data.draw(st.lists(st.lists(index, min_size=1, max_size=8), min_size=1, max_size=3))
        for indices in reads:  # later reads start from wherever the last one left the file
            expected = reference[[min(i, len(reference) - 1) for i in indices]]
            assert torch.equal(reader.read(indices), expected)


def test_audio_avi_pts_skip_values_but_reads_count_frames(clips):
    # AVI muxed with audio writes empty video chunks: pts 0, 3, 4, ... so pts * time_base * fps
    # would be off by two from the second frame on; the reader must not be.
    path, reference = clips["audio.avi"]
    with av.open(str(path)) as container:
        pts = [frame.pts for frame in container.decode(video=0)]
    assert pts[:3] == [0, 3, 4]
    with VideoReader(path) as reader:
        assert torch.equal(reader.read([30, 10, 1]), reference[[30, 10, 1]])


def test_a_seek_skips_the_frames_before_the_keyframe(clips):
    path, reference = clips["long.avi"]
    with VideoReader(path) as reader:
        assert torch.equal(reader.read([290, 293]), reference[[290, 293]])
        assert reader.frames_decoded == 293 - 288 + 1  # from the keyframe at 288 up to 293
    path, reference = clips["gop20.mp4"]
    with VideoReader(path) as reader:
        assert torch.equal(reader.read([70]), reference[[70]])
        assert reader.frames_decoded <= 20


def test_decoding_stops_after_the_last_wanted_frame(clips):
    path, reference = clips["long.avi"]
    with VideoReader(path) as reader:
        assert torch.equal(reader.read([3, 1]), reference[[3, 1]])
        assert reader.frames_decoded == 4


@pytest.mark.parametrize("name", ["long.avi", "gop20.mp4"])
def test_unusable_pts_fall_back_to_counting_from_the_start(clips, monkeypatch, name):
    path, reference = clips[name]
    monkeypatch.setattr(video, "_demux_frame_table", lambda container, stream: None)
    with VideoReader(path) as reader:
        assert torch.equal(reader.read([45, 44]), reference[[45, 44]])
        assert torch.equal(reader.read([2]), reference[[2]])
        assert reader.frames_decoded == 46 + 3


def test_a_table_that_disagrees_with_decoded_pts_is_not_trusted(clips, monkeypatch):
    path, reference = clips["gop20.mp4"]
    build = video._demux_frame_table

    def shifted(container, stream):  # as if the packets' pts were all one tick off
        table = build(container, stream)
        pts = [p + 1 for p in table.pts]
        return video._FrameTable(pts, {p: n for n, p in enumerate(pts)}, table.keyframes)

    monkeypatch.setattr(video, "_demux_frame_table", shifted)
    with VideoReader(path) as reader:
        assert torch.equal(reader.read([60, 61]), reference[[60, 61]])


def test_past_the_last_decodable_frame_the_last_frame_is_served_once_warned(
    clips, caplog, fresh_warnings
):
    path, reference = clips["overcount.avi"]
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        with VideoReader(path) as reader:
            assert reader.num_frames == 21  # the header's claim
            assert torch.equal(reader.read([20, 19, 20]), reference[[19, 19, 19]])
    with VideoReader(path) as reader:  # the seek path does the same
        reader.read([0])
        assert torch.equal(reader.read([20]), reference[[19]])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "only 20 frames decode (header claims 21)" in warnings[0]


def test_a_known_true_frame_count_bounds_the_indices(clips):
    path, reference = clips["overcount.avi"]
    with VideoReader(path, num_frames=20) as reader:
        assert reader.num_frames == 20
        assert torch.equal(reader.read([19]), reference[[19]])
        with pytest.raises(ValueError, match="out of range"):
            reader.read([20])


@pytest.mark.parametrize("indices", [[], [-1], [3, -2], [60]])
def test_bad_indices_raise_value_error(clips, indices):
    with VideoReader(clips["gop12.avi"][0]) as reader, pytest.raises(ValueError):
        reader.read(indices)


def test_properties_come_from_the_header(clips):
    with VideoReader(clips["gop20.mp4"][0]) as reader:
        assert (reader.fps, reader.width, reader.height, reader.num_frames) == (30.0, 32, 24, 90)


def test_probe_counts_the_frames_that_decode(clips):
    info = probe(clips["overcount.avi"][0])
    assert (info.frames, info.header_frames, info.fps) == (20, 21, 25.0)
    assert (info.width, info.height, info.has_audio) == (32, 24, False)
    info = probe(clips["audio.avi"][0])
    assert (info.frames, info.header_frames, info.has_audio) == (40, 42, True)


def test_short_side_resize_keeps_the_aspect_ratio(clips):
    path, reference = clips["gop12.avi"]
    with VideoReader(path) as reader:
        clip = reader.read([7, 3, 7], short_side=12)
    assert clip.shape == (3, 12, 16, 3) and clip.dtype == torch.uint8
    assert torch.equal(clip, resize_short_side(reference[[7, 3, 7]], 12))
    portrait = torch.zeros(2, 40, 30, 3, dtype=torch.uint8)
    assert resize_short_side(portrait, 15).shape == (2, 20, 15, 3)
    grey = torch.full((1, 24, 32, 3), 77, dtype=torch.uint8)
    assert torch.equal(resize_short_side(grey, 6), torch.full((1, 6, 8, 3), 77, dtype=torch.uint8))


def test_threaded_decoding_is_exact(clips):
    path, reference = clips["gop20.mp4"]
    assert torch.equal(decode_all(path, threads=2), reference)
    with VideoReader(path, threads=2) as reader:
        assert torch.equal(reader.read([50, 5, 89]), reference[[50, 5, 89]])


def test_non_utf8_metadata_is_ignored(tmp_path, media):
    path = media.make_video(tmp_path / "hmdb.avi", 10, metadata={"title": "ABCD"})
    media.spoil_metadata(path, "ABCD")
    with pytest.raises(UnicodeDecodeError):
        av.open(str(path)).close()
    assert probe(path).frames == 10
    with VideoReader(path) as reader:
        assert torch.equal(reader.read([9, 0]), decode_all(path)[[9, 0]])


def _unreadable(tmp_path, media, kind):
    path = tmp_path / f"{kind}.avi"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a video\n" * 20)
    elif kind == "audio_only":
        path = media.write_audio_only(tmp_path / "audio_only.m4a")
    elif kind == "truncated_avi":
        media.truncate(media.make_video(path, 30))
    elif kind == "directory":
        path.mkdir()
    elif kind == "truncated_mp4":
        path = media.truncate(media.make_video(tmp_path / "cut.mp4", 30), keep=0.9)
    return path


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "file not found"),
        ("empty", "empty file (0 bytes)"),
        ("text", "not a video (invalid data)"),
        ("audio_only", "no video stream (streams: audio)"),
        ("truncated_avi", "truncated: container declares"),
        ("truncated_mp4", "truncated: container declares"),
        ("directory", "cannot read: Is a directory"),
    ],
)
def test_unreadable_files_raise_a_one_line_reason(tmp_path, media, kind, reason):
    path = _unreadable(tmp_path, media, kind)
    # A cut AVI still opens: readers deliver what decodes, the checks refuse it.
    cut_avi = kind == "truncated_avi"
    for attempt in (
        (probe, check_video) if cut_avi else (VideoReader, probe, check_video, decode_all)
    ):
        with pytest.raises(VideoError) as error:
            attempt(path)
        assert error.value.reason.startswith(reason)
        assert error.value.path == str(path)
        assert "\n" not in str(error.value)


def test_bench_decode_prints_rates(clips, capsys):
    path = clips["gop12.avi"][0]
    args = ["--clips", "4", "--short-side", "12", "--min-seconds", "0"]
    assert main(["bench", "decode", "--video", str(path), *args]) == 0
    out = capsys.readouterr().out
    assert "1 video(s), 1 thread(s)" in out
    for measure in ("full sequential decode", "random 16-frame clips, rate 1, short side 12"):
        line = next(line for line in out.splitlines() if measure in line)
        assert float(line.split()[-1]) > 0  # frames per second


def test_bench_decode_refuses_bad_input(tmp_path, capsys):
    assert main(["bench", "decode", "--video", str(tmp_path / "none.avi")]) == 2
    assert capsys.readouterr().err.strip().endswith("none.avi: no such video file")
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "decode", "--video", str(tmp_path), "--clips", "0"])
    assert exit_info.value.code == 2
    assert "argument --clips: '0' is not a positive integer" in capsys.readouterr().err
