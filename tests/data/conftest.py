"""Fixtures shared by the download tests."""

from __future__ import annotations

import functools
import http.server
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local_http import serving


@pytest.fixture()
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(base URL, folder)``: a local HTTP server on 127.0.0.1 serving a fresh folder, stopped afterwards."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    with serving(functools.partial(Quiet, directory=str(root))) as url:
        yield url, root
