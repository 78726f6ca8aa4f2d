"""The code fingerprint's parse cache: kept by file content across processes, never trusted
over the files themselves, and optional."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cstp.planning import code

ROOT = Path(__file__).resolve().parents[1] / "cstp"


@pytest.fixture
def library(tmp_path, monkeypatch):
    """A copy of the library and an empty cache folder; each test starts as a new process."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code._stored.cache_clear()
    yield shutil.copytree(ROOT, tmp_path / "cstp")
    code._stored.cache_clear()


def _new_process():
    code._stored.cache_clear()


def test_a_second_process_reads_the_parses_and_gets_the_same_fingerprint(library, monkeypatch):
    cold = code.fingerprint("features", library)
    stored = json.loads(code.cache_file().read_text())
    assert len(stored) == len(cold["modules"])
    _new_process()

    def parse(path, name):
        raise AssertionError(f"{name} parsed again")

    monkeypatch.setattr(code, "_parse", parse)
    assert code.fingerprint("features", library) == cold


def test_an_edited_module_is_parsed_again_and_changes_the_fingerprint(library):
    before = code.fingerprint("features", library)
    probe = library / "engine" / "probe.py"
    probe.write_text(probe.read_text() + "\nEDITED = 1\n")
    _new_process()
    after = code.fingerprint("features", library)
    assert code.changed(before, after) == ["cstp.engine.probe"]
    code.cache_file().unlink()
    _new_process()
    assert code.fingerprint("features", library) == after  # as without a cache


def test_a_damaged_or_unwritable_cache_is_ignored(library, tmp_path, monkeypatch):
    clean = code.fingerprint("pretrain", library)
    code.cache_file().write_text('{"1 cstp.cli')
    _new_process()
    assert code.fingerprint("pretrain", library) == clean
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    _new_process()
    assert code.fingerprint("pretrain", library) == clean
