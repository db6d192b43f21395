"""``hsi evaluate`` of a run's own map against the labels it was trained on says that the scores count training
pixels (the train audit of session 56: 77.12 % against the run's 75.60 % test OA, and nothing said why)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import run_main
from hsi_app.data.splits import Split
from hsi_app.errors import HSIWarning
from hsi_app.io.cog import write_class_map

T = from_origin(500000.0, 4200000.0, 10.0, 10.0)
H, W = 30, 40
NAMES = ["unlabelled", "water", "forest"]


def _run_with_map(folder: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A run folder (config.json, split.npz) with its map.tif; the labels and the split's training mask."""
    from tiny_runs import make_run

    make_run(folder, in_chans=4, num_classes=2, class_names=NAMES)
    rng = np.random.default_rng(0)
    labels = np.where(rng.random((H, W)) < 0.3, rng.integers(1, 3, (H, W)), 0).astype(np.int32)
    train_mask = labels.astype(bool) & (rng.random((H, W)) < 0.25)
    Split(train=np.where(train_mask, labels, 0), test=np.where(labels.astype(bool) & ~train_mask, labels, 0),
          protocol="random:0.25").save(folder / "split.npz")
    classes = np.where(rng.random((H, W)) < 0.8, np.maximum(labels, 1), 3 - np.maximum(labels, 1)).astype(np.uint8)
    write_class_map(folder / "map.tif", classes, None, crs="EPSG:32633", transform=T, class_names=NAMES)
    return folder / "map.tif", labels, train_mask


def _labels_tif(path: Path, labels: np.ndarray) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=T) as ds:
        ds.write(labels.astype(np.uint8), 1)
    return path


def test_scoring_a_runs_map_against_its_training_labels_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.tasks.map_accuracy import evaluate_map

    map_path, labels, train = _run_with_map(tmp_path / "run")
    ref = _labels_tif(tmp_path / "labels.tif", labels)
    seen, total = int((train & (labels > 0)).sum()), int((labels > 0).sum())
    assert 0 < seen < total
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate_map(map_path, ref)
    said = [str(w.message) for w in caught if issubclass(w.category, HSIWarning) and "training pixels" in str(w.message)]
    assert len(said) == 1 and f"{seen:,} of the {total:,} reference pixels" in said[0]
    assert str(tmp_path / "run" / "metrics.json") in said[0]
    code, _, err = run_main(capsys, "evaluate", "--map", str(map_path), "--reference", str(ref))
    assert code == 0 and f"{seen:,} of the {total:,} reference pixels" in err


def test_the_test_pixels_alone_or_a_map_outside_a_run_say_nothing(tmp_path: Path) -> None:
    import shutil

    from hsi_app.tasks.map_accuracy import evaluate_map

    map_path, labels, train = _run_with_map(tmp_path / "run")
    test_only = _labels_tif(tmp_path / "test.tif", np.where(train, 0, labels))
    elsewhere = shutil.copy(map_path, tmp_path / "copy.tif")  # no split.npz beside it
    full = _labels_tif(tmp_path / "labels.tif", labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate_map(map_path, test_only)
        evaluate_map(elsewhere, full)
    assert not [w for w in caught if "training pixels" in str(w.message)]


def test_a_damaged_split_or_a_warning_reference_costs_nothing(tmp_path: Path) -> None:
    """The side check aborted the command on a damaged split.npz (the report already computed was lost) and said
    the reference reader's warnings a second time (final read s56 #1)."""
    import geopandas as gpd
    from shapely.geometry import box

    from hsi_app.tasks.map_accuracy import evaluate_map

    map_path, labels, _ = _run_with_map(tmp_path / "run")
    gpd.GeoDataFrame({"class": [1, 2]}, geometry=[box(500010, 4199900, 500100, 4199990), box(0, 0, 10, 10)],
                     crs="EPSG:32633").to_file(tmp_path / "ref.gpkg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate_map(map_path, tmp_path / "ref.gpkg")
    outside = [str(w.message) for w in caught if "outside" in str(w.message)]
    assert len(outside) == 1, outside
    (tmp_path / "run" / "split.npz").write_bytes(b"not a split")
    acc = evaluate_map(map_path, _labels_tif(tmp_path / "labels.tif", labels))
    assert acc.n_reference == int((labels > 0).sum())
