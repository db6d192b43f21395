"""COG writers (class maps, cubes), the streaming writer and atomic output files."""

from __future__ import annotations

import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine, from_origin

from hsi_app.errors import InvalidDataError, OutputError
from hsi_app.io.atomic import atomic_path, atomic_paths, check_writable
from hsi_app.io.cog import (
    StreamingCOGWriter,
    class_map_profile,
    encode_class_window,
    read_class_map,
    write_class_map,
    write_cube,
)
from hsi_app.io.cube import make_cube
from hsi_app.io.quicklook import default_palette

CRS = "EPSG:32633"
TRANSFORM = from_origin(500000.0, 4000000.0, 30.0, 30.0)
NAMES = ["unlabelled", "corn", "soy", "water", "forest", "urban"]


def _class_scene(h: int = 300, w: int = 280, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, len(NAMES), size=(h, w)).astype(np.uint8)
    conf = rng.uniform(0.0, 1.0, size=(h, w)).astype(np.float32)
    conf[classes == 0] = np.nan
    return classes, conf


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _is_cog(path: Path) -> bool:
    with rasterio.open(path) as ds:
        return ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and ds.profile["tiled"]


def test_class_map_round_trip(tmp_path: Path) -> None:
    classes, conf = _class_scene()
    dst = tmp_path / "map.tif"
    write_class_map(dst, classes, conf, crs=CRS, transform=TRANSFORM, class_names=NAMES)

    got = read_class_map(dst)
    np.testing.assert_array_equal(got.classes, classes)
    labelled = classes > 0
    assert got.confidence is not None and got.confidence.dtype == np.float32
    assert np.abs(got.confidence[labelled] - conf[labelled]).max() <= 1 / 255 + 1e-6
    assert np.all(got.confidence[~labelled] == 0)
    assert got.class_names == NAMES
    np.testing.assert_array_equal(got.colormap[:, :3], default_palette(len(NAMES)))
    assert got.colormap[0, 3] == 0 and np.all(got.colormap[1:, 3] == 255)
    assert got.crs == rasterio.crs.CRS.from_string(CRS)
    assert got.transform == TRANSFORM
    assert _is_cog(dst)
    with rasterio.open(dst) as ds:
        assert ds.descriptions == ("class", "confidence")
        assert ds.dtypes == ("uint8", "uint8") and ds.nodata == 0
        assert ds.scales[1] == pytest.approx(1 / 255)
        assert ds.overviews(1), "a 300x280 COG with 256-pixel tiles must carry an overview"
        # nearest-neighbour overview: every pixel is a class id of the full map, never a blend of ids
        np.testing.assert_array_equal(ds.read(1, out_shape=(150, 140)), classes[::2, ::2])
        assert ds.profile["compress"].lower() == "deflate"
    assert _files(tmp_path) == ["map.tif"]


def test_labelled_pixels_never_store_zero_confidence(tmp_path: Path) -> None:
    classes = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    conf = np.array([[0.9, 0.0], [0.001, 1.0]], dtype=np.float32)
    enc = encode_class_window(classes, conf)
    np.testing.assert_array_equal(enc[1], [[0, 1], [1, 255]])


def test_class_map_without_confidence(tmp_path: Path) -> None:
    classes, _ = _class_scene(40, 30, seed=1)
    dst = tmp_path / "map1.tif"
    write_class_map(dst, classes, None, crs=CRS, transform=TRANSFORM, class_names=NAMES,
                    colors=["#ff0000", "#00ff00", "#0000ff", "#ffff00", "#00ffff"])
    got = read_class_map(dst)
    np.testing.assert_array_equal(got.classes, classes)
    assert got.confidence is None
    np.testing.assert_array_equal(got.colormap[1, :3], [255, 0, 0])
    np.testing.assert_array_equal(got.colormap[5, :3], [0, 255, 255])


