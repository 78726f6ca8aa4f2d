"""The training progress bar in a log file: one plain line per update, no carriage returns."""

import io

from tqdm import tqdm

from cstp.engine.progress import LOG_INTERVAL, TERMINAL_INTERVAL, bar_options


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_written_to_a_file_is_one_line_per_update():
    log = io.StringIO()
    options = bar_options(log) | {"mininterval": 0, "miniters": 1}
    for _ in tqdm(range(3), desc="epoch 1/2", leave=False, **options):
        pass
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) >= 3 and all(line.startswith("epoch 1/2:") for line in lines)
    assert "3/3" in lines[-1] and bar_options(log)["mininterval"] == LOG_INTERVAL


def test_on_a_terminal_the_bar_redraws_its_line():
    assert bar_options(Terminal()) == {"mininterval": TERMINAL_INTERVAL}
