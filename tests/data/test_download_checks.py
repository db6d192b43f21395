"""What a download must prove before it is trusted: not a web page, complete, the catalog's size.

Also: verifying a good copy in a read-only data folder. Sources are ``file://`` URLs and a
local HTTP server on 127.0.0.1 (no internet needed).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hsi_app.data.download import DownloadError, fetch, read_sums
from hsi_app.errors import InvalidDataError

SIZE = 300_001
PAGE = b"<!DOCTYPE html><html><body>Please complete the security check</body></html>"


def _blob(path: Path, seed: int = 0, size: int = SIZE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture()
def www(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------- web pages instead of data


def test_a_web_page_served_for_a_mat_file_is_refused(www: tuple[str, Path], tmp_path: Path) -> None:
    base, root = www
    (root / "PaviaU.mat").write_bytes(PAGE)
    dst = tmp_path / "data" / "pavia" / "PaviaU.mat"
    with pytest.raises(DownloadError) as info:
        fetch(f"{base}/PaviaU.mat", dst, progress=False)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("PaviaU.mat: the server sent a web page (HTML)")
    assert "login or consent page or a moved URL" in msg and f"place it at {dst}" in msg
    assert not (tmp_path / "data").exists(), "nothing is left behind or recorded"


@pytest.mark.parametrize(
    "page",
    [b"\n  <html><head></head></html>", b"\xef\xbb\xbf<!doctype HTML>", b'<?xml version="1.0"?>\n<html/>',
     b"<HEAD><title>302 Found</title>"],
)  # fmt: skip
def test_web_page_variants_are_recognised(tmp_path: Path, page: bytes) -> None:
    src = tmp_path / "remote" / "x"
    src.parent.mkdir()
    src.write_bytes(page)
    with pytest.raises(DownloadError, match="web page"):
        fetch(src.as_uri(), tmp_path / "out" / "cube.TIF", progress=False)
    assert _leftovers(tmp_path / "out") == []


def test_a_web_page_is_fine_where_no_binary_format_is_named(tmp_path: Path) -> None:
    src = tmp_path / "remote" / "x"
    src.parent.mkdir()
    src.write_bytes(PAGE)
    dst = fetch(src.as_uri(), tmp_path / "out" / "notes.html", progress=False)
    assert dst.read_bytes() == PAGE and read_sums(dst.parent) == {"notes.html": hashlib.sha256(PAGE).hexdigest()}


def test_binary_data_that_mentions_html_later_is_accepted(tmp_path: Path) -> None:
    src = _blob(tmp_path / "remote" / "x")
    src.write_bytes(b"MATLAB 5.0 MAT-file" + b"<html>" + src.read_bytes())
    dst = fetch(src.as_uri(), tmp_path / "out" / "cube.mat", progress=False)
    assert _sha(dst) == _sha(src)


def test_an_existing_web_page_is_refused_even_when_recorded(tmp_path: Path) -> None:
    """A page saved (and recorded) by an earlier version is not 'verified' by its own digest."""
    dst = tmp_path / "pavia" / "PaviaU.mat"
    dst.parent.mkdir()
    dst.write_bytes(PAGE)
    (dst.parent / "SHA256SUMS").write_text(f"{hashlib.sha256(PAGE).hexdigest()}  PaviaU.mat\n")
    good = _blob(tmp_path / "remote" / "PaviaU.mat")
    with pytest.raises(InvalidDataError) as info:
        fetch(good.as_uri(), dst, progress=False)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{dst}: is a web page (HTML), not .mat data")
    assert "--force" in msg and dst.read_bytes() == PAGE
    fetch(good.as_uri(), dst, progress=False, overwrite=True)  # --force repairs it
    assert _sha(dst) == _sha(good) and read_sums(dst.parent) == {"PaviaU.mat": _sha(good)}
