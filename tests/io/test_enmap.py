"""EnMAP L2A reader against the seeded product in tests/data/enmap_l2a/make.py."""

from __future__ import annotations

import shutil
import warnings
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr

from fixture_loader import fixture_module
from hsi_app.errors import BandMismatchError, ConfigError, CubeReadError, DatasetNotFoundError, HSIError, HSIWarning
from hsi_app.io.enmap import is_enmap_product, parse_band_table, read_band_table, read_enmap, scan_spectral_image


fx = fixture_module("enmap_l2a")
P = fx.PRODUCT
H, W = 40, 30


def part(folder: Path, suffix: str) -> Path:
    return folder / f"{P}-{suffix}"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder, zip holding the folder) of the seed-0 product."""
    root = tmp_path_factory.mktemp("enmap")
    zpath = fx.make(root, height=H, width=W, seed=0, zip_it=True)
    return root / P, zpath


@pytest.fixture(scope="module")
def raw(product: tuple[Path, Path]) -> np.ndarray:
    """(224, H, W) int16 as stored in the file, read with plain rasterio."""
    with rasterio.open(part(product[0], "SPECTRAL_IMAGE.TIF")) as ds:
        return ds.read()


@pytest.fixture(scope="module")
def defective(product: tuple[Path, Path]) -> np.ndarray:
    """(224, H, W) bool: the values QL_PIXELMASK flags (nonzero), read with plain rasterio."""
    with rasterio.open(part(product[0], "QL_PIXELMASK.TIF")) as ds:
        return ds.read() != 0


@pytest.fixture(scope="module")
def cube(product: tuple[Path, Path]) -> xr.DataArray:
    return read_enmap(product[0])


@pytest.fixture(scope="module")
def values(cube: xr.DataArray) -> np.ndarray:
    return cube.values


def xml_bands(folder: Path) -> dict[str, np.ndarray]:
    root = ET.parse(part(folder, "METADATA.XML")).getroot()
    bands = root.findall("specific/bandCharacterisation/bandID")
    order = np.argsort([int(b.get("number")) for b in bands])
    return {
        tag: np.array([float(bands[i].findtext(tag)) for i in order])
        for tag in ("wavelengthCenterOfBand", "FWHMOfBand", "GainOfBand", "OffsetOfBand")
    }


def test_band_values_come_from_the_xml(product: tuple[Path, Path], cube: xr.DataArray) -> None:
    ref = xml_bands(product[0])
    assert cube.hsi.shape == (224, H, W)
    np.testing.assert_array_equal(cube.hsi.wavelengths, ref["wavelengthCenterOfBand"])
    np.testing.assert_array_equal(cube.hsi.fwhm, ref["FWHMOfBand"])
    np.testing.assert_array_equal(cube.coords["gain"].values, ref["GainOfBand"])
    np.testing.assert_array_equal(cube.coords["offset"].values, ref["OffsetOfBand"])
    wl = cube.hsi.wavelengths
    assert 415 < wl[0] < 422 and 2440 < wl[-1] < 2450
    assert cube.attrs["format"] == "enmap_l2a" and cube.attrs["product"] == P


def test_fixture_bands_follow_wavelength_with_the_detectors_interleaved(product: tuple[Path, Path]) -> None:
    """As in real products: band numbers increase with wavelength; the XML's per-detector channel lists
    interleave in the 900-1000 nm overlap, and each detector's bands have its own spacing."""
    root = ET.parse(part(product[0], "METADATA.XML")).getroot()
    wl = xml_bands(product[0])["wavelengthCenterOfBand"]
    lists = {d: np.array([int(n) for n in root.findtext(f"specific/{d}ProductQuality/expectedChannelsList").split(",")])
             for d in ("vnir", "swir")}
    vnir, swir = wl[lists["vnir"] - 1], wl[lists["swir"] - 1]
    assert np.all(np.diff(wl) > 0) and lists["vnir"].size == 91 and lists["swir"].size == 133
    assert sorted(np.concatenate(list(lists.values())).tolist()) == list(range(1, 225))
    assert swir[0] < vnir[-1] and lists["swir"][0] < lists["vnir"][-1]  # the detectors overlap
    assert 6.0 < np.diff(vnir).mean() < 7.0 and 10.0 < np.diff(swir).mean() < 12.5


