"""Where the training progress bar goes: on a terminal, tqdm's bar rewriting its line; in a log
file (stderr not a terminal), one plain line per update, so `cat` and `less` read it."""

from __future__ import annotations

import sys

TERMINAL_INTERVAL = 2.0  # seconds between redraws of the bar on a terminal
LOG_INTERVAL = 30.0  # seconds between progress lines in a log file


class LineWriter:
    """A file for tqdm that turns each carriage-return redraw into a line of its own (and drops
    the blank redraw with which a bar that does not stay clears itself)."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def bar_options(stream=None) -> dict:
    """tqdm keyword arguments for `stream` (default: stderr): on a terminal a redraw every
    TERMINAL_INTERVAL seconds; in a file a LineWriter, ASCII bars and a line every LOG_INTERVAL."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return {"mininterval": TERMINAL_INTERVAL}
    return {"file": LineWriter(stream), "ascii": True, "mininterval": LOG_INTERVAL, "ncols": 80}
