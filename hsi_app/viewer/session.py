"""One viewer session: the open scene, its display, the last map, the clicked points.

A session owns a private temporary folder (uploads, ``map.tif``, ``metrics.json``,
``points.gpkg``); :meth:`ViewerSession.close` deletes it, and so does garbage
collection or interpreter exit (``weakref.finalize``) if ``close`` is never called.
The functions here are what the web app's events call; notebooks can call them too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import InvalidDataError
from hsi_app.io.cube import Cube
from hsi_app.viewer import scene as _scene
from hsi_app.viewer.classify import (
    ClassifyResult,
    ProgressFn,
    classify_scene,
    overlay,
    pixel_prediction,
    write_points,
)
from hsi_app.viewer.config import ViewerConfig
from hsi_app.viewer.models import DEFAULT_CACHE, ModelCache, resolve_model
from hsi_app.viewer.uploads import stage_upload


@dataclass
class ViewerSession:
    """State of one browser tab (or one notebook).

    Attributes:
        config: viewer settings.
        workdir: private temporary folder, removed by :meth:`close`.
        cube: the open scene, or ``None``.
        name: its display name.
        rgb: ``(H, W, 3)`` uint8 composite of the current bands.
        bands: the three band indices shown.
        result: the last classification, or ``None``.
        points: clicked pixels with their prediction (for the points download).
        extras: results of other tabs (denoise/detect), by name.
    """

    config: ViewerConfig = field(default_factory=ViewerConfig)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hsi_viewer_")))
    cube: Cube | None = None
    name: str = ""
    rgb: np.ndarray | None = None
    bands: tuple[int, int, int] = (0, 0, 0)
    result: ClassifyResult | None = None
    points: list[dict[str, Any]] = field(default_factory=list)
    selected: tuple[int, int] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.workdir), True)

    def __deepcopy__(self, memo: dict[int, Any]) -> ViewerSession:
        """A session is a handle on a folder: copies share it (web frameworks copy state)."""
        return self

    def close(self) -> None:
        """Delete the session folder and forget the scene."""
        self._finalizer()
        self.cube = self.result = self.rgb = None
        self.points = []

    @property
    def closed(self) -> bool:
        """True once the folder is gone."""
        return not self._finalizer.alive

    def require_cube(self) -> Cube:
        """The open scene.

        Raises:
            InvalidDataError: no scene yet.
        """
        if self.cube is None:
            raise InvalidDataError("no scene is open: pick a scene or upload one first")
        return self.cube

    @property
    def scale(self) -> int:
        """Integer display zoom of the current scene."""
        if self.cube is None:
            return 1
        _, h, w = self.cube.hsi.shape
        return _scene.display_scale(h, w)


def _set_cube(session: ViewerSession, cube: Cube, name: str) -> None:
    session.cube = cube
    session.name = name
    session.bands = _scene.default_rgb_bands(cube)
    session.rgb = _scene.composite(cube, session.bands)
    session.result = None
    session.points = []
    session.selected = None
    session.extras = {}
    for stale in ("map.tif", "metrics.json", "points.gpkg"):
        (session.workdir / stale).unlink(missing_ok=True)


def open_scene(session: ViewerSession, name: str) -> Cube:
    """Open a listed scene (built-in or from the scenes folder) into the session."""
    cube = _scene.load_scene(name, session.config.scenes_dir)
    _set_cube(session, cube, name)
    return cube


def open_upload(session: ViewerSession, path: str | os.PathLike[str]) -> Cube:
    """Validate and open an uploaded file (see :func:`hsi_app.viewer.uploads.stage_upload`)."""
    from hsi_app.io.open import open_cube

    staged = stage_upload(path, session.workdir, session.config.max_upload_bytes)
    cube = open_cube(staged)
    _set_cube(session, cube, "upload")
    return cube


def set_display(session: ViewerSession, bands: Sequence[int] | None, stretch: tuple[float, float]) -> None:
    """Recompute the composite from three band indices (``None`` = true colour) and a stretch."""
    cube = session.require_cube()
    chosen = tuple(int(b) for b in bands) if bands is not None else _scene.default_rgb_bands(cube)
    session.rgb = _scene.composite(cube, chosen, stretch)
    session.bands = (chosen[0], chosen[1], chosen[2])


def render(session: ViewerSession, opacity: float = 0.6, show_map: bool = True) -> np.ndarray:
    """The image to show: composite, class overlay (when classified), cross-hair, zoomed.

    Returns:
        ``(H * s, W * s, 3)`` uint8 with ``s = session.scale``.
    """
    session.require_cube()
    assert session.rgb is not None
    img = session.rgb
    if show_map and session.result is not None:
        img = overlay(img, session.result.classes, session.result.palette, opacity)
    img = _scene.zoom(img, session.scale)
    if session.selected is not None:
        img = _scene.mark_pixel(img, *session.selected, session.scale)
    return img


def select_pixel(session: ViewerSession, index: Sequence[int]) -> dict[str, Any]:
    """Handle a click at image position ``index = [x, y]`` (zoomed image pixels).

    Returns:
        ``{"row", "col", "location" (text), "figure" (spectrum), "prediction" (dict or None)}``.
        The pixel is added to ``session.points`` when a map exists.
    """
    cube = session.require_cube()
    _, h, w = cube.hsi.shape
    row, col = _scene.pixel_from_click(index, session.scale, (h, w))
    return select_row_col(session, row, col)


def select_row_col(session: ViewerSession, row: int, col: int) -> dict[str, Any]:
    """Like :func:`select_pixel` but with scene pixel coordinates."""
    cube = session.require_cube()
    loc = _scene.pixel_location(cube, row, col)
    session.selected = (row, col)
    pred = pixel_prediction(session.result, row, col) if session.result is not None else None
    if pred is not None:
        session.points.append({"row": row, "col": col, "class": pred["class"],
                               "confidence": round(pred["confidence"], 4)})
    extra = session.extras.get("spectrum_extra")
    spectra = extra(row, col) if callable(extra) else None
    fig = _scene.spectrum_figure(cube, row, col, extra=spectra)
    return {"row": row, "col": col, "location": _scene.format_location(loc), "figure": fig, "prediction": pred}


def classify(
    session: ViewerSession,
    model_key: str,
    *,
    cache: ModelCache = DEFAULT_CACHE,
    progress: ProgressFn | None = None,
    resample: bool = False,
) -> ClassifyResult:
    """Classify the open scene with an offered model (see :func:`list_model_runs`)."""
    cube = session.require_cube()
    run = resolve_model(model_key, session.config)
    (session.workdir / "points.gpkg").unlink(missing_ok=True)
    session.points = []
    session.result = classify_scene(cube, run, session.workdir, cache=cache, progress=progress,
                                    resample=resample, model_name=model_key)
    return session.result


def points_download(session: ViewerSession) -> Path:
    """Write the clicked points (with predicted class and confidence) to ``points.gpkg``."""
    cube = session.require_cube()
    return write_points(session.workdir / "points.gpkg", cube, session.points)


def map_download(session: ViewerSession) -> tuple[Path, Path]:
    """The class-map COG and ``metrics.json`` of the last classification.

    Raises:
        InvalidDataError: nothing classified yet.
    """
    if session.result is None:
        raise InvalidDataError("no map yet: run a classification first")
    return session.result.map_path, session.workdir / "metrics.json"
