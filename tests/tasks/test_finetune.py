"""LoRA fine-tuning: base frozen and unchanged, adapter-only output, cross-sensor CLI + predict."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from cli_runner import run_main
from tif_writer import write_tif
from hsi_app.cli.main import main
from hsi_app.errors import ModelLoadError

TRANSFORM = from_origin(440000.0, 3750000.0, 30.0, 30.0)
BASE_WL = np.linspace(420, 2400, 30)
NEW_WL = np.linspace(430, 2390, 41)  # another sensor: 41 bands


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scene(wl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, 24, 22) reflectance with 4 block classes, sampled at ``wl``, and its labels."""
    rng = np.random.default_rng(0)
    labels = np.zeros((24, 22), dtype=np.uint8)
    for k, (r, c) in enumerate([(1, 1), (1, 12), (12, 1), (12, 12)], start=1):
        labels[r : r + 10, c : c + 9] = k
    x = (wl - 400.0) / 2000.0
    spectra = np.stack([0.2 + 0.1 * k * x + 0.05 * np.sin(6 * x * (k + 1)) for k in range(5)])
    cube = spectra[labels].transpose(2, 0, 1) + 0.01 * rng.standard_normal((wl.size, 24, 22))
    return (cube * 10000).astype(np.float32), labels


def _write_tif(path: Path, data: np.ndarray, wavelengths: np.ndarray | None = None) -> Path:
    return write_tif(path, data, wavelengths, transform=TRANSFORM)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``hsi ARGS`` -> ``(exit status, stdout + stderr)``."""
    code, out, err = run_main(capsys, *args)
    return code, out + err


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A base test_spectral_vit run on the 30-band sensor, LoRA-tuned through the CLI on the 41-band one."""
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    root = tmp_path_factory.mktemp("ft")
    data, labels = _scene(BASE_WL)
    cube = make_cube(data, wavelength=BASE_WL, labels=labels.astype(np.int32), class_names=["u", "a", "b", "c", "d"])
    base = root / "base"
    train_classifier(cube, base, TrainOptions(model="test_spectral_vit", split="random:0.3", epochs=2, progress=False,
                                              schedule="triangular"))
    before = {n: _sha(base / n) for n in ("model.safetensors", "config.json")}
    new, _ = _scene(NEW_WL)
    scene = _write_tif(root / "new.tif", new, NEW_WL)
    lab = _write_tif(root / "labels.tif", labels[None])
    ft = root / "ft"
    try:
        main(["finetune", "--base", str(base), "--data", str(scene), "--labels", str(lab), "--split", "fixed:5",
              "--lora-rank", "2", "--epochs", "3", "--out", str(ft), "--quiet"])
    except SystemExit as exc:
        assert not exc.code
    return {"root": root, "base": base, "ft": ft, "before": before, "scene": scene}


def _loaded(ft: Path):  # noqa: ANN202
    from hsi_app.tasks.finetune import load_finetuned

    return load_finetuned(ft)


def test_base_files_unchanged(runs: dict) -> None:
    base: Path = runs["base"]
    assert {n: _sha(base / n) for n in ("model.safetensors", "config.json")} == runs["before"]
    cfg = json.loads((runs["ft"] / "config.json").read_text())["extra"]["finetune"]
    assert cfg["base_sha256"] == runs["before"]["model.safetensors"] and cfg["band_map"] == "gaussian"
    assert json.loads((base / "config.json").read_text())["extra"]["schedule"] == "triangular"


def test_a_finetuned_run_records_its_scene_like_a_trained_one(runs: dict) -> None:
    """config.json ``data`` is the scene's resolved path and ``extra.data_identity`` its sha256, as `hsi train`
    records them, so `hsi ensemble` can find and check the scene from any folder."""
    cfg = json.loads((runs["ft"] / "config.json").read_text())
    scene: Path = runs["scene"]
    assert cfg["data"] == str(scene.resolve())
    assert cfg["extra"]["data_identity"]["scene"]["files"] == [
        {"path": str(scene.resolve()), "bytes": scene.stat().st_size, "sha256": _sha(scene)}]


def test_a_finetuned_config_is_written_as_save_run_writes_one(runs: dict) -> None:
    """Through checkpoint.config_json: no ``"model_wavelengths": null``, which versions before the key refuse."""
    from hsi_app.checkpoint import config_json, load_config

    raw = json.loads((runs["ft"] / "config.json").read_text())
    assert "model_wavelengths" not in raw
    assert raw == config_json(load_config(runs["ft"]))