def test_class_map_rejects_unnamed_classes(tmp_path: Path) -> None:
    classes = np.full((4, 4), 7, dtype=np.uint8)
    with pytest.raises(InvalidDataError, match="8 class names"):
        write_class_map(tmp_path / "x.tif", classes, None, crs=CRS, transform=TRANSFORM, class_names=NAMES)


def test_streaming_writer_equals_one_shot(tmp_path: Path) -> None:
    classes, conf = _class_scene(300, 280, seed=2)
    one = tmp_path / "one.tif"
    write_class_map(one, classes, conf, crs=CRS, transform=TRANSFORM, class_names=NAMES)

    streamed = tmp_path / "streamed.tif"
    profile = class_map_profile(NAMES)
    with StreamingCOGWriter(streamed, height=300, width=280, crs=CRS, transform=TRANSFORM, **profile) as out:
        for r in range(0, 300, 70):  # windows not aligned with the 256-pixel tiles
            for c in range(0, 280, 110):
                win = (slice(r, r + 70), slice(c, c + 110))
                out.write_window(encode_class_window(classes[win], conf[win]), r, c)

    with rasterio.open(one) as a, rasterio.open(streamed) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.profile == b.profile
        assert a.colormap(1) == b.colormap(1)
        assert a.tags() == b.tags() and a.descriptions == b.descriptions and a.scales == b.scales
    assert _is_cog(streamed)


def _cube(h: int = 40, w: int = 50, c: int = 6, *, georef: bool = True, lazy: bool = True):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    data = rng.uniform(0.0, 0.6, size=(c, h, w)).astype(np.float32)
    data[:, 5, 7] = -9999.0
    wl = np.linspace(450.0, 950.0, c)
    fw = np.full(c, 8.5)
    arr = da.from_array(data, chunks=(c, 16, 16)) if lazy else data
    kw = {}
    if georef:
        t = from_origin(300000.0, 5000000.0, 30.0, 30.0)
        kw = {"crs": CRS, "transform": t, "x": 300000.0 + 30.0 * (np.arange(w) + 0.5),
              "y": 5000000.0 - 30.0 * (np.arange(h) + 0.5)}
    return make_cube(arr, wavelength=wl, fwhm=fw, bad_bands=[c - 1], nodata=-9999.0, **kw), data, wl


def test_write_cube_round_trip(tmp_path: Path) -> None:
    cube, data, wl = _cube()
    dst = tmp_path / "cube.tif"
    write_cube(dst, cube, blocksize=32)
    expected = np.where(data == -9999.0, np.nan, data)
    with rasterio.open(dst) as ds:
        np.testing.assert_array_equal(ds.read(), expected)
        assert np.isnan(ds.nodata) and ds.dtypes[0] == "float32"
        assert ds.crs == rasterio.crs.CRS.from_string(CRS)
        assert ds.transform == from_origin(300000.0, 5000000.0, 30.0, 30.0)
        assert ds.descriptions[1] == f"band 2 ({wl[1]:.1f} nm)"
        assert float(ds.tags(2)["wavelength"]) == pytest.approx(wl[1])
        assert float(ds.tags(2)["fwhm"]) == pytest.approx(8.5)
        tags = ds.tags()
        assert tags["wavelength_units"] == "nm" and tags["bad_bands"] == "5"
        np.testing.assert_allclose([float(v) for v in tags["wavelength"].split(",")], wl)
    assert _is_cog(dst)


def test_write_cube_wavelengths_read_back_by_geotiff_reader(tmp_path: Path) -> None:
    from hsi_app.io.geotiff import read_geotiff

    cube, _, wl = _cube(lazy=False)
    dst = tmp_path / "cube.tif"
    write_cube(dst, cube)
    back = read_geotiff(dst)
    np.testing.assert_allclose(back.hsi.wavelengths, wl)
    np.testing.assert_allclose(back.hsi.fwhm, 8.5)
    assert back.hsi.bad_bands == cube.hsi.bad_bands == [5]


