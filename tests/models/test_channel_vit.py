"""ChannelViT: wavelength-aware tokens, band subsets, HCS, invariances, round trips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from hsi_app.errors import BandMismatchError, ConfigError
from hsi_app.models import create_model
from hsi_app.models.channel_vit import ChannelViT
from hsi_app.models.layers.quadrature import group_quadrature
from hsi_app.tasks.classification import dense_logits
from synthetic_spectra import smooth_spectra

C, K = 24, 3
WL = np.linspace(420.0, 2450.0, C)


def _model(seed: int = 0, name: str = "test_channel_vit", **kw: object) -> ChannelViT:
    torch.manual_seed(seed)
    return create_model(name, in_chans=C, num_classes=K, wavelengths=WL, **kw).eval()


def test_forward_backward_shape_with_hcs() -> None:
    net = _model().train()
    y = net(torch.randn(2, C, 7, 9))
    assert y.shape == (2, K, 7, 9)
    y.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def _band_counts(net: ChannelViT, calls: int) -> list[int]:
    seen: list[int] = []
    original = net.tokens

    def spy(x: torch.Tensor, wl: torch.Tensor, fw: torch.Tensor) -> torch.Tensor:
        assert wl.shape == (x.shape[1],) == fw.shape
        seen.append(x.shape[1])
        return original(x, wl, fw)

    net.tokens = spy  # type: ignore[method-assign]
    for _ in range(calls):
        net(torch.randn(1, C, 4, 4))
    return seen


def test_hcs_samples_band_count_then_subset_only_in_training() -> None:
    torch.manual_seed(0)
    net = _model(hcs_min=0.25).train()
    counts = _band_counts(net, 16)
    assert min(counts) >= math.ceil(0.25 * C) and max(counts) <= C
    assert len(set(counts)) > 3  # the band count itself is random
    assert _band_counts(net.eval(), 3) == [C, C, C]
    assert _band_counts(_model(hcs=False).train(), 3) == [C, C, C]


def test_band_subset_runs_with_its_wavelengths() -> None:
    net = _model()
    x = torch.randn(1, C, 6, 5)
    keep = np.arange(0, C, 2)
    with torch.no_grad():
        y = net(x[:, keep], wavelengths=WL[keep])
    assert y.shape == (1, K, 6, 5) and torch.isfinite(y).all()
    with pytest.raises(BandMismatchError):
        net(x[:, keep])  # no wavelengths for a different band count
    with pytest.raises(BandMismatchError):
        net(x[:, keep], wavelengths=WL)


def test_unknown_fwhm_values_fall_back_to_the_widths_the_model_would_use() -> None:
    """A sensor without FWHM (Indian Pines: all NaN) passed explicitly must not turn the logits into NaN."""
    net = _model()
    x = torch.randn(1, C, 5, 5)
    keep = np.arange(0, C, 2)
    with torch.no_grad():
        torch.testing.assert_close(net(x, wavelengths=WL, fwhm=np.full(C, np.nan)), net(x))
        sub = net(x[:, keep], wavelengths=WL[keep])
        torch.testing.assert_close(net.with_bands(WL[keep], np.full(keep.size, np.nan))(x[:, keep]), sub)
        partly = np.full(keep.size, np.nan)
        partly[0] = 30.0  # a known width is used as given
        assert not torch.allclose(net(x[:, keep], wavelengths=WL[keep], fwhm=partly), sub, atol=1e-5)


def test_output_depends_on_wavelengths() -> None:
    net = _model()
    x = torch.randn(1, C, 5, 5)
    with torch.no_grad():
        base = net(x, wavelengths=WL)
        torch.testing.assert_close(net(x), base)  # the construction wavelengths are the default
        assert not torch.allclose(net(x, wavelengths=WL + 60.0), base, atol=1e-4)


def test_band_order_does_not_matter_when_wavelengths_follow() -> None:
    net = _model()
    x = torch.randn(1, C, 5, 5)
    perm = np.random.default_rng(0).permutation(C)
    with torch.no_grad():
        torch.testing.assert_close(net(x[:, perm], wavelengths=WL[perm]), net(x), atol=1e-5, rtol=1e-5)
        # ... but permuting the bands alone (wavelengths fixed) changes the prediction
        assert not torch.allclose(net(x[:, perm]), net(x), atol=1e-4)


def test_weights_do_not_depend_on_the_band_set() -> None:
    big = _model(seed=3)
    other_wl = np.linspace(450.0, 2400.0, 9)
    torch.manual_seed(4)
    small = create_model("test_channel_vit", in_chans=9, num_classes=K, wavelengths=other_wl).eval()
    small.load_state_dict(big.state_dict())  # no parameter is sized by the band count
    x = torch.randn(1, 9, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(small(x), big(x, wavelengths=other_wl))


def test_groups_by_wavelength_and_by_count() -> None:
    aviris = np.linspace(400.0, 2500.0, 200)
    net = create_model("channel_vit", in_chans=200, num_classes=2, wavelengths=aviris)
    groups = net.band_groups(torch.tensor(aviris))
    sizes = [len(g) for g in groups]
    assert 10 <= len(groups) <= 20 and sum(sizes) == 200 and max(sizes) <= 20
    assert all(np.ptp(aviris[g.numpy()]) < 200.0 for g in groups)
    half = net.band_groups(torch.tensor(aviris[::2]))
    assert len(half) == len(groups)  # wavelength bins survive dropping every other band
    by_count = create_model("test_channel_vit", in_chans=C, num_classes=K, wavelengths=WL, group_size=5)
    assert [len(g) for g in by_count.band_groups(torch.tensor(WL))] == [5, 5, 5, 5, 4]


def test_unknown_wavelengths_fall_back_to_even_spacing() -> None:
    net = create_model("test_channel_vit", in_chans=7, num_classes=2)
    assert net(torch.randn(1, 7, 4, 4)).shape == (1, 2, 4, 4)
    with pytest.raises(ConfigError):
        create_model("test_channel_vit", in_chans=7, num_classes=2, patch=2)


def test_windowed_equals_one_shot_also_on_a_subset() -> None:
    net = _model()
    x = torch.randn(C, 19, 15)
    torch.testing.assert_close(dense_logits(net, x, window=8), dense_logits(net, x, window=64), atol=1e-5, rtol=1e-5)
    keep = np.arange(1, C, 3)
    sub = net.with_bands(WL[keep])
    assert sub.receptive_radius == net.receptive_radius == 3
    torch.testing.assert_close(
        dense_logits(sub, x[keep], window=8), dense_logits(sub, x[keep], window=64), atol=1e-5, rtol=1e-5
    )


def test_safetensors_round_trip(tmp_path: Path) -> None:
    net = _model(seed=1)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    fresh = _model(seed=2)
    x = torch.randn(1, C, 6, 6)
    with torch.no_grad():
        assert not torch.allclose(fresh(x), net(x))
        fresh.load_state_dict(load_file(str(tmp_path / "w.safetensors")))
        assert torch.equal(fresh(x), net(x))


def _toy_scene(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes with different smooth spectra on a layout of 3x3-pixel blocks, plus noise."""
    rng = np.random.default_rng(seed)
    centres = np.array([700.0, 1300.0, 2000.0])
    spectra = np.exp(-0.5 * ((WL[None, :] - centres[:, None]) / 250.0) ** 2)  # (K, C)
    blocks = rng.integers(0, K, size=(4, 4))
    labels = np.kron(blocks, np.ones((3, 3), dtype=int))  # (12, 12) in 0..K-1
    image = spectra[labels].transpose(2, 0, 1) + 0.1 * rng.normal(size=(C, 12, 12))
    image = (image - image.mean(axis=(1, 2), keepdims=True)) / image.std(axis=(1, 2), keepdims=True)
    return torch.tensor(image, dtype=torch.float32), torch.tensor(labels)


