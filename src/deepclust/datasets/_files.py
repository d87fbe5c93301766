"""Where a dataset's files are: found on this machine, or downloaded and checksum-verified.

Files already on the machine are used as they are (each reader checks its format); only the
files deepclust downloads itself are checked against the published checksums, by
:func:`deepclust.data.download.fetch`.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from ..data.download import DownloadError, fetch

__all__ = ["DatasetNotFoundError", "Remote", "data_folder", "data_home", "locate", "readable"]

logger = logging.getLogger(__name__)

# For tests: download every file from this base URL (``f"{_MIRROR_OVERRIDE}/{name}"``) instead
# of its official mirrors.
_MIRROR_OVERRIDE: str | None = None


class DatasetNotFoundError(DownloadError, FileNotFoundError):
    """A dataset's files are not on this machine and could not be downloaded."""


class Remote(NamedTuple):
    """Where one file is published (mirrors, tried in turn) and its checksum.

    ``checksum`` is ``"sha256:<hex>"`` or ``"md5:<hex>"`` (see :func:`deepclust.data.download.fetch`).
    """

    urls: tuple[str, ...]
    checksum: str


def data_home() -> Path:
    """Where deepclust looks for dataset files: ``$DEEPCLUST_DATA`` or ``~/.deepclust/data``.

    A leading ``~`` in ``$DEEPCLUST_DATA`` is the home directory; an empty value counts as unset
    (not as the current directory).
    """
    return Path(os.environ.get("DEEPCLUST_DATA") or Path.home() / ".deepclust" / "data").expanduser()


def data_folder(data_dir, default: str) -> Path:
    """A loader's folder: ``data_dir`` with a leading ``~`` expanded, or ``data_home() / default``
    when it is None (or empty)."""
    return Path(os.fspath(data_dir)).expanduser() if data_dir else data_home() / default


# What reading a damaged or truncated .gz / .bz2 file raises: EOFError (cut short),
# gzip.BadGzipFile and OSError (not a gzip / bzip2 stream, a bad CRC), zlib.error (bad data).
_DAMAGED = (EOFError, OSError, zlib.error, gzip.BadGzipFile)


def _damaged(path, exc: BaseException) -> ValueError:
    return ValueError(
        f"{str(path)!r} is damaged or truncated: it cannot be decompressed ({type(exc).__name__}: "
        f"{exc}). Delete it and load again to download it again (or put an intact copy there).")


@contextmanager
def readable(*paths) -> Iterator[None]:
    """Turn the low-level error of reading a damaged compressed file (one of ``paths``) in the
    block into a ValueError naming it and saying what to do. The system's own errors (a missing
    file, no permission: an OSError with an errno) are left as they are."""
    try:
        yield
    except _DAMAGED as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise (_damaged(paths[0], exc) if len(paths) == 1 else _first_damaged(paths, exc)) from exc


def _first_damaged(paths: Sequence[Path], exc: BaseException) -> ValueError:
    """The ValueError for ``exc``, raised while reading several compressed ``paths`` at once:
    it names the first that does not decompress to its end (all of them when none is found)."""
    for path in paths:
        opener = {".gz": gzip.open, ".bz2": bz2.open}.get(Path(path).suffix)
        if opener is None:
            continue
        try:
            with opener(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except _DAMAGED as found:
            if not (isinstance(found, OSError) and found.errno is not None):
                return _damaged(path, found)
    return ValueError(f"{', '.join(repr(str(p)) for p in paths)}: one of them is damaged or truncated "
                      f"({type(exc).__name__}: {exc}). Delete it and load again to download it again.")


def locate(what: str, remotes: Mapping[str, Remote], folders: Sequence[Path], *, download: bool,
           hint: str = "") -> Path:
    """The first of ``folders`` that holds every file named in ``remotes``.

    When none does, the files missing from ``folders[0]`` are downloaded into it (if
    ``download``) and ``folders[0]`` is returned.

    Parameters
    ----------
    what : str
        The dataset's name, for messages.
    remotes : mapping of str to Remote
        The file names needed and where each is published.
    folders : sequence of Path
        Where to look, in order; the first is where downloads go.
    download : bool
        Whether missing files may be downloaded.
    hint : str, default=""
        A sentence appended to the error messages (another way to get the files).

    Raises
    ------
    FileNotFoundError
        When files are missing and ``download`` is False, or when a download failed (then a
        :class:`DatasetNotFoundError`, also a :class:`~deepclust.data.download.DownloadError`;
        downloads stop at the first file that fails). Either message names every file still
        missing and the folder to put them in.
    """
    for folder in folders:
        if all((folder / name).is_file() for name in remotes):
            return folder
    target = folders[0]
    missing = [name for name in remotes if not (target / name).is_file()]
    where = " or ".join(repr(str(folder)) for folder in folders)
    hint = f" {hint}" if hint else ""
    if not download:
        them = "them" if len(missing) > 1 else "it"
        raise FileNotFoundError(
            f"{what}: {', '.join(missing)} not found in {where}, and download=False. Call again "
            f"with download=True to download {them} into {str(target)!r}, or put {them} there "
            f"yourself.{hint}"
        )
    for name in missing:
        failures = _download(remotes[name], target / name)
        if failures:  # offline, most likely: the files after it are not tried
            left = [n for n in missing if not (target / n).is_file()]
            them = "them" if len(left) > 1 else "it"
            untried = f" ({name} failed; the others were not tried)" if len(left) > 1 else ""
            raise DatasetNotFoundError(
                f"{what}: {', '.join(left)} not found in {where} and could not be downloaded"
                f"{untried}. " + " ".join(str(exc) for exc in failures)
                + f" Download {them} on another machine and put {them} in {str(target)!r}, then "
                f"call again.{hint}"
            ) from failures[-1]
    return target


def _download(remote: Remote, path: Path) -> list[DownloadError]:
    """Download one file from its first mirror that works: [] when done, else each mirror's error."""
    urls = (f"{_MIRROR_OVERRIDE.rstrip('/')}/{path.name}",) if _MIRROR_OVERRIDE else remote.urls
    failures = []
    for url in urls:
        logger.info("Downloading %s to %s", url, path)
        try:
            fetch(url, path, remote.checksum)
            return []
        except DownloadError as exc:  # offline, a server error or a bad checksum: next mirror
            failures.append(exc)
    return failures
