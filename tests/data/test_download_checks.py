"""What a download must prove before it is trusted: not a web page, complete, the catalog's size.

Also: verifying a good copy in a read-only data folder. Sources are ``file://`` URLs and a
local HTTP server on 127.0.0.1 (no internet needed).
"""

from __future__ import annotations

import errno
import hashlib
import http.server
import json
import os
import warnings
from collections.abc import Callable, Iterator
from http.client import IncompleteRead
from pathlib import Path

import numpy as np
import pytest

from hsi_app.data import download
from hsi_app.data.catalog import DEFAULT_CATALOG_PATH
from hsi_app.data.download import UNVERIFIED_FILENAME, DownloadError, fetch, fetch_dataset, read_sums
from hsi_app.errors import ChecksumError, HSIWarning, InvalidDataError, OutputError
from tests.local_http import serving

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


# ---------------------------------------------------------------------------- web pages instead of data


def test_a_web_page_served_for_a_mat_file_is_refused(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_root
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


# ---------------------------------------------------------------------------- proving a download complete

PAYLOAD = np.random.default_rng(11).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Framing(http.server.BaseHTTPRequestHandler):
    """``/close/full``, ``/close/cut``: no length, body ends when the connection closes (HTTP/1.0);
    ``/chunked/full``, ``/chunked/cut``: chunked transfer, the cut one closes before the last chunk."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        kind, how = self.path.strip("/").split("/")[:2]
        body = PAYLOAD if how.startswith("full") else PAYLOAD[:120_000]
        if kind == "close":
            self.protocol_version = "HTTP/1.0"
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        else:
            self.protocol_version = "HTTP/1.1"
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 50_000):
                piece = body[i : i + 50_000]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            if how.startswith("full"):
                self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture()
def framing() -> Iterator[str]:
    with serving(Framing) as url:
        yield url


def test_a_close_delimited_download_is_kept_as_unverified(framing: str, tmp_path: Path) -> None:
    dst = tmp_path / "d" / "cube.mat"
    with pytest.warns(HSIWarning) as caught:
        fetch(f"{framing}/close/full", dst, progress=False)
    assert hashlib.sha256(dst.read_bytes()).hexdigest() == PAYLOAD_SHA
    assert len(caught) == 1
    msg = str(caught[0].message)
    assert "\n" not in msg and msg.startswith(f"{dst}: unverified: nothing proves this download is complete")
    assert read_sums(dst.parent) == {}, "not recorded as verified"
    assert read_sums(dst.parent, UNVERIFIED_FILENAME) == {"cube.mat": PAYLOAD_SHA}
    # a later fetch says it again, and still detects corruption against the unverified digest
    with pytest.warns(HSIWarning, match="unverified"):
        fetch(f"{framing}/close/full", dst, progress=False)
    assert read_sums(dst.parent) == {}
    dst.write_bytes(PAYLOAD[:-1] + b"\0")
    with pytest.raises(ChecksumError, match=r"SHA256SUMS\.unverified"):
        fetch(f"{framing}/close/full", dst, progress=False)
    # the published digest verifies it: moved from the unverified record to SHA256SUMS
    dst.write_bytes(PAYLOAD)
    fetch(f"{framing}/close/full", dst, sha256=PAYLOAD_SHA, progress=False)
    assert read_sums(dst.parent) == {"cube.mat": PAYLOAD_SHA}
    assert read_sums(dst.parent, UNVERIFIED_FILENAME) == {}


def test_a_cut_close_delimited_download_is_caught_by_the_catalog_size(framing: str, tmp_path: Path) -> None:
    dst = tmp_path / "d" / "cube.mat"
    with pytest.raises(DownloadError, match=f"received 120000 bytes, the catalog gives {len(PAYLOAD)}"):
        fetch(f"{framing}/close/cut", dst, size=len(PAYLOAD), progress=False)
    assert not (tmp_path / "d").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the size proves it complete: no warning
        fetch(f"{framing}/close/full", dst, size=len(PAYLOAD), progress=False)
    assert read_sums(dst.parent) == {"cube.mat": PAYLOAD_SHA}


def test_chunked_transfer_proves_completeness_and_its_truncation_is_an_error(framing: str, tmp_path: Path) -> None:
    dst = tmp_path / "d" / "cube.mat"
    with pytest.raises(DownloadError, match=r"chunked/cut: download interrupted after") as info:
        fetch(f"{framing}/chunked/cut", dst, progress=False)
    assert "\n" not in str(info.value) and not (tmp_path / "d").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fetch(f"{framing}/chunked/full", dst, progress=False)
    assert read_sums(dst.parent) == {"cube.mat": PAYLOAD_SHA}


def test_incomplete_read_from_the_source_is_a_download_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cut(path: Path, chunk_size: int) -> tuple[None, Iterator[bytes]]:
        def chunks() -> Iterator[bytes]:
            yield b"x" * 100
            raise IncompleteRead(b"x" * 100, 900)

        return None, chunks()

    monkeypatch.setattr(download, "_iter_file", cut)
    with pytest.raises(DownloadError, match=r"download interrupted after 100 bytes \(IncompleteRead.*nothing was kept"):
        fetch((tmp_path / "src").as_uri(), tmp_path / "d" / "cube.mat", progress=False)
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------------------- existing files: catalog size


def test_an_existing_file_of_another_size_than_the_catalogs_is_refused(tmp_path: Path) -> None:
    source = _blob(tmp_path / "remote" / "scene.mat")
    dst = _blob(tmp_path / "d" / "scene.mat", seed=1, size=1000)  # a copy left by another tool
    with pytest.raises(ChecksumError) as info:
        fetch(source.as_uri(), dst, size=SIZE, progress=False)
    msg = str(info.value)
    assert msg == (f"{dst}: local copy is 1000 bytes, the catalog gives {SIZE}; it is incomplete or another file. "
                   "Download it again (--force in the CLI, overwrite=True in Python) or replace it by hand")
    assert read_sums(dst.parent) == {} and dst.stat().st_size == 1000
    fetch(source.as_uri(), dst, size=SIZE, progress=False, overwrite=True)  # --force
    assert _sha(dst) == _sha(source) and read_sums(dst.parent) == {"scene.mat": _sha(source)}
    assert fetch(source.as_uri(), dst, size=SIZE, progress=False) == dst  # right size: verified


def test_a_hand_placed_dataset_file_is_checked_against_the_catalog_size(tmp_path: Path) -> None:
    base = json.loads(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))["datasets"]
    manual = dict(next(d for d in base if d["name"] == "whu_hi_longkou"), mat_keys=None)  # random bytes, no .mat
    manual["files"] = [dict(f, size_bytes=500) for f in manual["files"]]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"format_version": 1, "datasets": [manual]}), encoding="utf-8")
    root = tmp_path / "data"
    names = [f["filename"] for f in manual["files"]]
    _blob(root / "whu_hi_longkou" / names[0], seed=8, size=500)
    _blob(root / "whu_hi_longkou" / names[1], seed=9, size=499)
    with pytest.raises(ChecksumError, match=f"{names[1]}: local copy is 499 bytes, the catalog gives 500"):
        fetch_dataset("whu_hi_longkou", root, progress=False, catalog=catalog)


# ---------------------------------------------------------------------------- read-only data folders


@pytest.fixture()
def seal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """``seal(folder)`` makes ``folder`` read-only (and, for root, which ignores permission bits,
    refuses to create or open files for writing in it)."""
    sealed: list[Path] = []
    real_open = os.open

    def guarded(path, flags, *args, **kwargs):  # noqa: ANN001, ANN202 - os.open's signature
        writes = flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR)
        if writes and any(Path(path).absolute().parent == f for f in sealed):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    def _seal(folder: Path) -> None:
        folder.chmod(0o555)
        sealed.append(folder.absolute())
        if os.geteuid() == 0:
            monkeypatch.setattr(os, "open", guarded)

    yield _seal
    for folder in sealed:
        folder.chmod(0o755)


def test_a_good_file_in_a_read_only_folder_verifies_with_one_warning(
    seal: Callable[[Path], None], tmp_path: Path
) -> None:
    read_only = tmp_path / "shared"
    a = _blob(read_only / "a.mat", seed=1)
    b = _blob(read_only / "b.mat", seed=2)
    seal(read_only)
    sha_a = _sha(a)  # hashed independently of the code under test
    with pytest.warns(HSIWarning) as caught:
        assert fetch((tmp_path / "absent").as_uri(), a, sha256=sha_a, progress=False) == a
        assert fetch((tmp_path / "absent").as_uri(), b, progress=False) == b
        assert fetch((tmp_path / "absent").as_uri(), a, progress=False) == a
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"{read_only / 'SHA256SUMS'}: cannot write the checksum record (Permission denied)")
    assert "a.mat was verified and is used" in messages[0] and "\n" not in messages[0]
    assert sorted(p.name for p in read_only.iterdir()) == ["a.mat", "b.mat"]
    with pytest.raises(ChecksumError, match="does not match the published sha256"):  # a bad copy still fails
        fetch((tmp_path / "absent").as_uri(), b, sha256=sha_a, progress=False)
    with pytest.raises(OutputError, match="cannot write"):  # a new download cannot be stored
        fetch(a.as_uri(), read_only / "new.mat", progress=False)


def test_cli_fetch_says_when_a_download_is_not_proven_complete(framing: str, tmp_path: Path) -> None:
    """The closing line named SHA256SUMS for a file recorded only in SHA256SUMS.unverified."""
    import json

    from click.testing import CliRunner

    from hsi_app.cli.datasets_cmd import datasets
    from hsi_app.data.catalog import DEFAULT_CATALOG_PATH

    base = json.loads(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))["datasets"]
    entry = dict(next(d for d in base if d["name"] == "salinas"), name="tiny", aliases=[], mat_keys=None)
    entry["files"] = [{"role": "cube", "filename": "cube.mat", "url": f"{framing}/close/full", "sha256": None,
                       "size_bytes": None}]  # random bytes, not a .mat: mat_keys null, no variable to check
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"format_version": 1, "datasets": [entry]}), encoding="utf-8")
    root = tmp_path / "data"
    with pytest.warns(HSIWarning, match="unverified"):
        result = CliRunner().invoke(datasets, ["fetch", "tiny", "--root", str(root), "--no-progress",
                                               "--catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(
        "(not proven complete: cube.mat recorded in SHA256SUMS.unverified)"), result.output
