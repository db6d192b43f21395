"""Guided filtering of class probabilities: box means, the filter against a direct
implementation, its invariants, edge preservation, the guide, and windowed = one-shot."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.transform import from_origin

from hsi_app.errors import ConfigError, InvalidDataError
from hsi_app.infer import predict_scene
from hsi_app.io.cube import make_cube
from hsi_app.tasks.prob_smoothing import (
    GuideProjection,
    SmoothSpec,
    box_mean,
    fit_guide,
    guided_filter,
    parse_smooth,
    with_smoothing,
)


def brute_mean(x: np.ndarray, mask: np.ndarray, r: int) -> np.ndarray:
    """Mean over the masked pixels of each clipped (2r+1)^2 window, one pixel at a time."""
    h, w = x.shape[-2:]
    out = np.zeros(x.shape, dtype=np.float64)
    for i in range(h):
        for j in range(w):
            sl = (slice(max(0, i - r), i + r + 1), slice(max(0, j - r), j + r + 1))
            m = mask[sl]
            if m.any():
                out[..., i, j] = x[(..., *sl)][..., m].mean(axis=-1)
    return out


def direct_guided(p: np.ndarray, g: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s filter written window by window: fit q = a g + b in every window, average over windows."""
    h, w = g.shape
    a_sum = np.zeros_like(p, dtype=np.float64)
    b_sum = np.zeros_like(p, dtype=np.float64)
    count = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            sl = (slice(max(0, i - r), i + r + 1), slice(max(0, j - r), j + r + 1))
            gw = g[sl].ravel()
            for k in range(p.shape[0]):
                pw = p[k][sl].ravel()
                a = (np.mean(gw * pw) - gw.mean() * pw.mean()) / (gw.var() + eps)
                a_sum[k][sl] += a
                b_sum[k][sl] += pw.mean() - a * gw.mean()
            count[sl] += 1
    q = np.clip(a_sum / count * g + b_sum / count, 0, None)
    return q / q.sum(axis=0, keepdims=True)


