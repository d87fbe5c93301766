"""Fetching dataset files: checksum-verified, atomic, safe to run from two processes at once.

A file is downloaded into a uniquely named temporary file beside its destination, its checksum
(SHA-256, or MD5 where that is all that is published) is checked while it streams, and only a
complete file with the expected checksum is renamed into place (an atomic ``os.replace``). A
crash, a full disk, a truncated or tampered download therefore never leaves a bad file under the
real name, and two processes downloading the same file at once each rename a complete, identical
copy: one good file remains.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path

from .atomic import atomic_file

__all__ = ["DownloadError", "fetch", "sha256sum"]

_CHUNK = 1 << 20
_ALGORITHMS = {"sha256": "SHA-256", "md5": "MD5"}


class DownloadError(OSError):
    """A dataset file could not be downloaded, or did not match its checksum."""


def sha256sum(path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    return _file_digest(path, "sha256")


def _file_digest(path, algorithm: str) -> str:
    digest = _new_digest(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _new_digest(algorithm: str):
    # MD5 here only tells an intact download from a damaged one (the checksums some datasets
    # publish are MD5s); usedforsecurity=False keeps it available on FIPS-mode systems.
    return hashlib.new(algorithm, usedforsecurity=False)


def _parse_checksum(checksum: str) -> tuple[str, str]:
    """``(algorithm, lowercase hex)`` of ``"sha256:<hex>"``, ``"md5:<hex>"`` or a bare SHA-256."""
    algorithm, sep, hexdigest = checksum.partition(":")
    if not sep:
        algorithm, hexdigest = "sha256", checksum
    algorithm, hexdigest = algorithm.lower(), hexdigest.lower()
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"checksum={checksum!r} names an unknown algorithm {algorithm!r}; "
                         "use 'sha256:<hex>' or 'md5:<hex>'.")
    size = 2 * hashlib.new(algorithm, usedforsecurity=False).digest_size
    if len(hexdigest) != size or any(c not in "0123456789abcdef" for c in hexdigest):
        raise ValueError(f"checksum={checksum!r} is not a {_ALGORITHMS[algorithm]} "
                         f"({size} hexadecimal digits).")
    return algorithm, hexdigest


def fetch(url: str, path, checksum: str, *, timeout: float = 60.0) -> Path:
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

    Raises
    ------
    DownloadError
        When the machine is offline or the server fails (the message says where to put the file
        by hand), or when a checksum does not match.
    """
    path = Path(path)
    algorithm, expected = _parse_checksum(checksum)
    name = _ALGORITHMS[algorithm]
    if path.exists():
        found = _file_digest(path, algorithm)
        if found != expected:
            raise DownloadError(
                f"{str(path)!r} exists but its {name} is {found}, not {expected}: it is damaged "
                "or a different file. Delete it to download it again."
            )
        return path
    created = _missing_folders(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _download(url, path, algorithm, expected, timeout)
    except BaseException:
        _remove_empty(created)  # a failed download leaves no new empty folder behind
        raise
    return path


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


def _download(url: str, path: Path, algorithm: str, expected: str, timeout: float) -> None:
    """Stream ``url`` into ``path`` atomically, checking its digest; a DownloadError if not."""
    name = _ALGORITHMS[algorithm]
    digest = _new_digest(algorithm)
    with atomic_file(path) as fh:  # renamed into place only if the block completes
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                while chunk := response.read(_CHUNK):
                    fh.write(chunk)
                    digest.update(chunk)
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(
                f"Could not download {url} ({reason}). If this machine is offline, download "
                f"the file on another one and put it at {str(path)!r}."
            ) from exc
        if digest.hexdigest() != expected:
            raise DownloadError(
                f"The file downloaded from {url} has {name} {digest.hexdigest()}, not {expected}: "
                "the download was corrupted or the file changed upstream. Nothing was kept; "
                "try again later."
            )
