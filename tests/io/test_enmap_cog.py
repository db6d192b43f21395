"""EnMAP L2A products delivered as Cloud-Optimized GeoTIFF: ``-SPECTRAL_IMAGE_COG.TIF(F)`` names."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from fixture_loader import fixture_module
from hsi_app.io.enmap import is_enmap_product, read_enmap

fx = fixture_module("enmap_l2a")
P = fx.PRODUCT
ENDINGS = ["_COG.tiff", "_COG.TIF", "_cog.tif", "_Cog.Tiff"]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> xr.DataArray:
    return read_enmap(fx.make(tmp_path_factory.mktemp("plain"), seed=3)).compute()


def _same(a: xr.DataArray, b: xr.DataArray) -> None:
    xr.testing.assert_equal(a.compute(), b)
    assert a.rio.crs == b.rio.crs and a.rio.transform() == b.rio.transform()
    assert a.hsi.bad_bands == b.hsi.bad_bands
    assert set(a.hsi.masks) == set(b.hsi.masks) == {"cloud", "cloudshadow", "haze", "snow", "cirrus", "defective"}
    for name in a.hsi.masks:
        np.testing.assert_array_equal(a.hsi.masks[name].values, b.hsi.masks[name].values)


@pytest.mark.parametrize("ending", ENDINGS)
def test_cog_named_product_reads_like_the_plain_one(tmp_path: Path, plain: xr.DataArray, ending: str) -> None:
    folder = fx.make(tmp_path, seed=3, raster_ending=ending)
    spectral = folder / f"{P}-SPECTRAL_IMAGE{ending}"
    assert spectral.is_file() and not (folder / f"{P}-SPECTRAL_IMAGE.TIF").exists()
    assert is_enmap_product(folder) and is_enmap_product(spectral)
    for path in (folder, spectral, folder / f"{P}-METADATA.XML", tmp_path):
        _same(read_enmap(path), plain)


def test_cog_masks_are_the_layers_written(tmp_path: Path) -> None:
    folder = fx.make(tmp_path, seed=3, raster_ending="_COG.tiff")
    masks = read_enmap(folder).hsi.masks
    for name in ("cloud", "cloudshadow", "haze", "snow", "cirrus"):
        with rasterio.open(folder / f"{P}-QL_QUALITY_{name.upper()}_COG.tiff") as ds:
            expected = ds.read(1) != 0  # read independently of the reader under test (cirrus: 1-3)
        assert expected.any()
        np.testing.assert_array_equal(masks[name].values, expected)


@pytest.mark.parametrize("layout", ["folder", "flat"])
def test_zipped_cog_product(tmp_path: Path, plain: xr.DataArray, layout: str) -> None:
    zpath = fx.make(tmp_path, seed=3, raster_ending="_COG.tiff", zip_it=True, zip_layout=layout)
    with zipfile.ZipFile(zpath) as zf:
        assert any(n.endswith("-SPECTRAL_IMAGE_COG.tiff") for n in zf.namelist())
    assert is_enmap_product(zpath)
    _same(read_enmap(zpath), plain)
