"""Bad inputs to `hsi detect`, `hsi simulate-targets` and `hsi train --task detect`: one line, exit 2, no data lost.

Every case is refused before the scene is processed: no input is overwritten and no
output is written (or replaced).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from cli_runner import assert_one_error_line, run_main


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory, load_fixture) -> dict[str, Path]:  # noqa: ANN001
    speclib: ModuleType = load_fixture("speclib")
    d = tmp_path_factory.mktemp("detect_bad")
    bg = speclib.write_geotiff(d / "bg.tif", speclib.background(3))
    nodata = speclib.write_geotiff(d / "nodata.tif", np.full_like(speclib.background(3), np.nan))
    import rasterio
    from rasterio.transform import from_origin

    image = speclib.background(3)
    c, h, w = image.shape
    nowl = d / "nowl.tif"  # no wavelength tags
    with rasterio.open(nowl, "w", driver="GTiff", height=h, width=w, count=c, dtype="float32", crs="EPSG:32616",
                       transform=from_origin(500000.0, 4100000.0, 10.0, 10.0)) as ds:
        ds.write(image)
    text = d / "text.tif"
    text.write_text("not a raster, not a vector file\n")
    return {"bg": bg, "nodata": nodata, "nowl": nowl, "text": text, "lib": speclib.write_csv(d / "lib.csv")}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    return dst


# --------------------------------------------------------------------------- outputs vs inputs


def test_detect_out_equal_to_input_is_refused_and_input_kept(kit: dict[str, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    scene = _copy(kit["bg"], tmp_path / "in5.tif")
    before = scene.read_bytes()
    code, _, err = run_main(capsys, "detect", "--input", str(scene), "--method", "rx", "--out", str(scene))
    assert_one_error_line(code, err, "--out", "--input", "in5.tif")
    assert scene.read_bytes() == before


def test_detect_points_equal_to_input_is_refused(kit: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    scene = _copy(kit["bg"], tmp_path / "in6.tif")
    before = scene.read_bytes()
    code, _, err = run_main(capsys, "detect", "--input", str(scene), "--method", "rx", "--out",
                            str(tmp_path / "r3.tif"), "--points", str(scene))
    assert_one_error_line(code, err, "--points", "--input")
    assert scene.read_bytes() == before and not (tmp_path / "r3.tif").exists()


def test_detect_two_outputs_on_one_path_are_refused(kit: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r4.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(kit["bg"]), "--method", "rx", "--out", str(out),
                            "--points", str(out))
    assert_one_error_line(code, err, "--out", "--points")
    assert not out.exists()


def test_detect_out_equal_to_library_or_truth_is_refused(kit: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    lib = _copy(kit["lib"], tmp_path / "lib.csv")
    before = lib.read_bytes()
    code, _, err = run_main(capsys, "detect", "--input", str(kit["bg"]), "--method", "ace", "--targets", str(lib),
                            "--out", str(tmp_path / "a.tif"), "--metrics", str(lib), "--truth", str(tmp_path / "t.gpkg"))
    assert_one_error_line(code, err, "--metrics", "--targets")
    assert lib.read_bytes() == before


def test_simulate_into_the_background_folder_is_refused(kit: dict[str, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "bg"
    folder.mkdir()
    scene = _copy(kit["bg"], folder / "scene.tif")
    before = scene.read_bytes()
    code, _, err = run_main(capsys, "simulate-targets", "--background", str(scene), "--targets", str(kit["lib"]),
                            "--n-targets", "3", "--out", str(folder))
    assert_one_error_line(code, err, "--background", "scene.tif")
    assert scene.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["scene.tif"]  # no targets.gpkg / abundance.tif either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bg"]  # no staging folder left


def test_simulate_over_the_library_is_refused(kit: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    lib = _copy(kit["lib"], tmp_path / "targets.gpkg")  # a CSV library that happens to have the points' name
    before = lib.read_bytes()
    code, _, err = run_main(capsys, "simulate-targets", "--background", str(kit["bg"]), "--targets", str(lib),
                            "--n-targets", "3", "--out", str(tmp_path))
    assert_one_error_line(code, err, "--targets")
    assert lib.read_bytes() == before and not (tmp_path / "scene.tif").exists()


def test_simulate_out_that_is_a_file_is_refused(kit: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "x.tif"
    f.write_text("keep me")
    code, _, err = run_main(capsys, "simulate-targets", "--background", str(kit["bg"]), "--targets", str(kit["lib"]),
                            "--out", str(f))
    assert_one_error_line(code, err, "x.tif")
    assert f.read_text() == "keep me"


# --------------------------------------------------------------------------- truth read before writing


@pytest.mark.parametrize("truth", ["text", "missing"])
def test_bad_truth_is_refused_before_any_output(kit: dict[str, Path], tmp_path: Path, truth: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = kit["text"] if truth == "text" else tmp_path / "nope.gpkg"
    out = tmp_path / "r6.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(kit["bg"]), "--method", "rx", "--out", str(out),
                            "--points", str(tmp_path / "r6.gpkg"), "--truth", str(path))
    assert_one_error_line(code, err, path.name)
    assert not out.exists() and not (tmp_path / "r6.gpkg").exists()


def test_metrics_without_truth_is_refused(kit: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "detect", "--input", str(kit["bg"]), "--method", "rx", "--out",
                            str(tmp_path / "r.tif"), "--metrics", str(tmp_path / "m.json"))
    assert_one_error_line(code, err, "--metrics", "--truth")
    assert not (tmp_path / "r.tif").exists()


# --------------------------------------------------------------------------- data and option values


def test_all_nodata_scene_names_the_file(kit: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "detect", "--input", str(kit["nodata"]), "--method", "rx", "--out",
                            str(tmp_path / "r7.tif"))
    assert_one_error_line(code, err, "nodata.tif", "no-data")
    assert not (tmp_path / "r7.tif").exists()


@pytest.mark.parametrize("scale", ["0", "-5", "nan", "inf"])
def test_detect_scale_must_be_positive(kit: dict[str, Path], tmp_path: Path, scale: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "detect", "--input", str(kit["bg"]), "--method", "cem", "--targets",
                            str(kit["lib"]), "--scale", scale, "--out", str(tmp_path / "r9.tif"))
    assert_one_error_line(code, err, "--scale", "positive")
    assert not (tmp_path / "r9.tif").exists()


@pytest.mark.parametrize("scale", ["0", "-1"])
def test_simulate_scale_must_be_positive(kit: dict[str, Path], tmp_path: Path, scale: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "simulate-targets", "--background", str(kit["bg"]), "--targets", str(kit["lib"]),
                            "--scale", scale, "--out", str(tmp_path / "sim"))
    assert_one_error_line(code, err, "--scale", "positive")
    assert not (tmp_path / "sim").exists()


@pytest.mark.parametrize("n", ["-1", "0"])
def test_detect_max_points_at_least_one(kit: dict[str, Path], tmp_path: Path, n: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "detect", "--input", str(kit["bg"]), "--method", "rx", "--max-points", n,
                            "--out", str(tmp_path / "r10.tif"), "--points", str(tmp_path / "r10.gpkg"))
    assert_one_error_line(code, err, "--max-points", ">= 1")
    assert not (tmp_path / "r10.tif").exists()


@pytest.mark.parametrize("args", [("--n-targets", "-5"), ("--n-targets", "0"), ("--seed", "-1"),
                                  ("--density", "nan"), ("--min-distance", "0")])
def test_simulate_counts_checked_up_front(kit: dict[str, Path], tmp_path: Path, args: tuple[str, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "simulate-targets", "--background", str(kit["bg"]), "--targets", str(kit["lib"]),
                            *args, "--out", str(tmp_path / "sim"))
    assert_one_error_line(code, err, args[0])
    assert "no room" not in err
    assert not (tmp_path / "sim").exists()


def test_simulate_says_when_fewer_targets_fit_than_asked(kit: dict[str, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import re

    import geopandas as gpd

    # more than can possibly fit is refused with the most that could; that many is tried, with a warning
    code, out, err = run_main(capsys, "simulate-targets", "--background", str(kit["bg"]), "--targets", str(kit["lib"]),
                              "--n-targets", "10000", "--out", str(tmp_path / "sim"), "--quiet")
    assert_one_error_line(code, err, "--n-targets 10000", "at most")  # --quiet: no line on the library's scale
    most = re.search(r"use --n-targets (\d+) or fewer", err).group(1)
    code, out, err = run_main(capsys, "simulate-targets", "--background", str(kit["bg"]), "--targets", str(kit["lib"]),
                              "--n-targets", most, "--out", str(tmp_path / "sim"))
    placed = len(gpd.read_file(tmp_path / "sim" / "targets.gpkg"))
    assert code == 0 and 0 < placed < int(most), err
    warning = [ln for ln in err.splitlines() if ln.startswith("hsi: warning")]
    assert len(warning) == 1 and f"only {placed} fit" in warning[0] and "--min-distance" in warning[0]
    code, out, err = run_main(capsys, "simulate-targets", "--background", str(kit["bg"]), "--targets", str(kit["lib"]),
                              "--n-targets", "1", "--out", str(tmp_path / "one"))
    assert code == 0 and "hsi: warning" not in err


# --------------------------------------------------------------------------- a cube without wavelengths


def test_no_wavelengths_detect_suggests_target_pixel(kit: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "detect", "--input", str(kit["nowl"]), "--method", "ace", "--targets",
                            str(kit["lib"]), "--out", str(tmp_path / "r.tif"))
    assert_one_error_line(code, err, "nowl.tif", "no band wavelengths", "--target-pixel")
    assert err.startswith(f"hsi: error: {kit['nowl']}")  # the cube is at fault, not the library


@pytest.mark.parametrize("command", ["simulate-targets", "train"])
def test_no_wavelengths_blames_the_cube_without_detect_options(kit: dict[str, Path], tmp_path: Path, command: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    args = (["simulate-targets", "--background"] if command == "simulate-targets"
            else ["train", "--task", "detect", "--epochs", "1", "--data"])
    code, _, err = run_main(capsys, *args, str(kit["nowl"]), "--targets", str(kit["lib"]),
                            "--out", str(tmp_path / "o"))
    assert_one_error_line(code, err, "nowl.tif", "no band wavelengths")
    assert "--target-pixel" not in err and err.startswith(f"hsi: error: {kit['nowl']}")
    assert not (tmp_path / "o").exists()


def test_train_detect_out_over_an_input_is_refused(kit: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    lib = _copy(kit["lib"], tmp_path / "lib.csv")
    before = lib.read_bytes()
    code, _, err = run_main(capsys, "train", "--task", "detect", "--data", str(kit["bg"]), "--targets", str(lib),
                            "--epochs", "1", "--out", str(lib))
    assert_one_error_line(code, err, "lib.csv")
    assert lib.read_bytes() == before
