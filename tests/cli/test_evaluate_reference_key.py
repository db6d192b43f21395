"""``hsi evaluate --reference X.mat``: a .mat whose labels variable must be named points to ``--key NAME``,
the option evaluate has, not to a Python-only argument; ``--key`` then scores the map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from rasterio.transform import from_origin

from cli_runner import assert_one_error_line, run_main
from hsi_app.io.cog import write_class_map


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    cls = np.ones((8, 6), np.uint8)
    cls[:, 3:] = 2
    write_class_map(tmp_path / "map.tif", cls, None, crs="EPSG:32616", transform=from_origin(0.0, 0.0, 30.0, 30.0),
                    class_names=["unlabelled", "a", "b"])
    scipy.io.savemat(tmp_path / "ref.mat", {"gt": cls, "other": np.zeros_like(cls)})
    return {"map": tmp_path / "map.tif", "ref": tmp_path / "ref.mat"}


@pytest.mark.parametrize(("extra", "words"), [([], "several 2-D arrays (gt, other)"),
                                              (["--key", "nope"], "no variable 'nope'; keys found: gt, other")])
def test_a_mat_reference_points_to_the_key_option(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                                                  extra: list[str], words: str) -> None:
    code, _, err = run_main(capsys, "evaluate", "--map", str(files["map"]), "--reference", str(files["ref"]), *extra)
    assert_one_error_line(code, err, f"{files['ref']}: {words}", "--key NAME")
    assert "label_key" not in err


def test_key_names_the_reference_variable(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    code, out, err = run_main(capsys, "evaluate", "--map", str(files["map"]), "--reference", str(files["ref"]),
                              "--key", "gt")
    assert code == 0, err
    assert "100.0" in out  # the map is its own reference


def test_key_for_a_reference_that_is_not_a_mat_is_refused(capsys: pytest.CaptureFixture[str],
                                                          files: dict[str, Path]) -> None:
    """The map itself as a GeoTIFF reference: ``--key`` would be ignored, so it is refused."""
    code, _, err = run_main(capsys, "evaluate", "--map", str(files["map"]), "--reference", str(files["map"]),
                            "--key", "gt")
    assert_one_error_line(code, err, f"--key gt: {files['map']} is not a .mat file", "drop it")
