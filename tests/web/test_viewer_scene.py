"""Scene listing, composites, click geometry, map coordinates and the spectrum plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.errors import ConfigError, DatasetNotFoundError, InvalidDataError
from hsi_app.io.cube import make_cube
from hsi_app.io.open import open_cube
from hsi_app.io.quicklook import stretch_to_uint8


def _cube(bad: list[int] | None = None):  # noqa: ANN202
    rng = np.random.default_rng(0)
    wl = np.linspace(400.0, 1000.0, 13)  # 50 nm steps: 400, 450, ..., 1000
    data = rng.uniform(0.0, 1.0, size=(13, 6, 5)).astype(np.float32)
    return make_cube(data, wavelength=wl, bad_bands=bad)


def test_parse_size_binary_units_and_errors() -> None:
    assert viewer.parse_size("2GB") == 2 * 1024**3
    assert viewer.parse_size("500 mb") == 500 * 1024**2
    assert viewer.parse_size("1024") == 1024
    for bad in ("lots", "-1GB", "0", "2 parsecs"):
        with pytest.raises(ConfigError):
            viewer.parse_size(bad)


def test_config_reads_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HSI_SCENES", str(tmp_path))
    monkeypatch.setenv("HSI_MAX_UPLOAD", "3MB")
    cfg = viewer.ViewerConfig.create()
    assert cfg.scenes_dir == tmp_path.resolve() and cfg.max_upload_bytes == 3 * 1024**2
    with pytest.raises(ConfigError):
        viewer.ViewerConfig.create(runs=tmp_path / "missing")


def test_list_and_resolve_scenes_only_within_folder(tmp_path: Path) -> None:
    (tmp_path / "a.tif").write_bytes(b"x")
    (tmp_path / "b.hdr").write_text("ENVI")
    (tmp_path / "b.img").write_bytes(b"x")
    (tmp_path / ".hidden.tif").write_bytes(b"x")
    (tmp_path / "ENMAP01-product").mkdir()
    names = viewer.list_scenes(tmp_path)
    assert names == ["indian_pines", "ENMAP01-product", "a.tif", "b.hdr"]
    assert viewer.scene.resolve_scene("a.tif", tmp_path) == tmp_path / "a.tif"
    for bad in ("../a.tif", "/etc/passwd", "b.img", "nope"):
        with pytest.raises(DatasetNotFoundError):
            viewer.scene.resolve_scene(bad, tmp_path)


def test_scenes_named_like_a_built_in_are_listed_once_each_and_open_what_they_name(tmp_path: Path,
                                                                                   load_fixture) -> None:  # noqa: ANN001
    """A --scenes folder ``indian_pines`` (an EnMAP product) and file ``indian_pines.tif`` beside the built-in:
    three distinct labels, each opening its own scene, and detect records where each came from."""
    import json
    import shutil

    from tif_writer import write_tif

    from hsi_app.viewer import detect as vdetect

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    product = load_fixture("enmap_l2a").make(tmp_path / "made", height=12, width=16)
    shutil.move(str(product), scenes / "indian_pines")
    rng = np.random.default_rng(1)
    write_tif(scenes / "indian_pines.tif", rng.uniform(100, 5000, size=(5, 7, 9)).astype(np.float32),
              np.linspace(450.0, 850.0, 5))
    names = viewer.list_scenes(scenes)
    assert len(names) == len(set(names)) == 3 and names[0] == "indian_pines"
    expected = {"indian_pines": ((200, 145, 145), "built-in", "indian_pines"),
                "indian_pines.tif": ((5, 7, 9), "scenes", "scenes/indian_pines.tif")}
    folder_label = next(n for n in names if n not in expected)
    assert folder_label.endswith("indian_pines")  # the folder's own name, told apart from the built-in
    expected[folder_label] = ((224, 12, 16), "scenes", "scenes/indian_pines")
    session = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=scenes))
    try:
        for name, (shape, source, path) in expected.items():
            assert viewer.open_scene(session, name).hsi.shape == shape, name
            view = vdetect.detect(session, "rx", quantile=99.0, max_points=3)
            m = json.loads(view.metrics_path.read_text())
            assert (m["scene"], m["scene_source"], m["scene_path"]) == (name, source, path)
    finally:
        session.close()


def test_true_colour_bands_and_explicit_band_composite() -> None:
    cube = _cube()
    assert viewer.default_rgb_bands(cube) == (5, 3, 1)  # 650, 550, 450 nm are nearest 640/550/470
    rgb = viewer.composite(cube, (0, 6, 12), (5.0, 95.0))
    valid = np.ones((6, 5), dtype=bool)
    expected = np.stack([stretch_to_uint8(cube.values[i], valid, (5.0, 95.0)) for i in (0, 6, 12)], axis=-1)
    np.testing.assert_array_equal(rgb, expected)
    assert viewer.composite(cube).shape == (6, 5, 3)
    with pytest.raises(InvalidDataError):
        viewer.composite(cube, (0, 1, 13))
    with pytest.raises(InvalidDataError):
        viewer.composite(cube, None, (60.0, 40.0))


def test_band_choices_name_wavelength_and_bad_bands() -> None:
    choices = viewer.band_choices(_cube(bad=[2]))
    assert choices[0] == ("band 1 · 400 nm", 0)
    assert choices[2] == ("band 3 · 500 nm (bad)", 2)


def test_click_maps_zoomed_image_position_to_scene_pixel() -> None:
    assert viewer.display_scale(145, 145) == 3
    assert viewer.display_scale(4000, 100) == 1
    assert viewer.pixel_from_click([7, 10], 3, (6, 5)) == (3, 2)  # index is [x, y]
    with pytest.raises(InvalidDataError):
        viewer.pixel_from_click([15, 0], 3, (6, 5))
    zoomed = viewer.zoom(np.arange(6).reshape(2, 3), 2)
    assert zoomed.shape == (4, 6) and zoomed[3, 5] == 5


def test_map_coordinates_follow_the_transform(envi_scene: Path) -> None:
    cube = open_cube(envi_scene)
    t = cube.rio.transform()
    loc = viewer.pixel_location(cube, 3, 7)
    x, y = t * (7 + 0.5, 3 + 0.5)
    assert loc["x"] == pytest.approx(x) and loc["y"] == pytest.approx(y)
    assert loc["crs"] == cube.rio.crs.to_string()
    assert "row 3, col 7" in viewer.format_location(loc) and loc["crs"] in viewer.format_location(loc)
    plain = viewer.pixel_location(_cube(), 1, 2)
    assert plain == {"row": 1, "col": 2, "x": None, "y": None, "crs": None, "decimals": 2}


def test_coordinates_are_shown_to_a_tenth_of_a_pixel() -> None:
    """0.001-degree pixels: two decimals put every pixel of a 10 x 10 block on one of 4 points."""
    from rasterio.transform import from_origin

    from hsi_app.io.cube import make_cube

    geo = make_cube(np.ones((2, 10, 10), np.float32), crs="EPSG:4326", transform=from_origin(-87.0, 40.02, 0.001, 0.001))
    loc = viewer.pixel_location(geo, 7, 11 - 2)
    assert loc["decimals"] == 5
    assert viewer.format_location(loc) == "row 7, col 9 · x -86.99050, y 40.01250 (EPSG:4326)"
    utm = make_cube(np.ones((2, 4, 4), np.float32), crs="EPSG:32616", transform=from_origin(500000, 4500000, 30, 30))
    assert viewer.format_location(viewer.pixel_location(utm, 0, 0)) == "row 0, col 0 · x 500015.00, y 4499985.00 (EPSG:32616)"
    no_crs = make_cube(np.ones((2, 4, 4), np.float32), transform=from_origin(500000, 4500000, 30, 30))
    assert viewer.format_location(viewer.pixel_location(no_crs, 0, 0)).endswith("y 4499985.00 (no CRS)")


def test_rotated_scene_clicks_and_points_use_the_transform(tmp_path: Path) -> None:
    """On a rotated grid x/y coordinates are pixel indices; locations and GeoPackages must not use them."""
    import geopandas as gpd
    from rasterio.transform import Affine

    t = Affine.translation(500000.0, 4100000.0) * Affine.rotation(-30.0) * Affine.scale(10.0, -10.0)
    cube = make_cube(np.zeros((3, 12, 25), np.float32), wavelength=[500.0, 600.0, 700.0], crs="EPSG:32633",
                     transform=t)
    ex, ey = t * (20 + 0.5, 10 + 0.5)
    loc = viewer.pixel_location(cube, 10, 20)
    assert (loc["x"], loc["y"]) == pytest.approx((ex, ey))
    dst = viewer.write_points(tmp_path / "clicks.gpkg", cube, [{"row": 10, "col": 20, "name": "a"}])
    gdf = gpd.read_file(dst)
    assert gdf.crs.to_epsg() == 32633
    assert (gdf.geometry.x[0], gdf.geometry.y[0]) == pytest.approx((ex, ey))


def test_spectrum_figure_draws_values_and_greys_bad_bands() -> None:
    cube = _cube(bad=[3, 4])
    fig = viewer.spectrum_figure(cube, 2, 1, extra={"other": np.zeros(13)})
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    values = cube.values[:, 2, 1]
    good = lines["spectrum"].get_ydata()
    np.testing.assert_allclose(np.asarray(good)[[0, 1, 2, 5]], values[[0, 1, 2, 5]])
    assert np.isnan(np.asarray(good)[[3, 4]]).all()
    np.testing.assert_allclose(lines["bad bands"].get_xdata(), [550.0, 600.0])
    np.testing.assert_allclose(lines["bad bands"].get_ydata(), values[[3, 4]])
    assert lines["bad bands"].get_color() == "0.55" and len(ax.patches) == 2  # grey shading per bad band
    assert "other" in lines and ax.get_xlabel() == "wavelength (nm)"


def test_no_data_pixel_shows_no_data_and_no_spectrum_line(tmp_path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    data = np.full((5, 4, 6), 0.25, dtype=np.float32)
    data[:, 1, 2] = -9999.0  # the file's no-data value in every band
    path = tmp_path / "nodata.tif"
    with rasterio.open(path, "w", driver="GTiff", height=4, width=6, count=5, dtype="float32", nodata=-9999.0,
                       crs="EPSG:32633", transform=from_origin(500000, 4200000, 30, 30)) as ds:
        ds.write(data)
    session = viewer.ViewerSession(config=viewer.ViewerConfig(max_upload_bytes=2**20))
    try:
        viewer.open_upload(session, path, name="nodata.tif")
        info = viewer.select_row_col(session, 1, 2)
        ax = info["figure"].axes[0]
        ys = [np.asarray(ln.get_ydata(), float) for ln in ax.get_lines()]
        assert not any(np.isfinite(y).any() for y in ys)  # nothing plotted at -9999
        assert ax.get_title().endswith("· no data") and info["location"].endswith("· no data")
        assert [t.get_text() for t in ax.texts] == ["no data"] and info["has_data"] is False
        ok = viewer.select_row_col(session, 2, 2)
        assert ok["has_data"] is True and "no data" not in ok["location"]
        line = {ln.get_label(): ln for ln in ok["figure"].axes[0].get_lines()}["spectrum"]
        np.testing.assert_allclose(line.get_ydata(), np.full(5, 0.25))
    finally:
        session.close()


def _enmap_like_band_order() -> tuple[np.ndarray, np.ndarray]:
    """``(wavelengths, detectors)`` in a real EnMAP L2A product's band order: increasing wavelength,
    VNIR (91 bands, 418-993 nm) and SWIR (133 bands from 902 nm) interleaving in the overlap."""
    wl = np.concatenate([np.linspace(418.2, 992.8, 91), np.linspace(901.9, 2445.5, 133)])
    detector = np.array(["VNIR"] * 91 + ["SWIR"] * 133)
    order = np.argsort(wl, kind="stable")
    return wl[order], detector[order]


def _drawn_lines(fig: Any) -> list[Any]:
    """The figure's drawn curves (not the bad-band points)."""
    return [ln for ln in fig.axes[0].get_lines() if ln.get_label() != "bad bands"]


