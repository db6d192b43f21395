"""Run the ``hsi`` CLI in-process for tests: exit status, stdout and stderr."""

from __future__ import annotations

import pytest

from hsi_app.cli.main import main


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``hsi ARGS`` -> ``(exit status, stdout, stderr)``."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
