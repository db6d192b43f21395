"""The EnMAP quality-layer grid check maps pixel corners with affine's ``@`` operator: reading a georeferenced
product raises no PendingDeprecationWarning / DeprecationWarning from affine at a line of hsi_app (they are errors
here; rioxarray's own use of ``*`` is not ours to change). The product is written by tests/data/enmap_l2a/make.py."""

from __future__ import annotations

import warnings
from pathlib import Path

import rasterio

from fixture_loader import fixture_module
from hsi_app.io.enmap import read_enmap
from hsi_app.io.enmap_layers import Grid, grid_mismatch

fx = fixture_module("enmap_l2a")


def _errors_from_hsi_app() -> None:
    """Turn affine's deprecation warnings into errors where the warning's line is in hsi_app (affine warns with
    ``stacklevel=2``, so the location is its caller)."""
    for category in (PendingDeprecationWarning, DeprecationWarning):
        warnings.filterwarnings("error", category=category, module=r"hsi_app\.")


def test_grid_check_raises_no_affine_deprecation(tmp_path: Path) -> None:
    folder = fx.make(tmp_path, height=40, width=30, seed=0)
    layer = folder / f"{fx.PRODUCT}-QL_QUALITY_CLOUD.TIF"
    with rasterio.open(folder / f"{fx.PRODUCT}-SPECTRAL_IMAGE.TIF") as img:
        grid = Grid(img.crs, img.transform)
    with warnings.catch_warnings(), rasterio.open(layer) as ds:
        _errors_from_hsi_app()
        assert grid_mismatch(ds, grid) is None  # the same grid: every corner is checked


def test_reading_a_georeferenced_product_raises_no_affine_deprecation(tmp_path: Path) -> None:
    folder = fx.make(tmp_path, height=40, width=30, seed=0)
    with warnings.catch_warnings():
        _errors_from_hsi_app()
        cube = read_enmap(folder)
    assert cube is not None
