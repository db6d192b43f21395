"""A band constant over the valid pixels (a dead, zeroed band) is left out of detection: the scores equal the
scene's without it (it collapsed ACE/MF/CEM to ~1e-7: the ridge made it the target's only whitened band)."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest

from hsi_app.errors import HSIWarning
from hsi_app.io.cube import make_cube
from hsi_app.tasks.detect_stream import streamed_local_rx, streamed_scores
from hsi_app.tasks.detection import detect_scene, scene_image
from hsi_app.tasks.detectors_classical import classical_scores

C, H, W = 10, 24, 20
DEAD = 5  # 0-based: band 6
WL = np.linspace(450, 2200, C)


def _scene(seed: int = 0) -> np.ndarray:
    """``(C, H, W)`` float32: soil background, a vegetation block, noise; band ``DEAD`` all zero; a no-data hole."""
    rng = np.random.default_rng(seed)
    soil = 0.1 + 0.0001 * (WL - 400)
    veg = 0.05 + 0.45 / (1 + np.exp(-(WL - 710) / 15))
    cube = np.repeat(soil[:, None, None], H, 1).repeat(W, 2)
    cube[:, 5:11, 4:10] = veg[:, None, None]
    cube = (cube + rng.normal(0, 0.01, cube.shape)).astype(np.float32)
    cube[DEAD] = 0.0
    cube[:, 20, 15] = np.nan
    return cube


def _pair(lazy: bool) -> tuple:  # type: ignore[type-arg]
    """The scene with its dead band and the same scene without it (as if the file had never held it)."""
    data = _scene()
    rest = np.delete(data, DEAD, axis=0)
    wrap = (lambda a: da.from_array(a, chunks=(a.shape[0], 8, 8))) if lazy else (lambda a: a)
    return make_cube(wrap(data), wavelength=WL), make_cube(wrap(rest), wavelength=np.delete(WL, DEAD))


def _target() -> np.ndarray:
    """A vegetation spectrum that is NOT zero in the dead band (as a library's is)."""
    return (0.05 + 0.45 / (1 + np.exp(-(WL - 710) / 15)))[None].astype(np.float32)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("method", ["ace", "mf", "cem", "rx"])
def test_scores_equal_those_without_the_dead_band(method: str, lazy: bool) -> None:
    with_dead, without = _pair(lazy)
    t = None if method == "rx" else _target()
    t_rest = None if t is None else np.delete(t, DEAD, axis=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = detect_scene(with_dead, method, spectra=t).scores  # streamed, the CLI's path
    want = detect_scene(without, method, spectra=t_rest).scores
    said = [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]
    assert len(said) == 1 and "band 6 (1422.2 nm) is constant" in said[0], said
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-6 * float(np.abs(want[ok]).max()))
    with pytest.warns(HSIWarning, match="band 6 is constant"):  # in memory: bands of the image, numbered
        in_memory = classical_scores(method, scene_image(with_dead), t)
    np.testing.assert_allclose(in_memory[ok], want[ok], rtol=1e-5, atol=1e-6 * float(np.abs(want[ok]).max()))
    if method in ("ace", "mf"):  # the vegetation block scores near 1, as a target should (was ~1e-7)
        assert float(np.nanmean(got[0, 5:11, 4:10])) > 0.5


def test_local_rx_leaves_the_dead_band_out_too() -> None:
    with_dead, without = _pair(True)
    with pytest.warns(HSIWarning, match="band 6 .* constant"):
        got = streamed_local_rx(with_dead, (3, 9))
    want = streamed_local_rx(without, (3, 9))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-6 * float(np.abs(want[ok]).max()))


def test_varying_bands_keep_everything_and_stay_quiet() -> None:
    """No constant band: no warning, the same scores; a scene where every band is constant is not emptied."""
    data = _scene()
    data[DEAD] = 0.2 + np.random.default_rng(5).normal(0, 0.01, (H, W))  # varies now
    cube = make_cube(data, wavelength=WL)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        streamed_scores("ace", cube, _target())
    flat = make_cube(np.ones((3, 6, 6), np.float32))
    with pytest.warns(HSIWarning, match="singular"):  # nothing to compare with: the ridge, as before
        assert streamed_scores("rx", flat).shape == (1, 6, 6)
