"""EnMAP L2A quality layers beyond the 0/1 masks: QL_PIXELMASK, QL_QUALITY_CLASSES, QL_QUALITY_TESTFLAGS,
and the METADATA.XML band statistics, against products written by tests/data/enmap_l2a/make.py."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import rasterio

from fixture_loader import fixture_module
from hsi_app.errors import CubeReadError
from hsi_app.io import open_cube
from hsi_app.io.enmap import read_enmap

fx = fixture_module("enmap_l2a")
P = fx.PRODUCT
H, W = 40, 30
GAIN = fx.GAIN


def part(folder: Path, name: str, ending: str = ".TIF") -> Path:
    return folder / f"{P}-{name}{ending}"


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def _rewrite(path: Path, data: np.ndarray) -> None:
    """Overwrite a layer's pixels in place (same grid, dtype and band count)."""
    with rasterio.open(path, "r+") as ds:
        ds.write(data if data.ndim == 3 else data[None])


def _zip_folder(folder: Path, zpath: Path) -> Path:
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{folder.name}/{f.name}")
    return zpath


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return fx.make(tmp_path, height=H, width=W, seed=0)


def test_pixel_mask_makes_the_flagged_values_nan_in_their_band_only(folder: Path, tmp_path: Path) -> None:
    """A value QL_PIXELMASK flags (any nonzero code) is NaN in that band; the same pixel's other bands keep
    their reflectance; the pixel is no longer valid; the count per band is kept."""
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    refl = np.where(raw == fx.NODATA, np.nan, raw * GAIN)
    mask = np.zeros((224, H, W), np.uint8)
    mask[40, 20, 12] = 1  # one defective value
    mask[150, 25:30, 4] = 2  # another code, five rows of one column
    _rewrite(part(folder, "QL_PIXELMASK"), mask)
    for path in (folder, _zip_folder(folder, tmp_path / "p.zip")):
        cube = read_enmap(path)
        vals = cube.values
        assert np.isnan(vals[40, 20, 12]) and np.isnan(vals[150, 25:30, 4]).all()
        np.testing.assert_allclose(vals[41, 20, 12], refl[41, 20, 12], rtol=1e-6)
        np.testing.assert_allclose(vals[:150, 27, 4], refl[:150, 27, 4], rtol=1e-6)
        assert np.isfinite(vals[:150, 27, 4]).sum() > 100
        want_nan = (raw == fx.NODATA) | (mask != 0)
        np.testing.assert_array_equal(np.isnan(vals), want_nan)
        valid = cube.hsi.valid.values
        assert not valid[20, 12] and not valid[25:30, 4].any() and valid[20, 13]
        counts = np.zeros(224, int)
        counts[40], counts[150] = 1, 5
        np.testing.assert_array_equal(cube.coords["defective_pixels"].values, counts)


def test_pixel_mask_can_be_left_unapplied(folder: Path) -> None:
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    flagged = _read(part(folder, "QL_PIXELMASK")) != 0
    assert (flagged & (raw != fx.NODATA)).any()  # the fixture's defective column holds values
    for cube in (read_enmap(folder, pixelmask=False), open_cube(folder, pixelmask=False)):
        np.testing.assert_array_equal(np.isnan(cube.values), raw == fx.NODATA)
        assert "defective_pixels" not in cube.coords
    assert np.isnan(read_enmap(folder).values[flagged & (raw != fx.NODATA)]).all()


def test_pixel_mask_declared_nodata_is_not_a_flag(folder: Path) -> None:
    mask = np.zeros((224, H, W), np.uint8)
    mask[:, 30:, :] = 255
    mask[7, 10, 10] = 1
    _rewrite(part(folder, "QL_PIXELMASK"), mask)
    with rasterio.open(part(folder, "QL_PIXELMASK"), "r+") as ds:
        ds.nodata = 255
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    vals = read_enmap(folder).values
    np.testing.assert_array_equal(np.isnan(vals[:, 30:]), raw[:, 30:] == fx.NODATA)
    assert np.isnan(vals[7, 10, 10])


def test_pixel_mask_of_another_product_is_refused_in_one_line(folder: Path, tmp_path: Path) -> None:
    other = fx.make(tmp_path / "small", height=20, width=16)
    shutil.copy(part(other, "QL_PIXELMASK"), part(folder, "QL_PIXELMASK"))
    with pytest.raises(CubeReadError) as info:
        read_enmap(folder)
    msg = str(info.value)
    assert "\n" not in msg and "QL_PIXELMASK.TIF" in msg and "(224, 20, 16)" in msg and "another product" in msg
    read_enmap(folder, pixelmask=False)  # the rest of the product still opens without it