def test_each_band_carries_the_detector_its_channel_list_names(product: tuple[Path, Path], cube: xr.DataArray) -> None:
    """The XML's expectedChannelsList become a ``detector`` coordinate: interleaved at 900-1000 nm, each
    detector with its own band spacing; the viewer then draws the spectrum as a VNIR and a SWIR curve."""
    from hsi_app import viewer

    vnir_numbers, swir_numbers = fx.detector_bands(0)
    det = cube.coords["detector"].values
    assert cube.coords["detector"].dims == ("band",)
    np.testing.assert_array_equal(np.flatnonzero(det == "VNIR") + 1, vnir_numbers)
    np.testing.assert_array_equal(np.flatnonzero(det == "SWIR") + 1, swir_numbers)
    assert np.flatnonzero(det == "SWIR")[0] < np.flatnonzero(det == "VNIR")[-1]  # interleaved
    np.testing.assert_array_equal(read_band_table(product[1]).detector, det)  # the zip says the same
    wl = cube.hsi.wavelengths
    lines = [ln for ln in viewer.spectrum_figure(cube, H - 1, 0).axes[0].get_lines() if ln.get_label() != "bad bands"]
    assert [ln.get_xdata().tolist() for ln in lines] == [wl[vnir_numbers - 1].tolist(), wl[swir_numbers - 1].tolist()]


@pytest.mark.parametrize(("vnir", "swir", "said"), [
    ("1,3", "2,4", None),
    (None, "2,4", None),  # no list: the detectors are not known, and nothing is said
    ("1,3", "2,3,4", "swirProductQuality/expectedChannelsList repeats a band"),
    ("1,3", "2,5", "swirProductQuality/expectedChannelsList names a band outside 1..4"),
    ("1", "2,4", "band 3 is in neither list"),
    ("1", "2", "bands 3, 4 are in neither list"),
    ("1;3", "2,4", "vnirProductQuality/expectedChannelsList is not a list of band numbers"),
])
def test_detectors_come_from_the_channel_lists_or_stay_unknown(vnir: str | None, swir: str, said: str | None) -> None:
    rows = "".join(f'<bandID number="{n}"><wavelengthCenterOfBand>{wl}</wavelengthCenterOfBand>'
                   f"<FWHMOfBand>7</FWHMOfBand><GainOfBand>1e-4</GainOfBand></bandID>"
                   for n, wl in ((1, 900.0), (2, 905.0), (3, 910.0), (4, 915.0)))
    lists = "".join(f"<{d}ProductQuality><expectedChannelsList>{v}</expectedChannelsList></{d}ProductQuality>"
                    for d, v in (("vnir", vnir), ("swir", swir)) if v is not None)
    xml = f"<level_X><specific><bandCharacterisation>{rows}</bandCharacterisation>{lists}</specific></level_X>"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = parse_band_table(xml.encode(), "P-METADATA.XML")
    told = [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]
    if vnir == "1,3" and said is None:
        np.testing.assert_array_equal(table.detector, ["VNIR", "SWIR", "VNIR", "SWIR"])
    else:
        assert table.detector is None
    assert told == ([] if said is None else [f"P-METADATA.XML: {said}; the bands' detectors are left unknown "
                                             "(the viewer draws each spectrum as one curve)"])
    np.testing.assert_array_equal(table.wavelength, [900.0, 905.0, 910.0, 915.0])  # read either way


def test_band_table_is_per_scene(tmp_path: Path, cube: xr.DataArray) -> None:
    other = read_enmap(fx.make(tmp_path, seed=1))
    assert not np.array_equal(other.hsi.wavelengths, cube.hsi.wavelengths)
    np.testing.assert_array_equal(other.hsi.wavelengths, xml_bands(tmp_path / P)["wavelengthCenterOfBand"])


def test_band_table_follows_band_numbers_not_document_order() -> None:
    """bandID elements listed as 2, 1, 3 give the table of bands 1, 2, 3 (every column)."""
    entries = ((2, 500.0, 7.0, 2e-4), (1, 420.0, 6.0, 1e-4), (3, 580.0, 8.0, 3e-4))
    rows = "".join(f'<bandID number="{n}"><wavelengthCenterOfBand>{wl}</wavelengthCenterOfBand>'
                   f"<FWHMOfBand>{fw}</FWHMOfBand><GainOfBand>{g}</GainOfBand><OffsetOfBand>0</OffsetOfBand></bandID>"
                   for n, wl, fw, g in entries)
    xml = f"<level_X><specific><bandCharacterisation>{rows}</bandCharacterisation></specific></level_X>".encode()
    table = parse_band_table(xml)
    np.testing.assert_array_equal(table.wavelength, [420.0, 500.0, 580.0])
    np.testing.assert_array_equal(table.fwhm, [6.0, 7.0, 8.0])
    np.testing.assert_array_equal(table.gain, [1e-4, 2e-4, 3e-4])


