"""A no-data value that is also a real value: pixels holding it in only some bands are counted and named.

A uint16 GeoTIFF with no-data 0 whose last two bands are clipped to 0 at some pixels (a real reflectance of 0)
lost those pixels without a word; a real fill (a border at 0 in every band) is not counted. ``hsi info``
reports them with the bands and the fix, and ``hsi predict`` warns from its units sample.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import run_main
from tiny_runs import make_run

from hsi_app.errors import HSIWarning
from hsi_app.io.open import open_cube
from hsi_app.io.partial_nodata import of_values
from hsi_app.io.summary import format_summary, summarize

C, H, W = 12, 40, 50
WL = np.linspace(450.0, 2400.0, C)


def _scene(path: Path, *, clipped: bool) -> tuple[Path, np.ndarray]:
    """Values 1000-3000 with a 3-column fill border (0 in every band); with ``clipped``, bands 11 and 12 (1-based)
    hold 0 at a seeded 30 % / 10 % of the other pixels. Returns the path and the (C, H, W) values."""
    rng = np.random.default_rng(3)
    values = rng.integers(1000, 3000, size=(C, H, W)).astype(np.uint16)
    values[:, :, :3] = 0
    if clipped:
        values[10][rng.random((H, W)) < 0.3] = 0
        values[11][rng.random((H, W)) < 0.1] = 0
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype="uint16", nodata=0,
                       crs="EPSG:32633", transform=from_origin(500000, 4100000, 30, 30)) as ds:
        ds.write(values)
        ds.update_tags(wavelength=",".join(f"{v:.1f}" for v in WL), wavelength_units="nm")
    return path, values


def _expected(values: np.ndarray) -> tuple[int, dict[int, int]]:
    """Pixels with 0 in some bands and a value in another, and per 1-based band, counted here directly."""
    zero = values == 0
    partial = zero.any(axis=0) & (~zero).any(axis=0)
    return int(partial.sum()), {b + 1: int((zero[b] & partial).sum()) for b in range(C) if (zero[b] & partial).any()}


def test_of_values_counts_pixels_missing_some_good_bands_only() -> None:
    v = np.ones((4, 6), np.float32)  # 4 bands x 6 pixels
    v[:, 0] = np.nan  # a real fill: not counted
    v[1, 1] = np.nan  # partial
    v[1, 2] = v[2, 2] = np.nan  # partial, two bands
    v[3, 3] = np.nan  # only in band 4, which is bad: not counted
    found = of_values(v, np.array([False, False, False, True]))
    assert (found.pixels, found.looked) == (2, 6)
    np.testing.assert_array_equal(found.band_pixels, [0, 2, 1, 0])
    np.testing.assert_array_equal(found.worst_bands(), [1, 2])


def test_hsi_info_names_the_bands_holding_the_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, values = _scene(tmp_path / "clipped.tif", clipped=True)
    pixels, per_band = _expected(values)
    assert pixels > 0.2 * H * (W - 3)  # the scene is as meant: many pixels clipped in one band
    info = summarize(open_cube(path))
    got = info["nodata_in_some_bands"]
    assert got["pixels"] == pixels and got["band_pixels"] == per_band and got["nodata"] == 0.0
    assert got["fraction"] == pytest.approx(pixels / (H * W))
    assert info["valid_fraction"] == pytest.approx(float((values != 0).all(axis=0).mean()))
    assert ("hold the no-data value 0 in only some bands, most in bands 11 (2222.7 nm) and 12 (2400 nm)"
            in got["note"])
    code, out, err = run_main(capsys, "info", str(path))
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("no-data "))
    assert f"({pixels:,} of {H * W:,})" in line and "gdal_edit.py -unsetnodata" in line


def test_a_fill_in_every_band_is_not_reported(tmp_path: Path) -> None:
    path, _ = _scene(tmp_path / "border.tif", clipped=False)
    info = summarize(open_cube(path))
    assert "nodata_in_some_bands" not in info
    assert info["valid_fraction"] == pytest.approx((W - 3) / W)
    assert not any(x.startswith("no-data ") for x in format_summary(info).splitlines())


def test_hsi_predict_warns_from_its_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, values = _scene(tmp_path / "clipped.tif", clipped=True)
    run = make_run(tmp_path / "run", in_chans=C, wavelengths=WL, like=values[:, :, 3:].astype(np.float64))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(path),
                                "--out", str(tmp_path / "map.tif"), "--quiet")
    assert code == 0, err
    said = [str(w.message) for w in caught if issubclass(w.category, HSIWarning)] + err.splitlines()
    lines = [x for x in said if "in only some bands" in x]
    pixels, _ = _expected(values)  # the scene is smaller than a sample: every pixel is sampled
    assert lines and f"of sampled pixels ({pixels:,} of {H * W:,})" in lines[0] and "clipped.tif" in lines[0]
    with rasterio.open(tmp_path / "map.tif") as ds:  # those pixels are no-data (class 0) in the map, as said
        assert int((ds.read(1) == 0).sum()) == H * W - int((values != 0).all(axis=0).sum())
    border, _ = _scene(tmp_path / "border.tif", clipped=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(border),
                                "--out", str(tmp_path / "map2.tif"), "--quiet")
    assert code == 0, err
    assert not any("in only some bands" in str(w.message) for w in caught) and "in only some bands" not in err
