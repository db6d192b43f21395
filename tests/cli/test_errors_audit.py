"""Cross-command audit (session 55): each bad input gives one error line naming the file and the fix, exit 2,
and nothing the user had is replaced."""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from cli_runner import assert_one_error_line, run_main
from tif_writer import UTM_30M, write_tif
from tiny_runs import make_run

WL = np.array([450.0, 550.0, 650.0, 750.0, 850.0])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 5-band scene, its 3-class label raster (one class per column block) and an untrained run of its bands."""
    root = tmp_path_factory.mktemp("audit")
    labels = np.zeros((24, 24), np.uint8)
    labels[:, :8], labels[:, 8:16], labels[:, 16:] = 1, 2, 3
    centres = np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.6, 0.6, 0.3]])
    rng = np.random.default_rng(0)
    cube = (centres[labels - 1].transpose(2, 0, 1) + rng.normal(0, 0.02, (5, 24, 24))).astype(np.float32)
    scene = write_tif(root / "scene.tif", cube, WL)
    lab = root / "labels.tif"
    with rasterio.open(lab, "w", driver="GTiff", height=24, width=24, count=1, dtype="uint8", crs="EPSG:32616",
                       transform=UTM_30M) as ds:
        ds.write(labels[None])
    return {"scene": scene, "labels": lab, "run": make_run(root / "run", like=cube, wavelengths=WL)}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_finetune_of_a_base_without_weights_names_the_run(files: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Was `hsi: unexpected FileNotFoundError: [Errno 2] ...model.safetensors` (exit 1) from hashing the base."""
    base = shutil.copytree(files["run"], tmp_path / "base")
    (base / "model.safetensors").unlink()
    code, _, err = run_main(capsys, "finetune", "--base", str(base), "--data", str(files["scene"]), "--labels",
                            str(files["labels"]), "--lora-rank", "2", "--out", str(tmp_path / "ft"), "--quiet")
    assert_one_error_line(code, err, f"{base}: no model.safetensors; the run is incomplete, retrain it")
    assert not (tmp_path / "ft").exists()


def test_finetune_of_a_base_with_unreadable_weights_names_the_file(files: dict[str, Path], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Was `hsi: unexpected PermissionError` (exit 1); root reads any file, so `open` refuses that one path here."""
    base = shutil.copytree(files["run"], tmp_path / "base")
    weights = os.path.abspath(base / "model.safetensors")

    def refusing(real: Any) -> Any:
        def open_(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, (str, os.PathLike)) and os.path.abspath(os.fspath(file)) == weights:
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
            return real(file, *args, **kwargs)
        return open_

    monkeypatch.setattr(builtins, "open", refusing(builtins.open))
    monkeypatch.setattr(io, "open", refusing(io.open))
    code, _, err = run_main(capsys, "finetune", "--base", str(base), "--data", str(files["scene"]), "--labels",
                            str(files["labels"]), "--lora-rank", "2", "--out", str(tmp_path / "ft"), "--quiet")
    assert_one_error_line(code, err, f"{weights}: cannot be read (Permission denied); check its permissions")
