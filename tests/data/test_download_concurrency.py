"""Two fetches of one file at once: own temporary files, a lock, the digest of the stored bytes.

Interleavings are forced with hooks (a source that pauses on an event) or with two real
processes released together, so every test is deterministic and takes about a second.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hsi_app.data import download, download_records
from hsi_app.data.download import fetch, read_sums
from hsi_app.errors import ChecksumError
from tests.local_http import serving

SIZE = 300_001
CHUNK = 65_536
REPO = Path(__file__).resolve().parents[2]


def _blob(path: Path, seed: int = 0, size: int = SIZE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _debris(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".part", ".lock"))


class PausingSource:
    """Stands in for ``download._iter_file``: the first caller pauses after one chunk until resumed."""

    def __init__(self) -> None:
        self.calls = 0
        self.paused = threading.Event()
        self.resume = threading.Event()

    def __call__(self, path: Path, chunk_size: int) -> tuple[int, Iterator[bytes]]:
        self.calls += 1
        data = path.read_bytes()
        first = self.calls == 1

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(data), chunk_size):
                yield data[i : i + chunk_size]
                if first and i == 0:
                    self.paused.set()
                    assert self.resume.wait(10), "test never resumed the first download"

        return len(data), chunks()


def _paused_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, Path, PausingSource]:
    """``(source file, its sha256, destination, hook)`` with file downloads pausing in ``hook``."""
    source = _blob(tmp_path / "remote" / "scene.mat")
    hook = PausingSource()
    monkeypatch.setattr(download, "_iter_file", hook)
    return source, _sha(source.read_bytes()), tmp_path / "out" / "scene.mat", hook


def _in_thread(fn, errors: list[BaseException]) -> threading.Thread:  # noqa: ANN001 - test helper
    def run() -> None:
        try:
            fn()
        except BaseException as err:  # noqa: BLE001 - reported by the test
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_digest_is_of_the_stored_file_not_of_the_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes changed on disk by someone else after they were written are caught by the digest."""
    source = _blob(tmp_path / "remote" / "scene.mat")
    dst = tmp_path / "out" / "scene.mat"
    dst.parent.mkdir()
    real = download._iter_file

    def tampered(path: Path, chunk_size: int) -> tuple[int, Iterator[bytes]]:
        size, chunks = real(path, chunk_size)

        def gen() -> Iterator[bytes]:
            yield from chunks
            for part in dst.parent.glob("scene.mat*.part"):  # another writer's O_TRUNC leaves a hole
                with open(part, "r+b") as fh:
                    fh.write(b"\0" * 1000)

        return size, gen()

    monkeypatch.setattr(download, "_iter_file", tampered)
    with pytest.raises(ChecksumError, match="scene.mat: sha256 of the download"):
        fetch(source.as_uri(), dst, sha256=_sha(source.read_bytes()), progress=False, chunk_size=CHUNK)
    assert not dst.exists() and _debris(dst.parent) == [] and read_sums(dst.parent) == {}


def test_second_fetch_waits_for_the_first_and_finds_the_file_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, good, dst, hook = _paused_setup(tmp_path, monkeypatch)
    errors: list[BaseException] = []
    get = lambda: fetch(source.as_uri(), dst, sha256=good, progress=False, chunk_size=CHUNK)  # noqa: E731
    first = _in_thread(get, errors)
    assert hook.paused.wait(10)
    second = _in_thread(get, errors)
    time.sleep(0.3)
    assert second.is_alive() and not dst.exists(), "the second fetch must wait for the first"
    assert hook.calls == 1, "the second fetch must not start its own download"
    hook.resume.set()
    first.join(10)
    second.join(10)
    assert errors == [] and not first.is_alive() and not second.is_alive()
    assert hook.calls == 1, "the second fetch found the file downloaded and verified"
    assert _sha(dst.read_bytes()) == good
    assert read_sums(dst.parent) == {"scene.mat": good}
    assert _debris(dst.parent) == []


def test_without_locks_each_fetch_writes_its_own_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Platforms without fcntl: B completes while A is midway; A still publishes a whole, verified copy."""
    monkeypatch.setattr(download_records, "fcntl", None, raising=False)
    source, good, dst, hook = _paused_setup(tmp_path, monkeypatch)
    errors: list[BaseException] = []
    first = _in_thread(lambda: fetch(source.as_uri(), dst, progress=False, chunk_size=CHUNK), errors)
    assert hook.paused.wait(10)
    assert len(list(dst.parent.glob("scene.mat.*.part"))) == 1
    fetch(source.as_uri(), dst, progress=False, chunk_size=CHUNK)  # B, start to finish
    assert _sha(dst.read_bytes()) == good
    hook.resume.set()
    first.join(10)
    assert errors == [] and hook.calls == 2
    assert _sha(dst.read_bytes()) == good and read_sums(dst.parent) == {"scene.mat": good}
    assert _debris(dst.parent) == []


def test_stale_part_files_are_removed_young_ones_ignored(tmp_path: Path) -> None:
    source = _blob(tmp_path / "remote" / "scene.mat")
    out = tmp_path / "out"
    old = _blob(out / "scene.mat.4242.00aa11bb22cc.part", seed=1, size=10)
    young = _blob(out / "scene.mat.4343.00aa11bb22cd.part", seed=2, size=10)
    other = _blob(out / "other.mat.4242.00aa11bb22cc.part", seed=3, size=10)
    two_days_ago = time.time() - 48 * 3600
    for p in (old, other):
        os.utime(p, (two_days_ago, two_days_ago))
    fetch(source.as_uri(), out / "scene.mat", progress=False)
    assert not old.exists(), "a day-old .part of this file is debris of a killed process"
    assert young.exists(), "a recent .part may belong to a download running elsewhere"
    assert other.exists(), "only this file's .part files are touched"


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``payload`` in two halves with a pause between them, counting requests."""

    payload = b""
    requests: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        type(self).requests.append(self.path)
        half = len(self.payload) // 2
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload[:half])
        self.wfile.flush()
        time.sleep(0.4)
        self.wfile.write(self.payload[half:])


_WORKER = """
import sys
from hsi_app.data.download import fetch
print("ready", flush=True)
sys.stdin.readline()  # the barrier: both processes are released together
fetch(sys.argv[1], sys.argv[2], sha256=sys.argv[3], progress=False, chunk_size=4096)
print("done", flush=True)
"""


def test_two_processes_released_together(tmp_path: Path) -> None:
    payload = _blob(tmp_path / "payload", size=1 << 20).read_bytes()
    SlowHandler.payload, SlowHandler.requests = payload, []
    dst = tmp_path / "cache" / "f.bin"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    with serving(SlowHandler) as base:
        procs = [
            subprocess.Popen([sys.executable, "-c", _WORKER, f"{base}/f.bin", str(dst), _sha(payload)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)
        ]
        try:
            for p in procs:
                assert p.stdout.readline().strip() == "ready"
            for p in procs:
                p.stdin.write("go\n")
                p.stdin.flush()
            results = [p.communicate(timeout=30) for p in procs]
        finally:
            for p in procs:
                p.kill() if p.poll() is None else None
    assert [p.returncode for p in procs] == [0, 0], results
    assert len(SlowHandler.requests) == 1, "the second process waited and found the file done"
    assert _sha(dst.read_bytes()) == _sha(payload)
    assert read_sums(dst.parent) == {"f.bin": _sha(payload)}
    assert _debris(dst.parent) == []