def test_hcs_training_keeps_accuracy_on_half_the_bands() -> None:
    torch.manual_seed(0)
    net = create_model("test_channel_vit", in_chans=C, num_classes=K, wavelengths=WL, hcs_min=0.3)
    image, labels = _toy_scene(0)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-2)
    net.train()
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(net(image[None]), labels[None])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    test_image, test_labels = _toy_scene(1)
    keep = np.arange(0, C, 2)
    with torch.no_grad():
        full = (net(test_image[None]).argmax(1)[0] == test_labels).float().mean()
        half = (net(test_image[None, keep], wavelengths=WL[keep]).argmax(1)[0] == test_labels).float().mean()
    assert full >= 0.9
    assert half >= full - 0.05


AVIRIS_GRID = np.arange(400.0, 2400.0, 10.0)  # 200 bands 10 nm apart; every other band is a 20 nm grid


def _every_other_band_change(spectrum: np.ndarray, seed: int, name: str, **kw: object) -> float:
    """Relative change of an untrained model's group tokens when it gets every other band of
    ``spectrum`` (on :data:`AVIRIS_GRID`, one 3x3 tile) instead of all of them."""
    wl = AVIRIS_GRID
    x = torch.tensor(spectrum, dtype=torch.float32)[None, :, None, None].repeat(1, 1, 3, 3)
    keep = np.arange(0, wl.size, 2)
    torch.manual_seed(seed)
    net = create_model(name, in_chans=wl.size, num_classes=K, wavelengths=wl, **kw).eval()
    with torch.no_grad():
        full = net.tokens(x, net.band_wavelengths, net.band_fwhm)
        half = net.tokens(x[:, keep], net.band_wavelengths[keep], net.band_fwhm[keep])
    return float((full - half).norm() / full.norm())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_long_min_period_makes_every_other_band_give_the_same_tokens(seed: int) -> None:
    # With functions of wavelength no faster than an 80 nm period the group tokens barely
    # change; with the 10 nm default (a period the 20 nm grid aliases) they change by a
    # large fraction.
    spectrum = np.exp(-0.5 * ((AVIRIS_GRID - 1200.0) / 300.0) ** 2) + 0.3 * np.sin(AVIRIS_GRID / 150.0)

    def change(period: float) -> float:
        return _every_other_band_change(spectrum, seed, "test_channel_vit", min_period_nm=period)

    assert change(80.0) < 0.1
    assert change(10.0) > 2 * change(80.0)