def direct_colour_guided(p: np.ndarray, g: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s colour filter window by window: a ridge regression of p on the G guide channels in every window."""
    n, h, w = g.shape
    a_sum = np.zeros((p.shape[0], n, h, w))
    b_sum = np.zeros_like(p, dtype=np.float64)
    count = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            sl = (slice(max(0, i - r), i + r + 1), slice(max(0, j - r), j + r + 1))
            gw = g[(slice(None), *sl)].reshape(n, -1)
            centred = gw - gw.mean(axis=1, keepdims=True)
            sigma = centred @ centred.T / gw.shape[1]
            for k in range(p.shape[0]):
                pw = p[k][sl].ravel()
                a = np.linalg.solve(sigma + eps * np.eye(n), centred @ (pw - pw.mean()) / gw.shape[1])
                a_sum[k][(slice(None), *sl)] += a[:, None, None]
                b_sum[k][sl] += pw.mean() - a @ gw.mean(axis=1)
            count[sl] += 1
    q = np.clip((a_sum / count * g[None]).sum(axis=1) + b_sum / count, 0, None)
    return q / q.sum(axis=0, keepdims=True)


def random_probs(rng: np.random.Generator, k: int, h: int, w: int) -> np.ndarray:
    e = np.exp(2 * rng.normal(size=(k, h, w)))
    return (e / e.sum(axis=0)).astype(np.float32)


@pytest.mark.parametrize(("r", "kept"), [(1, 0.7), (2, 0.7), (3, 0.7), (1, 0.05), (2, 0.03)])
def test_box_mean_is_the_mean_over_valid_pixels_of_each_clipped_window(r: int, kept: float) -> None:
    """Sparse masks leave windows with no counted pixel: their mean must be exactly 0."""
    rng = np.random.default_rng(r)
    x = rng.normal(size=(2, 40, 45))
    mask = rng.random((40, 45)) < kept
    want = brute_mean(x, mask, r)
    got = box_mean(x, mask, r)
    np.testing.assert_allclose(got, want, atol=1e-12)
    empty = brute_mean(np.ones((40, 45)), mask, r) == 0
    assert empty.any() == (kept < 0.5)
    np.testing.assert_array_equal(got[:, empty], 0.0)


def test_guided_filter_matches_a_direct_window_by_window_implementation() -> None:
    rng = np.random.default_rng(0)
    p, g = random_probs(rng, 3, 10, 12), rng.random((10, 12))
    got = guided_filter(p, g, np.ones((10, 12), bool), SmoothSpec(2, 1e-2))
    np.testing.assert_allclose(got, direct_guided(p.astype(np.float64), g, 2, 1e-2), atol=1e-6)


@pytest.mark.parametrize("channels", [2, 3])
def test_colour_guided_filter_matches_window_by_window_ridge_regressions(channels: int) -> None:
    rng = np.random.default_rng(10 + channels)
    p, g = random_probs(rng, 3, 9, 11), rng.random((channels, 9, 11))
    got = guided_filter(p, g, np.ones((9, 11), bool), SmoothSpec(2, 1e-2, channels))
    np.testing.assert_allclose(got, direct_colour_guided(p.astype(np.float64), g, 2, 1e-2), atol=1e-6)
    # one channel given as (1, H, W) is the grey filter
    np.testing.assert_allclose(guided_filter(p, g[:1], np.ones((9, 11), bool), SmoothSpec(2, 1e-2)),
                               direct_guided(p.astype(np.float64), g[0], 2, 1e-2), atol=1e-6)


def test_flipping_one_guide_channel_changes_nothing() -> None:
    rng = np.random.default_rng(12)
    p, g = random_probs(rng, 4, 12, 10), rng.random((3, 12, 10))
    flipped = g.copy()
    flipped[1] = 1 - flipped[1]
    one = np.ones((12, 10), bool)
    np.testing.assert_allclose(guided_filter(p, flipped, one, SmoothSpec(2, 1e-3, 3)),
                               guided_filter(p, g, one, SmoothSpec(2, 1e-3, 3)), atol=1e-5)


def test_a_field_seen_only_by_the_second_guide_channel_is_kept_by_a_two_channel_guide() -> None:
    """A 2-px field (columns 9-10) that is flat in guide channel 0 (e.g. PC1) and bright in channel 1."""
    h, w = 20, 20
    truth = ((np.arange(w) >= 9) & (np.arange(w) <= 10))[None, :].repeat(h, axis=0).astype(int)
    rng = np.random.default_rng(13)
    first = 0.5 + 0.01 * rng.normal(size=(h, w))  # blind to the field
    second = truth + 0.01 * rng.normal(size=(h, w))
    p = np.where(truth[None] == np.arange(2)[:, None, None], 0.7, 0.3).astype(np.float32)
    one = np.ones((h, w), bool)
    grey = guided_filter(p, first, one, SmoothSpec(2, 1e-4))
    assert (grey.argmax(0)[:, 9:11] == 0).all()  # erased
    colour = guided_filter(p, np.stack([first, second]), one, SmoothSpec(2, 1e-4, 2))
    np.testing.assert_array_equal(colour.argmax(0), truth)


def test_output_is_a_distribution_and_no_data_pixels_are_left_alone() -> None:
    rng = np.random.default_rng(1)
    p, g = random_probs(rng, 4, 15, 13), rng.random((15, 13))
    valid = np.ones((15, 13), bool)
    valid[:5, :6] = False
    p_bad = p.copy()
    p_bad[:, ~valid] = 0.9  # junk at no-data pixels must not leak into their neighbours
    q = guided_filter(p_bad, g, valid, SmoothSpec(2, 1e-3))
    assert q.dtype == np.float32 and (q >= 0).all()
    np.testing.assert_allclose(q[:, valid].sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(q[:, ~valid], p_bad[:, ~valid])
    p_other = p.copy()
    p_other[:, ~valid] = 0.1
    np.testing.assert_allclose(guided_filter(p_other, g, valid, SmoothSpec(2, 1e-3))[:, valid], q[:, valid], atol=1e-6)


def test_constant_probabilities_and_affine_guides_change_nothing() -> None:
    rng = np.random.default_rng(2)
    g = rng.random((12, 12))
    flat = np.broadcast_to(np.array([0.2, 0.5, 0.3], np.float32)[:, None, None], (3, 12, 12))
    np.testing.assert_allclose(guided_filter(flat, g, np.ones((12, 12), bool), SmoothSpec(2, 1e-4)), flat, atol=1e-6)
    # the filter is equivariant to g -> c - g (eps is defined for the guide's scale, so no rescaling)
    p = random_probs(rng, 3, 12, 12)
    one = np.ones((12, 12), bool)
    np.testing.assert_allclose(guided_filter(p, 1 - g, one, SmoothSpec(2, 1e-4)),
                               guided_filter(p, g, one, SmoothSpec(2, 1e-4)), atol=1e-5)


def test_speckle_is_removed_and_a_narrow_field_in_the_guide_is_kept() -> None:
    """A 2-px-wide field (columns 9-10) in another class; the classifier is right with 0.7 except at speckle pixels."""
    h, w = 20, 20
    truth = ((np.arange(w) >= 9) & (np.arange(w) <= 10))[None, :].repeat(h, axis=0).astype(int)
    guide = truth.astype(np.float64) + 0.01 * np.random.default_rng(3).normal(size=(h, w))
    p = np.where(truth[None] == np.arange(2)[:, None, None], 0.7, 0.3).astype(np.float32)
    speckle = [(3, 4), (12, 15), (16, 2), (7, 9), (14, 11)]  # one inside the narrow field, one next to it
    for i, j in speckle:
        p[:, i, j] = p[::-1, i, j]
    assert (p.argmax(0) != truth).sum() == len(speckle)
    one = np.ones((h, w), bool)
    q = guided_filter(p, guide, one, SmoothSpec(2, 1e-4))
    np.testing.assert_array_equal(q.argmax(0), truth)
    # a flat guide makes it a 5 x 5 box filter, which erases the narrow field
    flat = guided_filter(p, np.zeros((h, w)), one, SmoothSpec(2, 1e-4))
    assert (flat.argmax(0)[:, 9:11] == 0).all()


def test_guide_is_the_first_principal_component_scaled_to_unit_range() -> None:
    rng = np.random.default_rng(4)
    h, w, c = 16, 18, 12
    brightness = rng.random((h, w))
    spectra = 1000 + 500 * brightness[None] * np.linspace(1, 2, c)[:, None, None] + rng.normal(size=(c, h, w))
    spectra[3] = np.nan  # a bad band is left out, not propagated
    spectra[:, 0, 0] = np.nan  # a no-data pixel
    proj = GuideProjection.fit(spectra.reshape(c, -1))
    assert 3 not in proj.bands and proj.bands.size == c - 1
    g = proj(spectra)[0]
    assert np.isfinite(g).all() and g.min() >= 0.0 and g.max() <= 1.0
    ok = np.isfinite(spectra[0])
    assert abs(np.corrcoef(g[ok], brightness[ok])[0, 1]) > 0.999
    assert {round(float(g[ok].min()), 6), round(float(g[ok].max()), 6)} == {0.0, 1.0}
    with pytest.raises(InvalidDataError, match="every pixel is no-data"):
        GuideProjection.fit(np.full((c, 10), np.nan))
    with pytest.raises(InvalidDataError, match="no band varies"):
        GuideProjection.fit(np.ones((c, 10)))


def small_cube(seed: int = 5, h: int = 23, w: int = 19, c: int = 3):  # noqa: ANN201
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(c, h, w)).astype(np.float32)
    data[:, h - 5 :, :5] = np.nan  # a no-data corner
    t = from_origin(500000.0, 4000000.0, 30.0, 30.0)
    return make_cube(data, x=500015.0 + 30.0 * np.arange(w), y=3999985.0 - 30.0 * np.arange(h), crs="EPSG:32633",
                     transform=t)


def test_guide_components_are_the_leading_principal_axes() -> None:
    rng = np.random.default_rng(14)
    c, n = 9, 400
    latent = rng.normal(size=(3, n)) * np.array([5.0, 2.0, 1.0])[:, None]
    spectra = rng.normal(size=(c, 3)) @ latent + 0.01 * rng.normal(size=(c, n)) + 100
    three = GuideProjection.fit(spectra, components=3)
    assert three.vectors.shape == (3, c) and three.low.shape == three.high.shape == (3,)
    np.testing.assert_allclose(three.vectors @ three.vectors.T, np.eye(3), atol=1e-8)
    np.testing.assert_allclose(three.vectors[0], GuideProjection.fit(spectra).vectors[0], atol=1e-8)
    g = three(spectra[:, :, None])[:, :, 0]  # (3, n), each scaled to [0, 1]
    np.testing.assert_allclose(g.min(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(g.max(axis=1), 1, atol=1e-6)
    corr = np.corrcoef(g)
    np.testing.assert_allclose(corr[~np.eye(3, dtype=bool)], 0, atol=1e-5)  # principal components: uncorrelated
    z = (spectra - spectra.mean(axis=1, keepdims=True)) / spectra.std(axis=1, keepdims=True)
    variance = [np.var(v @ z) for v in three.vectors]
    assert variance[0] > variance[1] > variance[2]
    assert GuideProjection.fit(spectra[:2], components=3).vectors.shape == (2, 2)  # no more axes than bands


def test_fit_guide_reads_window_by_window_the_same_strided_sample() -> None:
    cube = small_cube(6, 41, 37, 5)
    data = np.asarray(cube.values, dtype=np.float32)
    step = 3  # ceil(sqrt(41 * 37 / 200))
    ref = GuideProjection.fit(data[:, ::step, ::step].reshape(5, -1), components=3)
    got = fit_guide(cube, 3, max_pixels=200, window=8)  # many windows, none aligned with the step
    np.testing.assert_array_equal(got.bands, ref.bands)
    assert got.vectors.shape == (3, 5)
    np.testing.assert_allclose(got.vectors, ref.vectors, atol=1e-6)
    np.testing.assert_allclose([got.low, got.high], [ref.low, ref.high], atol=1e-5)
    np.testing.assert_allclose(got(data), ref(data), atol=1e-6)


def test_fit_guide_shows_its_progress_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    """The guide's pass over the scene (seconds on a big scene) has a bar on stderr before the prediction's."""
    cube = small_cube(6, 41, 37, 5)
    fit_guide(cube, 3, max_pixels=200, window=8)
    assert "guide" not in capsys.readouterr().err
    fit_guide(cube, 3, max_pixels=200, window=8, progress=True)
    out = capsys.readouterr()
    assert "guide" in out.err and "/30" in out.err and out.out == ""  # 6 x 5 windows of 8 px


def test_a_missing_value_in_one_band_counts_as_that_bands_mean() -> None:
    rng = np.random.default_rng(7)
    spectra = rng.normal(size=(4, 6, 5)) + np.arange(4)[:, None, None]
    proj = GuideProjection.fit(spectra.reshape(4, -1))
    holed = spectra.copy()
    holed[2, 3, 1] = np.nan
    filled = spectra.copy()
    filled[2, 3, 1] = proj.mean[2]
    np.testing.assert_allclose(proj(holed), np.clip(proj(filled), 0, 1), atol=1e-6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, None), ("none", None), ("NONE", None), ("guided", SmoothSpec(2, 1e-3, 3)),
     ("guided:3,0.01", SmoothSpec(3, 0.01, 3)), ("guided:2,1e-4,1", SmoothSpec(2, 1e-4, 1)),
     ("guided:1,0.1,5", SmoothSpec(1, 0.1, 5))],
)
def test_parse_smooth(text: str | None, expected: SmoothSpec | None) -> None:
    assert parse_smooth(text) == expected
    if expected is not None:
        assert parse_smooth(str(expected)) == expected  # the text that report.json records reads back


def test_the_printed_setting_names_all_three_numbers() -> None:
    """``hsi batch`` hashes ``str(spec)`` into its outputs' identity, so the text must name the
    guide's components: outputs of the older one-component default (printed without them) are redone."""
    assert str(SmoothSpec()) == "guided:2,0.001,3"
    assert str(SmoothSpec(2, 1e-4, 1)) == "guided:2,0.0001,1" != "guided:2,0.0001"


@pytest.mark.parametrize("text", ["gaussian", "guided:2", "guided:0,0.1", "guided:2,-1", "guided:a,b", "guided:2,nan",
                                  "guided:2,0.1,0", "guided:2,0.1,9", "guided:2,0.1,x", "guided:2,0.1,3,4"])
def test_parse_smooth_refuses_other_text_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ConfigError, match="use none, guided, guided:R,EPS or guided:R,EPS,K"):
        parse_smooth(text)


