"""Denoising task: short training improves PSNR, windowed == one-shot, streaming, bad inputs."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import Affine, from_origin

from hsi_app.checkpoint import RunConfig, load_config, save_run
from hsi_app.errors import BandMismatchError, ConfigError, HSIWarning, InvalidDataError, ModelLoadError
from hsi_app.io import open_cube
from hsi_app.io.cog import write_cube
from hsi_app.io.cube import Cube, make_cube
from hsi_app.models import create_model
from hsi_app.tasks.denoise_metrics import restoration_metrics
from hsi_app.tasks.denoise_fill import sample_stride, scene_band_medians
from hsi_app.tasks.denoise_scene import denoise_cube
from hsi_app.tasks.denoising import DenoiseOptions, Denoiser, train_denoiser

WL = np.linspace(450.0, 900.0, 8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def smooth_cube(c: int = 8, h: int = 32, w: int = 40, seed: int = 0) -> np.ndarray:
    """Low-rank, spatially smooth (C, H, W) reflectance-like values (1000-5000)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 7.0
    abund = np.stack([np.sin(yy) + 1.5, np.cos(xx) + 1.5, np.sin(xx + yy) + 1.5])
    ends = rng.uniform(0.2, 1.0, size=(c, 3))
    return (1000 * np.einsum("ck,khw->chw", ends, abund)).astype(np.float32)


def untrained_run(tmp: Path, c: int = 8, offset: float = 1000.0, scale: float = 4000.0, model: str = "test_hsdt") -> Path:
    """A denoise run folder holding a randomly initialised ``model`` (fast, deterministic)."""
    torch.manual_seed(0)
    net = create_model(model, in_chans=c, num_classes=1)
    cfg = RunConfig(task="denoise", model_name=model, model_args={}, in_chans=c, num_classes=1, class_names=[],
                    wavelengths=[float(v) for v in WL[:c]], fwhm=[None] * c, band_indices=list(range(c)), source_bands=c,
                    mean=[offset] * c, std=[scale] * c, receptive_radius=int(net.receptive_radius),
                    extra={"normalisation": {"kind": "global-minmax", "offset": offset, "scale": scale}})
    return save_run(tmp / "run", cfg, dict(net.state_dict()))


def geotiff(path: Path, data: np.ndarray, wl: np.ndarray = WL) -> Path:
    """Write ``data`` as a georeferenced float32 COG with wavelengths."""
    cube = make_cube(data, wavelength=wl, crs="EPSG:32616", transform=from_origin(500000, 4500000, 20, 20))
    write_cube(path, cube)
    return path


@pytest.mark.parametrize(("model", "model_args"), [("test_hsdt", {}), ("test_hsdt_subspace", {"basis": "train"})])
def test_short_training_improves_psnr(tmp_path: Path, model: str, model_args: dict[str, str]) -> None:
    cube = make_cube(smooth_cube(), wavelength=WL)
    opts = DenoiseOptions(model=model, noise="gaussian:50", epochs=2, steps_per_epoch=6, batch_size=4,
                          patch=16, band_chunk=0, lr=1e-2, progress=False, threads=1, model_args=model_args)
    m = train_denoiser(cube, tmp_path / "run", opts)
    assert m["denoised"]["psnr"] > m["noisy"]["psnr"] + 1.0
    assert m["denoised"]["sam"] < m["noisy"]["sam"]
    assert m["noisy"]["psnr"] == pytest.approx(20 * np.log10(255 / 50) - 20 * np.log10(1.0), abs=0.6)
    assert set(m["baselines"]) == {"pca", "mnf", "gaussian", "median", "subspace_gaussian"}
    assert m["heldout"]["cols"] == [26, 40]  # right third, start a multiple of the model's stride
    cfg = load_config(tmp_path / "run")
    assert cfg.task == "denoise" and cfg.split["test_cols"] == [26, 40]
    assert cfg.extra["normalisation"]["offset"] == pytest.approx(float(smooth_cube()[:, :, :26].min()))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["denoised"] == m["denoised"]
    if model_args:  # the stored basis is the training region's, on the normalised scale, and survives loading
        norm = (smooth_cube()[:, :, :26] - cfg.extra["normalisation"]["offset"]) / cfg.extra["normalisation"]["scale"]
        den = Denoiser.load(tmp_path / "run", device="cpu")
        np.testing.assert_allclose(den.model.train_mean.numpy(), norm.reshape(8, -1).mean(1), atol=1e-5)


