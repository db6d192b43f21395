"""Cross-sensor workflow pieces: EnMAP-like band table, few-label split, held-out target region."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hsi_app.io.cube import Cube, make_cube
from hsi_app.tasks.cross_sensor import (
    Target,
    adapt_head,
    base_classes,
    describe_base,
    enmap_like_bands,
    enmap_like_detectors,
    enmap_like_target,
    few_labels,
    score,
    seen_unseen_scores,
    summarize,
    summary_table,
    train_base,
    train_svm,
)


def test_enmap_like_bands_are_numbered_in_increasing_wavelength_as_in_a_real_product() -> None:
    """Real EnMAP L2A products number their 224 bands by wavelength: the VNIR (91 bands, 418-993 nm)
    and SWIR (133 bands, 902-2445 nm) detectors interleave in the overlap, each FWHM with its band."""
    wl, fwhm = enmap_like_bands()
    detector = enmap_like_detectors()
    assert wl.shape == fwhm.shape == detector.shape == (224,)
    assert np.all(np.diff(wl) > 0)
    vnir, swir = detector == "VNIR", detector == "SWIR"
    assert vnir.sum() == 91 and swir.sum() == 133 and not (vnir & swir).any()
    np.testing.assert_allclose(wl[vnir], np.linspace(418.0, 993.0, 91))  # each detector evenly spaced
    np.testing.assert_allclose(wl[swir], np.linspace(902.0, 2445.0, 133))
    assert (fwhm[vnir] == 6.5).all() and (fwhm[swir] == 10.0).all()
    # the detectors interleave: SWIR bands sit between VNIR bands in 902-993 nm, not after all of them
    first_swir, last_vnir = np.flatnonzero(swir)[0], np.flatnonzero(vnir)[-1]
    assert first_swir < last_vnir and (detector[first_swir:last_vnir + 1] == "VNIR").sum() >= 10


def test_few_labels_are_disjoint_and_cover_the_labels() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(30, 20))
    labels[0, 0] = 4  # a class with one pixel keeps it for training (no test pixel left)
    train, test = few_labels(labels, 5, seed=1)
    assert not ((train > 0) & (test > 0)).any()
    np.testing.assert_array_equal(np.maximum(train, test), labels)
    for k in (1, 2, 3):
        assert (train == k).sum() == 5
    assert (train == 4).sum() == 1
    again, _ = few_labels(labels, 5, seed=1)
    np.testing.assert_array_equal(again, train)


def test_target_is_the_right_part_resampled() -> None:
    rng = np.random.default_rng(0)
    c, h, w = 420, 12, 40
    wl = np.linspace(400, 2500, c)
    spectrum = 1000 + 500 * np.sin(wl / 300.0)
    data = (spectrum[:, None, None] * np.ones((c, h, w))).astype(np.float32)
    labels = rng.integers(1, 3, size=(h, w)).astype(np.int32)
    scene = make_cube(data, wavelength=wl, fwhm=np.full(c, 5.0), labels=labels, class_names=["u", "a", "b"])
    target = enmap_like_target(scene, radius=3, per_class=4, seed=0, split_col=20)
    assert target.first_col == 23 and target.image.shape == (224, h, w - 23)
    np.testing.assert_array_equal(np.maximum(target.train, target.test), labels[:, 23:])
    # a smooth spectrum resampled with narrow Gaussians stays close to its value at the band centre
    inside = (target.wavelengths > 450) & (target.wavelengths < 2450)
    expected = 1000 + 500 * np.sin(target.wavelengths[inside] / 300.0)
    np.testing.assert_allclose(target.image[inside, 0, 0], expected, rtol=0.02)
    # a sensor's own band table (e.g. from a product's METADATA.XML) replaces the synthetic one
    own_wl, own_fwhm = np.linspace(500, 2300, 50), np.full(50, 12.0)
    own = enmap_like_target(scene, radius=3, per_class=4, seed=0, split_col=20, bands=(own_wl, own_fwhm))
    assert own.image.shape == (50, h, w - 23)
    np.testing.assert_array_equal(own.wavelengths, own_wl)
    np.testing.assert_array_equal(own.fwhm, own_fwhm)
    np.testing.assert_allclose(own.image[:, 0, 0], 1000 + 500 * np.sin(own_wl / 300.0), rtol=0.02)
    np.testing.assert_array_equal(own.train, target.train)  # same labels, same draw


def test_target_bands_in_the_source_gaps_can_be_no_data_as_in_an_l2a_product() -> None:
    """``gaps="nodata"``: the EnMAP-like bands that fall in a gap of the source bands are NaN and
    flagged bad in the cube; the usable bands are those of ``gaps="fill"`` unchanged, and they
    are exactly what the LoRA arm reads from the cube (``scene_in_memory``)."""
    from hsi_app.errors import ConfigError
    from hsi_app.tasks.train_classifier import scene_in_memory

    rng = np.random.default_rng(0)
    wl = np.concatenate([np.arange(400.0, 1351.0, 10.0), np.arange(1450.0, 1801.0, 10.0),
                         np.arange(1960.0, 2501.0, 10.0)])  # the two water-vapour gaps of AVIRIS scenes
    c, h, w = wl.size, 8, 30
    data = (1000 + 300 * np.sin(wl / 200.0))[:, None, None] + rng.normal(0, 5, (c, h, w))
    scene = make_cube(data.astype(np.float32), wavelength=wl, fwhm=np.full(c, 10.0),
                      labels=rng.integers(1, 3, size=(h, w)).astype(np.int32), class_names=["u", "a", "b"])
    filled = enmap_like_target(scene, radius=2, per_class=3, seed=0, split_col=12)
    nodata = enmap_like_target(scene, radius=2, per_class=3, seed=0, split_col=12, gaps="nodata")
    ewl, efwhm = enmap_like_bands()
    bad = np.asarray(nodata.cube.hsi.bad_bands)
    nearest = np.abs(ewl[:, None] - wl[None, :]).min(axis=1)
    np.testing.assert_array_equal(bad, np.flatnonzero(nearest > efwhm))  # more than one FWHM from any source band
    assert ((ewl[bad] > 1350) & (ewl[bad] < 1450) | (ewl[bad] > 1800) & (ewl[bad] < 1960)).all() and bad.size >= 10
    assert nodata.cube.hsi.shape == (224, h, w - 14) and np.isnan(nodata.cube.values[bad]).all()
    assert bool(nodata.cube.hsi.valid.values.all())  # no-data bands do not make pixels invalid
    good = np.setdiff1d(np.arange(224), bad)
    np.testing.assert_array_equal(nodata.image, filled.image[good])
    np.testing.assert_array_equal(nodata.wavelengths, ewl[good])
    np.testing.assert_array_equal(nodata.fwhm, efwhm[good])
    np.testing.assert_array_equal(nodata.train, filled.train)
    image, bands, _ = scene_in_memory(nodata.cube)
    np.testing.assert_array_equal(bands, good)
    np.testing.assert_array_equal(image, nodata.image)
    assert not filled.cube.hsi.bad_bands and filled.image.shape[0] == 224
    with pytest.raises(ConfigError, match="gaps='drop'; use one of fill, nodata"):
        enmap_like_target(scene, radius=2, per_class=3, seed=0, split_col=12, gaps="drop")


def test_base_statistics_are_those_of_the_labelled_pixels_left_of_the_split(tmp_path: Path) -> None:
    """train_base's mean/std: labelled pixels of columns < split_col only (no unlabelled, no held-out pixel)."""
    rng = np.random.default_rng(0)
    c, h, w, split_col = 8, 16, 30, 15
    data = rng.normal(100.0, 20.0, size=(c, h, w)).astype(np.float32)
    labels = np.zeros((h, w), np.int32)
    labels[2:14, 1:12] = rng.integers(1, 3, size=(12, 11))  # 132 labelled pixels left of the split
    labels[:, 20:] = 1  # labelled, but held out
    scene = make_cube(data, wavelength=np.linspace(450, 900, c), fwhm=np.full(c, 10.0), labels=labels,
                      class_names=["u", "a", "b"])
    train_base(scene, tmp_path / "base", model="test_spectral_vit", epochs=1, tiles=1, split_col=split_col)
    cfg = json.loads((tmp_path / "base" / "config.json").read_text())
    seen = data[:, 2:14, 1:12].reshape(c, -1).astype(np.float64)
    np.testing.assert_allclose(cfg["mean"], seen.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(cfg["std"], seen.std(axis=1), rtol=1e-4)
    assert cfg["in_chans"] == c and cfg["num_classes"] == 2


def test_summarize_gives_mean_and_population_std_per_method_in_order() -> None:
    rows = [
        {"method": "LoRA", "oa": 0.6, "aa": 0.5, "kappa": 0.4, "trainable": 10, "total": 100, "seconds": 2.0},
        {"method": "SVM", "oa": 0.5, "aa": 0.5, "kappa": 0.3, "trainable": 0, "total": 0, "seconds": 1.0},
        {"method": "LoRA", "oa": 0.8, "aa": 0.7, "kappa": 0.6, "trainable": 10, "total": 100, "seconds": 4.0},
    ]
    out = summarize(rows)
    assert [r["method"] for r in out] == ["LoRA", "SVM"]
    lora, svm = out
    assert lora["n"] == 2 and svm["n"] == 1
    np.testing.assert_allclose([lora["oa"], lora["oa_std"], lora["aa"], lora["kappa_std"]], [0.7, 0.1, 0.6, 0.1])
    assert lora["seconds"] == 3.0 and svm["oa_std"] == 0.0
    table = summary_table(out)
    assert "| LoRA | 2 | 70.00 ± 10.00 | 60.00 ± 10.00 | 50.00 ± 10.00 | 10 | 3.0 |" in table


def test_summarize_and_table_carry_the_seen_and_unseen_accuracy() -> None:
    rows = [
        {"method": "LoRA", "oa": 0.6, "aa": 0.5, "kappa": 0.4, "oa_seen": 0.9, "oa_unseen": 0.2,
         "trainable": 10, "total": 100, "seconds": 2.0},
        {"method": "LoRA", "oa": 0.8, "aa": 0.7, "kappa": 0.6, "oa_seen": 0.7, "oa_unseen": 0.4,
         "trainable": 10, "total": 100, "seconds": 4.0},
    ]
    (lora,) = summarize(rows)
    np.testing.assert_allclose([lora["oa_seen"], lora["oa_seen_std"], lora["oa_unseen"], lora["oa_unseen_std"]],
                               [0.8, 0.1, 0.3, 0.1])
    assert ("| LoRA | 2 | 70.00 ± 10.00 | 60.00 ± 10.00 | 50.00 ± 10.00 | 80.00 ± 10.00 | 30.00 ± 10.00 | 10 | 3.0 |"
            in summary_table([lora]))
    rows[1]["oa_unseen"] = None  # a draw without unseen test pixels: the split is left out, not averaged wrongly
    assert "oa_unseen" not in summarize(rows)[0] and "unseen" not in summary_table(summarize(rows))


def test_base_classes_are_those_labelled_left_of_the_split() -> None:
    labels = np.zeros((4, 10), np.int32)
    labels[0, :3] = [2, 5, 2]
    labels[1, 6:] = [1, 3, 3, 4]  # right of the split: never seen by the base
    labels[2, 4] = 3  # class 3 also occurs left of the split
    scene = make_cube(np.ones((3, 4, 10), np.float32), wavelength=[500.0, 600.0, 700.0], labels=labels)
    assert base_classes(scene, split_col=5) == [2, 3, 5]


def test_seen_unseen_scores_split_the_test_pixels_by_class() -> None:
    test = np.array([[1, 1, 2, 2], [3, 3, 3, 0]])
    pred = np.array([[1, 2, 2, 2], [3, 1, 1, 3]])  # class 1: 1/2, class 2: 2/2, class 3: 1/3; the 0 is ignored
    target = Target(np.zeros((1, 2, 4), np.float32), np.ones(1), np.ones(1), np.zeros_like(test), test, None, 0)
    out = seen_unseen_scores(target, pred, seen=[1, 2])
    assert out["per_class"] == {1: 0.5, 2: 1.0, 3: pytest.approx(1 / 3)}
    assert out["oa_seen"] == 0.75 and out["oa_unseen"] == pytest.approx(1 / 3)
    assert seen_unseen_scores(target, pred, seen=[1, 2, 3])["oa_unseen"] is None


def test_svm_arm_separates_classes_with_distinct_spectra() -> None:
    """Two classes whose resampled spectra differ everywhere: the SVM on 4 labels each scores every test pixel right."""
    rng = np.random.default_rng(0)
    c, h, w = 300, 10, 40
    wl = np.linspace(400, 2500, c)
    labels = rng.integers(1, 3, size=(h, w)).astype(np.int32)
    level = np.where(labels == 1, 1000.0, 2000.0)
    data = (level[None] * (1 + 0.2 * np.sin(wl / 200.0))[:, None, None]).astype(np.float32)
    data += rng.normal(0, 5, size=data.shape).astype(np.float32)
    scene = make_cube(data, wavelength=wl, fwhm=np.full(c, 5.0), labels=labels, class_names=["u", "a", "b"])
    target = enmap_like_target(scene, radius=2, per_class=4, seed=0, split_col=10)
    row = train_svm(target, seed=0)
    assert row["oa"] == 1.0 and row["aa"] == 1.0 and row["kappa"] == 1.0
    assert row["map"].shape == target.test.shape
    np.testing.assert_array_equal(row["map"], labels[:, 12:])


def test_head_only_arm_trains_the_head_and_leaves_the_base_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """adapt_head: only ``head`` weights move; the base run's file and the body weights stay as saved."""
    import torch

    from hsi_app.checkpoint import load_tensors
    from hsi_app.tasks import cross_sensor as xs

    rng = np.random.default_rng(0)
    c, h, w = 60, 16, 44
    wl = np.linspace(400, 2500, c)
    labels = rng.integers(1, 3, size=(h, w)).astype(np.int32)
    data = (np.where(labels == 1, 1000.0, 1500.0)[None] * np.ones((c, 1, 1))).astype(np.float32)
    data += rng.normal(0, 20, size=data.shape).astype(np.float32)
    scene = make_cube(data, wavelength=wl, fwhm=np.full(c, 30.0), labels=labels, class_names=["u", "a", "b"])
    base = train_base(scene, tmp_path / "base", model="test_spectral_vit", epochs=1, tiles=1, split_col=20)
    before = load_tensors(base["run_dir"])
    info = describe_base(base["run_dir"])
    assert info["model"] == "test_spectral_vit" and info["radius"] == base["radius"]
    assert info["params"] == base["params"]

    captured: dict[str, torch.nn.Module] = {}
    real_score = xs.score

    def keep_model(model: torch.nn.Module, target: xs.Target, z: np.ndarray) -> dict:
        captured["model"] = model
        return real_score(model, target, z)

    monkeypatch.setattr(xs, "score", keep_model)
    target = enmap_like_target(scene, radius=base["radius"], per_class=5, seed=0, split_col=20)
    row = adapt_head(base["run_dir"], target, epochs=2, tiles=2, seed=0)
    after = {k: v.detach().numpy() for k, v in captured["model"].net.state_dict().items()}
    heads = [k for k in before if k.startswith("head.")]
    assert heads and any(not np.array_equal(before[k], after[k]) for k in heads)
    for k in before:
        if not k.startswith("head."):
            np.testing.assert_array_equal(before[k], after[k], err_msg=k)
    assert row["trainable"] == sum(before[k].size for k in heads) < row["total"] == base["params"]
    assert set(load_tensors(base["run_dir"])) == set(before)
    for k, v in load_tensors(base["run_dir"]).items():
        np.testing.assert_array_equal(v, before[k])


def test_score_counts_predictions_of_classes_the_region_lacks() -> None:
    """A base with more classes than the held-out region may predict an absent class: scored as an error."""
    import torch

    rng = np.random.default_rng(0)
    c, h, w = 300, 6, 30
    wl = np.linspace(400, 2500, c)
    labels = rng.integers(1, 3, size=(h, w)).astype(np.int32)  # the region has classes 1 and 2 only
    scene = make_cube(np.ones((c, h, w), np.float32), wavelength=wl, fwhm=np.full(c, 5.0), labels=labels,
                      class_names=["u", "a", "b", "c"])
    target = enmap_like_target(scene, radius=1, per_class=2, seed=0, split_col=10)

    class AlwaysThree(torch.nn.Module):
        """(B, C, h, w) -> (B, 3, h, w) logits that always pick class 3 (index 2)."""

        def __init__(self) -> None:
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(()))  # predict_dense reads the device from a parameter

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = torch.zeros(x.shape[0], 3, *x.shape[2:])
            logits[:, 2] = 1.0
            return logits

    row = score(AlwaysThree(), target, target.image)
    assert row["oa"] == 0.0 and row["aa"] == 0.0
    assert (row["map"] == 3).all()



