"""OA / AA / kappa without torchmetrics: bit for bit torchmetrics' values, and no Lightning import for SVM runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from hsi_app.tasks.class_metrics import classification_metrics, cohen_kappa

REPO = Path(__file__).resolve().parents[2]


def _torchmetrics(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> tuple[float, float, list[list[int]]]:
    """``(oa, kappa, confusion matrix)`` as torchmetrics computes them (kappa NaN for one class)."""
    from torchmetrics.functional.classification import (
        multiclass_accuracy,
        multiclass_cohen_kappa,
        multiclass_confusion_matrix,
    )

    t, p = torch.as_tensor(y_true, dtype=torch.int64), torch.as_tensor(y_pred, dtype=torch.int64)
    return (float(multiclass_accuracy(p, t, k, average="micro")), float(multiclass_cohen_kappa(p, t, k)),
            multiclass_confusion_matrix(p, t, k).long().tolist())


def _same_bits(a: float, b: float) -> bool:
    return np.float64(a).tobytes() == np.float64(b).tobytes()


def _cases() -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    rng = np.random.default_rng(11)
    cases = []
    for i, (k, n) in enumerate([(2, 7), (3, 50), (5, 1000), (16, 9000), (16, 250_000), (40, 3000)]):
        t = rng.integers(0, k, n)
        p = np.where(rng.random(n) < 0.7, t, rng.integers(0, k, n))  # mostly right, as a classifier
        cases.append((f"random {i}", t, p, k))
    t = rng.integers(0, 4, 500)
    cases.append(("a class absent from the predictions", t, np.where(t == 2, 1, t), 4))
    cases.append(("a class absent from the references", np.where(t == 3, 0, t), t, 4))
    cases.append(("classes absent from both", t, np.roll(t, 3), 9))
    cases.append(("all right", t, t.copy(), 4))
    cases.append(("all wrong", t, (t + 1) % 4, 4))
    cases.append(("a single sample", np.array([2]), np.array([2]), 3))
    return cases


@pytest.mark.parametrize("name, y_true, y_pred, k", _cases(), ids=[c[0] for c in _cases()])
def test_metrics_equal_torchmetrics_bit_for_bit(name: str, y_true: np.ndarray, y_pred: np.ndarray, k: int) -> None:
    oa, kappa, cm = _torchmetrics(y_true, y_pred, k)
    got = classification_metrics(y_true, y_pred, k)
    assert got["confusion_matrix"] == cm, name
    assert _same_bits(got["oa"], oa), (name, got["oa"], oa)
    if math.isfinite(kappa):
        assert _same_bits(got["kappa"], kappa), (name, got["kappa"], kappa)
    else:  # one class in references and predictions: chance agreement is 1 (as before)
        assert got["kappa"] == (1.0 if oa == 1.0 else 0.0)


@pytest.mark.parametrize("y_true, y_pred, k", [([1, 1], [1, 1], 3), ([0, 0, 0], [0, 0, 0], 2), ([1, 1], [1, 0], 2)])
def test_a_single_class_gives_torchmetrics_kappa(y_true: list[int], y_pred: list[int], k: int) -> None:
    """torchmetrics' kappa is NaN where only one class occurs (0 / 0); classification_metrics reports 1 or 0."""
    oa, kappa, cm = _torchmetrics(np.array(y_true), np.array(y_pred), k)
    raw = cohen_kappa(torch.as_tensor(cm))
    assert (math.isnan(raw) and math.isnan(kappa)) or _same_bits(raw, kappa)
    got = classification_metrics(y_true, y_pred, k)
    assert _same_bits(got["oa"], oa)
    if math.isnan(kappa):
        assert got["kappa"] == (1.0 if oa == 1.0 else 0.0)


def test_one_class_in_all_gives_defined_metrics() -> None:
    """``num_classes=1``: torchmetrics refuses it (ValueError); the metrics are those of a perfect map."""
    got = classification_metrics([0, 0, 0], [0, 0, 0], 1)
    assert got == {"oa": 1.0, "aa": 1.0, "kappa": 1.0, "per_class_accuracy": [1.0], "confusion_matrix": [[3]]}


def test_classification_keeps_its_name_for_the_metrics() -> None:
    from hsi_app.tasks import classification

    assert classification.classification_metrics is classification_metrics


def _scene(root: Path) -> tuple[Path, Path]:
    """A 30 x 28, 12-band int16 scene with 3 classes in blocks, and its label GeoTIFF."""
    rng = np.random.default_rng(0)
    labels = np.zeros((30, 28), np.uint8)
    for k, (r, c) in enumerate([(2, 2), (2, 15), (16, 8)], start=1):
        labels[r : r + 11, c : c + 11] = k
    x = np.linspace(0, 1, 12)
    spectra = np.stack([0.2 + 0.1 * k * x + 0.05 * np.sin(6 * x * (k + 1)) for k in range(4)])
    cube = ((spectra[labels].transpose(2, 0, 1) + 0.01 * rng.standard_normal((12, 30, 28))) * 10000).astype(np.int16)
    paths = []
    for name, data in (("scene.tif", cube), ("labels.tif", labels[None])):
        with rasterio.open(root / name, "w", driver="GTiff", height=30, width=28, count=data.shape[0],
                           dtype=data.dtype, crs="EPSG:32616", transform=from_origin(440000.0, 3750000.0, 30.0, 30.0)) as ds:
            ds.write(data)
            if name == "scene.tif":
                ds.update_tags(wavelength=",".join(f"{v:.1f}" for v in np.linspace(420, 2400, 12)), wavelength_units="nm")
        paths.append(root / name)
    return paths[0], paths[1]


def test_svm_train_and_ensemble_import_no_lightning(tmp_path: Path) -> None:
    """`hsi train --model svm` and `hsi ensemble` of SVM runs, in a fresh interpreter: no lightning, no torchmetrics."""
    scene, labels = _scene(tmp_path)
    a, b, ens = tmp_path / "a", tmp_path / "b", tmp_path / "ens"
    train = ["train", "--data", str(scene), "--labels", str(labels), "--model", "svm", "--split", "fixed:10", "--quiet"]
    script = (
        "import json, sys\n"
        "from hsi_app.cli.main import main\n"
        "def run(args):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, e.code\n"
        f"run({[*train, '--out', str(a)]!r})\n"
        f"run({[*train, '--init-seed', '1', '--out', str(b)]!r})\n"
        f"run({['ensemble', '--model', str(a), '--model', str(b), '--out', str(ens), '--quiet']!r})\n"
        "print(json.dumps({m: m in sys.modules for m in ('lightning', 'torchmetrics', 'pytorch_lightning')}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {"lightning": False, "torchmetrics": False, "pytorch_lightning": False}, loaded
    for run in (a, b, ens):
        metrics = json.loads((run / "metrics.json").read_text())
        assert 0.0 <= metrics["oa"] <= 1.0 and "kappa" in metrics
