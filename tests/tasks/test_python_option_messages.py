"""Errors raised from Python calls name the Python keyword beside the CLI flag ("--epochs 0 ... (epochs= in Python)")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import ConfigError, LabelError


def _train_options(**kw: object) -> Callable[[], object]:
    from hsi_app.tasks.train_classifier import TrainOptions

    return lambda: TrainOptions(**kw)  # type: ignore[arg-type]


def _finetune_options(**kw: object) -> Callable[[], object]:
    from hsi_app.tasks.finetune import FinetuneOptions

    return lambda: FinetuneOptions(**kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("call", "flag", "python"), [
    (_train_options(epochs=0), "--epochs 0: must be at least 1", "epochs="),
    (_train_options(window=0), "--window 0", "window="),
    (_train_options(buffer=-1, split="disjoint:0.5"), "--buffer -1", "buffer="),
    (_train_options(buffer=3, split="random:0.1"), "--buffer 3: --split random:0.1 has no buffer", "buffer=None"),
    (_train_options(class_weight_power=2.0), "--class-weights 2.0", "class_weight_power="),
    (_train_options(model="svm", class_weight_power=0.5), "--class-weights", "class_weight_power="),
    (_train_options(model="hsdt_s"), "--model hsdt_s is a denoise model", "train_denoiser in Python"),
    (_train_options(teacher=("run",), distill_weight=0.0), "--distill-weight 0.0", "distill_weight="),
    (_finetune_options(lora_rank=0), "--lora-rank 0", "lora_rank="),
    (_finetune_options(lora_alpha=-1.0), "--lora-alpha -1", "lora_alpha="),
    (_finetune_options(lr=0.0), "--lr 0", "lr="),
    (_finetune_options(epochs=0), "--epochs 0: must be at least 1", "epochs="),
], ids=lambda v: v if isinstance(v, str) else "")
def test_option_errors_name_the_python_keyword(call: Callable[[], object], flag: str, python: str) -> None:
    with pytest.raises(ConfigError) as err:
        call()
    text = str(err.value)
    assert flag in text and f"{python}" in text and "in Python" in text, text


def test_task_errors_name_the_python_keyword() -> None:
    from hsi_app.tasks.denoise_adapt import check_adapt
    from hsi_app.tasks.denoising import check_window
    from hsi_app.tasks.finetune_classes import plan_classes
    from hsi_app.tasks.lr_schedules import check_schedule
    from hsi_app.tasks.train_classifier import check_has_labels

    with pytest.raises(LabelError, match=r"no labels; pass --labels .*\(cube\.hsi\.with_labels\(labels\), or "
                                         r"train_labels= and test_labels=, in Python\)$"):
        check_has_labels("scene.tif", [])
    with pytest.raises(ConfigError, match=r"pass --window 117 or more \(window= in Python\)$"):
        check_window(4, 200, 200, field=117, multiple=1, model="m")
    with pytest.raises(ConfigError, match=r"--adapt-sigma 0.*\(adapt_sigma= in Python\)$"):
        check_adapt(0.0, 5)
    with pytest.raises(ConfigError, match=r"--adapt-steps 0.*\(adapt_steps= in Python\)$"):
        check_adapt(50.0, 0)
    with pytest.raises(ConfigError, match=r"--schedule 'x'.*\(schedule= in Python\)$"):
        check_schedule("x")
    with pytest.raises(ConfigError, match=r"--classes same: .*\(classes= in Python\)$"):
        plan_classes(["u", "a"], None, [np.ones((2, 2), np.int32)], "same", source="s.tif")
    with pytest.raises(ConfigError, match=r"pass --classes new \(classes='new' in Python\) for a new head$"):
        plan_classes(["u", "a"], None, [np.full((2, 2), 3, np.int32)], "base", source="s.tif")


def test_train_classifier_given_one_label_map_names_both_keywords(tmp_path: Path) -> None:
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    cube = make_cube(np.ones((3, 4, 4), np.float32))
    with pytest.raises(LabelError, match=r"--train-labels and --test-labels \(train_labels=, test_labels= in Python\)"):
        train_classifier(cube, tmp_path / "run", TrainOptions(model="svm", progress=False),
                         train_labels=np.ones((4, 4), np.int32))