@pytest.mark.parametrize("schedule, method", [("cosine", "from scratch (224 bands)"),
                                              ("cyclic-cosine", "from scratch, cyclic-cosine (224 bands)")])
def test_scratch_arm_trains_with_the_schedule_it_is_given(
    schedule: str, method: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scratch arm passes its schedule to fit_dense and names it in the row (the equal-optimiser check)."""
    from hsi_app.tasks import classification
    from hsi_app.tasks.cross_sensor import train_scratch

    seen: list[str] = []
    real = classification.fit_dense

    def spy(*args, **kw):  # noqa: ANN002, ANN003, ANN202 - a pass-through spy
        seen.append(kw["schedule"])
        return real(*args, **kw)

    monkeypatch.setattr(classification, "fit_dense", spy)
    rng = np.random.default_rng(0)
    c, h, w = 300, 8, 24
    labels = rng.integers(1, 3, size=(h, w)).astype(np.int32)
    scene = make_cube(rng.normal(1000, 50, size=(c, h, w)).astype(np.float32), wavelength=np.linspace(400, 2500, c),
                      fwhm=np.full(c, 5.0), labels=labels, class_names=["u", "a", "b"])
    target = enmap_like_target(scene, radius=1, per_class=3, seed=0, split_col=8)
    row = train_scratch(target, model="test_spectral_vit", epochs=1, tiles=1, schedule=schedule)
    assert seen == [schedule] and row["method"] == method
    assert row["map"].shape == target.test.shape and 0.0 <= row["oa"] <= 1.0


def _two_class_scene(c: int = 60, h: int = 10, w: int = 40) -> Cube:
    """Two classes with different spectral shapes over 400-2500 nm (labels everywhere)."""
    rng = np.random.default_rng(0)
    wl = np.linspace(400, 2500, c)
    labels = rng.integers(1, 3, size=(h, w)).astype(np.int32)
    shape = np.where(labels == 1, 1.0, -1.0)[None] * np.sin(wl / 250.0)[:, None, None]
    data = (1000 * (1.5 + 0.3 * shape) + rng.normal(0, 10, size=(c, h, w))).astype(np.float32)
    return make_cube(data, wavelength=wl, fwhm=np.full(c, 35.0), labels=labels, class_names=["u", "a", "b"])


def test_zero_shot_native_on_the_base_bands_is_the_base_prediction(tmp_path: Path) -> None:
    """Given the base's own band table, the native arm normalises with the base's statistics and
    predicts what the base predicts; the band-map arm needs no labels either."""
    import torch

    from hsi_app.checkpoint import load_config
    from hsi_app.predictor import load_run_model
    from hsi_app.tasks.classification import predict_dense
    from hsi_app.tasks.cross_sensor import zero_shot

    scene = _two_class_scene()
    base = train_base(scene, tmp_path / "base", model="test_channel_vit", epochs=2, tiles=2, split_col=15)
    cfg = load_config(base["run_dir"])
    target = enmap_like_target(scene, radius=base["radius"], per_class=3, seed=0, split_col=15,
                               bands=(scene.hsi.wavelengths, scene.hsi.fwhm))
    row = zero_shot(base["run_dir"], target, native=True)
    assert row["method"] == "zero-shot, native bands, base statistics" and row["trainable"] == 0
    net, _ = load_run_model(base["run_dir"], cfg, "cpu")
    z = (target.image - np.asarray(cfg.mean)[:, None, None]) / np.asarray(cfg.std)[:, None, None]
    with torch.no_grad():
        expected = predict_dense(net, z.astype(np.float32)).argmax(0) + 1
    np.testing.assert_array_equal(row["map"], expected)
    own = zero_shot(base["run_dir"], target, native=True, stats="target")
    z_own = (target.image - target.image[:, target.train > 0].mean(1)[:, None, None]) / \
        target.image[:, target.train > 0].std(1)[:, None, None]
    with torch.no_grad():
        expected_own = predict_dense(net, z_own.astype(np.float32)).argmax(0) + 1
    assert own["method"] == "zero-shot, native bands, target statistics"
    np.testing.assert_array_equal(own["map"], expected_own)


def test_zero_shot_through_the_band_map_is_what_the_adapted_arms_start_from(tmp_path: Path) -> None:
    """With the base's statistics, the band-map arm predicts what the untrained adapted model
    (band map + re-normalisation + base network, as LoRA / full / head-only start) predicts."""
    import torch

    from hsi_app.errors import ConfigError
    from hsi_app.tasks.classification import predict_dense
    from hsi_app.tasks.cross_sensor import _base_behind_band_map, zero_shot

    scene = _two_class_scene()
    base = train_base(scene, tmp_path / "base", model="test_spectral_vit", epochs=2, tiles=2, split_col=15)
    target = enmap_like_target(scene, radius=base["radius"], per_class=3, seed=0, split_col=15)
    row = zero_shot(base["run_dir"], target)
    assert row["method"] == "zero-shot, band map, base statistics"
    z, _, adapted, _ = _base_behind_band_map(base["run_dir"], target, seed=0)
    with torch.no_grad():
        expected = predict_dense(adapted, z).argmax(0) + 1
    assert (row["map"] == expected).mean() > 0.99  # float32 round-off may flip a near-tie
    with pytest.raises(ConfigError, match="stats='train'; use 'base' or 'target'"):
        zero_shot(base["run_dir"], target, stats="train")


def test_zero_shot_native_refuses_a_base_that_takes_only_its_own_bands(tmp_path: Path) -> None:
    from hsi_app.errors import ConfigError
    from hsi_app.tasks.cross_sensor import zero_shot

    scene = _two_class_scene()
    base = train_base(scene, tmp_path / "base", model="test_spectral_vit", epochs=1, tiles=1, split_col=15)
    target = enmap_like_target(scene, radius=base["radius"], per_class=3, seed=0, split_col=15)
    with pytest.raises(ConfigError, match="takes only its own bands; use a wavelength-aware base") as info:
        zero_shot(base["run_dir"], target, native=True)
    assert "\n" not in str(info.value)


def test_base_and_scratch_give_their_normalisation_to_snv_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An SNV model's input layer needs the band statistics that normalised its image (else it
    takes the z-scores for reflectance): train_base and train_scratch pass them to fit_dense."""
    from hsi_app.tasks import classification
    from hsi_app.tasks.cross_sensor import train_scratch

    given: list[tuple[np.ndarray, np.ndarray]] = []
    real = classification.fit_dense

    def spy(*args, **kw):  # noqa: ANN002, ANN003, ANN202 - a pass-through spy
        given.append(kw["band_stats"])
        return real(*args, **kw)

    monkeypatch.setattr(classification, "fit_dense", spy)
    scene = _two_class_scene()
    base = train_base(scene, tmp_path / "base", model="test_spectral_vit", epochs=1, tiles=1, split_col=15)
    cfg = json.loads((base["run_dir"] / "config.json").read_text())
    np.testing.assert_allclose(given[0][0], cfg["mean"], rtol=1e-6)
    np.testing.assert_allclose(given[0][1], cfg["std"], rtol=1e-6)
    target = enmap_like_target(scene, radius=base["radius"], per_class=3, seed=0, split_col=15)
    train_scratch(target, model="test_spectral_vit", epochs=1, tiles=1)
    expected = target.image[:, target.train > 0].astype(np.float64)
    np.testing.assert_allclose(given[1][0], expected.mean(axis=1), rtol=1e-4)


def test_zero_shot_source_is_the_base_on_the_scene_bands_of_the_region(tmp_path: Path) -> None:
    from hsi_app.predictor import Predictor
    from hsi_app.tasks.cross_sensor import zero_shot_source

    scene = _two_class_scene()
    base = train_base(scene, tmp_path / "base", model="test_spectral_vit", epochs=2, tiles=2, split_col=15)
    target = enmap_like_target(scene, radius=base["radius"], per_class=3, seed=0, split_col=15)
    row = zero_shot_source(base["run_dir"], scene, target)
    assert row["method"] == "zero-shot, source sensor (60 bands)" and row["trainable"] == 0
    whole = Predictor.load(base["run_dir"], "cpu").probs(np.asarray(scene.values)).argmax(0) + 1
    r = base["radius"]  # pixels nearer the region's left edge than that see the scene's context only in `whole`
    assert 0 < r < row["map"].shape[1] // 2
    np.testing.assert_array_equal(row["map"][:, r:], whole[:, target.first_col + r:])


def test_lora_arm_trains_a_new_head_for_the_regions_classes(tmp_path: Path) -> None:
    """adapt_lora is the arm BENCHMARKS.md measured: a new head for the region's classes 1..K (Indian Pines: 15,
    4,079 trainable), not a copy of the base's head, which ``--classes auto`` keeps when the names match."""
    from hsi_app.tasks.cross_sensor import adapt_lora

    rng = np.random.default_rng(0)
    c, h, w = 40, 14, 40
    wl = np.linspace(400, 2500, c)
    labels = rng.integers(1, 3, size=(h, w)).astype(np.int32)
    labels[:, :6] = 3  # a class only the base's columns hold, as class 16 on Indian Pines
    shape = np.sin(wl / 250.0 + labels[None].astype(float))
    data = (1000 * (1.5 + 0.3 * shape) + rng.normal(0, 10, size=(c, h, w))).astype(np.float32)
    scene = make_cube(data, wavelength=wl, fwhm=np.full(c, 35.0), labels=labels, class_names=["u", "a", "b", "c"])
    base = train_base(scene, tmp_path / "base", model="test_spectral_vit", epochs=1, tiles=1, split_col=15)
    target = enmap_like_target(scene, radius=base["radius"], per_class=3, seed=0, split_col=15)
    row = adapt_lora(base["run_dir"], target, tmp_path / "lora", rank=2, epochs=1, tiles=1)
    config = json.loads((tmp_path / "lora" / "config.json").read_text())
    assert config["num_classes"] == 2 and config["class_names"] == ["unlabelled", "a", "b"]
    assert config["extra"]["finetune"]["new_head"] is True
    assert row["trainable"] == json.loads((tmp_path / "lora" / "metrics.json").read_text())["trainable_params"]
