"""What a failed HTTP download tells the user to do, by cause (audit dlaudit #5).

Before, a 404 (the file moved) and a 500/503 (the server failed) both said "check your network
connection and the URL", which sends a user with a working network looking in the wrong place;
an interrupted download said "N bytes saved" although nothing is kept.
"""

from __future__ import annotations

import http.server
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsi_app.data import download
from hsi_app.data.download import DownloadError, fetch
from tests.local_http import serving


class Server(http.server.BaseHTTPRequestHandler):
    """``/status/<code>/<name>``: that status; ``/stall/<name>``: 10 of 100000 bytes, then silence."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        parts = self.path.strip("/").split("/")
        if parts[0] == "status":
            self.send_error(int(parts[1]))
            return
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"x" * 10)
        self.wfile.flush()
        time.sleep(1.5)


@pytest.fixture()
def server() -> Iterator[str]:
    with serving(Server) as url:
        yield url


@pytest.mark.parametrize("code", [404, 410])
def test_a_missing_file_says_it_moved_and_where_to_save_it(server: str, tmp_path: Path, code: int) -> None:
    dst = tmp_path / "salinas" / "Salinas_gt.mat"
    with pytest.raises(DownloadError) as info:
        fetch(f"{server}/status/{code}/Salinas_gt.mat", dst, progress=False)
    msg = str(info.value)
    assert "\n" not in msg and f"the server has no file there (HTTP {code}" in msg
    assert "moved" in msg and f"save it as {dst}, and run again" in msg
    assert "network" not in msg and not dst.parent.exists()


@pytest.mark.parametrize("code", [500, 503, 429])
def test_a_server_failure_says_to_try_later(server: str, tmp_path: Path, code: int) -> None:
    dst = tmp_path / "x.mat"
    with pytest.raises(DownloadError) as info:
        fetch(f"{server}/status/{code}/x.mat", dst, progress=False)
    msg = str(info.value)
    assert f"the server failed to send the file (HTTP {code}" in msg and "run again later" in msg
    assert "network" not in msg and list(tmp_path.iterdir()) == []


def test_a_stalled_download_says_nothing_was_kept(server: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "HTTP_TIMEOUT_S", (5.0, 0.5))
    dst = tmp_path / "d" / "x.mat"
    with pytest.raises(DownloadError) as info:
        fetch(f"{server}/stall/x.mat", dst, progress=False)
    msg = str(info.value)
    assert "download interrupted after" in msg and "timed out" in msg
    assert "saved" not in msg and "nothing was kept, run again" in msg
    assert not (tmp_path / "d").exists(), "no partial file is left"
