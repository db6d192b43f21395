"""Session 57 review of the fine-tune band-width rule: fine-tunes made before it rebuild their band map bit for
bit (a repeated base centre too), the recorded rule is checked on load, and a fine-tune folder that lost its
adapter is named as one by every command that takes a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hsi_app.checkpoint import RunConfig
from hsi_app.errors import BandMismatchError, ModelLoadError

SIGMA_PER_FWHM = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
BASE_WL = np.concatenate([np.arange(600.0, 700.0, 9.7), np.arange(686.9, 800.0, 9.7)])  # two overlapping runs
SCENE_WL = np.arange(590.0, 810.0, 6.0)


def _base(centres: np.ndarray) -> RunConfig:
    c = centres.size
    return RunConfig(task="classification", model_name="test_spectral_vit", model_args={}, in_chans=c, num_classes=2,
                     class_names=["u", "a", "b"], wavelengths=[float(v) for v in centres], fwhm=[None] * c,
                     band_indices=list(range(c)), source_bands=c, mean=[0.0] * c, std=[1.0] * c, receptive_radius=2)


def _list_order_rows(src: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The band map before session 57, computed here: each target band's width is half the distance between its
    neighbours in the list (one side at the ends); a target whose Gaussian misses every source band (width 0 at a
    repeated centre) copies the nearest one."""
    width = np.empty_like(centres)
    width[1:-1] = np.abs(centres[2:] - centres[:-2]) / 2
    width[0], width[-1] = abs(centres[1] - centres[0]), abs(centres[-1] - centres[-2])
    rows = []
    for mu, fw in zip(centres, width):
        w = np.exp(-0.5 * ((src - mu) / (fw * SIGMA_PER_FWHM)) ** 2) if fw > 0 else np.zeros(src.size)
        rows.append(w / w.sum() if w.sum() >= 1e-6 else np.eye(src.size)[np.abs(src - mu).argmin()])
    return np.stack(rows)


def test_an_old_fine_tunes_map_keeps_a_repeated_centres_list_order_width() -> None:
    """A base listing 600 nm twice: the list-order width of its first band is 0 (a nearest-band pick when the
    fine-tune was made); the run rule's 10 nm must not replace it for a fine-tune made before session 57."""
    from hsi_app.tasks.finetune import band_matrix

    centres = np.array([600.0, 600.0, 610.0, 620.0, 630.0, 640.0])
    src = np.arange(578.0, 670.0, 8.0)  # no band at 600 nm exactly
    m, kind = band_matrix(_base(centres), src, np.full(src.size, 8.0), spacing="listed")
    assert kind == "gaussian"
    np.testing.assert_array_equal(m[0], np.eye(src.size)[np.abs(src - 600.0).argmin()])
    np.testing.assert_allclose(m, _list_order_rows(src, centres), atol=1e-12)


def test_the_list_order_reach_is_the_one_an_old_fine_tune_was_checked_with() -> None:
    """Width 0 reaches nowhere: the first of a repeated base centre 2 nm beyond the scene's first band was refused
    before session 57 (and so is by the list rule; the second, 5 nm wide, reaches 30 nm), while the run rule's
    10 nm width reaches it."""
    from hsi_app.tasks.finetune import FWHM_SPACING, band_matrix

    centres = np.array([600.0, 600.0, 610.0, 620.0, 630.0, 640.0])
    src = np.arange(602.0, 670.0, 8.0)
    with pytest.raises(BandMismatchError) as err:
        band_matrix(_base(centres), src, np.full(src.size, 8.0), spacing="listed", source="s.tif")
    assert "\n" not in str(err.value) and str(err.value).startswith("s.tif: the base model needs 1 band at 600 nm")
    m, _ = band_matrix(_base(centres), src, np.full(src.size, 8.0), spacing=FWHM_SPACING)
    assert np.isfinite(m).all()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test_spectral_vit base on two overlapping runs of bands without FWHM, a 1-epoch LoRA fine-tune of it on a
    finer sensor, and that sensor's scene."""
    from tests.tasks.test_finetune_resample_s57 import base_and_finetune

    root = tmp_path_factory.mktemp("ftrev")
    base, ft, scene = base_and_finetune(root, BASE_WL, SCENE_WL)
    return {"root": root, "base": base, "ft": ft, "scene": scene}


