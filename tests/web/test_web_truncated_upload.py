"""A truncated GeoTIFF gets one line without rasterio's "See previous exception for details"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.errors import CubeReadError
from hsi_app.io.open import open_cube

BOILERPLATE = "See previous exception"


@pytest.fixture()
def truncated(tmp_path: Path) -> Path:
    """The first third of a tiled GeoTIFF: its header opens, its last tiles are missing."""
    import rasterio
    from rasterio.transform import from_origin

    whole = tmp_path / "whole.tif"
    with rasterio.open(whole, "w", driver="GTiff", height=64, width=64, count=6, dtype="float32", tiled=True,
                       blockxsize=16, blockysize=16, crs="EPSG:32633",
                       transform=from_origin(500000, 4200000, 30, 30)) as ds:
        ds.write(np.random.default_rng(0).uniform(size=(6, 64, 64)).astype(np.float32))
    data = whole.read_bytes()
    out = tmp_path / "my field.tif"
    out.write_bytes(data[: len(data) // 3])
    return out


def test_open_cube_names_no_previous_exception(truncated: Path) -> None:
    with pytest.raises(CubeReadError) as err:
        open_cube(truncated)
    text = str(err.value)
    assert BOILERPLATE not in text
    assert text.startswith(f"{truncated}: data cannot be read (") and text.endswith("the file is truncated or corrupt")


def test_the_page_shows_the_line_without_it(truncated: Path) -> None:
    from hsi_app.cli.serve_cmd import load_web_app
    from hsi_app.viewer.messages import in_viewer_terms

    cfg = viewer.ViewerConfig(max_upload_bytes=2**20)
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    upload = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", None) == "open_uploaded")
    state = viewer.ViewerSession(config=cfg)
    try:
        message = upload(state, str(truncated))[-1]
    finally:
        state.close()
    assert message == ("the upload could not be read as a scene: my field.tif: data cannot be read (Read failed.); "
                       "the file is truncated or corrupt")
    assert in_viewer_terms("x.tif: window (0, 0) (Read failed. See previous exception for details.)") == (
        "x.tif: window (0, 0) (Read failed.)")