def test_reflectance_is_raw_times_gain_plus_offset(tmp_path: Path) -> None:
    gain = np.linspace(0.8e-4, 1.2e-4, 224)
    offset = np.linspace(-0.02, 0.03, 224)
    folder = fx.make(tmp_path, seed=3, gain=gain, offset=offset)
    cube = read_enmap(folder)
    assert isinstance(cube.data, da.Array) and cube.dtype == np.float32
    with rasterio.open(part(folder, "SPECTRAL_IMAGE.TIF")) as ds:
        raw = ds.read()
    with rasterio.open(part(folder, "QL_PIXELMASK.TIF")) as ds:
        flagged = ds.read() != 0
    gone = raw == -32768  # a value QL_PIXELMASK flags is kept
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, H, 25), rng.integers(0, W, 25)
    got = cube.values[:, rows, cols]
    r = raw[:, rows, cols].astype(np.float64)
    want = np.where(gone[:, rows, cols], np.nan, r * gain[:, None] + offset[:, None])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert np.isfinite(got).sum() > 1000  # the sample is not all no-data
    kept = flagged & ~gone  # the fixture's defective column: its values are the measured ones
    assert kept.sum() > 50
    np.testing.assert_allclose(cube.values[kept], (raw * gain[:, None, None] + offset[:, None, None])[kept], rtol=1e-6)


def test_nodata_becomes_nan_and_invalid(raw: np.ndarray, defective: np.ndarray, cube: xr.DataArray,
                                        values: np.ndarray) -> None:
    assert np.isnan(cube.attrs["nodata"])
    gone = raw == -32768  # QL_PIXELMASK's flags do not make values no-data (they are a mask)
    assert (defective & ~gone).any()
    np.testing.assert_array_equal(np.isnan(values), gone)
    good = ~gone.all(axis=(1, 2))
    want_valid = ~gone[good].any(axis=0)
    valid = np.asarray(cube.hsi.valid.values)
    np.testing.assert_array_equal(valid, want_valid)
    assert not valid[0, 0] and valid[H - 1, 0]
    band, off = fx.SINGLE_BAND_NODATA  # one good band missing at one pixel
    assert not valid[H - off, W - off]
    assert np.isnan(values[band, H - off, W - off]) and np.isfinite(values[band + 1, H - off, W - off])


def test_all_nodata_bands_are_exactly_the_bad_ones(raw: np.ndarray, cube: xr.DataArray) -> None:
    want = np.flatnonzero((raw == -32768).all(axis=(1, 2)))
    assert cube.hsi.bad_bands == want.tolist()
    np.testing.assert_array_equal(want, fx.bad_band_indices(cube.hsi.wavelengths))
    wl = cube.hsi.wavelengths[want]
    assert want.size >= 4 and np.all((np.abs(wl - 1400) < 40) | (np.abs(wl - 1900) < 60))
    assert cube.hsi.good_bands().sizes["band"] == 224 - want.size


def test_scan_in_tiny_blocks_gives_the_same_answer(product: tuple[Path, Path], cube: xr.DataArray) -> None:
    path = str(part(product[0], "SPECTRAL_IMAGE.TIF"))
    mask = str(part(product[0], "QL_PIXELMASK.TIF"))
    small = scan_spectral_image(path, path, block_bytes=1, pixelmask=(mask, mask, "GTiff"))  # one row per block
    np.testing.assert_array_equal(np.flatnonzero(small.bad), cube.hsi.bad_bands)
    np.testing.assert_array_equal(small.valid, cube.hsi.valid.values)
    np.testing.assert_array_equal(small.defective_mask, cube.hsi.masks["defective"].values)
    np.testing.assert_array_equal(small.defective, cube.coords["defective_pixels"].values)


