"""``hsi info`` on integer files its readers decode to float32 (no-data as NaN): ENVI with ``data ignore value``
and a GeoTIFF with band scale/offset.

The no-data value held in only some bands (a real 0 or -9999 in one band) was counted for a GeoTIFF kept in its
own dtype but not for these: the decoded cube has no numeric no-data value, so the ``no-data`` line was missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from hsi_app.io.open import open_cube
from hsi_app.io.summary import format_summary, summarize

C, H, W = 6, 20, 30


def _values(fill: int, dtype: str) -> np.ndarray:
    """``(C, H, W)`` values 100-5000, the last 5 rows ``fill`` in every band (a real fill, not counted), and
    ``fill`` in band 5 (1-based) only at 6 pixels and in bands 2 and 3 at 2 more."""
    rng = np.random.default_rng(1)
    v = rng.integers(100, 5000, (C, H, W)).astype(dtype)
    v[:, 15:, :] = fill
    v[4, 0:2, 0:3] = fill
    v[1:3, 5, 7:9] = fill
    return v


def _expected(v: np.ndarray, fill: int) -> tuple[int, dict[int, int]]:
    """Pixels holding ``fill`` in some bands and another value in one, and per 1-based band, counted directly."""
    hit = v == fill
    partial = hit.any(0) & ~hit.all(0)
    return int(partial.sum()), {b + 1: int((hit[b] & partial).sum()) for b in range(C) if (hit[b] & partial).any()}


def _envi(tmp_path: Path, v: np.ndarray, interleave: str) -> Path:
    order = {"bsq": (0, 1, 2), "bil": (1, 0, 2), "bip": (1, 2, 0)}[interleave]
    data = tmp_path / f"scene_{interleave}.img"
    np.ascontiguousarray(v.transpose(order)).astype("<i2").tofile(data)
    data.with_suffix(".hdr").write_text(
        f"ENVI\nsamples = {W}\nlines = {H}\nbands = {C}\nheader offset = 0\nfile type = ENVI Standard\n"
        f"data type = 2\ninterleave = {interleave}\nbyte order = 0\nwavelength units = Micrometers\n"
        "wavelength = {0.45, 0.55, 0.65, 1.4, 1.65, 2.2}\ndata ignore value = -9999\n"
    )
    return data


def test_envi_int16_counts_the_ignore_value_in_some_bands(tmp_path: Path) -> None:
    v = _values(-9999, "int16")
    pixels, per_band = _expected(v, -9999)
    for interleave in ("bsq", "bil", "bip"):
        info = summarize(open_cube(_envi(tmp_path, v, interleave)))
        assert info["valid_fraction"] == (H * W - 5 * W - pixels) / (H * W)
        found = info["nodata_in_some_bands"]
        assert (found["pixels"], found["band_pixels"], found["nodata"]) == (pixels, per_band, -9999.0)
        assert "hold the no-data value -9999 in only some bands, most in bands 5 (1650 nm), 2 (550 nm) and 3 (650 nm)" in format_summary(info)


def test_scaled_uint16_geotiff_counts_zero_in_some_bands(tmp_path: Path) -> None:
    v = _values(0, "uint16")
    pixels, per_band = _expected(v, 0)
    path = tmp_path / "scaled.tif"
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype="uint16", nodata=0,
                       crs="EPSG:32633", transform=from_origin(500000, 4100000, 30, 30)) as ds:
        ds.write(v)
        ds.scales = [2e-5] * C
        ds.offsets = [-0.1] * C
    info = summarize(open_cube(path))
    found = info["nodata_in_some_bands"]
    assert (found["pixels"], found["band_pixels"], found["nodata"]) == (pixels, per_band, 0.0)
    assert f"({pixels:,} of {H * W:,}) hold the no-data value 0 in only some bands" in found["note"]


def test_float_nan_is_not_counted(tmp_path: Path) -> None:
    """NaN in a float file is never a real value: nothing to report."""
    v = _values(0, "float32")
    v[v == 0] = np.nan
    path = tmp_path / "nan.tif"
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000, 4100000, 30, 30)) as ds:
        ds.write(v)
    assert "nodata_in_some_bands" not in summarize(open_cube(path))


def test_a_few_pixels_in_a_large_scene_are_not_printed_as_none() -> None:
    """1 such pixel in 9,000,000 read ``0.00% of pixels (1 of 9,000,000)``."""
    from hsi_app.io.partial_nodata import PartialNodata, describe

    found = PartialNodata(1, 9_000_000, np.array([0, 1, 0]))
    note = describe(found, 0.0, np.array([450.0, 550.0, 650.0]), np.array([1, 2, 3]))
    assert note.startswith("<0.01% of pixels (1 of 9,000,000) hold the no-data value 0 in only some bands")


def test_the_no_data_value_of_a_scaled_geotiff_comes_from_its_reader(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """The reader keeps the file's no-data value (``attrs["raw_nodata"]``), so ``hsi info`` does not open the file
    again to learn it: with every further open refused, the value held in some bands is still found."""
    v = _values(7, "uint16")
    pixels, per_band = _expected(v, 7)
    path = tmp_path / "scaled7.tif"
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype="uint16", nodata=7,
                       crs="EPSG:32633", transform=from_origin(500000, 4100000, 30, 30)) as ds:
        ds.write(v)
        ds.scales = [1e-4] * C
    cube = open_cube(path)
    assert cube.attrs["raw_nodata"] == 7
    real_open = rasterio.open

    def refuse(fp, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if Path(str(fp)) == path:
            raise OSError(f"{fp}: opened again")
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", refuse)
    found = summarize(cube)["nodata_in_some_bands"]
    assert (found["pixels"], found["band_pixels"], found["nodata"]) == (pixels, per_band, 7.0)


def test_a_classifier_warns_from_its_sample_of_a_decoded_envi_file(tmp_path: Path) -> None:
    """`hsi predict`'s units sample counted the no-data value held in only some bands for a file kept in its own dtype,
    not for an integer ENVI file its reader decodes to float32 (the value NaN): the same pixels went unmentioned."""
    import warnings

    from tiny_runs import make_run

    from hsi_app.errors import HSIWarning
    from hsi_app.predictor import Predictor

    v = _values(-9999, "int16")
    pixels, _ = _expected(v, -9999)  # the scene is smaller than a units sample: every pixel is sampled
    like = v[:, v.min(axis=0) > -9999].astype(np.float64)[:, :, None]
    run = make_run(tmp_path / "run", in_chans=C, wavelengths=[450.0, 550.0, 650.0, 1400.0, 1650.0, 2200.0], like=like)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Predictor.load(run, "cpu").plan(open_cube(_envi(tmp_path, v, "bil")))
    lines = [str(w.message) for w in caught if issubclass(w.category, HSIWarning) and "in only some bands" in str(w.message)]
    assert len(lines) == 1, lines
    assert f"of sampled pixels ({pixels:,} of {H * W:,}) hold the no-data value -9999 in only some bands" in lines[0]
    assert "scene_bil" in lines[0]
