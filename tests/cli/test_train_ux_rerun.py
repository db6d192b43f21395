"""A rerun of `hsi train` / `hsi finetune` into the folder of an earlier run says, before any work, which run it
replaces (the files are replaced whole on success, so a long run or a fine-tune's base went without a word)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main
from tif_writer import write_tif

WL = np.linspace(420.0, 2400.0, 12)


def _scene(root: Path) -> tuple[Path, Path]:
    """A (12, 20, 24) int16-like reflectance GeoTIFF with 3 column classes, and its label raster."""
    rng = np.random.default_rng(0)
    labels = np.zeros((20, 24), np.uint8)
    labels[:, :8], labels[:, 8:16], labels[:, 16:] = 1, 2, 3
    spectra = np.stack([0.2 + 0.1 * k * (WL - 400) / 2000 + 0.05 * np.sin(WL / (200 + 50 * k)) for k in range(4)])
    data = (spectra[labels].transpose(2, 0, 1) + 0.005 * rng.standard_normal((WL.size, 20, 24))) * 10000
    return write_tif(root / "scene.tif", data.astype(np.float32), WL), write_tif(root / "labels.tif", labels[None])


def _notes(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("hsi: note:") and "earlier run" in ln]


def test_a_rerun_names_the_run_it_replaces_and_a_first_run_does_not(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    scene, labels = _scene(tmp_path)
    run = tmp_path / "run"
    train = ["train", "--data", str(scene), "--labels", str(labels), "--model", "test_ssfcn", "--epochs", "1",
             "--quiet", "--out", str(run)]
    code, _, err = run_main(capsys, *train)
    assert code == 0, err
    assert _notes(err) == []
    first = json.loads((run / "metrics.json").read_text())
    code, _, err = run_main(capsys, *train[:-2], "--split", "fixed:5", "--out", str(run))
    assert code == 0, err
    notes = _notes(err)
    assert len(notes) == 1 and str(run) in notes[0], err
    assert f"test_ssfcn on random:0.1, OA {100 * first['oa']:.2f}%" in notes[0] and "another --out" in notes[0]
    assert json.loads((run / "metrics.json").read_text())["protocol"] == "fixed:5"  # and it was replaced

    ft = tmp_path / "ft"
    tune = ["finetune", "--base", str(run), "--data", str(scene), "--labels", str(labels), "--lora-rank", "1",
            "--epochs", "1", "--quiet", "--out", str(ft)]
    code, _, err = run_main(capsys, *tune)
    assert code == 0, err
    assert _notes(err) == []
    code, _, err = run_main(capsys, *tune)
    assert code == 0, err
    assert len(_notes(err)) == 1 and "on fixed:10" in _notes(err)[0], err


def test_a_denoise_rerun_names_the_run_it_replaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene, _ = _scene(tmp_path)
    run = tmp_path / "den"
    args = ["train", "--task", "denoise", "--data", str(scene), "--model", "test_hsdt", "--epochs", "1", "--quiet",
            "--out", str(run)]
    code, _, err = run_main(capsys, *args)
    assert code == 0, err
    assert _notes(err) == []
    psnr = json.loads((run / "metrics.json").read_text())["denoised"]["psnr"]
    code, _, err = run_main(capsys, *args)
    assert code == 0, err
    notes = _notes(err)
    assert len(notes) == 1 and f"test_hsdt on gaussian:50, PSNR {psnr:.2f} dB" in notes[0], err


def test_a_detect_rerun_names_the_run_it_replaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """hsi train --task detect says so too (before the scene is read: a rerun that then fails keeps the run)."""
    from hsi_app.io.spectral_library import read_library
    from hsi_app.tasks.train_detector import DetectTrainOptions, train_detector

    scene, _ = _scene(tmp_path)
    lib_path = Path(__file__).resolve().parents[2] / "datasets" / "spectral_library_demo.csv"
    lib = read_library(lib_path)
    image = np.random.default_rng(1).uniform(0.1, 0.5, (WL.size, 24, 60)).astype(np.float32)
    run = tmp_path / "det"
    opts = DetectTrainOptions(model="test_point_detector", epochs=1, steps_per_epoch=2, batch=2, n_test_scenes=1,
                              progress=False, device="cpu")
    m = train_detector(image, lib.resample(WL)[:2], lib.names[:2], run, opts, wavelengths=WL,
                       fwhm=np.full(WL.size, np.nan), band_indices=np.arange(WL.size), source_bands=WL.size, data="x")
    before = (run / "model.safetensors").read_bytes()
    code, _, err = run_main(capsys, "train", "--task", "detect", "--data", str(tmp_path / "absent.tif"), "--targets",
                            str(lib_path), "--out", str(run), "--quiet")
    assert code != 0
    notes = _notes(err)
    assert len(notes) == 1 and f"test_point_detector on 2 target classes, mAP50 {m['mAP50']:.3f}" in notes[0], err
    assert (run / "model.safetensors").read_bytes() == before  # the failed rerun kept it