def test_quality_layers_become_masks(product: tuple[Path, Path], cube: xr.DataArray) -> None:
    written = fx.quality_layers(H, W, 0)
    masks = cube.hsi.masks
    assert set(masks) == {"cloud", "cloudshadow", "haze", "snow", "cirrus", "defective"}
    for name in set(masks) - {"defective"}:
        with rasterio.open(part(product[0], f"QL_QUALITY_{name.upper()}.TIF")) as ds:
            layer = ds.read(1)
        m = np.asarray(masks[name].values)
        assert m.dtype == bool and m.any() and not m.all()
        np.testing.assert_array_equal(m, layer != 0)
        np.testing.assert_array_equal(m, written[name.upper()] != 0)
        assert set(np.unique(layer).tolist()) == ({0, 1, 2, 3} if name == "cirrus" else {0, 1})


def _rewrite_layer(folder: Path, name: str, layer: np.ndarray, nodata: float | None = None) -> None:
    with rasterio.open(part(folder, f"QL_QUALITY_{name}.TIF"), "r+") as ds:
        ds.write(layer, 1)
        if nodata is not None:
            ds.nodata = nodata


def test_zero_one_layers_give_no_warning(tmp_path: Path) -> None:
    folder = fx.make(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        masks = read_enmap(folder).hsi.masks
    assert all(m.values.any() for m in masks.values())


def test_graded_cirrus_layer_flags_every_grade_without_a_warning(tmp_path: Path) -> None:
    """EnMAP's QL_QUALITY_CIRRUS holds 0 none, 1 thin, 2 medium, 3 thick: every grade is cirrus, none is odd."""
    folder = fx.make(tmp_path)
    layer = np.zeros((H, W), np.uint8)
    layer[1:4, 2:9], layer[10:12, :5], layer[20, 20:] = 1, 2, 3
    _rewrite_layer(folder, "CIRRUS", layer)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        m = read_enmap(folder).hsi.masks["cirrus"].values
    np.testing.assert_array_equal(m, layer > 0)
    layer[30, :4] = 4  # no cirrus grade
    _rewrite_layer(folder, "CIRRUS", layer)
    with pytest.warns(HSIWarning, match=r"QL_QUALITY_CIRRUS\.TIF: quality layer holds values 4 besides 0-3 \(EnMAP's "
                                         r"cirrus layer is 0 none, 1 thin, 2 medium, 3 thick\); every nonzero pixel is "
                                         rf"taken as flagged \({int((layer > 0).sum())} pixels\)"):
        m = read_enmap(folder).hsi.masks["cirrus"].values
    np.testing.assert_array_equal(m, layer > 0)


def test_fixture_parts_match_the_real_product_structure(product: tuple[Path, Path], raw: np.ndarray) -> None:
    """The XML lists every part in productFileInformation, marks all-no-data bands in bandStatistics
    (mean -1000000, std 0) and sizes the ortho scene; QL_PIXELMASK has one band per spectral band."""
    folder = product[0]
    root = ET.parse(part(folder, "METADATA.XML")).getroot()
    listed = sorted(e.text for e in root.findall("product/productFileInformation/file/name"))
    assert listed == sorted(f.name for f in folder.iterdir()) and part(folder, "HISTORY.XML").is_file()
    stats = root.findall("product/bandStatistics/bandID")
    empty = [i for i, b in enumerate(stats) if float(b.findtext("mean")) == -1000000 and float(b.findtext("stdDeviation")) == 0]
    assert empty == np.flatnonzero((raw == -32768).all(axis=(1, 2))).tolist()
    assert (root.findtext("base/level"), root.findtext("processing/productFormat")) == ("L2A", "GeoTIFF+Metadata")
    assert (int(root.findtext("specific/widthOfOrthoScene")), int(root.findtext("specific/heightOfOrthoScene"))) == (W, H)
    with rasterio.open(part(folder, "QL_PIXELMASK.TIF")) as ds:
        assert ds.count == raw.shape[0] and ds.shape == (H, W)
    with rasterio.open(part(folder, "QL_QUALITY_CLASSES.TIF")) as ds:
        classes = ds.read(1)
    assert set(np.unique(classes).tolist()) == {1, 2, 3}  # land, water, background
    np.testing.assert_array_equal(classes == 3, (raw == -32768).all(axis=0))  # background = no data in every band


def test_a_0_255_layer_flags_the_nonzero_pixels_and_warns(tmp_path: Path) -> None:
    folder = fx.make(tmp_path)
    layer = np.zeros((H, W), np.uint8)
    layer[:5, :13] = 255  # 65 flagged pixels, a common binary-mask convention
    _rewrite_layer(folder, "CLOUD", layer)
    with pytest.warns(HSIWarning) as caught:
        cube = read_enmap(folder)
    msgs = [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]
    assert msgs == [f"{part(folder, 'QL_QUALITY_CLOUD.TIF')}: quality layer holds values 255 besides 0 and 1 "
                    "(EnMAP's layers are 0/1); every nonzero pixel is taken as flagged (65 pixels)"]
    m = cube.hsi.masks["cloud"].values
    assert m.sum() == 65 and m[:5, :13].all()


def test_other_codes_are_flagged_except_the_declared_nodata(tmp_path: Path) -> None:
    folder = fx.make(tmp_path)
    layer = np.zeros((H, W), np.uint8)
    layer[:5] = 1
    layer[5:9] = 2
    layer[9:12] = 255
    _rewrite_layer(folder, "HAZE", layer, nodata=255)
    with pytest.warns(HSIWarning, match=r"QL_QUALITY_HAZE\.TIF: quality layer holds values 2 besides 0 and 1"):
        m = read_enmap(folder).hsi.masks["haze"].values
    np.testing.assert_array_equal(m, (layer == 1) | (layer == 2))  # 255 is the layer's no-data


def test_missing_quality_layer_is_skipped(tmp_path: Path) -> None:
    folder = fx.make(tmp_path)
    part(folder, "QL_QUALITY_SNOW.TIF").unlink()
    assert set(read_enmap(folder).hsi.masks) == {"cloud", "cloudshadow", "haze", "cirrus", "defective"}


def _same(a: xr.DataArray, b: xr.DataArray) -> None:
    xr.testing.assert_equal(a.compute(), b.compute())
    assert a.rio.crs == b.rio.crs and a.rio.transform() == b.rio.transform()
    assert a.hsi.bad_bands == b.hsi.bad_bands and set(a.hsi.masks) == set(b.hsi.masks)


def test_folder_zip_and_tif_paths_give_identical_cubes(
    tmp_path: Path, product: tuple[Path, Path], cube: xr.DataArray
) -> None:
    folder, zpath = product
    flat = fx.make(tmp_path, zip_it=True, zip_layout="flat")
    with zipfile.ZipFile(flat) as zf:
        assert all("/" not in n for n in zf.namelist())
    for other in (
        zpath,
        flat,
        part(folder, "SPECTRAL_IMAGE.TIF"),
        str(part(folder, "METADATA.XML")),
        folder.parent,  # the folder that holds the product folder
    ):
        _same(read_enmap(other), cube)
    assert read_enmap(zpath).attrs["source"] == str(zpath)


def _backslashed(src: Path, dst: Path) -> Path:
    """``src`` zipped again as some Windows tools write it: members named ``FOLDER\\NAME`` (``\\`` between folders)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(zipfile.ZipInfo(info.filename.replace("/", "\\"), info.date_time), zin.read(info))
    return dst


def test_a_zip_written_on_windows_reads_as_the_same_product(tmp_path: Path, product: tuple[Path, Path],
                                                            cube: xr.DataArray) -> None:
    """Its members named with backslashes: GDAL did not find `FOLDER\\...SPECTRAL_IMAGE.TIF` (one line said the
    product was corrupt) and the product's name held its folder."""
    zpath = _backslashed(product[1], tmp_path / "windows.zip")
    with zipfile.ZipFile(zpath) as zf:
        assert all("\\" in n and "/" not in n for n in zf.namelist())
    assert is_enmap_product(zpath)
    got = read_enmap(zpath)
    _same(got, cube)
    assert got.attrs["product"] == cube.attrs["product"] == P


def test_a_damaged_member_of_a_zip_written_on_windows_is_named(tmp_path: Path, product: tuple[Path, Path]) -> None:
    """The CRC check finds the members by the names GDAL gives them."""
    zpath = _backslashed(product[1], tmp_path / "windows.zip")
    data = bytearray(zpath.read_bytes())
    with zipfile.ZipFile(zpath) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("SPECTRAL_IMAGE.TIF"))
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    zpath.write_bytes(bytes(data))
    with pytest.raises(CubeReadError, match=r"SPECTRAL_IMAGE\.TIF: damaged inside the zip"):
        read_enmap(zpath)


