"""Seeded writer of a tiny EnMAP L2A product that mirrors the real delivery layout.

The real product is a folder (delivered zipped as ``<product>.ZIP`` holding ``<product>/``) named like
``ENMAP01-____L2A-DT0000004950_20221103T162438Z_001_V010303_20230601T154812Z`` holding
``<product>-SPECTRAL_IMAGE.TIF`` (224 bands, int16, no-data -32768, reflectance x 1e4),
``<product>-METADATA.XML`` (root ``level_X``; per-band values under
``specific/bandCharacterisation/bandID[@number]``), ``<product>-HISTORY.XML``, the quicklooks
``QL_VNIR``/``QL_SWIR`` and the quality layers: ``QL_PIXELMASK`` (one band per spectral band,
1 = defective), ``QL_QUALITY_CLASSES`` (1 land, 2 water, 3 background), ``QL_QUALITY_CLOUD``,
``_CLOUDSHADOW``, ``_HAZE``, ``_SNOW`` (0/1), ``QL_QUALITY_CIRRUS`` (0 none, 1 thin, 2 medium,
3 thick) and ``QL_QUALITY_TESTFLAGS``. Bands are numbered in increasing wavelength: the VNIR
and SWIR detectors interleave where they overlap (~900-1000 nm), and
``specific/vnirProductQuality``/``swirProductQuality`` ``expectedChannelsList`` say which band
numbers each detector gave. This script writes the same names, dtypes, no-data value, XML
element names and a UTM 30 m grid, at a small size, so that readers are tested against the
real layout (element and file names as read by the ESA SNAP and EnMAP-Box EnMAP readers).

Usage: ``make(tmp_path)`` returns the product folder; ``make(tmp_path, zip_it=True)``
returns ``<product>.ZIP`` (the folder is kept next to it).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import rasterio
from rasterio.transform import from_origin

PRODUCT = "ENMAP01-____L2A-DT0000004950_20221103T162438Z_001_V010303_20230601T154812Z"
N_VNIR, N_SWIR = 91, 133
N_BANDS = N_VNIR + N_SWIR  # 224, as in every real L2A product
NODATA = -32768
GAIN = 1.0e-4
EPSG = 32633
PIXEL = 30.0
WATER_VAPOUR_NM = ((1385.0, 1420.0), (1880.0, 1935.0))
"""Bands whose centre falls in these windows are written entirely as no-data."""
QUALITY_LAYERS = ("CLOUD", "CLOUDSHADOW", "HAZE", "SNOW", "CIRRUS")
OTHER_LAYERS = ("PIXELMASK", "QUALITY_CLASSES", "QUALITY_TESTFLAGS")
PRODUCT_FORMATS = {"BSQ": "BSQ+Metadata", "BIL": "BIL+Metadata", "BIP": "BIP+Metadata", "JP2": "JPEG2000+Metadata",
                   "JPEG2000": "JPEG2000+Metadata"}
"""``processing/productFormat`` by raster extension (everything else: ``GeoTIFF+Metadata``)."""
SINGLE_BAND_NODATA = (2, 10)
"""``(band_index, pixel_offset_from_bottom_right)``: one pixel with no-data in one good band."""


def _detector_table(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres and FWHM in nm, ``(224,)`` each, in detector order (91 VNIR, then 133 SWIR).

    VNIR: 91 bands from ~418 nm to ~993 nm with spacing growing from ~4.6 to ~8.2 nm
    (mean ~6.4 nm); SWIR: 133 bands from ~902 nm to ~2445 nm (mean ~11.7 nm); the two
    detectors overlap around 900-1000 nm as in the real instrument. Every scene gets its
    own small shift (spectral smile/calibration), so the values depend on ``seed``.
    """
    rng = np.random.default_rng(seed + 1000)
    vnir_steps = 4.6 + 0.0401 * np.arange(N_VNIR - 1)
    vnir = 418.4 + np.concatenate([[0.0], np.cumsum(vnir_steps)])
    swir_steps = 12.58 - 0.0136 * np.arange(N_SWIR - 1)
    swir = 902.0 + np.concatenate([[0.0], np.cumsum(swir_steps)])
    wl = np.concatenate([vnir, swir]) + rng.normal(0.0, 0.3) + rng.normal(0.0, 0.05, N_BANDS)
    fw_vnir = np.linspace(6.4, 8.3, N_VNIR)
    fw_swir = np.linspace(11.0, 9.0, N_SWIR)
    fw = np.concatenate([fw_vnir, fw_swir]) + rng.normal(0.0, 0.05, N_BANDS)
    return np.round(wl, 3), np.round(fw, 3)