def test_spectrum_plot_draws_each_detector_as_its_own_curve_when_bands_interleave() -> None:
    """Bands in increasing wavelength with a ``detector`` coordinate: the spectrum and the library are
    each drawn as a VNIR and a SWIR curve, each curve running in increasing wavelength through its
    detector's bands only, so the 900-1000 nm overlap shows two curves, not a zig-zag between them."""
    wl, det = _enmap_like_band_order()
    vnir, swir = np.flatnonzero(det == "VNIR"), np.flatnonzero(det == "SWIR")
    assert swir[0] < vnir[-1]  # the helper's bands do interleave
    data = np.random.default_rng(1).uniform(0.0, 0.5, size=(wl.size, 3, 4)).astype(np.float32)
    bad = [0, int(swir[3])]
    cube = make_cube(data, wavelength=wl, bad_bands=bad).assign_coords(detector=("band", det))
    library = np.linspace(0, 1, wl.size)
    fig = viewer.spectrum_figure(cube, 1, 2, extra={"library": library})
    lines = _drawn_lines(fig)
    assert len(lines) == 4, "spectrum and library, each as a VNIR and a SWIR curve"
    expected = data[:, 1, 2].astype(np.float64)
    expected[bad] = np.nan  # bad bands are grey points, gaps in every line
    library_drawn = library.copy()
    library_drawn[bad] = np.nan
    spectrum = [ln for ln in lines if ln.get_color() == "tab:blue"]
    others = [ln for ln in lines if ln.get_color() != "tab:blue"]
    for drawn, want in ((spectrum, expected), (others, library_drawn)):
        assert len(drawn) == 2
        for ln, bands in zip(drawn, (vnir, swir)):
            np.testing.assert_array_equal(ln.get_xdata(), wl[bands])
            np.testing.assert_allclose(ln.get_ydata(), want[bands])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["spectrum", "bad bands", "library"]