def test_warm_start_begins_from_the_earlier_run(tmp_path: Path) -> None:
    start = untrained_run(tmp_path)
    before = {k: v.clone() for k, v in Denoiser.load(start, device="cpu").model.state_dict().items()}
    cube = make_cube(smooth_cube(), wavelength=WL)
    opts = DenoiseOptions(model="test_hsdt", noise="gaussian:50", epochs=1, steps_per_epoch=1, batch_size=1, patch=16,
                          band_chunk=0, lr=1e-12, seed=5, progress=False, threads=1, baselines=False, init=str(start))
    train_denoiser(cube, tmp_path / "warm", opts)
    warm = Denoiser.load(tmp_path / "warm", device="cpu").model.state_dict()
    for k, v in before.items():  # one step at lr 1e-12 cannot move weights: they are the earlier run's
        torch.testing.assert_close(warm[k], v, atol=1e-6, rtol=0)
    assert load_config(tmp_path / "warm").extra["init"] == str(start.resolve())
    train_denoiser(cube, tmp_path / "cold", DenoiseOptions(**{**opts.__dict__, "init": None}))
    cold = Denoiser.load(tmp_path / "cold", device="cpu").model.state_dict()
    assert any(not torch.allclose(cold[k], v) for k, v in before.items())  # seed 5 draws other weights


def test_warm_start_from_another_model_is_refused(tmp_path: Path) -> None:
    start = untrained_run(tmp_path)
    opts = DenoiseOptions(model="test_hsdt", model_args={"channels": 6}, epochs=1, steps_per_epoch=1, progress=False,
                          init=str(start))
    with pytest.raises(ModelLoadError, match="cannot initialise test_hsdt") as info:
        train_denoiser(make_cube(smooth_cube(), wavelength=WL), tmp_path / "bad", opts)
    assert "  " not in str(info.value) and " ;" not in str(info.value)
    assert not (tmp_path / "bad" / "model.safetensors").exists()


@pytest.mark.parametrize("tta", [False, True])
@pytest.mark.parametrize("model", ["test_hsdt", "test_hsdt_subspace"])
def test_windowed_equals_one_shot(tmp_path: Path, model: str, tta: bool) -> None:
    # the subspace model's one-shot pass estimates its basis from the whole input; windows share that basis;
    # with test-time augmentation each window is padded to the stride first, so every view stays grid-aligned
    den = Denoiser.load(untrained_run(tmp_path, model=model), device="cpu", tta=tta)
    x = np.random.default_rng(1).random((8, 57, 61), dtype=np.float32)
    one = den.denoise_normalised(x)
    win = den.denoise_windows(x, window=den.field + 3)  # 4 windows, rounded to the stride
    np.testing.assert_allclose(win, one, atol=1e-5)


def test_window_smaller_than_receptive_field(tmp_path: Path) -> None:
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    with pytest.raises(ConfigError, match="receptive field"):
        den.denoise_windows(np.zeros((8, 80, 80), np.float32), window=16)


@pytest.mark.parametrize(("radius", "multiple", "halo"), [(58, 4, 60), (24, 2, 24), (5, 4, 8), (3, 1, 3)])
def test_halo_is_the_radius_rounded_up_to_the_spatial_multiple(radius: int, multiple: int, halo: int) -> None:
    """The halo covers the whole receptive radius and keeps windows on the model's stride (hsdt: 58, 4 -> 60)."""
    config = SimpleNamespace(extra={"normalisation": {"offset": 0.0, "scale": 1.0}}, mean=[0.0], std=[1.0],
                             receptive_radius=radius)
    den = Denoiser(config, SimpleNamespace(spatial_multiple=multiple))
    assert (den.halo, den.multiple) == (halo, multiple)