def test_all_nan_bad_band_stays_bad_after_a_round_trip(tmp_path: Path) -> None:
    """EnMAP-style: a bad band that is NaN everywhere must not make every pixel no-data."""
    from hsi_app.io.geotiff import read_geotiff

    cube, data, _ = _cube(lazy=False)
    data[5] = np.nan  # the flagged band (index c - 1) holds no data at all
    dst = tmp_path / "cube.tif"
    write_cube(dst, cube)
    back = read_geotiff(dst)
    assert back.hsi.bad_bands == [5]
    valid = np.asarray(back.hsi.valid)
    assert valid.sum() == valid.size - 1  # only the -9999 pixel at (5, 7) is no-data
    assert not valid[5, 7]


@pytest.mark.parametrize("tag", ["7", "2,x", "-1"])
def test_malformed_bad_band_tag_is_ignored_with_a_warning(tmp_path: Path, tag: str) -> None:
    from hsi_app.errors import HSIWarning
    from hsi_app.io.geotiff import read_geotiff

    cube, _, _ = _cube(lazy=False)
    dst = tmp_path / "cube.tif"
    write_cube(dst, cube)
    with rasterio.open(dst, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        ds.update_tags(bad_bands=tag)
    with pytest.warns(HSIWarning, match="bad_bands"):
        back = read_geotiff(dst)
    assert back.hsi.bad_bands == []


def test_write_cube_without_crs_uses_pixel_coordinates(tmp_path: Path) -> None:
    cube, data, _ = _cube(12, 9, 3, georef=False)
    dst = tmp_path / "plain.tif"
    write_cube(dst, cube)
    with rasterio.open(dst) as ds:
        assert ds.crs is None
        assert ds.transform == Affine.identity()
        np.testing.assert_array_equal(ds.read(), np.where(data == -9999.0, np.nan, data))


class _Boom(RuntimeError):
    pass


@pytest.mark.parametrize("error", [_Boom, KeyboardInterrupt])
def test_failure_mid_write_leaves_nothing(tmp_path: Path, error: type[BaseException]) -> None:
    dst = tmp_path / "map.tif"
    with pytest.raises(error):
        with StreamingCOGWriter(dst, height=64, width=64, count=1, dtype="uint8", crs=CRS,
                                transform=TRANSFORM) as out:
            out.write_window(np.ones((1, 32, 64), np.uint8), 0, 0)
            raise error()
    assert _files(tmp_path) == []


def test_failure_keeps_previous_output(tmp_path: Path) -> None:
    dst = tmp_path / "map.tif"
    classes, conf = _class_scene(20, 20)
    write_class_map(dst, classes, conf, crs=CRS, transform=TRANSFORM, class_names=NAMES)
    before = dst.read_bytes()
    with pytest.raises(_Boom):
        with StreamingCOGWriter(dst, height=20, width=20, count=1, dtype="uint8", crs=CRS, transform=TRANSFORM):
            raise _Boom()
    assert dst.read_bytes() == before
    assert _files(tmp_path) == ["map.tif"]


def test_window_outside_raster_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataError, match="outside"):
        with StreamingCOGWriter(tmp_path / "a.tif", height=10, width=10, count=1, dtype="uint8", crs=None,
                                transform=None) as out:
            out.write_window(np.zeros((1, 5, 5), np.uint8), 8, 0)
    assert _files(tmp_path) == []


def test_atomic_path_renames_on_success_and_cleans_on_error(tmp_path: Path) -> None:
    dst = tmp_path / "out.txt"
    with atomic_path(dst) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.txt.partial-")
        assert not dst.exists()
        tmp.write_text("new")
    assert dst.read_text() == "new"
    with pytest.raises(_Boom):
        with atomic_path(dst) as tmp:
            tmp.write_text("half")
            raise _Boom()
    assert dst.read_text() == "new" and _files(tmp_path) == ["out.txt"]


