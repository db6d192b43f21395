"""Seeded writer of a tiny EnMAP L2A product that mirrors the real delivery layout.

The real product is a folder (often zipped) named like
``ENMAP01-____L2A-DT0000004950_20221103T162438Z_001_V010303_20230601T154812Z`` holding
``<product>-SPECTRAL_IMAGE.TIF`` (224 bands, int16, no-data -32768, reflectance x 1e4),
``<product>-METADATA.XML`` (root ``level_X``; per-band values under
``specific/bandCharacterisation/bandID[@number]``) and quality/quicklook GeoTIFFs.
This script writes the same names, dtypes, no-data value, XML element names and a
UTM 30 m grid, at a small size, so that readers are tested against the real layout.

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
SINGLE_BAND_NODATA = (2, 10)
"""``(band_index, pixel_offset_from_bottom_right)``: one pixel with no-data in one good band."""


def band_table(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-scene band centres and FWHM in nm, ``(224,)`` each.

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
    """``(H, W)`` uint8 layers (1 = flagged) keyed by QL_QUALITY_<NAME>, plus the others."""
    rng = np.random.default_rng(seed + 7)
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = height * rng.uniform(0.3, 0.45), width * rng.uniform(0.5, 0.65)
    r = max(2.0, 0.15 * min(height, width))
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    cloud = d2 <= r**2
    shadow = (((yy - cy - 4) ** 2 + (xx - cx + 3) ** 2) <= r**2) & ~cloud
    haze = (d2 <= (1.8 * r) ** 2) & ~cloud & ~shadow
    snow = (yy >= height - 6) & (yy < height - 2) & (xx >= 8) & (xx < 13)
    cirrus = (yy >= 2) & (yy < 5) & (xx >= 10)
    corner = (yy + xx) < 6
    classes = np.where(corner, 0, np.where(cloud, 3, 1)).astype(np.uint8)
    out = {
        "CLOUD": cloud,
        "CLOUDSHADOW": shadow,
        "HAZE": haze,
        "SNOW": snow,
        "CIRRUS": cirrus,
        "PIXELMASK": corner,
        "QUALITY_CLASSES": classes,
        "QUALITY_TESTFLAGS": np.zeros((height, width)),
    }
    return {k: v.astype(np.uint8) for k, v in out.items()}


def _transform(seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed + 3)
    return 399960.0 + 30.0 * int(rng.integers(0, 1000)), 5800020.0 - 30.0 * int(rng.integers(0, 1000))


def _write_tif(path: Path, data: np.ndarray, *, nodata: float | None, x0: float, y0: float) -> None:
    data = data if data.ndim == 3 else data[None]
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": f"EPSG:{EPSG}",
        "transform": from_origin(x0, y0, PIXEL, PIXEL),
        "interleave": "band",
    }
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def _sub(parent: ET.Element, tag: str, text: object | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = str(text)
    return el


def metadata_xml(
    *,
    wavelength: np.ndarray,
    fwhm: np.ndarray,
    gain: np.ndarray,
    offset: np.ndarray,
    height: int,
    width: int,
    x0: float,
    y0: float,
) -> bytes:
    """The METADATA.XML text: real element names, ``bandCharacterisation`` per band."""
    root = ET.Element("level_X")
    root.set("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
    root.set("xsi:noNamespaceSchemaLocation", "L2A_Metadata.xsd")
    md = _sub(root, "metadata")
    schema = _sub(md, "schema")
    _sub(schema, "processingLevel", "L2A")
    _sub(schema, "version", "01.03.03")
    _sub(md, "name", f"{PRODUCT}-METADATA.XML")
    _sub(md, "comment", "Synthetic test product written by tests/data/enmap_l2a/make.py")
    proc = _sub(root, "processing")
    _sub(proc, "version", "01.03.03")
    _sub(proc, "terrainCorrection", "Yes")
    _sub(proc, "ozoneValue", "308")
    base = _sub(root, "base")
    _sub(base, "format", "ENMAP_L2A")
    _sub(base, "level", "L2A")
    _sub(base, "revision", "1")
    spec = _sub(root, "specific")
    bc = _sub(spec, "bandCharacterisation")
    for i in range(wavelength.size):
        b = _sub(bc, "bandID", number=str(i + 1))
        _sub(b, "wavelengthCenterOfBand", f"{wavelength[i]:.3f}")
        _sub(b, "FWHMOfBand", f"{fwhm[i]:.3f}")
        _sub(b, "GainOfBand", repr(float(gain[i])))
        _sub(b, "OffsetOfBand", repr(float(offset[i])))
    product = _sub(root, "product")
    image = _sub(product, "image")
    merge = _sub(image, "merge")
    _sub(merge, "name", f"{PRODUCT}-SPECTRAL_IMAGE.TIF")
    _sub(merge, "channels", wavelength.size)
    dim = _sub(merge, "dimension")
    _sub(dim, "columns", width)
    _sub(dim, "rows", height)
    _sub(merge, "dataType", "INT16")
    _sub(merge, "noDataValue", NODATA)
    ortho = _sub(product, "ortho")
    _sub(ortho, "projection", f"UTM_Zone{EPSG - 32600}_North")
    _sub(ortho, "resolution", int(PIXEL))
    ul = _sub(ortho, "upperLeftCorner")
    _sub(ul, "easting", x0)
    _sub(ul, "northing", y0)
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
        raster_ending: how the SPECTRAL_IMAGE and QL_QUALITY_* names end: ``".TIF"``, or
            ``"_COG.tiff"``/``"_COG.TIF"`` as in products delivered as Cloud-Optimized GeoTIFF.

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
    _write_tif(folder / f"{PRODUCT}-SPECTRAL_IMAGE{raster_ending}", raw, nodata=NODATA, x0=x0, y0=y0)
    for name, layer in quality_layers(height, width, seed).items():
        prefix, ending = ("QL_QUALITY_", raster_ending) if name in QUALITY_LAYERS else ("QL_", ".TIF")
        _write_tif(folder / f"{PRODUCT}-{prefix}{name}{ending}", layer, nodata=None, x0=x0, y0=y0)
    refl = np.clip(raw[[30, 20, 10]], 0, 3000).astype(np.float64)
    _write_tif(folder / f"{PRODUCT}-QL_VNIR.TIF", (refl / 3000 * 255).astype(np.uint8), nodata=None, x0=x0, y0=y0)
    swir = np.clip(raw[[200, 150, 100]], 0, 5000).astype(np.float64)
    _write_tif(folder / f"{PRODUCT}-QL_SWIR.TIF", (swir / 5000 * 255).astype(np.uint8), nodata=None, x0=x0, y0=y0)
    xml = metadata_xml(
        wavelength=wl, fwhm=fw, gain=gains, offset=offsets, height=height, width=width, x0=x0, y0=y0
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
