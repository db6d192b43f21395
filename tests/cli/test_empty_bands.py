"""A band that is no-data (or NaN) at every pixel is flagged bad where no pixel is found valid, so info, train,
predict and detect work on the other bands (they refused the whole scene, blaming the nodata value or the labels).

The expectations come from the same scene written without that band (an 11-band file): the commands must give
what they give on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from cli_runner import assert_one_error_line, run_main
from synthetic_spectra import S2_WL, block_labels, four_materials
from rasterio.transform import from_origin

from hsi_app.io.cube import make_cube
from hsi_app.io.open import open_cube

WL = S2_WL
DEAD = 5  # 0-based: band 6, 740 nm
H = W = 32
NODATA = -9999.0


def _labels() -> np.ndarray:
    return block_labels()


def _scene() -> np.ndarray:
    """``(12, H, W)`` float32 reflectance: four materials in blocks, noise, a 4 x 4 no-data hole."""
    cube = four_materials().astype(np.float32)
    cube[:, 12:16, 20:24] = NODATA
    return cube


def _write(path: Path, data: np.ndarray, wl: list[int], nodata: float | None = NODATA, mask: bool = False) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=data.shape[0], dtype="float32",
                       nodata=nodata, crs="EPSG:32633", transform=from_origin(500000, 5000000, 10, 10)) as ds:
        ds.write(data)
        for i, w in enumerate(wl):
            ds.update_tags(i + 1, wavelength=str(w), wavelength_units="nm")
        if mask:
            ds.write_mask(np.full((H, W), 255, np.uint8))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("empty_bands")
    data = _scene()
    dead = data.copy()
    dead[DEAD] = NODATA
    nan = data.copy()
    nan[DEAD] = np.nan
    nan[nan == NODATA] = np.nan
    lab = d / "lab.tif"
    with rasterio.open(lab, "w", driver="GTiff", height=H, width=W, count=1, dtype="uint8", nodata=0,
                       crs="EPSG:32633", transform=from_origin(500000, 5000000, 10, 10)) as ds:
        ds.write(_labels()[None])
    envi = d / "envi.img"
    dead.astype("<f4").tofile(envi)  # BSQ
    (d / "envi.hdr").write_text(
        f"ENVI\nsamples = {W}\nlines = {H}\nbands = 12\nheader offset = 0\nfile type = ENVI Standard\n"
        "data type = 4\ninterleave = bsq\nbyte order = 0\ndata ignore value = -9999\nwavelength units = Nanometers\n"
        f"wavelength = {{{', '.join(str(w) for w in WL)}}}\n")
    return {"dir": d, "dead": _write(d / "dead.tif", dead, WL), "nan": _write(d / "nan.tif", nan, WL, nodata=None),
            "envi": d / "envi.hdr", "clean": _write(d / "clean.tif", np.delete(data, DEAD, 0), WL[:DEAD] + WL[DEAD + 1:]),
            "full": _write(d / "full.tif", data, WL), "masked": _write(d / "masked.tif", dead, WL, mask=True),
            "lab": lab}


def _warned(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("hsi: warning:")]


@pytest.mark.parametrize("name", ["dead", "nan", "envi"])
def test_info_flags_the_band_and_counts_the_other_bands(files: dict[str, Path], name: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "info", str(files[name]), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["bad_bands"] == [DEAD] and info["valid_fraction"] == pytest.approx(1 - 16 / (H * W))
    assert _warned(err) == [f"hsi: warning: {files[name]}: band 6 (740 nm) holds no data at any pixel (no-data or NaN "
                            "everywhere), so no pixel was valid; flagged bad, as a bad-band list would, and the other 11 "
                            "bands are used"]
    code, clean, _ = run_main(capsys, "info", str(files["clean"]), "--json")
    assert info["valid_fraction"] == json.loads(clean)["valid_fraction"]


def test_opening_stays_lazy_and_a_scene_with_data_is_not_scanned(files: dict[str, Path],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from hsi_app.io import empty_bands

    def no_scan(cube):  # noqa: ANN001, ANN202
        raise AssertionError("scanned a scene whose probe window has valid pixels")

    monkeypatch.setattr(empty_bands, "empty_bands", no_scan)
    cube = open_cube(files["full"])
    assert empty_bands.with_empty_bands_flagged(cube) is cube
    assert not isinstance(open_cube(files["dead"]).coords["valid"].data, np.ndarray)  # still a dask mask


def test_train_then_predict_on_the_same_file(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The run records the 11 bands it used; predict on the same file maps as a run on the 11-band file does."""
    d = files["dir"]
    code, _, err = run_main(capsys, "train", "--data", str(files["dead"]), "--labels", str(files["lab"]), "--model",
                            "svm", "--out", str(d / "run_dead"), "--quiet")
    assert code == 0, err
    on_hole = int((_labels()[12:16, 20:24] > 0).sum())  # labelled pixels in the 4 x 4 no-data hole
    band_line, split_line = _warned(err)  # the dead band, and the split's labelled pixels that have no data
    assert band_line.startswith(f"hsi: warning: {files['dead']}: band 6 (740 nm) holds no data at any pixel")
    assert on_hole > 0 and split_line == (
        f"hsi: warning: split random:0.1: {on_hole} labelled pixels lie on no-data and are not used")
    config = json.loads((d / "run_dead" / "config.json").read_text())
    assert config["band_indices"] == [i for i in range(12) if i != DEAD] and config["source_bands"] == 12
    assert config["wavelengths"] == [float(w) for i, w in enumerate(WL) if i != DEAD]
    code, _, err = run_main(capsys, "train", "--data", str(files["clean"]), "--labels", str(files["lab"]), "--model",
                            "svm", "--out", str(d / "run_clean"), "--quiet")
    assert code == 0, err
    dead_metrics = json.loads((d / "run_dead" / "metrics.json").read_text())
    clean_metrics = json.loads((d / "run_clean" / "metrics.json").read_text())
    assert dead_metrics["confusion_matrix"] == clean_metrics["confusion_matrix"]
    for run, scene, out in (("run_dead", "dead", "p_dead.tif"), ("run_clean", "clean", "p_clean.tif")):
        code, _, err = run_main(capsys, "predict", "--model", str(d / run), "--input", str(files[scene]), "--out",
                                str(d / out), "--quiet")
        assert code == 0, err
    with rasterio.open(d / "p_dead.tif") as a, rasterio.open(d / "p_clean.tif") as b:
        got, want = a.read(1), b.read(1)
    np.testing.assert_array_equal(got, want)
    lab = _labels()
    assert (got[12:16, 20:24] == 0).all() and np.mean(got[lab > 0] == lab[lab > 0]) > 0.95