def _wavelength_order(seed: int) -> np.ndarray:
    """``(224,)`` detector-order indices sorted by centre wavelength (the product's band order)."""
    return np.argsort(_detector_table(seed)[0], kind="stable")


def band_table(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-scene band centres and FWHM in nm, ``(224,)`` each, in the product's band order.

    As in a real L2A product, band ``k`` (bandID ``k``, image band ``k``) is the k-th shortest
    centre: the centres increase through the VNIR/SWIR overlap, where the FWHM alternate
    between the detectors (:func:`detector_bands` says which band came from which).
    """
    wl, fw = _detector_table(seed)
    order = _wavelength_order(seed)
    return wl[order], fw[order]


def detector_bands(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """1-based band numbers of the VNIR (91) and SWIR (133) bands, each increasing.

    These are the ``expectedChannelsList`` values of ``vnirProductQuality`` and
    ``swirProductQuality``: the two lists interleave in the detector overlap.
    """
    order = _wavelength_order(seed)
    number = np.empty(N_BANDS, dtype=int)
    number[order] = np.arange(1, N_BANDS + 1)
    return np.sort(number[:N_VNIR]), np.sort(number[N_VNIR:])


def bad_band_indices(wavelength: np.ndarray) -> np.ndarray:
    """0-based indices of the bands written entirely as no-data (water vapour)."""
    wl = np.asarray(wavelength)
    hit = np.zeros(wl.shape, dtype=bool)
    for lo, hi in WATER_VAPOUR_NM:
        hit |= (wl >= lo) & (wl <= hi)
    return np.flatnonzero(hit)


def _endmembers(wl: np.ndarray) -> np.ndarray:
    """``(3, C)`` reflectance 0..1 of vegetation, soil and water at ``wl`` nm."""

    def g(c: float, w: float) -> np.ndarray:
        return np.exp(-(((wl - c) / w) ** 2))

    red_edge = 1.0 / (1.0 + np.exp(-(wl - 715.0) / 12.0))
    leaf_water = 1.0 - 0.45 * g(1450.0, 70.0) - 0.6 * g(1940.0, 80.0) - 0.15 * g(1200.0, 40.0)
    swir_slope = np.clip(1.0 - (wl - 1300.0) / 2200.0, 0.45, 1.0)
    veg = 0.03 + 0.05 * g(550.0, 35.0) + 0.42 * red_edge * leaf_water * swir_slope
    soil = 0.08 + 0.25 * (wl - 400.0) / 2100.0 - 0.05 * g(2205.0, 25.0) - 0.03 * g(1420.0, 50.0)
    water = 0.06 * g(490.0, 110.0) + 0.004
    return np.stack([veg, soil, water])


def spectral_raw(height: int, width: int, seed: int = 0) -> np.ndarray:
    """The ``(224, H, W)`` int16 array written to SPECTRAL_IMAGE.TIF (reflectance x 1e4)."""
    rng = np.random.default_rng(seed)
    wl, _ = band_table(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, 3)
    logits = np.stack(
        [
            1.5 * np.sin(xx / 6.0 + phase[0]) + 0.8 * np.cos(yy / 5.0),
            1.2 * np.cos(yy / 7.0 + phase[1]),
            1.6 * np.sin((xx + yy) / 9.0 + phase[2]) - 0.8,
        ]
    ) + rng.normal(0.0, 0.3, (3, height, width))
    abund = np.exp(logits) / np.exp(logits).sum(axis=0, keepdims=True)
    refl = np.einsum("khw,kc->chw", abund, _endmembers(wl))
    refl += rng.normal(0.0, 0.003, refl.shape)
    raw = np.clip(np.round(refl * 1.0e4), 0, 10000).astype(np.int16)
    cloud = quality_layers(height, width, seed)["CLOUD"].astype(bool)
    raw[:, cloud] = np.clip(5800 + rng.normal(0, 80, (N_BANDS, int(cloud.sum()))), 0, 10000)
    raw[bad_band_indices(wl)] = NODATA
    corner = (yy + xx) < 6  # scene footprint edge: no data in every band
    raw[:, corner] = NODATA
    band, off = SINGLE_BAND_NODATA
    raw[band, height - off, width - off] = NODATA
    return raw


def quality_layers(height: int, width: int, seed: int = 0) -> dict[str, np.ndarray]:
    """uint8 layers keyed by the name after ``QL_QUALITY_`` (or after ``QL_`` for the others).

    ``CLOUD``, ``CLOUDSHADOW``, ``HAZE``, ``SNOW``: ``(H, W)``, 1 = flagged. ``CIRRUS``:
    ``(H, W)``, 0 none, 1 thin, 2 medium, 3 thick (one row of each). ``QUALITY_CLASSES``:
    ``(H, W)``, 1 land, 2 water, 3 background (the no-data corner). ``PIXELMASK``:
    ``(224, H, W)``, 1 = defective detector pixel (one column in a few SWIR bands), 255 on the
    background. ``QUALITY_TESTFLAGS``: ``(H, W)`` zeros (nominal quality).
    """
    rng = np.random.default_rng(seed + 7)
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = height * rng.uniform(0.3, 0.45), width * rng.uniform(0.5, 0.65)
    r = max(2.0, 0.15 * min(height, width))
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    cloud = d2 <= r**2
    shadow = (((yy - cy - 4) ** 2 + (xx - cx + 3) ** 2) <= r**2) & ~cloud
    haze = (d2 <= (1.8 * r) ** 2) & ~cloud & ~shadow
    snow = (yy >= height - 6) & (yy < height - 2) & (xx >= 8) & (xx < 13)
    cirrus = np.where((yy >= 2) & (yy < 5) & (xx >= 10), yy - 1, 0)  # rows 2, 3, 4: thin, medium, thick
    corner = (yy + xx) < 6
    water = (xx < 3) & (yy >= 10) & (yy < 16)
    classes = np.where(corner, 3, np.where(water, 2, 1))
    pixelmask = np.zeros((N_BANDS, height, width), dtype=np.uint8)
    pixelmask[detector_bands(seed)[1][-4:] - 1, :, 7] = 1
    pixelmask[:, corner] = 255
    out = {
        "CLOUD": cloud,
        "CLOUDSHADOW": shadow,
        "HAZE": haze,
        "SNOW": snow,
        "CIRRUS": cirrus,
        "PIXELMASK": pixelmask,
        "QUALITY_CLASSES": classes,
        "QUALITY_TESTFLAGS": np.zeros((height, width)),
    }
    return {k: v.astype(np.uint8) for k, v in out.items()}


def _transform(seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed + 3)
    return 399960.0 + 30.0 * int(rng.integers(0, 1000)), 5800020.0 - 30.0 * int(rng.integers(0, 1000))


def _write_raster(path: Path, data: np.ndarray, *, nodata: float | None, x0: float, y0: float) -> None:
    """Write ``data`` (``(C, H, W)`` or ``(H, W)``) georeferenced on the product grid.

    GeoTIFF, or lossless JPEG2000 when ``path`` ends ``.JP2``/``.JPEG2000`` (any case).
    """
    data = data if data.ndim == 3 else data[None]
    jp2 = path.name.upper().endswith((".JP2", ".JPEG2000"))
    profile = {
        "driver": "JP2OpenJPEG" if jp2 else "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": f"EPSG:{EPSG}",
        "transform": from_origin(x0, y0, PIXEL, PIXEL),
    }
    profile.update({"quality": 100, "reversible": "YES"} if jp2 else {"interleave": "band"})
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def _sub(parent: ET.Element, tag: str, text: object | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = str(text)
    return el


def _corners(parent: ET.Element, tag: str, values: Sequence[float]) -> None:
    """``<tag>`` with ``upper_left``/``upper_right``/``lower_left``/``lower_right``/``center`` children."""
    el = _sub(parent, tag)
    for name, v in zip(("upper_left", "upper_right", "lower_left", "lower_right", "center"), values):
        _sub(el, name, v)


def band_statistics(raw: np.ndarray, gain: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` per band, ``(C,)`` each, of the reflectance of the pixels that hold data.

    A band with no data anywhere gets mean -1000000 and std 0, the marker real products carry
    in ``product/bandStatistics``.
    """
    mean = np.full(raw.shape[0], -1000000.0)
    std = np.zeros(raw.shape[0])
    for i, band in enumerate(raw):
        vals = band[band != NODATA].astype(np.float64) * gain[i] + offset[i]
        if vals.size:
            mean[i], std[i] = vals.mean(), vals.std()
    return mean, std


def metadata_xml(
    *,
    wavelength: np.ndarray,
    fwhm: np.ndarray,
    gain: np.ndarray,
    offset: np.ndarray,
    vnir_bands: np.ndarray,
    swir_bands: np.ndarray,
    band_mean: np.ndarray,
    band_std: np.ndarray,
    height: int,
    width: int,
    files: Sequence[tuple[str, int]],
    spectral_name: str,
    product_format: str = "GeoTIFF+Metadata",
) -> bytes:
    """The METADATA.XML text, with the real element names and nesting.

    ``level_X`` holds ``metadata`` (schema, file name), ``processing`` (``productFormat``
    such as ``GeoTIFF+Metadata``/``BSQ+Metadata``), ``base`` (level, format, times, footprint),
    ``specific`` (``bandCharacterisation/bandID[@number]`` with ``wavelengthCenterOfBand``,
    ``FWHMOfBand`` in nm, ``GainOfBand``, ``OffsetOfBand``; per-detector
    ``expectedChannelsList``; ortho scene size; sun and view angles) and ``product``
    (``image/merge``, ``productFileInformation/file[@number]``, ``ortho``,
    ``bandStatistics/bandID[@number]``). ``files``: ``(name, size in kB)`` of the other parts.
    """
    root = ET.Element("level_X")
    root.set("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
    root.set("xsi:noNamespaceSchemaLocation", "L2A_Metadata.xsd")
    md = _sub(root, "metadata")
    schema = _sub(md, "schema")
    _sub(schema, "processingLevel", "L2A")
    _sub(schema, "versionSchema", "01.05.00")
    _sub(md, "name", f"{PRODUCT}-METADATA.XML")
    _sub(md, "comment", "Synthetic test product written by tests/data/enmap_l2a/make.py")
    proc = _sub(root, "processing")
    _sub(proc, "terrainCorrection", "Yes")
    _sub(proc, "ozoneValue", "308")
    _sub(proc, "season", "summer")
    _sub(proc, "productFormat", product_format)
    _sub(proc, "mapProjection", "UTM_Zone_of_Scene_Center")
    _sub(proc, "correctionType", "Land_Mode")
    base = _sub(root, "base")
    _sub(base, "format", "ENMAP_L2A")
    _sub(base, "level", "L2A")
    _sub(base, "revision", "01.05.03")
    _sub(base, "archivedVersion", "01.05.03")
    times = _sub(base, "temporalCoverage")
    _sub(times, "startTime", "2022-11-03T16:24:38.123456Z")
    _sub(times, "stopTime", "2022-11-03T16:24:42.654321Z")
    poly = _sub(_sub(base, "spatialCoverage"), "boundingPolygon")
    for frame, lat, lon in (("upper_left", 52.41, 13.01), ("upper_right", 52.39, 13.42), ("lower_right", 52.14, 13.39),
                            ("lower_left", 52.16, 12.98), ("upper_left", 52.41, 13.01)):
        point = _sub(poly, "point")
        _sub(point, "frame", frame)
        _sub(point, "latitude", lat)
        _sub(point, "longitude", lon)
    spec = _sub(root, "specific")
    _sub(spec, "code", "L2A")
    bc = _sub(spec, "bandCharacterisation")
    for i in range(wavelength.size):
        b = _sub(bc, "bandID", number=str(i + 1))
        _sub(b, "wavelengthCenterOfBand", f"{wavelength[i]:.3f}")
        _sub(b, "FWHMOfBand", f"{fwhm[i]:.3f}")
        _sub(b, "GainOfBand", repr(float(gain[i])))
        _sub(b, "OffsetOfBand", repr(float(offset[i])))
    for tag, numbers in (("vnirProductQuality", vnir_bands), ("swirProductQuality", swir_bands)):
        q = _sub(spec, tag)
        _sub(q, "numChannelsExpected", len(numbers))
        _sub(q, "expectedChannelsList", ",".join(str(int(n)) for n in numbers))
    _sub(spec, "widthOfOrthoScene", width)
    _sub(spec, "heightOfOrthoScene", height)
    _sub(spec, "pixelSizeOfOrthoScene", int(PIXEL))
    _corners(spec, "sunElevationAngle", (24.1, 24.3, 24.5, 24.7, 24.4))
    _corners(spec, "sunAzimuthAngle", (170.2, 170.9, 170.1, 170.8, 170.5))
    _corners(spec, "acrossOffNadirAngle", (-3.1, -2.4, -3.0, -2.3, -2.7))
    _corners(spec, "alongOffNadirAngle", (-0.2, -0.2, -0.3, -0.3, -0.25))
    _corners(spec, "sceneAzimuthAngle", (14.3, 14.3, 14.2, 14.2, 14.25))
    product = _sub(root, "product")
    merge = _sub(_sub(product, "image"), "merge")
    _sub(merge, "channels", wavelength.size)
    _sub(merge, "name", spectral_name)
    _sub(merge, "format", "binary")
    dim = _sub(merge, "dimension")
    _sub(dim, "columns", width)
    _sub(dim, "rows", height)
    info = _sub(product, "productFileInformation")
    for k, (name, size) in enumerate(files):
        f = _sub(info, "file", number=str(k))
        _sub(f, "name", name)
        _sub(f, "size", size, unit="Kbyte")
        _sub(f, "version", "01.05.03")
        _sub(f, "format", "xml" if name.upper().endswith(".XML") else "binary")
    ortho = _sub(product, "ortho")
    _sub(ortho, "projection", f"UTM_Zone{EPSG - 32600}_North")
    _sub(ortho, "resolution", int(PIXEL))
    _sub(ortho, "resampling", "Cubic Convolution")
    stats = _sub(product, "bandStatistics")
    for i in range(wavelength.size):
        b = _sub(stats, "bandID", number=str(i + 1))
        _sub(b, "wavelength", f"{wavelength[i]:.3f}")
        _sub(b, "mean", f"{band_mean[i]:.6g}")
        _sub(b, "stdDeviation", f"{band_std[i]:.6g}")
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def history_xml() -> bytes:
    """A short ``HISTORY.XML`` (processing steps), present in every real product and never read."""
    root = ET.Element("history")
    for step in ("ENMAP.HSI.L0", "ENMAP.HSI.L1B", "ENMAP.HSI.L1C", "ENMAP.HSI.L2A", "ENMAP.HSI.Output"):
        _sub(_sub(root, "processor"), "name", step)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def make(
    root: Path,
    *,
    height: int = 40,
    width: int = 30,
    seed: int = 0,
    zip_it: bool = False,
    zip_layout: str = "folder",
    gain: float | Sequence[float] = GAIN,
    offset: float | Sequence[float] = 0.0,
    raster_ending: str = ".TIF",
) -> Path:
    """Write a synthetic EnMAP L2A product under ``root``.

    Args:
        root: existing directory.
        height, width: image size in pixels (>= 12 x 16 so every feature fits).
        seed: scene seed (spectra, band table jitter, cloud position, grid origin).
        zip_it: also write ``<product>.ZIP`` and return it instead of the folder.
        zip_layout: ``"folder"`` (the zip holds the product folder, as delivered) or
            ``"flat"`` (the files sit at the top of the zip).
        gain, offset: per-band (or one) value written to ``GainOfBand``/``OffsetOfBand``.
        raster_ending: how every raster name ends: ``".TIF"``, ``"_COG.tiff"``/``"_COG.TIF"``
            as in products delivered as Cloud-Optimized GeoTIFF, ``".GEOTIFF"`` (the early
            products' spelling), or ``".JP2"``/``".JPEG2000"`` for a product ordered in JPEG2000
            (rasters written as lossless JPEG2000).

    Returns:
        The product folder, or the zip when ``zip_it``.
    """
    if height < 12 or width < 16:
        raise ValueError("make(): height >= 12 and width >= 16 are needed")
    folder = Path(root) / PRODUCT
    folder.mkdir(parents=True, exist_ok=True)
    wl, fw = band_table(seed)
    gains = np.broadcast_to(np.asarray(gain, dtype=np.float64), (N_BANDS,))
    offsets = np.broadcast_to(np.asarray(offset, dtype=np.float64), (N_BANDS,))
    x0, y0 = _transform(seed)
    raw = spectral_raw(height, width, seed)
    spectral_name = f"{PRODUCT}-SPECTRAL_IMAGE{raster_ending}"
    _write_raster(folder / spectral_name, raw, nodata=NODATA, x0=x0, y0=y0)
    for name, layer in quality_layers(height, width, seed).items():
        prefix = "QL_QUALITY_" if name in QUALITY_LAYERS else "QL_"
        _write_raster(folder / f"{PRODUCT}-{prefix}{name}{raster_ending}", layer, nodata=None, x0=x0, y0=y0)
    refl = np.clip(raw[[30, 20, 10]], 0, 3000).astype(np.float64)
    _write_raster(folder / f"{PRODUCT}-QL_VNIR{raster_ending}", (refl / 3000 * 255).astype(np.uint8), nodata=None,
                  x0=x0, y0=y0)
    swir = np.clip(raw[[200, 150, 100]], 0, 5000).astype(np.float64)
    _write_raster(folder / f"{PRODUCT}-QL_SWIR{raster_ending}", (swir / 5000 * 255).astype(np.uint8), nodata=None,
                  x0=x0, y0=y0)
    (folder / f"{PRODUCT}-HISTORY.XML").write_bytes(history_xml())
    files = [(f.name, max(1, f.stat().st_size // 1024)) for f in sorted(folder.iterdir())]
    files.append((f"{PRODUCT}-METADATA.XML", 0))
    mean, std = band_statistics(raw, gains, offsets)
    vnir, swir_bands = detector_bands(seed)
    xml = metadata_xml(
        wavelength=wl, fwhm=fw, gain=gains, offset=offsets, vnir_bands=vnir, swir_bands=swir_bands,
        band_mean=mean, band_std=std, height=height, width=width, files=files, spectral_name=spectral_name,
        product_format=PRODUCT_FORMATS.get(raster_ending.upper().rsplit(".", 1)[-1], "GeoTIFF+Metadata"),
    )
    (folder / f"{PRODUCT}-METADATA.XML").write_bytes(xml)
    if not zip_it:
        return folder
    if zip_layout not in ("folder", "flat"):
        raise ValueError("zip_layout must be 'folder' or 'flat'")
    zpath = Path(root) / f"{PRODUCT}.ZIP"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{PRODUCT}/{f.name}" if zip_layout == "folder" else f.name)
    return zpath
