"""Cross-command audit (session 55): each bad input gives one error line naming the file and the fix, exit 2,
and nothing the user had is replaced."""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from cli_runner import assert_one_error_line, run_main
from tif_writer import UTM_30M, write_tif
from tiny_runs import make_run

WL = np.array([450.0, 550.0, 650.0, 750.0, 850.0])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 5-band scene, its 3-class label raster (one class per column block) and an untrained run of its bands."""
    root = tmp_path_factory.mktemp("audit")
    labels = np.zeros((24, 24), np.uint8)
    labels[:, :8], labels[:, 8:16], labels[:, 16:] = 1, 2, 3
    centres = np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.6, 0.6, 0.3]])
    rng = np.random.default_rng(0)
    cube = (centres[labels - 1].transpose(2, 0, 1) + rng.normal(0, 0.02, (5, 24, 24))).astype(np.float32)
    scene = write_tif(root / "scene.tif", cube, WL)
    lab, paletted = root / "labels.tif", root / "paletted_labels.tif"
    for path in (lab, paletted):
        with rasterio.open(path, "w", driver="GTiff", height=24, width=24, count=1, dtype="uint8", crs="EPSG:32616",
                           transform=UTM_30M) as ds:
            ds.write(labels[None])
            if path == paletted:  # as QGIS or ENVI export a label raster: a colour table, no hsi tag
                ds.write_colormap(1, {0: (0, 0, 0, 0), 1: (255, 0, 0, 255), 2: (0, 255, 0, 255), 3: (0, 0, 255, 255)})
    return {"scene": scene, "labels": lab, "paletted_labels": paletted,
            "run": make_run(root / "run", like=cube, wavelengths=WL)}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_finetune_of_a_base_without_weights_names_the_run(files: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Was `hsi: unexpected FileNotFoundError: [Errno 2] ...model.safetensors` (exit 1) from hashing the base."""
    base = shutil.copytree(files["run"], tmp_path / "base")
    (base / "model.safetensors").unlink()
    code, _, err = run_main(capsys, "finetune", "--base", str(base), "--data", str(files["scene"]), "--labels",
                            str(files["labels"]), "--lora-rank", "2", "--out", str(tmp_path / "ft"), "--quiet")
    assert_one_error_line(code, err, f"{base}: no model.safetensors; the run is incomplete, retrain it")
    assert not (tmp_path / "ft").exists()