def test_min_period_sets_the_shortest_fourier_period() -> None:
    net = _model(min_period_nm=80.0)
    for fn in (net.band_gain, net.channel_embed):
        periods = 2 * math.pi / fn.freqs
        assert periods.min().item() == pytest.approx(80.0, rel=1e-5)
        assert periods.max().item() == pytest.approx(4000.0, rel=1e-5)
    with pytest.raises(ConfigError, match="min_period_nm"):
        _model(min_period_nm=0.0)


def test_group_quadrature_covers_the_bin_from_the_full_grid_and_every_other_band() -> None:
    wl = torch.arange(400.0, 600.0, 10.0)  # one 200 nm bin, 10 nm bands
    fw = torch.full_like(wl, 10.0)
    q, centre, width = group_quadrature(wl, fw, 400.0, 600.0)
    # interior bands stand for 10 nm; the first reaches down to the bin edge, the last one spacing up
    assert torch.allclose(q[1:-1], torch.full((18,), 10.0))
    assert q[0].item() == pytest.approx(5.0) and q[-1].item() == pytest.approx(15.0)
    assert width.item() == pytest.approx(200.0) and centre.item() == pytest.approx((q * wl).sum().item() / 200.0)
    q2, centre2, width2 = group_quadrature(wl[::2], fw[::2], 400.0, 600.0)
    assert width2.item() == pytest.approx(200.0)
    assert q2.sum().item() == pytest.approx(200.0) and torch.allclose(q2[1:-1], torch.full((8,), 20.0))
    # either grid estimates the integral of a linear function over the bin (3 * 200 + 0.005 * (600^2 - 400^2))
    f = lambda w: 3.0 + 0.01 * w  # noqa: E731
    assert (q * f(wl)).sum().item() == pytest.approx(1600.0, rel=2e-3)
    assert (q2 * f(wl[::2])).sum().item() == pytest.approx(1600.0, rel=2e-3)
    # a gap: the bands beside it split it between them
    gap = torch.tensor([400.0, 410.0, 470.0, 480.0])
    qg, _, wg = group_quadrature(gap, torch.full_like(gap, 10.0))
    assert qg.tolist() == pytest.approx([15.0, 35.0, 35.0, 15.0]) and wg.item() == pytest.approx(100.0)


