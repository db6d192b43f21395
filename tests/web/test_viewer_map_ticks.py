"""Map-coordinate tick labels stay readable in the notebooks' side-by-side panels (MapExtent.label)."""

from __future__ import annotations

import numpy as np
from rasterio.transform import from_origin

from hsi_app import viewer
from hsi_app.io.cube import make_cube


def test_utm_tick_labels_do_not_overlap_on_a_narrow_panel() -> None:
    """A 72 x 72 px scene of 30 m pixels in UTM, drawn in one of two panels 11 inches wide together (notebook 01):
    the eastings (440000, 440250, ...) ran into each other; each x tick label now has room of its own."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cube = make_cube(np.zeros((3, 72, 72), np.float32), wavelength=[470.0, 550.0, 640.0], crs="EPSG:32616",
                     transform=from_origin(440000.0, 3750000.0, 30.0, 30.0))
    grid = viewer.map_extent(cube)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax in axes:
        ax.imshow(np.zeros((72, 72)), extent=grid.extent)
    grid.label(axes)
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        left, right = ax.get_xlim()
        shown = [t for t in ax.get_xticklabels() if t.get_text() and left <= t.get_position()[0] <= right]
        assert len(shown) >= 2
        boxes = sorted((t.get_window_extent(renderer) for t in shown), key=lambda b: b.x0)
        assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), [t.get_text() for t in shown]
    plt.close(fig)
