"""A wavelength-aware run reading only some of its training bands says so, once, in one line."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from tiny_runs import make_run

from hsi_app.errors import HSIWarning
from hsi_app.io.cube import Cube, make_cube
from hsi_app.predictor import Predictor

N = 12
WL = np.linspace(420.0, 2400.0, N)  # 180 nm apart


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("sw") / "cvit", model="test_channel_vit", in_chans=N, wavelengths=WL)


def _cube(wl: np.ndarray, bad: list[int] | None = None) -> Cube:
    cube = make_cube(np.ones((wl.size, 5, 6), np.float32), wavelength=wl, bad_bands=bad)
    cube.attrs["source"] = "scene.tif"
    return cube


def _warnings(run: Path, cube: Cube) -> list[str]:
    pred = Predictor.load(run, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred.bind(cube)
    return [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]


def test_half_the_bands_warn_with_the_count_and_a_missing_range(run: Path) -> None:
    """Every other band: 6 of 12 (not below half, so no --resample hint)."""
    assert _warnings(run, _cube(WL[::2])) == [
        f"scene.tif: {run} uses 6 of its 12 training bands (the scene has no band within 2 nm of the others, "
        "e.g. 600 nm); the map may be less accurate"]


def test_below_half_adds_the_resample_hint_when_resampling_can_cover_the_bands(run: Path) -> None:
    """Two matching bands plus ten shifted 30 nm: --resample can rebuild all 12, so the hint is given."""
    wl = np.concatenate([WL[:2], WL[2:] + 30.0])
    [msg] = _warnings(run, _cube(wl))
    assert msg == (f"scene.tif: {run} uses 2 of its 12 training bands (the scene has no band within 2 nm of the "
                   "others, e.g. 780-2400 nm); the map may be less accurate; below half of them, check the map "
                   "against the full-band one or pass --resample (resample=True in Python)")


def test_no_resample_hint_when_resampling_cannot_cover_the_bands(run: Path) -> None:
    """A VNIR-only scene (first 3 bands): resampling cannot reach 2400 nm, so --resample is not suggested."""
    [msg] = _warnings(run, _cube(WL[:3]))
    assert msg.endswith("uses 3 of its 12 training bands (the scene has no band within 2 nm of the others, "
                        "e.g. 960-2400 nm); the map may be less accurate")


def test_a_bad_band_at_a_training_wavelength_is_called_no_good_band(run: Path) -> None:
    [msg] = _warnings(run, _cube(WL[:8], bad=[1]))
    assert "uses 7 of its 12 training bands (the scene has no good band within 2 nm of the others" in msg


def test_all_training_bands_say_nothing(run: Path) -> None:
    assert _warnings(run, _cube(np.concatenate([WL, [2500.0]]))) == []  # an extra band is simply not used
    assert _warnings(run, _cube(WL[::-1])) == []


def test_hsi_predict_prints_the_warning_once(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli_runner import run_main

    from hsi_app.io.cog import write_cube

    scene = tmp_path / "half.tif"
    write_cube(scene, make_cube(np.ones((6, 5, 6), np.float32), wavelength=WL[::2]))
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(scene), "--out",
                            str(tmp_path / "m.tif"), "--quiet")
    lines = [ln for ln in err.splitlines() if "training bands" in ln]
    assert code == 0 and len(lines) == 1 and lines[0].startswith(f"hsi: warning: {scene}: {run} uses 6 of its 12")


def test_the_library_subset_call_warns_without_the_cli_hint(run: Path) -> None:
    from hsi_app.tasks.band_subset import predict_band_subset

    with pytest.warns(HSIWarning) as caught:
        predict_band_subset(run, np.ones((2, 5, 6), np.float32), WL[:2], source="field.tif")
    [msg] = [str(w.message) for w in caught]
    assert msg == (f"field.tif: {run} uses 2 of its 12 training bands (the scene has no band within 2 nm of the "
                   "others, e.g. 780-2400 nm); the map may be less accurate")
