"""A synthetic 200-band scene for the ``hsi train --task denoise --init`` measurement (BENCHMARKS.md).

The scene is on the wavelengths of the shipped ``models/indian_pines_hsdt_subspace_g50`` (Indian
Pines' 200 bands) but holds other materials: five smooth random endmembers (a constant plus six
Gaussian bumps each, scaled to reflectance 0.1-0.6) mixed by smooth random abundances, 96 x 120 px,
float32, no georeference, seed 0. A run started from the shipped model with ``--init`` therefore
continues on another scene with the same band set. ``--bands N``: N bands evenly spaced over
420-2400 nm instead (another band set, same materials' shapes).

Run: ``.venv/bin/python benchmarks/make_denoise_init_scene.py OUT.tif [--bands 40]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

MODEL = Path(__file__).resolve().parents[1] / "models" / "indian_pines_hsdt_subspace_g50"


def make_scene(wavelengths: np.ndarray, h: int = 96, w: int = 120, materials: int = 5, seed: int = 0) -> np.ndarray:
    """``(C, h, w)`` float32 mixture of ``materials`` smooth spectra at ``wavelengths`` (nm)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    wl = np.asarray(wavelengths, float)
    c, s, a = rng.uniform(400, 2500, (materials, 6)), rng.uniform(30, 300, (materials, 6)), rng.uniform(-1, 1, (materials, 6))
    end = 3 + (a[:, :, None] * np.exp(-0.5 * ((wl - c[:, :, None]) / s[:, :, None]) ** 2)).sum(1)
    end = 0.1 + 0.5 * (end - end.min()) / (end.max() - end.min())
    ab = np.stack([ndimage.gaussian_filter(rng.random((h, w)), 6) for _ in range(materials)])
    ab = np.exp(12 * (ab - ab.mean(axis=0)))
    ab /= ab.sum(axis=0)
    return np.einsum("kc,khw->chw", end, ab).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="GeoTIFF to write")
    parser.add_argument("--bands", type=int, default=None, help="N bands over 420-2400 nm (default: the model's 200)")
    args = parser.parse_args()
    from hsi_app.io.cog import write_cube
    from hsi_app.io.cube import make_cube

    wl = np.asarray(json.loads((MODEL / "config.json").read_text())["wavelengths"], float)
    if args.bands is not None:
        wl = np.linspace(420.0, 2400.0, args.bands)
    cube = make_scene(wl)
    write_cube(args.out, make_cube(cube, wavelength=wl), progress=False)
    print(f"{args.out}: {cube.shape}, reflectance {cube.min():.3f}-{cube.max():.3f}")


if __name__ == "__main__":
    main()