def test_crs_and_transform_come_from_the_image(product: tuple[Path, Path], cube: xr.DataArray) -> None:
    with rasterio.open(part(product[0], "SPECTRAL_IMAGE.TIF")) as ds:
        transform = ds.transform
    assert cube.rio.crs.to_epsg() == 32633 and cube.hsi.georeferenced
    assert cube.rio.transform() == transform and transform.a == 30.0 and transform.e == -30.0
    np.testing.assert_allclose(cube.x.values, transform.c + 30.0 * (np.arange(W) + 0.5))
    np.testing.assert_allclose(cube.y.values, transform.f - 30.0 * (np.arange(H) + 0.5))


def test_window_read_equals_slice_of_full_read(product: tuple[Path, Path], values: np.ndarray) -> None:
    small = read_enmap(product[1], chunks=7)
    assert small.data.chunks[1][0] == 7
    win = small.isel(y=slice(5, 31), x=slice(3, 17))
    np.testing.assert_array_equal(win.values, values[:, 5:31, 3:17])
    np.testing.assert_array_equal(small.hsi.window(2, 4, 9, 11).values, values[:, 2:11, 4:15])
    assert win.rio.transform().c == small.rio.transform().c + 3 * 30.0


def test_is_enmap_product(tmp_path: Path, product: tuple[Path, Path]) -> None:
    folder, zpath = product
    assert is_enmap_product(folder) and is_enmap_product(zpath)
    assert is_enmap_product(part(folder, "SPECTRAL_IMAGE.TIF"))
    assert not is_enmap_product(part(folder, "QL_VNIR.TIF"))
    assert not is_enmap_product(tmp_path) and not is_enmap_product(tmp_path / "nope.zip")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "not a product")
    assert not is_enmap_product(other)