@pytest.mark.parametrize("model", ["test_hsdt", "test_hsdt_subspace"])
def test_streamed_cube_keeps_georeference_and_matches_one_shot(tmp_path: Path, model: str) -> None:
    run = untrained_run(tmp_path, model=model)
    clean = smooth_cube(h=56, w=60)
    src = geotiff(tmp_path / "clean.tif", clean)
    den = Denoiser.load(run, device="cpu")
    res = denoise_cube(den, open_cube(src), tmp_path / "den.tif", window=52, reference=open_cube(src),
                       noise="gaussian:30", seed=3, progress=False)
    assert res.windows == 4
    with rasterio.open(src) as a, rasterio.open(tmp_path / "den.tif") as b:
        assert b.crs == a.crs and b.transform == a.transform and b.dtypes[0] == "float32" and b.count == 8
        out = b.read()
    np.testing.assert_allclose(open_cube(tmp_path / "den.tif").hsi.wavelengths, WL, rtol=1e-5)
    # same noise and model in one window
    res1 = denoise_cube(den, open_cube(src), tmp_path / "one.tif", window=512, noise="gaussian:30", seed=3, progress=False)
    assert res1.windows == 1
    with rasterio.open(tmp_path / "one.tif") as c:
        np.testing.assert_allclose(out, c.read(), rtol=1e-5, atol=1e-2)
    # the input metrics are those of the noisy cube against the clean one
    from hsi_app.data.noise import add_noise

    norm = (clean - den.offset) / den.scale
    expected = restoration_metrics(add_noise(norm, "gaussian:30", 3), norm, offset=den.offset, scale=den.scale)
    assert res.metrics is not None
    assert res.metrics["input"]["psnr"] == pytest.approx(expected["psnr"], abs=1e-3)
    assert res.metrics["input"]["sam"] == pytest.approx(expected["sam"], rel=1e-3)


def test_nan_input_is_refused_or_filled(tmp_path: Path) -> None:
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    data = smooth_cube()
    data[2, 5, 7] = np.nan
    src = geotiff(tmp_path / "nan.tif", data)
    with pytest.raises(InvalidDataError, match=r"nan\.tif: NaN.*band 3, row 5, col 7.*--fill-nan"):
        denoise_cube(den, open_cube(src), tmp_path / "a.tif", progress=False)
    assert not (tmp_path / "a.tif").exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = denoise_cube(den, open_cube(src), tmp_path / "b.tif", fill_nan=True, progress=False)
    assert res.filled == 1 and any(issubclass(w.category, HSIWarning) for w in caught)
    with rasterio.open(tmp_path / "b.tif") as ds:
        out = ds.read()
    assert np.isnan(out[2, 5, 7]) and np.isfinite(np.delete(out.ravel(), 2 * 32 * 40 + 5 * 40 + 7)).all()


def test_a_scene_in_other_units_is_refused(tmp_path: Path) -> None:
    """Reflectance 0-1 through a model trained on counts 1000-5000: refused, not mapped onto the counts' scale."""
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    reflectance = geotiff(tmp_path / "refl.tif", smooth_cube() / 10_000)
    with pytest.raises(InvalidDataError, match=r"refl\.tif: values 0\.\d+ to 0\.\d+ .* trained on 1000 to 5000, so the "
                                               r"scene is in other units; .*hsi train --task denoise"):
        denoise_cube(den, open_cube(reflectance), tmp_path / "r.tif", progress=False)
    assert not (tmp_path / "r.tif").exists()
    scaled = geotiff(tmp_path / "x1000.tif", smooth_cube() * 1000)  # 1e6-5e6: a thousand times wider
    with pytest.raises(InvalidDataError, match="other units"):
        denoise_cube(den, open_cube(scaled), tmp_path / "s.tif", progress=False)
    darker = geotiff(tmp_path / "dark.tif", smooth_cube() / 5)  # same units, a darker scene: denoised
    assert denoise_cube(den, open_cube(darker), tmp_path / "d.tif", progress=False).filled == 0


