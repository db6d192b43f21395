"""``hsi denoise`` reads: windows read only themselves (same output), and a reference in other units is refused.

A window of a lazy cube whose valid mask is what its values say (``cube.hsi.valid_from_values``,
:mod:`hsi_app.io.derived_valid`) computes its values alone: every window (prepare, the subspace pass,
the adaptation crops, the units sample, the fill medians, the reference) reads its own pixels, not the
whole storage chunks it touches, and the output is bit-identical to the old reading.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.io
from rasterio.transform import from_origin

import hsi_app.tasks.denoise_scene as ds
from hsi_app.cli.main import main
from hsi_app.errors import InvalidDataError
from hsi_app.io import open_cube
from hsi_app.io.cube import Cube
from hsi_app.tasks.denoise_scene import denoise_cube, scene_baselines
from hsi_app.tasks.denoising import Denoiser
from tests.denoise_old_read import old_read
from tests.tasks.test_denoising import WL, smooth_cube, untrained_run
from tests.rasterio_reads import pixels_read

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.filterwarnings("ignore:.*NaN/no-data values were filled:hsi_app.errors.HSIWarning")]

NODATA = -32768


def _int16_tif(path: Path, data: np.ndarray, *, scale: float | None = None, block: int = 16) -> Path:
    """``data`` as an int16 GeoTIFF tiled ``block`` px, no-data -32768, wavelengths per band (and a GDAL scale)."""
    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype="int16", nodata=NODATA,
                       tiled=True, blockxsize=block, blockysize=block, crs="EPSG:32616",
                       transform=from_origin(500000, 4500000, 20, 20)) as dst:
        dst.write(data.astype(np.int16))
        for b in range(c):
            dst.update_tags(b + 1, wavelength=str(WL[b]))
        if scale is not None:
            dst.scales = [scale] * c
    return path


def _scene(h: int = 100, w: int = 110, *, holes: bool = True) -> np.ndarray:
    """``(8, h, w)`` counts 1000-5000 with an all-band and a one-band no-data block."""
    data = np.rint(smooth_cube(h=h, w=w))
    if holes:
        data[:, 40:43, 10:14] = NODATA
        data[3, 20:22, 50:53] = NODATA
    return data


def _denoise(den: Denoiser, cube: Cube, reference: Cube, out: Path, **kw: object) -> dict:
    """Windows across chunk edges (50 px + a 24 px halo, 32-px chunks), seeded noise, filled no-data, scored."""
    res = denoise_cube(den, cube, out, window=50, reference=reference, noise="gaussian:30", seed=2, fill_nan=True,
                       progress=False, **kw)  # type: ignore[arg-type]
    return res.metrics or {}


def _run(den: Denoiser, src: Path, ref: Path, out: Path, **kw: object) -> tuple[np.ndarray, dict]:
    metrics = _denoise(den, open_cube(src, chunks=32), open_cube(ref, chunks=32), out, **kw)
    with rasterio.open(out) as f:
        return f.read(), metrics


@pytest.mark.parametrize(("model", "adapt"), [("test_hsdt", None), ("test_hsdt_subspace", 20.0)])
def test_denoise_output_is_bit_identical_to_the_old_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            model: str, adapt: float | None) -> None:
    """Tiled int16 with no-data blocks, 32-px chunks, windows across chunk edges, fill, noise, reference,
    the subspace pass and SURE crops: the same output values and scores as the old whole-chunk reading."""
    src = _int16_tif(tmp_path / "in.tif", _scene())
    ref = _int16_tif(tmp_path / "ref.tif", _scene(holes=False))
    assert open_cube(src, chunks=32).hsi.valid_from_values  # the new reading applies
    kw = {"adapt_sigma": adapt, "adapt_steps": 2} if adapt else {}
    new, new_m = _run(Denoiser.load(untrained_run(tmp_path / "a", model=model), device="cpu"), src, ref,
                      tmp_path / "new.tif", **kw)
    with monkeypatch.context() as m:
        m.setattr(ds, "_read", old_read)
        old, old_m = _run(Denoiser.load(untrained_run(tmp_path / "b", model=model), device="cpu"), src, ref,
                          tmp_path / "old.tif", **kw)
    assert np.isnan(new).any()  # the no-data entries stay NaN
    np.testing.assert_array_equal(new, old)  # NaN in the same entries on both sides
    assert new_m == old_m


def test_denoise_windows_read_only_their_own_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pixel rasterio reads is one a window asked for (the old reading decoded each 32-px chunk a
    window touched: 1.6 times as many here)."""
    src = _int16_tif(tmp_path / "in.tif", _scene())
    ref = _int16_tif(tmp_path / "ref.tif", _scene(holes=False))
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    asked: list[int] = []
    real = ds._read

    def counted(cube: Cube, r: int, c: int, h: int, w: int) -> np.ndarray:
        block = real(cube, r, c, h, w)
        asked.append(block.shape[1] * block.shape[2])  # cut at the scene's edge
        return block

    cube, reference = open_cube(src, chunks=32), open_cube(ref, chunks=32)  # opened (and probed) before counting
    monkeypatch.setattr(ds, "_read", counted)
    with pixels_read(monkeypatch) as seen:
        _denoise(den, cube, reference, tmp_path / "o.tif")
    assert len(asked) > 10 and sum(seen) == sum(asked), (sum(seen), sum(asked))
    with monkeypatch.context() as m, pixels_read(monkeypatch) as seen_old:  # the old reading, for the record
        m.setattr(ds, "_read", old_read)
        _denoise(den, cube, reference, tmp_path / "p.tif")
    assert sum(seen_old) > 1.5 * sum(seen), (sum(seen_old), sum(seen))


