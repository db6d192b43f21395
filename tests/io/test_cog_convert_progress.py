"""The conversion to COG at the end of a streamed write shows progress for a large raster.

``StreamingCOGWriter`` writes a tiled staging GeoTIFF window by window, then converts it to a COG with
overviews in one GDAL call: on a 1000 x 1000 x 200 float32 denoised cube 93 s with nothing printed after
the window bar had finished. With ``progress`` the call is one step of :func:`hsi_app.progress.steps`
(rasterio's copy takes no GDAL progress callback), above ``LARGE_ELEMENTS`` values only, as ``write_cube``'s
bar; ``--quiet`` hides it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import run_main
from hsi_app.io import summary
from hsi_app.io.cog import StreamingCOGWriter

CONTROL = ("\r", "\x1b")


def _write(path: Path, *, progress: bool) -> None:
    data = np.arange(3 * 40 * 48, dtype=np.float32).reshape(3, 40, 48)
    with StreamingCOGWriter(path, height=40, width=48, count=3, dtype="float32", crs="EPSG:32633",
                            transform=from_origin(0, 0, 10, 10), nodata=float("nan"), progress=progress) as wr:
        wr.write_window(data, 0, 0)
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(), data)


def test_the_conversion_is_one_step_in_a_log_above_the_size_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "small.tif", progress=True)
    assert capsys.readouterr().err == ""  # 5,760 values: converted in a moment, nothing shown
    monkeypatch.setattr(summary, "LARGE_ELEMENTS", 1000)
    _write(tmp_path / "large.tif", progress=True)
    err = capsys.readouterr().err
    assert err.startswith("write COG: 1/1 steps in ") and err.count("\n") == 1, repr(err)
    assert not any(c in err for c in CONTROL)
    _write(tmp_path / "quiet.tif", progress=False)  # the default, and --quiet
    assert capsys.readouterr().err == ""


def test_hsi_denoise_shows_the_conversion_after_its_window_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from tests.tasks.test_denoising import geotiff, smooth_cube, untrained_run

    src = geotiff(tmp_path / "in.tif", smooth_cube())
    run = untrained_run(tmp_path)
    monkeypatch.setattr(summary, "LARGE_ELEMENTS", 1000)
    code, _, err = run_main(capsys, "denoise", "--model", str(run), "--input", str(src), "--out", str(tmp_path / "o.tif"))
    assert code == 0, err
    lines = [line for line in err.splitlines() if ": " in line and " in " in line]
    assert lines[-2].startswith("denoise: 1/1 win in ") and lines[-1].startswith("write COG: 1/1 steps in "), err
    code, _, err = run_main(capsys, "denoise", "--model", str(run), "--input", str(src), "--out", str(tmp_path / "q.tif"),
                            "--quiet")
    assert code == 0 and "write COG" not in err, err
