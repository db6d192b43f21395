"""Indian Pines band centres: tensorly's list, its two mislabelled bands, and the correction.

The ``tensorly`` copy of Indian Pines (``load_indian_pines().ticks[1]``, tensorly 0.10) lists
0-based bands 170 and 171 at 2260.22 and 2270.15 nm, between band 169 (2202.30 nm) and band
172 (2232.07 nm): the list runs backwards there and 2260/2270 nm occur twice (bands 175 and
176 are at 2261.82 and 2271.73 nm). AVIRIS spectrometer D samples evenly, about 9.92 nm apart
(2202.30, 2232.07, 2241.99, ...), which puts bands 170 and 171 at 2212.22 and 2222.15 nm:
tensorly's values are exactly 48.00 nm above those, and the pixel values are smooth in band
order there, as for any neighbouring bands. The app uses the corrected centres.

Runs (``config.json``) and scene files written before that correction record tensorly's
list. :func:`corrected_centres` recognises it, and is applied where wavelengths enter the
app (:func:`hsi_app.checkpoint.load_config` for runs, :func:`hsi_app.io.cube.make_cube` for
scenes), so an older run still matches the corrected scene band for band; with the old list
a run's 2260.22 nm band would otherwise be matched to the scene's 2261.82 nm band (within
the 2 nm tolerance), silently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TENSORLY_NM: tuple[float, ...] = (
    400.02, 409.82, 419.62, 429.43, 439.25, 449.07, 458.9, 468.73, 478.57, 488.41,
    498.26, 508.12, 517.98, 527.85, 537.72, 547.6, 557.49, 567.38, 577.28, 587.18,
    597.09, 607.01, 616.93, 626.85, 636.78, 646.72, 656.67, 666.61, 676.57, 686.53,
    696.5, 686.91, 696.55, 706.19, 715.83, 725.47, 735.11, 744.74, 754.38, 764.01,
    773.64, 783.27, 792.91, 802.53, 812.21, 821.79, 831.41, 841.04, 850.66, 860.28,
    869.91, 879.53, 889.14, 898.76, 908.38, 917.99, 927.61, 937.22, 946.83, 956.45,
    966.06, 975.66, 985.27, 994.88, 1004.48, 1014.09, 1023.69, 1033.29, 1042.89, 1052.49,
    1062.09, 1071.69, 1081.29, 1090.88, 1100.48, 1110.07, 1119.66, 1129.25, 1138.84, 1148.43,
    1158.02, 1167.61, 1177.19, 1186.77, 1196.36, 1205.94, 1215.52, 1225.1, 1234.68, 1244.26,
    1253.83, 1263.41, 1272.98, 1282.55, 1273.0, 1282.96, 1292.93, 1302.89, 1312.85, 1322.81,
    1332.77, 1342.73, 1352.68, 1422.34, 1432.28, 1442.23, 1452.17, 1462.11, 1472.05, 1481.99,
    1491.92, 1501.86, 1511.79, 1521.73, 1531.66, 1541.59, 1551.52, 1561.44, 1571.37, 1581.3,
    1591.22, 1601.14, 1611.06, 1620.98, 1630.9, 1640.81, 1650.73, 1660.64, 1670.56, 1680.47,
    1690.38, 1700.28, 1710.19, 1720.1, 1730.0, 1739.9, 1749.81, 1759.71, 1769.6, 1779.5,
    1789.4, 1799.29, 1809.19, 1819.08, 1953.26, 1963.25, 1973.24, 1983.23, 1993.22, 2003.2,
    2013.18, 2023.16, 2033.13, 2043.1, 2053.07, 2063.04, 2073.0, 2082.97, 2092.92, 2102.88,
    2112.83, 2122.78, 2132.73, 2142.68, 2152.62, 2162.56, 2172.5, 2182.43, 2192.37, 2202.3,
    2260.22, 2270.15, 2232.07, 2241.99, 2251.9, 2261.82, 2271.73, 2281.64, 2291.54, 2301.45,
    2311.35, 2321.25, 2331.14, 2341.03, 2350.92, 2360.81, 2370.7, 2380.58, 2390.46, 2400.33,
    2410.21, 2420.08, 2429.95, 2439.81, 2449.68, 2459.54, 2469.4, 2479.25, 2489.11, 2498.96,
)  # fmt: skip
"""The 200 band centres (nm) as tensorly ships them, the two mislabelled ones included."""

CORRECTIONS: dict[int, tuple[float, float]] = {170: (2260.22, 2212.22), 171: (2270.15, 2222.15)}
"""0-based band -> (tensorly's centre, the corrected centre), nm."""

CORRECTED_NM: tuple[float, ...] = tuple(CORRECTIONS[i][1] if i in CORRECTIONS else v for i, v in enumerate(TENSORLY_NM))
"""The 200 band centres (nm) the app uses for Indian Pines."""

MATCH_NM = 1e-3
"""How close (nm) each recorded centre must be to tensorly's to be taken for its list (it has two decimals)."""


def corrected_centres(wavelengths: Sequence[float | None] | np.ndarray, band_indices: Sequence[int] | None = None,
                      source_bands: int | None = None) -> np.ndarray | None:
    """The corrected centres when ``wavelengths`` are tensorly's Indian Pines list, else None.

    Args:
        wavelengths: ``(C,)`` nm (None or NaN where unknown: then never tensorly's list).
        band_indices: ``(C,)`` indices of these bands in their source scene (a run's
            ``band_indices``); None: the bands are the whole scene, in order.
        source_bands: the source scene's band count (a run's ``source_bands``); None: ``C``.

    Returns:
        ``(C,)`` float64 nm, :data:`CORRECTED_NM` at the bands' indices (tensorly's values but for
        bands 170/171, at 2212.22/2222.15 nm), when the source has 200 bands, every centre is
        tensorly's for its band (within :data:`MATCH_NM`: float32 copies match too) and at least
        one of the two bands is present; else None (other scenes, and lists already corrected).
    """
    wl = np.array([np.nan if v is None else v for v in np.asarray(wavelengths, dtype=object).reshape(-1)],
                  dtype=np.float64)
    idx = np.arange(wl.size) if band_indices is None else np.asarray(band_indices, dtype=np.int64).reshape(-1)
    n = wl.size if source_bands is None else int(source_bands)
    if n != len(TENSORLY_NM) or idx.size != wl.size or idx.size == 0 or idx.min() < 0 or idx.max() >= n:
        return None
    if not np.all(np.abs(wl - np.asarray(TENSORLY_NM)[idx]) <= MATCH_NM):  # NaN compares False
        return None
    if not np.isin(idx, list(CORRECTIONS)).any():
        return None
    return np.asarray(CORRECTED_NM, dtype=np.float64)[idx]