def test_quality_classes_are_kept_and_background_is_nodata(folder: Path) -> None:
    """QL_QUALITY_CLASSES (1 land, 2 water, 3 background) becomes the quality_class coordinate; a background
    pixel is NaN in every band and invalid even where the spectral image holds values."""
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    classes = _read(part(folder, "QL_QUALITY_CLASSES"))[0]
    classes[H - 3:, W - 4:] = 3  # background where the image has data
    _rewrite(part(folder, "QL_QUALITY_CLASSES"), classes)
    assert (raw[:, H - 3:, W - 4:] != fx.NODATA).any()
    cube = read_enmap(folder)
    coord = cube.coords["quality_class"]
    assert coord.dims == ("y", "x")
    np.testing.assert_array_equal(coord.values, classes)
    assert "1 land" in coord.attrs["meaning"] and "3 background" in coord.attrs["meaning"]
    assert np.isnan(cube.values[:, H - 3:, W - 4:]).all() and not cube.hsi.valid.values[H - 3:, W - 4:].any()
    water = classes == 2
    assert water.any() and np.isfinite(cube.values[0][water & cube.hsi.valid.values]).all()  # water is kept
    window = cube.isel(y=slice(10, 20), x=slice(0, 5))
    np.testing.assert_array_equal(window.coords["quality_class"].values, classes[10:20, :5])


def test_test_flags_are_exposed_and_mask_nothing(folder: Path, tmp_path: Path) -> None:
    base = read_enmap(folder)
    flags = np.zeros((H, W), np.uint8)
    flags[5:9, 5:9] = 4
    _rewrite(part(folder, "QL_QUALITY_TESTFLAGS"), flags)
    cube = read_enmap(folder)
    np.testing.assert_array_equal(cube.coords["quality_testflags"].values, flags)
    np.testing.assert_array_equal(cube.hsi.valid.values, base.hsi.valid.values)
    np.testing.assert_array_equal(np.isnan(cube.values), np.isnan(base.values))
    assert set(cube.hsi.masks) == set(base.hsi.masks)  # not a mask: --exclude-masks all is unchanged
    multi = np.stack([flags, flags * 0 + 1, flags])
    with rasterio.open(part(folder, "QL_QUALITY_TESTFLAGS"), "w", driver="GTiff", width=W, height=H, count=3,
                       dtype="uint8", crs=base.rio.crs, transform=base.rio.transform()) as ds:
        ds.write(multi)
    cube = read_enmap(folder)
    for k in range(3):
        np.testing.assert_array_equal(cube.coords[f"quality_testflags_{k + 1}"].values, multi[k])


def test_cog_named_layers_are_read(tmp_path: Path) -> None:
    folder = fx.make(tmp_path, height=H, width=W, raster_ending="_COG.tiff")
    cube = read_enmap(folder)
    classes = _read(part(folder, "QL_QUALITY_CLASSES", "_COG.tiff"))[0]
    np.testing.assert_array_equal(cube.coords["quality_class"].values, classes)
    raw = _read(part(folder, "SPECTRAL_IMAGE", "_COG.tiff"))
    flagged = _read(part(folder, "QL_PIXELMASK", "_COG.tiff")) != 0
    np.testing.assert_array_equal(np.isnan(cube.values), (raw == fx.NODATA) | flagged)


def test_band_statistics_of_the_xml_are_kept(folder: Path) -> None:
    root = ET.parse(part(folder, "METADATA", ".XML")).getroot()
    stats = {int(b.get("number")): (float(b.findtext("mean")), float(b.findtext("stdDeviation")))
             for b in root.findall("product/bandStatistics/bandID")}
    cube = read_enmap(folder)
    mean, std = cube.coords["xml_band_mean"].values, cube.coords["xml_band_std"].values
    empty = [n - 1 for n, (m, s) in stats.items() if m == -1000000 and s == 0]
    assert empty == cube.hsi.bad_bands and np.isnan(mean[empty]).all() and np.isnan(std[empty]).all()
    full = [n - 1 for n in stats if n - 1 not in empty]
    np.testing.assert_allclose(mean[full], [stats[i + 1][0] for i in full])
    np.testing.assert_allclose(std[full], [stats[i + 1][1] for i in full])


def test_small_chunks_and_windows_give_the_masked_values(folder: Path) -> None:
    """The pixel mask and the background are applied chunk by chunk: a read in 7-pixel chunks, and a window
    of it, equal the expectation built from the files."""
    classes = _read(part(folder, "QL_QUALITY_CLASSES"))[0]
    classes[H - 9:, :4] = 3  # background across chunk borders
    _rewrite(part(folder, "QL_QUALITY_CLASSES"), classes)
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    gone = (raw == fx.NODATA) | (_read(part(folder, "QL_PIXELMASK")) != 0) | (classes == 3)[None]
    want = np.where(gone, np.nan, raw * GAIN)
    cube = read_enmap(folder, chunks=7)
    assert cube.data.chunks[1][0] == 7
    np.testing.assert_allclose(cube.values, want, rtol=1e-6)
    np.testing.assert_allclose(cube.hsi.window(3, 5, 20, 30).values, want[:, 3:23, 5:30], rtol=1e-6)