def test_quadrature_tokens_hardly_change_on_every_other_band() -> None:
    spectrum = np.exp(-0.5 * ((AVIRIS_GRID - 1200.0) / 300.0) ** 2) + 0.5

    def change(quadrature: bool) -> float:
        return _every_other_band_change(spectrum, 0, "channel_vit", min_period_nm=80.0, quadrature=quadrature)

    # plain group means see the group centre and extent move by half a band at each end
    assert change(True) < 0.03 < change(False)


@pytest.mark.parametrize(("prob", "expected"), [(0.0, {C}), (1.0, None)])
def test_hcs_prob_sets_how_often_training_samples_bands(prob: float, expected: set[int] | None) -> None:
    torch.manual_seed(0)
    net = _model(hcs_prob=prob, hcs_min=0.3).train()
    seen = set(_band_counts(net, 30))
    if expected is not None:
        assert seen == expected
    else:
        assert len(seen) > 5 and max(seen) <= C
    with pytest.raises(ConfigError, match="hcs_prob"):
        _model(hcs_prob=1.5)


def test_hcs_start_keeps_all_bands_until_that_fraction_of_the_run() -> None:
    torch.manual_seed(0)
    net = _model(hcs_start=0.5, hcs_min=0.3).train()
    net.set_training_progress(0.25)
    assert set(_band_counts(net, 10)) == {C}
    net.set_training_progress(0.5)
    assert len(set(_band_counts(net, 20))) > 3
    with pytest.raises(ConfigError, match="hcs_start"):
        _model(hcs_start=1.0)


