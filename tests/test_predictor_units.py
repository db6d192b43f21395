"""A classifier refuses a scene in other units than its training scene, as `hsi denoise` does (uint16 reflectance
x 10000 through a model trained on 0-1 reflectance mapped every pixel to one class, exit status 0); a scene in
the training units, and any scene through a scale-invariant (SNV) model, passes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from cli_runner import assert_one_error_line, run_main
from rasterio.transform import from_origin
from tiny_runs import make_run
from synthetic_spectra import S2_WL, block_labels, four_materials

from hsi_app.errors import InvalidDataError
from hsi_app.io.open import open_cube
from hsi_app.predictor import Predictor

WL = S2_WL
H = W = 32


def _labels() -> np.ndarray:
    return block_labels()


def _reflectance() -> np.ndarray:
    """``(12, H, W)`` reflectance 0-0.6: four materials in blocks and noise."""
    return np.clip(four_materials(), 0.001, 1)


def _write(path: Path, data: np.ndarray, dtype: str) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=data.shape[0], dtype=dtype,
                       crs="EPSG:32633", transform=from_origin(500000, 5000000, 10, 10)) as ds:
        ds.write(data.astype(dtype))
        for i, w in enumerate(WL):
            ds.update_tags(i + 1, wavelength=str(w), wavelength_units="nm")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("units")
    refl = _reflectance()
    lab = d / "lab.npy"
    np.save(lab, _labels())
    return {"dir": d, "lab": lab, "refl": _write(d / "refl.tif", refl, "float32"),
            "u16": _write(d / "u16.tif", np.clip(refl * 10000, 0, 10000), "uint16"),
            "darker": _write(d / "darker.tif", refl * 0.7, "float32")}


@pytest.fixture(scope="module")
def svm_run(files: dict[str, Path]) -> Path:
    """An SVM trained on the reflectance scene (0-0.6)."""
    from hsi_app.cli.main import main

    out = files["dir"] / "svm"
    try:
        main(["train", "--data", str(files["refl"]), "--labels", str(files["lab"]), "--model", "svm", "--out", str(out),
              "--quiet"])
    except SystemExit as exc:
        assert not exc.code
    return out


def test_predict_refuses_a_scene_in_other_units(files: dict[str, Path], svm_run: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = files["dir"] / "u16_map.tif"
    code, _, err = run_main(capsys, "predict", "--model", str(svm_run), "--input", str(files["u16"]), "--out", str(out),
                            "--quiet")
    assert_one_error_line(code, err, f"{files['u16']}: values ", f"(1st-99th percentile) but {svm_run} was trained on",
                          "so the scene is in other units; its values are ~",
                          "times the training data's: convert the scene to the training scene's units")
    factor = float(re.search(r"its values are ~([\d,.]+) times", err).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 2_000 <= factor <= 50_000  # x 10000, against a spread estimated from the run's mean and std
    assert not out.exists()
    with pytest.raises(InvalidDataError, match="other units"):  # the Python API: bind (and plan) refuse it too
        Predictor.load(svm_run).bind(open_cube(files["u16"]))


@pytest.mark.parametrize("scene", ["refl", "darker"])
def test_a_scene_in_the_training_units_is_mapped(files: dict[str, Path], svm_run: Path, scene: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = files["dir"] / f"{scene}_map.tif"
    code, _, err = run_main(capsys, "predict", "--model", str(svm_run), "--input", str(files[scene]), "--out", str(out),
                            "--quiet")
    assert code == 0, err
    with rasterio.open(out) as ds:
        got = ds.read(1)
    lab = _labels()
    assert np.mean(got[lab > 0] == lab[lab > 0]) > 0.95


def test_an_snv_model_passes_while_its_inputs_keep_their_shape(files: dict[str, Path], tmp_path: Path) -> None:
    """SNV inputs remove a pixel's scale: a scene x 1000 passes an ssfcn_snv run (a run on the plain bands with the
    same statistics refuses it). x 10000 takes the normalised values past the input clip (+-1e4), where the SNV
    no longer keeps the spectrum's shape (ssfcn_snv mapped half such a scene wrong): refused too."""
    import warnings

    stats = dict(mean=[0.2] * 12, std=[0.15] * 12, wavelengths=[float(w) for w in WL])
    snv = make_run(tmp_path / "snv", model="ssfcn_snv", in_chans=12, num_classes=4, **stats)
    plain = make_run(tmp_path / "plain", model="test_ssfcn", in_chans=12, num_classes=4, **stats)
    x1000 = open_cube(_write(tmp_path / "x1000.tif", _reflectance() * 1000, "float32"))
    pred = Predictor.load(snv, device="cpu")
    assert pred.scale_invariant and not Predictor.load(plain, device="cpu").scale_invariant
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prob_fn = pred.bind(x1000)  # no refusal, no warning
    image = np.asarray(x1000.values, np.float32)
    np.testing.assert_allclose(prob_fn(image), pred.bind(open_cube(files["refl"]))(image / 1000), atol=1e-4)
    with pytest.raises(InvalidDataError, match="so the scene is in other units; its values are ~"):
        Predictor.load(plain, device="cpu").bind(x1000)
    with pytest.raises(InvalidDataError, match="so the scene is in other units; its values are ~"):
        pred.bind(open_cube(files["u16"]))
