"""EnMAP L2A quality layers beyond the 0/1 masks: QL_PIXELMASK (the 'defective' mask), QL_QUALITY_CLASSES, QL_QUALITY_TESTFLAGS,
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
from hsi_app.io.enmap_layers import flag_of

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


def _held_flags(folder: Path, ending: str = ".TIF") -> np.ndarray:
    """``(224, H, W)`` bool built from the files: QL_PIXELMASK nonzero where the value holds data (not -32768,
    not QL_QUALITY_CLASSES background); the fixture's layer declares no no-data."""
    raw = _read(part(folder, "SPECTRAL_IMAGE", ending))
    background = _read(part(folder, "QL_QUALITY_CLASSES", ending))[0] == 3
    return (_read(part(folder, "QL_PIXELMASK", ending)) != 0) & (raw != fx.NODATA) & ~background[None]


def _defective_mask(folder: Path, ending: str = ".TIF") -> np.ndarray:
    """``(H, W)`` bool built from the files: a flag on a value that holds data, in any band (such a band is good)."""
    return _held_flags(folder, ending).any(axis=0)


def test_pixel_mask_keeps_the_values_and_becomes_the_defective_mask(folder: Path, tmp_path: Path) -> None:
    """By default a value QL_PIXELMASK flags keeps its reflectance and the pixel stays valid; the flags are
    the (H, W) mask 'defective' and are counted per band; pixelmask=True makes them NaN in their band only."""
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    refl = np.where(raw == fx.NODATA, np.nan, raw * GAIN)
    classes = _read(part(folder, "QL_QUALITY_CLASSES"))[0]
    mask = np.zeros((224, H, W), np.uint8)
    mask[40, 20, 12] = 1  # one defective value
    mask[150, 25:30, 4] = 2  # another code, five rows of one column
    _rewrite(part(folder, "QL_PIXELMASK"), mask)
    good = (raw != fx.NODATA).any(axis=(1, 2))
    want_valid = ~(raw[good] == fx.NODATA).any(axis=0) & (classes != 3)
    want_mask = np.zeros((H, W), bool)
    want_mask[20, 12] = True
    want_mask[25:30, 4] = True
    counts = np.zeros(224, int)
    counts[40], counts[150] = 1, 5
    assert want_valid[20, 12] and want_valid[25:30, 4].all()
    for path in (folder, _zip_folder(folder, tmp_path / "p.zip")):
        cube = read_enmap(path)
        np.testing.assert_allclose(cube.values, refl, rtol=1e-6)  # every value kept, flagged or not
        np.testing.assert_array_equal(cube.hsi.valid.values, want_valid)
        np.testing.assert_array_equal(cube.hsi.masks["defective"].values, want_mask)
        np.testing.assert_array_equal(cube.coords["defective_pixels"].values, counts)
        np.testing.assert_array_equal(cube.hsi.without_masked(["defective"]).hsi.valid.values, want_valid & ~want_mask)
        nan = read_enmap(path, pixelmask=True)
        vals = nan.values
        assert np.isnan(vals[40, 20, 12]) and np.isnan(vals[150, 25:30, 4]).all()
        np.testing.assert_allclose(vals[41, 20, 12], refl[41, 20, 12], rtol=1e-6)
        np.testing.assert_array_equal(np.isnan(vals), (raw == fx.NODATA) | (mask != 0))
        np.testing.assert_array_equal(nan.hsi.valid.values, want_valid & ~want_mask)
        np.testing.assert_array_equal(nan.hsi.masks["defective"].values, want_mask)
        np.testing.assert_array_equal(nan.coords["defective_pixels"].values, counts)


def test_fixture_defective_column_is_kept_and_masked(folder: Path) -> None:
    """The fixture's defective column (a few SWIR bands) and its 255 fill: values kept, mask as in the files."""
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    flagged = _read(part(folder, "QL_PIXELMASK")) != 0
    held = flagged & (raw != fx.NODATA)
    assert held.any()  # the fixture's defective column holds values
    want = _defective_mask(folder)
    for cube in (read_enmap(folder), open_cube(folder)):
        np.testing.assert_array_equal(np.isnan(cube.values), raw == fx.NODATA)
        np.testing.assert_array_equal(cube.hsi.masks["defective"].values, want)
        np.testing.assert_array_equal(cube.coords["defective_pixels"].values, held.sum(axis=(1, 2)))
    assert np.isnan(open_cube(folder, pixelmask=True).values[held]).all()


