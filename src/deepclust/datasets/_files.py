"""Where a dataset's files are: found on this machine, or downloaded and checksum-verified.

Files already on the machine are used as they are (each reader checks its format); only the
files deepclust downloads itself are checked against the published checksums, by
:func:`deepclust._download.fetch`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from .._download import DownloadError, fetch

__all__ = ["DatasetNotFoundError", "Remote", "data_home", "locate"]

logger = logging.getLogger(__name__)

# For tests: download every file from this base URL (``f"{_MIRROR_OVERRIDE}/{name}"``) instead
# of its official mirrors.
_MIRROR_OVERRIDE: str | None = None


class DatasetNotFoundError(DownloadError, FileNotFoundError):
    """A dataset's files are not on this machine and could not be downloaded."""


class Remote(NamedTuple):
    """Where one file is published (mirrors, tried in turn) and its checksum.

    ``checksum`` is ``"sha256:<hex>"`` or ``"md5:<hex>"`` (see :func:`deepclust._download.fetch`).
    """

    urls: tuple[str, ...]
    checksum: str


def data_home() -> Path:
    """Where deepclust looks for dataset files: ``$DEEPCLUST_DATA`` or ``~/.deepclust/data``.

    A leading ``~`` in ``$DEEPCLUST_DATA`` is the home directory; an empty value counts as unset
    (not as the current directory).
    """
    return Path(os.environ.get("DEEPCLUST_DATA") or Path.home() / ".deepclust" / "data").expanduser()


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
        :class:`DatasetNotFoundError`, also a :class:`~deepclust._download.DownloadError`).
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
        _download(remotes[name], target / name, what, where, hint)
    return target


def _download(remote: Remote, path: Path, what: str, where: str, hint: str) -> None:
    urls = (f"{_MIRROR_OVERRIDE.rstrip('/')}/{path.name}",) if _MIRROR_OVERRIDE else remote.urls
    failures = []
    for url in urls:
        logger.info("Downloading %s to %s", url, path)
        try:
            fetch(url, path, remote.checksum)
            return
        except DownloadError as exc:  # offline, a server error or a bad checksum: next mirror
            failures.append(exc)
    raise DatasetNotFoundError(
        f"{what}: {path.name} is not in {where} and could not be downloaded. "
        + " ".join(str(exc) for exc in failures) + hint
    ) from failures[-1]
