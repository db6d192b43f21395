"""Band centres from GeoTIFF band descriptions, in the spellings exporters write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app.io.open import open_cube


def described(path: Path, descriptions: list[str]) -> Path:
    c = len(descriptions)
    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=c, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000.0, 4100000.0, 30.0, 30.0)) as ds:
        ds.write(np.ones((c, 3, 4), np.uint16))
        for i, d in enumerate(descriptions):
            ds.set_band_description(i + 1, d)
    return path


@pytest.mark.parametrize(
    ("template", "scale"),
    [("Band_{n}_{v:.1f}_nm", 1.0), ("Band_{n}_{v:.1f}_nm_reflectance", 1.0), ("{v:g} nanometres", 1.0),
     ("{v:g} nanometre", 1.0), ("band {n} ({v:.3f} micrometres)", 1e-3), ("B{n}_{v:g}nm", 1.0),
     ("Band {n} ({v:.1f} nm)", 1.0)],
)
def test_wavelengths_from_descriptions(tmp_path: Path, template: str, scale: float) -> None:
    """'Band_1_450.0_nm' (underscore before the unit) and British 'nanometres' gave NaN."""
    nm = [450.0, 550.0, 650.0]
    path = described(tmp_path / "d.tif", [template.format(n=i + 1, v=v * scale) for i, v in enumerate(nm)])
    np.testing.assert_allclose(open_cube(path).hsi.wavelengths, nm)


def test_a_unit_glued_to_a_word_is_not_a_unit(tmp_path: Path) -> None:
    path = described(tmp_path / "w.tif", ["450 nmol", "550 nmol", "650 nmol"])
    assert np.isnan(open_cube(path).hsi.wavelengths).all()
