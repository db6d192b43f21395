"""Restoration metrics against hand-computed values and a numpy reimplementation.

Global PSNR vs mean per-band PSNR (MPSNR), masks (no-data not scored), SAM skipping
zero-norm spectra, the SSIM definition (Gaussian 11 x 11, σ 1.5, reflect padding, no crop;
5 x 5 under 11 px) and exact window-by-window accumulation.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import convolve1d

from hsi_app.errors import InvalidDataError
from hsi_app.tasks.denoise_metrics import RestorationScores, gaussian_window_side, restoration_metrics

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------- numpy reference definitions


def np_psnr(est: np.ndarray, ref: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    """(global PSNR, mean per-band PSNR) over the kept entries, peak 1, float64."""
    sq = (est.astype(np.float64) - ref) ** 2
    glob = 10 * np.log10(1.0 / sq[keep].mean())
    per_band = [10 * np.log10(1.0 / sq[b][keep[b]].mean()) for b in range(sq.shape[0]) if keep[b].any()]
    return float(glob), float(np.mean(per_band))


def np_sam(est: np.ndarray, ref: np.ndarray, keep: np.ndarray, offset: float = 0.0, scale: float = 1.0) -> float:
    """Mean angle (rad) over pixels with every band kept and two non-zero raw spectra."""
    e = est.reshape(est.shape[0], -1).astype(np.float64) * scale + offset
    r = ref.reshape(ref.shape[0], -1).astype(np.float64) * scale + offset
    ne, nr = np.linalg.norm(e, axis=0), np.linalg.norm(r, axis=0)
    ok = keep.reshape(keep.shape[0], -1).all(0) & (ne > 0) & (nr > 0)
    cos = (e[:, ok] * r[:, ok]).sum(0) / (ne[ok] * nr[ok])
    return float(np.arccos(np.clip(cos, -1, 1)).mean())


def np_ssim_map(x: np.ndarray, y: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """Per-band SSIM map (Wang et al.), Gaussian ``size`` window, mirror (= torch reflect) padding, no crop."""
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    g /= g.sum()

    def f(a: np.ndarray) -> np.ndarray:
        return convolve1d(convolve1d(a, g, axis=-2, mode="mirror"), g, axis=-1, mode="mirror")

    x, y = x.astype(np.float64), y.astype(np.float64)
    mx, my = f(x), f(y)
    vx, vy, cxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


def noniid_pair(c: int = 6, h: int = 30, w: int = 34, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) ``(C, H, W)`` float32 with a very different noise level per band."""
    rng = np.random.default_rng(seed)
    clean = (rng.random((c, h, w)) * 0.6 + 0.2).astype(np.float32)
    sig = np.linspace(0.005, 0.2, c)[:, None, None]
    return (clean + rng.normal(size=clean.shape) * sig).astype(np.float32), clean


# --------------------------------------------------------------------------- PSNR / MPSNR


def test_psnr_is_global_mse_and_mpsnr_the_mean_of_band_psnr() -> None:
    # band 0 errs by exactly ±0.1 everywhere (MSE 1e-2, 20 dB), band 1 by ±0.01 (MSE 1e-4, 40 dB)
    ref = np.full((2, 12, 12), 0.5, dtype=np.float32)
    sign = np.where((np.indices((12, 12)).sum(0) % 2) == 0, 1.0, -1.0)
    est = (ref + np.stack([0.1 * sign, 0.01 * sign])).astype(np.float32)
    m = restoration_metrics(est, ref)
    assert m["mpsnr"] == pytest.approx((20 + 40) / 2, abs=1e-3)
    assert m["psnr"] == pytest.approx(10 * np.log10(1 / ((1e-2 + 1e-4) / 2)), abs=1e-3)  # 22.967 dB
    assert m["mpsnr"] > m["psnr"] + 7


def test_iid_noise_psnr_and_mpsnr_nearly_agree() -> None:
    rng = np.random.default_rng(3)
    clean = rng.random((5, 40, 40)).astype(np.float32)
    noisy = (clean + rng.normal(size=clean.shape) * 0.05).astype(np.float32)
    m = restoration_metrics(noisy, clean)
    glob, mean_band = np_psnr(noisy, clean, np.ones(clean.shape, bool))
    assert m["psnr"] == pytest.approx(glob, abs=1e-3) and m["mpsnr"] == pytest.approx(mean_band, abs=1e-3)
    assert abs(m["mpsnr"] - m["psnr"]) < 0.05


def test_perfect_estimate() -> None:
    x = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    m = restoration_metrics(x, x, offset=0.1)
    assert m["psnr"] == np.inf and m["mpsnr"] == np.inf and m["ssim"] == pytest.approx(1.0)
    assert m["sam"] < 1e-6  # float64 angles: no float32 arccos floor