def test_flags_on_no_data_and_background_are_not_counted(folder: Path) -> None:
    """A flag counts only where the pixel holds data in its band: the fixture's 255 fill over the no-data corner,
    a flag on a -32768 value of a good band and flags on background pixels that hold values are all left out,
    in the mask and in defective_pixels (and so in hsi info's share)."""
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    pm = _read(part(folder, "QL_PIXELMASK"))
    classes = _read(part(folder, "QL_QUALITY_CLASSES"))[0]
    column = np.flatnonzero((pm == 1).any(axis=(0, 1)))[0]  # the fixture's defective column
    rows = np.flatnonzero(classes[:, column] != 3)[:4]
    classes[rows, column] = 3  # background over part of the column, where the image holds values
    _rewrite(part(folder, "QL_QUALITY_CLASSES"), classes)
    good = np.flatnonzero((raw != fx.NODATA).any(axis=(1, 2)))
    assert not pm[:, 5, 2].any() and (raw[good, 5, 2] != fx.NODATA).all()
    pm[good[0], 5, 2] = 1  # a flag on a no-data value of a good band (pixel 5, 2 is nowhere else flagged)
    raw[good[0], 5, 2] = fx.NODATA
    _rewrite(part(folder, "QL_PIXELMASK"), pm)
    _rewrite(part(folder, "SPECTRAL_IMAGE"), raw)
    flagged_anywhere = (pm != 0).any(axis=0)
    held = _held_flags(folder)
    want = held.any(axis=0)
    assert flagged_anywhere[classes == 3].all() and not want[classes == 3].any()
    assert flagged_anywhere[5, 2] and not want[5, 2] and want.sum() >= 10
    cube = read_enmap(folder)
    np.testing.assert_array_equal(cube.hsi.masks["defective"].values, want)
    np.testing.assert_array_equal(cube.coords["defective_pixels"].values, held.sum(axis=(1, 2)))
    assert not (cube.hsi.masks["defective"].values & ~cube.hsi.valid.values).any()


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Patch the pixel-mask block reader to record the bands of each read (None: every band)."""
    import hsi_app.io.enmap as enmap

    calls: list[object] = []
    real = enmap._read_block

    def counted(ds, r0, n, w, label, *rest):  # noqa: ANN001, ANN202
        calls.append(rest[0] if rest else None)
        return real(ds, r0, n, w, label, *rest)

    monkeypatch.setattr(enmap, "_read_block", counted)
    return calls


def test_pixel_mask_read_once_when_bands_without_data_carry_no_flags(folder: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture has all-no-data bands; with a pixel mask of zeros (and with the fixture's own, whose flags
    lie on data or on the no-data fill only) the layer is read once, in one block: nothing is read again."""
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    assert (raw == fx.NODATA).all(axis=(1, 2)).any()
    calls = _counting_reads(monkeypatch)
    read_enmap(folder)
    assert calls == [None]
    _rewrite(part(folder, "QL_PIXELMASK"), np.zeros((224, H, W), np.uint8))
    calls.clear()
    cube = read_enmap(folder, pixelmask=True)
    assert calls == [None] and not cube.hsi.masks["defective"].values.any()


def kept_bad(folder: Path) -> list[int]:
    """0-based bands that are -32768 everywhere in the spectral image file."""
    return np.flatnonzero((_read(part(folder, "SPECTRAL_IMAGE")) == fx.NODATA).all(axis=(1, 2))).tolist()


