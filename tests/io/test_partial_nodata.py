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
from hsi_app.io.partial_nodata import of_stored
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


def test_of_stored_counts_pixels_missing_some_good_bands_only() -> None:
    """Counted from stored values, uint16 and float32 alike (a float's NaN and fill values are not measurements)."""
    v = np.ones((4, 7), np.uint16)  # 4 bands x 7 pixels, no-data 0
    v[:, 0] = 0  # a real fill: not counted
    v[1, 1] = 0  # partial
    v[1, 2] = v[2, 2] = 0  # partial, two bands
    v[3, 3] = 0  # only in band 4, which is bad: not counted
    bad = np.array([False, False, False, True])
    for values in (v, v.astype(np.float32)):
        found = of_stored(values, 0.0, bad)
        assert (found.pixels, found.looked) == (2, 7)
        np.testing.assert_array_equal(found.band_pixels, [0, 2, 1, 0])
        np.testing.assert_array_equal(found.worst_bands(), [1, 2])
    f = v.astype(np.float32)
    f[:3, 4] = np.nan  # no measurement in any good band, a 0 in none: not counted
    f[0, 5], f[2, 5] = 0, np.nan  # 0 in band 1, NaN in band 3, measured in band 2: partial
    f[0, 6], f[1:3, 6] = 0, 1e38  # 0 in band 1, fill values elsewhere: no measurement, not counted
    found = of_stored(f, 0.0, bad)
    assert found.pixels == 3
    np.testing.assert_array_equal(found.band_pixels, [1, 2, 1, 0])
    assert of_stored(v, None, bad) is None
    d = v.astype(np.float32)  # a decoded integer file: its fill is NaN, every other value a measurement
    d[d == 0] = np.nan
    found = of_stored(d, float("nan"), bad)
    assert found.pixels == 2
    np.testing.assert_array_equal(found.band_pixels, [0, 2, 1, 0])


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


def _big_scene(path: Path) -> tuple[Path, np.ndarray]:
    """``_scene``'s bands on 300 x 400 px (more than one units sample), 64 x 128 px tiles, band 11 clipped to 0 at
    a seeded 30 % of the pixels. Returns the path and the (C, H, W) values."""
    rng = np.random.default_rng(5)
    h, w = 300, 400
    values = rng.integers(1000, 3000, size=(C, h, w)).astype(np.uint16)
    values[10][rng.random((h, w)) < 0.3] = 0
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=C, dtype="uint16", nodata=0,
                       tiled=True, blockysize=64, blockxsize=128, crs="EPSG:32633",
                       transform=from_origin(500000, 4100000, 30, 30)) as ds:
        ds.write(values)
        ds.update_tags(wavelength=",".join(f"{v:.1f}" for v in WL), wavelength_units="nm")
    return path, values


@pytest.mark.parametrize("members", [1, 3])
def test_the_warning_comes_from_the_one_read_of_the_units_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  members: int) -> None:
    """A classifier (and an ensemble of 3) reads the sample windows once, for the units check and the count alike,
    and warns once; the count is that of the sampled pixels, counted here from the file's values."""
    from rasterio_reads import pixels_read

    from hsi_app.ensemble import EnsemblePredictor
    from hsi_app.predictor import Predictor
    from hsi_app.value_range import sample_windows

    path, values = _big_scene(tmp_path / "clipped.tif")
    like = values[:, values.all(axis=0)].astype(np.float64)[:, :, None]
    runs = [make_run(tmp_path / f"run{i}", in_chans=C, wavelengths=WL, like=like, seed=i) for i in range(members)]
    loaded = [Predictor.load(r, "cpu") for r in runs]
    pred = loaded[0] if members == 1 else EnsemblePredictor(loaded, [str(r) for r in runs])
    cube = open_cube(path)
    wins = sample_windows(*values.shape[1:])
    sampled = np.concatenate([values[:, w.row:w.row + w.height, w.col:w.col + w.width].reshape(C, -1) for w in wins],
                             axis=1)
    pixels, _ = _expected(sampled[:, :, None])
    assert pixels > 0.2 * sampled.shape[1]
    with pixels_read(monkeypatch) as seen, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred.plan(cube)
    assert sum(seen) == sum(w.height * w.width for w in wins) < values[0].size  # each window read once
    lines = [str(w.message) for w in caught if "in only some bands" in str(w.message)]
    assert len(lines) == 1 and f"of sampled pixels ({pixels:,} of {sampled.shape[1]:,})" in lines[0]


def test_hsi_info_counts_a_float_scene_over_several_chunks(tmp_path: Path) -> None:
    """float32, no-data -9999, NaN at some values (not a measurement, not the no-data value), 700 px wide (two
    chunks): the count and the valid fraction are those counted here from the file's values."""
    rng = np.random.default_rng(7)
    h, w = 30, 700
    values = rng.uniform(0.1, 0.5, size=(C, h, w)).astype(np.float32)
    values[:, :, :5] = -9999  # a fill in every band
    values[3][rng.random((h, w)) < 0.05] = -9999
    values[7][rng.random((h, w)) < 0.05] = np.nan
    path = tmp_path / "float.tif"
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=C, dtype="float32", nodata=-9999,
                       crs="EPSG:32633", transform=from_origin(500000, 4100000, 30, 30)) as ds:
        ds.write(values)
    missing, measured = values == -9999, np.isfinite(values) & (values != -9999)
    partial = missing.any(axis=0) & measured.any(axis=0)
    info = summarize(open_cube(path))
    got = info["nodata_in_some_bands"]
    assert got["pixels"] == int(partial.sum()) > 0
    assert got["band_pixels"] == {4: int((missing[3] & partial).sum())}
    assert info["valid_fraction"] == pytest.approx(float(measured.all(axis=0).mean()))
