"""Write ``datasets/spectral_library_demo.csv``: a small SYNTHETIC spectral library for demos.

These are NOT measured spectra and NOT from the USGS or any other library. Each material
is a smooth curve (logistic edges, Gaussian absorption bands) drawn by hand to have the
broad shape of a man-made material, sampled every 10 nm from 400 to 2500 nm, as
reflectance 0..1. They exist so that `hsi simulate-targets`, `hsi train --task detect`
and `benchmarks/bench_detection.py` have target spectra that are clearly not the
vegetation and soil of the Indian Pines background. Deterministic (no randomness).

    python datasets/make_spectral_library_demo.py   # rewrites the CSV next to this file
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WL = np.arange(400.0, 2501.0, 10.0)


def _edge(centre: float, width: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(WL - centre) / width))


def _band(centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((WL - centre) / width) ** 2)


def materials() -> dict[str, np.ndarray]:
    """Name -> (211,) reflectance."""
    return {
        # green paint: green peak, no vegetation red edge, flat moderate SWIR
        "green_paint": 0.08 + 0.10 * _band(540, 40) + 0.18 * _edge(1100, 80) - 0.05 * _band(1700, 60),
        # blue plastic tarp: blue peak, dark red, bright SWIR with C-H features
        "blue_tarp": 0.05 + 0.25 * _band(460, 45) + 0.40 * _edge(800, 50)
        - 0.12 * _band(1730, 30) - 0.15 * _band(2310, 40),
        # red brick: iron oxide rise at 580 nm, broad Fe2+ dip near 900 nm
        "red_brick": 0.08 + 0.30 * _edge(580, 25) - 0.08 * _band(900, 90) + 0.05 * _edge(1500, 200),
        # white roofing: bright, slowly falling into the SWIR
        "white_roof": 0.75 - 0.20 * _edge(1600, 300) - 0.10 * _band(2200, 80),
        # aluminium sheet: bright, flat, the 850 nm dip of aluminium
        "aluminium": 0.62 - 0.12 * _band(850, 60) + 0.03 * _edge(1200, 200),
        # black rubber: dark and flat with a slight SWIR rise
        "black_rubber": 0.04 + 0.03 * _edge(1500, 250),
    }


def main() -> Path:
    """Write the CSV and return its path."""
    mats = materials()
    out = Path(__file__).with_name("spectral_library_demo.csv")
    rows = np.column_stack([WL, *[np.clip(v, 0.01, 0.99) for v in mats.values()]])
    lines = ["wavelength_nm," + ",".join(mats)]
    lines += [",".join(f"{v:.5f}" if j else f"{v:.0f}" for j, v in enumerate(r)) for r in rows]
    out.write_text("\n".join(lines) + "\n")
    return out


if __name__ == "__main__":
    print(main())
