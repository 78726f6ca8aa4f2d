"""`cstp stor-stats`, `cstp show-pair` and `cstp bench sample` as a user runs them."""

import re

import pytest
from conftest import make_video

from cstp.cli import main
from cstp.sampling.stats import stor_stats
from cstp.specs.sampling import SamplingSpec


def test_paper_candidates_at_320x240_and_150_frames_meet_the_targets():
    spec = SamplingSpec(pretext=("playback_rate", "stor_spatial", "stor_temporal"))
    stats = stor_stats(spec, 150, 320, 240, samples=5000, seed=0)
    table = stats.table
    for axis in ("spatial", "temporal"):
        assert (table[f"{axis}_mean"] - table[f"{axis}_target"]).abs().max() < 0.01
        assert (table[f"{axis}_freq"] - 0.2).abs().max() < 0.02
    # Rate 8 cannot fit t = 0.2 in 150 frames and is not drawn; the rest share evenly.
    assert stats.rates["x8"] == 0 and (stats.rates[["x1", "x2", "x4"]] - 1 / 3).abs().max() < 0.03
    assert stats.fallbacks == {}


def test_stor_stats_prints_one_row_per_candidate(capsys):
    assert (
        main(
            [
                "stor-stats",
                "--frames",
                "150",
                "--size",
                "320x240",
                "--samples",
                "500",
                "--candidates",
                "0.25,0.5,0.75,1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.match(r"\s+0\.\d+|\s+1\.0", line)]
    assert len(rows) == 4
    assert "expected label frequency: 1/4" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--candidates", "0.5,1.5"], "--candidates: 1.5 is outside (0, 1]"),
        (["--spatial-candidates", "0.5,0.5"], "--spatial-candidates: [0.5, 0.5] has duplicates"),
        (["--frames", "8"], "--frames 8: shorter than one clip of --clip-frames 16"),
    ],
)
def test_stor_stats_bad_input_is_one_line(arguments, message, capsys):
    base = {"--frames": "150", "--size": "320x240"}
    for key, value in zip(arguments[::2], arguments[1::2], strict=True):
        base[key] = value
    argv = ["stor-stats", *[x for kv in base.items() for x in kv]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err


def test_show_pair_draws_a_figure_of_a_real_video(tmp_path, capsys):
    video = make_video(tmp_path / "v.avi", num_frames=60, height=48, width=64)
    out = tmp_path / "pair.png"
    assert (
        main(
            [
                "show-pair",
                str(video),
                "--out",
                str(out),
                "--clip-frames",
                "8",
                "--size",
                "32",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    assert out.read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    measured = re.search(r"spatial overlap ([\d.]+) \(label ([\d.]+)\)", printed)
    assert abs(float(measured.group(1)) - float(measured.group(2))) < 0.1


def test_bench_sample_reports_pairs_per_second(tmp_path, capsys):
    video = make_video(tmp_path / "v.avi", num_frames=60, height=48, width=64)
    assert (
        main(
            [
                "bench",
                "sample",
                "--video",
                str(video),
                "--samples",
                "3",
                "--clip-frames",
                "4",
                "--size",
                "16",
                "--short-side",
                "24",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "plan only" in out and "decode + augment" in out
