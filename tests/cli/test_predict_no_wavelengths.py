"""A scene without wavelengths is matched to a run trained with wavelengths by band position: the map is made,
with one warning naming the scene, the run's range and the fix (it could come from another sensor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import run_main
from tiny_runs import make_run

WL = np.array([450.0, 550.0, 650.0, 750.0, 850.0])


def _scene(path: Path, wavelengths: np.ndarray | None) -> Path:
    cube = np.random.default_rng(0).uniform(0.0, 1.0, size=(5, 12, 10)).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", height=12, width=10, count=5, dtype="float32", crs="EPSG:32616",
                       transform=from_origin(0.0, 0.0, 30.0, 30.0)) as ds:
        ds.write(cube)
        if wavelengths is not None:
            ds.update_tags(wavelength=",".join(str(w) for w in wavelengths), wavelength_units="nm")
    return path


def _warned(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("hsi: warning:")]


def test_a_scene_without_wavelengths_is_matched_by_position_with_a_warning(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run", in_chans=5, num_classes=3, wavelengths=WL)
    bare, tagged = _scene(tmp_path / "bare.tif", None), _scene(tmp_path / "tagged.tif", WL)
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(bare), "--out",
                            str(tmp_path / "bare_map.tif"), "--quiet")
    assert code == 0, err
    assert _warned(err) == [f"hsi: warning: {bare}: has no wavelengths, so its 5 bands are taken as the run's "
                            "(450-850 nm) by position; check that it comes from the same sensor, or add its "
                            "wavelengths to the file to have them checked"]
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(tagged), "--out",
                            str(tmp_path / "tagged_map.tif"), "--quiet")
    assert code == 0 and _warned(err) == [], err
    with rasterio.open(tmp_path / "bare_map.tif") as a, rasterio.open(tmp_path / "tagged_map.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))  # the same bands, matched by position
