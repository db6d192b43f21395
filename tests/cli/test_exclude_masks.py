"""`--exclude-masks`: pixels flagged by a product's quality layers (EnMAP cloud, haze...) are no-data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_runner import assert_one_error_line, run_main
from fixture_loader import fixture_module
from hsi_app.cli.main import main
from hsi_app.errors import ConfigError
from hsi_app.io import open_cube
from hsi_app.io.cog import read_class_map
from hsi_app.io.cube import parse_mask_names

fx = fixture_module("enmap_l2a")


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.make(tmp_path_factory.mktemp("enmap"), height=24, width=20)


@pytest.fixture(scope="module")
def svm_run(product: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-pixel SVM on the product (labels: four quadrants), so a pixel's class needs no neighbour."""
    root = tmp_path_factory.mktemp("svm")
    labels = np.zeros((24, 20), np.int64)
    labels[:12, :10], labels[:12, 10:], labels[12:, :10], labels[12:, 10:] = 1, 2, 3, 4
    np.save(root / "labels.npy", labels)
    out = root / "run"
    try:
        main(["train", "--data", str(product), "--labels", str(root / "labels.npy"), "--model", "svm",
              "--split", "random:0.5", "--out", str(out), "--quiet"])
    except SystemExit as exc:
        assert not exc.code
    return out


def test_without_masked_marks_the_flagged_pixels_invalid(product: Path) -> None:
    cube = open_cube(product)
    masks = {k: np.asarray(v.values, bool) for k, v in cube.hsi.masks.items()}
    valid = np.asarray(cube.hsi.valid.values, bool)
    assert set(masks) == {"cloud", "cloudshadow", "haze", "snow", "cirrus", "defective"} and masks["cloud"].any()
    one = cube.hsi.without_masked(["cloud", "cirrus"])
    np.testing.assert_array_equal(one.hsi.valid.values, valid & ~masks["cloud"] & ~masks["cirrus"])
    every = cube.hsi.without_masked(["all"])
    weather = [masks[n] for n in ("cloud", "cloudshadow", "haze", "snow", "cirrus")]
    np.testing.assert_array_equal(every.hsi.valid.values, valid & ~np.any(weather, axis=0))
    np.testing.assert_array_equal(every.values, cube.values)  # the values are untouched, only their validity
    assert cube.hsi.without_masked([]) is cube
    with pytest.raises(ConfigError, match="no quality mask 'clouds'; its masks: cloud, cloudshadow, haze, snow, "
                                          r"cirrus, defective \(or 'all'\)"):
        cube.hsi.without_masked(["clouds"])
    assert parse_mask_names(" Cloud, cirrus ,") == ("cloud", "cirrus") and parse_mask_names(None) == ()


