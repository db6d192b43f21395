"""SNVFeatures, WavelengthSNV and the *_snv models: known values, brightness invariance, training statistics, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hsi_app.errors import ConfigError, InvalidDataError
from hsi_app.io.cube import make_cube
from hsi_app.models import create_model
from hsi_app.models.layers import SNVFeatures, WavelengthSNV
from hsi_app.predictor import Predictor
from hsi_app.tasks.classification import fit_dense
from hsi_app.tasks.train_classifier import TrainOptions, train_classifier
from synthetic_spectra import smooth_spectra


def test_snv_of_a_known_spectrum() -> None:
    # [1, 2, 3]: mean 2, population std sqrt(2/3) -> [-sqrt(3/2), 0, sqrt(3/2)]
    out = SNVFeatures.snv(torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]], dtype=torch.float64))
    r = np.sqrt(1.5)
    np.testing.assert_allclose(out[0].numpy(), [-r, 0.0, r], rtol=1e-12)
    np.testing.assert_array_equal(out[1].numpy(), [0.0, 0.0, 0.0])  # a flat spectrum has no shape


def test_fitted_layer_removes_gain_and_offset_of_the_raw_spectrum() -> None:
    rng = np.random.default_rng(0)
    mean, std = rng.uniform(500, 3000, 6), rng.uniform(50, 400, 6)
    raw = rng.uniform(200, 5000, (40, 6))
    layer = SNVFeatures(6)
    layer.fit((raw - mean) / std, mean, std)
    brighter = 1.7 * raw[:5] + 250.0  # another field: same spectral shape, other illumination
    z = torch.from_numpy(np.stack([(raw[:5] - mean) / std, (brighter - mean) / std])).float()  # (2, 5, 6)
    out = layer(z[:, None])  # (2, 1, 5, 12)
    assert out.shape == (2, 1, 5, 12)
    torch.testing.assert_close(out[..., :6], z[:, None])  # the normalised bands pass unchanged
    torch.testing.assert_close(out[0, ..., 6:], out[1, ..., 6:], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(z[0], z[1], atol=1e-2)


def test_snv_channels_are_standardised_on_the_training_pixels() -> None:
    rng = np.random.default_rng(1)
    mean, std = np.full(5, 1000.0), np.full(5, 100.0)
    raw = rng.normal(1000, 100, (200, 5)) * rng.uniform(0.5, 2.0, (200, 1))
    layer = SNVFeatures(5)
    layer.fit((raw - mean) / std, mean, std)
    z = torch.from_numpy((raw - mean) / std).float()[None, None]  # (1, 1, 200, 5)
    s = layer(z)[0, 0, :, 5:].double().numpy()
    np.testing.assert_allclose(s.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(s.std(0), 1.0, rtol=1e-4)


def test_snv_alone_replaces_the_bands() -> None:
    z = torch.randn(2, 3, 4, 7)
    both, alone = SNVFeatures(7), SNVFeatures(7, keep_bands=False)
    assert (both.out_dim, alone.out_dim) == (14, 7)
    torch.testing.assert_close(alone(z), both(z)[..., 7:])
    torch.testing.assert_close(alone(z), SNVFeatures.snv(z))  # unfitted: the SNV of the input as it is
    for inputs, stem_in in (("bands", 7), ("snv", 7), ("bands+snv", 14)):
        net = create_model("ssfcn", in_chans=7, num_classes=3, inputs=inputs)
        assert net.stem[0].in_features == stem_in
        assert net(z.permute(0, 3, 1, 2)).shape == (2, 3, 3, 4)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ConfigError, match="at least 2 bands"):
        SNVFeatures(1)
    with pytest.raises(ConfigError, match="inputs='pca'"):
        create_model("ssfcn", in_chans=7, num_classes=3, inputs="pca")
    with pytest.raises(ConfigError, match="channel_vit: inputs='bands\\+snv'; use one of bands, snv"):
        create_model("channel_vit", in_chans=7, num_classes=3, inputs="bands+snv")
    with pytest.raises(ConfigError, match="needs >= 2 bands.*--model ssfcn"):
        create_model("ssfcn_snv", in_chans=1, num_classes=3)
    layer = SNVFeatures(3)
    with pytest.raises(InvalidDataError, match="pixels"):
        layer.fit(np.zeros((0, 3)), np.zeros(3), np.ones(3))
    with pytest.raises(InvalidDataError, match="non-finite"):
        layer.fit(np.full((4, 3), np.nan), np.zeros(3), np.ones(3))


def test_fit_dense_fits_the_snv_statistics_from_the_training_pixels() -> None:
    rng = np.random.default_rng(2)
    raw = rng.uniform(100, 900, (4, 12, 12)).astype(np.float32)
    train = np.zeros((12, 12), np.int64)
    train[:4, :4], train[8:, 8:] = 1, 2
    mean, std = raw[:, train > 0].mean(1), raw[:, train > 0].std(1)
    norm = (raw - mean[:, None, None]) / std[:, None, None]
    net, _ = fit_dense(norm, train, None, model_name="ssfcn_snv", num_classes=2, epochs=1, tiles_per_epoch=2,
                       tile_size=12, progress=False, band_stats=(mean, std), model_args={"width": 4, "stem_hidden": 4})
    np.testing.assert_allclose(net.snv.band_mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(net.snv.band_std.numpy(), std, rtol=1e-6)
    expected = SNVFeatures.snv(torch.from_numpy(raw[:, train > 0].T.astype(np.float64))).numpy()
    np.testing.assert_allclose(net.snv.snv_mean.numpy(), expected.mean(0), atol=1e-5)
    np.testing.assert_allclose(net.snv.snv_std.numpy(), expected.std(0), rtol=1e-4)


def test_trained_run_stores_the_snv_statistics_and_predicts_the_same_map(tmp_path: Path) -> None:
    """hsi train -> model.safetensors keeps the buffers; a fresh Predictor reproduces the saved map."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(1, 4), 8 * 18).reshape(24, 18).astype(np.int32)
    data = (rng.normal(0, 5, (6, 24, 18)) + 100 * labels[None] * np.arange(1, 7)[:, None, None]).astype(np.float32)
    cube = make_cube(data, wavelength=[450.0 + 50 * i for i in range(6)], labels=labels)
    out = tmp_path / "run"
    opts = TrainOptions(model="ssfcn_snv", split="random:0.3", epochs=2, progress=False,
                        model_args={"width": 8, "stem_hidden": 8})
    train_classifier(cube, out, opts)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_name"] == "ssfcn_snv"
    predictor = Predictor.load(out)
    np.testing.assert_allclose(predictor.model.snv.band_mean.numpy(), cfg["mean"], rtol=1e-6)
    classes = predictor.probs(data).argmax(0) + 1  # (H, W) classes 1..K
    import rasterio

    with rasterio.open(out / "map.tif") as ds:
        np.testing.assert_array_equal(classes, ds.read(1))
    fresh = create_model("ssfcn_snv", in_chans=6, num_classes=3, width=8, stem_hidden=8)
    assert torch.equal(fresh.snv.band_std, torch.ones(6))  # defaults, until fitted or loaded


