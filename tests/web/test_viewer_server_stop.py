"""Stopping ``hsi serve`` with SIGTERM (``kill``, a service manager) leaves none of its files behind:
neither the session folders nor Gradio's copies of the downloads and images it served."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_deletes_gradio_copies_of_the_downloads(tmp_path: Path, envi_scene: Path) -> None:
    cache = tmp_path / "gradio"  # the server's own Gradio folder, so only its files are looked at
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "MPLBACKEND": "Agg", "GRADIO_TEMP_DIR": str(cache)}
    hsi = Path(sys.executable).with_name("hsi")
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(hsi), "serve", "--port", str(port), "--scenes", str(envi_scene.parent)],
                                stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.5)
        client = gradio_client.Client(url, verbose=False, download_files=False)
        client.predict(envi_scene.name, api_name="/open_scene")
        out = client.predict("rx", 99.0, 5, "5,21", None, False, api_name="/detect")
        served = [Path(v["path"]) for v in out if isinstance(v, dict) and "path" in v]
        assert {p.name for p in served} >= {f"{envi_scene.stem}_scores.tif", f"{envi_scene.stem}_detect_metrics.json"}
        assert all(p.is_file() and cache in p.parents for p in served)  # what a browser downloads
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [p for p in served if p.exists()] == []
    # Gradio keeps its copies in <sha256> folders (and a few files and folders of its own beside them)
    left = [p for p in cache.iterdir() if p.is_dir() and len(p.name) == 64]
    assert left == [], f"left in Gradio's folder after SIGTERM: {[list(d.iterdir()) for d in left]}"
