"""``hsi info`` on an int16 GeoTIFF with band scale/offset and a no-data value: its no-data counts follow the
reader's rule (a stored integer equal to the no-data value is no-data; a decoded value equal to it is a
measurement), as ``hsi predict``'s units sample and the reader's own mask do.

The scene is built so that the two possible rules disagree: no-data 0, scale 0.5, offset -250, so the stored
500 decodes to exactly 0.0 (a measurement) while the stored 0 (no-data) decodes to -250.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app.io.open import open_cube
from hsi_app.io.summary import summarize

C, H, W = 5, 24, 20
NODATA, SCALE, OFFSET = 0, 0.5, -250.0
DECODES_TO_ZERO = 500  # 500 * 0.5 - 250 == 0.0


def _stored() -> np.ndarray:
    """``(C, H, W)`` int16: values 100-900, the stored no-data in every band on 3 rows (a real fill), in band 2
    only on a block and in bands 4 and 5 on part of a row, and the value that decodes to 0.0 scattered."""
    rng = np.random.default_rng(58)
    v = rng.integers(100, 900, (C, H, W)).astype(np.int16)
    v[rng.random((C, H, W)) < 0.1] = DECODES_TO_ZERO
    v[:, 21:, :] = NODATA
    v[1, 2:6, 3:8] = NODATA
    v[3:5, 10, 0:12] = NODATA
    return v


def _write(path: Path, v: np.ndarray) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype="int16", nodata=NODATA,
                       crs="EPSG:32633", transform=from_origin(500000, 4100000, 30, 30)) as ds:
        ds.write(v)
        ds.scales = [SCALE] * C
        ds.offsets = [OFFSET] * C
    return path


def _expected(v: np.ndarray) -> tuple[int, int, dict[int, int]]:
    """``(valid pixels, pixels holding the stored no-data in only some bands, those per 1-based band)``, from the
    stored integers with numpy."""
    hit = v == NODATA
    partial = hit.any(0) & ~hit.all(0)
    per_band = {b + 1: int((hit[b] & partial).sum()) for b in range(C) if (hit[b] & partial).any()}
    return int((~hit.any(0)).sum()), int(partial.sum()), per_band


def test_info_counts_the_stored_integers_as_the_reader_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = _stored()
    path = _write(tmp_path / "scaled_int16.tif", v)
    valid, pixels, per_band = _expected(v)
    assert (v == DECODES_TO_ZERO).sum() > 100 and valid < H * W

    info = summarize(open_cube(path))
    assert info["valid_pixels"] == valid
    found = info["nodata_in_some_bands"]
    assert (found["pixels"], found["band_pixels"], found["nodata"]) == (pixels, per_band, float(NODATA))

    from hsi_app.cli.main import main

    assert main(["info", str(path), "--json"]) in (0, None)
    printed = json.loads(capsys.readouterr().out)
    assert printed["valid_pixels"] == valid and printed["nodata_in_some_bands"]["pixels"] == pixels


def test_reader_and_units_sample_agree_with_the_count(tmp_path: Path) -> None:
    """The reader's mask (what every run uses) and ``hsi predict``'s units sample give the same pixels."""
    from hsi_app.value_range import units_sample

    v = _stored()
    cube = open_cube(_write(tmp_path / "scaled_int16.tif", v))
    valid, pixels, per_band = _expected(v)
    values, mask = cube.hsi.read_masked()
    assert int(mask.sum()) == valid
    hit = v == NODATA
    np.testing.assert_array_equal(np.isnan(values), hit | ~mask[None])  # the decoded 0.0 stays a value
    assert (values[(v == DECODES_TO_ZERO) & mask[None]] == 0.0).all()
    found = units_sample(cube).partial  # the scene is smaller than one sample window: every pixel is looked at
    assert found is not None and found.pixels == pixels
    assert {b + 1: int(n) for b, n in enumerate(found.band_pixels) if n} == per_band
