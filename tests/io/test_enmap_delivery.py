"""EnMAP L2A products as DLR delivers them besides the plain GeoTIFF folder: the other raster
formats an order can ask for (``.GEOTIFF`` names, JPEG2000) and the order itself
(``dims_op_*.tar.gz`` holding ``ENMAP.HSI.L2A/<product>.ZIP``, extracted or not)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from fixture_loader import fixture_module
from hsi_app.errors import CubeReadError
from hsi_app.io.enmap import is_enmap_product, read_enmap
from hsi_app.io.open import open_cube, sniff

fx = fixture_module("enmap_l2a")
P = fx.PRODUCT
H, W = 20, 18


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> xr.DataArray:
    """The seed-0 product as a plain ``.TIF`` folder."""
    return read_enmap(fx.make(tmp_path_factory.mktemp("plain"), height=H, width=W)).compute()


def _same(a: xr.DataArray, b: xr.DataArray) -> None:
    xr.testing.assert_equal(a.compute(), b)
    assert a.rio.crs == b.rio.crs and a.rio.transform() == b.rio.transform()
    assert a.hsi.bad_bands == b.hsi.bad_bands and set(a.hsi.masks) == set(b.hsi.masks)
    for name in a.hsi.masks:
        np.testing.assert_array_equal(a.hsi.masks[name].values, b.hsi.masks[name].values)


@pytest.mark.parametrize("ending", [".GEOTIFF", ".geotiff"])
def test_geotiff_named_product_reads_like_the_tif_one(tmp_path: Path, plain: xr.DataArray, ending: str) -> None:
    folder = fx.make(tmp_path, height=H, width=W, raster_ending=ending)
    spectral = folder / f"{P}-SPECTRAL_IMAGE{ending}"
    assert spectral.is_file() and is_enmap_product(spectral)
    for path in (folder, spectral, folder / f"{P}-METADATA.XML"):
        _same(open_cube(path), plain)


@pytest.mark.parametrize("ending", [".JP2", ".JPEG2000"])
def test_jpeg2000_product_reads_like_the_geotiff_one(tmp_path: Path, plain: xr.DataArray, ending: str) -> None:
    """A JPEG2000 order (lossless): folder, zip, image and XML all read the same pixels, masks and grid."""
    zpath = fx.make(tmp_path, height=H, width=W, raster_ending=ending, zip_it=True)
    folder = tmp_path / P
    spectral = folder / f"{P}-SPECTRAL_IMAGE{ending}"
    with rasterio.open(spectral) as ds:  # what was written, read independently of the reader
        assert ds.driver == "JP2OpenJPEG" and ds.count == 224
    assert sniff(spectral) == "enmap"
    for path in (folder, zpath, spectral, folder / f"{P}-METADATA.XML"):
        _same(open_cube(path), plain)


def _order(root: Path, products: list[Path]) -> Path:
    """An extracted DLR order: ``dims_op_oc_oc-en_1_1/`` with ``tools/``, ``iif/`` and ``ENMAP.HSI.L2A/`` holding
    ``products`` (zips or folders, moved in)."""
    order = root / "dims_op_oc_oc-en_1_1"
    for sub in ("tools", "iif", "ENMAP.HSI.L2A"):
        (order / sub).mkdir(parents=True, exist_ok=True)
    (order / "readme.html").write_text("<html></html>")
    (order / "tools" / "logo_dlr.jpg").write_bytes(b"\xff\xd8")
    for p in products:
        shutil.move(p, order / "ENMAP.HSI.L2A" / p.name)
    return order


def test_an_extracted_order_with_one_product_zip_opens_it(tmp_path: Path, plain: xr.DataArray) -> None:
    order = _order(tmp_path, [fx.make(tmp_path / "p", height=H, width=W, zip_it=True)])
    for path in (order, order / "ENMAP.HSI.L2A"):
        assert is_enmap_product(path)
        _same(open_cube(path), plain)


def test_an_order_folder_one_level_above_the_product_folder_opens_it(tmp_path: Path, plain: xr.DataArray) -> None:
    """Orders unpacked with a per-product folder: ``ENMAP.HSI.L2A/ENMAP-HSI-L2ADT.../<product>/<files>``."""
    inner = tmp_path / "p" / "ENMAP-HSI-L2ADT0000004950_01-2022-11-03T16_24_38"
    fx.make(inner, height=H, width=W)
    order = _order(tmp_path, [inner])
    _same(open_cube(order), plain)


def test_a_product_zip_unzipped_in_place_is_one_product(tmp_path: Path, plain: xr.DataArray) -> None:
    """``ENMAP.HSI.L2A/P.ZIP`` unzipped beside itself into ``P/``: the order holds one product (its folder), not
    "2 products". Another product's zip beside them still makes two."""
    zpath = fx.make(tmp_path / "p", height=H, width=W, zip_it=True)
    order = _order(tmp_path, [zpath, tmp_path / "p" / P])
    assert sorted(x.name for x in (order / "ENMAP.HSI.L2A").iterdir()) == [P, f"{P}.ZIP"]
    _same(open_cube(order), plain)
    other = fx.make(tmp_path / "q", height=H, width=W, zip_it=True).rename(order / "ENMAP.HSI.L2A" / f"{P[:-1]}X.ZIP")
    with pytest.raises(CubeReadError, match="holds 2 products in ENMAP.HSI.L2A"):
        open_cube(order)
    assert other.is_file()


