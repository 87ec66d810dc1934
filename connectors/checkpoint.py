"""A checkpoint file that survives a crash: it holds either the old state or the new one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from connectors.errors import CheckpointError
from connectors.state import CursorState

__all__ = ["Checkpoint", "atomic_write"]


class Checkpoint:
    """One JSON file holding a stream's `CursorState`, replaced atomically on every save."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load(self) -> CursorState:
        """The saved state, or an empty one when nothing was saved yet."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return CursorState()
        try:
            return CursorState.from_dict(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValueError, AttributeError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {self.path} is unreadable: {exc}") from exc

    def save(self, state: CursorState) -> None:
        """Write temp file in the same directory, fsync, rename over the old one, fsync dir."""
        atomic_write(self.path, orjson.dumps(state.to_dict(), option=orjson.OPT_INDENT_2))

    # -- the pending page's rows, for sources that cannot re-read a page ----------------------

    @property
    def spool_path(self) -> Path:
        return self.path.with_name(self.path.name + ".pending")

    def save_spool(self, document: dict[str, Any]) -> None:
        """Keep the rows of the page about to be sent (written before the pending mark)."""
        atomic_write(self.spool_path, orjson.dumps(document))

    def load_spool(self) -> dict[str, Any] | None:
        """The spooled page, or None when there is none or it cannot be read."""
        try:
            data = orjson.loads(self.spool_path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new content."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (e.g. Windows).
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
