"""Pixels made no data in Python after open are no data to every reader.

``cube.where(...)`` makes them NaN and ``cube.rio.clip(...)`` fills them with the no-data value
(moved to ``_FillValue``), while the ``valid`` coordinate made at open still calls them valid; a
cube that lost ``valid`` (``rio.reproject``) gets it from its data. The expected results are
those of a cube built with the same values from the start (``make_cube`` computes ``valid`` from
them), i.e. as if the scene had been read from a file holding those values.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy.ndimage import uniform_filter

from hsi_app.infer import predict_scene, read_window, iter_windows
from hsi_app.io import open_cube
from hsi_app.io.cog import write_cube
from hsi_app.io.cube import Cube, make_cube
from hsi_app.tasks.detection import detect_scene
from hsi_app.tasks.train_classifier import scene_in_memory

C, H, W = 6, 30, 40
NODATA = -9999
T = from_origin(500000.0, 4200000.0, 30.0, 30.0)
WL = np.linspace(450.0, 900.0, C)


def box_model(image: np.ndarray) -> np.ndarray:
    """A dense 'model' of receptive radius 1: ``(C, h, w)`` (NaN = no data) -> ``(3, h, w)`` softmax."""
    x = np.nan_to_num(image)
    s = uniform_filter(x, size=(1, 3, 3), mode="constant")
    logits = np.stack([s[0], s[1], s[2] - s[0]]) / 1000.0
    e = np.exp(logits - logits.max(axis=0))
    return (e / e.sum(axis=0)).astype(np.float32)


def _values(seed: int = 0) -> np.ndarray:
    """``(C, H, W)`` int16 values with a no-data corner."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 10000, (C, H, W)).astype(np.int16)
    data[:, :4, :5] = NODATA
    return data


@pytest.fixture()
def geo(tmp_path: Path) -> Cube:
    """An int16 GeoTIFF (nodata -9999, EPSG:32633, 30 m north-up) opened with open_cube."""
    path = tmp_path / "geo.tif"
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype="int16", crs="EPSG:32633",
                       transform=T, nodata=NODATA) as ds:
        ds.write(_values())
        for i, wl in enumerate(WL, start=1):
            ds.update_tags(i, wavelength=f"{wl:.2f}", wavelength_units="nm")
    return open_cube(path)


def _clip(cube: Cube) -> Cube:
    """``rio.clip`` to a rectangle: rows 5-24, cols 8-31 kept, the rest filled with the no-data value."""
    x0, y0 = 500000.0 + 8 * 30 + 1, 4200000.0 - 5 * 30 - 1
    x1, y1 = 500000.0 + 32 * 30 - 1, 4200000.0 - 25 * 30 + 1
    poly = {"type": "Polygon", "coordinates": [[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]]}
    clipped = cube.rio.clip([poly], crs=cube.rio.crs, drop=False)
    assert "nodata" not in clipped.attrs and clipped.attrs["_FillValue"] == NODATA  # rioxarray moved it
    return clipped


def _kept() -> np.ndarray:
    """``(H, W)`` bool: the pixels :func:`_clip` keeps that have data."""
    keep = np.zeros((H, W), bool)
    keep[5:25, 8:32] = True
    keep[:4, :5] = False
    return keep


def _as_read(cube: Cube, nodata: float | None) -> Cube:
    """A cube with ``cube``'s values whose ``valid`` is computed from them (as a reader would)."""
    return make_cube(np.asarray(cube.values), wavelength=cube.hsi.wavelengths, crs=cube.rio.crs,
                     transform=cube.hsi.transform, nodata=nodata)


def test_where_nan_pixels_are_no_data_to_predict_and_training(geo: Cube) -> None:
    keep = np.asarray(geo.coords["valid"].values).copy()
    keep[10:20, 10:30] = False  # a field the user masks out
    masked = geo.astype(np.float32).where(keep)
    assert bool(masked.coords["valid"].values[12, 12])  # the coordinate made at open is stale
    res = predict_scene(box_model, masked, num_classes=3, halo=1, window=16, keep_map=True, progress=False)
    expected = predict_scene(box_model, _as_read(masked, None), num_classes=3, halo=1, window=16, keep_map=True,
                             progress=False)
    np.testing.assert_array_equal(res.classes == 0, ~keep)
    np.testing.assert_array_equal(res.classes, expected.classes)
    assert res.class_counts[0] == (~keep).sum()
    image, bands, valid = scene_in_memory(masked)
    np.testing.assert_array_equal(valid, keep)
    assert np.isnan(image[:, ~keep]).all() and np.isfinite(image[:, keep]).all()