def test_spectrum_plot_without_detectors_follows_the_band_numbers() -> None:
    """No ``detector`` coordinate: bands numbered in increasing wavelength (a real EnMAP product) are
    one curve through every band; a file in detector order (all VNIR, then all SWIR) still splits
    where the wavelength steps back, so no line runs back across the overlap."""
    wl, _ = _enmap_like_band_order()
    data = np.random.default_rng(2).uniform(0.0, 0.5, size=(wl.size, 2, 2)).astype(np.float32)
    lines = _drawn_lines(viewer.spectrum_figure(make_cube(data, wavelength=wl), 0, 1))
    assert len(lines) == 1
    np.testing.assert_array_equal(lines[0].get_xdata(), wl)
    np.testing.assert_allclose(lines[0].get_ydata(), data[:, 0, 1])
    vnir, swir = np.linspace(418.2, 992.8, 91), np.linspace(901.9, 2445.5, 133)
    detector_order = make_cube(data, wavelength=np.concatenate([vnir, swir]))
    lines = _drawn_lines(viewer.spectrum_figure(detector_order, 0, 1))
    assert [ln.get_xdata().tolist() for ln in lines] == [vnir.tolist(), swir.tolist()]


def test_detector_segments_group_interleaved_bands_by_detector() -> None:
    from hsi_app.errors import BandMismatchError
    from hsi_app.viewer.scene import detector_segments

    xs = np.array([900.0, 905.0, 910.0, 912.0, 920.0, 925.0, 940.0])
    det = np.array(["VNIR", "SWIR", "VNIR", "SWIR", "VNIR", "VNIR", "SWIR"])
    assert [s.tolist() for s in detector_segments(xs, det)] == [[0, 2, 4, 5], [1, 3, 6]]
    assert [s.tolist() for s in detector_segments(xs)] == [list(range(7))]
    # bands in decreasing wavelength: detectors in order of first appearance, each curve still runs upwards
    assert [s.tolist() for s in detector_segments(xs[::-1], det[::-1])] == [[5, 3, 0], [6, 4, 2, 1]]
    with pytest.raises(BandMismatchError, match="6 detector labels for 7 bands"):
        detector_segments(xs, det[:6])