def test_finetune_of_a_base_with_unreadable_weights_names_the_file(files: dict[str, Path], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Was `hsi: unexpected PermissionError` (exit 1); root reads any file, so `open` refuses that one path here."""
    base = shutil.copytree(files["run"], tmp_path / "base")
    weights = os.path.abspath(base / "model.safetensors")

    def refusing(real: Any) -> Any:
        def open_(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, (str, os.PathLike)) and os.path.abspath(os.fspath(file)) == weights:
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
            return real(file, *args, **kwargs)
        return open_

    monkeypatch.setattr(builtins, "open", refusing(builtins.open))
    monkeypatch.setattr(io, "open", refusing(io.open))
    code, _, err = run_main(capsys, "finetune", "--base", str(base), "--data", str(files["scene"]), "--labels",
                            str(files["labels"]), "--lora-rank", "2", "--out", str(tmp_path / "ft"), "--quiet")
    assert_one_error_line(code, err, f"{weights}: cannot be read (Permission denied); check its permissions")


@pytest.mark.parametrize("victim", ["scene", "labels", "paletted_labels"])
def test_predict_never_replaces_a_scene_or_label_raster_at_out(victim: str, files: dict[str, Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A GeoTIFF at --out that is not a class map is the user's data (a copy of the scene, the label raster): the
    old code wrote the map over it (exit 0). A class map there (an earlier run's) is still replaced."""
    target = shutil.copy(files[victim], tmp_path / f"{victim}_copy.tif")
    before = _digest(Path(target))
    code, _, err = run_main(capsys, "predict", "--model", str(files["run"]), "--input", str(files["scene"]),
                            "--out", str(target), "--quiet")
    assert_one_error_line(code, err, f"{target}: --out would replace this existing", "not a class map written by hsi",
                          "choose another output path")
    assert _digest(Path(target)) == before
    ok = tmp_path / "map.tif"
    for _ in range(2):  # the second run replaces the first run's map
        code, _, err = run_main(capsys, "predict", "--model", str(files["run"]), "--input", str(files["scene"]),
                                "--out", str(ok), "--quiet")
        assert code == 0, err


@pytest.fixture(scope="module")
def class_map(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class map of the scene, written by `hsi predict`."""
    from hsi_app.cli.main import main

    out = tmp_path_factory.mktemp("map") / "map.tif"
    main(["predict", "--model", str(files["run"]), "--input", str(files["scene"]), "--out", str(out), "--quiet"])
    return out


def _user_polygons(path: Path, layers: tuple[str, ...]) -> Path:
    """The user's own polygons (a field survey): two squares with a ``crop`` attribute, in each layer of ``layers``."""
    import geopandas as gpd
    from shapely.geometry import box

    gdf = gpd.GeoDataFrame({"crop": ["maize", "wheat"]}, geometry=[box(0, 0, 30, 30), box(30, 0, 60, 30)],
                           crs="EPSG:32616")
    for name in layers:
        gdf.to_file(path, layer=name, driver="GPKG" if path.suffix == ".gpkg" else None)
    return path


@pytest.mark.parametrize(("name", "layers", "needle"), [
    ("survey.gpkg", ("fields",), "which holds the layer(s) fields"),
    ("survey.gpkg", ("classes", "fields"), "which holds the layer(s) fields"),
    ("survey.geojson", ("survey",), "not polygons of hsi vectorize (no class_id, class, pixels field)"),
])
def test_vectorize_never_replaces_other_polygons_at_out(name: str, layers: tuple[str, ...], needle: str,
                                                        class_map: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The polygons replace --out whole: the old code wrote them over a GeoPackage of the user's layers (exit 0)."""
    target = _user_polygons(tmp_path / name, layers)
    before = _digest(target)
    code, _, err = run_main(capsys, "vectorize", "--map", str(class_map), "--out", str(target), "--quiet")
    assert_one_error_line(code, err, f"{target}: --out would replace", needle, "choose another output path")
    assert _digest(target) == before


@pytest.mark.parametrize("name", ["polys.gpkg", "polys.shp", "polys.geojson"])
def test_vectorize_replaces_its_own_earlier_output(name: str, class_map: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / name
    for _ in range(2):
        code, _, err = run_main(capsys, "vectorize", "--map", str(class_map), "--out", str(out), "--quiet")
        assert code == 0, err


@pytest.fixture(scope="module")
def earlier_run(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding an SVM run of the scene (so `hsi train --out` there prints a note on it before training)."""
    from hsi_app.cli.main import main

    out = tmp_path_factory.mktemp("earlier") / "run"
    main(["train", "--data", str(files["scene"]), "--labels", str(files["labels"]), "--model", "svm", "--out", str(out),
          "--quiet"])
    return out


@pytest.mark.parametrize(("extra", "needle"), [
    (["--model", "svm", "--split", "random:1.5"], "bad split spec random:1.5: fraction must be in (0, 1)"),
    (["--model", "svm", "--split", "fixed:x"], "'x' is not a whole number of pixels per class"),
    (["--model", "test_ssfcn", "--epochs", "1", "--schedule", "bogus"], "--schedule 'bogus': unknown; use one of"),
    (["--model", "test_ssfcn", "--epochs", "1", "--distill-weight", "2"], "--distill-weight: it weighs the distillation loss of --teacher"),
])
def test_train_option_errors_come_alone_before_the_earlier_run_note(extra: list[str], needle: str, earlier_run: Path,
                                                                    files: dict[str, Path],
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A bad --split or --schedule was refused only after the `hsi: note:` line on the earlier run (two lines, as if the
    run had started); --distill-weight without --teacher was ignored and the run replaced the earlier one."""
    before = {p.name: _digest(p) for p in earlier_run.iterdir()}
    code, _, err = run_main(capsys, "train", "--data", str(files["scene"]), "--labels", str(files["labels"]), *extra,
                            "--out", str(earlier_run), "--quiet")
    assert_one_error_line(code, err, needle)
    assert {p.name: _digest(p) for p in earlier_run.iterdir()} == before


def test_finetune_split_error_comes_alone_before_the_earlier_run_note(files: dict[str, Path], tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """As for `hsi train`: a bad --split was refused only after the note on the earlier fine-tune in --out."""
    out = tmp_path / "ft"
    args = ["finetune", "--base", str(files["run"]), "--data", str(files["scene"]), "--labels", str(files["labels"]),
            "--lora-rank", "2", "--epochs", "1", "--out", str(out), "--quiet"]
    code, _, err = run_main(capsys, *args)
    assert code == 0, err
    before = {p.name: _digest(p) for p in out.iterdir()}
    code, _, err = run_main(capsys, *args, "--split", "random:1.5")
    assert_one_error_line(code, err, "bad split spec random:1.5: fraction must be in (0, 1)")
    assert {p.name: _digest(p) for p in out.iterdir()} == before


def _user_folder(path: Path, files: dict[str, Path], names: tuple[str, ...]) -> dict[str, str]:
    """A folder of the user's own files named like an output (``names``), plus notes; returns name -> digest."""
    path.mkdir()
    for name in names:
        if name.endswith(".tif"):
            shutil.copy(files["labels"], path / name)
        else:
            (path / name).write_text(f"my own {name}\n")
    (path / "notes.txt").write_text("field notes\n")
    return {p.name: _digest(p) for p in path.iterdir()}


def test_ensemble_never_removes_the_users_files_named_like_its_outputs(files: dict[str, Path], tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """An unscored ensemble removes an earlier ensemble's map and metrics; the old code removed them from a folder
    that held no ensemble too: the user's map.tif and metrics.json were deleted (exit 0)."""
    other = shutil.copytree(files["run"], tmp_path / "member2")
    folder = tmp_path / "mine"
    before = _user_folder(folder, files, ("map.tif", "metrics.json"))
    code, _, err = run_main(capsys, "ensemble", "--model", str(files["run"]), "--model", str(other), "--out",
                            str(folder), "--quiet")
    assert_one_error_line(code, err, f"{folder}: holds map.tif, metrics.json but no earlier run with ensemble.json",
                          "move them elsewhere or choose another --out")
    assert {p.name: _digest(p) for p in folder.iterdir()} == before
    code, _, err = run_main(capsys, "ensemble", "--model", str(files["run"]), "--model", str(other), "--out",
                            str(tmp_path / "ens"), "--quiet")
    assert code == 0, err
    code, _, err = run_main(capsys, "ensemble", "--model", str(files["run"]), "--model", str(other), "--out",
                            str(tmp_path / "ens"), "--quiet")  # a rebuild replaces its own ensemble
    assert code == 0, err


def test_simulate_targets_never_replaces_the_users_scene_in_out(files: dict[str, Path], tmp_path: Path,
                                                                load_fixture: Any,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The old code wrote its simulated scene.tif over the user's scene.tif in --out (not an input: exit 0)."""
    lib = load_fixture("speclib").write_csv(tmp_path / "lib.csv")
    folder = tmp_path / "mine"
    before = _user_folder(folder, files, ("scene.tif",))
    args = ["simulate-targets", "--background", str(files["scene"]), "--targets", str(lib), "--n-targets", "2",
            "--min-distance", "6", "--quiet"]
    code, _, err = run_main(capsys, *args, "--out", str(folder))
    assert_one_error_line(code, err, f"{folder}: holds scene.tif but no earlier run with abundance.tif",
                          "choose another --out")
    assert {p.name: _digest(p) for p in folder.iterdir()} == before
    for _ in range(2):  # a rerun replaces its own outputs
        code, _, err = run_main(capsys, *args, "--out", str(tmp_path / "sim"))
        assert code == 0, err


def test_ensemble_data_that_nothing_would_read_is_refused(files: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Members without one common split are not scored, so --data is never opened: the old code accepted even an
    empty file there (exit 0), as if it had been scored on it."""
    other = shutil.copytree(files["run"], tmp_path / "member2")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    code, _, err = run_main(capsys, "ensemble", "--model", str(files["run"]), "--model", str(other), "--out",
                            str(tmp_path / "ens"), "--data", str(empty), "--quiet")
    assert_one_error_line(code, err, f"{empty}: --data is the scene to score on",
                          "trained on different splits", "drop --data")
    assert not (tmp_path / "ens").exists()


def test_evaluate_grid_errors_name_the_map_not_a_cube(files: dict[str, Path], class_map: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`hsi evaluate` reads the reference onto the map's grid; the old lines said "the cube"/"the scene's grid",
    which the user of evaluate never gave."""
    small = tmp_path / "small.npy"
    np.save(small, np.ones((5, 7), np.uint8))
    code, _, err = run_main(capsys, "evaluate", "--map", str(class_map), "--reference", str(small))
    assert_one_error_line(code, err, f"{small}: labels have shape (5, 7) but the map {class_map} is (24, 24) (H, W); "
                                     f"pass a label raster on the same grid as the map {class_map}")
    other = tmp_path / "utm17.tif"
    with rasterio.open(other, "w", driver="GTiff", height=24, width=24, count=1, dtype="uint8", crs="EPSG:32617",
                       transform=UTM_30M) as ds:
        ds.write(np.ones((1, 24, 24), np.uint8))
    code, _, err = run_main(capsys, "evaluate", "--map", str(class_map), "--reference", str(other))
    assert_one_error_line(code, err, f"{other}: the label raster is not on the grid of the map {class_map}: its CRS "
                                     "is EPSG:32617, the map's EPSG:32616; resample it onto the grid of the map")
    assert "cube" not in err and "scene" not in err
    far = tmp_path / "far.tif"  # the map's grid, 100 columns to the east: no overlap (review 2 #2)
    with rasterio.open(far, "w", driver="GTiff", height=24, width=24, count=1, dtype="uint8", crs="EPSG:32616",
                       transform=UTM_30M * rasterio.Affine.translation(100, 0)) as ds:
        ds.write(np.ones((1, 24, 24), np.uint8))
    code, _, err = run_main(capsys, "evaluate", "--map", str(class_map), "--reference", str(far))
    assert_one_error_line(code, err, f"{far}: the label raster is on the grid of the map {class_map} but does not "
                                     "overlap it", "column 100, row 0 of the map")
    assert "cube" not in err and "scene" not in err


def test_evaluate_on_a_rotated_map_names_the_map(files: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.io.cog import write_class_map

    rotated = UTM_30M * rasterio.Affine.rotation(10)
    classes = np.ones((24, 24), np.uint8)
    write_class_map(tmp_path / "map.tif", classes, None, crs="EPSG:32616", transform=rotated,
                    class_names=["unlabelled", "a"])
    ref = tmp_path / "ref.tif"
    with rasterio.open(ref, "w", driver="GTiff", height=24, width=24, count=1, dtype="uint8", crs="EPSG:32616",
                       transform=UTM_30M) as ds:
        ds.write(classes[None])
    code, _, err = run_main(capsys, "evaluate", "--map", str(tmp_path / "map.tif"), "--reference", str(ref))
    assert_one_error_line(code, err, f"{ref}: the label raster is not on the grid of the map",
                          "is rotated or sheared", "use vector labels")
    assert "cube" not in err and "scene" not in err


def test_vectorize_onto_a_raster_gpkg_says_so_in_one_plain_line(class_map: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """GDAL's text was cut mid-sentence into the line ('...It might help to specify ); choose ...') (review 2 #5)."""
    ortho = tmp_path / "ortho.gpkg"
    with rasterio.open(ortho, "w", driver="GPKG", height=8, width=8, count=1, dtype="uint8", crs="EPSG:32616",
                       transform=UTM_30M) as ds:
        ds.write(np.ones((1, 8, 8), np.uint8))
    before = _digest(ortho)
    code, _, err = run_main(capsys, "vectorize", "--map", str(class_map), "--out", str(ortho), "--quiet")
    assert_one_error_line(code, err, f"{ortho}: --out would replace this existing file, which is not a vector file "
                                     "hsi can read (a raster, or another format); choose another output path")
    assert _digest(ortho) == before
