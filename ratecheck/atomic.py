"""Atomic file writes: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fileobj)`` on a temp file beside ``path`` and rename it into place.

    A reader never sees a half-written file: either the old content or the new one. The temp
    file's name carries the writer's process id (``.<name>.pid<pid>.<random>.tmp``), so that a
    cleanup can tell the leftovers of a dead writer from the files of a live one
    (``stale_temp_files``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    data = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
    return atomic_write(path, lambda f: f.write(data))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Temp files in ``folder`` left by writers that are no longer running (killed mid-write).

    A file whose name has no process id (an older layout) counts as stale; one whose process is
    alive is another writer's work in progress and is never listed.
    """
    out = []
    for tmp in Path(folder).glob(".*.tmp"):
        m = re.search(r"\.pid(\d+)\.", tmp.name)
        if m is None or not _alive(int(m.group(1))):
            out.append(tmp)
    return out