def test_an_order_with_several_products_names_the_count_and_one_to_open(tmp_path: Path) -> None:
    a = fx.make(tmp_path / "a", height=H, width=W, zip_it=True)
    b = fx.make(tmp_path / "b", height=H, width=W, zip_it=True).rename(tmp_path / "b" / f"{P[:-1]}X.ZIP")
    order = _order(tmp_path, [a, b])
    with pytest.raises(CubeReadError) as info:
        open_cube(order)
    msg = str(info.value)
    first = order / "ENMAP.HSI.L2A" / min(a.name, b.name)
    assert "\n" not in msg and "holds 2 products in ENMAP.HSI.L2A" in msg and msg.endswith(f"e.g. {first}")


def test_the_order_tarball_says_how_to_extract_it(tmp_path: Path) -> None:
    order = _order(tmp_path, [fx.make(tmp_path / "p", height=H, width=W, zip_it=True)])
    tgz = tmp_path / f"{order.name}.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(order, arcname=order.name)
    with pytest.raises(CubeReadError) as info:
        open_cube(tgz)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{tgz}: a tar archive") and f"tar -xf {tgz.name}" in msg
    assert "ENMAP.HSI.L2A" in msg and not is_enmap_product(tgz)


@pytest.mark.parametrize("name", ["ang20190624t230039_rfl.tar.gz", "scene.tar", "scene.tgz"])
def test_another_tarball_is_not_called_an_enmap_order(tmp_path: Path, name: str) -> None:
    """An AVIRIS-NG ``*_rfl.tar.gz`` (or any tarball) was told it is "a tar archive, as DLR delivers EnMAP
    orders", and a plain ``.tar`` to run ``tar -xzf``, which fails on it. The advice is ``tar -xf`` (it
    detects the compression), and the tarball's own scene is what to open; the advice is followed here."""
    inner = tmp_path / "src" / "ang_rfl.hdr"
    inner.parent.mkdir()
    inner.write_text("ENVI\n")
    tpath = tmp_path / name
    with tarfile.open(tpath, "w:gz" if name.endswith("gz") else "w") as tf:
        tf.add(inner, arcname=inner.name)
    with pytest.raises(CubeReadError) as info:
        open_cube(tpath)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{tpath}: a tar archive")
    assert "EnMAP" not in msg and "DLR" not in msg and "ENMAP.HSI.L2A" not in msg
    command = msg.split("(", 1)[1].split(")", 1)[0]
    assert command == f"tar -xf {name}"
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run([*command.split(), "-C", str(out)], cwd=tmp_path, check=True, capture_output=True)
    assert (out / "ang_rfl.hdr").read_text() == "ENVI\n"