@pytest.mark.parametrize("name", ["ssfcn", "test_ssfcn", "test_spectral_vit", "test_spectral_mamba", "test_channel_vit"])
def test_snv_models_ignore_a_pixel_gain_and_offset(name: str) -> None:
    """With inputs="snv", a pixel whose raw spectrum is scaled and shifted gets the same logits."""
    rng = np.random.default_rng(4)
    c = 9
    mean, std = rng.uniform(500, 3000, c), rng.uniform(50, 400, c)
    raw = rng.uniform(200, 5000, (c, 7, 8))
    torch.manual_seed(0)
    net = create_model(name, in_chans=c, num_classes=3, inputs="snv").eval()
    net.fit_inputs(((raw.reshape(c, -1).T - mean) / std), mean, std)
    other = raw.copy()
    other[:, 3, 4] = 0.6 * raw[:, 3, 4] + 400.0  # the same material under other illumination
    z = [torch.from_numpy((r - mean[:, None, None]) / std[:, None, None]).float()[None] for r in (raw, other)]
    with torch.no_grad():
        a, b = net(z[0]), net(z[1])
    assert a.shape == (1, 3, 7, 8)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    plain = create_model(name, in_chans=c, num_classes=3).eval()
    with torch.no_grad():
        assert not torch.allclose(plain(z[0]), plain(z[1]), atol=1e-4)  # the bands themselves do change