def _masked_geotiff(path: Path, data: np.ndarray, hidden: np.ndarray) -> Path:
    """``data`` as a GeoTIFF (no nodata value) whose GDAL internal mask hides ``hidden`` ``(H, W)``."""
    geotiff(path, data)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        ds.write_mask(np.where(hidden, 0, 255).astype(np.uint8))
    return path


def test_internal_mask_is_no_data_like_nan_values(tmp_path: Path) -> None:
    """Pixels hidden by a GeoTIFF's internal mask are refused or filled as NaN pixels, NaN in every output band."""
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    data = smooth_cube()
    hidden = np.zeros((32, 40), bool)
    hidden[10:14, 10:14] = True  # 16 px, real values underneath
    src = _masked_geotiff(tmp_path / "masked.tif", data, hidden)
    assert not np.isnan(rasterio.open(src).read()).any()
    with pytest.raises(InvalidDataError, match=r"masked\.tif: NaN, no-data or masked \(GDAL mask.*band 1, row 10, col 10.*--fill-nan"):
        denoise_cube(den, open_cube(src), tmp_path / "a.tif", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HSIWarning)
        res = denoise_cube(den, open_cube(src), tmp_path / "b.tif", fill_nan=True, progress=False)
        nan_data = np.where(hidden, np.nan, data).astype(np.float32)
        nan_src = geotiff(tmp_path / "nan.tif", nan_data)
        denoise_cube(den, open_cube(nan_src), tmp_path / "c.tif", fill_nan=True, progress=False)
    assert res.filled == 8 * 16
    with rasterio.open(tmp_path / "b.tif") as b, rasterio.open(tmp_path / "c.tif") as c:
        out = b.read()
        np.testing.assert_array_equal(out, c.read())  # exactly as if those pixels were NaN
    np.testing.assert_array_equal(np.isnan(out), np.broadcast_to(hidden, out.shape))
    np.testing.assert_array_equal(np.asarray(open_cube(tmp_path / "b.tif").hsi.valid), ~hidden)


def test_masked_reference_pixels_are_not_scored(tmp_path: Path) -> None:
    """A reference's internal mask excludes its pixels from the scores, like NaN values there."""
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    clean = smooth_cube()
    hidden = np.zeros((32, 40), bool)
    hidden[3:9, 20:30] = True
    src = geotiff(tmp_path / "in.tif", clean)
    masked = _masked_geotiff(tmp_path / "ref_masked.tif", clean, hidden)
    nan_ref = geotiff(tmp_path / "ref_nan.tif", np.where(hidden, np.nan, clean).astype(np.float32))
    kw = {"noise": "gaussian:30", "seed": 1, "progress": False}
    a = denoise_cube(den, open_cube(src), tmp_path / "a.tif", reference=open_cube(masked), **kw)
    b = denoise_cube(den, open_cube(src), tmp_path / "b.tif", reference=open_cube(nan_ref), **kw)
    full = denoise_cube(den, open_cube(src), tmp_path / "c.tif", reference=open_cube(src), **kw)
    assert a.metrics == b.metrics
    assert a.metrics is not None and full.metrics is not None
    assert a.metrics["input"]["psnr"] != pytest.approx(full.metrics["input"]["psnr"], abs=1e-6)


def test_bad_reference(tmp_path: Path) -> None:
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    src = open_cube(geotiff(tmp_path / "in.tif", smooth_cube()))
    small = open_cube(geotiff(tmp_path / "small.tif", smooth_cube(h=30)))
    fewer = open_cube(geotiff(tmp_path / "fewer.tif", smooth_cube(c=6), WL[:6]))
    shifted = open_cube(geotiff(tmp_path / "shifted.tif", smooth_cube(), WL + 10))
    with pytest.raises(InvalidDataError, match=r"small\.tif: reference is 30 x 40 px"):
        denoise_cube(den, src, tmp_path / "o.tif", reference=small, progress=False)
    with pytest.raises(BandMismatchError, match=r"fewer\.tif: reference has 6 bands"):
        denoise_cube(den, src, tmp_path / "o.tif", reference=fewer, progress=False)
    with pytest.raises(BandMismatchError, match=r"shifted\.tif: band 1 is at 460\.0 nm"):
        denoise_cube(den, src, tmp_path / "o.tif", reference=shifted, progress=False)


