import os
from pathlib import Path

import orjson
import pytest

from connectors.checkpoint import Checkpoint
from connectors.errors import CheckpointError, FatalError
from connectors.state import CursorState


def test_missing_file_loads_an_empty_state(tmp_path):
    assert Checkpoint(tmp_path / "none.json").load() == CursorState()


def test_save_then_load(tmp_path):
    checkpoint = Checkpoint(tmp_path / "sub" / "tax.json")
    state = CursorState(cursor=500, batches=1, records=500).begin_page(1000, 500)
    checkpoint.save(state)
    assert Checkpoint(tmp_path / "sub" / "tax.json").load() == state
    assert orjson.loads((tmp_path / "sub" / "tax.json").read_bytes())["cursor"] == 500


def test_crash_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    checkpoint = Checkpoint(tmp_path / "tax.json")
    old = CursorState(cursor=100, batches=1, records=100)
    checkpoint.save(old)

    def dying_fsync(fd: int) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "fsync", dying_fsync)
    with pytest.raises(OSError, match="power cut"):
        checkpoint.save(old.advance(200, 100))
    monkeypatch.undo()
    assert checkpoint.load() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tax.json"]  # no temp file left


def test_crash_before_the_rename_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    checkpoint = Checkpoint(tmp_path / "tax.json")
    old = CursorState(cursor=100)
    checkpoint.save(old)

    def dying_replace(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # even a BaseException must not leave a half-written file

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(CursorState(cursor=999))
    monkeypatch.undo()
    assert checkpoint.load() == old
    assert [p.name for p in tmp_path.iterdir()] == ["tax.json"]


def test_the_new_file_is_complete_before_it_replaces_the_old(tmp_path, monkeypatch):
    checkpoint = Checkpoint(tmp_path / "tax.json")
    checkpoint.save(CursorState(cursor=1))
    seen = []
    real_replace = os.replace

    def spying_replace(src: str, dst: str) -> None:
        seen.append(orjson.loads(Path(src).read_bytes())["cursor"])
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spying_replace)
    checkpoint.save(CursorState(cursor=2))
    assert seen == [2]


def test_corrupt_file_is_a_fatal_error(tmp_path):
    path = tmp_path / "tax.json"
    path.write_bytes(b'{"version": 1, "cursor": ')
    with pytest.raises(CheckpointError) as info:
        Checkpoint(path).load()
    assert isinstance(info.value, FatalError)
    assert str(path) in str(info.value)
