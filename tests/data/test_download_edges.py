"""Downloads at the edges: --force over a verified copy, hand-placed files, stale .part files,
HTTP 401/403, web pages in disguise and .mat files without their variable.

A local HTTP server on 127.0.0.1 serves ``/close/<name>`` (no Content-Length: the body ends when
the connection closes), ``/close-half/<name>`` (the same, cut in half) and ``/status/<code>/<name>``.
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from hsi_app.data import download, download_records
from hsi_app.data.catalog import DEFAULT_CATALOG_PATH
from hsi_app.data.download import (
    SUMS_FILENAME,
    UNVERIFIED_FILENAME,
    DownloadError,
    fetch,
    fetch_dataset,
    is_web_page,
    read_sums,
)
from hsi_app.data.download_content import mat_problem
from hsi_app.errors import ChecksumError, HSIWarning, OutputError
from tests.local_http import serving

BODIES: dict[str, bytes] = {}
"""What the server sends for ``/<mode>/<name>``; filled by the tests."""


class Server(http.server.BaseHTTPRequestHandler):
    """``/close/<name>``, ``/close-half/<name>``: close-delimited body (HTTP/1.0, no length);
    ``/status/<code>/<name>``: that error status with a short HTML body."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        parts = self.path.strip("/").split("/")
        self.protocol_version = "HTTP/1.0"
        if parts[0] == "status":
            self.send_response(int(parts[1]))
            self.end_headers()
            self.wfile.write(b"<html>no</html>")
            return
        body = BODIES[parts[-1]]
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body if parts[0] == "close" else body[: len(body) // 2])


@pytest.fixture()
def server() -> Iterator[str]:
    try:
        with serving(Server) as url:
            yield url
    finally:
        BODIES.clear()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _blob(seed: int, size: int = 100_000) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _catalog(tmp_path: Path, entry: dict) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"format_version": 1, "datasets": [entry]}), encoding="utf-8")
    return path


def _base(name: str) -> dict:
    doc = json.loads(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))
    return copy.deepcopy(next(d for d in doc["datasets"] if d["name"] == name))


# ---------------------------------------------------------------------------- --force over a verified copy


def test_force_never_swaps_a_verified_copy_for_an_unproven_download(server: str, tmp_path: Path) -> None:
    good = _blob(1)
    src = tmp_path / "src.bin"
    src.write_bytes(good)
    dst = tmp_path / "d" / "scene.bin"
    fetch(src.as_uri(), dst, progress=False)  # file://: its size proves it complete
    assert read_sums(dst.parent) == {"scene.bin": _sha(good)}
    BODIES["scene.bin"] = good
    with pytest.raises(DownloadError) as info:
        fetch(f"{server}/close-half/scene.bin", dst, progress=False, overwrite=True)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("scene.bin: nothing proves the new download from")
    assert f"does not replace the verified copy; kept {dst}" in msg and "size_bytes to the catalog" in msg
    assert dst.read_bytes() == good and read_sums(dst.parent) == {"scene.bin": _sha(good)}
    assert read_sums(dst.parent, UNVERIFIED_FILENAME) == {} and list(dst.parent.glob("*.part")) == []
    # a size proves the new download: it replaces the copy
    fetch(f"{server}/close/scene.bin", dst, progress=False, overwrite=True, size=len(good))
    assert read_sums(dst.parent) == {"scene.bin": _sha(good)}


def test_force_over_an_unrecorded_copy_still_downloads_unproven(server: str, tmp_path: Path) -> None:
    dst = tmp_path / "d" / "scene.bin"
    dst.parent.mkdir()
    dst.write_bytes(b"old")
    BODIES["scene.bin"] = _blob(2)
    with pytest.warns(HSIWarning, match="unverified"):
        fetch(f"{server}/close/scene.bin", dst, progress=False, overwrite=True)
    assert dst.read_bytes() == BODIES["scene.bin"]


# ---------------------------------------------------------------------------- hand-placed files


def test_a_replaced_hand_placed_file_is_accepted_again_with_force(tmp_path: Path) -> None:
    entry = dict(_base("whu_hi_longkou"), mat_keys=None)  # random bytes, not .mat content
    catalog = _catalog(tmp_path, entry)
    dest = tmp_path / "data" / "whu_hi_longkou"
    dest.mkdir(parents=True)
    cube, gt = (f["filename"] for f in entry["files"])
    (dest / cube).write_bytes(_blob(3))
    (dest / gt).write_bytes(_blob(4))
    fetch_dataset("lk", dest.parent, progress=False, catalog=catalog)
    (dest / cube).write_bytes(_blob(5))  # a newer copy placed by hand
    with pytest.raises(ChecksumError) as info:
        fetch_dataset("lk", dest.parent, progress=False, catalog=catalog)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{dest / cube}: local copy does not match the digest recorded in")
    assert "run again with --force" in msg and f"remove its line from {dest / SUMS_FILENAME}" in msg
    assert "Delete it and fetch again" not in msg  # that never helped: the old line stayed
    fetch_dataset("lk", dest.parent, progress=False, catalog=catalog, overwrite=True)
    assert read_sums(dest)[cube] == _sha(_blob(5))
    fetch_dataset("lk", dest.parent, progress=False, catalog=catalog)  # verified against the new line


