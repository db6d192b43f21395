"""``--teacher`` folders as a user passes them: an ensemble beside a run, a run twice, a run without weights, a
teacher of other bands or classes (audit session 56: each was refused late, with a line naming --model or
offering --resample, an option `hsi train` does not have, or was not refused at all)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import BandMismatchError, ConfigError, LabelError, ModelLoadError

sys.path.insert(0, str(Path(__file__).parents[1]))
from tiny_runs import make_run  # noqa: E402

WL = np.linspace(450.0, 900.0, 6)
NAMES = ["unlabelled", "soil", "water", "trees"]


def _scene() -> tuple[object, np.ndarray]:
    """A 6-band 14 x 17 cube (two no-data pixels) and its values ``(C, H, W)`` (NaN at no data)."""
    from hsi_app.io.cube import make_cube

    rng = np.random.default_rng(4)
    values = (rng.random((6, 14, 17)) * 0.5 + 0.1).astype(np.float32)
    values[:, 3, 4] = np.nan
    values[:, 10, 0] = np.nan
    return make_cube(values, wavelength=WL), values


def _runs(tmp_path: Path, values: np.ndarray) -> list[Path]:
    ok = np.isfinite(values).all(0)
    like = values[:, ok][:, :, None]
    return [make_run(tmp_path / f"r{i}", in_chans=6, num_classes=3, wavelengths=WL, like=like, class_names=NAMES,
                     seed=i, model=model) for i, model in enumerate(["test_ssfcn", "test_cnn3d", "test_ssfcn"])]


def _probs(run: Path, cube: object, values: np.ndarray) -> np.ndarray:
    """One run's ``(K, H, W)`` probabilities over the whole scene in one pass (no windows)."""
    from hsi_app.predictor import Predictor

    return np.asarray(Predictor.load(run, "cpu").bind(cube)(values), dtype=np.float64)


def test_an_ensemble_and_a_run_teach_the_mean_of_all_their_runs(tmp_path: Path) -> None:
    """README: repeat --teacher to average runs, a teacher being a run or an ensemble folder; the old code
    refused ``--teacher ENS --teacher RUN`` as 'ensembles in ensembles'."""
    from hsi_app.ensemble import write_ensemble
    from hsi_app.tasks.distill import teacher_probs

    cube, values = _scene()
    r0, r1, r2 = _runs(tmp_path, values)
    write_ensemble(tmp_path / "ens", [r0, r1])
    got = teacher_probs([str(tmp_path / "ens"), str(r2)], cube, window=8, progress=False, device="cpu")
    expected = np.mean([_probs(r, cube, values) for r in (r0, r1, r2)], axis=0)
    ok = np.isfinite(values).all(0)
    np.testing.assert_allclose(got[:, ok], expected[:, ok], atol=1e-6)
    assert (got[:, ~ok] == 0).all()


def test_a_run_given_twice_is_refused_naming_teacher(tmp_path: Path) -> None:
    from hsi_app.ensemble import write_ensemble
    from hsi_app.tasks.distill import teacher_runs

    _, values = _scene()
    r0, r1, _ = _runs(tmp_path, values)
    write_ensemble(tmp_path / "ens", [r0, r1])
    with pytest.raises(ConfigError, match=r"^--teacher: run .*r0 is given twice \(a member of --teacher .*ens"):
        teacher_runs([tmp_path / "ens", r0])
    with pytest.raises(ConfigError, match="given twice"):
        teacher_runs([r1, str(r1) + "/"])


def test_a_teacher_without_weights_is_refused_before_its_split_is_read(tmp_path: Path) -> None:
    from hsi_app.tasks.distill import check_teacher

    _, values = _scene()
    r0 = _runs(tmp_path, values)[0]
    bare = tmp_path / "copied"
    bare.mkdir()
    shutil.copy(r0 / "config.json", bare / "config.json")  # a partly copied run: no weights, no split.npz
    test = np.zeros((14, 17), bool)
    with pytest.raises(ModelLoadError, match=r"^--teacher .*copied: no model\.safetensors .*retrain"):
        check_teacher([bare], test, NAMES)
    with pytest.raises(LabelError, match="no split.npz"):  # with weights, the next check speaks
        check_teacher([r0], test, NAMES)


