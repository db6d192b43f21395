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


def assert_one_error_line(code: int, err: str, *words: str) -> None:
    """Status 2 and exactly one ``hsi: error:`` line on stderr (no traceback, no "unexpected"), containing ``words``."""
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("hsi: error: "), err
    assert "Traceback" not in err and "unexpected" not in err
    for w in words:
        assert w in err, (w, err)


def assert_cli_errors(capsys: pytest.CaptureFixture[str], cases: list[tuple[list[str], str]], *common: str) -> None:
    """Each ``(args, message)``: ``hsi ARGS COMMON`` exits non-zero with ``message`` on stderr."""
    for args, msg in cases:
        with pytest.raises(SystemExit) as exc:
            main([*args, *common])
        assert exc.value.code != 0
        assert msg in capsys.readouterr().err, args