def test_a_band_with_no_data_anywhere_is_flagged_and_named_when_a_scene_opens(tmp_path: Path) -> None:
    """As `hsi info` does: the band is flagged bad with one warning naming it, the scene shows its other bands
    (valid pixels, a composite that is not black), and the description names the band."""
    import warnings

    from tif_writer import write_tif

    rng = np.random.default_rng(0)
    data = rng.uniform(100, 5000, size=(6, 8, 9)).astype(np.float32)
    data[2] = np.nan  # band 3 holds no data at any pixel
    scene = write_tif(tmp_path / "dead.tif", data, np.linspace(450.0, 950.0, 6))
    session = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=tmp_path))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cube = viewer.open_scene(session, "dead.tif")
        said = [str(w.message) for w in caught if "no data at any pixel" in str(w.message)]
        assert said == [f"{scene}: band 3 (650 nm) holds no data at any pixel (no-data or NaN everywhere), so no "
                        "pixel was valid; flagged bad, as a bad-band list would, and the other 5 bands are used"]
        assert cube.hsi.bad_bands == [2] and cube.hsi.valid.values.all()
        assert session.rgb is not None and session.rgb.any()
        assert "1 flagged bad: band 3 (650 nm) holds no data at any pixel" in viewer.describe_scene(cube, "dead.tif")
    finally:
        session.close()