def _raises(exc: type[HSIError], path: Path | str, *words: str) -> str:
    with pytest.raises(exc) as info:
        read_enmap(path)
    msg = str(info.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
    return msg


def test_missing_parts_raise(tmp_path: Path) -> None:
    _raises(DatasetNotFoundError, tmp_path / "absent", "absent")
    folder = fx.make(tmp_path / "a")
    part(folder, "METADATA.XML").unlink()
    _raises(CubeReadError, folder, "METADATA.XML")
    _raises(CubeReadError, part(folder, "SPECTRAL_IMAGE.TIF"), "METADATA.XML")
    folder = fx.make(tmp_path / "b")
    part(folder, "SPECTRAL_IMAGE.TIF").unlink()
    _raises(CubeReadError, folder, "SPECTRAL_IMAGE", str(folder))
    _raises(CubeReadError, part(folder, "QL_VNIR.TIF"), "not an EnMAP")


def test_bad_xml_raises(tmp_path: Path) -> None:
    folder = fx.make(tmp_path)
    xml = part(folder, "METADATA.XML")
    tree = ET.parse(xml)
    table = tree.getroot().find("specific/bandCharacterisation")
    table.remove(table.findall("bandID")[-1])
    tree.write(xml)
    _raises(BandMismatchError, folder, "223", "224", "METADATA.XML")
    tree.getroot().remove(tree.getroot().find("specific"))
    tree.write(xml)
    _raises(CubeReadError, folder, "bandCharacterisation", xml.name)
    xml.write_text("<level_X><specific>")
    _raises(CubeReadError, folder, "not valid XML")


def test_corrupt_or_truncated_tif_raises(tmp_path: Path) -> None:
    folder = fx.make(tmp_path)
    tif = part(folder, "SPECTRAL_IMAGE.TIF")
    data = tif.read_bytes()
    tif.write_bytes(data[: len(data) // 2])
    _raises(CubeReadError, folder, "truncated", tif.name)
    tif.write_bytes(b"II*\x00" + b"\x13" * 200)
    _raises(CubeReadError, folder, tif.name)


def test_quality_layer_of_another_grid_raises(tmp_path: Path) -> None:
    folder = fx.make(tmp_path)
    other = fx.make(tmp_path / "small", height=20, width=16)
    shutil.copy(part(other, "QL_QUALITY_CLOUD.TIF"), part(folder, "QL_QUALITY_CLOUD.TIF"))
    _raises(CubeReadError, folder, "QL_QUALITY_CLOUD", "another product")


def test_quality_layer_shape_is_checked_before_its_pixels_are_read(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A few-kB mask that declares 20000 x 20000 px (an upload could carry one) is refused from its header."""
    folder = fx.make(tmp_path)
    with rasterio.open(part(folder, "QL_QUALITY_CLOUD.TIF"), "w", driver="GTiff", width=20000, height=20000,
                       count=1, dtype="uint8", compress="deflate", tiled=True):
        pass  # nothing written: empty tiles, 400 MB once read
    assert part(folder, "QL_QUALITY_CLOUD.TIF").stat().st_size < 5_000_000
    reads: list[str] = []
    real_read = rasterio.io.DatasetReader.read

    def spy(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        reads.append(self.name)
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    _raises(CubeReadError, folder, "QL_QUALITY_CLOUD", "(20000, 20000)", "another product")
    assert not [name for name in reads if "QL_QUALITY_CLOUD" in name]


def test_zip_that_is_not_a_product_raises(tmp_path: Path, product: tuple[Path, Path]) -> None:
    other = tmp_path / "scene.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("scene/readme.txt", "nothing here")
    _raises(CubeReadError, other, "not an EnMAP L2A product", "scene.zip")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(product[1].read_bytes()[:2000])
    with pytest.raises(CubeReadError):
        read_enmap(broken)


def test_bad_chunks_raise(product: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError):
        read_enmap(product[0], chunks=0)


def test_damaged_zip_member_and_truncated_zip_are_named(tmp_path: Path, product: tuple[Path, Path]) -> None:
    """GDAL's /vsizip/ does not check CRCs: a damaged member would be read as wrong reflectance."""
    from hsi_app.io import open_cube

    _, zpath = product
    with zipfile.ZipFile(zpath) as zf:
        info = next(i for i in zf.infolist() if i.filename.upper().endswith("SPECTRAL_IMAGE.TIF"))
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    damaged = tmp_path / zpath.name
    data = bytearray(zpath.read_bytes())
    mid = start + info.compress_size // 2
    data[mid:mid + 64] = bytes(64)  # zero 64 bytes inside the stored member
    damaged.write_bytes(bytes(data))
    _raises(CubeReadError, damaged, "SPECTRAL_IMAGE.TIF", "damaged inside the zip", "download the product again")
    truncated = tmp_path / "cut" / zpath.name
    truncated.parent.mkdir()
    truncated.write_bytes(zpath.read_bytes()[: len(data) // 2])
    with pytest.raises(CubeReadError, match="damaged or truncated zip archive"):
        open_cube(truncated)


def test_macos_resource_forks_in_a_zip_are_ignored(tmp_path: Path, product: tuple[Path, Path],
                                                  cube: xr.DataArray) -> None:
    _, zpath = product
    mac = tmp_path / zpath.name
    with zipfile.ZipFile(zpath) as src, zipfile.ZipFile(mac, "w") as dst:
        for i in src.infolist():
            dst.writestr(i, src.read(i))
            if i.filename.upper().endswith("SPECTRAL_IMAGE.TIF"):
                folder, _, base = i.filename.rpartition("/")
                dst.writestr(f"__MACOSX/{folder}/._{base}", b"\x00\x05\x16\x07" + bytes(60))
    _same(read_enmap(mac), cube)


def test_band_table_is_read_from_the_xml_folder_or_zip(tmp_path: Path, product: tuple[Path, Path]) -> None:
    """read_band_table gives the fixture's own table from the XML, the folder and the zip alike."""
    folder, zpath = product
    wl, fwhm = fx.band_table(seed=0)
    for path in (part(folder, "METADATA.XML"), folder, zpath):
        table = read_band_table(path)
        np.testing.assert_allclose(table.wavelength, wl)
        np.testing.assert_allclose(table.fwhm, fwhm)
    lonely = tmp_path / folder.name
    shutil.copytree(folder, lonely)
    part(lonely, "METADATA.XML").unlink()
    with pytest.raises(CubeReadError, match="SPECTRAL_IMAGE.TIF: no .*METADATA.XML next to it; copy the METADATA.XML"):
        read_band_table(lonely)
    bad = tmp_path / "broken-METADATA.XML"
    bad.write_text("<level_X><specific>")
    with pytest.raises(CubeReadError, match="broken-METADATA.XML: not valid XML"):
        read_band_table(bad)
