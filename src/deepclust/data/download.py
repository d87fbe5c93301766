"""Fetching dataset files with pooch: checksum-verified, atomic, safe to run from two processes at once.

:func:`fetch` wraps :func:`pooch.retrieve`, which streams a file into a temporary file beside its
destination, checks its checksum (SHA-256, or MD5 where that is all that is published) and only
then renames it into place. A crash, a full disk, a truncated or tampered download therefore never
leaves a bad file under the real name, and two processes downloading the same file at once each
rename a complete, identical copy: one good file remains. What this module adds: a file already
there with another checksum is an error (pooch would overwrite it), folders a failed download
created are removed again, the file is synced to disk with the mode a plainly created file gets,
and pooch's and requests' errors become a :class:`DownloadError` with a one-line message.

pooch is imported only when a file is hashed or downloaded: ``import deepclust.datasets`` does not.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from .atomic import _FILE_MODE, _fsync_directory

__all__ = ["DownloadError", "fetch", "sha256sum"]

_ALGORITHMS = {"sha256": ("SHA-256", 64), "md5": ("MD5", 32)}


class DownloadError(OSError):
    """A dataset file could not be downloaded, or did not match its checksum."""


def sha256sum(path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    import pooch

    return pooch.file_hash(str(path), alg="sha256")


def _parse_checksum(checksum: str) -> tuple[str, str]:
    """``(algorithm, lowercase hex)`` of ``"sha256:<hex>"``, ``"md5:<hex>"`` or a bare SHA-256."""
    algorithm, sep, hexdigest = checksum.partition(":")
    if not sep:
        algorithm, hexdigest = "sha256", checksum
    algorithm, hexdigest = algorithm.lower(), hexdigest.lower()
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"checksum={checksum!r} names an unknown algorithm {algorithm!r}; "
                         "use 'sha256:<hex>' or 'md5:<hex>'.")
    name, size = _ALGORITHMS[algorithm]
    if len(hexdigest) != size or any(c not in "0123456789abcdef" for c in hexdigest):
        raise ValueError(f"checksum={checksum!r} is not a {name} ({size} hexadecimal digits).")
    return algorithm, hexdigest


def fetch(url: str, path, checksum: str, *, timeout: float = 60.0, progress: bool | None = None) -> Path:
    """Return ``path``, downloading it from ``url`` first unless it is already there.

    Parameters
    ----------
    url : str
        Where the file is published.
    path : path-like
        Its destination; parent folders are created (and removed again, when still empty,
        if the download fails).
    checksum : str
        The file's expected checksum: ``"sha256:<hex>"``, ``"md5:<hex>"`` or a bare SHA-256
        hex digest. A file already at ``path`` with another checksum is an error (it is not
        overwritten); a download with another checksum is discarded.
    timeout : float, default=60
        Seconds to wait for the server at each step.
    progress : bool or None, default=None
        Show a progress bar (tqdm, on stderr) while downloading; None shows one when stderr is
        a terminal.

    Raises
    ------
    DownloadError
        When the machine is offline or the server fails (the message says where to put the file
        by hand), or when a checksum does not match.
    """
    path = Path(path)
    algorithm, expected = _parse_checksum(checksum)
    name = _ALGORITHMS[algorithm][0]
    import pooch
    import requests

    if path.exists():
        found = pooch.file_hash(str(path), alg=algorithm)
        if found != expected:
            raise DownloadError(
                f"{str(path)!r} exists but its {name} is {found}, not {expected}: it is damaged "
                "or a different file. Delete it to download it again."
            )
        return path
    created = _missing_folders(path.parent)
    if progress is None:
        progress = sys.stderr.isatty()
    downloader = _synced(pooch.HTTPDownloader(progressbar=progress, chunk_size=1 << 20, timeout=timeout))
    log = pooch.get_logger()  # quiet: pooch would print "Downloading data from ..." to stderr
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        pooch.retrieve(url, f"{algorithm}:{expected}", fname=path.name, path=path.parent,
                       downloader=downloader)
    except requests.RequestException as exc:  # offline, refused, timed out, HTTP error, cut short
        raise DownloadError(
            f"Could not download {url} ({_reason(exc)}). If this machine is offline, download "
            f"the file on another one and put it at {str(path)!r}."
        ) from exc
    except ValueError as exc:  # pooch: "... does not match the known hash: expected X but got Y. ..."
        got = re.search(r"\bgot ([0-9a-fA-F]+)", str(exc))
        raise DownloadError(
            f"The file downloaded from {url} has {name} {got.group(1).lower() if got else '(another)'}, "
            f"not {expected}: the download was corrupted or the file changed upstream. Nothing was "
            "kept; try again later."
        ) from exc
    finally:
        log.setLevel(level)
        if not path.exists():
            _remove_empty(created)  # a failed download leaves no new empty folder behind
    _fsync_directory(path.parent)  # make the rename durable
    return path


def _synced(http):
    """pooch's downloader ``http``, writing a file that is synced to disk and given the mode a plainly
    created file gets (not the temporary file's 0600) before pooch checks it and renames it into place."""
    def download(url, output_file, pooch):
        with open(output_file, "wb") as fh:
            http(url, fh, pooch)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(output_file, _FILE_MODE)
    return download


def _reason(exc: BaseException) -> str:
    """A short reason for a requests error: the HTTP status, or the innermost cause."""
    response = getattr(exc, "response", None)
    if response is not None:
        return f"HTTP {response.status_code} {response.reason}"
    while exc.args and isinstance(exc.args[0], BaseException):  # requests wraps urllib3's error
        exc = exc.args[0]
    exc = getattr(exc, "reason", None) or exc  # urllib3's MaxRetryError holds the cause
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return re.sub(r"^(<[^>]*>|\w+\([^)]*\)): ", "", text)  # without "HTTPConnection(host=...): "


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty: one holding anything (say another
    process's download) stays, and so do its parents."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
