"""Float values of magnitude 1e30 or more (netCDF's 9.96921e36 fill, 1e30) are no data, declared or not."""

from __future__ import annotations

import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from cli_runner import run_main
from rasterio.transform import from_origin

from hsi_app.io.cube import make_cube, valid_from_data
from hsi_app.io.open import open_cube
from hsi_app.tasks.detection import detect_scene, scene_image
from hsi_app.tasks.detectors_classical import classical_scores

NC_FILL = 9.96921e36  # netCDF's default float fill value
C, H, W = 12, 32, 32
FILL_AT = [(3, 4), (3, 5), (20, 9), (31, 31)]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_in_memory_and_lazy_masks_equal_the_rule(dtype: type) -> None:
    """One rule, two paths: a value is a measurement when finite and below 1e30 in magnitude (and not nodata)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 12, 10)).astype(dtype)
    with np.errstate(over="ignore"):  # float16 holds 1e30 and up as inf
        for k, v in enumerate([np.nan, np.inf, -np.inf, 1e30, -NC_FILL, 9.99e29, 1e29, 3e38, 1e4, -7.0]):
            a[k % 5, k, k] = v
        a[0, 11, 9], a[1, 11, 9] = 1e36, -1e36  # their sum, 0, says nothing: still no data
    want = (np.abs(a.astype(np.float64)) < 1e30).all(axis=0)
    if dtype != np.float16:
        assert not want[3, 3] and not want[4, 4] and want[5, 5] and want[6, 6] and not want[11, 9]
    bad = np.zeros(5, bool)
    lazy = da.from_array(a, chunks=(5, 4, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from comparing float16 with 1e30
        np.testing.assert_array_equal(valid_from_data(a, None, bad), want)
        np.testing.assert_array_equal(np.asarray(valid_from_data(lazy, None, bad)), want)
        with_nodata = want & (a != -7.0).all(axis=0)
        np.testing.assert_array_equal(valid_from_data(a, -7.0, bad), with_nodata)
        np.testing.assert_array_equal(np.asarray(valid_from_data(lazy, -7.0, bad)), with_nodata)


def _scene() -> np.ndarray:
    """``(C, H, W)`` float32: two materials and noise, a clear target block."""
    rng = np.random.default_rng(3)
    wl = np.linspace(450, 2200, C)
    soil = 0.1 + 0.0001 * (wl - 400)
    veg = 0.05 + 0.45 / (1 + np.exp(-(wl - 710) / 15))
    cube = np.repeat(soil[:, None, None], H, 1).repeat(W, 2)
    cube[:, 10:16, 10:16] = veg[:, None, None]
    return (cube + rng.normal(0, 0.01, cube.shape)).astype(np.float32)


def _write(path: Path, data: np.ndarray, nodata: float | None = None) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype="float32", nodata=nodata,
                       crs="EPSG:32633", transform=from_origin(500000, 5000000, 10, 10)) as ds:
        ds.write(data)
        for i, w in enumerate(np.linspace(450, 2200, C)):
            ds.update_tags(i + 1, wavelength=str(w))
    return path


@pytest.mark.parametrize("method", ["ace", "mf"])
def test_undeclared_fill_values_score_as_declared_no_data(tmp_path: Path, method: str) -> None:
    """4 pixels of 9.96921e36 without a nodata tag: the scores equal those of the scene with them declared no-data
    (were ACE = 1.0 and MF = 1.0 on every pixel: the mean and covariance were dragged to 1e33)."""
    base = _scene()
    filled, declared = base.copy(), base.copy()
    for r, c in FILL_AT:
        filled[:, r, c] = NC_FILL
        declared[:, r, c] = -9999.0
    a = open_cube(_write(tmp_path / "ncfill.tif", filled))
    b = open_cube(_write(tmp_path / "declared.tif", declared, nodata=-9999.0))
    target = base[:, 12, 12][None]  # a vegetation pixel
    got = detect_scene(a, method, spectra=target).scores
    want = detect_scene(b, method, spectra=target).scores
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert all(np.isnan(got[0, r, c]) for r, c in FILL_AT) and int(np.isnan(got).sum()) == len(FILL_AT)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-6)
    assert float(np.nanmax(got)) > 0.5 and float(np.nanmedian(got)) < 0.2  # real contrast, not 1.0 everywhere
    in_memory = classical_scores(method, scene_image(a), target)  # the in-memory path agrees
    np.testing.assert_allclose(in_memory[ok], want[ok], rtol=1e-5, atol=1e-6)


def test_info_counts_fill_values_as_no_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _scene()
    for r, c in FILL_AT:
        data[2, r, c] = NC_FILL if r != 31 else 1e30  # one band is enough
    path = _write(tmp_path / "ncfill.tif", data)
    code, out, err = run_main(capsys, "info", str(path))
    assert code == 0, err
    assert f"valid pixels {100 * (1 - len(FILL_AT) / (H * W)):.2f}%" in out
    in_memory = make_cube(np.asarray(open_cube(path).values))  # the numpy path of the same rule
    assert int((~in_memory.hsi.valid.values).sum()) == len(FILL_AT)