def test_families_without_room_for_2c_inputs_refuse_bands_plus_snv() -> None:
    with pytest.raises(ConfigError, match="spectral_vit: inputs='bands\\+snv'; use one of bands, snv"):
        create_model("spectral_vit", in_chans=8, num_classes=3, inputs="bands+snv")


def test_wavelength_snv_of_a_band_subset_uses_that_subset_and_its_statistics() -> None:
    """The SNV is taken over the bands given; each band's statistics are looked up by wavelength."""
    rng = np.random.default_rng(5)
    wl = np.array([900.0, 450.0, 600.0, 1200.0, 750.0, 1500.0])  # unsorted on purpose
    mean, std = rng.uniform(500, 3000, 6), rng.uniform(50, 400, 6)
    raw = rng.uniform(200, 5000, (30, 6))
    layer = WavelengthSNV(wl)
    layer.fit((raw - mean) / std, mean, std)
    full = SNVFeatures(6, keep_bands=False)
    full.fit((raw - mean) / std, mean, std)
    pick = np.array([4, 0, 5])  # 750, 900, 1500 nm in another order
    z = torch.from_numpy((raw[:3, pick] - mean[pick]) / std[pick]).float().T[None, :, :, None]  # (1, 3, 3, 1)
    out = layer(z, torch.tensor(wl[pick]))[0, :, :, 0].T.double().numpy()  # (3 px, 3 bands)
    r = raw[:3, pick]
    s = (r - r.mean(1, keepdims=True)) / r.std(1, keepdims=True)
    expected = (s - full.snv_mean.numpy()[pick]) / full.snv_std.numpy()[pick]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    between = layer.stats_at(torch.tensor([675.0]))[:, 0]  # (4,) halfway between 600 and 750 nm
    np.testing.assert_allclose(between.numpy(), (layer.stats_at(torch.tensor([600.0, 750.0])).mean(1)).numpy(), rtol=1e-5)
    with pytest.raises(InvalidDataError, match="needs >= 2 bands"):
        layer(z[:, :1], torch.tensor(wl[:1]))


def test_weighted_snv_of_a_known_spectrum() -> None:
    # weights 1, 1, 2 on [1, 2, 4]: mean (1 + 2 + 8) / 4 = 2.75, variance (3.0625 + 0.5625 + 2 * 1.5625) / 4 = 1.6875
    out = SNVFeatures.snv(torch.tensor([[1.0, 2.0, 4.0]], dtype=torch.float64), torch.tensor([1.0, 1.0, 2.0]))
    np.testing.assert_allclose(out[0].numpy(), (np.array([1.0, 2.0, 4.0]) - 2.75) / np.sqrt(1.6875), rtol=1e-12)
    same = SNVFeatures.snv(torch.tensor([[1.0, 2.0, 4.0]]), torch.ones(3))
    np.testing.assert_allclose(same.numpy(), SNVFeatures.snv(torch.tensor([[1.0, 2.0, 4.0]])).numpy(), rtol=1e-6)


