"""Audit of `hsi info` (text and --json) against independent reads of the files: an EnMAP L2A product (folder and
zip, tests/data/enmap_l2a/make.py; read here with rasterio and ElementTree), an int16 ENVI scene with ``bbl`` and
centres in micrometres, and a GeoTIFF whose centres are only in its band descriptions."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import run_main
from fixture_loader import fixture_module

fx = fixture_module("enmap_l2a")
P = fx.PRODUCT
H, W = 40, 30


def _info(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[dict, list[str]]:
    code, out, err = run_main(capsys, "info", str(path), "--json")
    assert code == 0, err
    info = json.loads(out)
    code, out, err = run_main(capsys, "info", str(path))
    assert code == 0, err
    return info, out.splitlines()


def _line(lines: list[str], head: str) -> str:
    return next(ln for ln in lines if ln.startswith(head))


def _enmap_truth(folder: Path) -> dict:
    """What the product's files say, read without hsi_app."""
    def read(name: str) -> np.ndarray:
        with rasterio.open(folder / f"{P}-{name}.TIF") as ds:
            return ds.read()

    with rasterio.open(folder / f"{P}-SPECTRAL_IMAGE.TIF") as ds:
        raw, crs, transform = ds.read(), ds.crs, ds.transform
    root = ET.parse(folder / f"{P}-METADATA.XML").getroot()
    bands = sorted(root.find("specific/bandCharacterisation"), key=lambda b: int(b.get("number")))
    wl = np.array([float(b.findtext("wavelengthCenterOfBand")) for b in bands])
    fw = np.array([float(b.findtext("FWHMOfBand")) for b in bands])
    background = read("QL_QUALITY_CLASSES")[0] == 3
    missing = (raw == fx.NODATA) | background[None]
    bad = missing.all(axis=(1, 2))
    good_missing = missing[~bad]
    partial = good_missing.any(0) & ~good_missing.all(0)
    held_flags = (read("QL_PIXELMASK") != 0) & ~missing
    masks = {name.lower(): float(np.mean(read(f"QL_QUALITY_{name}")[0] != 0)) for name in fx.QUALITY_LAYERS}
    masks["defective"] = float(np.mean(held_flags[~bad].any(0)))
    return {"wl": wl, "fw": fw, "bad": np.flatnonzero(bad), "valid": int((~good_missing.any(0)).sum()),
            "partial": int(partial.sum()), "band_partial": {str(b + 1): int((missing[b] & partial).sum())
                                                            for b in np.flatnonzero(~bad) if (missing[b] & partial).any()},
            "crs": crs, "transform": transform, "masks": masks}


@pytest.mark.parametrize("zipped", [False, True])
def test_enmap_product(tmp_path: Path, capsys: pytest.CaptureFixture[str], zipped: bool) -> None:
    folder = fx.make(tmp_path / "f", height=H, width=W, seed=0)
    t = _enmap_truth(folder)
    path = fx.make(tmp_path / "z", height=H, width=W, seed=0, zip_it=True) if zipped else folder
    info, lines = _info(capsys, path)

    assert (info["bands"], info["height"], info["width"], info["file_dtype"]) == (t["wl"].size, H, W, "int16")
    np.testing.assert_allclose(info["wavelengths_nm"], t["wl"], atol=1e-4)
    np.testing.assert_allclose(info["fwhm_nm"], t["fw"], atol=1e-4)
    assert info["wavelength_range_nm"] == pytest.approx([t["wl"].min(), t["wl"].max()])
    assert info["bad_bands"] == t["bad"].tolist() and info["bad_band_numbers"] == (t["bad"] + 1).tolist()
    assert info["crs"] == t["crs"].to_string() == f"EPSG:{fx.EPSG}"
    assert info["resolution"] == [abs(t["transform"].a), abs(t["transform"].e)] and info["resolution_unit"] == "m"
    assert info["valid_pixels"] == t["valid"] and info["valid_fraction"] == pytest.approx(t["valid"] / (H * W))
    found = info["nodata_in_some_bands"]
    assert (found["pixels"], found["band_pixels"], found["nodata"]) == (t["partial"], t["band_partial"], fx.NODATA)
    assert info["masks"] == pytest.approx(t["masks"])

    assert _line(lines, "size") == f"size         {t['wl'].size} bands x {H} rows x {W} cols (int16 in the file, read as float32)"
    assert _line(lines, "wavelengths") == (f"wavelengths  {t['wl'].min():.1f}-{t['wl'].max():.1f} nm, "
                                           f"FWHM {t['fw'].min():.1f}-{t['fw'].max():.1f} nm")
    named = [f"{b + 1} ({t['wl'][b]:.1f} nm)" for b in t["bad"]]
    assert _line(lines, "bad bands") == f"bad bands    {t['bad'].size}: bands {', '.join(named[:-1])} and {named[-1]}"
    assert _line(lines, "crs") == "crs          EPSG:32633 (WGS 84 / UTM zone 33N)"
    assert _line(lines, "resolution") == f"resolution   {fx.PIXEL:g} x {fx.PIXEL:g} m"
    assert _line(lines, "valid pixels") == f"valid pixels {100 * t['valid'] / (H * W):.2f}% ({t['valid']:,} of {H * W:,})"
    for name, frac in t["masks"].items():
        assert _line(lines, f"mask {name} ").split()[-2] == f"{100 * frac:.2f}%"