def test_classes_in_another_order_are_named_so(tmp_path: Path) -> None:
    from hsi_app.tasks.distill import check_teacher

    _, values = _scene()
    run = make_run(tmp_path / "swapped", in_chans=6, num_classes=3, wavelengths=WL,
                   class_names=["unlabelled", "water", "soil", "trees"])
    with pytest.raises(ConfigError, match=r"\(water, soil, trees\), .*\(soil, water, trees\) \(the same classes in "
                                          r"another order\)"):
        check_teacher([run], np.zeros((14, 17), bool), NAMES)


def test_a_teacher_of_other_bands_names_teacher_not_resample(tmp_path: Path) -> None:
    """`hsi train` has no --resample: the fix is a teacher trained on this scene."""
    from hsi_app.tasks.distill import teacher_probs

    cube, _ = _scene()
    nir = make_run(tmp_path / "nir", in_chans=4, num_classes=3, wavelengths=np.array([1000.0, 1200, 1400, 1600]),
                   class_names=NAMES)
    with pytest.raises(BandMismatchError) as err:
        teacher_probs([nir], cube, progress=False, device="cpu")
    line = str(err.value)
    assert line.startswith(f"--teacher {nir}: cannot map this scene") and "trained on this scene" in line
    assert "--resample" not in line and "\n" not in line


def test_an_ensemble_of_classes_in_another_order_says_so(tmp_path: Path) -> None:
    """Averaging them would add one class's probability to another's: refused, naming the cause."""
    from hsi_app.ensemble import load_members

    a = make_run(tmp_path / "a", in_chans=6, num_classes=3, wavelengths=WL, class_names=NAMES)
    b = make_run(tmp_path / "b", in_chans=6, num_classes=3, wavelengths=WL, seed=1,
                 class_names=["unlabelled", "water", "soil", "trees"])
    with pytest.raises(ModelLoadError, match=r"numbered in another order: train both from the same label file\); "
                                             r"ensemble only runs trained on the same classes$"):
        load_members([a, b])


def test_an_ensemble_teacher_with_a_broken_member_names_teacher(tmp_path: Path) -> None:
    from hsi_app.ensemble import write_ensemble
    from hsi_app.tasks.distill import teacher_runs

    _, values = _scene()
    r0, r1, _ = _runs(tmp_path, values)
    write_ensemble(tmp_path / "ens", [r0, r1])
    (r1 / "model.safetensors").unlink()  # a member copied without its weights
    with pytest.raises(ModelLoadError, match=r"^--teacher .*ens: .*r1"):
        teacher_runs([tmp_path / "ens"])


def test_a_member_of_an_ensemble_teacher_is_named_as_such(tmp_path: Path) -> None:
    """check_teacher wrote '--teacher ENS/../r1: no split.npz', as if the member had been passed (review s56 #4)."""
    import os

    from hsi_app.ensemble import write_ensemble
    from hsi_app.tasks.distill import check_teacher

    _, values = _scene()
    r0, r1, _ = _runs(tmp_path, values)
    write_ensemble(tmp_path / "ens", [r0, r1])
    (r1 / "split.npz").unlink(missing_ok=True)
    (r0 / "split.npz").unlink(missing_ok=True)
    with pytest.raises(LabelError) as err:
        check_teacher([tmp_path / "ens"], np.zeros(values.shape[1:], bool), NAMES)
    assert str(err.value).startswith(f"--teacher {tmp_path / 'ens'} (its member {os.path.normpath(r0)}): no split.npz")


def test_a_broken_member_is_named_once_by_teacher_probs(tmp_path: Path) -> None:
    """teacher_probs added '--teacher ENS, RUN:' before teacher_runs' own '--teacher ENS:' (review s56 #4)."""
    from hsi_app.ensemble import write_ensemble
    from hsi_app.tasks.distill import teacher_probs

    cube, values = _scene()
    r0, r1, r2 = _runs(tmp_path, values)
    write_ensemble(tmp_path / "ens", [r0, r1])
    (r1 / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError) as err:
        teacher_probs([str(tmp_path / "ens"), str(r2)], cube, window=8, progress=False, device="cpu")
    assert str(err.value).count("--teacher") == 1 and str(err.value).startswith(f"--teacher {tmp_path / 'ens'}: ")
