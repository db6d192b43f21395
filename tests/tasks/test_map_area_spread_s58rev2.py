"""The warning that a projected map's corners do not keep area names the map file (review 2 of session 58, #7).

Every other line about a map starts with its file; this one started with the CRS, so among several maps (hsi batch,
a shell loop) it did not say which one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import Affine

GREENLAND = Affine(50000, 0, -650000, 0, -50000, -600000)  # 50 km pixels from 83° N down to 60° N


def _write(path: Path) -> None:
    from hsi_app.io.cog import write_class_map

    write_class_map(path, np.ones((56, 31), np.uint8), None, crs="EPSG:3413", transform=GREENLAND,
                    class_names=["unlabelled", "ice"])


@pytest.mark.parametrize("command", ["vectorize", "info", "evaluate"])
def test_the_corner_warning_names_the_map(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    from tests.cli_runner import run_main

    _write(tmp_path / "greenland.tif")
    args = {"vectorize": ["vectorize", "--map", str(tmp_path / "greenland.tif"), "--out", str(tmp_path / "p.gpkg")],
            "info": ["info", str(tmp_path / "greenland.tif")],
            "evaluate": ["evaluate", "--map", str(tmp_path / "greenland.tif"), "--reference",
                         str(tmp_path / "greenland.tif")]}[command]
    code, _, err = run_main(capsys, *args)
    assert code == 0, err
    lines = [line for line in err.splitlines() if "does not keep area across the map" in line]
    assert len(lines) == 1, err
    assert str(tmp_path / "greenland.tif") in lines[0]
