"""An interrupted HTTP download keeps its bytes and the next fetch continues it (Range + If-Range)."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hsi_app.data import download
from hsi_app.data.download import DownloadError, fetch
from hsi_app.data.download_records import read_sums, remove_stale_parts
from hsi_app.data.download_resume import pending
from tests.local_http import serving

PAYLOAD = np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
CUT = 120_000
CHUNK = 10_000  # bytes per read: a read cut part-way is lost with its connection, so CUT is a multiple


class Server:
    """State of a test server: the file it serves (``body``, ``etag``), whether the next answer breaks off after
    :data:`CUT` bytes, whether it honours ``Range``, and the requests' headers and the bytes it sent."""

    def __init__(self, body: bytes = PAYLOAD, etag: str | None = '"v1"') -> None:
        self.body, self.etag = body, etag
        self.cut_next, self.ranges, self.if_range = True, True, True
        self.status_next: int | None = None  # answer the next request with this status and no body
        self.requests: list[dict[str, str]] = []
        self.sent: list[int] = []

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        state = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                state.requests.append(dict(self.headers.items()))
                status, state.status_next = state.status_next, None  # taken before answering: the client may send
                if status is not None:  # its next request (another server thread) as soon as it has these headers
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, start = state.body, 0
                asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                same = self.headers.get("If-Range") in (None, state.etag) or not state.if_range
                if asked and state.ranges and same:
                    start = int(asked.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                if state.etag is not None:
                    self.send_header("ETag", state.etag)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                rest = body[start:]
                if state.cut_next:
                    state.cut_next = False
                    rest = rest[:CUT]
                self.wfile.write(rest)
                state.sent.append(len(rest))
                self.close_connection = True

        return Handler


@pytest.fixture()
def server() -> Iterator[tuple[str, Server]]:
    state = Server()
    with serving(state.handler()) as url:
        yield url, state


def test_an_interrupted_download_is_continued_where_it_stopped(server: tuple[str, Server], tmp_path: Path) -> None:
    base, state = server
    dst = tmp_path / "d" / "cube.mat"
    with pytest.raises(DownloadError) as info:
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    msg = str(info.value)
    kept = dst.with_name("cube.mat.resume")
    assert "\n" not in msg and f"interrupted after {CUT} bytes" in msg and str(kept) in msg and "run the same" in msg
    assert not dst.exists() and kept.read_bytes() == PAYLOAD[:CUT]

    fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    assert dst.read_bytes() == PAYLOAD
    assert state.requests[1]["Range"] == f"bytes={CUT}-" and state.requests[1]["If-Range"] == '"v1"'
    assert state.sent == [CUT, len(PAYLOAD) - CUT], "the second request sent only the missing bytes"
    assert read_sums(dst.parent) == {"cube.mat": hashlib.sha256(PAYLOAD).hexdigest()}
    assert sorted(p.name for p in dst.parent.iterdir()) == ["SHA256SUMS", "cube.mat"], "the kept bytes are gone"


def test_a_file_changed_on_the_server_is_downloaded_whole_not_mixed(server: tuple[str, Server], tmp_path: Path) -> None:
    base, state = server
    dst = tmp_path / "cube.mat"
    with pytest.raises(DownloadError):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    state.body, state.etag = PAYLOAD[::-1], '"v2"'  # a new version: If-Range "v1" no longer matches
    fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    assert dst.read_bytes() == PAYLOAD[::-1] and state.sent[-1] == len(PAYLOAD)


def test_a_server_without_ranges_sends_the_whole_file_again(server: tuple[str, Server], tmp_path: Path) -> None:
    base, state = server
    dst = tmp_path / "cube.mat"
    with pytest.raises(DownloadError):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    state.ranges = False
    fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    assert dst.read_bytes() == PAYLOAD and state.sent[-1] == len(PAYLOAD)


def test_kept_bytes_for_another_url_or_past_the_end_are_not_used(server: tuple[str, Server], tmp_path: Path) -> None:
    base, state = server
    dst = tmp_path / "cube.mat"
    with pytest.raises(DownloadError):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    fetch(f"{base}/mirror/cube.mat", dst, progress=False, chunk_size=CHUNK)  # another URL: no Range asked
    assert dst.read_bytes() == PAYLOAD and "Range" not in state.requests[-1]

    dst = tmp_path / "other" / "cube.mat"
    state.cut_next = True
    with pytest.raises(DownloadError):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    state.body = PAYLOAD[:1000]  # shorter than the kept bytes, same ETag: the server answers 416
    fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    assert dst.read_bytes() == PAYLOAD[:1000]
    assert [r.get("Range") for r in state.requests[-2:]] == [f"bytes={CUT}-", None]


def test_nothing_is_kept_when_the_server_cannot_identify_the_file(tmp_path: Path) -> None:
    state = Server(etag=None)  # no ETag or Last-Modified, no published sha256: a resume could mix two versions
    with serving(state.handler()) as base:
        with pytest.raises(DownloadError, match="nothing was kept, run again to download it from the start"):
            fetch(f"{base}/cube.mat", tmp_path / "d" / "cube.mat", progress=False, chunk_size=CHUNK)
    assert not (tmp_path / "d").exists()


def test_a_published_sha256_allows_a_resume_and_checks_the_whole(tmp_path: Path) -> None:
    state = Server(etag=None)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    with serving(state.handler()) as base:
        with pytest.raises(DownloadError, match="kept them in"):
            fetch(f"{base}/cube.mat", tmp_path / "cube.mat", sha256=digest, progress=False, chunk_size=CHUNK)
        fetch(f"{base}/cube.mat", tmp_path / "cube.mat", sha256=digest, progress=False, chunk_size=CHUNK)
    assert (tmp_path / "cube.mat").read_bytes() == PAYLOAD and state.sent == [CUT, len(PAYLOAD) - CUT]


def test_a_wrong_whole_after_a_resume_removes_the_kept_bytes(server: tuple[str, Server], tmp_path: Path) -> None:
    base, state = server
    dst = tmp_path / "cube.mat"
    with pytest.raises(DownloadError):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    with pytest.raises(download.ChecksumError):
        fetch(f"{base}/cube.mat", dst, sha256="0" * 64, progress=False, chunk_size=CHUNK)
    assert list(tmp_path.iterdir()) == [], "neither the file nor the kept bytes stay"


def test_ctrl_c_keeps_the_bytes_and_says_where(server: tuple[str, Server], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    base, state = server
    real = download._iter_http

    def pressed(url: str, chunk_size: int, resume: object = None) -> download._Source:
        source = real(url, chunk_size, resume)

        def chunks() -> Iterator[bytes]:
            yield next(source.chunks)
            raise KeyboardInterrupt

        return source._replace(chunks=chunks())

    monkeypatch.setattr(download, "_iter_http", pressed)
    state.cut_next = False
    dst = tmp_path / "cube.mat"
    with pytest.raises(KeyboardInterrupt):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=50_000)
    kept = dst.with_name("cube.mat.resume")
    assert kept.read_bytes() == PAYLOAD[:50_000]
    assert f"interrupted after 50000 bytes (Ctrl-C); kept them in {kept}" in capsys.readouterr().err
    monkeypatch.setattr(download, "_iter_http", real)
    fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    assert dst.read_bytes() == PAYLOAD and state.requests[-1]["Range"] == "bytes=50000-"


# ---------------------------------------------------------------------------- review 1 (#1, #2, #4, #7, #8)


@pytest.mark.parametrize("status", [503, 429])
def test_a_fetch_that_never_reaches_the_file_keeps_the_bytes(server: tuple[str, Server], tmp_path: Path,
                                                            status: int) -> None:
    """The error line said 'kept them, run again to continue'; run again while the server failed threw them away."""
    base, state = server
    dst = tmp_path / "cube.mat"
    with pytest.raises(DownloadError):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    state.status_next = status
    with pytest.raises(DownloadError, match="the server failed"):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    assert dst.with_name("cube.mat.resume").read_bytes() == PAYLOAD[:CUT]
    fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    assert dst.read_bytes() == PAYLOAD and state.sent[-1] == len(PAYLOAD) - CUT


def test_offline_keeps_the_bytes(server: tuple[str, Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = server
    dst = tmp_path / "cube.mat"
    with pytest.raises(DownloadError):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    import requests

    def offline(*args: object, **kwargs: object) -> None:
        raise requests.ConnectionError("Failed to resolve 'example.org'")

    monkeypatch.setattr(requests, "get", offline)
    with pytest.raises(DownloadError, match="check your network connection"):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    assert dst.with_name("cube.mat.resume").read_bytes() == PAYLOAD[:CUT]
    assert pending(dst, f"{base}/cube.mat") is not None, "its record is back too"


def test_a_server_ignoring_if_range_does_not_stitch_two_versions(server: tuple[str, Server], tmp_path: Path) -> None:
    base, state = server
    dst = tmp_path / "cube.mat"
    with pytest.raises(DownloadError):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    state.if_range = False  # answers 206 whatever If-Range says, with the new version's ETag
    state.body, state.etag = PAYLOAD[::-1], '"v2"'
    fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    assert dst.read_bytes() == PAYLOAD[::-1]


def test_kept_bytes_are_taken_over_by_one_fetch_only(server: tuple[str, Server], tmp_path: Path) -> None:
    """Without a lock (Windows, NFS) two fetches continued the same file and one deleted it under the other."""
    base, _ = server
    dst = tmp_path / "cube.mat"
    with pytest.raises(DownloadError):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    old = time.time() - 3 * 86400
    os.utime(dst.with_name("cube.mat.resume"), (old, old))
    first = pending(dst, f"{base}/cube.mat")
    assert first is not None and first.path.read_bytes() == PAYLOAD[:CUT] and first.offset == CUT
    assert first.path.name.endswith(".part") and pending(dst, f"{base}/cube.mat") is None
    remove_stale_parts(dst)  # kept for days, taken over now: not swept from under this fetch
    assert first.path.exists()
    assert not dst.with_name("cube.mat.resume").exists() and not dst.with_name("cube.mat.resume.json").exists()


def test_a_file_placed_by_hand_clears_the_kept_bytes(server: tuple[str, Server], tmp_path: Path) -> None:
    base, _ = server
    dst = tmp_path / "cube.mat"
    with pytest.raises(DownloadError):
        fetch(f"{base}/cube.mat", dst, progress=False, chunk_size=CHUNK)
    dst.write_bytes(PAYLOAD)  # downloaded in a browser, as the 401/403 line advises
    fetch(f"{base}/cube.mat", dst, sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SHA256SUMS", "cube.mat"]


def test_kept_bytes_of_a_file_the_catalog_no_longer_expects_are_not_continued(tmp_path: Path) -> None:
    """Kept under a published sha256 that the catalog has since replaced: the new file's tail was appended and the
    fetch failed with 'corrupted in transit'."""
    state = Server(etag=None)
    with serving(state.handler()) as base:
        with pytest.raises(DownloadError, match="kept them in"):
            fetch(f"{base}/cube.mat", tmp_path / "cube.mat", sha256=hashlib.sha256(PAYLOAD).hexdigest(),
                  progress=False, chunk_size=CHUNK)
        state.body = PAYLOAD[::-1]
        fetch(f"{base}/cube.mat", tmp_path / "cube.mat", sha256=hashlib.sha256(PAYLOAD[::-1]).hexdigest(),
              progress=False, chunk_size=CHUNK)
    assert (tmp_path / "cube.mat").read_bytes() == PAYLOAD[::-1] and "Range" not in state.requests[-1]