def test_band_voided_by_its_flags_is_read_again_alone(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pixelmask=True: a good band whose every value is flagged becomes all no-data, so it is no good band and its
    flags leave the mask; only that band is read again, in one read. By default the band stays good and flagged."""
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    mask = np.zeros((224, H, W), np.uint8)
    mask[60] = 1  # every value of band 61
    mask[90, 12, 3] = 1  # one value of band 91
    _rewrite(part(folder, "QL_PIXELMASK"), mask)
    background = _read(part(folder, "QL_QUALITY_CLASSES"))[0] == 3
    holds = (raw[60] != fx.NODATA) & ~background
    one = np.zeros((H, W), bool)
    one[12, 3] = True
    calls = _counting_reads(monkeypatch)
    nan = read_enmap(folder, pixelmask=True)
    assert calls == [None, [61]]
    assert 60 in nan.hsi.bad_bands and 60 not in kept_bad(folder)
    np.testing.assert_array_equal(nan.hsi.masks["defective"].values, one)
    calls.clear()
    kept = read_enmap(folder)
    assert calls == [None]
    np.testing.assert_array_equal(kept.hsi.masks["defective"].values, holds | one)


def test_flags_in_bands_without_data_are_not_in_the_mask(folder: Path) -> None:
    """'defective' is a flag in a good band: a flag in an all-no-data band leaves the pixel out, at any block size."""
    from hsi_app.io.enmap import scan_spectral_image

    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    bad = np.flatnonzero((raw == fx.NODATA).all(axis=(1, 2)))
    assert bad.size
    mask = np.zeros((224, H, W), np.uint8)
    mask[bad[0], 3:6, 9] = 1  # only in a bad band
    mask[bad[0], 30, 20] = 1
    mask[100, 30, 20] = 1  # and in a good band
    _rewrite(part(folder, "QL_PIXELMASK"), mask)
    want = np.zeros((H, W), bool)
    want[30, 20] = True
    np.testing.assert_array_equal(read_enmap(folder).hsi.masks["defective"].values, want)
    spectral, pm = str(part(folder, "SPECTRAL_IMAGE")), str(part(folder, "QL_PIXELMASK"))
    small = scan_spectral_image(spectral, spectral, block_bytes=1, pixelmask=(pm, pm, "GTiff"))
    np.testing.assert_array_equal(small.defective_mask, want)


def test_pixel_mask_declared_nodata_is_not_a_flag(folder: Path) -> None:
    mask = np.zeros((224, H, W), np.uint8)
    mask[:, 30:, :] = 255
    mask[7, 10, 10] = 1
    _rewrite(part(folder, "QL_PIXELMASK"), mask)
    with rasterio.open(part(folder, "QL_PIXELMASK"), "r+") as ds:
        ds.nodata = 255
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    want = np.zeros((H, W), bool)
    want[10, 10] = True
    np.testing.assert_array_equal(read_enmap(folder).hsi.masks["defective"].values, want)
    vals = read_enmap(folder, pixelmask=True).values
    np.testing.assert_array_equal(np.isnan(vals[:, 30:]), raw[:, 30:] == fx.NODATA)
    assert np.isnan(vals[7, 10, 10])


def test_pixel_mask_of_another_product_is_refused_in_one_line(folder: Path, tmp_path: Path) -> None:
    other = fx.make(tmp_path / "small", height=20, width=16)
    shutil.copy(part(other, "QL_PIXELMASK"), part(folder, "QL_PIXELMASK"))
    for pixelmask in (False, True):  # the layer is read either way: it gives the 'defective' mask
        with pytest.raises(CubeReadError) as info:
            read_enmap(folder, pixelmask=pixelmask)
        msg = str(info.value)
        assert "\n" not in msg and "QL_PIXELMASK.TIF" in msg and "(224, 20, 16)" in msg and "another product" in msg
    part(folder, "QL_PIXELMASK").unlink()
    cube = read_enmap(folder)  # the rest of the product still opens without it
    assert "defective" not in cube.hsi.masks and "defective_pixels" not in cube.coords


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
    np.testing.assert_array_equal(np.isnan(cube.values), raw == fx.NODATA)
    np.testing.assert_array_equal(cube.hsi.masks["defective"].values, _defective_mask(folder, "_COG.tiff"))


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
    """The background (and, when asked, the pixel mask) are applied chunk by chunk: a read in 7-pixel chunks,
    and a window of it, equal the expectation built from the files."""
    classes = _read(part(folder, "QL_QUALITY_CLASSES"))[0]
    classes[H - 9:, :4] = 3  # background across chunk borders
    _rewrite(part(folder, "QL_QUALITY_CLASSES"), classes)
    raw = _read(part(folder, "SPECTRAL_IMAGE"))
    flagged = _read(part(folder, "QL_PIXELMASK")) != 0
    for pixelmask in (False, True):
        gone = (raw == fx.NODATA) | (flagged & pixelmask) | (classes == 3)[None]
        want = np.where(gone, np.nan, raw * GAIN)
        cube = read_enmap(folder, chunks=7, pixelmask=pixelmask)
        assert cube.data.chunks[1][0] == 7
        np.testing.assert_allclose(cube.values, want, rtol=1e-6)
        window = cube.hsi.window(3, 5, 20, 30)
        np.testing.assert_allclose(window.values, want[:, 3:23, 5:30], rtol=1e-6)
        np.testing.assert_array_equal(window.hsi.masks["defective"].values, _defective_mask(folder)[3:23, 5:30])


@pytest.mark.parametrize("nodata", [None, float("nan"), 255.0])
def test_flag_of_never_flags_nan_or_the_declared_nodata(nodata: float | None) -> None:
    """A float quality layer's NaN holds no flag (whatever no-data it declares), nor does its declared no-data;
    every other nonzero value is a flag. A NaN used to count as a defective pixel."""
    block = np.array([[0.0, 1.0, np.nan], [2.0, 255.0, 0.0]], dtype=np.float32)
    expected = np.array([[False, True, False], [True, nodata != 255.0, False]])
    np.testing.assert_array_equal(flag_of(block, nodata), expected)