def test_predict_leaves_masked_pixels_unclassified_and_the_rest_as_it_was(product: Path, svm_run: Path,
                                                                         tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    plain, masked = tmp_path / "plain.tif", tmp_path / "masked.tif"
    base = ["predict", "--model", str(svm_run), "--input", str(product), "--quiet"]
    assert run_main(capsys, *base, "--out", str(plain))[0] == 0
    assert run_main(capsys, *base, "--out", str(masked), "--exclude-masks", "cloud,haze")[0] == 0
    cube = open_cube(product)
    flagged = np.asarray(cube.hsi.masks["cloud"].values | cube.hsi.masks["haze"].values, bool)
    a, b = read_class_map(plain).classes, read_class_map(masked).classes
    assert (a[flagged] > 0).any()  # without the option the clouds get a land-cover class
    np.testing.assert_array_equal(b, np.where(flagged, 0, a))
    code, _, err = run_main(capsys, *base, "--out", str(tmp_path / "x.tif"), "--exclude-masks", "clouds")
    assert_one_error_line(code, err, "no quality mask 'clouds'")


def _flagged_in_a_good_band(product: Path) -> np.ndarray:
    """``(H, W)`` bool read from the product's files with plain rasterio: QL_PIXELMASK nonzero in a band with data."""
    import rasterio

    with rasterio.open(product / f"{fx.PRODUCT}-SPECTRAL_IMAGE.TIF") as ds:
        good = (ds.read() != fx.NODATA).any(axis=(1, 2))
    with rasterio.open(product / f"{fx.PRODUCT}-QL_PIXELMASK.TIF") as ds:
        return (ds.read()[good] != 0).any(axis=0)


def test_defective_pixels_are_kept_unless_excluded(product: Path, svm_run: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """QL_PIXELMASK's defective column is classified by default; --exclude-masks defective (and
    without_masked) makes exactly the flagged pixels no-data, leaving every other pixel's class."""
    flagged = _flagged_in_a_good_band(product)
    cube = open_cube(product)
    valid = np.asarray(cube.hsi.valid.values, bool)
    assert (flagged & valid).sum() >= 10  # the defective column holds valid pixels
    np.testing.assert_array_equal(cube.hsi.without_masked(["defective"]).hsi.valid.values, valid & ~flagged)
    plain, masked = tmp_path / "plain.tif", tmp_path / "masked.tif"
    base = ["predict", "--model", str(svm_run), "--input", str(product), "--quiet"]
    assert run_main(capsys, *base, "--out", str(plain))[0] == 0
    assert run_main(capsys, *base, "--out", str(masked), "--exclude-masks", "defective")[0] == 0
    a, b = read_class_map(plain).classes, read_class_map(masked).classes
    assert (a[flagged & valid] > 0).all()  # by default the defective column gets classes
    np.testing.assert_array_equal(b, np.where(flagged, 0, a))


def test_all_means_the_weather_masks_and_defective_must_be_named(product: Path, svm_run: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """'all' kept its meaning from before the defective mask (the five weather/atmosphere layers, read here
    from the files); the defective column stays valid and classified unless 'defective' is named too."""
    import rasterio

    weather = np.zeros((24, 20), bool)
    for layer in ("CLOUD", "CLOUDSHADOW", "HAZE", "SNOW", "CIRRUS"):
        with rasterio.open(product / f"{fx.PRODUCT}-QL_QUALITY_{layer}.TIF") as ds:
            weather |= ds.read(1) != 0
    flagged = _flagged_in_a_good_band(product)
    cube = open_cube(product)
    valid = np.asarray(cube.hsi.valid.values, bool)
    assert (flagged & valid & ~weather).sum() >= 5  # defective pixels that no weather mask covers
    np.testing.assert_array_equal(cube.hsi.without_masked(["all"]).hsi.valid.values, valid & ~weather)
    both = valid & ~weather & ~flagged
    np.testing.assert_array_equal(cube.hsi.without_masked(["all", "defective"]).hsi.valid.values, both)
    np.testing.assert_array_equal(cube.hsi.without_masked(["defective", "all", "cloud"]).hsi.valid.values, both)
    base = ["predict", "--model", str(svm_run), "--input", str(product), "--quiet"]
    every, plus = tmp_path / "all.tif", tmp_path / "plus.tif"
    assert run_main(capsys, *base, "--out", str(every), "--exclude-masks", "all")[0] == 0
    assert run_main(capsys, *base, "--out", str(plus), "--exclude-masks", "all,defective")[0] == 0
    a, b = read_class_map(every).classes, read_class_map(plus).classes
    np.testing.assert_array_equal(a == 0, ~(valid & ~weather))
    assert (a[flagged & valid & ~weather] > 0).all()
    np.testing.assert_array_equal(b, np.where(flagged, 0, a))


def test_batch_excludes_the_same_pixels_and_redoes_scenes_made_without(product: Path, svm_run: Path,
                                                                        tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.batch import ClusterOptions, run_batch

    local = ClusterOptions(workers=1, processes=False, dashboard=False)
    out = tmp_path / "batch"
    first = run_batch("classify", svm_run, [str(product)], out, progress=False, echo=lambda s: None, cluster=local)
    assert [r.status for r in first.rows] == ["done"]
    again = run_batch("classify", svm_run, [str(product)], out, progress=False, echo=lambda s: None, cluster=local,
                      exclude_masks=("all",))
    assert [r.status for r in again.rows] == ["done"]  # not "skipped": made without the exclusion before
    assert run_main(capsys, "predict", "--model", str(svm_run), "--input", str(product), "--out", str(tmp_path / "p.tif"),
                    "--exclude-masks", "all", "--quiet")[0] == 0
    np.testing.assert_array_equal(read_class_map(Path(again.rows[0].output)).classes,
                                  read_class_map(tmp_path / "p.tif").classes)
    # the identity of 'all' is what it was before the defective mask existed (its meaning is too), so a
    # batch resumed across that change keeps its outputs; naming defective is another identity
    import hashlib
    import json

    from hsi_app.batch.state import model_hash

    side = json.loads(Path(again.rows[0].output + ".hsi.json").read_text())
    before = hashlib.sha256(f"{model_hash(str(svm_run.absolute()))}|exclude-masks:all".encode()).hexdigest()
    assert side["model_hash"] == before
    resumed = run_batch("classify", svm_run, [str(product)], out, progress=False, echo=lambda s: None, cluster=local,
                        exclude_masks=("all",))
    assert [r.status for r in resumed.rows] == ["skipped"]
    named = run_batch("classify", svm_run, [str(product)], out, progress=False, echo=lambda s: None, cluster=local,
                      exclude_masks=("all", "defective"))
    assert [r.status for r in named.rows] == ["done"]


@pytest.mark.parametrize("command", ["detect", "predict"])
def test_a_scene_without_quality_masks_is_told_to_run_without_the_option(command: str, svm_run: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A GeoTIFF has no quality layers: ``--exclude-masks cloud`` said ``its masks: none (or 'all')``, and 'all'
    does nothing there either; the line now says the scene has none and to drop the option."""
    from tif_writer import write_tif

    scene = write_tif(tmp_path / "field.tif", np.random.default_rng(0).random((6, 12, 10), dtype=np.float32),
                      np.linspace(450, 900, 6))
    extra = ["--method", "rx"] if command == "detect" else ["--model", str(svm_run)]
    code, _, err = run_main(capsys, command, "--input", str(scene), *extra, "--out", str(tmp_path / "o.tif"),
                            "--exclude-masks", "cloud", "--quiet")
    assert_one_error_line(code, err, "field.tif", "no quality mask 'cloud'", "has no quality masks",
                          "run it without --exclude-masks")
    assert "(or 'all')" not in err and not (tmp_path / "o.tif").exists()
