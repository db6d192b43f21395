"""channel_vit and the scene's FWHM: new runs train and predict with it, older runs keep the
band-spacing widths they were trained on, and band subsets / other sensors get real FWHM only
when the run was trained with it (:mod:`hsi_app.model_fwhm`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_runs import make_run

from hsi_app.checkpoint import load_config
from hsi_app.io.cube import Cube, make_cube
from hsi_app.model_fwhm import model_fwhm, training_fwhm

C, K = 12, 2
WL = np.linspace(420.0, 2400.0, C)
SPACING = WL[1] - WL[0]  # 180 nm: what the model uses without FWHM (evenly spaced bands)
HEADER_FWHM = np.full(C, 35.0)


def _cube(fwhm: np.ndarray | None) -> Cube:
    rng = np.random.default_rng(0)
    labels = np.zeros((16, 16), np.int32)
    labels[:8], labels[8:] = 1, 2
    data = (1000 + 300 * rng.random((C, 16, 16))).astype(np.float32)
    return make_cube(data, wavelength=WL, fwhm=fwhm, labels=labels, class_names=["u", "a", "b"])


def test_training_fwhm_is_the_scene_fwhm_for_a_family_that_takes_it() -> None:
    part = HEADER_FWHM.copy()
    part[3] = np.nan
    np.testing.assert_array_equal(training_fwhm("test_channel_vit", HEADER_FWHM), HEADER_FWHM)
    np.testing.assert_array_equal(training_fwhm("channel_vit_hcs_snv", part), part)  # NaN: the model's fallback
    assert training_fwhm("test_channel_vit", np.full(C, np.nan)) is None  # Indian Pines: no FWHM at all
    assert training_fwhm("test_channel_vit", None) is None
    assert training_fwhm("test_ssfcn", HEADER_FWHM) is None  # the family takes no FWHM
    assert training_fwhm("svm", HEADER_FWHM) is None


@pytest.mark.usefixtures("one_torch_thread")
def test_new_run_trains_and_predicts_with_the_header_fwhm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every training forward call sees the header's 35 nm (not the 180 nm spacing); config.json says so;
    the rebuilt model uses them, so a plain call equals passing the header FWHM explicitly."""
    from hsi_app.models.channel_vit import ChannelViT
    from hsi_app.predictor import Predictor
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    seen: list[np.ndarray] = []
    original = ChannelViT.tokens

    def spy(self: ChannelViT, x: torch.Tensor, wl: torch.Tensor, fw: torch.Tensor) -> torch.Tensor:
        if self.training:
            seen.append(fw.detach().cpu().numpy().copy())
        return original(self, x, wl, fw)

    monkeypatch.setattr(ChannelViT, "tokens", spy)
    run = tmp_path / "run"
    train_classifier(_cube(HEADER_FWHM), run, TrainOptions(model="test_channel_vit", split="random:0.3", epochs=1,
                                                           progress=False))
    assert seen and all(np.allclose(fw, 35.0) for fw in seen)
    assert json.loads((run / "config.json").read_text())["fwhm_in_model"] is True
    net = Predictor.load(run, device="cpu").model
    np.testing.assert_allclose(net.band_fwhm.numpy(), HEADER_FWHM)
    x = torch.randn(1, C, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(x, fwhm=HEADER_FWHM))


@pytest.mark.usefixtures("one_torch_thread")
def test_run_of_a_scene_without_fwhm_keeps_the_spacing(tmp_path: Path) -> None:
    from hsi_app.predictor import Predictor
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    run = tmp_path / "run"
    train_classifier(_cube(None), run, TrainOptions(model="test_channel_vit", split="random:0.3", epochs=1,
                                                    progress=False))
    assert load_config(run).fwhm_in_model is False
    np.testing.assert_allclose(Predictor.load(run, device="cpu").model.band_fwhm.numpy(), SPACING, rtol=1e-6)


def _old_run(run_dir: Path) -> Path:
    """A channel_vit run as written before ``fwhm_in_model`` existed: FWHM recorded, no key."""
    make_run(run_dir, model="test_channel_vit", in_chans=C, num_classes=K, wavelengths=WL, fwhm=list(HEADER_FWHM))
    path = run_dir / "config.json"
    raw = json.loads(path.read_text())
    raw.pop("fwhm_in_model", None)
    path.write_text(json.dumps(raw))
    return run_dir


def test_old_run_without_the_key_predicts_exactly_as_before(tmp_path: Path) -> None:
    """Rebuilt with the band-spacing widths, as it was trained: probabilities bit-identical to the
    model built the old way (wavelengths only) with the same weights."""
    from safetensors.torch import load_file

    from hsi_app.models import create_model
    from hsi_app.predictor import Predictor

    run = _old_run(tmp_path / "old")
    pred = Predictor.load(run, device="cpu")
    np.testing.assert_allclose(pred.model.band_fwhm.numpy(), SPACING, rtol=1e-6)
    old_way = create_model("test_channel_vit", in_chans=C, num_classes=K, wavelengths=WL)
    old_way.load_state_dict(load_file(str(run / "model.safetensors")))
    x = torch.randn(1, C, 7, 5)
    with torch.no_grad():
        assert torch.equal(pred.model(x), old_way.eval()(x))