def test_envi_with_bbl_and_micrometres(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c, h, w = 6, 10, 12
    wl_um = [0.45, 0.55, 0.65, 1.4, 1.65, 2.2]
    fw_um = [0.01, 0.01, 0.012, 0.02, 0.02, 0.03]
    v = np.random.default_rng(1).integers(100, 5000, (c, h, w)).astype("<i2")
    v[:, 0, :3] = -9999  # a fill in every band
    v[3] = -9999  # the band bbl marks bad holds no data
    v[4, 5, 5] = -9999  # one pixel without data in one good band
    v.tofile(tmp_path / "scene.img")
    (tmp_path / "scene.hdr").write_text(
        f"ENVI\nsamples = {w}\nlines = {h}\nbands = {c}\nheader offset = 0\nfile type = ENVI Standard\n"
        "data type = 2\ninterleave = bsq\nbyte order = 0\nwavelength units = Micrometers\n"
        f"wavelength = {{{', '.join(map(str, wl_um))}}}\nfwhm = {{{', '.join(map(str, fw_um))}}}\n"
        "bbl = {1, 1, 1, 0, 1, 1}\ndata ignore value = -9999\n"
        "map info = {UTM, 1, 1, 500000, 4100000, 20, 20, 33, North, WGS-84, units=Meters}\n")
    info, lines = _info(capsys, tmp_path / "scene.img")
    good = np.array([1, 1, 1, 0, 1, 1], dtype=bool)
    valid = int((v[good] != -9999).all(0).sum())
    assert info["wavelengths_nm"] == pytest.approx([1000 * x for x in wl_um])
    assert info["fwhm_nm"] == pytest.approx([1000 * x for x in fw_um])
    assert info["bad_bands"] == [3] and info["bad_band_numbers"] == [4]
    assert (info["crs"], info["resolution"], info["resolution_unit"]) == ("EPSG:32633", [20.0, 20.0], "m")
    assert info["valid_pixels"] == valid == h * w - 4 and info["file_dtype"] == "int16"
    assert info["nodata_in_some_bands"]["pixels"] == 1 and info["nodata_in_some_bands"]["band_pixels"] == {"5": 1}
    assert _line(lines, "wavelengths") == "wavelengths  450.0-2200.0 nm, FWHM 10.0-30.0 nm"
    assert _line(lines, "bad bands") == "bad bands    1: band 4 (1400 nm)"
    assert _line(lines, "valid pixels") == f"valid pixels {100 * valid / (h * w):.2f}% ({valid} of {h * w})"


def test_geotiff_centres_from_band_descriptions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h, w = 10, 12
    descriptions = ["Blue (0.49 µm)", "Green 560 nm", "Red: 665nm", "NIR_0.842_um"]
    path = tmp_path / "desc.tif"
    data = np.random.default_rng(2).random((4, h, w)).astype("float32")
    data[2, 3, 4] = -1  # the no-data value in one band at one pixel
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=4, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(10, 50, 0.001, 0.001), nodata=-1) as ds:
        ds.write(data)
        for i, text in enumerate(descriptions):
            ds.set_band_description(i + 1, text)
    with rasterio.open(path) as ds:
        assert list(ds.descriptions) == descriptions
        res = [abs(ds.transform.a), abs(ds.transform.e)]
    info, lines = _info(capsys, path)
    assert info["wavelengths_nm"] == pytest.approx([490.0, 560.0, 665.0, 842.0])
    assert info["fwhm_nm"] == [None] * 4 and info["bad_bands"] == []
    assert (info["crs"], info["resolution"], info["resolution_unit"]) == ("EPSG:4326", res, "degrees")
    assert info["valid_pixels"] == h * w - 1 and "file_dtype" not in info
    assert info["nodata_in_some_bands"]["band_pixels"] == {"3": 1}
    assert _line(lines, "wavelengths") == "wavelengths  490.0-842.0 nm"
    assert _line(lines, "crs") == "crs          EPSG:4326 (WGS 84)"
    assert _line(lines, "resolution") == "resolution   0.001 x 0.001 degrees"
