"""A file that exists but cannot be read (permissions): one line naming it, "check its permissions", exit 2.

As root, ``chmod 000`` does not stop reads, so there the refusal is made by patching ``open``
for that one path (``builtins.open`` and ``io.open``, which ``Path.read_text`` uses).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import assert_one_error_line, run_main
from tiny_runs import make_run

WL = np.array([450.0, 550.0, 650.0, 750.0, 850.0])


@pytest.fixture
def deny(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Path]:
    """``deny(path)``: make ``path`` unreadable (``chmod 000``; as root, ``open`` refuses it instead)."""
    denied: set[str] = set()

    def patched(real: Callable[..., Any]) -> Callable[..., Any]:
        def open_(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, (str, os.PathLike)) and os.path.abspath(os.fspath(file)) in denied:
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
            return real(file, *args, **kwargs)
        return open_

    if os.geteuid() == 0:
        monkeypatch.setattr(builtins, "open", patched(builtins.open))
        monkeypatch.setattr(io, "open", patched(io.open))

    def deny_(path: Path) -> Path:
        path.chmod(0)
        denied.add(os.path.abspath(path))
        return path

    return deny_


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("noread")
    scene = root / "scene.tif"
    with rasterio.open(scene, "w", driver="GTiff", height=12, width=10, count=5, dtype="int16", crs="EPSG:32616",
                       transform=from_origin(0.0, 0.0, 30.0, 30.0)) as ds:
        ds.write(np.arange(600, dtype=np.int16).reshape(5, 12, 10))
        ds.update_tags(wavelength=",".join(str(w) for w in WL), wavelength_units="nm")
    return {"scene": scene, "run": make_run(root / "run", in_chans=5, num_classes=3, wavelengths=WL)}


def _copy(src: Path, dst: Path) -> Path:
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy(src, dst)
    return dst


@pytest.mark.parametrize("command", ["info", "predict", "train"])
def test_an_unreadable_scene_is_named(command: str, files: dict[str, Path], tmp_path: Path,
                                      deny: Callable[[Path], Path], capsys: pytest.CaptureFixture[str]) -> None:
    scene = deny(_copy(files["scene"], tmp_path / "noread.tif"))
    args = {"info": ["info", str(scene)],
            "predict": ["predict", "--model", str(files["run"]), "--input", str(scene), "--out", str(tmp_path / "m.tif"),
                        "--quiet"],
            "train": ["train", "--data", str(scene), "--model", "svm", "--out", str(tmp_path / "r"), "--quiet"]}[command]
    code, _, err = run_main(capsys, *args)
    assert_one_error_line(code, err, f"{scene}: cannot be read (Permission denied); check its permissions")


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_an_unreadable_run_file_is_named_not_called_missing(name: str, files: dict[str, Path], tmp_path: Path,
                                                             deny: Callable[[Path], Path],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy(files["run"], tmp_path / "run")
    deny(run / name)
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(files["scene"]),
                            "--out", str(tmp_path / "m.tif"), "--quiet")
    assert_one_error_line(code, err, f"{run / name}: cannot be read (Permission denied); check its permissions")
    assert "No such file" not in err and "retrain" not in err
    (run / name).chmod(0o644)
