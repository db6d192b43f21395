"""``train_denoiser`` on scenes whose data fill only part of the grid (a swath inside a no-data collar)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import InvalidDataError
from hsi_app.io.cube import make_cube
from hsi_app.tasks.denoising import DenoiseOptions, train_denoiser

WL = np.linspace(450.0, 900.0, 8)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def swath(cols: slice, h: int = 32, w: int = 48) -> np.ndarray:
    """``(8, h, w)`` smooth float32 values with NaN (no data) outside columns ``cols``."""
    yy, xx = np.mgrid[0:h, 0:w] / 7.0
    ends = np.linspace(0.2, 1.0, 8)[:, None, None]
    data = (1000 + 3000 * ends * (np.sin(yy) + np.cos(xx) + 2.0) / 4.0).astype(np.float32)
    out = np.full_like(data, np.nan)
    out[:, :, cols] = data[:, :, cols]
    return out


OPTS = DenoiseOptions(model="test_hsdt", epochs=1, steps_per_epoch=1, batch_size=2, patch=16, band_chunk=0,
                      progress=False, threads=1, baselines=False)


@pytest.mark.parametrize(("cols", "empty", "data"), [
    (slice(0, 28), "held-out columns (the right third) 32-47", "columns 0-27"),
    (slice(34, 48), "training columns 0-31", "columns 34-47"),
])
def test_split_without_data_is_refused_before_training(tmp_path: Path, cols: slice, empty: str, data: str) -> None:
    # held out: columns 32-47 (the right third of 48). Data only left of them scored NaN after a whole training
    # run; data only inside them left the normalisation NaN and failed on the staging folder's config.json
    cube = make_cube(swath(cols), wavelength=WL, source="swath.tif")
    with pytest.raises(InvalidDataError) as err:
        train_denoiser(cube, tmp_path / "run", OPTS)
    msg = str(err.value)
    assert msg.startswith("swath.tif: no valid pixel in the " + empty) and data in msg and "crop" in msg
    assert not (tmp_path / "run").exists() and list(tmp_path.iterdir()) == []


def test_split_with_some_data_on_each_side_trains(tmp_path: Path) -> None:
    m = train_denoiser(make_cube(swath(slice(20, 40)), wavelength=WL), tmp_path / "run", OPTS)
    assert m["heldout"]["cols"] == [32, 48] and np.isfinite(m["denoised"]["psnr"])


def test_held_out_baselines_see_no_data_filled_with_band_medians(tmp_path: Path) -> None:
    """A no-data collar inside the held-out block was set to 0 on the normalised scale (the training minimum)
    before the noise: the baselines' filters smeared it into the scored pixels beside it (5.6 dB lower on a
    24-band scene with a quarter of it collar). It is filled with each band's median, as hsi denoise does."""
    from hsi_app.data.noise import add_noise
    from hsi_app.tasks.denoise_baselines import best_baselines
    from hsi_app.tasks.denoising import EVAL_SEED_OFFSET

    data = swath(slice(0, 48))
    yy, xx = np.mgrid[0:32, 0:48]
    data[:, (xx + yy < 12) | (xx - yy > 30)] = np.nan  # corners of a rotated swath, one in the held-out block
    opts = DenoiseOptions(model="test_hsdt", noise="gaussian:30", epochs=1, steps_per_epoch=1, batch_size=2,
                          patch=16, band_chunk=0, progress=False, threads=1, seed=3)
    m = train_denoiser(make_cube(data, wavelength=WL), tmp_path / "run", opts)
    lo = float(np.nanmin(data[:, :, :32]))
    scale = float(np.nanmax(data[:, :, :32])) - lo
    norm = (data - lo) / scale
    filled = np.where(np.isnan(norm), np.nanmedian(norm, axis=(1, 2))[:, None, None], norm)[:, :, 32:]
    noisy = add_noise(filled.astype(np.float32), "gaussian:30", 3 + EVAL_SEED_OFFSET)
    want = best_baselines(noisy, filled, offset=lo, scale=scale, mask=np.isfinite(data[:, :, 32:]))
    for name in ("gaussian", "subspace_gaussian"):
        assert m["baselines"][name]["param"] == want[name]["param"]
        assert m["baselines"][name]["psnr"] == pytest.approx(want[name]["psnr"], abs=2e-3)
    from hsi_app.tasks.denoising import Denoiser

    block, mask = Denoiser.load(tmp_path / "run", device="cpu").heldout_block(data)  # the block as it was scored
    np.testing.assert_allclose(block, filled, atol=1e-6)
    assert (mask == np.isfinite(data[:, :, 32:])).all()


def _large_scene() -> np.ndarray:
    """``(3, 600, 500)`` (more pixels than the --fill-nan sample holds) with a no-data collar and an empty band."""
    rng = np.random.default_rng(3)
    image = rng.gamma(2.0, 500.0, (3, 600, 500)).astype(np.float32)
    image[:, :, :60] = np.nan
    image[:, 200:230, 400:450] = np.nan
    image[2] = np.nan
    return image


def test_training_fills_no_data_with_the_values_hsi_denoise_fill_nan_uses() -> None:
    """Training took an exact median over every pixel, hsi denoise --fill-nan a sampled one: the two fills differed
    on scenes over 250,000 pixels (review 2 #3). Both now come from one sample of the scene."""
    from hsi_app.tasks.denoise_fill import scene_band_medians
    from hsi_app.tasks.denoising import fill_no_data

    image = _large_scene()
    filled = fill_no_data(image)
    as_denoise = scene_band_medians(lambda r, c, hh, ww: image[:, r:r + hh, c:c + ww], 600, 500, 256)  # its windows
    for b in range(3):
        np.testing.assert_array_equal(np.unique(filled[b][np.isnan(image[b])]), [as_denoise[b]])
    assert as_denoise[2] == 0.0


def test_heldout_block_is_the_training_fill_without_a_copy_of_the_scene() -> None:
    """heldout_block normalised and filled the whole scene to return its right third: about twice the scene in
    temporaries (review 2 #4). It now fills only the block, with the same values as training."""
    import tracemalloc
    import types

    from hsi_app.tasks.denoising import Denoiser, fill_no_data

    image = _large_scene()
    fake = types.SimpleNamespace(config=types.SimpleNamespace(split={"test_cols": (350, 500)}), offset=100.0,
                                 scale=4000.0)
    tracemalloc.start()
    block, mask = Denoiser.heldout_block(fake, image)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    training = fill_no_data(((image - 100.0) / 4000.0).astype(np.float32))[:, :, 350:]
    np.testing.assert_allclose(block, training, atol=1e-6)
    np.testing.assert_array_equal(mask, np.isfinite(image[:, :, 350:]))
    assert peak < image.nbytes, (peak, image.nbytes)