def test_a_finetuned_run_records_versions_and_inputs_in_config_and_metrics(runs: dict) -> None:
    """`hsi train`'s record (hsi_app.provenance.run_record): library versions and the inputs' identity (the scene
    and the --labels file), in config.json extra and metrics.json; a fine-tune recorded no versions, and the
    identity in config.json only."""
    from hsi_app.provenance import file_identity, library_versions

    cfg = json.loads((runs["ft"] / "config.json").read_text())["extra"]
    metrics = json.loads((runs["ft"] / "metrics.json").read_text())
    assert cfg["versions"] == metrics["versions"] == library_versions()
    assert cfg["data_identity"] == metrics["data_identity"] == {
        "scene": {"files": [file_identity(runs["scene"])]}, "labels": [file_identity(runs["root"] / "labels.tif")]}


def test_the_inputs_are_hashed_before_training(runs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scene file that changes while the adapter trains is recorded as it was read, not as it is afterwards."""
    from hsi_app.io import open_cube
    from hsi_app.tasks import classification
    from hsi_app.tasks.finetune import FinetuneOptions, finetune

    new, _ = _scene(NEW_WL)
    scene, labels = _write_tif(tmp_path / "s.tif", new, NEW_WL), runs["root"] / "labels.tif"
    as_read = _sha(scene)
    fit = classification.fit_dense

    def fit_while_the_file_changes(*args: object, **kwargs: object) -> object:
        with scene.open("ab") as fh:  # bytes past the TIFF's data: it still reads the same
            fh.write(b"changed during training")
        return fit(*args, **kwargs)

    monkeypatch.setattr(classification, "fit_dense", fit_while_the_file_changes)
    metrics = finetune(open_cube(scene, labels=labels), runs["base"], tmp_path / "ft",
                       FinetuneOptions(lora_rank=2, epochs=1, split="fixed:5", progress=False), protect=[labels])
    assert _sha(scene) != as_read
    recorded = json.loads((tmp_path / "ft" / "config.json").read_text())["extra"]["data_identity"]
    assert recorded["scene"]["files"][0]["sha256"] == as_read  # was the file's sha256 after training
    assert metrics["data_identity"] == recorded


def test_base_weights_inside_the_adapted_model_are_the_base_run(runs: dict) -> None:
    from hsi_app.checkpoint import load_tensors

    _, model = _loaded(runs["ft"])
    inner = model.net.get_base_model().state_dict()
    plain = {k.replace(".base_layer", ""): v for k, v in inner.items() if "lora_" not in k}
    base = load_tensors(runs["base"])
    assert set(base) <= set(plain)
    for k, v in base.items():
        assert torch.equal(plain[k], torch.from_numpy(v)), k


def test_only_lora_parameters_train_and_under_20_percent(runs: dict) -> None:
    _, model = _loaded(runs["ft"])
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    metrics = json.loads((runs["ft"] / "metrics.json").read_text())
    assert metrics["trainable_params"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert metrics["trainable_params"] < 0.2 * metrics["total_params"]
    for key in ("oa", "aa", "kappa", "confusion_matrix", "n_train", "n_test", "protocol"):
        assert key in metrics
    assert metrics["n_train"] == 4 * 5


def test_normalisation_comes_from_the_targets_training_pixels_only(runs: dict) -> None:
    """The adapted run's mean/std are those of its own split's training pixels on the new sensor."""
    from hsi_app.data.splits import Split

    ft: Path = runs["ft"]
    with rasterio.open(runs["scene"]) as ds:
        scene = ds.read().astype(np.float64)  # (41, H, W): the target sensor's bands
    split = Split.load(ft / "split.npz")
    assert (split.train > 0).sum() == 4 * 5 and (split.test > 0).sum() > 100
    cfg = json.loads((ft / "config.json").read_text())
    train = scene[:, split.train > 0]
    np.testing.assert_allclose(cfg["mean"], train.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(cfg["std"], train.std(axis=1), rtol=1e-4)


def test_adapter_only_is_saved(runs: dict) -> None:
    from safetensors.numpy import load_file

    ft: Path = runs["ft"]
    assert not (ft / "model.safetensors").exists()
    adapter = load_file(str(ft / "adapter.safetensors"))
    assert adapter and all("lora_A" in k or "lora_B" in k for k in adapter)
    assert any(np.abs(v).max() > 0 for k, v in adapter.items() if "lora_B" in k)  # training moved B off zero
    assert json.loads((ft / "adapter_config.json").read_text())["r"] == 2


def test_disabled_adapter_is_exactly_the_base_model(runs: dict) -> None:
    from hsi_app.predictor import Predictor

    base = Predictor.load(runs["base"], device="cpu").model
    _, model = _loaded(runs["ft"])
    x = torch.randn(1, 30, 9, 9)
    with torch.no_grad():
        with model.net.disable_adapter():
            torch.testing.assert_close(model.net(x), base(x), rtol=0, atol=0)
        assert not torch.allclose(model.net(x), base(x))


def test_cli_reports_adapter_and_predict_loads_base_plus_adapter(runs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.io.cog import read_class_map

    ft: Path = runs["ft"]
    out = runs["root"] / "pred.tif"
    code, text = _run(capsys, "predict", "--model", str(ft), "--input", str(runs["scene"]), "--out", str(out), "--quiet")
    assert code == 0, text
    ours, _conf, _names, _cmap, crs, transform = read_class_map(out)
    ref = read_class_map(ft / "map.tif")[0]
    np.testing.assert_array_equal(ours, ref)
    assert crs.to_epsg() == 32616 and transform == TRANSFORM


def test_changed_base_weights_are_refused(runs: dict, tmp_path: Path) -> None:
    from hsi_app.predictor import Predictor

    ft = tmp_path / "ft"
    shutil.copytree(runs["ft"], ft)
    cfg = json.loads((ft / "config.json").read_text())
    cfg["extra"]["finetune"]["base_sha256"] = "0" * 64
    (ft / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="changed"):
        Predictor.load(ft)


@pytest.mark.parametrize("classes", [16, 10])
def test_default_spectral_vit_lora_is_under_20_percent(classes: int) -> None:
    """Indian Pines sizes, rank 4; with another class count the new head is trained too."""
    from peft import get_peft_model

    from hsi_app.models import create_model
    from hsi_app.tasks.finetune import lora_config, replace_head

    net = create_model("spectral_vit", in_chans=200, num_classes=16)
    total_base = sum(p.numel() for p in net.parameters())
    new_head = classes != 16
    cfg = lora_config(net, 4, None, new_head)
    if new_head:
        replace_head(net, classes)
    peft_net = get_peft_model(net, cfg)
    trainable, total = peft_net.get_nb_trainable_parameters()
    assert trainable < 0.2 * total and trainable < 0.2 * total_base
    names = [n for n, p in peft_net.named_parameters() if p.requires_grad]
    assert all("lora_" in n or "modules_to_save" in n for n in names)
    assert any("modules_to_save" in n for n in names) == new_head
    assert peft_net(torch.randn(1, 200, 6, 6)).shape == (1, classes, 6, 6)


def test_finetune_cli_error_is_one_line(runs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _run(capsys, "finetune", "--base", str(runs["base"]), "--data", str(runs["scene"]), "--lora-rank", "0",
                      "--out", str(runs["root"] / "bad"))
    assert code == 2 and "--lora-rank 0" in text and "Traceback" not in text


def test_a_scene_without_wavelengths_is_named_in_the_error(runs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    """41 bands with no wavelengths cannot be mapped to the base's 30: the line names the file and the fix."""
    new, labels = _scene(NEW_WL)
    scene = _write_tif(runs["root"] / "no_wl.tif", new)
    lab = runs["root"] / "labels.tif"
    code, text = _run(capsys, "finetune", "--base", str(runs["base"]), "--data", str(scene), "--labels", str(lab),
                      "--lora-rank", "2", "--out", str(runs["root"] / "refused"), "--quiet")
    errors = [ln for ln in text.splitlines() if ln.startswith("hsi: error")]
    assert code == 2 and len(errors) == 1, text
    assert f"{scene}: 41 bands, the base model 30" in errors[0] and "wavelengths are unknown" in errors[0]
    assert not (runs["root"] / "refused").exists()


def test_base_bands_beyond_the_scenes_reach_are_refused_naming_both_the_rule_and_a_fix(
        runs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    """A VNIR-only scene (430-1000 nm) cannot feed a 420-2400 nm base: one line names the scene and the base run,
    says the base needs the bands (the resampler's "target"/"source" had the roles the other way round to a user),
    the edge rule (6 FWHM; the base has no FWHM, so 6 band spacings) and a fix."""
    wl = np.linspace(430, 1000, 41)
    new, _ = _scene(wl)
    scene = _write_tif(runs["root"] / "vnir.tif", new, wl)
    code, text = _run(capsys, "finetune", "--base", str(runs["base"]), "--data", str(scene), "--labels",
                      str(runs["root"] / "labels.tif"), "--lora-rank", "2", "--out", str(runs["root"] / "vnir"),
                      "--quiet")
    errors = [ln for ln in text.splitlines() if ln.startswith("hsi: error")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in text, text
    base_wl = BASE_WL[BASE_WL > 1000 + 6 * np.gradient(BASE_WL)[0]]
    assert errors[0].startswith(f"hsi: error: {scene}: the base run {runs['base'].resolve()} needs {base_wl.size} "
                                f"bands at {base_wl[0]:.0f}-2400 nm, more than 6 FWHM (410 nm here) beyond this "
                                "scene's 430-1000 nm, and only bands within 6 FWHM of a scene's range are copied "
                                "from its edge band; "), errors[0]
    assert errors[0].endswith(f"fine-tune a base trained on bands within 430-1000 nm, or use a scene that covers "
                              f"{base_wl[0]:.0f}-2400 nm")
    assert "target" not in errors[0] and "source" not in errors[0]
    assert not (runs["root"] / "vnir").exists()


def test_a_scene_in_other_units_than_the_base_is_refused_in_one_line(runs: dict,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The base was trained on reflectance x 10000; the new sensor's scene as 0-1 reflectance is refused before
    anything trains, by the rule `hsi predict` applies (the factor and the fix), as `hsi predict --model BASE` is."""
    new, labels = _scene(NEW_WL)
    scene = _write_tif(runs["root"] / "reflectance.tif", new / 10000, NEW_WL)
    lab = runs["root"] / "labels.tif"
    code, text = _run(capsys, "finetune", "--base", str(runs["base"]), "--data", str(scene), "--labels", str(lab),
                      "--split", "fixed:5", "--lora-rank", "2", "--epochs", "1", "--out",
                      str(runs["root"] / "units"), "--quiet")
    errors = [ln for ln in text.splitlines() if ln.startswith("hsi: error")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in text, text
    assert errors[0].startswith(f"hsi: error: {scene}: values ") and f"but {runs['base']} was trained on" in errors[0]
    assert "so the scene is in other units; its values are ~1/" in errors[0] and ": convert the scene" in errors[0]
    assert not (runs["root"] / "units").exists()
    # the same scene x 10000, in the base's units, is fine-tuned
    ok = _write_tif(runs["root"] / "counts.tif", new, NEW_WL)
    code, text = _run(capsys, "finetune", "--base", str(runs["base"]), "--data", str(ok), "--labels", str(lab),
                      "--split", "fixed:5", "--lora-rank", "2", "--epochs", "1", "--out",
                      str(runs["root"] / "units_ok"), "--quiet")
    assert code == 0, text


def test_the_default_snv_model_is_lora_tuned_on_another_sensor(tmp_path: Path) -> None:
    """ssfcn_snv: LoRA leaves its SNV statistics (base normalisation) in place; the tuned run predicts."""
    from hsi_app.checkpoint import load_tensors
    from hsi_app.io.cube import make_cube
    from hsi_app.predictor import Predictor
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    data, labels = _scene(BASE_WL)
    cube = make_cube(data, wavelength=BASE_WL, labels=labels.astype(np.int32))
    base = tmp_path / "base"
    train_classifier(cube, base, TrainOptions(model="ssfcn_snv", split="random:0.3", epochs=2, progress=False,
                                              model_args={"width": 8, "stem_hidden": 8}))
    new, _ = _scene(NEW_WL)
    scene, lab = _write_tif(tmp_path / "new.tif", new, NEW_WL), _write_tif(tmp_path / "labels.tif", labels[None])
    ft = tmp_path / "ft"
    main_args = ["finetune", "--base", str(base), "--data", str(scene), "--labels", str(lab), "--split", "fixed:5",
                 "--lora-rank", "2", "--epochs", "2", "--out", str(ft), "--quiet"]
    try:
        main(main_args)
    except SystemExit as exc:
        assert not exc.code
    _, model = _loaded(ft)
    snv = model.net.get_base_model().snv
    np.testing.assert_array_equal(snv.band_mean.numpy(), load_tensors(base)["snv.band_mean"])
    probs = Predictor.load(ft, device="cpu").probs(new)  # (K, H, W) on the 41-band sensor
    assert probs.shape == (4, 24, 22) and np.allclose(probs.sum(0), 1.0, atol=1e-5)


def test_the_viewer_offers_and_maps_with_a_fine_tuned_run(runs: dict, tmp_path: Path) -> None:
    """The viewer lists the LoRA folder under --runs and its map equals `hsi predict --model FT`."""
    import shutil

    from hsi_app import viewer
    from hsi_app.infer import predict_scene
    from hsi_app.io import open_cube
    from hsi_app.predictor import Predictor

    runs_dir = tmp_path / "runs"
    shutil.copytree(runs["ft"], runs_dir / "ft")  # its config names the base run by absolute path
    cfg = viewer.ViewerConfig(runs_dir=runs_dir)
    assert "runs/ft" in viewer.list_model_runs(cfg)
    cache = viewer.ModelCache()
    pred = cache.get(runs_dir / "ft")
    assert cache.get(runs_dir / "ft") is pred and (cache.hits, cache.misses) == (1, 1)
    cube = open_cube(runs["scene"])
    ours = predict_scene(pred.bind(cube), cube, num_classes=pred.num_classes, halo=pred.receptive_radius,
                         keep_map=True, progress=False)
    ref = Predictor.load(runs["ft"])
    theirs = predict_scene(ref.bind(cube), cube, num_classes=ref.num_classes, halo=ref.receptive_radius,
                           keep_map=True, progress=False)
    np.testing.assert_array_equal(ours.classes, theirs.classes)


def test_a_new_head_with_classes_that_have_no_training_pixel_warns() -> None:
    from hsi_app.errors import HSIWarning
    from hsi_app.tasks.finetune import warn_untrained_classes

    train = np.zeros((6, 6), np.int32)
    train[0, :2], train[1, :2], train[2, :2] = 1, 2, 6  # ids 1, 2, 6: 3, 4 and 5 are never trained
    names = ["unlabelled", *[f"class {k}" for k in range(1, 7)]]
    with pytest.warns(HSIWarning, match=r"scene.tif: the new head's classes 3 \(class 3\), 4 \(class 4\), "
                                        r"5 \(class 5\) have no training pixel"):
        warn_untrained_classes(train, names, "scene.tif")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_untrained_classes(np.where(train == 6, 3, train), names[:4], "scene.tif")  # 1..3 all trained: silent


def test_labels_named_in_another_order_train_the_base_classes(runs: dict, tmp_path: Path) -> None:
    """Labels naming the base's classes in reversed order are renumbered by name; the base head stays."""
    from hsi_app.data.splits import Split
    from hsi_app.io.cube import make_cube
    from hsi_app.predictor import Predictor
    from hsi_app.tasks.finetune import FinetuneOptions, finetune

    new, labels = _scene(NEW_WL)
    reversed_ids = np.where(labels > 0, 5 - labels, 0).astype(np.int32)  # "a" (base id 1) is id 4 here
    cube = make_cube(new, wavelength=NEW_WL, labels=reversed_ids, class_names=["none", "D", "c", "B", "a"])
    ft = tmp_path / "ft"
    finetune(cube, runs["base"], ft, FinetuneOptions(lora_rank=2, epochs=1, split="fixed:5", progress=False))
    cfg = json.loads((ft / "config.json").read_text())
    assert cfg["class_names"] == ["u", "a", "b", "c", "d"] and cfg["num_classes"] == 4
    assert cfg["extra"]["finetune"]["new_head"] is False
    split = Split.load(ft / "split.npz")
    trained = split.train > 0
    assert trained.any()
    np.testing.assert_array_equal(split.train[trained], labels[trained])  # the base's numbering
    assert Predictor.load(ft, device="cpu").probs(new).shape == (4, 24, 22)


def test_a_finetunes_own_split_replays_with_its_own_labels(runs: dict, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """README's replay for `hsi finetune`: split.npz (on the base's ids) -> .npy -> the same --labels (review 2 #1)."""
    from hsi_app.data.splits import Split
    from hsi_app.io.cog import CLASS_NAMES_TAG, class_names_tag

    _, labels = _scene(NEW_WL)
    lab = _write_tif(tmp_path / "fields.tif", np.where(labels > 0, 5 - labels, 0)[None].astype(np.uint8))
    with rasterio.open(lab, "r+") as ds:  # numbered in another order than the base's u, a, b, c, d
        ds.update_tags(**{CLASS_NAMES_TAG: class_names_tag(["none", "d", "c", "b", "a"])})
    common = ("--base", str(runs["base"]), "--data", str(runs["scene"]), "--labels", str(lab), "--lora-rank", "2",
              "--epochs", "1", "--quiet")
    code, text = _run(capsys, "finetune", *common, "--split", "fixed:5", "--out", str(tmp_path / "ft"))
    assert code == 0, text
    first = Split.load(tmp_path / "ft" / "split.npz")
    np.save(tmp_path / "train.npy", first.train)
    np.save(tmp_path / "test.npy", first.test)
    code, text = _run(capsys, "finetune", *common, "--train-labels", str(tmp_path / "train.npy"), "--test-labels",
                      str(tmp_path / "test.npy"), "--out", str(tmp_path / "replay"))
    assert code == 0, text
    again = Split.load(tmp_path / "replay" / "split.npz")
    np.testing.assert_array_equal(again.train, first.train)
    np.testing.assert_array_equal(again.test, first.test)


def test_split_warnings_for_given_maps_name_the_class(runs: dict, tmp_path: Path) -> None:
    """A class only in the test map is named in the warning, as `hsi train` names it (review 2 #6)."""
    from hsi_app.data.splits import SplitWarning
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.finetune import FinetuneOptions, finetune

    new, labels = _scene(NEW_WL)
    ids = labels.astype(np.int32)
    rows = np.arange(24)[:, None]
    train = np.where((rows % 3 == 0) & (ids != 3), ids, 0).astype(np.int32)
    test = np.where(rows % 3 == 0, 0, ids).astype(np.int32)
    cube = make_cube(new, wavelength=NEW_WL, labels=ids, class_names=["u", "a", "b", "c", "d"])
    with pytest.warns(SplitWarning, match=r"class 3 \(c\) is absent from train"):
        finetune(cube, runs["base"], tmp_path / "ft", FinetuneOptions(lora_rank=2, epochs=1, progress=False),
                 train_labels=train, test_labels=test)


def test_classes_new_trains_a_fresh_head_for_as_many_classes(runs: dict, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.checkpoint import load_tensors
    from hsi_app.predictor import Predictor

    ft = tmp_path / "ft"
    code, text = _run(capsys, "finetune", "--base", str(runs["base"]), "--data", str(runs["scene"]), "--labels",
                      str(runs["root"] / "labels.tif"), "--split", "fixed:5", "--lora-rank", "2", "--epochs", "1",
                      "--classes", "new", "--out", str(ft), "--quiet")
    assert code == 0, text
    assert "LoRA r=2 on fixed:5 (LEAKY protocol: random pixel split" in text  # as hsi train says it
    cfg = json.loads((ft / "config.json").read_text())
    assert cfg["class_names"][1:] == ["class 1", "class 2", "class 3", "class 4"]
    assert cfg["extra"]["finetune"]["new_head"] is True
    head = [k for k in load_tensors(ft, "adapter.safetensors") if "head" in k]
    assert head, "the new head is saved with the adapter"
    base_head = load_tensors(runs["base"])
    saved = load_tensors(ft, "adapter.safetensors")
    key = next(k for k in head if k.endswith("weight"))
    base_key = next(k for k in base_head if k.startswith("head") and k.endswith("weight"))
    assert saved[key].shape == base_head[base_key].shape
    assert not np.allclose(saved[key], base_head[base_key])
    new, _ = _scene(NEW_WL)
    assert Predictor.load(ft, device="cpu").probs(new).shape == (4, 24, 22)
    # total_params counts what the adapted model computes with: the base without its head, the new head once
    # (peft also counted the unused original_module beside the trained copy) and the LoRA matrices
    base = Predictor.load(runs["base"], device="cpu").model
    metrics = json.loads((ft / "metrics.json").read_text())
    assert metrics["trainable_params"] == sum(v.size for v in saved.values())  # the new head + LoRA, as before
    used = sum(p.numel() for p in base.parameters()) - sum(p.numel() for p in base.head.parameters()) \
        + metrics["trainable_params"]
    assert metrics["total_params"] == used
    assert metrics["trainable_fraction"] == round(metrics["trainable_params"] / used, 5)


def test_a_scene_without_labels_is_refused_before_classes_are_planned(runs: dict, tmp_path: Path) -> None:
    import warnings

    from hsi_app.errors import LabelError
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.finetune import FinetuneOptions, finetune

    new, _ = _scene(NEW_WL)
    cube = make_cube(new, wavelength=NEW_WL, source="unlabelled.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "label ids 1..0 have no class names" on the way
        with pytest.raises(LabelError, match="unlabelled.tif: no labels; pass --labels"):
            finetune(cube, runs["base"], tmp_path / "ft", FinetuneOptions(lora_rank=2, epochs=1, progress=False))


def test_class_messages_name_the_label_file(runs: dict, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A label file that cannot be the base's classes is named in the error, not the scene it labels."""
    _, labels = _scene(NEW_WL)
    six = _write_tif(tmp_path / "six_classes.tif", np.where(labels > 0, labels + 2, 0)[None])  # ids up to 6
    code, text = _run(capsys, "finetune", "--base", str(runs["base"]), "--data", str(runs["scene"]), "--labels",
                      str(six), "--split", "fixed:5", "--lora-rank", "2", "--epochs", "1", "--classes", "base",
                      "--out", str(tmp_path / "ft"), "--quiet")
    errors = [ln for ln in text.splitlines() if ln.startswith("hsi: error")]
    assert code != 0 and len(errors) == 1, text
    assert f"{six}: label ids go up to 6 but the base run has 4 classes" in errors[0]


def test_the_callers_split_is_left_as_given_when_classes_are_renumbered_and_pixels_masked(
        runs: dict, tmp_path: Path) -> None:
    """finetune renumbers and drops no-data pixels on a copy: the caller's Split and its arrays stay."""
    from hsi_app.data.splits import Split
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.finetune import FinetuneOptions, finetune

    new, labels = _scene(NEW_WL)
    reversed_ids = np.where(labels > 0, 5 - labels, 0).astype(np.int32)  # renumbered by name to the base's ids
    new[:, :4, :4] = np.nan  # a no-data corner with labels on it
    cube = make_cube(new, wavelength=NEW_WL, labels=reversed_ids, class_names=["none", "D", "c", "B", "a"])
    rows = np.arange(24)[:, None]
    train = np.where(rows % 3 == 0, reversed_ids, 0).astype(np.int32)
    test = np.where(rows % 3 == 0, 0, reversed_ids).astype(np.int32)
    kept_train, kept_test = train.copy(), test.copy()
    split = Split(train=train, test=test, protocol="maps")
    arrays = split.train, split.test
    finetune(cube, runs["base"], tmp_path / "ft", FinetuneOptions(lora_rank=2, epochs=1, progress=False), split=split)
    assert split.train is arrays[0] and split.test is arrays[1]
    np.testing.assert_array_equal(split.train, kept_train)
    np.testing.assert_array_equal(split.test, kept_test)
    np.testing.assert_array_equal(train, kept_train)
    saved = Split.load(tmp_path / "ft" / "split.npz")
    assert not (saved.test[:4, :4] > 0).any() and (kept_test[:4, :4] > 0).any()


def test_a_user_split_without_a_labels_class_the_base_lacks_fine_tunes_on_the_base_classes(
        runs: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--labels names a class the base lacks (Cloud), the user's train/test maps (on --labels' ids) do not use
    it, and --classes base: the fine-tune plans only the maps' classes and runs, but the replay renumbering was
    planned from the whole --labels map first and refused "classes Cloud are not classes of the base run"."""
    from hsi_app.data.splits import Split
    from hsi_app.io.cog import CLASS_NAMES_TAG, class_names_tag

    _, labels = _scene(NEW_WL)
    with_cloud = labels.copy()
    with_cloud[0, :6] = 5  # a strip of cloud outside every field
    lab = _write_tif(tmp_path / "fields.tif", with_cloud[None].astype(np.uint8))
    with rasterio.open(lab, "r+") as ds:
        ds.update_tags(**{CLASS_NAMES_TAG: class_names_tag(["none", "a", "b", "c", "d", "Cloud"])})
    rows = np.arange(24)[:, None]
    ids = labels.astype(np.int32)
    np.save(tmp_path / "train.npy", np.where(rows % 3 == 0, ids, 0))
    np.save(tmp_path / "test.npy", np.where(rows % 3 != 0, ids, 0))
    code, text = _run(capsys, "finetune", "--base", str(runs["base"]), "--data", str(runs["scene"]), "--labels",
                      str(lab), "--classes", "base", "--train-labels", str(tmp_path / "train.npy"), "--test-labels",
                      str(tmp_path / "test.npy"), "--lora-rank", "2", "--epochs", "1", "--quiet",
                      "--out", str(tmp_path / "ft"))
    assert code == 0, text
    cfg = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert cfg["class_names"] == ["u", "a", "b", "c", "d"] and cfg["extra"]["finetune"]["new_head"] is False
    split = Split.load(tmp_path / "ft" / "split.npz")
    np.testing.assert_array_equal(split.train, np.where(rows % 3 == 0, ids, 0))  # base ids are the labels' here


def test_a_scene_without_wavelengths_taken_by_position_is_said_in_one_warning(
        runs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    """A scene with the base's band count but no wavelengths is fine-tuned band by band by position, as
    `hsi predict` maps it; predict says so, and so must the fine-tune (silence hid a scene of another sensor)."""
    data, _ = _scene(BASE_WL)
    scene = _write_tif(runs["root"] / "no_wl_30.tif", data)
    code, out, err = run_main(capsys, "finetune", "--base", str(runs["base"]), "--data", str(scene), "--labels",
                              str(runs["root"] / "labels.tif"), "--lora-rank", "2", "--epochs", "1",
                              "--out", str(runs["root"] / "ft_no_wl"), "--quiet")
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if "has no wavelengths" in ln]
    assert len(lines) == 1 and str(scene) in lines[0] and "30 bands" in lines[0], err
    assert "by position" in lines[0] and f"{BASE_WL.min():.0f}-{BASE_WL.max():.0f} nm" in lines[0]


def test_a_fine_tune_moved_with_its_base_still_loads_and_a_changed_base_is_still_refused(
        runs: dict, tmp_path: Path) -> None:
    """A project folder holding the base run and its fine-tune, moved or copied elsewhere (another disk, a
    colleague's machine), loaded nowhere: the base was looked for at its old absolute path only."""
    from hsi_app.predictor import Predictor

    moved = tmp_path / "elsewhere"
    shutil.copytree(runs["base"], moved / "base")
    shutil.copytree(runs["ft"], moved / "ft")
    hidden = runs["root"] / "base_hidden"
    runs["base"].rename(hidden)  # the old place is gone, as on another machine
    try:
        pred = Predictor.load(moved / "ft", device="cpu")
        assert pred.num_classes == 4 and pred.class_names[1:] == ["a", "b", "c", "d"]
        from hsi_app.viewer.models import _weights_mtime

        later = (moved / "ft" / "adapter.safetensors").stat().st_mtime + 1000
        os.utime(moved / "base" / "model.safetensors", (later, later))
        assert _weights_mtime(moved / "ft") == later  # the viewer's model cache sees the moved base's weights too
        with pytest.raises(ModelLoadError, match=r"base run .*base is missing \(nor at \.\./base from this run\)"):
            Predictor.load(runs["ft"], device="cpu")  # not moved: its base is gone from both places
        (moved / "base" / "model.safetensors").write_bytes(b"0" + (hidden / "model.safetensors").read_bytes())
        with pytest.raises(ModelLoadError, match=r"weights of base run .*elsewhere/base changed since fine-tuning"):
            Predictor.load(moved / "ft", device="cpu")
    finally:
        hidden.rename(runs["base"])


def test_a_fine_tunes_metrics_say_its_epochs_and_how_its_classes_were_matched(runs: dict) -> None:
    """metrics.json of a fine-tune has `hsi train`'s epochs_requested / epochs_run (the README promises the train
    keys) and the class decision (here: unnamed label ids taken as the base run's 4 classes), which was only
    printed with progress on."""
    m = json.loads((runs["ft"] / "metrics.json").read_text())
    assert m["epochs_requested"] == 3 and m["epochs_run"] == len(m["epochs"]) == 3
    assert "base run's 4 classes" in m["class_plan"]
