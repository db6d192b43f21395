"""EnMAP L2A products delivered in ENVI format (``*-SPECTRAL_IMAGE.BSQ``/``.BIL``/``.BIP`` + ``.HDR``), as the
EnMAP ground segment and EnPT write them when ENVI is ordered: read as EnMAP, the same as the GeoTIFF product."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from fixture_loader import fixture_module
from hsi_app.errors import CubeReadError
from hsi_app.io.open import open_cube, sniff

fx = fixture_module("enmap_l2a")
P = fx.PRODUCT
H, W = 20, 18
ORDER = {"bsq": (0, 1, 2), "bil": (1, 0, 2), "bip": (1, 2, 0)}
ENVI_TYPES = {"int16": 2, "uint8": 1}


def envi_copy(tif: Path, interleave: str) -> Path:
    """Write ``tif``'s pixels as ``<stem>.<INTERLEAVE>`` + ``<stem>.HDR`` (numpy bytes, hand-written header with the
    UTM map info and ignore value the product carries) and delete the TIF; returns the data file."""
    with rasterio.open(tif) as ds:
        data, t, nodata, epsg = ds.read(), ds.transform, ds.nodata, ds.crs.to_epsg()
    c, h, w = data.shape
    out = tif.with_suffix(f".{interleave.upper()}")
    out.write_bytes(np.ascontiguousarray(data.transpose(ORDER[interleave])).astype(data.dtype.newbyteorder("<")).tobytes())
    lines = ["ENVI", "description = {EnMAP L2A}", f"samples = {w}", f"lines = {h}", f"bands = {c}", "header offset = 0",
             "file type = ENVI Standard", f"data type = {ENVI_TYPES[data.dtype.name]}", f"interleave = {interleave}",
             "byte order = 0",
             f"map info = {{UTM, 1, 1, {t.c:.1f}, {t.f:.1f}, {t.a:g}, {-t.e:g}, {epsg - 32600}, North, WGS-84, units=Meters}}"]
    if nodata is not None:
        lines.append(f"data ignore value = {nodata:g}")
    tif.with_suffix(".HDR").write_text("\n".join(lines) + "\n")
    tif.unlink()
    return out


def envi_product(root: Path, interleave: str, *, quality_too: bool = False) -> Path:
    folder = fx.make(root, height=H, width=W, seed=0)
    envi_copy(folder / f"{P}-SPECTRAL_IMAGE.TIF", interleave)
    if quality_too:
        for layer in fx.QUALITY_LAYERS:
            envi_copy(folder / f"{P}-QL_QUALITY_{layer}.TIF", interleave)
    return folder


@pytest.fixture(scope="module")
def tif_cube(tmp_path_factory: pytest.TempPathFactory) -> xr.DataArray:
    """The same seed-0 product as delivered in GeoTIFF."""
    return open_cube(fx.make(tmp_path_factory.mktemp("tif"), height=H, width=W, seed=0)).load()


def same_as(cube: xr.DataArray, ref: xr.DataArray) -> None:
    assert cube.attrs["format"] == "enmap_l2a" == ref.attrs["format"]
    np.testing.assert_array_equal(cube.values, ref.values)
    np.testing.assert_array_equal(cube.hsi.wavelengths, ref.hsi.wavelengths)
    np.testing.assert_array_equal(cube.hsi.fwhm, ref.hsi.fwhm)
    np.testing.assert_array_equal(cube.gain.values, ref.gain.values)
    assert cube.hsi.bad_bands == ref.hsi.bad_bands and len(ref.hsi.bad_bands) > 0
    np.testing.assert_array_equal(cube.hsi.valid.values, ref.hsi.valid.values)
    assert sorted(cube.hsi.masks) == sorted(ref.hsi.masks) == sorted([*(m.lower() for m in fx.QUALITY_LAYERS), "defective"])
    for name, mask in ref.hsi.masks.items():
        np.testing.assert_array_equal(cube.hsi.masks[name].values, mask.values)
    assert cube.rio.crs == ref.rio.crs and cube.rio.transform() == ref.rio.transform()


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_envi_product_folder_reads_as_the_geotiff_product(tmp_path: Path, tif_cube: xr.DataArray,
                                                          interleave: str) -> None:
    """It was 'no *-SPECTRAL_IMAGE.TIF in this folder, so it is not an EnMAP L2A product'."""
    same_as(open_cube(envi_product(tmp_path, interleave)), tif_cube)


def test_every_part_of_an_envi_product_opens_it_as_enmap(tmp_path: Path, tif_cube: xr.DataArray) -> None:
    """The .BSQ read as plain ENVI (int16 DN, no band table, no masks) and METADATA.XML was 'unrecognised'."""
    folder = envi_product(tmp_path, "bsq")
    for name in ("SPECTRAL_IMAGE.BSQ", "SPECTRAL_IMAGE.HDR", "METADATA.XML"):
        path = folder / f"{P}-{name}"
        assert sniff(path) == "enmap", name
        same_as(open_cube(path), tif_cube)


def test_envi_quality_layers_and_a_zipped_envi_product(tmp_path: Path, tif_cube: xr.DataArray) -> None:
    folder = envi_product(tmp_path, "bil", quality_too=True)
    same_as(open_cube(folder), tif_cube)
    zpath = tmp_path / f"{P}.ZIP"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{P}/{f.name}")
    shutil.rmtree(folder)
    same_as(open_cube(zpath), tif_cube)


def test_an_envi_product_without_its_metadata_says_what_to_copy(tmp_path: Path) -> None:
    folder = envi_product(tmp_path, "bsq")
    (folder / f"{P}-METADATA.XML").unlink()
    with pytest.raises(CubeReadError, match=rf"{P}-SPECTRAL_IMAGE.BSQ: no {P}-METADATA.XML next to it; copy"):
        open_cube(folder / f"{P}-SPECTRAL_IMAGE.HDR")


def test_a_folder_without_a_spectral_image_names_every_format(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(CubeReadError, match=r"no \*-SPECTRAL_IMAGE.TIF \(or .BSQ/.BIL/.BIP, .JP2\) in this folder"):
        open_cube(tmp_path)