# ---------------------------------------------------------------------------- unverified, then a catalog size


def test_a_catalog_size_moves_an_unverified_download_to_sha256sums(server: str, tmp_path: Path) -> None:
    BODIES["scene.bin"] = body = _blob(6)
    dst = tmp_path / "d" / "scene.bin"
    with pytest.warns(HSIWarning, match="unverified"):
        fetch(f"{server}/close/scene.bin", dst, progress=False)
    assert read_sums(dst.parent, UNVERIFIED_FILENAME) == {"scene.bin": _sha(body)}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "unverified" warning once the size verifies it
        fetch(f"{server}/close/scene.bin", dst, progress=False, size=len(body))
    assert read_sums(dst.parent) == {"scene.bin": _sha(body)}
    assert read_sums(dst.parent, UNVERIFIED_FILENAME) == {}


# ---------------------------------------------------------------------------- stale .part files


def test_a_stale_part_is_removed_when_the_file_is_already_there(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(_blob(7))
    dst = fetch(src.as_uri(), tmp_path / "d" / "scene.bin", progress=False)
    stale = dst.with_name(f"{dst.name}.99999.0123456789ab.part")
    young = dst.with_name(f"{dst.name}.99998.0123456789ab.part")
    stale.write_bytes(b"x" * 10)
    young.write_bytes(b"x" * 10)
    old = time.time() - 25 * 3600
    os.utime(stale, (old, old))
    fetch(src.as_uri(), dst, progress=False)  # dst exists: the early return also clears debris
    assert not stale.exists() and young.exists()


# ---------------------------------------------------------------------------- HTTP 401/403


@pytest.mark.parametrize("code", [401, 403])
def test_a_refused_download_says_to_use_a_browser(server: str, tmp_path: Path, code: int) -> None:
    dst = tmp_path / "salinas" / "Salinas_gt.mat"
    with pytest.raises(DownloadError) as info:
        fetch(f"{server}/status/{code}/Salinas_gt.mat", dst, progress=False)
    msg = str(info.value)
    assert "\n" not in msg and f"the server refused the download (HTTP {code}" in msg
    assert f"Download it in a browser, save it as {dst}, and run again: it is then verified" in msg
    assert "check your network" not in msg and not dst.parent.exists()


def test_other_http_errors_still_say_check_the_network(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"HTTP 400.*check your network connection"):  # 404, 5xx: test_download_http_errors
        fetch(f"{server}/status/400/x.mat", tmp_path / "x.mat", progress=False)


# ---------------------------------------------------------------------------- read-only folder warning


def test_the_read_only_warning_does_not_claim_an_unchecked_file_was_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dst = tmp_path / "scene.mat"
    dst.write_bytes(_blob(8))

    def refuse(*args: object, **kwargs: object) -> None:
        raise OutputError("cannot write") from PermissionError(13, "Permission denied")

    monkeypatch.setattr(download, "record_digest", refuse)
    monkeypatch.setattr(download, "_UNRECORDABLE", set())
    with pytest.warns(HSIWarning) as caught:
        fetch((tmp_path / "absent").as_uri(), dst, progress=False)  # no sha, no size, no record
    (msg,) = [str(w.message) for w in caught]
    assert "scene.mat is used unchecked" in msg and "was verified" not in msg


# ---------------------------------------------------------------------------- web pages and .mat content


@pytest.mark.parametrize(
    "head",
    [
        b"<!-- saved from url=(0071)https://www.ehu.eus/ -->\n<!DOCTYPE html><html></html>",
        "<!DOCTYPE html><html></html>".encode("utf-16"),
        b"<title>Login</title>",
        b"403 Forbidden\n",
        b"HTTP/1.1 404 Not Found\n",
        b'<?xml version="1.0"?>\n<!-- c -->\n<html>',
        b"\xef\xbb\xbf  <META http-equiv='refresh'>",
    ],
)
def test_web_pages_in_disguise_are_recognised(tmp_path: Path, head: bytes) -> None:
    page = tmp_path / "x.mat"
    page.write_bytes(head)
    assert is_web_page(page)


def test_data_is_not_a_web_page(tmp_path: Path) -> None:
    mat = tmp_path / "x.mat"
    scipy.io.savemat(mat, {"a": np.zeros((2, 2))})
    assert not is_web_page(mat)
    text = tmp_path / "t.csv"
    text.write_bytes(b"400 nm,0.1\n")
    assert not is_web_page(text)


def _mat_bytes(tmp_path: Path, **arrays: np.ndarray) -> bytes:
    path = tmp_path / "made.mat"
    scipy.io.savemat(path, arrays, do_compression=True)
    data = path.read_bytes()
    path.unlink()
    return data


def _salinas_like(server: str, tmp_path: Path, files: dict[str, bytes], mode: str = "close") -> Path:
    entry = _base("salinas")  # with the shape of the tiny files below (checked without a sha256)
    entry.update(height=4, width=3, bands=2, source_bands=None, removed_bands=[])
    for f in entry["files"]:
        f.update(url=f"{server}/{mode}/{f['filename']}", sha256=None, size_bytes=None)
    BODIES.update(files)
    return _catalog(tmp_path, entry)


def test_a_mat_download_without_the_catalog_variable_is_refused(server: str, tmp_path: Path) -> None:
    cube = _mat_bytes(tmp_path, salinas_corrected=np.zeros((4, 3, 2), np.int16))
    wrong = _mat_bytes(tmp_path, something_else=np.zeros((4, 3), np.uint8))
    catalog = _salinas_like(server, tmp_path, {"Salinas_corrected.mat": cube, "Salinas_gt.mat": wrong})
    root = tmp_path / "data"
    with pytest.warns(HSIWarning, match="unverified"), pytest.raises(DownloadError) as info:
        fetch_dataset("salinas", root, progress=False, catalog=catalog)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("Salinas_gt.mat: the download from")
    assert "has no variable 'salinas_gt' (variables: something_else)" in msg
    assert f"place it at {root / 'salinas' / 'Salinas_gt.mat'}" in msg
    assert not (root / "salinas" / "Salinas_gt.mat").exists()
    assert "Salinas_gt.mat" not in read_sums(root / "salinas", UNVERIFIED_FILENAME)


def test_a_truncated_close_delimited_mat_is_refused(server: str, tmp_path: Path) -> None:
    cube = _mat_bytes(tmp_path, salinas_corrected=np.arange(4000, dtype=np.int16).reshape(20, 10, 20))
    gt = _mat_bytes(tmp_path, salinas_gt=np.zeros((20, 10), np.uint8))  # cut: refused before any shape check
    catalog = _salinas_like(server, tmp_path, {"Salinas_corrected.mat": cube, "Salinas_gt.mat": gt}, mode="close-half")
    with pytest.raises(DownloadError, match=r"Salinas_corrected\.mat: the download from .* is truncated: its "
                                            r"variables need \d+ bytes, the file has \d+"):
        fetch_dataset("salinas", tmp_path / "data", progress=False, catalog=catalog)


def test_mat_problem_accepts_good_files_and_names_what_is_wrong(tmp_path: Path) -> None:
    good = tmp_path / "good.mat"
    good.write_bytes(_mat_bytes(tmp_path, cube=np.ones((3, 3, 3)), other=np.ones(2)))
    assert mat_problem(good, "cube") is None
    assert mat_problem(good, "gt") == "has no variable 'gt' (variables: cube, other)"
    junk = tmp_path / "junk.mat"
    junk.write_bytes(_blob(9, 1000))
    assert mat_problem(junk, "cube") == "is not a MATLAB .mat file"


# ---------------------------------------------------------------------------- waiting on another download


@pytest.mark.skipif(download_records.fcntl is None, reason="advisory locks are POSIX only")
def test_a_fetch_waiting_for_another_download_says_so_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(_blob(10))
    dst = tmp_path / "d" / "scene.bin"
    dst.parent.mkdir()
    done = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            fetch(src.as_uri(), dst, progress=False)
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)
        finally:
            done.set()

    with download_records.locked(dst):  # "another process" holds the lock (flock is per open file)
        worker = threading.Thread(target=second)
        worker.start()
        said, deadline = "", time.monotonic() + 10
        while "waiting" not in said and time.monotonic() < deadline:
            time.sleep(0.05)
            said += capsys.readouterr().err
        assert not done.is_set(), "the second fetch must wait for the lock"
    worker.join(10)
    assert said == f"waiting for another download of scene.bin to finish ({dst}.lock)\n"
    assert not errors and dst.read_bytes() == src.read_bytes()
    assert capsys.readouterr().err == "", "said once"


def test_the_waiting_line_names_the_file_and_the_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = tmp_path / "scene.mat.lock"
    download._say_waiting(lock)
    assert capsys.readouterr().err == f"waiting for another download of scene.mat to finish ({lock})\n"