def pixel_model(image: np.ndarray) -> np.ndarray:
    """A per-pixel 'model' (receptive radius 0): softmax of three band combinations."""
    x = np.nan_to_num(image)
    logits = np.stack([x[0], x[1] - x[2], 0.5 * x[2]])
    e = np.exp(logits - logits.max(axis=0))
    return (e / e.sum(axis=0)).astype(np.float32)


@pytest.mark.parametrize(("window", "components"), [(4, 1), (7, 1), (64, 1), (5, 3)])
def test_windowed_smoothing_equals_one_shot_smoothing(window: int, components: int) -> None:
    cube = small_cube()
    spec = SmoothSpec(2, 1e-3, components)
    fn, halo = with_smoothing(pixel_model, 0, cube, spec)
    assert halo == 4
    got = predict_scene(fn, cube, num_classes=3, halo=halo, window=window, keep_map=True, progress=False).classes
    image = np.asarray(cube.values, dtype=np.float32)
    valid = np.isfinite(image).all(axis=0)
    ref = guided_filter(pixel_model(image), fit_guide(cube, components)(image), valid, spec).argmax(0) + 1
    ref[~valid] = 0
    np.testing.assert_array_equal(got, ref)
    plain = predict_scene(pixel_model, cube, num_classes=3, halo=0, window=window, keep_map=True, progress=False).classes
    assert (plain != got).any()  # the filter did change the map
