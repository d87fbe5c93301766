"""Fetching dataset files: checksum-verified, atomic, safe to run from two processes at once.

A file is downloaded into a uniquely named temporary file beside its destination, its SHA-256
is checked while it streams, and only a complete file with the expected checksum is renamed into
place (an atomic ``os.replace``). A crash, a full disk, a truncated or tampered download therefore
never leaves a bad file under the real name, and two processes downloading the same file at once
each rename a complete, identical copy: one good file remains.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path

from ._atomic import atomic_file

__all__ = ["DownloadError", "fetch", "sha256sum"]

_CHUNK = 1 << 20


class DownloadError(OSError):
    """A dataset file could not be downloaded, or did not match its checksum."""


def sha256sum(path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, path, sha256: str, *, timeout: float = 60.0) -> Path:
    """Return ``path``, downloading it from ``url`` first unless it is already there.

    Parameters
    ----------
    url : str
        Where the file is published.
    path : path-like
        Its destination; parent folders are created.
    sha256 : str
        The file's expected SHA-256 (hex). A file already at ``path`` with another checksum is
        an error (it is not overwritten); a download with another checksum is discarded.
    timeout : float, default=60
        Seconds to wait for the server at each step.

    Raises
    ------
    DownloadError
        When the machine is offline or the server fails (the message says where to put the file
        by hand), or when a checksum does not match.
    """
    path = Path(path)
    expected = sha256.lower()
    if path.exists():
        found = sha256sum(path)
        if found != expected:
            raise DownloadError(
                f"{str(path)!r} exists but its SHA-256 is {found}, not {expected}: it is damaged "
                "or a different file. Delete it to download it again."
            )
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
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
                f"The file downloaded from {url} has SHA-256 {digest.hexdigest()}, not {expected}: "
                "the download was corrupted or the file changed upstream. Nothing was kept; "
                "try again later."
            )
    return path
