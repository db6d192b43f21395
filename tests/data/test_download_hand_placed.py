""".mat files without a published sha256 (WHU-Hi, placed by hand) are checked for content (audit dlaudit #1).

Before, ``hsi datasets fetch whu_hi_longkou`` recorded whatever lay under the catalog's file name
(HongHu's cube, a truncated browser download, the wrong band count) as the trusted digest, so every
later fetch "verified" the wrong file. Now such a file must hold the catalog's variable, end where
its variables end and have the catalog's shape, or it is refused with one line and nothing is recorded.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

from hsi_app.cli.datasets_cmd import datasets
from hsi_app.data.catalog import DEFAULT_CATALOG_PATH
from hsi_app.data.download import SUMS_FILENAME, fetch, fetch_dataset, read_sums
from hsi_app.data.download_content import mat_problem
from hsi_app.errors import InvalidDataError

H, W, B = 6, 5, 270  # a tiny LongKou: the test catalog gives this shape


def _catalog(tmp_path: Path) -> Path:
    doc = json.loads(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))
    entry = copy.deepcopy(next(d for d in doc["datasets"] if d["name"] == "whu_hi_longkou"))
    entry.update(height=H, width=W)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"format_version": 1, "datasets": [entry]}), encoding="utf-8")
    return path


def _place(root: Path, cube: dict[str, np.ndarray], gt: dict[str, np.ndarray] | None = None) -> Path:
    folder = root / "whu_hi_longkou"
    folder.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(folder / "WHU_Hi_LongKou.mat", cube)
    scipy.io.savemat(folder / "WHU_Hi_LongKou_gt.mat", gt or {"WHU_Hi_LongKou_gt": np.ones((H, W), np.uint8)})
    return folder


def test_the_right_hand_placed_files_are_accepted_and_recorded(tmp_path: Path) -> None:
    root = tmp_path / "data"
    folder = _place(root, {"WHU_Hi_LongKou": np.zeros((H, W, B), np.float32)})
    assert fetch_dataset("longkou", root, progress=False, catalog=_catalog(tmp_path)) == folder
    assert set(read_sums(folder)) == {"WHU_Hi_LongKou.mat", "WHU_Hi_LongKou_gt.mat"}


def test_another_scenes_cube_under_the_catalog_name_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    folder = _place(root, {"WHU_Hi_HongHu": np.zeros((H, W, B), np.float32)})
    with pytest.raises(InvalidDataError) as info:
        fetch_dataset("longkou", root, progress=False, catalog=_catalog(tmp_path))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{folder / 'WHU_Hi_LongKou.mat'}: has no variable 'WHU_Hi_LongKou' "
                                              "(variables: WHU_Hi_HongHu)")
    assert msg.endswith(f"get the right file by hand and place it at {folder / 'WHU_Hi_LongKou.mat'}")
    assert not (folder / SUMS_FILENAME).exists(), "the wrong file is not recorded as the reference"


def test_a_cube_of_another_band_count_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    folder = _place(root, {"WHU_Hi_LongKou": np.zeros((H, W, 224), np.float32)})
    with pytest.raises(InvalidDataError, match=rf"holds 'WHU_Hi_LongKou' of {H}×{W}×224 values, the catalog's is "
                                               rf"{H}×{W}×{B} \(height×width×bands\)"):
        fetch_dataset("longkou", root, progress=False, catalog=_catalog(tmp_path))
    assert read_sums(folder) == {}


def test_labels_of_another_size_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _place(root, {"WHU_Hi_LongKou": np.zeros((H, W, B), np.float32)}, {"WHU_Hi_LongKou_gt": np.ones((H, W + 1))})
    with pytest.raises(InvalidDataError, match=rf"WHU_Hi_LongKou_gt\.mat: holds 'WHU_Hi_LongKou_gt' of {H}×{W + 1} "
                                               rf"values, the catalog's is {H}×{W} \(height×width\)"):
        fetch_dataset("longkou", root, progress=False, catalog=_catalog(tmp_path))


def test_a_truncated_hand_placed_file_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    folder = _place(root, {"WHU_Hi_LongKou": np.arange(H * W * B, dtype=np.float32).reshape(H, W, B)})
    cube = folder / "WHU_Hi_LongKou.mat"
    cube.write_bytes(cube.read_bytes()[: cube.stat().st_size // 2])  # an interrupted browser download
    with pytest.raises(InvalidDataError, match="is truncated: its variables need"):
        fetch_dataset("longkou", root, progress=False, catalog=_catalog(tmp_path))
    assert read_sums(folder) == {}


def test_a_wrong_file_recorded_by_an_earlier_version_is_caught_later(tmp_path: Path) -> None:
    root = tmp_path / "data"
    folder = _place(root, {"WHU_Hi_HongHu": np.zeros((H, W, B), np.float32)})
    (folder / SUMS_FILENAME).write_text("".join(f"{'0' * 64}  {n}\n" for n in ("WHU_Hi_LongKou.mat",)))
    result = CliRunner().invoke(datasets, ["fetch", "longkou", "--root", str(root), "--quiet",
                                           "--catalog", str(_catalog(tmp_path))])
    assert result.exit_code != 0
    assert "has no variable 'WHU_Hi_LongKou'" in str(result.exception)


def test_a_downloaded_file_without_sha256_must_have_the_shape_given(tmp_path: Path) -> None:
    src = tmp_path / "remote" / "scene.mat"
    src.parent.mkdir()
    scipy.io.savemat(src, {"cube": np.zeros((4, 3, 7), np.int16)})
    dst = tmp_path / "d" / "scene.mat"
    with pytest.raises(Exception, match=r"holds 'cube' of 4×3×7 values, the catalog's is 4×3×8"):
        fetch(src.as_uri(), dst, progress=False, mat_key="cube", mat_shape=(4, 3, 8))
    assert not dst.exists()
    fetch(src.as_uri(), dst, progress=False, mat_key="cube", mat_shape=(4, 3, 7))
    assert dst.read_bytes() == src.read_bytes()


def test_mat_problem_compares_dimensions_in_any_order_for_v73(tmp_path: Path) -> None:
    v73 = tmp_path / "v73.mat"
    with h5py.File(v73, "w") as fh:  # MATLAB v7.3 stores (H, W, B) as (B, W, H)
        fh["cube"] = np.zeros((B, W, H), np.float32)
    assert mat_problem(v73, "cube", (H, W, B)) is None
    assert mat_problem(v73, "cube", (H, W, None)) is None  # unknown band count: not checked
    assert mat_problem(v73, "cube", (H, W, 224)) == (f"holds 'cube' of {B}×{W}×{H} values, the catalog's is "
                                                      f"{H}×{W}×224 (height×width×bands)")