def test_constant_bands_give_closed_form_scores() -> None:
    """Constant bands: SAM on raw values (offset 1), SSIM = its luminance term with data_range 1."""
    est = np.full((2, 11, 11), 0.25, np.float32)
    ref = np.zeros((2, 11, 11), np.float32)
    ref[0] = 0.5
    m = restoration_metrics(est, ref, offset=1.0, scale=1.0)  # raw estimate (1.25, 1.25), raw reference (1.5, 1.0)
    assert m["sam"] == pytest.approx(np.arccos(3.125 / (1.25 * np.sqrt(2) * np.sqrt(3.25))), abs=1e-5)  # 0.19740
    assert m["psnr"] == pytest.approx(12.0412, abs=1e-4) and m["mpsnr"] == pytest.approx(12.0412, abs=1e-4)
    c1 = 0.01**2  # (K1 * data_range)^2; no variance or covariance, so the contrast-structure term is 1
    want = ((2 * 0.25 * 0.5 + c1) / (0.25**2 + 0.5**2 + c1) + c1 / (0.25**2 + c1)) / 2
    assert m["ssim"] == pytest.approx(want, abs=1e-5)  # 0.40083


# --------------------------------------------------------------------------- masks, SAM


def test_masked_entries_are_not_scored() -> None:
    noisy, clean = noniid_pair()
    keep = np.ones(clean.shape, bool)
    keep[:, :, :15] = False  # half the scene is no-data
    keep[2, 20, 25] = False  # one band of one pixel: counted out of PSNR, the whole pixel out of SAM
    est, ref = noisy.copy(), clean.copy()
    ref[~keep] = np.nan  # unscored entries may be NaN
    m = restoration_metrics(est, ref, offset=100.0, scale=2000.0, mask=keep)
    glob, mean_band = np_psnr(noisy, clean, keep)
    assert m["psnr"] == pytest.approx(glob, abs=1e-3) and m["mpsnr"] == pytest.approx(mean_band, abs=1e-3)
    assert m["sam"] == pytest.approx(np_sam(noisy, clean, keep, 100.0, 2000.0), abs=1e-5)
    # SSIM: the documented map (unscored non-finite entries zeroed in both) averaged over kept entries
    zeroed = np.isnan(ref)
    ssim_map = np_ssim_map(np.where(zeroed, 0, est), np.where(zeroed, 0, ref), 11, 1.5)
    assert m["ssim"] == pytest.approx(ssim_map[keep].mean(), abs=2e-5)
    # what used to happen (no-data zeroed in both and scored as perfect) gives a different, higher PSNR
    zero_scored = restoration_metrics(np.where(keep, est, 0), np.where(keep, ref, 0))
    assert zero_scored["psnr"] > m["psnr"] + 2.5


def test_a_2d_mask_applies_to_every_band() -> None:
    noisy, clean = noniid_pair()
    keep2d = np.zeros(clean.shape[1:], bool)
    keep2d[5:25, 10:30] = True
    a = restoration_metrics(noisy, clean, mask=keep2d)
    glob, mean_band = np_psnr(noisy, clean, np.broadcast_to(keep2d, clean.shape))
    assert a["psnr"] == pytest.approx(glob, abs=1e-3) and a["mpsnr"] == pytest.approx(mean_band, abs=1e-3)


def test_zero_norm_spectra_are_skipped_in_sam() -> None:
    noisy, clean = noniid_pair()
    noisy[:, 0, 0] = 0.0  # all-zero estimate
    clean[:, 3, 3] = 0.0  # all-zero reference
    noisy[:, 5, 6] = clean[:, 5, 6] = 0.0  # both
    m = restoration_metrics(noisy, clean)  # offset 0: raw spectra are these zeros
    assert np.isfinite(m["sam"])
    keep = np.ones(clean.shape, bool)
    keep[:, [0, 3, 5], [0, 3, 6]] = False
    assert m["sam"] == pytest.approx(np_sam(noisy, clean, keep), abs=1e-5)


def test_everything_masked_gives_nan() -> None:
    noisy, clean = noniid_pair()
    m = restoration_metrics(noisy, clean, mask=np.zeros(clean.shape[1:], bool))
    assert all(np.isnan(v) for v in m.values())


def test_bad_inputs_are_one_line_errors() -> None:
    noisy, clean = noniid_pair()
    ref = clean.copy()
    ref[1, 2, 3] = np.nan
    with pytest.raises(InvalidDataError, match=r"NaN/inf in a scored entry \(band 2, row 2, col 3\); mask it out"):
        restoration_metrics(noisy, ref)
    with pytest.raises(InvalidDataError, match="mask"):
        restoration_metrics(noisy, clean, mask=np.ones((3, 3), bool))
    with pytest.raises(InvalidDataError, match="same"):
        restoration_metrics(noisy, clean[:, :10])
    scores = RestorationScores()
    scores.update(noisy, clean)
    with pytest.raises(InvalidDataError, match="band"):
        scores.update(noisy[:3], clean[:3])


# --------------------------------------------------------------------------- SSIM definition


