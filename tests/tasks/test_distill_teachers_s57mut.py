"""check_teacher on a teacher's split as `hsi train` writes it (class ids, not 0/1), a teacher of another grid, a
teacher whose class 0 is named otherwise, and a fine-tune folder as teacher (mutation audit s57)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from hsi_app.data.splits import Split
from hsi_app.errors import LabelError

sys.path.insert(0, str(Path(__file__).parents[1]))
from tiny_runs import make_run  # noqa: E402

WL = np.linspace(450.0, 900.0, 6)
NAMES = ["unlabelled", "soil", "water", "trees"]
H, W = 14, 17


def _teacher(folder: Path, train: np.ndarray, names: list[str] = NAMES) -> Path:
    """A teacher run whose split.npz trains on ``train`` ``(H, W)`` class ids (0 = not a training pixel)."""
    run = make_run(folder, in_chans=6, num_classes=3, wavelengths=WL, class_names=names)
    Split(train=train.astype(np.int32), test=np.zeros(train.shape, np.int32), protocol="random:0.5").save(
        run / "split.npz")
    return run


def test_the_leak_count_is_of_training_pixels_of_any_class(tmp_path: Path) -> None:
    """A split stores class ids: a test pixel the teacher trained on as class 2 or 3 is a leak as much as class 1."""
    from hsi_app.tasks.distill import check_teacher

    rng = np.random.default_rng(5)
    train = np.where(rng.random((H, W)) < 0.4, rng.integers(1, 4, (H, W)), 0)
    test = rng.random((H, W)) < 0.3
    leaked = int(((train > 0) & test).sum())
    assert leaked > int(((train == 1) & test).sum()) > 0  # classes 2 and 3 leak too
    run = _teacher(tmp_path / "t", train)
    shown = re.escape(f"--teacher {run}")
    with pytest.raises(LabelError, match=rf"^{shown}: trained on {leaked} of this run's test pixels"):
        check_teacher([run], test, NAMES)
    check_teacher([run], (train == 0) & test, NAMES)  # the same test pixels less the leaked ones: accepted


def test_a_teacher_of_another_grid_is_refused_with_both_sizes(tmp_path: Path) -> None:
    from hsi_app.tasks.distill import check_teacher

    run = _teacher(tmp_path / "t", np.zeros((H, W), np.int32))
    with pytest.raises(LabelError, match=rf"trained on a {H} x {W} grid, this scene is 10 x 12; distil on the scene"):
        check_teacher([run], np.zeros((10, 12), bool), NAMES)


def test_the_name_of_class_0_is_not_compared(tmp_path: Path) -> None:
    """Class 0 is 'unlabelled' whatever a label file calls it; classes 1..K alone decide whether a teacher maps this
    scene's classes."""
    from hsi_app.tasks.distill import check_teacher

    run = _teacher(tmp_path / "t", np.zeros((H, W), np.int32), names=["background", *NAMES[1:]])
    check_teacher([run], np.ones((H, W), bool), NAMES)


def test_a_fine_tune_folder_with_its_adapter_is_a_teacher_with_weights(tmp_path: Path) -> None:
    """`hsi finetune` writes adapter.safetensors instead of model.safetensors: its folder is not refused as an
    unfinished run (only the files' presence is checked here, so the adapter's bytes do not matter)."""
    from hsi_app.checkpoint import ADAPTER_NAME, WEIGHTS_NAME
    from hsi_app.errors import ModelLoadError
    from hsi_app.tasks.distill import check_teacher

    run = _teacher(tmp_path / "t", np.zeros((H, W), np.int32))
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    for name in ("config.json", "split.npz"):
        shutil.copy(run / name, tuned / name)
    with pytest.raises(ModelLoadError, match=rf"no {WEIGHTS_NAME}"):
        check_teacher([tuned], np.zeros((H, W), bool), NAMES)
    (tuned / ADAPTER_NAME).write_bytes(b"")
    check_teacher([tuned], np.zeros((H, W), bool), NAMES)


def test_a_folder_of_weights_without_config_json_is_refused_naming_it(tmp_path: Path) -> None:
    """model.safetensors alone (the config left behind when copying): the line names the folder and the fix."""
    from hsi_app.errors import ModelLoadError
    from hsi_app.tasks.distill import check_teacher

    run = _teacher(tmp_path / "t", np.zeros((H, W), np.int32))
    (run / "config.json").unlink()
    shown = re.escape(f"--teacher {run}")
    with pytest.raises(ModelLoadError, match=rf"^{shown}: no config\.json; pass the output folder of `hsi train`"):
        check_teacher([run], np.zeros((H, W), bool), NAMES)


def test_a_fine_tune_teacher_without_its_adapter_names_the_adapter(tmp_path: Path) -> None:
    """A fine-tune folder (its config.json holds extra.finetune) whose adapter is gone: the line names the adapter
    and hsi finetune, as predict and batch do, not a model.safetensors to retrain (final read s57 #4)."""
    import json

    from hsi_app.errors import ModelLoadError
    from hsi_app.tasks.distill import check_teacher

    run = _teacher(tmp_path / "t", np.zeros((H, W), np.int32))
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    shutil.copy(run / "split.npz", tuned / "split.npz")
    config = json.loads((run / "config.json").read_text())
    config.setdefault("extra", {})["finetune"] = {"base_run": str(run), "lora_rank": 2}
    (tuned / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError) as err:
        check_teacher([tuned], np.zeros((H, W), bool), NAMES)
    assert str(err.value) == (f"--teacher {tuned}: a fine-tune folder (hsi finetune) without its adapter.safetensors; "
                              "restore the file or redo `hsi finetune`")