def test_clip_fill_is_no_data_to_rx_write_cube_and_windows(geo: Cube, tmp_path: Path) -> None:
    clip = _clip(geo)
    keep = _kept()
    assert np.asarray(clip.coords["valid"].values)[~keep].sum() > 400  # stale: the fill counts as data there
    got = detect_scene(clip, "rx").scores
    want = detect_scene(_as_read(clip, NODATA), "rx").scores
    np.testing.assert_array_equal(np.isfinite(got[0]), keep)
    np.testing.assert_allclose(got, want, rtol=1e-5, equal_nan=True)
    win = next(iter(iter_windows(H, W, 64, 0)))
    image, valid = read_window(clip, win)
    np.testing.assert_array_equal(valid, keep)
    write_cube(tmp_path / "clip.tif", clip)
    back = open_cube(tmp_path / "clip.tif")
    np.testing.assert_array_equal(np.asarray(back.hsi.valid.values), keep)
    np.testing.assert_array_equal(back.values[:, keep], clip.values[:, keep].astype(np.float32))
    assert clip.hsi.nodata == NODATA and geo.hsi.nodata == NODATA and back.hsi.nodata is None  # NaN: none


def test_clip_fill_is_no_data_to_denoise(geo: Cube, tmp_path: Path) -> None:
    from hsi_app.tasks.denoise_scene import denoise_cube

    den = _denoiser(tmp_path)
    clip = _clip(geo).astype(np.float32)
    nan = clip.where(clip != NODATA)  # the same pixels as NaN: the expected output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        denoise_cube(den, clip, tmp_path / "a.tif", fill_nan=True, progress=False)
        denoise_cube(den, nan, tmp_path / "b.tif", fill_nan=True, progress=False)
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        out = a.read()
        np.testing.assert_array_equal(out, b.read())
    np.testing.assert_array_equal(np.isnan(out).all(axis=0), ~_kept())


def test_reprojected_cube_gets_valid_from_its_data(geo: Cube, tmp_path: Path) -> None:
    """rio.reproject drops the 2-D coords: valid comes from the data (its fill is no data)."""
    rep = geo.rio.reproject("EPSG:4326")
    assert "valid" not in rep.coords
    values = np.asarray(rep.values)
    expected = (values != rep.rio.nodata).all(axis=0)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(np.asarray(rep.hsi.valid.values), expected)
    scores = detect_scene(rep, "rx").scores
    np.testing.assert_array_equal(np.isfinite(scores[0]), expected)
    write_cube(tmp_path / "rep.tif", rep)
    np.testing.assert_array_equal(np.asarray(open_cube(tmp_path / "rep.tif").hsi.valid.values), expected)
    flagged = rep.assign_coords(mask_cloud=(("y", "x"), np.zeros(expected.shape, bool)))
    np.testing.assert_array_equal(flagged.hsi.without_masked(["cloud"]).hsi.valid.values, expected)


def test_the_callers_float32_array_is_not_written() -> None:
    """A pixel invalid by the stored mask becomes NaN in the read, not in the caller's cube."""
    data = np.random.default_rng(1).random((C, H, W), dtype=np.float32)
    valid = np.ones((H, W), bool)
    valid[3, 4] = False
    cube = make_cube(data, valid=valid)
    before = data.copy()
    res = predict_scene(box_model, cube, num_classes=3, halo=1, window=16, keep_map=True, progress=False)
    assert res.classes[3, 4] == 0
    np.testing.assert_array_equal(data, before)


def test_unmasked_indian_pines_map_is_unchanged() -> None:
    """On a scene whose values were not changed, the map is that of the stored mask alone."""
    from hsi_app.ensemble import load_classifier

    cube = open_cube("indian_pines")
    pred = load_classifier([Path(__file__).parents[2] / "models" / "indian_pines_ssfcn_small"], device="cpu")
    res = predict_scene(pred.bind(cube), cube, num_classes=pred.num_classes, halo=pred.receptive_radius,
                        keep_map=True, progress=False)
    image = np.asarray(cube.values, dtype=np.float32)
    valid = np.asarray(cube.coords["valid"].values, dtype=bool)
    image[:, ~valid] = np.nan
    probs = pred.bind(cube)(image)
    expected = np.where(valid, probs.argmax(axis=0) + 1, 0)
    np.testing.assert_array_equal(res.classes, expected)


