"""``hsi simulate-targets``: its truth files describe the pixels (no-data marked, footprints that never share a
pixel)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from cli_runner import assert_one_error_line, run_main


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory, load_fixture) -> Path:  # noqa: ANN001
    return load_fixture("speclib").write_csv(tmp_path_factory.mktemp("simulate_truth") / "lib.csv")


@pytest.mark.parametrize("declared", [False, True])
def test_abundance_marks_exactly_the_scenes_no_data(lib: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str], load_fixture,  # noqa: ANN001
                                                    declared: bool) -> None:
    """A NaN block, or a declared -9999 no-data value: abundance.tif is NaN (its nodata) on exactly the pixels that
    scene.tif marks as no data, and a finite abundance/class everywhere else."""
    import rasterio

    speclib: ModuleType = load_fixture("speclib")
    image = speclib.background(5)
    hole = np.zeros(image.shape[1:], bool)
    hole[4:11, 30:41] = True
    hole[20, 3] = True
    image[:, hole] = -9999.0 if declared else np.nan
    bg = speclib.write_geotiff(tmp_path / "bg.tif", image)
    if declared:
        with rasterio.open(bg, "r+") as ds:
            ds.nodata = -9999.0
    code, _, err = run_main(capsys, "simulate-targets", "--background", str(bg), "--targets", str(lib),
                            "--n-targets", "4", "--out", str(tmp_path / "sim"), "--quiet")
    assert code == 0, err
    with rasterio.open(tmp_path / "sim" / "scene.tif") as ds:
        scene_nodata = ~np.isfinite(ds.read()).all(axis=0)
    np.testing.assert_array_equal(scene_nodata, hole)
    with rasterio.open(tmp_path / "sim" / "abundance.tif") as ds:
        assert np.isnan(ds.nodata) and ds.count == 2
        truth = ds.read()
        masks = ds.read_masks()
    assert np.isnan(truth[:, hole]).all() and np.isfinite(truth[:, ~hole]).all()
    np.testing.assert_array_equal(masks == 0, np.stack([hole, hole]))
    assert (truth[1, ~hole] > 0).any() and (truth[1, ~hole] == 0).any()  # targets and plain background stay


@pytest.mark.parametrize("method", ["rx", "cem"])
def test_truth_without_targets_is_one_line_saying_so(lib: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     load_fixture, method: str) -> None:  # noqa: ANN001
    """A 0-target simulated scene (a negative control): its own truth is not blamed on the CRS."""
    import geopandas as gpd

    bg = load_fixture("speclib").write_geotiff(tmp_path / "bg.tif", load_fixture("speclib").background(2))
    code, out, err = run_main(capsys, "simulate-targets", "--background", str(bg), "--targets", str(lib), "--density",
                              "0.00001", "--seed", "1", "--out", str(tmp_path / "sim"), "--quiet")
    assert code == 0 and "0 targets" in out, err
    truth = tmp_path / "sim" / "targets.gpkg"
    assert len(gpd.read_file(truth)) == 0
    library = ["--targets", str(lib)] if method == "cem" else []
    code, _, err = run_main(capsys, "detect", "--input", str(tmp_path / "sim" / "scene.tif"), "--method", method,
                            *library, "--out", str(tmp_path / "s.tif"), "--truth", str(truth), "--quiet")
    assert_one_error_line(code, err, f"{truth}: holds no targets, so there is nothing to score; drop --truth")
    assert "CRS" not in err and not (tmp_path / "s.tif").exists()


def _footprint(row: float, col: float, area: float, shape: tuple[int, int]) -> set[tuple[int, int]]:
    """Pixels whose square ``[r, r+1) x [c, c+1)`` meets the disc of ``area`` px at ``(row, col)`` (geometry)."""
    radius = np.sqrt(area / np.pi)
    rr, cc = np.mgrid[0 : shape[0], 0 : shape[1]]
    dy = np.maximum(np.maximum(rr - row, row - (rr + 1)), 0)  # distance from the centre to the nearest point
    dx = np.maximum(np.maximum(cc - col, col - (cc + 1)), 0)
    return set(zip(*np.nonzero(dy**2 + dx**2 < radius**2), strict=True))


@pytest.mark.parametrize(("spacing", "refused"), [("1", True), ("5.9", True), ("5.93", False)])
def test_min_distance_below_the_footprints_is_refused(lib: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      load_fixture, spacing: str, refused: bool) -> None:  # noqa: ANN001
    """Two 16 px discs (radius sqrt(16/pi) = 2.257 px) reach into one pixel when their centres are closer than two
    radii plus a pixel's diagonal, 5.928 px; at 5.93 and more no pixel holds two targets, so every pixel of the
    truth maps is one target's."""
    import geopandas as gpd
    import rasterio

    speclib = load_fixture("speclib")
    bg = speclib.write_geotiff(tmp_path / "bg.tif", speclib.background(6, shape=(64, 64)))
    out = tmp_path / "sim"
    code, stdout, err = run_main(capsys, "simulate-targets", "--background", str(bg), "--targets", str(lib),
                                 "--min-distance", spacing, "--n-targets", "70", "--seed", "2", "--out", str(out),
                                 "--quiet")
    if refused:
        assert_one_error_line(code, err, f"--min-distance {spacing}: below 5.93 px two of the largest targets",
                              "use --min-distance 5.93 or more")
        assert not out.exists()
        return
    assert code == 0, err
    truth = gpd.read_file(out / "targets.gpkg")
    with rasterio.open(out / "abundance.tif") as ds:
        abundance, classes = ds.read()
    feet = [_footprint(t.row, t.col, t.area, abundance.shape) for t in truth.itertuples()]
    assert len(truth) >= 40 and sum(t.area > 6 for t in truth.itertuples()) >= 8  # dense, with large targets
    seen: set[tuple[int, int]] = set()
    for foot, t in zip(feet, truth.itertuples(), strict=True):
        assert not foot & seen  # no pixel meets two discs
        seen |= foot
        lit = [p for p in foot if abundance[p] > 0]
        assert lit and all(classes[p] == t.class_id for p in lit)  # its pixels carry its class
    covered = np.zeros(abundance.shape, bool)
    covered[tuple(np.array(sorted(seen)).T)] = True
    assert not ((abundance > 0) & ~covered).any()  # no target pixel outside the footprints
