"""`hsi info` and the CLI's error contract (one line on stderr, exit 2, --debug traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HSI = [sys.executable, "-m", "hsi_app.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HSI, *args], capture_output=True, text=True, timeout=120)


def test_json_keys_on_mat_fixture(mat_fixtures: dict) -> None:
    res = run("info", str(mat_fixtures["paviaU"]), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    for key in ("format", "bands", "height", "width", "dtype", "wavelengths_nm", "fwhm_nm", "bad_bands", "crs", "valid_fraction"):
        assert key in info
    assert (info["bands"], info["height"], info["width"], info["dtype"]) == (103, 24, 20, "uint16")
    assert info["crs"] is None and info["valid_fraction"] == 1.0
    assert sum(info["class_counts"].values()) == int((mat_fixtures["paviaU_labels"] > 0).sum())


def test_enmap_product_text_output(tmp_path: Path, load_fixture) -> None:  # noqa: ANN001
    product = load_fixture("enmap_l2a").make(tmp_path)
    res = run("info", str(product))
    assert res.returncode == 0, res.stderr
    assert "enmap_l2a" in res.stdout and "EPSG:326" in res.stdout and "224 bands" in res.stdout
    assert "mask cloud" in res.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["info", "missing.tif"], "missing.tif: no such file"),
        (["info", "indian_pine"], "indian_pine: no such file"),
    ],
)
def test_errors_are_one_line_exit_2(args: list[str], needle: str) -> None:
    res = run(*args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr


def test_corrupt_file_one_line_and_debug_traceback(mat_fixtures: dict) -> None:
    res = run("info", str(mat_fixtures["truncated"]))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "truncated.mat" in res.stderr
    dbg = run("--debug", "info", str(mat_fixtures["truncated"]))
    assert dbg.returncode == 2 and "Traceback" in dbg.stderr and "truncated.mat" in dbg.stderr


def test_help_is_fast_and_lists_commands() -> None:
    res = run("--help")
    assert res.returncode == 0 and "info" in res.stdout and "datasets" in res.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, hsi_app.cli.main as m; m.cli.main(['--help'], standalone_mode=False); "
         "print('torch' in sys.modules, 'gradio' in sys.modules, 'torchgeo' in sys.modules)"],
        capture_output=True, text=True, timeout=60,
    )
    assert probe.stdout.strip().endswith("False False False")


@pytest.mark.slow
def test_info_indian_pines_builtin() -> None:
    res = run("info", "indian_pines", "--json")
    info = json.loads(res.stdout)
    assert (info["bands"], info["height"], info["width"]) == (200, 145, 145)
    assert info["labelled_pixels"] == 10249 and len(info["class_counts"]) == 16


@pytest.mark.parametrize(("args", "needle"), [
    (["train", "--epochs", "abc", "--data", "x"], "Invalid value for '--epochs': 'abc' is not a valid integer"),
    (["serve", "--port", "0"], "Invalid value for '--port'"),
    (["info"], "Missing argument"),
])
def test_usage_errors_are_one_line_exit_2(args: list[str], needle: str) -> None:
    """Click's own refusals (bad type, range, missing argument) keep the one-line promise, with where help is."""
    res = run(*args)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith("hsi: error: ") and needle in lines[0] and f"(see `hsi {args[0]} -h`)" in lines[0]


def test_main_caps_gdal_block_cache_unless_the_user_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """GDAL's default cache (5 % of RAM) would let `hsi predict`/`hsi info` grow with the scene."""
    import os

    from hsi_app.cli.main import main

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    assert main(["--help"]) == 0
    assert os.environ["GDAL_CACHEMAX"] == "256"
    monkeypatch.setenv("GDAL_CACHEMAX", "64")
    assert main(["--help"]) == 0
    assert os.environ["GDAL_CACHEMAX"] == "64"


def test_info_progress_bar_goes_to_stderr_not_into_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    """A large scene's dask bar is progress, not report: stdout holds the report alone."""
    import numpy as np
    import rasterio

    from hsi_app.cli.main import main
    from hsi_app.io import summary

    path = tmp_path / "s.tif"
    with rasterio.open(path, "w", driver="GTiff", height=16, width=16, count=3, dtype="int16") as ds:
        ds.write(np.arange(3 * 16 * 16, dtype=np.int16).reshape(3, 16, 16))
    monkeypatch.setattr(summary, "LARGE_ELEMENTS", 0)  # every scene counts as large
    main(["info", str(path)])
    out, err = capfd.readouterr()
    assert "reading: 2/2 tasks in " in err  # not a terminal: a plain line, not dask's bar
    assert "\r" not in err and "reading" not in out and "16" in out
