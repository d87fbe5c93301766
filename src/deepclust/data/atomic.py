"""Atomic file writes, shared by model files, checkpoints and downloads.

The new content goes to a uniquely named temporary file beside the destination, is flushed to
disk and renamed over the destination (``os.replace``, atomic on POSIX and Windows): the file
under the real name is always a complete one, the old or the new, whatever happens meanwhile.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _file_mode() -> int:
    """The mode a plainly created file gets (0666 less the umask); mkstemp alone gives 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


@contextmanager
def atomic_file(path) -> Iterator[BinaryIO]:
    """Yield a binary file; when the block ends without an exception it replaces ``path``.

    On an exception (raise one to reject what was written) the temporary file is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable(folder) -> None:
    """Create and remove a file in ``folder``: an OSError (the system's) if it takes none. Run
    before long work whose result goes there, so that it fails first, not last."""
    tempfile.NamedTemporaryFile(dir=folder, prefix=".probe.").close()
