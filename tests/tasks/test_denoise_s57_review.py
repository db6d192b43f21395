"""Session 57 review of the denoise fixes: fixed-band denoisers and empty bands, the reference's units sample on a
scene with no data in its centre, lazily indexed (non-dask) cubes, and ``hsi batch``'s second probe."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from hsi_app.errors import InvalidDataError
from hsi_app.io.cube import make_cube
from hsi_app.tasks.denoise_scene import denoise_cube
from hsi_app.tasks.denoising import Denoiser
from tests.tasks.test_denoise_subspace_bands import basis_run
from tests.tasks.test_denoising import WL, geotiff, smooth_cube, untrained_run


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def test_a_fixed_band_denoiser_fills_an_empty_band_with_fill_nan(tmp_path: Path) -> None:
    """``hsdt_subspace_train`` needs the training scene's 8 bands: flagging a band with no data anywhere left 7
    and refused the scene ("7 good bands, but ... trained on 8") that ``--fill-nan`` used to denoise. With the
    fill, the empty band must be given to the model as the fill's constant (the training minimum, normalised 0:
    the raw value ``offset``), and come back NaN."""
    den = Denoiser.load(basis_run(tmp_path), device="cpu")
    data = smooth_cube()
    data[3] = -9999.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = denoise_cube(den, make_cube(data.copy(), wavelength=WL, nodata=-9999.0), tmp_path / "a.tif",
                           fill_nan=True, progress=False)
    filled = data.copy()
    filled[3] = den.offset  # normalised to 0, the fill of a band without a valid value
    denoise_cube(den, make_cube(filled, wavelength=WL), tmp_path / "b.tif", progress=False)
    a, b = _read(tmp_path / "a.tif"), _read(tmp_path / "b.tif")
    assert got.bands == 8 and got.filled == data[3].size
    assert np.isnan(a[3]).all()
    np.testing.assert_array_equal(np.delete(a, 3, axis=0), np.delete(b, 3, axis=0))


def test_a_fixed_band_denoiser_names_the_empty_band_without_fill_nan(tmp_path: Path) -> None:
    """Without ``--fill-nan`` the refusal names the empty band and the fix, not a band count."""
    den = Denoiser.load(basis_run(tmp_path), device="cpu")
    data = smooth_cube()
    data[3] = -9999.0
    with pytest.raises(InvalidDataError, match=r"band 4 \(642\.9 nm\) holds no data at any pixel.*--fill-nan"):
        denoise_cube(den, make_cube(data, wavelength=WL, nodata=-9999.0), tmp_path / "a.tif", progress=False)
    assert not (tmp_path / "a.tif").exists()


def test_the_viewer_gives_a_fixed_band_denoiser_the_scene_as_read(tmp_path: Path) -> None:
    """The viewer flags a band with no data anywhere when it opens a scene (for its images), before it knows the
    denoiser: a fixed-band denoiser must still get all 8 bands, as ``denoise_cube`` on the scene as read with
    ``fill_nan`` (which the viewer passes) gives it."""
    from hsi_app import viewer
    from hsi_app.viewer import denoise as vdenoise

    data = smooth_cube()
    data[3] = -9999.0
    cube = make_cube(data.copy(), wavelength=WL, nodata=-9999.0, source=str(tmp_path / "synthetic"))
    den = Denoiser.load(basis_run(tmp_path / "runs"), device="cpu")
    s = viewer.ViewerSession(config=viewer.ViewerConfig(runs_dir=tmp_path / "runs", models_dir=tmp_path / "none"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            viewer.session._set_cube(s, cube, "synthetic")
            assert s.cube is not None and s.cube.hsi.good_band_indices.size == 7  # flagged for the images
            view = vdenoise.denoise(s, "runs/run", cache=viewer.ModelCache())
            got = denoise_cube(den, cube, tmp_path / "b.tif", fill_nan=True, progress=False)
        assert got.bands == 8
        np.testing.assert_array_equal(_read(view.path), _read(tmp_path / "b.tif"))
    finally:
        s.close()


def test_the_viewer_shows_the_noisy_input_the_fixed_band_denoiser_was_given(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """With noise added, the tab's "noisy input" must be what the model denoised. The seeded noise depends on the
    good-band count: it was drawn on the session's flagged cube (7 good bands) while the model got the scene as
    read (8), so bands after the empty one showed noise other than the one denoised (off by up to ~3700)."""
    from hsi_app import viewer
    from hsi_app.viewer import denoise as vdenoise

    given: list[np.ndarray] = []
    forward = Denoiser.denoise_normalised
    monkeypatch.setattr(Denoiser, "denoise_normalised", lambda self, x: (given.append(x.copy()), forward(self, x))[1])
    data = smooth_cube()
    data[3] = -9999.0
    cube = make_cube(data.copy(), wavelength=WL, nodata=-9999.0, source=str(tmp_path / "synthetic"))
    basis_run(tmp_path / "runs")
    s = viewer.ViewerSession(config=viewer.ViewerConfig(runs_dir=tmp_path / "runs", models_dir=tmp_path / "none"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            viewer.session._set_cube(s, cube, "synthetic")
            vdenoise.denoise(s, "runs/run", noise="gaussian:50", seed=3, cache=viewer.ModelCache())
        (x,) = given  # one window: the whole 32 x 40 scene, normalised, filled and noised
        assert x.shape == data.shape
        shown_bands = np.array([0, 1, 2, 4, 5, 6, 7])  # the empty band 4 is flagged in the session, not drawn
        for row, col in [(0, 0), (5, 17), (31, 39), (20, 3)]:
            shown = s.extras["spectrum_extra"](row, col)["noisy input"]
            want = x[:, row, col].astype(np.float64) * 4000.0 + 1000.0  # the run's offset and scale
            np.testing.assert_allclose(shown[shown_bands], want[shown_bands], rtol=1e-5, atol=1e-2)
            assert np.abs(shown[shown_bands] - data[shown_bands, row, col]).max() > 1.0  # noise was added
    finally:
        s.close()


def test_a_reference_in_other_units_is_refused_when_the_centre_holds_no_data(tmp_path: Path) -> None:
    """The input's units sample falls back to windows spread over a scene with no data in its centre, but the
    reference was sampled at that empty centre only, so a reference in reflectance against counts passed and
    was scored (PSNR 2 dB) instead of refused as it is on a scene with data in its centre."""
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    data = smooth_cube(h=40, w=600)
    data[:, :, 120:480] = np.nan
    same = make_cube(data.copy(), wavelength=WL, source="/d/ref.tif")
    got = denoise_cube(den, make_cube(data.copy(), wavelength=WL), tmp_path / "ok.tif", reference=same,
                       fill_nan=True, progress=False)
    assert np.isfinite(got.metrics["denoised"]["psnr"])
    other = make_cube((data / 10000.0).astype(np.float32), wavelength=WL, source="/d/ref.tif")
    with pytest.raises(InvalidDataError, match=r"/d/ref\.tif: reference values .* so the reference is in other"):
        denoise_cube(den, make_cube(data.copy(), wavelength=WL), tmp_path / "o.tif", reference=other, fill_nan=True,
                     progress=False)
    assert not (tmp_path / "o.tif").exists()


def test_a_lazily_indexed_cube_is_not_loaded_whole(tmp_path: Path) -> None:
    """``xr.open_dataarray(path)`` (no dask): asking ``cube.data`` at every window loaded and kept the whole file."""
    import xarray as xr

    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    data = smooth_cube(h=300, w=300)
    coords = {"band": np.arange(1, 9), "wavelength": ("band", WL), "fwhm": ("band", np.full(8, np.nan)),
              "bad_band": ("band", np.zeros(8, bool))}
    xr.DataArray(data, dims=("band", "y", "x"), coords=coords).to_netcdf(tmp_path / "s.nc")
    with xr.open_dataarray(tmp_path / "s.nc") as cube:
        denoise_cube(den, cube, tmp_path / "o.tif", window=128, progress=False)
        assert not cube.variable._in_memory
    denoise_cube(den, make_cube(data, wavelength=WL), tmp_path / "m.tif", window=128, progress=False)
    np.testing.assert_array_equal(_read(tmp_path / "o.tif"), _read(tmp_path / "m.tif"))


def test_batch_scene_is_not_scanned_again_for_empty_bands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hsi batch`` looks for empty bands when it opens a scene; ``denoise_cube`` probed its own central window
    and, on a swath with no data in its centre, read the whole scene once more."""
    import hsi_app.io.empty_bands as eb
    from hsi_app.batch.run import cached_cube

    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    data = smooth_cube(h=64, w=900)
    data[:, :, 150:750] = np.nan
    cube = cached_cube(str(geotiff(tmp_path / "swath.tif", data)), "s", chunks=256)
    scans: list[tuple[int, ...]] = []
    real = eb.empty_bands
    monkeypatch.setattr(eb, "empty_bands", lambda c: scans.append(c.shape) or real(c))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        denoise_cube(den, cube, tmp_path / "o.tif", window=128, fill_nan=True, progress=False)
        assert scans == []
        denoise_cube(den, cube.hsi.window(0, 0, 64, 600), tmp_path / "c.tif", window=128, fill_nan=True,
                     progress=False)
    assert len(scans) == 1  # a crop of it is a scene of its own, looked at again
