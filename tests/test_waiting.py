"""The tests' own waits (tests/conftest.py): one that runs out of time fails with what it saw, not
only with what it waited for."""

from __future__ import annotations

import sys

import pytest
from conftest import run_within, wait_for


def test_a_wait_returns_the_first_true_answer():
    answers = iter([None, 0, "", "found", "later"])
    assert wait_for(lambda: next(answers), 60, "an answer") == "found"


def test_a_wait_that_runs_out_says_what_it_saw():
    with pytest.raises(AssertionError) as failed:
        wait_for(lambda: None, 0.3, "the flag", lambda: "squeue: job 7 PENDING")
    assert (
        str(failed.value) == "timed out after 0 s waiting for the flag; saw:\nsqueue: job 7 PENDING"
    )


def test_without_a_view_a_wait_shows_the_last_answer():
    answers = iter(range(10**6))
    with pytest.raises(AssertionError, match=r"waiting for a true answer; saw:\n0$"):
        wait_for(lambda: next(answers) * 0, 0.3, "a true answer")


def test_a_process_past_its_deadline_is_killed_and_fails_with_its_output_so_far():
    # It prints at once (a tenth of a second on a slow machine), then waits for ever.
    script = "import sys, time; print('started', flush=True); print('err', file=sys.stderr); "
    script += "time.sleep(600)"
    with pytest.raises(AssertionError) as failed:
        run_within([sys.executable, "-c", script], 5)
    message = str(failed.value)
    assert "still running after 5 s; its output so far:\nstarted\n\nerr\n" in message, message