def _georef(path: Path, data: np.ndarray, crs: str, transform: Affine) -> Cube:
    """``data`` written as a COG on ``crs`` / ``transform`` and opened again."""
    write_cube(path, make_cube(data, wavelength=WL, crs=crs, transform=transform))
    return open_cube(path)


def test_reference_on_another_map_grid_is_refused(tmp_path: Path) -> None:
    """Same size and bands but another place, pixel size or CRS: one line naming both files; float noise passes."""
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    data = smooth_cube()
    src = open_cube(geotiff(tmp_path / "in.tif", data))  # EPSG:32616, origin (500000, 4500000), 20 m
    bad = {
        "far": ("EPSG:32616", from_origin(510000, 4500000, 20, 20), r"\(origin 510000, 4500000; .*\(origin 500000, 4500000; .*500 px apart"),
        "half_px": ("EPSG:32616", from_origin(500010, 4500000, 20, 20), r"0\.5 px apart"),
        "finer": ("EPSG:32616", from_origin(500000, 4500000, 10, 10), r"pixel 10 x -10\).*pixel 20 x -20"),
        "other_crs": ("EPSG:32617", from_origin(500000, 4500000, 20, 20), r"reference is in EPSG:32617 but the input .* is in EPSG:32616"),
    }
    for name, (crs, transform, detail) in bad.items():
        ref = _georef(tmp_path / f"{name}.tif", data, crs, transform)
        with pytest.raises(InvalidDataError) as err:
            denoise_cube(den, src, tmp_path / "o.tif", reference=ref, progress=False)
        msg = str(err.value)
        assert msg.startswith(f"{tmp_path / name}.tif: ") and f"input {tmp_path / 'in.tif'}" in msg, msg
        assert msg.endswith("; pass a reference on the input's grid") and "\n" not in msg, msg
        assert re.search(detail, msg), msg
        assert not (tmp_path / "o.tif").exists()
    noisy = _georef(tmp_path / "noise.tif", data, "EPSG:32616", from_origin(500000.0001, 4499999.9999, 20.000001, 20))
    res = denoise_cube(den, src, tmp_path / "o.tif", reference=noisy, progress=False)
    assert res.metrics is not None and res.metrics["input"]["psnr"] == float("inf")
    plain = make_cube(data, wavelength=WL, source="plain.npy")  # no CRS: not compared, and a warning says so
    with pytest.warns(HSIWarning, match=r"plain.npy: the reference has no CRS, so the grids cannot be compared"):
        res = denoise_cube(den, src, tmp_path / "o.tif", reference=plain, progress=False)
    assert res.metrics is not None and res.metrics["input"]["psnr"] == float("inf")


