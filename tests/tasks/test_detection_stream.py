"""Streamed global detectors (RX / MF / ACE / CEM in row strips) equal the in-memory ones, with bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from hsi_app.errors import InvalidDataError
from hsi_app.io.cube import make_cube
from hsi_app.tasks.detect_stream import Moments, scene_sample, streamed_scores, strip_height
from hsi_app.tasks.detection import detect_scene, scene_image
from hsi_app.tasks.detectors_classical import classical_scores

C, H, W = 12, 23, 17
NODATA = -9999.0


def _cube(lazy: bool, *, seed: int = 0, bad_bands: list[int] | None = None):  # type: ignore[no-untyped-def]
    """A random (C, H, W) cube around a large offset (reflectance x 10000), with no-data holes."""
    rng = np.random.default_rng(seed)
    base = 3000 + 800 * np.sin(np.arange(C))[:, None, None]
    data = (base + rng.normal(0, 60, (C, H, W)) + 40 * rng.normal(0, 1, (1, H, W))).astype(np.float32)
    data[:, 0:3, 0:4] = NODATA  # a no-data corner
    data[:, 11, 5] = NODATA  # single holes inside
    data[:, 20, 16] = NODATA
    data[2, 7, 9] = np.nan  # one band missing: not a valid pixel
    arr = da.from_array(data, chunks=(C, 8, 8)) if lazy else data
    return make_cube(arr, nodata=NODATA, bad_bands=bad_bands, wavelength=np.linspace(450, 900, C))


def _targets(k: int, channels: int = C) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (2500 + 1500 * rng.random((k, channels))).astype(np.float32)


def _rows_bytes(rows: int, channels: int = C) -> int:
    return rows * W * channels * 8


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("method", ["rx", "mf", "ace", "cem"])
@pytest.mark.parametrize("rows", [1, 3, 7, H])
def test_streamed_scores_equal_in_memory(method: str, rows: int, lazy: bool) -> None:
    cube = _cube(lazy)
    targets = None if method == "rx" else _targets(3)
    want = classical_scores(method, scene_image(cube), targets)
    assert strip_height(C, W, _rows_bytes(rows)) == rows
    got = streamed_scores(method, cube, targets, max_bytes=_rows_bytes(rows))
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[:, 0:3, 0:4]).all() and np.isnan(got[:, 7, 9]).all()
    ok = ~np.isnan(want)
    scale = float(np.abs(want[ok]).max())
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-6 * scale)


def test_streamed_scores_skip_bad_bands() -> None:
    cube = _cube(True, bad_bands=[0, 5])
    targets = _targets(2, C - 2)
    for method in ("rx", "ace", "cem"):
        t = None if method == "rx" else targets
        want = classical_scores(method, scene_image(cube), t)
        got = streamed_scores(method, cube, t, max_bytes=_rows_bytes(2, C - 2))
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-6 * float(np.abs(want[ok]).max()))


def test_detect_scene_streams_the_global_methods() -> None:
    cube = _cube(True)
    res = detect_scene(cube, "mf", spectra=_targets(2), names=["a", "b"])
    want = classical_scores("mf", scene_image(cube), _targets(2))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(res.scores[ok], want[ok], rtol=1e-5, atol=1e-6 * float(np.abs(want[ok]).max()))
    assert res.names == ["a", "b"] and len(res.detections) > 0


def test_streamed_scores_need_two_valid_pixels() -> None:
    data = np.full((C, 4, 5), NODATA, np.float32)
    data[:, 2, 3] = 1.0
    with pytest.raises(InvalidDataError, match="1 valid pixels"):
        streamed_scores("rx", make_cube(data, nodata=NODATA))


def test_moments_match_numpy_in_any_split() -> None:
    rng = np.random.default_rng(3)
    pix = 5000 + rng.normal(0, 3, (200, 6))
    mom = Moments(6)
    for part in np.array_split(pix, [1, 2, 50, 51, 199]):
        mom.add(part)
    np.testing.assert_allclose(mom.mean, pix.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(mom.covariance(), np.cov(pix, rowvar=False), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mom.correlation(), pix.T @ pix / len(pix), rtol=1e-12)


def test_scene_sample_is_the_strided_scene() -> None:
    cube = _cube(True)
    want = scene_image(cube)[:, ::4, ::4]
    got = scene_sample(cube, 4, max_bytes=_rows_bytes(1))
    np.testing.assert_array_equal(got, want)


def _peak(method: str, height: int, rows: int) -> int:
    """tracemalloc peak (bytes) of streamed scoring of a ``100 x height x 64`` int16 cube in ``rows``-row strips."""
    rng = np.random.default_rng(0)
    data = (1000 + rng.normal(0, 50, (100, height, 64))).astype(np.int16)
    cube = make_cube(data, nodata=-32768)
    t = None if method == "rx" else _targets(2, 100)
    streamed_scores(method, cube, t, max_bytes=rows * 64 * 100 * 8)  # imports, SPy set-up
    tracemalloc.start()
    try:
        streamed_scores(method, cube, t, max_bytes=rows * 64 * 100 * 8)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("method", ["rx", "mf", "ace", "cem"])
def test_streamed_memory_is_bounded_by_the_strip(method: str) -> None:
    """A 64 x 64 x 100 cube is 3.3 MB in float64; 1-row strips stay well below it, and a 4x taller
    scene (9.8 MB more in float64) costs its larger score map (4 bytes per pixel and target) and
    little else (the strips' bookkeeping), not more of the cube."""
    whole = 100 * 64 * 64 * 8
    small = _peak(method, 64, 1)
    assert small < whole / 3, (small, whole)
    k = 1 if method == "rx" else 2
    tall = _peak(method, 256, 1)
    assert tall - small < k * 192 * 64 * 4 + 3 * whole / 20, (tall, small)


def test_hsi_detect_computes_a_scenes_valid_mask_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The library's scale guess, a --target-pixel and both passes share one mask (each is a read of a lazy scene)."""
    from tests.cli_runner import run_main
    from tests.valid_mask_calls import count_valid_mask_calls

    calls = count_valid_mask_calls(monkeypatch)
    lib = tmp_path / "lib.csv"
    lib.write_text("wavelength,metal\n400,0.2\n1400,0.5\n2500,0.3\n")
    code, _, err = run_main(capsys, "detect", "--input", "indian_pines", "--method", "ace", "--targets", str(lib),
                            "--target-pixel", "10,10", "--out", str(tmp_path / "s.tif"), "--quiet")
    assert code == 0, err
    assert len(calls) == 1


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("rows", [10, 12, H])
@pytest.mark.parametrize("window", [(3, 7), (3, 11)])
def test_streamed_local_rx_equals_in_memory(rows: int, lazy: bool, window: tuple[int, int]) -> None:
    """Strips read outer // 2 rows beyond themselves: SPy's windows see what they see on the whole scene."""
    from hsi_app.tasks.detect_stream import streamed_local_rx

    cube = _cube(lazy)
    want = classical_scores("rx-local", scene_image(cube), window=window)
    got = streamed_local_rx(cube, window, max_bytes=_rows_bytes(rows))
    assert got.shape == want.shape == (1, H, W) and got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-6 * float(np.abs(want[ok]).max()))


def test_streamed_local_rx_on_a_scene_under_ten_rows_scores_it_whole() -> None:
    from hsi_app.tasks.detect_stream import streamed_local_rx

    cube = _cube(False).isel(y=slice(12, 20))  # 8 rows: SPy's mapper needs 10, rx() scores the transpose
    want = classical_scores("rx-local", scene_image(cube), window=(3, 7))
    np.testing.assert_allclose(streamed_local_rx(cube, (3, 7)), want, rtol=1e-6)
