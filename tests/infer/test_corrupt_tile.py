"""A tile damaged inside a GeoTIFF (its end intact, so the file opens) fails `hsi predict` with one line naming the
file, GDAL's reason and the fix, not as 'unexpected RasterioIOError: Read failed. See previous exception ...'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import assert_one_error_line, run_main
from tif_writer import damage_tile
from tiny_runs import make_run

from hsi_app.errors import CubeReadError
from hsi_app.infer import iter_windows, read_window
from hsi_app.io.open import open_cube

WL = np.linspace(450.0, 850.0, 5)


def _damaged(path: Path) -> Path:
    """A 48 x 48 x 5 tiled DEFLATE scene whose middle tile (1, 1) holds garbage."""
    rng = np.random.default_rng(0)
    data = rng.uniform(0.1, 0.6, size=(5, 48, 48)).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", height=48, width=48, count=5, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(500000.0, 4600000.0, 30.0, 30.0), tiled=True, blockxsize=16,
                       blockysize=16, compress="deflate") as ds:
        ds.write(data)
        ds.update_tags(wavelength=",".join(str(w) for w in WL), wavelength_units="nm")
    return damage_tile(path)


def test_read_window_names_the_file_and_gdal_reason(tmp_path: Path) -> None:
    path = _damaged(tmp_path / "damaged.tif")
    cube = open_cube(path)  # opens: the last tile, which opening probes, is intact
    wins = list(iter_windows(48, 48, 16, 0))
    read_window(cube, wins[0])  # a good tile reads
    with pytest.raises(CubeReadError) as err:
        read_window(cube, wins[4])  # tile (1, 1)
    msg = str(err.value)
    assert msg.startswith(f"{path}: data cannot be read (") and "IReadBlock failed" in msg, msg
    assert "download or export it again" in msg and "previous exception" not in msg and "\n" not in msg


def test_hsi_predict_says_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _damaged(tmp_path / "damaged.tif")
    run = make_run(tmp_path / "run", in_chans=5, wavelengths=WL)
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(path), "--out",
                            str(tmp_path / "map.tif"), "--quiet", "--window", "16")
    assert_one_error_line(code, err, str(path), "IReadBlock failed", "truncated or corrupt",
                          "download or export it again")
    assert "RasterioIOError" not in err and "previous exception" not in err
