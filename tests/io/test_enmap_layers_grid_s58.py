"""EnMAP L2A quality layers on another grid than the spectral image (another CRS, a shifted transform) are
refused with one line naming the layer; a layer on the image's own grid opens as before. Products are written by
tests/data/enmap_l2a/make.py."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

from fixture_loader import fixture_module
from hsi_app.errors import CubeReadError
from hsi_app.io.enmap import read_enmap

fx = fixture_module("enmap_l2a")
P = fx.PRODUCT
H, W = 40, 30

# one layer of each kind the reader opens: a 0/1 mask, the cirrus codes, the class layer (background), the test flags,
# and the per-band pixel mask (read in the spectral image's row blocks)
LAYERS = ("QL_QUALITY_CLOUD", "QL_QUALITY_CIRRUS", "QL_QUALITY_CLASSES", "QL_QUALITY_TESTFLAGS", "QL_PIXELMASK")


def part(folder: Path, name: str) -> Path:
    return folder / f"{P}-{name}.TIF"


def _regrid(path: Path, *, crs: CRS | None = None, transform: Affine | None = None) -> None:
    """Rewrite a layer's georeferencing in place (its pixels stay as they are)."""
    with rasterio.open(path, "r+") as ds:
        if crs is not None:
            ds.crs = crs
        if transform is not None:
            ds.transform = transform


def _transform(folder: Path) -> Affine:
    with rasterio.open(part(folder, "SPECTRAL_IMAGE")) as ds:
        return ds.transform


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return fx.make(tmp_path, height=H, width=W, seed=0)


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_in_another_crs_is_refused(folder: Path, layer: str) -> None:
    _regrid(part(folder, layer), crs=CRS.from_epsg(32632))  # the next UTM zone west, same numbers
    with pytest.raises(CubeReadError) as err:
        read_enmap(folder)
    msg = str(err.value)
    assert f"{P}-{layer}.TIF" in msg and "\n" not in msg
    assert "EPSG:32632" in msg and f"EPSG:{fx.EPSG}" in msg
    assert "another grid" in msg and "use this product's own layer or delete it" in msg


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_shifted_by_a_pixel_is_refused(folder: Path, layer: str) -> None:
    t = _transform(folder)
    _regrid(part(folder, layer), transform=Affine.translation(fx.PIXEL, 0) * t)  # one pixel east, same size
    with pytest.raises(CubeReadError) as err:
        read_enmap(folder)
    msg = str(err.value)
    assert f"{P}-{layer}.TIF" in msg and "\n" not in msg
    assert "another grid" in msg and "column 1.00, row 0.00" in msg  # its first pixel is the image's second column


def test_layer_from_a_neighbouring_tile_in_a_zip_is_refused(tmp_path: Path) -> None:
    """A product assembled from two tiles: the haze layer of a tile 10 rows further south, same size."""
    folder = fx.make(tmp_path / "a", height=H, width=W, seed=0)
    t = _transform(folder)
    _regrid(part(folder, "QL_QUALITY_HAZE"), transform=Affine.translation(0, -10 * fx.PIXEL) * t)
    zpath = tmp_path / f"{P}.ZIP"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{P}/{f.name}")
    with pytest.raises(CubeReadError, match=r"QL_QUALITY_HAZE\.TIF: quality layer lies on another grid.*row 10\.00"):
        read_enmap(zpath)


def test_a_shift_well_below_a_pixel_is_the_same_grid(folder: Path) -> None:
    """Coordinates rounded differently in two files (a millimetre on 30 m pixels) are the same grid."""
    t = _transform(folder)
    _regrid(part(folder, "QL_QUALITY_SNOW"), transform=Affine.translation(0.001, -0.001) * t)
    snow = read_enmap(folder).hsi.masks["snow"].values
    with rasterio.open(part(folder, "QL_QUALITY_SNOW")) as ds:
        np.testing.assert_array_equal(snow, ds.read(1) != 0)


def test_exact_product_opens_with_unchanged_data(folder: Path) -> None:
    """Every layer on the image's grid: values, masks and class layer as the files hold them (read here with
    rasterio and the XML's gain, not through the reader)."""
    with rasterio.open(part(folder, "SPECTRAL_IMAGE")) as ds:
        raw, crs, transform = ds.read(), ds.crs, ds.transform
    with rasterio.open(part(folder, "QL_QUALITY_CLASSES")) as ds:
        classes = ds.read(1)
    cube = read_enmap(folder)
    expected = np.where((raw == fx.NODATA) | (classes == 3)[None], np.nan, raw.astype(np.float32) * np.float32(fx.GAIN))
    np.testing.assert_allclose(cube.values, expected, rtol=1e-6, equal_nan=True)
    assert cube.rio.crs == crs and cube.rio.transform() == transform
    np.testing.assert_array_equal(cube["quality_class"].values, classes)
    for name in ("CLOUD", "HAZE", "SNOW", "CLOUDSHADOW", "CIRRUS"):
        with rasterio.open(part(folder, f"QL_QUALITY_{name}")) as ds:
            np.testing.assert_array_equal(cube.hsi.masks[name.lower()].values, ds.read(1) != 0)