def _denoiser(tmp_path: Path):  # noqa: ANN202
    import torch

    from hsi_app.checkpoint import RunConfig, save_run
    from hsi_app.models import create_model
    from hsi_app.tasks.denoising import Denoiser

    torch.manual_seed(0)
    net = create_model("test_hsdt", in_chans=C, num_classes=1)
    cfg = RunConfig(task="denoise", model_name="test_hsdt", model_args={}, in_chans=C, num_classes=1, class_names=[],
                    wavelengths=[float(v) for v in WL], fwhm=[None] * C, band_indices=list(range(C)), source_bands=C,
                    mean=[0.0] * C, std=[10000.0] * C, receptive_radius=int(net.receptive_radius),
                    extra={"normalisation": {"kind": "global-minmax", "offset": 0.0, "scale": 10000.0}})
    return Denoiser.load(save_run(tmp_path / "run", cfg, dict(net.state_dict())), device="cpu")


def test_a_scene_with_no_data_at_all_is_refused_by_denoise_fill_nan_and_writes_nothing(tmp_path: Path) -> None:
    """With --fill-nan an all-no-data scene came out as an all-NaN COG counted as denoised (predict and detect
    refuse such a scene); it is refused and no output is left."""
    from hsi_app.errors import InvalidDataError
    from hsi_app.tasks.denoise_scene import denoise_cube

    den = _denoiser(tmp_path)
    empty = make_cube(np.full((C, H, W), NODATA, np.int16), wavelength=WL, nodata=NODATA, transform=T,
                      crs="EPSG:32633", source="empty.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InvalidDataError, match=r"^empty\.tif: every pixel is no-data"):
            denoise_cube(den, empty, tmp_path / "out.tif", fill_nan=True, progress=False)
        partial = make_cube(np.where(np.arange(W) < W - 1, NODATA, 500).astype(np.int16) * np.ones((C, H, 1), np.int16),
                            wavelength=WL, nodata=NODATA, transform=T, crs="EPSG:32633", source="edge.tif")
        denoise_cube(den, partial, tmp_path / "edge.tif", fill_nan=True, progress=False)  # one column of data
    assert not (tmp_path / "out.tif").exists() and [p.name for p in tmp_path.glob("out*")] == []
    with rasterio.open(tmp_path / "edge.tif") as ds:
        assert np.isfinite(ds.read()).any(axis=0).sum() == H


def test_an_unknown_mask_of_a_cube_made_in_python_names_it_input() -> None:
    """A cube made in memory has source '': the message began ': no quality mask 'cloud''."""
    from hsi_app.errors import ConfigError

    cube = make_cube(np.ones((3, 4, 4), np.float32), masks={"haze": np.zeros((4, 4), bool)})
    with pytest.raises(ConfigError) as info:
        cube.hsi.without_masked(["cloud"])
    assert str(info.value).startswith("input: no quality mask 'cloud'; its masks: haze"), str(info.value)


def test_an_all_no_data_scene_is_refused_before_any_window_is_denoised(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal came after denoising every window (and the subspace fit and adaptation before that): the whole
    scene's work, for nothing. A scene with one valid pixel is still denoised, window by window."""
    from hsi_app.errors import InvalidDataError
    from hsi_app.tasks.denoise_scene import denoise_cube

    den = _denoiser(tmp_path)
    calls: list[int] = []
    real = den.denoise_normalised
    monkeypatch.setattr(den, "denoise_normalised", lambda x: calls.append(1) or real(x))
    h, w = 50, 130  # wider than a window of the test model's 49-px receptive field: 3 windows
    data = np.full((C, h, w), NODATA, np.int16)
    empty = make_cube(data, wavelength=WL, nodata=NODATA, transform=T, crs="EPSG:32633", source="empty.tif")
    window = den.check_window(64, h, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InvalidDataError, match=r"^empty\.tif: every pixel is no-data"):
            denoise_cube(den, empty, tmp_path / "out.tif", fill_nan=True, progress=False, window=window)
        assert calls == [] and not (tmp_path / "out.tif").exists()
        data[:, h - 1, w - 1] = 500  # one valid pixel, in the last window
        one = make_cube(data, wavelength=WL, nodata=NODATA, transform=T, crs="EPSG:32633", source="one.tif")
        res = denoise_cube(den, one, tmp_path / "one.tif", fill_nan=True, progress=False, window=window)
    assert len(calls) == res.windows > 1
    with rasterio.open(tmp_path / "one.tif") as ds:
        assert np.isfinite(ds.read()).any(axis=0).sum() == 1