def test_a_reference_in_other_units_than_the_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An int16 x 10000 input against the same scene as 0-1 reflectance (int16 with GDAL scale 1e-4): one line
    naming the reference, both ranges, the factor and the fix, before anything is written or scored."""
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    src = _int16_tif(tmp_path / "counts.tif", _scene(holes=False))
    refl = _int16_tif(tmp_path / "refl.tif", _scene(holes=False), scale=1e-4)
    assert float(np.nanmax(open_cube(refl).values)) < 1  # read as reflectance
    pattern = (r"refl\.tif: reference values 0\.\d+ to 0\.\d+ \(1st-99th percentile\) but the input .*counts\.tif "
               r"holds \d+ to \d+, so the reference is in other units: its values are ~1/10,000 of the input's; "
               r"pass a reference in the input's units")
    with pytest.raises(InvalidDataError, match=pattern):
        denoise_cube(den, open_cube(src), tmp_path / "o.tif", reference=open_cube(refl), progress=False)
    assert not (tmp_path / "o.tif").exists()
    with pytest.raises(InvalidDataError, match=pattern):
        scene_baselines(open_cube(src), open_cube(refl), den, noise=None, seed=0)
    with pytest.raises(SystemExit) as exc:  # hsi denoise: one line, exit 2, nothing written
        main(["denoise", "--model", str(tmp_path / "run"), "--input", str(src), "--reference", str(refl),
              "--out", str(tmp_path / "c.tif"), "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(pattern, err[0]), err
    assert not (tmp_path / "c.tif").exists()
    same = _int16_tif(tmp_path / "same.tif", _scene(holes=False) // 2 + 500)  # same units, another scene: scored
    res = denoise_cube(den, open_cube(src), tmp_path / "s.tif", reference=open_cube(same), progress=False)
    assert res.metrics is not None


def _panel_scene() -> tuple[np.ndarray, np.ndarray]:
    """A reflectance scene (spectra 0.05-0.5) with a grey 0.3 panel, and a reference holding data on the panel only."""
    rng = np.random.default_rng(0)
    c, h, w = 8, 64, 64
    clean = rng.uniform(0.05, 0.5, (c, 1, 1)) * rng.uniform(0.5, 1.5, (1, h, w))
    ref = np.full_like(clean, np.nan)
    ref[:, 28:36, 28:36] = 0.3 + 0.0005 * rng.standard_normal((c, 8, 8))
    inp = clean.copy()
    inp[:, 28:36, 28:36] = ref[:, 28:36, 28:36] + rng.normal(0, 0.002, (c, 8, 8))
    return inp.astype(np.float32), ref.astype(np.float32)


def test_the_reference_units_check_compares_the_pixels_both_hold(tmp_path: Path) -> None:
    """A reference with data on part of the window is measured on those pixels of the input too (review 2 #4):
    the grey panel's 0.3 +- 0.001 is not ~1/300 of the whole window's 0.05-0.75."""
    from hsi_app.io.cube import make_cube

    inp, ref = _panel_scene()
    a, b = make_cube(inp, wavelength=WL), make_cube(ref, wavelength=WL)
    ds.check_reference_units(a, b, a.hsi.good_band_indices)
    # in other units on those pixels: refused
    with pytest.raises(InvalidDataError, match=r"holds 29\d\d to 30\d\d, so the reference is in other units"):
        ds.check_reference_units(make_cube(inp * 10000, wavelength=WL), b, a.hsi.good_band_indices)


def test_in_memory_scenes_are_named_by_their_role_in_unit_errors(tmp_path: Path) -> None:
    """make_cube's scenes have no source: the messages say "input" / "reference", not an empty name (review 2 #8)."""
    from hsi_app.io.cube import make_cube

    inp, _ = _panel_scene()
    a, b = make_cube(inp * 10000, wavelength=WL), make_cube(inp, wavelength=WL)
    with pytest.raises(InvalidDataError, match=r"^reference values [\d.]+ to [\d.]+ \(1st-99th percentile\) but the "
                                               r"input holds [\d.]+ to \d+, so the reference is in other units"):
        ds.check_reference_units(a, b, a.hsi.good_band_indices)
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")  # trained on counts 1000-5000
    with pytest.raises(InvalidDataError, match=r"^input: values 0\.\d+ to 0\.\d+ \(1st-99th percentile\) but test_hsdt"):
        ds.check_value_range(b, b.hsi.good_band_indices, den)


def test_hsi_denoise_with_baselines_checks_the_reference_units_once(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """denoise_cube checks the reference; scene_baselines does not read the two windows again (review 2 #9)."""
    untrained_run(tmp_path)
    src = _int16_tif(tmp_path / "counts.tif", _scene(holes=False))
    same = _int16_tif(tmp_path / "same.tif", _scene(holes=False) // 2 + 500)
    calls: list[object] = []
    checked = ds.check_reference_units
    monkeypatch.setattr(ds, "check_reference_units", lambda *a, **k: calls.append(a) or checked(*a, **k))
    main(["denoise", "--model", str(tmp_path / "run"), "--input", str(src), "--reference", str(same), "--baselines",
          "--out", str(tmp_path / "o.tif"), "--quiet"])
    assert len(calls) == 1