def _with_spacing(runs: dict, tmp_path: Path, value: object) -> Path:  # noqa: ANN001
    """A copy of the fine-tune whose config.json records ``fwhm_spacing`` = ``value`` (``...``: none)."""
    ft = tmp_path / "ft"
    shutil.copytree(runs["ft"], ft)
    cfg = json.loads((ft / "config.json").read_text())
    if value is ...:
        del cfg["extra"]["finetune"]["fwhm_spacing"]
    else:
        cfg["extra"]["finetune"]["fwhm_spacing"] = value
    (ft / "config.json").write_text(json.dumps(cfg))
    return ft


@pytest.mark.parametrize("value", ["wavelength", 3])
def test_an_unknown_width_rule_is_refused_naming_the_config_and_the_fix(runs: dict, tmp_path: Path,
                                                                        value: object) -> None:
    from hsi_app.tasks.finetune import load_finetuned

    ft = _with_spacing(runs, tmp_path, value)
    with pytest.raises(ModelLoadError) as err:
        load_finetuned(ft)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{ft / 'config.json'}: extra.finetune.fwhm_spacing is ")
    assert json.dumps(value) in line and line.endswith("redo `hsi finetune`")


def test_the_sessions_first_rule_name_loads_as_the_run_rule(runs: dict, tmp_path: Path) -> None:
    """``"sorted"`` (recorded by this session's first fine-tunes) is the run rule: its band map is the recorded
    one's, and not the list-order one of a fine-tune recording nothing."""
    from hsi_app.tasks.finetune import load_finetuned

    maps = {}
    for value in ("sorted", ...):
        sub = tmp_path / str(value)
        sub.mkdir()
        maps[value] = load_finetuned(_with_spacing(runs, sub, value))[1].band_map.a.numpy()
    recorded = load_finetuned(runs["ft"])[1].band_map.a.numpy()
    np.testing.assert_array_equal(maps["sorted"], recorded)
    assert not np.allclose(maps[...], recorded)  # bands 10, 11 (where the runs meet) differ


@pytest.fixture
def no_adapter(runs: dict, tmp_path: Path) -> Path:
    """A copy of the fine-tune folder whose adapter.safetensors is gone."""
    ft = tmp_path / "ft_noadapter"
    shutil.copytree(runs["ft"], ft)
    (ft / "adapter.safetensors").unlink()
    return ft


def test_batch_names_a_fine_tune_without_its_adapter(no_adapter: Path) -> None:
    from hsi_app.batch.state import model_hash

    with pytest.raises(ModelLoadError) as err:
        model_hash(no_adapter)
    assert str(err.value) == (f"{no_adapter}: a fine-tune folder (hsi finetune) without its adapter.safetensors; "
                              "restore the file or redo `hsi finetune`")


def test_the_viewer_names_a_fine_tune_without_its_adapter(no_adapter: Path) -> None:
    from hsi_app.viewer.models import _weights_mtime

    with pytest.raises(ModelLoadError) as err:
        _weights_mtime(no_adapter)
    assert "without its adapter.safetensors" in str(err.value) and "retrain" not in str(err.value)


def test_finetune_names_a_base_that_is_a_fine_tune_without_its_adapter(runs: dict, no_adapter: Path,
                                                                       tmp_path: Path) -> None:
    from hsi_app.tasks.finetune import FinetuneOptions, finetune

    with pytest.raises(ModelLoadError) as err:
        finetune(runs["scene"], no_adapter, tmp_path / "out", FinetuneOptions(lora_rank=1, epochs=1, progress=False))
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{no_adapter}: is a fine-tune folder")
    assert line.endswith("pass the base run it was made from")
    assert not (tmp_path / "out").exists()


def test_a_run_without_weights_that_is_no_fine_tune_is_still_incomplete(runs: dict, tmp_path: Path) -> None:
    from hsi_app.batch.state import model_hash

    base = tmp_path / "base"
    shutil.copytree(runs["base"], base)
    (base / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="no model.safetensors; the run is incomplete, retrain it"):
        model_hash(base)