def test_a_model_that_needs_the_band_is_refused_or_resampled(files: dict[str, Path],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    d = files["dir"]
    code, _, err = run_main(capsys, "train", "--data", str(files["full"]), "--labels", str(files["lab"]), "--model",
                            "svm", "--out", str(d / "run_full"), "--quiet")
    assert code == 0, err
    args = ["predict", "--model", str(d / "run_full"), "--input", str(files["dead"]), "--out", str(d / "p_full.tif"),
            "--quiet"]
    code, _, err = run_main(capsys, *args)
    error = [line for line in err.splitlines() if not line.startswith("hsi: warning:")]
    assert_one_error_line(code, "\n".join(error) + "\n", f"{files['dead']}: band 6 (740 nm) holds no data at any pixel, "
                          "but the model was trained with it; pass --resample", "train a model on this scene")
    code, _, err = run_main(capsys, *args, "--resample")
    assert code == 0, err
    with rasterio.open(d / "p_full.tif") as ds:
        got = ds.read(1)
    lab = _labels()
    assert np.mean(got[lab > 0] == lab[lab > 0]) > 0.95


@pytest.mark.parametrize("method", ["rx", "ace"])
def test_detect_scores_equal_the_scene_without_the_band(files: dict[str, Path], method: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    d = files["dir"]
    extra = ["--target-pixel", "5,5"] if method == "ace" else []
    scores = []
    for scene in ("dead", "clean"):
        out = d / f"{method}_{scene}.tif"
        code, _, err = run_main(capsys, "detect", "--input", str(files[scene]), "--method", method, *extra, "--out",
                                str(out), "--quiet")
        assert code == 0, err
        assert ("band 6 (740 nm) holds no data" in err) == (scene == "dead")
        with rasterio.open(out) as ds:
            scores.append(ds.read(1))
    got, want = scores
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-6 * float(np.abs(want[ok]).max()))


def test_where_the_band_cannot_be_flagged_one_line_names_it(files: dict[str, Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A GDAL mask holds more than the values say, so the mask cannot be made again without the band: one line."""
    code, _, err = run_main(capsys, "info", str(files["masked"]))
    assert_one_error_line(code, err, f"{files['masked']}: band 6 (740 nm) holds no data at any pixel (no-data or NaN "
                          "everywhere), so no pixel is valid; drop it from the file")


def test_python_callers_that_cannot_flag_get_the_bands_named(files: dict[str, Path]) -> None:
    """predict_scene and the streamed detectors find no valid pixel only after the fact: their errors name the band."""
    from hsi_app.errors import InvalidDataError
    from hsi_app.infer import predict_scene
    from hsi_app.tasks.detect_stream import streamed_scores

    cube = open_cube(files["dead"])
    with pytest.raises(InvalidDataError, match=r"band 6 \(740 nm\) holds no data at any pixel.*flag_empty_bands"):
        predict_scene(lambda x: np.ones((2, *x.shape[1:]), np.float32), cube, num_classes=2, halo=0, progress=False)
    with pytest.raises(InvalidDataError, match=r"band 6 \(740 nm\) holds no data at any pixel.*flag_empty_bands"):
        streamed_scores("rx", cube)
    bare = make_cube(np.full((3, 4, 4), np.nan, np.float32))  # no data at all: the usual message
    with pytest.raises(InvalidDataError, match="0 valid pixels"):
        streamed_scores("rx", bare)