def test_trainer_reports_progress_so_hcs_starts_half_way() -> None:
    from hsi_app.tasks.classification import fit_dense

    rng = np.random.default_rng(0)
    image = rng.normal(size=(C, 12, 12)).astype(np.float32)
    labels = rng.integers(1, K + 1, size=(12, 12))
    net = _model(hcs_start=0.5).train()
    progress_at_hcs: list[float] = []
    progress_seen: list[float] = []
    original_hcs, original_report = net._hcs, net.set_training_progress

    def spy_hcs(x: torch.Tensor, wl: torch.Tensor, fw: torch.Tensor) -> tuple[torch.Tensor, ...]:
        progress_at_hcs.append(net.training_progress)
        return original_hcs(x, wl, fw)

    def spy_report(fraction: float) -> None:
        progress_seen.append(fraction)
        original_report(fraction)

    net._hcs = spy_hcs  # type: ignore[method-assign]
    net.set_training_progress = spy_report  # type: ignore[method-assign]
    fit_dense(image, labels, None, model=net, num_classes=K, epochs=4, tiles_per_epoch=2, tile_size=12,
              progress=False, ema_decay=None, seed=0)
    assert progress_seen == [step / 8 for step in range(8)]  # 4 epochs x 2 steps, before each step
    assert progress_at_hcs == [0.5, 0.625, 0.75, 0.875]  # exactly the second half of the steps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_registered_hcs_snv_model_gives_nearly_the_same_logits_from_band_subsets(seed: int) -> None:
    # channel_vit_hcs_snv (weighted SNV, 80 nm, quadrature) against channel_vit_snv, untrained,
    # on 100 smooth spectra: every other band and random halves against all 200 bands.
    rng = np.random.default_rng(seed)
    raw = smooth_spectra(AVIRIS_GRID, 100, rng)
    x = torch.tensor(raw.T.reshape(1, AVIRIS_GRID.size, 10, 10), dtype=torch.float32)
    subsets = [np.arange(0, AVIRIS_GRID.size, 2)] + [np.sort(rng.choice(AVIRIS_GRID.size, 100, replace=False))
                                                     for _ in range(3)]

    def changes(name: str) -> list[float]:
        torch.manual_seed(seed)
        net = create_model(name, in_chans=AVIRIS_GRID.size, num_classes=K, wavelengths=AVIRIS_GRID).eval()
        with torch.no_grad():
            full = net(x)
            return [float((net(x[:, k], wavelengths=AVIRIS_GRID[k]) - full).norm() / full.norm()) for k in subsets]

    robust, plain = changes("channel_vit_hcs_snv"), changes("channel_vit_snv")
    assert robust[0] < 0.02 and robust[0] < 0.1 * plain[0]  # every other band (measured 0.2-0.6 %)
    assert np.mean(robust[1:]) < 0.5 * np.mean(plain[1:])  # random halves
    assert create_model("channel_vit_hcs_snv", in_chans=4, num_classes=K).hcs  # trained with HCS


def test_meanmax_pool_and_trunk_keep_band_order_invariance_and_windowing() -> None:
    net = _model(seed=5, token_pool="meanmax", trunk=(1, 2))
    assert net.receptive_radius == 3 + 1 + 2  # each trunk block adds its dilation
    assert net.norm.normalized_shape == (16,)  # mean and max of 8-wide tokens
    x = torch.randn(1, C, 9, 9)
    perm = np.random.default_rng(1).permutation(C)
    with torch.no_grad():
        assert net(x).shape == (1, K, 9, 9)
        torch.testing.assert_close(net(x[:, perm], wavelengths=WL[perm]), net(x), atol=1e-5, rtol=1e-5)
    image = torch.randn(C, 23, 17)
    torch.testing.assert_close(dense_logits(net, image, window=8), dense_logits(net, image, window=64),
                               atol=1e-5, rtol=1e-5)


def test_max_over_tokens_reaches_the_head_only_with_meanmax() -> None:
    plain, pooled = _model(seed=6), _model(seed=6, token_pool="meanmax")
    t = torch.randn(1, 2, 2, 4, 8)  # (B, H, W, G, D) tokens
    moved = t.clone()
    moved[..., 0, :] += 5.0  # one token raised, the other three lowered: same mean, larger maximum
    moved[..., 1:, :] -= 5.0 / 3
    torch.testing.assert_close(moved.mean(dim=3), t.mean(dim=3))
    with torch.no_grad():
        torch.testing.assert_close(plain.pixel_features(moved), plain.pixel_features(t), atol=1e-5, rtol=1e-5)
        assert pooled.pixel_features(t).shape == (1, 2, 2, 16)
        assert not torch.allclose(pooled.pixel_features(moved), pooled.pixel_features(t), atol=1e-3)


def test_default_state_dict_is_unchanged_by_the_head_options() -> None:
    keys = set(_model().state_dict())
    assert not any(k.startswith("trunk.") for k in keys)  # saved runs of the default still load strictly
    trunk_keys = set(_model(trunk=(1,)).state_dict()) - keys
    assert trunk_keys and all(k.startswith("trunk.0.") for k in trunk_keys)
    with pytest.raises(ConfigError, match="token_pool"):
        _model(token_pool="median")