def test_weighted_snv_of_band_subsets_stays_close_to_the_full_set() -> None:
    """Means over wavelength, not over bands: random halves and every other band move the SNV far less."""
    wl = np.linspace(400.0, 2390.0, 200)
    rng = np.random.default_rng(0)
    raw = smooth_spectra(wl, 300, rng) * rng.uniform(0.5, 2, (300, 1)) + rng.uniform(-1, 1, (300, 1))  # gain, offset
    mean, std = raw.mean(0), raw.std(0)
    z = torch.from_numpy((raw - mean) / std).float().T[None, :, :, None]  # (1, C, 300 px, 1)
    rng = np.random.default_rng(1)
    subsets = [np.sort(rng.choice(200, 100, replace=False)) for _ in range(5)] + [np.arange(0, 200, 2)]
    change = {}
    for weighted in (False, True):
        layer = WavelengthSNV(wl, weighted=weighted)
        layer.fit(z[0, :, :, 0].T.numpy(), mean, std)
        full = layer(z, torch.tensor(wl))
        change[weighted] = [float((layer(z[:, k], torch.tensor(wl[k])) - full[:, k]).square().mean().sqrt())
                            for k in subsets]
    assert np.mean(change[True][:5]) < 0.3 * np.mean(change[False][:5])  # random halves (measured: 5x less on average)
    assert change[True][5] < 0.3 * change[False][5]  # every other band
    assert max(change[True]) < 0.05  # in units of each band's training spread
    net = create_model("test_channel_vit", in_chans=200, num_classes=3, wavelengths=wl, inputs="snv", weighted_snv=True)
    assert isinstance(net.snv, WavelengthSNV) and net.snv.weighted


def test_channel_vit_snv_run_keeps_its_statistics_and_takes_half_the_bands(tmp_path: Path) -> None:
    """hsi train -> the buffers are in the checkpoint; the run predicts from every other band too."""
    from hsi_app.tasks.band_subset import predict_band_subset

    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(1, 4), 8 * 18).reshape(24, 18).astype(np.int32)
    data = (rng.normal(0, 5, (8, 24, 18)) + 100 * labels[None] * np.arange(1, 9)[:, None, None]).astype(np.float32)
    wl = [450.0 + 50 * i for i in range(8)]
    cube = make_cube(data, wavelength=wl, labels=labels)
    out = tmp_path / "run"
    train_classifier(cube, out, TrainOptions(model="test_channel_vit", split="random:0.3", epochs=2, progress=False,
                                             model_args={"inputs": "snv"}))
    cfg = json.loads((out / "config.json").read_text())
    predictor = Predictor.load(out)
    np.testing.assert_allclose(predictor.model.snv.inner.band_mean.numpy(), cfg["mean"], rtol=1e-6)
    half = predict_band_subset(out, data[::2], np.asarray(wl[::2]))
    assert half.shape == (3, 24, 18)
    np.testing.assert_allclose(half.sum(0), 1.0, rtol=1e-5)
    with pytest.raises(ConfigError, match="--model channel_vit"):
        create_model("channel_vit_snv", in_chans=1, num_classes=3)


def test_band_dropout_acts_on_the_snv_channels_not_on_the_spectrum_they_come_from() -> None:
    """In training mode with band_drop, a scaled and shifted pixel still gets the same logits
    under the same dropout mask: the SNV is taken first, then whole SNV channels are dropped."""
    rng = np.random.default_rng(7)
    c = 9
    mean, std = rng.uniform(500, 3000, c), rng.uniform(50, 400, c)
    raw = rng.uniform(200, 5000, (c, 6, 6))
    net = create_model("test_ssfcn", in_chans=c, num_classes=3, inputs="snv", band_drop=0.5).train()
    net.fit_inputs(((raw.reshape(c, -1).T - mean) / std), mean, std)
    z = [torch.from_numpy((r - mean[:, None, None]) / std[:, None, None]).float()[None] for r in (raw, 0.6 * raw + 400)]
    outs = []
    for x in z:
        torch.manual_seed(11)
        outs.append(net(x))
    torch.testing.assert_close(outs[0], outs[1], atol=1e-4, rtol=1e-4)