def test_run_with_the_key_is_rebuilt_with_its_fwhm(tmp_path: Path) -> None:
    from hsi_app.predictor import Predictor

    fw = HEADER_FWHM.copy()
    fw[5] = np.nan  # an unknown width: the spacing
    run = make_run(tmp_path / "new", model="test_channel_vit", in_chans=C, num_classes=K, wavelengths=WL,
                   fwhm=[None if np.isnan(v) else float(v) for v in fw], fwhm_in_model=True)
    expected = np.where(np.isnan(fw), SPACING, fw)
    np.testing.assert_allclose(Predictor.load(run, device="cpu").model.band_fwhm.numpy(), expected, rtol=1e-6)


def test_model_fwhm_gives_real_fwhm_only_to_a_run_trained_with_it(tmp_path: Path) -> None:
    old = load_config(_old_run(tmp_path / "old"))
    new = load_config(make_run(tmp_path / "new", model="test_channel_vit", in_chans=C, num_classes=K, wavelengths=WL,
                               fwhm=list(HEADER_FWHM), fwhm_in_model=True))
    assert model_fwhm(old, np.full(4, 10.0)) is None
    np.testing.assert_array_equal(model_fwhm(new, np.full(4, 10.0)), np.full(4, 10.0))
    assert model_fwhm(new, None) is None


def test_fwhm_in_model_must_be_a_boolean(tmp_path: Path) -> None:
    from hsi_app.errors import ModelLoadError

    run = make_run(tmp_path / "run", model="test_channel_vit", in_chans=C, num_classes=K, wavelengths=WL)
    raw = json.loads((run / "config.json").read_text())
    raw["fwhm_in_model"] = "yes"
    (run / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ModelLoadError, match="fwhm_in_model"):
        load_config(run)


@pytest.mark.filterwarnings("ignore::hsi_app.errors.HSIWarning")
def test_band_subset_ignores_a_given_fwhm_for_a_spacing_trained_run(tmp_path: Path) -> None:
    """predict_band_subset with another sensor's FWHM: a spacing-trained run predicts as with None;
    a run trained with FWHM uses what it is given (and None means its training widths)."""
    from hsi_app.tasks.band_subset import predict_band_subset

    rng = np.random.default_rng(1)
    keep = np.arange(0, C, 2)
    image = rng.normal(size=(keep.size, 6, 6)).astype(np.float32)
    other = np.full(keep.size, 8.0)
    old = _old_run(tmp_path / "old")
    np.testing.assert_array_equal(predict_band_subset(old, image, WL[keep], fwhm=other),
                                  predict_band_subset(old, image, WL[keep]))
    new = make_run(tmp_path / "new", model="test_channel_vit", in_chans=C, num_classes=K, wavelengths=WL,
                   fwhm=list(HEADER_FWHM), fwhm_in_model=True)
    own = predict_band_subset(new, image, WL[keep])
    np.testing.assert_allclose(predict_band_subset(new, image, WL[keep], fwhm=HEADER_FWHM[keep]), own, atol=1e-6)
    assert np.abs(predict_band_subset(new, image, WL[keep], fwhm=other) - own).max() > 1e-4


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("scene_fwhm", [None, 35.0])
def test_cross_sensor_native_arm_gives_target_fwhm_only_to_a_base_trained_with_fwhm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scene_fwhm: float | None
) -> None:
    from hsi_app.models.channel_vit import ChannelViT
    from hsi_app.tasks.cross_sensor import enmap_like_target, train_base, zero_shot

    scene = _cube(None if scene_fwhm is None else np.full(C, scene_fwhm))
    base = train_base(scene, tmp_path / "base", model="test_channel_vit", epochs=1, tiles=2, split_col=6)
    assert load_config(base["run_dir"]).fwhm_in_model is (scene_fwhm is not None)
    target = enmap_like_target(scene, radius=base["radius"], per_class=2, seed=0, split_col=6,
                               bands=(WL, np.full(C, 10.0)))
    given: list[object] = []
    original = ChannelViT.with_bands

    def spy(self: ChannelViT, wavelengths: np.ndarray, fwhm: np.ndarray | None = None) -> object:
        given.append(fwhm)
        return original(self, wavelengths, fwhm)

    monkeypatch.setattr(ChannelViT, "with_bands", spy)
    zero_shot(base["run_dir"], target, native=True)
    assert len(given) == 1
    if scene_fwhm is None:
        assert given[0] is None  # the spacing-trained base keeps spacing widths
    else:
        np.testing.assert_array_equal(given[0], target.fwhm)