def test_training_basis_model_refuses_other_band_sets(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = create_model("test_hsdt_subspace", in_chans=8, num_classes=1, basis="train")
    net.fit_training_subspace((smooth_cube() - 1000.0) / 4000.0)
    cfg = RunConfig(task="denoise", model_name="test_hsdt_subspace", model_args={"basis": "train"}, in_chans=8,
                    num_classes=1, class_names=[], wavelengths=[float(v) for v in WL], fwhm=[None] * 8,
                    band_indices=list(range(8)), source_bands=8, mean=[1000.0] * 8, std=[4000.0] * 8,
                    receptive_radius=int(net.receptive_radius),
                    extra={"normalisation": {"kind": "global-minmax", "offset": 1000.0, "scale": 4000.0}})
    den = Denoiser.load(save_run(tmp_path / "run", cfg, dict(net.state_dict())), device="cpu")
    assert den.fixed_bands == 8 and not den.needs_subspace
    fewer = open_cube(geotiff(tmp_path / "fewer.tif", smooth_cube(c=6), WL[:6]))
    with pytest.raises(BandMismatchError, match=r"fewer\.tif: 6 good bands, but test_hsdt_subspace was trained on 8"):
        denoise_cube(den, fewer, tmp_path / "o.tif", progress=False)
    assert not (tmp_path / "o.tif").exists()
    res = denoise_cube(den, open_cube(geotiff(tmp_path / "in.tif", smooth_cube())), tmp_path / "o.tif", progress=False)
    assert res.bands == 8


def test_fill_nan_output_does_not_depend_on_the_window(tmp_path: Path) -> None:
    """No-data is filled with one scene-wide median per band, so 4 windows give the one-shot result."""
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    data = smooth_cube(h=56, w=60)
    data[:, 40:56, 0:20] = np.nan  # a no-data block in one window's corner
    src = geotiff(tmp_path / "hole.tif", data)
    outs = []
    for window in (52, 512):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HSIWarning)
            res = denoise_cube(den, open_cube(src), tmp_path / f"w{window}.tif", window=window, fill_nan=True,
                               progress=False)
        assert res.filled == 8 * 16 * 20
        with rasterio.open(tmp_path / f"w{window}.tif") as ds:
            outs.append(ds.read())
    assert res.windows == 1
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-2)
    # independently: fill each band with np.nanmedian over the whole scene, denoise in one pass
    norm = (data - den.offset) / den.scale
    filled = np.where(np.isnan(norm), np.nanmedian(norm, axis=(1, 2), keepdims=True), norm).astype(np.float32)
    expected = den.denoise_normalised(filled) * den.scale + den.offset
    expected[np.isnan(data)] = np.nan
    np.testing.assert_allclose(outs[0], expected, rtol=1e-5, atol=1e-2)


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")
def test_fill_value_sample_is_a_regular_grid_on_large_scenes() -> None:
    """Past the cap the median is taken over every s-th row and column of the scene, whatever the window."""
    rng = np.random.default_rng(0)
    scene = rng.random((3, 50, 70), dtype=np.float32)
    scene[1, :20, :] = np.nan
    scene[2] = np.nan  # a band with no valid value falls back to 0

    def read(r: int, c: int, hh: int, ww: int) -> np.ndarray:
        return scene[:, r:r + hh, c:c + ww]

    assert sample_stride(50, 70, cap=100) == 7  # ceil(50/7) * ceil(70/7) = 8 * 10 = 80 <= 100; s = 6 gives 108
    expected = np.nan_to_num(np.nanmedian(scene[:, ::7, ::7].reshape(3, -1), axis=1))
    for window in (9, 16, 64):
        np.testing.assert_array_equal(scene_band_medians(read, 50, 70, window, cap=100), expected)
    whole = np.nanmedian(scene[:2].reshape(2, -1), axis=1)
    np.testing.assert_array_equal(scene_band_medians(read, 50, 70, 16)[:2], whole)


def test_messages_about_a_cube_made_in_memory_name_it_by_its_role(tmp_path: Path) -> None:
    """make_cube's source is "": refusals began ": every band is flagged bad" (denoise_cube) or ": 1 good band(s)"
    (train_denoiser), and a reference's with ": reference is ...". They name the input, the reference, or the
    file a cube was opened from (scene_name)."""
    from hsi_app.io.cube import scene_name

    data = smooth_cube()[:8]
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    allbad = make_cube(data, wavelength=WL[:8], bad_bands=list(range(8)))
    with pytest.raises(InvalidDataError, match=r"^input: every band is flagged bad; nothing to denoise"):
        denoise_cube(den, allbad, tmp_path / "a.tif", progress=False)
    small = make_cube(data[:, :-4], wavelength=WL[:8])
    with pytest.raises(InvalidDataError, match=r"^reference: reference is \d+ x \d+ px but the input is"):
        denoise_cube(den, make_cube(data, wavelength=WL[:8]), tmp_path / "b.tif", reference=small, progress=False)
    one_band = make_cube(data, wavelength=WL[:8], bad_bands=list(range(1, 8)))
    with pytest.raises(InvalidDataError, match=r"^input: 1 good band\(s\); spectral denoising needs at least 2"):
        train_denoiser(one_band, tmp_path / "run1", DenoiseOptions(model="test_hsdt", epochs=1))
    src = geotiff(tmp_path / "scene.tif", data, WL[:8])
    assert scene_name(open_cube(src), "reference") == str(src) and scene_name(small, "reference") == "reference"
