"""Plain functions behind the web viewer (``web/app.py``) and the notebooks.

``from hsi_app import viewer`` gives the whole surface:

* settings: :class:`ViewerConfig`, :func:`parse_size`;
* scenes: :func:`list_scenes`, :func:`load_scene`, :func:`composite`, :func:`band_choices`,
  :func:`pixel_location`, :func:`spectrum_figure`, :func:`map_extent` (figures in map coordinates);
* bands of any scene: :func:`band_axis`, :func:`nearest_band`, :func:`good_band_values`, :func:`nearest_valid_pixel`;
* uploads: :func:`stage_upload` (size, content and zip-safety checks);
* models: :func:`list_model_runs`, :class:`ModelCache`;
* classification: :func:`classify_scene`, :func:`overlay`, :func:`legend_html`,
  :func:`area_rows`, :func:`agreement_status`, :func:`pixel_prediction`, :func:`write_points`;
* a session (one browser tab): :class:`ViewerSession`, :func:`open_scene`,
  :func:`open_upload`, :func:`render`, :func:`select_pixel`, :func:`classify`.

Nothing here imports gradio.
"""

from __future__ import annotations

from hsi_app.viewer.classify import (
    ClassifyResult,
    agreement_status,
    area_rows,
    class_ground_areas,
    classify_scene,
    hex_colour,
    legend_html,
    overlay,
    pixel_area,
    pixel_prediction,
    scene_metrics,
    write_json,
    write_points,
)
from hsi_app.viewer.bands import band_axis, good_band_values, nearest_band, nearest_valid_pixel
from hsi_app.viewer.config import ViewerConfig, format_size, parse_size
from hsi_app.viewer.map_axes import MapExtent, map_extent
from hsi_app.viewer.models import DEFAULT_CACHE, ModelCache, list_model_runs, resolve_model, verify_manifest
from hsi_app.viewer.scene import (
    band_choices,
    composite,
    default_rgb_bands,
    describe_pixel,
    describe_scene,
    display_scale,
    format_location,
    list_scenes,
    load_scene,
    pixel_from_click,
    pixel_location,
    pixel_spectrum,
    spectrum_figure,
    zoom,
)
from hsi_app.viewer.session import (
    UPLOAD_FOLDERS,
    JobStopped,
    SceneChanged,
    ViewerSession,
    classify,
    download_copy,
    download_name,
    map_download,
    open_scene,
    open_upload,
    points_download,
    remove_session_folders,
    render,
    request_stop,
    select_pixel,
    select_row_col,
    set_display,
    upload_name,
)
from hsi_app.viewer.uploads import UploadError, stage_upload

__all__ = [
    "ClassifyResult", "DEFAULT_CACHE", "JobStopped", "SceneChanged", "UPLOAD_FOLDERS", "MapExtent", "ModelCache", "UploadError", "ViewerConfig", "ViewerSession",
    "agreement_status", "area_rows", "class_ground_areas", "band_axis", "band_choices", "classify", "classify_scene", "composite", "default_rgb_bands",
    "describe_pixel", "download_copy", "download_name", "describe_scene", "display_scale", "format_location", "format_size", "good_band_values", "hex_colour", "legend_html",
    "list_model_runs", "list_scenes", "load_scene", "map_download", "map_extent", "nearest_band", "nearest_valid_pixel", "open_scene", "open_upload", "overlay",
    "parse_size", "pixel_area", "pixel_from_click", "pixel_location", "pixel_prediction", "pixel_spectrum",
    "points_download", "remove_session_folders", "render", "request_stop", "resolve_model", "scene_metrics", "select_pixel", "select_row_col",
    "set_display", "spectrum_figure", "stage_upload", "upload_name", "verify_manifest", "write_json", "write_points", "zoom",
]
