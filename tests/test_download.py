"""Dataset downloads against a real HTTP server on loopback: checksums, atomic renames, offline
errors, and two processes downloading the same file at once."""

import hashlib
import http.server
import socket
import subprocess
import sys
import threading
import time

import pytest

from deepclust.data.download import DownloadError, fetch, sha256sum

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """/good: the payload, in pieces; /bad: other bytes; /cut: a truncated body; /together: the
    payload, once two requests are in flight at the same time."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        routes = {"/good": PAYLOAD, "/bad": PAYLOAD[::-1], "/cut": PAYLOAD, "/together": PAYLOAD}
        body = routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if self.path == "/together":
            self.server.together.wait()  # both downloads are now under way
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/cut":
            self.wfile.write(body[: len(body) // 3])
            return  # the connection closes early
        for start in range(0, len(body), 64 * 1024):
            self.wfile.write(body[start:start + 64 * 1024])
            time.sleep(self.server.delay)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.delay = 0.0
    httpd.together = threading.Barrier(2, timeout=60)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_download_is_checked_and_renamed_into_place(server, tmp_path):
    _, url = server
    path = fetch(f"{url}/good", tmp_path / "sub" / "file.gz", DIGEST)
    assert path.read_bytes() == PAYLOAD and sha256sum(path) == DIGEST
    assert _leftovers(path.parent) == []


def test_an_existing_good_file_is_used_without_the_network(tmp_path):
    path = tmp_path / "file.gz"
    path.write_bytes(PAYLOAD)
    assert fetch("http://127.0.0.1:9/unreachable", path, DIGEST) == path


def test_an_existing_damaged_file_is_an_error_and_kept(tmp_path):
    path = tmp_path / "file.gz"
    path.write_bytes(b"not it")
    with pytest.raises(DownloadError, match="damaged or a different file. Delete it"):
        fetch("http://127.0.0.1:9/unreachable", path, DIGEST)
    assert path.read_bytes() == b"not it"


def test_an_md5_checksum_is_checked_too(server, tmp_path):
    _, url = server
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = fetch(f"{url}/good", tmp_path / "file.bz2", f"md5:{md5}")
    assert path.read_bytes() == PAYLOAD
    assert fetch("http://127.0.0.1:9/unreachable", path, f"MD5:{md5.upper()}") == path  # already there
    with pytest.raises(DownloadError, match=f"has MD5 [0-9a-f]{{32}}, not {md5}"):
        fetch(f"{url}/bad", tmp_path / "other.bz2", f"md5:{md5}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bz2"]


@pytest.mark.parametrize("checksum", ["sha1:" + "0" * 40, "md5:" + "0" * 64, DIGEST[:-1], "md5:" + "g" * 32])
def test_a_malformed_checksum_is_refused_before_downloading(tmp_path, checksum):
    with pytest.raises(ValueError, match="checksum="):
        fetch("http://127.0.0.1:9/unreachable", tmp_path / "file.gz", checksum)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("route", ["/bad", "/cut", "/missing"])
def test_a_bad_download_leaves_nothing_behind(server, tmp_path, route):
    _, url = server
    with pytest.raises(DownloadError) as info:
        fetch(f"{url}{route}", tmp_path / "file.gz", DIGEST)
    assert url + route in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("route", ["/bad", "/missing"])
def test_a_failed_download_removes_the_folders_it_made(server, tmp_path, route):
    _, url = server
    with pytest.raises(DownloadError):
        fetch(f"{url}{route}", tmp_path / "new" / "sub" / "file.gz", DIGEST)
    assert list(tmp_path.iterdir()) == []  # neither sub nor new is left
    (tmp_path / "kept").mkdir()  # a folder that was there stays, empty or not
    with pytest.raises(DownloadError):
        fetch(f"{url}{route}", tmp_path / "kept" / "new" / "file.gz", DIGEST)
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")] == ["kept"]
    fetch(f"{url}/good", tmp_path / "kept" / "new" / "file.gz", DIGEST)  # and a success keeps its own
    assert (tmp_path / "kept" / "new" / "file.gz").read_bytes() == PAYLOAD


def test_offline_gives_a_clear_error(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="offline, download the file on another one and put it at"):
        fetch(f"http://127.0.0.1:{port}/good", tmp_path / "file.gz", DIGEST, timeout=5)
    assert list(tmp_path.iterdir()) == []


_FETCH = (
    "import sys; from deepclust.data.download import fetch; "
    "fetch(sys.argv[1], sys.argv[2], sys.argv[3]); print('ok')"
)


def test_two_processes_downloading_at_once_leave_one_good_file(server, tmp_path):
    httpd, url = server
    httpd.delay = 0.01
    target = tmp_path / "file.gz"
    # The server answers neither before both have asked: the two writes overlap.
    procs = [subprocess.Popen([sys.executable, "-c", _FETCH, f"{url}/together", str(target), DIGEST],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert not httpd.together.broken
    assert target.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.gz"]


@pytest.mark.parametrize("route", ["/cut", "/missing", "offline"])
def test_a_failed_download_is_one_plain_line(server, tmp_path, route):
    _, url = server
    if route == "offline":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            url, route = f"http://127.0.0.1:{sock.getsockname()[1]}", "/good"
    with pytest.raises(DownloadError) as info:
        fetch(f"{url}{route}", tmp_path / "file.gz", DIGEST, timeout=5)
    message = str(info.value)
    assert "\n" not in message and "((" not in message and "object at 0x" not in message, message
    assert message.startswith(f"Could not download {url}{route} (")


def test_a_download_gets_a_plain_mode_and_a_progress_bar_only_when_asked(server, tmp_path, capfd):
    import os
    import stat

    _, url = server
    fetch(f"{url}/good", tmp_path / "quiet.gz", DIGEST)  # stderr is not a terminal: no bar, no log
    assert capfd.readouterr().err == ""
    path = fetch(f"{url}/good", tmp_path / "file.gz", DIGEST, progress=True)
    assert "100%" in capfd.readouterr().err
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not the temporary file's 0600
