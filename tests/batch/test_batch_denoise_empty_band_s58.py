"""``hsi batch --task denoise`` on a scene with a band that holds no data at any pixel gives what ``hsi denoise``
gives on that file: a denoiser with fixed bands gets the scene as read (the batch does not flag the band when it
opens the scene, so ``--fill-nan`` fills it or its absence names it), any other denoiser gets the band flagged bad."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio

from hsi_app.batch import ClusterOptions, run_batch
from hsi_app.batch.tasks import DenoiseOptions, denoise_adapter
from hsi_app.io.open import open_cube
from hsi_app.tasks.denoise_scene import denoise_cube
from hsi_app.tasks.denoising import Denoiser
from tests.tasks.test_denoise_subspace_bands import basis_run
from tests.tasks.test_denoising import WL, geotiff, smooth_cube, untrained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """No scene opened by another test is in this process's batch cache, before or after."""
    from hsi_app.batch import run

    run._CUBES.clear()
    yield
    run._CUBES.clear()


def _batch(run: Path, inputs: Path, out: Path, fill_nan: bool) -> list[tuple[str, str]]:
    res = run_batch(denoise_adapter(DenoiseOptions(fill_nan=fill_nan)), run, [str(inputs)], out, window=512,
                    progress=False, echo=lambda s: None,
                    cluster=ClusterOptions(workers=1, processes=False, dashboard=False))
    return [(r.status, r.error) for r in res.rows]


def _alone(run: Path, scene: Path, out: Path, fill_nan: bool) -> str | None:
    """``hsi denoise`` on the file: ``None`` when written, else its one error line."""
    try:
        denoise_cube(Denoiser.load(run, device="cpu"), open_cube(scene), out, fill_nan=fill_nan, progress=False)
    except Exception as err:  # noqa: BLE001 - the line is compared
        return str(err)
    return None


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def _empty_band_scene(path: Path, band: int = 3) -> Path:
    data = smooth_cube()
    data[band] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    return geotiff(path, data)


@pytest.mark.parametrize("fixed", [True, False], ids=["fixed-bands", "any-bands"])
def test_batch_denoises_a_scene_with_an_empty_band_as_hsi_denoise(tmp_path: Path, fixed: bool) -> None:
    run = basis_run(tmp_path) if fixed else untrained_run(tmp_path)
    scene = _empty_band_scene(tmp_path / "in" / "s.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _batch(run, tmp_path / "in", tmp_path / "out", fill_nan=True) == [("done", "")]
        assert _alone(run, scene, tmp_path / "alone.tif", fill_nan=True) is None
    got, want = _read(tmp_path / "out" / "s_denoised.tif"), _read(tmp_path / "alone.tif")
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[3]).all() and np.isfinite(np.delete(got, 3, axis=0)).all()


def test_batch_names_the_empty_band_for_a_fixed_band_denoiser_without_fill_nan(tmp_path: Path) -> None:
    run = basis_run(tmp_path)
    scene = _empty_band_scene(tmp_path / "in" / "s.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = _batch(run, tmp_path / "in", tmp_path / "out", fill_nan=False)
        line = _alone(run, scene, tmp_path / "alone.tif", fill_nan=False)
    assert line is not None and "band 4 (642.9 nm) holds no data at any pixel" in line and "--fill-nan" in line
    assert rows == [("failed", line)]


def test_batch_refuses_an_extra_empty_band_as_hsi_denoise(tmp_path: Path) -> None:
    """The training scene's 8 bands and a 9th without data: ``hsi denoise`` refuses 9 bands for a model tied to 8;
    the batch flagged the 9th at open and denoised the other 8 (a band set ``hsi denoise`` refuses)."""
    run = basis_run(tmp_path)
    data = np.insert(smooth_cube(), 4, np.nan, axis=0)
    (tmp_path / "in").mkdir()
    scene = geotiff(tmp_path / "in" / "s.tif", data, wl=np.insert(WL, 4, 700.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = _batch(run, tmp_path / "in", tmp_path / "out", fill_nan=True)
        line = _alone(run, scene, tmp_path / "alone.tif", fill_nan=True)
    assert line is not None and "9 good bands" in line
    assert rows == [("failed", line)]
    assert not (tmp_path / "out" / "s_denoised.tif").exists()
