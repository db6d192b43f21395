"""``hsi detect`` on a GeoTIFF whose valid mask is what its values say spends no pass on the mask.

The strip passes take each strip's mask from its own values (``cube.hsi.valid_from_values``) instead of
rows of a whole-scene mask computed first: the same scores and points, one read of the scene fewer. A
scene with too few valid pixels, or with bands that hold no data anywhere, is still refused or flagged
before any pass, as before.
"""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio

from hsi_app.errors import InvalidDataError
from hsi_app.io.cube import HSIAccessor, make_cube
from hsi_app.tasks import detect_stream
from hsi_app.tasks.detect_stream import streamed_local_rx, streamed_scores
from tests.cli_runner import assert_one_error_line, run_main
from tests.tif_writer import write_tif
from tests.valid_mask_calls import count_valid_mask_calls

C, H, W = 12, 30, 26
NODATA = -9999
WAVELENGTHS = np.linspace(450.0, 900.0, C)


def _scene(path: Path, *, empty_band: bool = False, valid_pixels: int | None = None) -> Path:
    """An int16 reflectance x 10000 scene with no-data holes, an anomaly, optionally an empty band or only
    ``valid_pixels`` valid pixels (in the first row)."""
    rng = np.random.default_rng(5)
    base = 3000 + 800 * np.sin(np.arange(C))[:, None, None]
    data = (base + rng.normal(0, 60, (C, H, W))).astype(np.int16)
    data[:, 0:3, 0:4] = NODATA
    data[4, 12, 9] = NODATA
    data[:, 20, 11] += 900  # an anomaly
    if empty_band:
        data[3] = NODATA
    if valid_pixels is not None:
        data[:, :, :] = NODATA
        data[:, 0, :valid_pixels] = 3000
    path = write_tif(path, data, WAVELENGTHS)
    with rasterio.open(path, "r+") as ds:
        ds.nodata = NODATA
    return path


def _detect(capsys: pytest.CaptureFixture[str], tmp: Path, name: str, *args: str) -> tuple[np.ndarray, str]:
    out = tmp / f"{name}.tif"
    code, _, err = run_main(capsys, "detect", *args, "--out", str(out), "--points", str(tmp / f"{name}.gpkg"),
                            "--quiet")
    assert code == 0, err
    with rasterio.open(out) as ds:
        return ds.read(), err


def _as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cube reads as before this change: its stored mask, computed once for the scene."""
    monkeypatch.setattr(HSIAccessor, "valid_from_values", property(lambda self: False))


@pytest.mark.parametrize("method", [["rx"], ["ace", "--target-pixel", "20,11"], ["cem", "--targets", "LIB"],
                                    ["rx-local", "--rx-window", "3,7"]])
def test_detect_spends_no_pass_on_the_mask_and_scores_as_before(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 method: list[str]) -> None:
    src = _scene(tmp_path / "s.tif")
    lib = tmp_path / "lib.csv"
    lib.write_text("wavelength,metal\n400,0.2\n700,0.5\n1000,0.3\n")
    args = ["--input", str(src), "--method", *[str(lib) if a == "LIB" else a for a in method]]
    calls = count_valid_mask_calls(monkeypatch)
    new, _ = _detect(capsys, tmp_path, "new", *args)
    assert calls == []  # no whole-scene mask pass
    with monkeypatch.context() as m:
        _as_before(m)
        old, _ = _detect(capsys, tmp_path, "old", *args)
    assert len(calls) == 1  # the old reading computed it once
    np.testing.assert_array_equal(new, old)  # bit for bit, NaN where no data
    assert np.isnan(new[:, 0, 0]).all() and np.isnan(new[:, 12, 9]).all() and np.isfinite(new[:, 20, 11]).all()


def test_too_few_valid_pixels_are_still_refused_before_any_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    src = _scene(tmp_path / "one.tif", valid_pixels=1)
    calls = count_valid_mask_calls(monkeypatch)
    code, _, err = run_main(capsys, "detect", "--input", str(src), "--method", "rx", "--out", str(tmp_path / "o.tif"))
    assert_one_error_line(code, err, "1 valid pixels")  # no progress bar of a pass before it
    assert calls == [1]


def test_an_empty_band_is_still_flagged_with_the_same_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    src = _scene(tmp_path / "e.tif", empty_band=True)
    new, err = _detect(capsys, tmp_path, "new", "--input", str(src), "--method", "rx")
    assert "band 4 (572.7 nm) holds no data at any pixel" in err
    with monkeypatch.context() as m:
        _as_before(m)
        old, err = _detect(capsys, tmp_path, "old", "--input", str(src), "--method", "rx")
    assert "band 4 (572.7 nm) holds no data at any pixel" in err
    np.testing.assert_array_equal(new, old)
    assert np.isfinite(new[0, 20, 11])


def _lazy(valid_pixels: int) -> object:
    data = np.full((C, H, W), float(NODATA), np.float32)
    data[:, 5, :valid_pixels] = 3000.0
    return make_cube(da.from_array(data, chunks=(C, 8, 8)), nodata=NODATA)


def test_lazy_scenes_without_a_shared_mask_refuse_too_few_valid_pixels_after_the_first_pass() -> None:
    cube = _lazy(1)
    assert cube.hsi.valid_from_values and detect_stream.shared_mask(cube) is None
    with pytest.raises(InvalidDataError, match="1 valid pixels"):
        streamed_scores("rx", cube)
    with pytest.raises(InvalidDataError, match="1 valid pixels"):
        streamed_local_rx(cube, (3, 7))
    with pytest.raises(InvalidDataError, match="1 valid pixels"):
        streamed_local_rx(cube.isel(y=slice(0, 8)), (3, 7))  # under 10 rows: scored in memory
