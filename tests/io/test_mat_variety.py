"""``.mat`` files as users pass them (audit of session 53): a ground truth given where the scene belongs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from hsi_app.errors import CubeReadError
from hsi_app.io import open_cube


@pytest.mark.parametrize(("gt", "cube"), [("indian_pines_gt", "Indian_pines_corrected.mat"),
                                          ("salinas_gt", "Salinas_corrected.mat"),
                                          ("hanchuan_gt", "WHU_Hi_HanChuan.mat")])
def test_a_ground_truth_passed_as_the_scene_names_its_cube_and_labels_not_key(mat_fixtures: dict, gt: str,
                                                                               cube: str) -> None:
    with pytest.raises(CubeReadError) as err:
        open_cube(mat_fixtures[gt])
    msg = str(err.value)
    assert msg.startswith(f"{mat_fixtures[gt]}: ") and "\n" not in msg
    assert f"pass {cube} (beside it) as the scene and this file with --labels" in msg
    assert "--key" not in msg  # no variable of a label file is a cube


def test_a_ground_truth_without_its_cube_beside_it_names_the_cube_file_to_find(mat_fixtures: dict,
                                                                                tmp_path: Path) -> None:
    alone = tmp_path / "Salinas_gt.mat"
    shutil.copy(mat_fixtures["salinas_gt"], alone)
    with pytest.raises(CubeReadError, match=r"salinas_gt \(24, 20\)\), a ground-truth .*pass the cube file "
                                            r"\(Salinas_corrected\.mat\) as the scene and this file with --labels"):
        open_cube(alone)


def test_an_unknown_gt_file_points_at_the_scene_of_the_same_name(tmp_path: Path) -> None:
    savemat(tmp_path / "field_gt.mat", {"map": np.zeros((6, 5), np.uint8)})
    savemat(tmp_path / "field.mat", {"cube": np.zeros((6, 5, 4), np.uint16)})
    with pytest.raises(CubeReadError, match=r"pass field\.mat \(beside it\) as the scene and this file with --labels"):
        open_cube(tmp_path / "field_gt.mat")
    assert open_cube(tmp_path / "field.mat", labels=tmp_path / "field_gt.mat").hsi.shape == (4, 6, 5)
