"""Fixtures for batch tests: tiny georeferenced GeoTIFF scenes and a random-weight test_ssfcn run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

BANDS = 8
CLASSES = 4
WAVELENGTHS = np.linspace(450.0, 2300.0, BANDS)
EPSG = "EPSG:32633"


def write_scene(path: Path, height: int, width: int, seed: int, *, nodata_corner: bool = True) -> Path:
    """A ``BANDS``-band int16 reflectance GeoTIFF (x 1e4, nodata -9999) with smooth spatial structure."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / 7.0
    base = np.stack([np.sin(xx * (b + 1) / 3 + seed) + np.cos(yy * (b + 2) / 4) for b in range(BANDS)])
    data = (3000 + 1500 * base + 200 * rng.standard_normal((BANDS, height, width))).astype(np.int16)
    if nodata_corner:
        data[:, -3:, :4] = -9999
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "height": height, "width": width, "count": BANDS, "dtype": "int16",
               "crs": EPSG, "transform": from_origin(500000.0 + 30 * seed, 4600000.0, 30.0, 30.0), "nodata": -9999}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in WAVELENGTHS), wavelength_units="nm")
    return path


def make_run(run_dir: Path, seed: int = 0) -> Path:
    """A run folder holding a randomly initialised ``test_ssfcn`` (no training needed to test plumbing)."""
    import torch

    from hsi_app.checkpoint import RunConfig, json_floats, save_run
    from hsi_app.models import create_model

    torch.manual_seed(seed)
    model = create_model("test_ssfcn", in_chans=BANDS, num_classes=CLASSES)
    config = RunConfig(
        task="classification", model_name="test_ssfcn", model_args={}, in_chans=BANDS, num_classes=CLASSES,
        class_names=["unlabelled", "water", "forest", "crop", "urban"], wavelengths=json_floats(WAVELENGTHS),
        fwhm=[None] * BANDS, band_indices=list(range(BANDS)), source_bands=BANDS, mean=[3000.0] * BANDS,
        std=[1000.0] * BANDS, receptive_radius=int(model.receptive_radius),
    )
    return save_run(run_dir, config, model.state_dict())


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("batch_run") / "run")


def make_scenes(root: Path, *, corrupt: bool = True, big: bool = False) -> dict[str, Path]:
    """``root/a.tif``, ``root/sub/b.tif``, ``root/sub/deeper/c.tif`` (+ ``bad.tif``, + a 70 x 60 ``big.tif``)."""
    scenes = {
        "a": write_scene(root / "a.tif", 24, 20, 1),
        "b": write_scene(root / "sub" / "b.tif", 30, 26, 2),
        "c": write_scene(root / "sub" / "deeper" / "c.tif", 18, 22, 3),
    }
    if corrupt:
        bad = root / "bad.tif"
        bad.write_bytes(b"II*\x00" + np.random.default_rng(9).bytes(3000))  # TIFF magic, garbage after it
        scenes["bad"] = bad
    if big:
        scenes["big"] = write_scene(root / "big.tif", 70, 60, 4)
    return scenes


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers above (test modules cannot import this conftest by name: tests/conftest.py shadows it)."""
    return SimpleNamespace(write_scene=write_scene, make_run=make_run, make_scenes=make_scenes,
                           BANDS=BANDS, CLASSES=CLASSES)