def test_registered_trunk_variant_is_the_hcs_snv_model_with_the_wider_head() -> None:
    aviris = np.linspace(400.0, 2500.0, 200)
    torch.manual_seed(7)
    named = create_model("channel_vit_hcs_snv_trunk", in_chans=200, num_classes=16, wavelengths=aviris)
    torch.manual_seed(7)
    spelled = create_model("channel_vit_hcs_snv", in_chans=200, num_classes=16, wavelengths=aviris,
                           token_pool="meanmax", trunk=(1, 2))  # what the session-36 benchmark ran
    a, b = named.state_dict(), spelled.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert named.hcs and named.hcs_min == 0.5 and named.quadrature and named.receptive_radius == 11
    assert sum(p.numel() for p in named.parameters()) == 41_632


def test_reversed_wavelength_views_work_like_copies() -> None:
    """``wl[::-1]`` (a negative-stride view) is accepted by forward, with_bands and as FWHM, and equals its copy."""
    net = _model()
    x = torch.randn(1, C, 5, 5)
    rev = WL[::-1]
    fwhm = np.full(C, 12.0)[::-1]
    with torch.no_grad():
        torch.testing.assert_close(net(x.flip(1), wavelengths=rev), net(x.flip(1), wavelengths=rev.copy()), rtol=0, atol=0)
        torch.testing.assert_close(net.with_bands(rev, fwhm)(x.flip(1)), net.with_bands(rev.copy(), fwhm.copy())(x.flip(1)),
                                   rtol=0, atol=0)
        torch.testing.assert_close(net(x.flip(1), wavelengths=rev), net(x), atol=1e-5, rtol=1e-5)


def test_some_unknown_wavelengths_warn_once_that_stand_ins_replace_all_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from hsi_app.errors import HSIWarning
    from hsi_app.models import channel_vit

    monkeypatch.setattr(channel_vit, "_WARNED", set())
    wl = WL.copy()
    wl[[3, 10]] = np.nan
    with pytest.warns(HSIWarning, match=r"^channel_vit: 2 of 24 band wavelengths are unknown, so evenly spaced "
                                        r"stand-ins \(400-2500 nm\) are used for all 24 bands; give every band"):
        net = create_model("test_channel_vit", in_chans=C, num_classes=K, wavelengths=wl)
    np.testing.assert_allclose(net.band_wavelengths.numpy(), np.linspace(400.0, 2500.0, C), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same model again (training, then the run's evaluation): said once
        create_model("test_channel_vit", in_chans=C, num_classes=K, wavelengths=wl)
        # all known, or none given (a Python caller's model): nothing to say
        create_model("test_channel_vit", in_chans=C, num_classes=K, wavelengths=WL)
        create_model("test_channel_vit", in_chans=C, num_classes=K)


def test_a_scene_without_wavelengths_warns_once_that_stand_ins_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trained on a scene that records no wavelength (RGB, a GeoTIFF without tags): one line says the bands get
    evenly spaced 400-2500 nm stand-ins, so band subsets and other sensors will not match (was silent)."""
    import warnings

    from hsi_app.errors import HSIWarning
    from hsi_app.models import channel_vit

    monkeypatch.setattr(channel_vit, "_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # built twice (training, then the run's evaluation): said once
            net = create_model("test_channel_vit", in_chans=3, num_classes=K, wavelengths=np.full(3, np.nan))
    said = [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]
    assert said == ["channel_vit: no band wavelength is known (the scene, or the run's config.json, records none), so "
                    "evenly spaced stand-ins (400-2500 nm) are used for its 3 bands: band subsets and other sensors "
                    "will not match them; train on a file that records wavelengths to use the real ones"]
    np.testing.assert_allclose(net.band_wavelengths.numpy(), [400.0, 1450.0, 2500.0], rtol=1e-6)
