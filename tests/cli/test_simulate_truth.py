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