def test_atomic_paths_change_all_outputs_or_none(tmp_path: Path) -> None:
    """A failing block, or a writer that wrote nothing, leaves every destination as it was and no temp file."""
    a, b = tmp_path / "a.tif", tmp_path / "b.gpkg"
    a.write_text("old a")
    with pytest.raises(_Boom):
        with atomic_paths({"a": a, "b": b}) as tmp:
            tmp["a"].write_text("new a")
            tmp["b"].write_text("new b")
            raise _Boom()
    assert _files(tmp_path) == ["a.tif"] and a.read_text() == "old a"
    with pytest.raises(OutputError, match="produced no file"):
        with atomic_paths({"a": a, "b": b}) as tmp:
            tmp["a"].write_text("new a")  # b's writer silently wrote nothing
    assert _files(tmp_path) == ["a.tif"] and a.read_text() == "old a"
    with atomic_paths({"a": a, "b": b}) as tmp:
        tmp["a"].write_text("new a")
        tmp["b"].write_text("new b")
    assert _files(tmp_path) == ["a.tif", "b.gpkg"] and (a.read_text(), b.read_text()) == ("new a", "new b")


def test_unwritable_destinations_raise_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        check_writable(tmp_path / "missing" / "map.tif")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        write_class_map(tmp_path / "afile" / "map.tif", np.zeros((2, 2), np.uint8), None, crs=None,
                        transform=None, class_names=NAMES)
    with pytest.raises(OutputError, match="existing folder"):
        StreamingCOGWriter(tmp_path, height=2, width=2, count=1, dtype="uint8", crs=None, transform=None)


def test_read_only_folder_raises_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root may write anywhere, so simulate the permission answer of a read-only folder.
    real_access = os.access
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    with pytest.raises(OutputError, match="not writable"):
        StreamingCOGWriter(ro / "map.tif", height=2, width=2, count=1, dtype="uint8", crs=None, transform=None)
    assert _files(ro) == []


@pytest.mark.parametrize(("count", "dtype", "needle"), [(1, "float32", "float32 values, not class numbers"),
                                                       (3, "uint16", "3 bands, so an image")])
def test_an_image_is_not_read_as_a_class_map(tmp_path: Path, count: int, dtype: str, needle: str) -> None:
    """Vectorizing or scoring a reflectance cube as if it were classes would give nonsense polygons and accuracies."""
    path = tmp_path / "img.tif"
    with rasterio.open(path, "w", driver="GTiff", width=6, height=4, count=count, dtype=dtype,
                       crs="EPSG:32633", transform=from_origin(0, 0, 10, 10)) as ds:
        ds.write(np.ones((count, 4, 6), dtype=dtype))
    with pytest.raises(InvalidDataError, match=needle) as info:
        read_class_map(path)
    assert str(path) in str(info.value) and "hsi predict" in str(info.value)


def test_write_cube_shows_progress_over_its_windows_for_a_large_cube(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A bar counting the windows (here 2 x 2 tiles of 32) above the size threshold; none below it or when off."""
    from hsi_app.io import summary

    cube, data, _ = _cube(lazy=False)
    write_cube(tmp_path / "small.tif", cube, blocksize=32)
    assert "write_cube" not in capsys.readouterr().err  # below LARGE_ELEMENTS: written in seconds, no bar
    monkeypatch.setattr(summary, "LARGE_ELEMENTS", data.size - 1)
    write_cube(tmp_path / "large.tif", cube, blocksize=32)
    err = capsys.readouterr().err
    n = -(-data.shape[1] // 32) * -(-data.shape[2] // 32)
    assert "write_cube" in err and f"/{n} " in err, err
    write_cube(tmp_path / "quiet.tif", cube, blocksize=32, progress=False)
    assert capsys.readouterr().err == ""
    with rasterio.open(tmp_path / "large.tif") as a, rasterio.open(tmp_path / "quiet.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
