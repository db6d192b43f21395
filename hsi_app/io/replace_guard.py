"""Refusal of an output path that holds a file of another kind: an ``--out`` never replaces the user's data.

An output replaces a file of its own kind (a rerun of ``hsi predict`` replaces its earlier map), but a
scene, a label raster or any other file that happens to sit at the output path is refused before any
work, with one line naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

from hsi_app.errors import OutputError


def _raster_kind(path: Path) -> tuple[str, bool]:
    """``("5-band float32 raster", is hsi's class map)`` for a file GDAL reads, else ``("file", False)``.

    hsi's class map (every writer goes through :func:`hsi_app.io.cog.class_map_profile`):
    :func:`~hsi_app.io.cog.is_hsi_class_map`. A paletted label raster exported from QGIS or ENVI has a colour
    table too, but not that tag, so it is the user's data.
    """
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    from hsi_app.io.cog import is_hsi_class_map

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                ours = is_hsi_class_map(ds)
                palette = " paletted" if ds.count and ds.colorinterp[0].name == "palette" else ""
                return f"{ds.count}-band {ds.dtypes[0]}{palette} raster", ours
    except (RasterioIOError, OSError, ValueError):
        return "file", False


def check_replaces_class_map(option: str, dst: str | os.PathLike[str] | None) -> None:
    """Refuse ``dst`` when it is an existing file that is not a class map of hsi (a scene, a label raster...).

    hsi's class map (:func:`_raster_kind`: written by ``hsi predict``, ``batch``, ``ensemble``, ``train``, the
    viewer) may be replaced; a missing path is fine; a folder is left to :func:`hsi_app.io.atomic.check_writable`.

    Args:
        option: the CLI option, for the message (``"--out"``).
        dst: the output path (``None``: nothing to check).

    Raises:
        OutputError: ``dst: --out would replace this existing 5-band float32 raster, which is not a class
            map; ...``.
    """
    if dst is None or not Path(dst).is_file():
        return
    kind, ours = _raster_kind(Path(dst))
    if ours:
        return
    raise OutputError(f"{dst}: {option} would replace this existing {kind}, which is not a class map written by hsi "
                      "(a scene or label raster?); choose another output path, or move that file away first")


POLYGON_FIELDS = ("class_id", "class", "pixels")
"""Fields every layer of ``hsi vectorize`` holds (:func:`hsi_app.tasks.map_polygons.vectorize_map`)."""


def check_replaces_polygons(option: str, dst: str | os.PathLike[str] | None, layer: str = "classes") -> None:
    """Refuse ``dst`` when it is an existing file that holds anything but the polygons of ``hsi vectorize``.

    The polygons are written as a new file that replaces ``dst`` whole, so a GeoPackage with another layer
    (training polygons, roads...) or a vector file of other features (no ``class_id``, ``class`` and ``pixels``
    fields) would be lost. An earlier output of ``hsi vectorize`` (one layer ``layer`` in a GeoPackage, or the
    file's one layer, with those fields) may be replaced; a missing path is fine.

    Args:
        option: the CLI option, for the message (``"--out"``).
        dst: the output path (``None``: nothing to check).
        layer: the GeoPackage layer written.

    Raises:
        OutputError: naming ``dst``, what it holds, and the fix.
    """
    if dst is None or not Path(dst).is_file():
        return
    import pyogrio

    fix = "choose another output path, or move that file away first"
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(dst)]
        fields = [str(f) for f in pyogrio.read_info(dst, layer=layers[0])["fields"]] if len(layers) == 1 else []
    except Exception as err:  # noqa: BLE001 - pyogrio raises DataSourceError, DataLayerError, ValueError...
        raise OutputError(f"{dst}: {option} would replace this existing file, which is not a vector file hsi can "
                          f"read (a raster, or another format); {fix}") from err
    others = [name for name in layers if name != layer] if Path(dst).suffix.lower() == ".gpkg" else []
    if len(layers) != 1 or others:
        raise OutputError(f"{dst}: {option} would replace this whole file, which holds the layer(s) "
                          f"{', '.join(others or layers) or 'none'}; {fix}")
    missing = [f for f in POLYGON_FIELDS if f not in fields]
    if missing:
        raise OutputError(f"{dst}: {option} would replace this existing vector file, whose features are not "
                          f"polygons of hsi vectorize (no {', '.join(missing)} field); {fix}")
