"""config.json is checked as it is read: every bad field is one ModelLoadError line naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_runs import make_run

from hsi_app.checkpoint import load_config
from hsi_app.errors import ModelLoadError

ROOT = Path(__file__).resolve().parents[1]
C = 5


def _edit(run: Path, **changes: Any) -> Path:
    cfg = json.loads((run / "config.json").read_text())
    cfg.update(changes)
    (run / "config.json").write_text(json.dumps(cfg))  # json.dumps writes NaN/Infinity like a hand edit would
    return run


@pytest.mark.parametrize(("changes", "field"), [
    ({"mean": [0.0] * (C - 1)}, "mean"),
    ({"std": [1.0] * (C + 1)}, "std"),
    ({"wavelengths": [500.0] * (C - 1)}, "wavelengths"),
    ({"fwhm": []}, "fwhm"),
    ({"band_indices": list(range(C - 1))}, "band_indices"),
    ({"mean": [0.0, float("nan"), 0.0, 0.0, 0.0]}, "mean"),
    ({"mean": [0.0, None, 0.0, 0.0, 0.0]}, "mean"),
    ({"mean": None}, "mean"),
    ({"std": [1.0, 1.0, float("nan"), 1.0, 1.0]}, "std"),
    ({"std": [1.0, 1.0, 0.0, 1.0, 1.0]}, "std"),
    ({"std": [1.0, -2.0, 1.0, 1.0, 1.0]}, "std"),
    ({"std": [1.0, float("inf"), 1.0, 1.0, 1.0]}, "std"),
    ({"wavelengths": [500.0, "600", 700.0, 800.0, 900.0]}, "wavelengths"),
    ({"band_indices": [0, 1, 2, 3, 9]}, "band_indices"),
    ({"class_names": ["unlabelled", "a"]}, "class_names"),
    ({"class_names": ["unlabelled", "a", "b", "c", "d", "e"]}, "class_names"),
    ({"in_chans": "5"}, "in_chans"),
    ({"in_chans": 0}, "in_chans"),
    ({"num_classes": 3.0}, "num_classes"),
    ({"num_classes": True}, "num_classes"),
    ({"receptive_radius": -1}, "receptive_radius"),
    ({"receptive_radius": "2"}, "receptive_radius"),
    ({"model_args": []}, "model_args"),
    ({"model_wavelengths": [500.0] * (C - 1)}, "model_wavelengths"),
    ({"model_wavelengths": 500.0}, "model_wavelengths"),
    ({"model_wavelengths": [500.0, "600", 700.0, 800.0, 900.0]}, "model_wavelengths"),
])
def test_a_bad_field_is_one_line_naming_config_json_and_the_field(changes: dict, field: str, tmp_path: Path) -> None:
    run = _edit(make_run(tmp_path / "run", in_chans=C), **changes)
    with pytest.raises(ModelLoadError) as info:
        load_config(run)
    msg = str(info.value)
    assert msg.startswith(f"{run / 'config.json'}: {field!r} ") and "\n" not in msg


def test_the_cli_reports_a_short_mean_instead_of_a_broadcasting_crash(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from cli_runner import run_main

    from hsi_app.io.cube import make_cube
    from hsi_app.io.cog import write_cube

    run = _edit(make_run(tmp_path / "run", in_chans=C), mean=[0.0] * (C - 1))
    scene = tmp_path / "s.tif"
    write_cube(scene, make_cube(np.ones((C, 6, 7), np.float32), wavelength=np.linspace(400.0, 800.0, C)))
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(scene), "--out", str(tmp_path / "m.tif"),
                            "--quiet")
    assert code == 2 and "'mean' has 4 entries for in_chans=5" in err and "unexpected" not in err


def test_unknown_wavelengths_and_fwhm_still_load(tmp_path: Path) -> None:
    """null (and NaN) mark unknown centres and widths; they are not errors."""
    run = _edit(make_run(tmp_path / "run", in_chans=C), wavelengths=[None] * C, fwhm=[None, float("nan"), 1.0, 2.0, 3.0])
    assert np.isnan(load_config(run).wavelength_array).all()


def test_denoise_runs_keep_an_empty_class_list(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", model="test_hsdt", in_chans=8, num_classes=1, task="denoise", class_names=[])
    assert load_config(run).task == "denoise"


@pytest.mark.parametrize("run", sorted(p.parent.name for p in (ROOT / "models").glob("*/config.json")))
def test_every_shipped_run_loads(run: str) -> None:
    from hsi_app.predictor import load_run_model

    config = load_config(ROOT / "models" / run)
    load_run_model(ROOT / "models" / run, config, "cpu")


def test_the_halo_is_the_built_models_receptive_radius(tmp_path: Path) -> None:
    """A config.json whose receptive_radius was edited down cannot shrink the halo (seams in windowed maps)."""
    from hsi_app.predictor import Predictor

    run = make_run(tmp_path / "run", in_chans=C)
    true_radius = Predictor.load(run, device="cpu").receptive_radius
    assert true_radius > 0
    _edit(run, receptive_radius=0)
    assert Predictor.load(run, device="cpu").receptive_radius == true_radius


def test_a_cross_sensor_base_run_has_one_name_per_class(tmp_path: Path) -> None:
    """train_base on a scene whose class names do not number its classes writes K + 1 names (so it loads)."""
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.cross_sensor import train_base

    rng = np.random.default_rng(0)
    labels = np.zeros((12, 12), np.int32)
    labels[2:6, 2:10], labels[7:11, 2:10] = 1, 2
    cube = make_cube(rng.normal(size=(C, 12, 12)).astype(np.float32) + labels, wavelength=np.linspace(400.0, 800.0, C),
                     labels=labels, class_names=["unlabelled", "a", "b", "c"])
    out = train_base(cube, tmp_path / "base", model="test_ssfcn", epochs=1, tiles=1, split_col=12)
    assert load_config(out["run_dir"]).class_names == ["unlabelled", "class 1", "class 2"]


def test_an_empty_class_list_written_by_an_older_version_is_named_not_refused(tmp_path: Path) -> None:
    from hsi_app.errors import HSIWarning

    run = _edit(make_run(tmp_path / "run", in_chans=C), class_names=[])
    with pytest.warns(HSIWarning, match=r"config.json: no class names; its classes are called class 1\.\."):
        config = load_config(run)
    assert config.class_names[0] == "unlabelled" and len(config.class_names) == config.num_classes + 1
