"""``hsi info RUN`` and ``hsi info ENSEMBLE``: what the folder's model takes and gives.

Before, a run folder of ``hsi train`` got "no *-SPECTRAL_IMAGE.TIF in this folder, so it is not an EnMAP L2A
product", which told a new user nothing about what they had.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main
from tiny_runs import make_run

WL = np.array([450.5, 550.25, 650.125, 750.0, 850.0])


def test_run_folder_is_described(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run", model="test_ssfcn", in_chans=5, num_classes=3, wavelengths=WL)
    code, out, err = run_main(capsys, "info", str(run))
    assert code == 0, err
    lines = out.splitlines()
    assert "run folder" in lines[1]
    assert "test_ssfcn (classification)" in lines[2]
    assert lines[3] == "bands        5, 450.5-850.0 nm"
    assert lines[4] == "classes      3: c1, c2, c3"
    assert f"hsi predict --model {run}" in out
    code, out, _ = run_main(capsys, "info", str(run), "--json")
    info = json.loads(out)
    assert (info["bands"], info["wavelength_range_nm"], info["classes"]) == (5, [450.5, 850.0], ["c1", "c2", "c3"])


def test_ensemble_folder_is_described(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.ensemble import write_ensemble
    from hsi_app.models import create_model

    runs = [make_run(tmp_path / "a", model="test_ssfcn", wavelengths=WL),
            make_run(tmp_path / "b", model="test_cnn3d", wavelengths=WL, seed=1)]
    write_ensemble(tmp_path / "ens", runs)
    code, out, err = run_main(capsys, "info", str(tmp_path / "ens"), "--json")
    assert code == 0, err
    info = json.loads(out)
    radius = max(create_model(m, in_chans=5, num_classes=3).receptive_radius for m in ("test_ssfcn", "test_cnn3d"))
    assert info["model"] == "test_ssfcn, test_cnn3d" and info["receptive_radius_px"] == radius  # the members' order
    assert [Path(m).resolve() for m in info["members"]] == [r.resolve() for r in runs]
    assert info["use"].startswith("hsi predict --model ")


def test_a_run_without_its_weights_is_called_incomplete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder with config.json but no model.safetensors was 'a trained model' with an hsi predict line that
    then failed (review 4 #6)."""
    run = make_run(tmp_path / "run", model="test_ssfcn", in_chans=5, num_classes=3, wavelengths=WL)
    (run / "model.safetensors").unlink()
    code, out, err = run_main(capsys, "info", str(run))
    assert code == 0, err
    assert f"without its weights ({run / 'model.safetensors'} missing)" in out and "train it again" in out
    assert "hsi predict" not in out and "a trained model" not in out


def test_a_distilled_run_names_its_teacher(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`hsi info` on a run trained with --teacher said nothing of it, so its scores read as a plain run's."""
    teacher = make_run(tmp_path / "teacher", model="test_ssfcn", in_chans=5, num_classes=3, wavelengths=WL)
    run = make_run(tmp_path / "student", model="test_ssfcn", in_chans=5, num_classes=3, wavelengths=WL, seed=1)
    doc = json.loads((run / "config.json").read_text())
    doc.setdefault("extra", {})["teacher"] = {"runs": [str(teacher)], "sha256": ["0" * 64], "weight": 0.5,
                                              "pixels": 1234, "temperature": 1.0}
    (run / "config.json").write_text(json.dumps(doc))
    code, out, err = run_main(capsys, "info", str(run))
    assert code == 0, err
    assert f"distilled    from {teacher} (--distill-weight 0.5, a target at 1,234 px)" in out.splitlines()
    code, out, _ = run_main(capsys, "info", str(run), "--json")
    assert json.loads(out)["teacher"] == {"runs": [str(teacher)], "weight": 0.5, "pixels": 1234}
    code, out, _ = run_main(capsys, "info", str(teacher))
    assert not any(line.startswith("distilled") for line in out.splitlines())
