"""Classical denoising baselines: PCA truncation and the subspace + Gaussian filter hybrid."""

from __future__ import annotations

import numpy as np

from hsi_app.tasks.denoise_baselines import best_baselines, pca_denoise, subspace_gaussian_denoise


def smooth_low_rank(d: int = 16, h: int = 40, w: int = 44, seed: int = 0) -> np.ndarray:
    """``(d, h, w)``: three spectra mixed by smooth abundance maps, values in about [0.1, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 6.0
    abund = np.stack([np.sin(yy) + 1.2, np.cos(xx) + 1.2, np.sin(0.7 * xx + yy) + 1.2]) / 3.0
    return np.einsum("dk,khw->dhw", rng.uniform(0.1, 0.8, size=(d, 3)), abund).astype(np.float32)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b) ** 2))


def test_unfiltered_subspace_is_pca_and_rank_truncation_is_exact() -> None:
    clean = smooth_low_rank()
    noisy = clean + 0.1 * np.random.default_rng(1).standard_normal(clean.shape).astype(np.float32)
    np.testing.assert_allclose(subspace_gaussian_denoise(noisy, (3, 0.0, 0.0)), pca_denoise(noisy, 3), atol=1e-6)
    # a mean plus two centred directions: PCA with k = 3 keeps the clean cube exactly
    np.testing.assert_allclose(pca_denoise(clean, 3), clean, atol=1e-5)


def test_filtering_the_eigen_images_beats_plain_truncation_on_smooth_scenes() -> None:
    clean = smooth_low_rank()
    noisy = clean + 0.1 * np.random.default_rng(2).standard_normal(clean.shape).astype(np.float32)
    assert mse(subspace_gaussian_denoise(noisy, (3, 1.0, 1.0)), clean) < 0.5 * mse(pca_denoise(noisy, 3), clean)
    best = best_baselines(noisy, clean, names=("pca", "subspace_gaussian"))
    assert best["subspace_gaussian"]["psnr"] > best["pca"]["psnr"] + 3.0
    k, lead, rest = best["subspace_gaussian"]["param"]["k,sigma_lead,sigma_rest"]
    assert k in (2, 4, 8) and lead > 0 and rest > 0


def test_grid_skips_ranks_above_the_band_count() -> None:
    clean = smooth_low_rank(d=3)
    noisy = clean + 0.05 * np.random.default_rng(3).standard_normal(clean.shape).astype(np.float32)
    best = best_baselines(noisy, clean, names=("subspace_gaussian",))
    assert best["subspace_gaussian"]["param"]["k,sigma_lead,sigma_rest"][0] == 2


def test_oracle_picks_the_grid_value_best_in_the_selected_score() -> None:
    """select="mpsnr" keeps, per baseline, the grid value with the highest mean per-band PSNR."""
    import pytest

    from hsi_app.tasks.denoise_baselines import BASELINES

    clean = smooth_low_rank()
    scale = np.linspace(0.02, 0.2, clean.shape[0])[:, None, None]  # non-i.i.d.: PSNR and MPSNR can disagree
    noisy = clean + (scale * np.random.default_rng(3).standard_normal(clean.shape)).astype(np.float32)
    for select in ("psnr", "mpsnr"):
        best = best_baselines(noisy, clean, names=("gaussian",), select=select)["gaussian"]
        fn, grid, pname = BASELINES["gaussian"]
        per_value = {}
        for v in grid:  # the score by hand: global MSE, or the mean of per-band PSNRs
            err = (fn(noisy, v).astype(np.float64) - clean) ** 2
            per_value[v] = -10 * np.log10(err.mean()) if select == "psnr" else np.mean(-10 * np.log10(err.mean(axis=(1, 2))))
        assert best["param"][pname] == max(per_value, key=per_value.get), select
        assert best[select] == pytest.approx(max(per_value.values()), abs=1e-3)
    with pytest.raises(ValueError, match="select"):
        best_baselines(noisy, clean, names=("gaussian",), select="ssim")