def test_ssim_is_gaussian_11_reflect_padded_uncropped() -> None:
    noisy, clean = noniid_pair()
    assert gaussian_window_side(1.5) == 11
    expected = np_ssim_map(noisy, clean, 11, 1.5).mean()
    assert restoration_metrics(noisy, clean)["ssim"] == pytest.approx(expected, abs=2e-5)
    cropped = np_ssim_map(noisy, clean, 11, 1.5)[:, 5:-5, 5:-5].mean()
    assert abs(expected - cropped) > 1e-3  # the border-cropped variant is a different number


def test_small_images_use_a_5x5_window() -> None:
    noisy, clean = noniid_pair(h=8, w=9)
    assert gaussian_window_side(0.5) == 5
    got = restoration_metrics(noisy, clean)["ssim"]
    assert got == pytest.approx(np_ssim_map(noisy, clean, 5, 0.5).mean(), abs=2e-5)
    assert abs(got - np_ssim_map(noisy, clean, 3, 0.5).mean()) > 1e-4  # not the 3 x 3 the old comment claimed


def test_images_under_3_px_get_no_ssim_but_the_other_scores() -> None:
    noisy, clean = noniid_pair(h=2, w=9)
    m = restoration_metrics(noisy, clean)
    assert np.isnan(m["ssim"])
    assert m["psnr"] == pytest.approx(np_psnr(noisy, clean, np.ones(clean.shape, bool))[0], abs=1e-3)


# --------------------------------------------------------------------------- windowed accumulation


def test_windowed_accumulation_is_exact() -> None:
    noisy, clean = noniid_pair(h=40, w=37)
    keep = np.random.default_rng(1).random(clean.shape) > 0.2
    scores = RestorationScores(offset=50.0, scale=900.0)
    for r0 in range(0, 40, 16):
        for c0 in range(0, 37, 12):  # uneven tiles, the last column of tiles 1 px wide
            win = (slice(None), slice(r0, r0 + 16), slice(c0, c0 + 12))
            scores.update(noisy[win], clean[win], keep[win])
    got = scores.compute()
    glob, mean_band = np_psnr(noisy, clean, keep)
    assert got["psnr"] == pytest.approx(glob, abs=1e-3) and got["mpsnr"] == pytest.approx(mean_band, abs=1e-3)
    assert got["sam"] == pytest.approx(np_sam(noisy, clean, keep, 50.0, 900.0), abs=1e-5)
    assert got["mpsnr"] > got["psnr"] + 3  # the non-i.i.d. case where the two definitions part


def test_context_around_a_scored_core_reproduces_one_shot_ssim() -> None:
    noisy, clean = noniid_pair(h=40, w=40)
    scores = RestorationScores()
    for r0, c0 in ((0, 0), (0, 20), (20, 0), (20, 20)):  # 20 x 20 cores read with 6 px of context
        rr, cc = slice(max(0, r0 - 6), min(40, r0 + 26)), slice(max(0, c0 - 6), min(40, c0 + 26))
        core = np.zeros((40, 40), bool)
        core[r0 : r0 + 20, c0 : c0 + 20] = True
        scores.update(noisy[:, rr, cc], clean[:, rr, cc], core[rr, cc])
    assert scores.compute()["ssim"] == pytest.approx(np_ssim_map(noisy, clean, 11, 1.5).mean(), abs=2e-5)


def test_unmasked_scores_equal_the_torchmetrics_implementations() -> None:
    """Without a mask the numpy accumulation gives torchmetrics' PSNR (data range 1), the mean of its
    per-band PSNRs, its SSIM (Gaussian 11 x 11, σ 1.5) and its SAM on raw values. numpy does the
    accumulation because torchmetrics takes no mask and returns NaN for one zero-norm spectrum."""
    import torch
    from torchmetrics.functional.image import (
        peak_signal_noise_ratio,
        spectral_angle_mapper,
        structural_similarity_index_measure,
    )

    rng = np.random.default_rng(21)
    ref = rng.uniform(0.1, 0.9, size=(6, 24, 20)).astype(np.float32)
    est = (ref + rng.normal(0, 0.05, size=ref.shape) * np.linspace(0.5, 2, 6)[:, None, None]).astype(np.float32)
    got = restoration_metrics(est, ref, offset=0.2, scale=3.0)
    e, r = torch.from_numpy(est), torch.from_numpy(ref)
    assert got["psnr"] == pytest.approx(float(peak_signal_noise_ratio(e, r, data_range=1.0)), abs=1e-4)
    per_band = [float(peak_signal_noise_ratio(e[b], r[b], data_range=1.0)) for b in range(6)]
    assert got["mpsnr"] == pytest.approx(np.mean(per_band), abs=1e-4)
    ssim = structural_similarity_index_measure(e[:, None], r[:, None], data_range=1.0)  # bands as images
    assert got["ssim"] == pytest.approx(float(ssim), abs=1e-4)
    sam = spectral_angle_mapper((e * 3.0 + 0.2)[None].double(), (r * 3.0 + 0.2)[None].double())
    assert got["sam"] == pytest.approx(float(sam), abs=1e-5)  # scores are rounded to 5 decimals
