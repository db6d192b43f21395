"""Seeded tiny spectral libraries (CSV and ENVI .sli) and a matching background cube for detection tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BANDS = 12
WAVELENGTHS = np.linspace(450.0, 2400.0, BANDS)  # cube band centres, nm
LIB_WL = np.arange(400.0, 2501.0, 25.0)  # library sampling, nm
NAMES = ["alpha", "beta", "gamma"]


def library_spectra() -> np.ndarray:
    """``(3, L)`` smooth, clearly different reflectance curves on :data:`LIB_WL`."""
    x = (LIB_WL - 400.0) / 2100.0
    return np.stack([0.2 + 0.5 * x, 0.7 - 0.5 * x, 0.3 + 0.3 * np.sin(6.0 * x) ** 2])


def background(seed: int = 0, shape: tuple[int, int] = (32, 48)) -> np.ndarray:
    """``(BANDS, H, W)`` float32 background reflectance: a smooth soil-like mean plus noise."""
    rng = np.random.default_rng(seed)
    mean = 0.25 + 0.1 * np.cos((WAVELENGTHS - 450.0) / 600.0)
    low = rng.normal(0, 0.02, (BANDS, shape[0] // 4 + 1, shape[1] // 4 + 1)).repeat(4, 1).repeat(4, 2)
    return (mean[:, None, None] + low[:, : shape[0], : shape[1]] + rng.normal(0, 0.01, (BANDS, *shape))).astype(np.float32)


def write_csv(path: Path, *, micrometres: bool = False, percent: bool = False) -> Path:
    """Write the library as CSV (``wavelength`` first) and return the path."""
    wl = LIB_WL / 1000.0 if micrometres else LIB_WL
    sp = library_spectra() * (100.0 if percent else 1.0)
    header = "wavelength," + ",".join(NAMES)
    np.savetxt(path, np.column_stack([wl, sp.T]), delimiter=",", header=header, comments="", fmt="%.6g")
    return path


def write_sli(path: Path) -> Path:
    """Write the library as an ENVI spectral library (``.sli`` + ``.hdr``) through SPy."""
    from spectral.io import envi

    header = {"wavelength": [f"{w:g}" for w in LIB_WL], "wavelength units": "nm", "spectra names": NAMES}
    lib = envi.SpectralLibrary(library_spectra(), header, {})
    lib.save(str(path.with_suffix("")))
    return path.with_suffix(".sli")


def write_geotiff(path: Path, image: np.ndarray, *, crs: str = "EPSG:32616") -> Path:
    """Write ``(C, H, W)`` as a georeferenced GeoTIFF with wavelength tags."""
    import rasterio
    from rasterio.transform import from_origin

    c, h, w = image.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype="float32", crs=crs,
                       transform=from_origin(500000.0, 4100000.0, 10.0, 10.0)) as ds:
        ds.write(image.astype(np.float32))
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in WAVELENGTHS), wavelength_units="nm")
    return path
