"""Outputs on a pixel-is-point GeoTIFF (``AREA_OR_POINT=Point``) declare pixel-is-point too.

GDAL reads both raster types into the same corner-based transform, but the file stores a pixel-is-point grid's tie
point at the first pixel's centre. An output written pixel-is-area stores it at the corner, so software that takes
the tie point as stored (``GTIFF_POINT_GEO_IGNORE=YES``, as many non-GDAL readers do) puts it half a pixel away
from its input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.cli_runner import run_main
from tests.tiny_runs import make_run

C, H, W = 5, 12, 16
ORIGIN = (500000.0, 4000000.0)  # GDAL's (corner) origin, 30 m pixels


def _point_tif(path: Path) -> Path:
    rng = np.random.default_rng(0)
    data = rng.uniform(0.1, 0.5, (C, H, W)).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(*ORIGIN, 30.0, 30.0)) as ds:
        ds.write(data)
        ds.update_tags(AREA_OR_POINT="Point", wavelength=",".join(f"{v:.1f}" for v in np.linspace(400, 800, C)),
                       wavelength_units="nm")
    return path


def _stored_origin(path: Path) -> tuple[float, float]:
    """The tie point as the file stores it (GDAL told not to interpret the raster type)."""
    with rasterio.Env(GTIFF_POINT_GEO_IGNORE=True), rasterio.open(path) as ds:
        return ds.transform.c, ds.transform.f


def _check_like_input(out: Path, src: Path) -> None:
    with rasterio.open(out) as o, rasterio.open(src) as i:
        assert o.tags().get("AREA_OR_POINT") == "Point", out.name
        assert o.crs == i.crs and o.transform.almost_equals(i.transform), out.name
    assert _stored_origin(out) == pytest.approx(_stored_origin(src)), out.name
    assert _stored_origin(src) == pytest.approx((ORIGIN[0] + 15.0, ORIGIN[1] - 15.0))  # the fixture is what it says


def test_library_writers_keep_pixel_is_point(tmp_path: Path) -> None:
    from hsi_app.io.cog import write_cube
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detection import write_score_map

    src = _point_tif(tmp_path / "point.tif")
    cube = open_cube(src)
    write_cube(tmp_path / "cube.tif", cube, progress=False)
    write_score_map(tmp_path / "scores.tif", np.zeros((1, H, W), np.float32), cube, ["rx"], "rx")
    for name in ("cube.tif", "scores.tif"):
        _check_like_input(tmp_path / name, src)
    crop = cube.isel(y=slice(2, 8), x=slice(3, 9))  # a crop keeps the raster type, on its own origin
    write_cube(tmp_path / "crop.tif", crop, progress=False)
    with rasterio.open(tmp_path / "crop.tif") as o:
        assert o.tags().get("AREA_OR_POINT") == "Point"
        assert (o.transform.c, o.transform.f) == pytest.approx((ORIGIN[0] + 90.0, ORIGIN[1] - 60.0))


def test_area_input_stays_area(tmp_path: Path) -> None:
    from hsi_app.io.cog import write_cube
    from hsi_app.io.open import open_cube

    src = tmp_path / "area.tif"
    with rasterio.open(src, "w", driver="GTiff", height=H, width=W, count=C, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(*ORIGIN, 30.0, 30.0)) as ds:
        ds.write(np.ones((C, H, W), np.float32))
    write_cube(tmp_path / "out.tif", open_cube(src), progress=False)
    with rasterio.open(tmp_path / "out.tif") as o:
        assert o.tags().get("AREA_OR_POINT", "Area") == "Area"
    assert _stored_origin(tmp_path / "out.tif") == pytest.approx(ORIGIN)


def test_predict_map_keeps_pixel_is_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _point_tif(tmp_path / "point.tif")
    with rasterio.open(src) as ds:
        run = make_run(tmp_path / "run", in_chans=C, like=ds.read())
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(src),
                            "--out", str(tmp_path / "map.tif"), "--quiet", "--device", "cpu")
    assert code == 0, err
    _check_like_input(tmp_path / "map.tif", src)


def test_an_enmap_product_declaring_pixel_is_point_keeps_it(tmp_path: Path) -> None:
    """The EnMAP reader ignored the spectral image's AREA_OR_POINT (review 3 #5): outputs stored their tie point
    half a pixel from the product's."""
    import warnings

    from fixture_loader import fixture_module

    from hsi_app.io.cog import write_cube
    from hsi_app.io.enmap import read_enmap

    fx = fixture_module("enmap_l2a")
    fx.make(tmp_path, height=20, width=16, seed=0, zip_it=False)
    spec = tmp_path / fx.PRODUCT / f"{fx.PRODUCT}-SPECTRAL_IMAGE.TIF"
    with rasterio.open(spec, "r+") as ds:
        ds.update_tags(AREA_OR_POINT="Point")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cube = read_enmap(tmp_path / fx.PRODUCT)
    write_cube(tmp_path / "out.tif", cube, progress=False)
    with rasterio.open(tmp_path / "out.tif") as o, rasterio.open(spec) as i:
        assert o.tags().get("AREA_OR_POINT") == "Point" and o.transform.almost_equals(i.transform)
    assert _stored_origin(tmp_path / "out.tif") == pytest.approx(_stored_origin(spec))
