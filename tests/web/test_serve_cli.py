"""`hsi serve` with a taken port or a bad host: one line naming --port/--host, exit 2, no URL announced.

The web app is replaced by a stub, so no test can start (and block on) a real server.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from cli_runner import assert_one_error_line, run_main


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace web/app.py by a stub whose launch returns at once; the list records its calls."""
    from hsi_app.cli import serve_cmd

    calls: list[dict] = []
    monkeypatch.setattr(serve_cmd, "load_web_app", lambda: SimpleNamespace(launch=lambda *a, **k: calls.append(k)))
    return calls


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 held by a listening socket for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def _one_line(code: int, err: str, *words: str) -> None:
    assert_one_error_line(code, err, *words)
    assert "GRADIO_SERVER_PORT" not in err  # gradio's own hint is not the fix


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_port_in_use_is_one_line_before_the_url(busy_port: int, host: str, launches: list[dict],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "serve", "--host", host, "--port", str(busy_port))
    _one_line(code, err, f"--port {busy_port}", "already in use", "another --port")
    assert "hsi viewer on" not in out and not launches  # no URL announced, nothing launched


@pytest.mark.parametrize("host", ["999.1.1.1", "no such host.invalid"])
def test_bad_host_is_one_line(host: str, launches: list[dict], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "serve", "--host", host, "--port", "7861")
    _one_line(code, err, f"--host {host}", "127.0.0.1")
    assert "hsi viewer on" not in out and not launches


def test_free_port_launches_with_the_url(launches: list[dict], capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = run_main(capsys, "serve", "--port", str(port))
    assert code == 0, err
    assert f"hsi viewer on http://127.0.0.1:{port}" in out
    assert launches == [{"host": "127.0.0.1", "port": port, "quiet": True}]


def test_port_taken_during_launch_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.cli import serve_cmd

    def launch(*_a: object, **_k: object) -> None:
        raise OSError("Cannot find empty port in range: 7862-7862. You can specify a different port by setting "
                      "the GRADIO_SERVER_PORT environment variable")

    monkeypatch.setattr(serve_cmd, "check_address", lambda host, port: None)
    monkeypatch.setattr(serve_cmd, "load_web_app", lambda: SimpleNamespace(launch=launch))
    code, _, err = run_main(capsys, "serve", "--port", "7862")
    assert code == 2 and err.count("\n") == 1 and "--port 7862" in err and "choose another --port" in err
