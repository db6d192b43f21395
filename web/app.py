"""hsi map viewer: the Gradio layout. All logic lives in :mod:`hsi_app.viewer`.

Start it with ``hsi serve`` (or ``make web``); ``python web/app.py`` works too and reads
``HSI_SCENES``/``HSI_RUNS``/``HSI_MAX_UPLOAD`` from the environment. Binds 127.0.0.1.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import signal
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from hsi_app import viewer
from hsi_app.errors import HSIError, HSIWarning
from hsi_app.viewer import denoise as vdenoise
from hsi_app.viewer import detect as vdetect
from hsi_app.viewer.messages import (
    DENOISE_MODEL_LABEL,
    DETECT_MODEL_LABEL,
    DETECT_RESAMPLE_LABEL,
    PERCENTILE_INFO,
    PERCENTILE_LABEL,
    RESAMPLE_LABEL,
    RX_WINDOW_LABEL,
    in_viewer_terms,
)
from hsi_app.viewer.page import (
    PAGE_CSS,
    TabSessions,
    in_page,
    message_html,
    remove_app_files,
    served_downloads_folder,
    staging_upload,
)
from hsi_app.viewer.session import offered_image, one_at_a_time, publishing

log = logging.getLogger("hsi.web")
AREA_HEADERS = ["class", "colour", "pixels", "% of map", "hectares"]
POINT_HEADERS = ["class", "score", "row", "col", "x", "y"]
SESSION_TTL_S = 4 * 3600


_CTX = threading.local()
"""Per event (each runs on one worker thread): server paths the user knows by another name."""


def shown_as(path: str | os.PathLike[str] | None, name: str) -> None:
    """Within the current event, show the server path ``path`` (and paths under it) as ``name``."""
    if path:
        names = getattr(_CTX, "names", None)
        if names is None:
            names = _CTX.names = {}
        names[str(path)] = name


def _temp_roots() -> list[str]:
    roots = {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir())}
    return sorted(roots, key=len, reverse=True)


def public_text(text: str, folders: Sequence[tuple[str | os.PathLike[str] | None, str]] = ()) -> str:
    """``text`` without server paths, and with the viewer's controls for CLI flags: what a pop-up may show.

    * CLI flags in a fix become the page's controls (:func:`hsi_app.viewer.messages.in_viewer_terms`);
    * paths registered with :func:`shown_as` in this event (the uploaded file, the
      session folder) become their display names;
    * any other viewer session folder (``<tmp>/hsi_viewer_*``): its uploads become "the
      uploaded scene", other files their base name;
    * Gradio's upload cache (``<tmp>/gradio/<hash>/name``): the file name;
    * each ``(folder, label)`` of ``folders`` (the ``--runs``/``--scenes``/models
      folders): ``folder/x`` becomes ``label/x`` and ``folder`` alone ``label``.
    """
    out = in_viewer_terms(str(text))
    for path, name in sorted(getattr(_CTX, "names", {}).items(), key=lambda kv: len(kv[0]), reverse=True):
        out = re.sub(re.escape(path) + r"(?:/[^\s:'\",;()]*)?", lambda _m, n=name: n, out)
    for folder, label in folders:
        if folder:
            for f in {str(folder), os.path.realpath(folder)}:
                out = out.replace(f + os.sep, label.rstrip("/") + "/").replace(f, label)
    for root in _temp_roots():
        out = re.sub(re.escape(root) + r"/hsi_viewer_[^/\s:'\",;()]+((?:/[^\s:'\",;()]*)?)", _session_path, out)
        gradio_dir = re.escape(os.environ.get("GRADIO_TEMP_DIR") or os.path.join(root, "gradio"))
        out = re.sub(gradio_dir + r"(?:/[^/\s:'\",;()]+)*/([^/\s:'\",;()]+)", r"\1", out)
    return out


def _session_path(match: re.Match[str]) -> str:
    rest = match.group(1).strip("/")
    if not rest:
        return "the session folder"
    if rest.split("/")[0] in viewer.UPLOAD_FOLDERS:
        return "the uploaded scene"
    return Path(rest).name


def ui_errors(fn: Callable[..., Any] | None = None, *,
              folders: Sequence[tuple[str | os.PathLike[str] | None, str]] = ()) -> Any:
    """Turn library errors into one readable :class:`gr.Error` line (never a traceback); hsi warnings become toasts.

    Both go through :func:`public_text`, so no server path reaches the browser. The page
    shows the error as its message line (:func:`in_page`); API clients get the exception.
    Usable bare (``@ui_errors``) or with the configured folders (``@ui_errors(folders=...)``).
    """
    if fn is None:
        return functools.partial(ui_errors, folders=folders)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _CTX.names = {}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", HSIWarning)
                try:
                    out = fn(*args, **kwargs)
                except gr.Error as err:
                    raise gr.Error(public_text(str(err.message), folders), print_exception=False) from None
                except HSIError as err:
                    raise gr.Error(public_text(str(err), folders), print_exception=False) from None
                except Exception as err:  # noqa: BLE001 - the UI shows one line; the log keeps the traceback
                    log.exception("viewer error")
                    raise gr.Error(public_text(f"unexpected {type(err).__name__}: {err}", folders),
                                   print_exception=False) from None
            for w in caught:
                if issubclass(w.category, HSIWarning):
                    gr.Warning(public_text(str(w.message), folders))
            return out
        finally:
            _CTX.names = {}

    return wrapper


def build_app(config: viewer.ViewerConfig | None = None, cache: viewer.ModelCache | None = None) -> gr.Blocks:
    """The viewer as a ``gr.Blocks`` (not launched)."""
    cfg = config or viewer.ViewerConfig.create()
    models = cache or viewer.DEFAULT_CACHE

    folders = [(cfg.runs_dir, "runs"), (cfg.models_dir, "models"), (cfg.scenes_dir, "scenes")]
    guard = ui_errors(folders=folders)
    tabs = TabSessions()  # the session of each open tab, so that closing the tab deletes its folder

    def kept_for_tab(s: viewer.ViewerSession, request: gr.Request | None) -> viewer.ViewerSession:
        tabs.keep(request.session_hash if request is not None else None, s)
        return s

    def close_tab(request: gr.Request) -> None:
        """The tab's connection dropped (closed, reloaded, or offline for a while): delete its session folder
        (staged upload, maps, downloads) after a grace period, unless the tab sends an event before then.

        Gradio itself would drop the session's state only an hour later.
        """
        tabs.disconnected(request.session_hash if request is not None else None)

    def session_of(state: viewer.ViewerSession | None, request: gr.Request | None = None) -> viewer.ViewerSession:
        if request is not None:
            tabs.seen(request.session_hash)  # the tab is there: its folder stays
        s = (state if state is not None and not state.closed
             else viewer.ViewerSession(config=cfg, downloads_dir=served_downloads_folder()))
        for folder in viewer.UPLOAD_FOLDERS:
            shown_as(s.workdir / folder, s.name if s.upload_folder == folder else "the uploaded scene")
        return s

    def scene_outputs(s: viewer.ViewerSession) -> tuple[Any, ...]:
        assert s.cube is not None
        choices = viewer.band_choices(s.cube)
        r, g, b = s.bands
        cleared_classify = ("", "", [], None, None, None)  # status, legend, areas, map, metrics, points
        cleared_denoise = (None, None, "", None, None)  # before, after, status, cube, metrics
        cleared_detect = (None, [], "", None, None, None)  # heat-map, table, status, scores, points, metrics
        return (s, picture(s, viewer.render(s)), viewer.describe_scene(s.cube, s.name),
                gr.Dropdown(choices=choices, value=r), gr.Dropdown(choices=choices, value=g),
                gr.Dropdown(choices=choices, value=b), None, "",
                *cleared_classify, *cleared_denoise, *cleared_detect)

    def offered(task: str) -> dict[str, Any]:
        """Choices and first value of a model list: what ``gr.Dropdown`` takes as keywords."""
        keys = list(viewer.list_model_runs(cfg, task))
        return {"choices": keys, "value": keys[0] if keys else None}

    def shown_on(s: viewer.ViewerSession, cube: Any, name: str, what: str) -> contextlib.AbstractContextManager[None]:
        """Around the building of a finished job's outputs (its images, legend and download copies): the session
        still shows the job's scene ``cube`` (else one :class:`~hsi_app.viewer.SceneChanged` line), and another
        scene opened meanwhile waits until they are built. Without it, a scene opened just after the job
        published its result deleted the files being offered (an "unexpected FileNotFoundError" or "no map yet"
        line), or the old scene's legend and downloads came back beside the new scene."""
        return publishing(s, cube, name, what)

    def picture(s: viewer.ViewerSession, image: Any, name: str = "view.png") -> str:
        """An image output as a PNG in the session's served folder (:func:`hsi_app.viewer.session.offered_image`),
        which goes with the scene and the session, instead of an array Gradio would keep its own copy of."""
        return str(offered_image(s, image, name))

    def download(s: viewer.ViewerSession, path: Path) -> str:
        """An output as the browser downloads it: named after the scene (``field_map.tif``)."""
        return str(viewer.download_copy(s, Path(path)))

    def choices_for(task: str) -> gr.Dropdown:
        return gr.Dropdown(**offered(task))

    def model_choices() -> tuple[gr.Dropdown, gr.Dropdown, gr.Dropdown]:
        return choices_for("classification"), choices_for("denoise"), choices_for("detect")

    @guard
    def open_listed(state: viewer.ViewerSession | None, name: str, request: gr.Request | None = None) -> tuple[Any, ...]:
        s = session_of(state, request)
        viewer.open_scene(s, name)
        kept_for_tab(s, request)
        return (*scene_outputs(s), None)  # the upload box no longer shows what is open

    @guard
    def open_uploaded(state: viewer.ViewerSession | None, path: str | Sequence[str] | None,
                      request: gr.Request | None = None) -> tuple[Any, ...]:
        """An upload: one file, or the two files of an ENVI pair picked together (the box takes several)."""
        paths = [path] if isinstance(path, str) else [p for p in (path or []) if p]
        if not paths:
            raise gr.Error("no file was uploaded", print_exception=False)
        for p in paths:
            shown_as(p, Path(p).name or "the uploaded scene")
        name = viewer.upload_name(paths)
        s = session_of(state, request)
        for folder in viewer.UPLOAD_FOLDERS:  # the new upload's messages name it
            shown_as(s.workdir / folder, name)
        with contextlib.ExitStack() as staging:
            for p in paths:
                staging.enter_context(staging_upload(p))
            viewer.open_upload(s, paths if len(paths) > 1 else paths[0], name=name)
        kept_for_tab(s, request)
        return (*scene_outputs(s), gr.skip())  # the upload box keeps the file that is open

    @guard
    def redisplay(state: viewer.ViewerSession | None, r: int, g: int, b: int, lo: float, hi: float,
                  opacity: float, show_map: bool, request: gr.Request | None = None) -> Any:
        s = session_of(state, request)
        viewer.set_display(s, (r, g, b), (lo, hi))
        return picture(s, viewer.render(s, opacity, show_map))

    @guard
    def true_colour(state: viewer.ViewerSession | None, lo: float, hi: float, opacity: float,
                    show_map: bool, request: gr.Request | None = None) -> tuple[Any, ...]:
        s = session_of(state, request)
        viewer.set_display(s, None, (lo, hi))
        r, g, b = s.bands
        return picture(s, viewer.render(s, opacity, show_map)), r, g, b

    @guard
    def restyle(state: viewer.ViewerSession | None, opacity: float, show_map: bool, request: gr.Request | None = None) -> Any:
        s = session_of(state, request)
        return picture(s, viewer.render(s, opacity, show_map))

    def pixel_outputs(s: viewer.ViewerSession, info: dict[str, Any], opacity: float, show_map: bool) -> tuple[Any, ...]:
        text = f"**Pixel** {info['location']}"
        pred = info["prediction"]
        if pred is not None:
            text += f"  \n**Predicted** {pred['class']} (confidence {100 * pred['confidence']:.1f} %)"
        return picture(s, viewer.render(s, opacity, show_map)), text, info["figure"], info["row"], info["col"]

    @guard
    def clicked(state: viewer.ViewerSession | None, opacity: float, show_map: bool,
                evt: gr.SelectData, request: gr.Request | None = None) -> tuple[Any, ...]:
        s = session_of(state, request)
        return pixel_outputs(s, viewer.select_pixel(s, getattr(evt, "index", None)), opacity, show_map)

    @guard
    def goto_pixel(state: viewer.ViewerSession | None, row: float, col: float, opacity: float,
                   show_map: bool, request: gr.Request | None = None) -> tuple[Any, ...]:
        s = session_of(state, request)
        return pixel_outputs(s, viewer.select_row_col(s, row, col), opacity, show_map)

    @guard
    def run_classify(state: viewer.ViewerSession | None, model_key: str | None, resample: bool, opacity: float,
                     smooth: bool = False, progress: gr.Progress = gr.Progress(),  # noqa: B008
                     request: gr.Request | None = None) -> tuple[Any, ...]:
        s = session_of(state, request)
        if not model_key:
            raise gr.Error("no model to run: train one (`hsi train`) and start `hsi serve --runs DIR`",
                           print_exception=False)
        progress(0.0, desc="loading model")
        with one_at_a_time(s, "classification"):
            return _classified(s, model_key, resample, opacity, bool(smooth), progress)

    def _classified(s: viewer.ViewerSession, model_key: str, resample: bool, opacity: float, smooth: bool,
                    progress: gr.Progress) -> tuple[Any, ...]:
        cube, name = s.require_cube(), s.name
        res = viewer.classify(s, model_key, cache=models, resample=resample, smooth=smooth,
                              steps=lambda fraction, what: progress(fraction, desc=what))
        with shown_on(s, cube, name, "classification"):
            map_path, metrics_path = viewer.map_download(s)
            status = (f"{res.model}: {res.classes.shape[0]} × {res.classes.shape[1]} px in {res.seconds:.1f} s; "
                      f"areas {res.area_note}")
            agreement = viewer.agreement_status(res.metrics)
            if agreement:
                status += f"  \n{agreement}"
            return (picture(s, viewer.render(s, opacity, True)), viewer.legend_html(res), viewer.area_rows(res),
                    download(s, map_path), download(s, metrics_path), status, True)

    @guard
    def run_denoise(state: viewer.ViewerSession | None, model_key: str | None, noise: str, seed: float,
                    progress: gr.Progress = gr.Progress(),  # noqa: B008
                    request: gr.Request | None = None) -> tuple[Any, ...]:
        s = session_of(state, request)
        if not model_key:
            raise gr.Error("no denoising run to use: train one with `hsi train --task denoise`, then "
                           "start `hsi serve --runs DIR`", print_exception=False)
        # the first report also drops Gradio's guess of the time left (the mean of earlier runs, of any scene)
        with one_at_a_time(s, "denoising"):
            cube, name = s.require_cube(), s.name
            view = vdenoise.denoise(s, model_key, noise=noise, seed=seed, cache=models,
                                    progress=lambda fraction, what: progress(fraction, desc=what))
            with shown_on(s, cube, name, "denoising"):
                return (picture(s, view.before, "before.png"), picture(s, view.after, "after.png"), view.summary,
                        download(s, view.path), download(s, view.metrics_path))

    @guard
    def run_detect(state: viewer.ViewerSession | None, method: str, quantile: float, max_points: float,
                   rx_window: str, model_key: str | None, resample: bool = False,
                   progress: gr.Progress = gr.Progress(),  # noqa: B008
                   request: gr.Request | None = None) -> tuple[Any, ...]:
        s = session_of(state, request)
        with one_at_a_time(s, "detection"):
            cube, name = s.require_cube(), s.name
            view = vdetect.detect(s, method, quantile=quantile, max_points=max_points,
                                  rx_window=vdetect.rx_window_for(method, rx_window),
                                  model_key=model_key, cache=models, resample=bool(resample),
                                  progress=lambda fraction, what: progress(fraction, desc=what))
            with shown_on(s, cube, name, "detection"):
                points = download(s, view.points_path) if view.points_path.is_file() else None
                return (picture(s, view.heat, "heat.png"), view.rows, view.summary, download(s, view.scores_path),
                        points, download(s, view.metrics_path))

    def stop_job(kind: str, state: viewer.ViewerSession | None, request: gr.Request | None) -> None:
        """A Stop button: the tab's running job of ``kind`` (and only it) stops at its next window, strip or
        model stage (its earlier results stay). Runs beside the job, not after it."""
        if request is not None:
            tabs.seen(request.session_hash)
        job = viewer.request_stop(state, kind) if state is not None else None
        gr.Info(f"stopping the {job} at its next step; its earlier results stay" if job
                else f"no {kind} is running (one still waiting its turn is dropped)")

    def stop_classify(state: viewer.ViewerSession | None, request: gr.Request | None = None) -> None:
        """The Classify tab's Stop button (API: /stop)."""
        stop_job("classification", state, request)

    def stop_denoise(state: viewer.ViewerSession | None, request: gr.Request | None = None) -> None:
        """The Denoise tab's Stop button (API: /stop_denoise)."""
        stop_job("denoising", state, request)

    def stop_detect(state: viewer.ViewerSession | None, request: gr.Request | None = None) -> None:
        """The Detect tab's Stop button (API: /stop_detect)."""
        stop_job("detection", state, request)

    @guard
    def points_file(state: viewer.ViewerSession | None, request: gr.Request | None = None) -> str:
        s = session_of(state, request)
        return download(s, viewer.points_download(s))

    # analytics off: a viewer bound to this machine sends no usage reports to Gradio. The model lists start with
    # the models found now, so that an API client can name one at once (Gradio refuses a value its list lacks);
    # the page refreshes them on load and with "↻ models", a client with /models.
    with gr.Blocks(title="hsi viewer", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        state = gr.State(None, time_to_live=SESSION_TTL_S,
                         delete_callback=lambda s: s.close() if s is not None else None)
        gr.Markdown("## hsi viewer: hyperspectral scenes, land-cover maps, spectra")
        message = gr.State("")  # the last event's error ("" after a success); API clients never see it
        banner = gr.HTML(elem_id="hsi-message", container=False)
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                scene = gr.Dropdown(viewer.list_scenes(cfg.scenes_dir), value="indian_pines", label="Scene",
                                    elem_id="hsi-scene")
                open_btn = gr.Button("Open scene", variant="primary", elem_id="hsi-open")
                upload = gr.File(label=f"…or upload: GeoTIFF, .mat, ENVI pair (pick .hdr + data file together, "
                                       f"or zipped), zipped EnMAP L2A (max {viewer.format_size(cfg.max_upload_bytes)})",
                                 type="filepath", file_count="multiple", elem_id="hsi-upload")
                info = gr.Markdown(elem_id="hsi-info")
                with gr.Accordion("Display", open=False):
                    red = gr.Dropdown(label="red band", elem_id="hsi-red")
                    green = gr.Dropdown(label="green band", elem_id="hsi-green")
                    blue = gr.Dropdown(label="blue band", elem_id="hsi-blue")
                    lo = gr.Slider(0, 20, value=2, step=0.5, label="stretch low %")
                    hi = gr.Slider(80, 100, value=98, step=0.5, label="stretch high %")
                    tc_btn = gr.Button("True colour (640/550/470 nm)")
                with gr.Row():
                    row = gr.Number(label="row", precision=0, minimum=0, elem_id="hsi-row")
                    col = gr.Number(label="col", precision=0, minimum=0, elem_id="hsi-col")
                pixel_btn = gr.Button("Show pixel", elem_id="hsi-show-pixel")
            with gr.Column(scale=2):
                image = gr.Image(label="Scene (click a pixel)", interactive=False, type="numpy", format="png",
                                 elem_id="hsi-map", buttons=["download", "fullscreen"])
                pixel = gr.Markdown(elem_id="hsi-pixel")
                spectrum = gr.Plot(label="Spectrum (grey: bad bands)", elem_id="hsi-spectrum", format="png")
        with gr.Tabs():
            with gr.Tab("Classify", id="classify"):
                with gr.Row():
                    model = gr.Dropdown(label="Model (models/ or --runs)", elem_id="hsi-model", scale=3,
                                        **offered("classification"))
                    refresh = gr.Button("↻ models", scale=0, min_width=90)
                    resample = gr.Checkbox(label=RESAMPLE_LABEL, value=False)
                    smooth = gr.Checkbox(label="smooth map (guided filter)", value=False, elem_id="hsi-smooth")
                with gr.Row():
                    run_btn = gr.Button("Classify scene", variant="primary", elem_id="hsi-classify", scale=3)
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="hsi-classify-stop", scale=1)
                with gr.Row():
                    opacity = gr.Slider(0, 1, value=0.6, step=0.05, label="map opacity", elem_id="hsi-opacity")
                    show_map = gr.Checkbox(label="show map", value=True)
                status = gr.Markdown(elem_id="hsi-status")
                with gr.Row():
                    legend = gr.HTML(elem_id="hsi-legend-box")
                    areas = gr.Dataframe(headers=AREA_HEADERS, label="Per-class area", interactive=False,
                                         elem_id="hsi-areas")
                with gr.Row():
                    map_file = gr.File(label="Class map (COG: class + confidence)", elem_id="hsi-map-file")
                    metrics_file = gr.File(label="metrics.json", elem_id="hsi-metrics-file")
                    points_out = gr.File(label="Clicked points (GeoPackage)", elem_id="hsi-points-file")
                points_btn = gr.Button("Export clicked points")
            with gr.Tab("Denoise", id="denoise"):
                with gr.Row():
                    dn_model = gr.Dropdown(label=DENOISE_MODEL_LABEL, elem_id="hsi-dn-model", scale=3,
                                           **offered("denoise"))
                    dn_noise = gr.Textbox(label="add seeded noise first (optional)", placeholder="gaussian:30",
                                          elem_id="hsi-dn-noise")
                    dn_seed = gr.Number(label="noise seed", value=0, precision=0)
                with gr.Row():
                    dn_btn = gr.Button("Denoise scene", variant="primary", elem_id="hsi-denoise", scale=3)
                    dn_stop = gr.Button("Stop", variant="stop", elem_id="hsi-denoise-stop", scale=1)
                dn_status = gr.Markdown(elem_id="hsi-dn-status")
                with gr.Row():
                    dn_before = gr.Image(label="before", interactive=False, format="png", elem_id="hsi-dn-before")
                    dn_after = gr.Image(label="after", interactive=False, format="png", elem_id="hsi-dn-after")
                gr.Markdown("Click a pixel on the scene above to compare its spectrum before and after.")
                with gr.Row():
                    dn_file = gr.File(label="Denoised cube (COG)")
                    dn_metrics = gr.File(label="denoise_metrics.json")
            with gr.Tab("Detect", id="detect"):
                with gr.Row():
                    dt_method = gr.Dropdown(list(vdetect.METHODS), value="rx", label="method", elem_id="hsi-dt-method",
                                            info="mf/ace/cem look for the spectrum of the last clicked pixel")
                    dt_quant = gr.Slider(90, 99.99, value=99.9, step=0.01, label=PERCENTILE_LABEL, info=PERCENTILE_INFO,
                                         elem_id="hsi-dt-percentile")
                    dt_max = gr.Slider(1, 500, value=50, step=1, label="most points per class")
                    dt_window = gr.Textbox(value="5,21", label=RX_WINDOW_LABEL)
                    dt_model = gr.Dropdown(label=DETECT_MODEL_LABEL, elem_id="hsi-dt-model", **offered("detect"))
                    dt_resample = gr.Checkbox(label=DETECT_RESAMPLE_LABEL, value=False)
                with gr.Row():
                    dt_btn = gr.Button("Detect", variant="primary", elem_id="hsi-detect", scale=3)
                    dt_stop = gr.Button("Stop", variant="stop", elem_id="hsi-detect-stop", scale=1)
                dt_status = gr.Markdown(elem_id="hsi-dt-status")
                with gr.Row():
                    dt_heat = gr.Image(label="score heat-map and points", interactive=False, format="png",
                                       elem_id="hsi-dt-heat")
                    dt_table = gr.Dataframe(headers=POINT_HEADERS, label="detected points", interactive=False)
                with gr.Row():
                    dt_scores = gr.File(label="Score maps (COG)")
                    dt_points = gr.File(label="Detected points (GeoPackage)")
                    dt_metrics = gr.File(label="detect_metrics.json")

        def on(trigger: Callable[..., Any], fn: Callable[..., Any], inputs: list[Any], outputs: list[Any],
               clear_on_error: Sequence[Any] = (), **kw: Any) -> Any:
            """``trigger(fn)`` with its error as the page's message line (:func:`in_page`); returns the event."""
            cleared = [outputs.index(c) for c in clear_on_error]
            return trigger(in_page(fn, len(outputs), clear_on_error=cleared), inputs, [*outputs, message], **kw)

        # a new scene resets every tab: the outputs below are those of scene_outputs, in order, then the upload box
        scene_outs = [state, image, info, red, green, blue, spectrum, pixel,
                      status, legend, areas, map_file, metrics_file, points_out,
                      dn_before, dn_after, dn_status, dn_file, dn_metrics,
                      dt_heat, dt_table, dt_status, dt_scores, dt_points, dt_metrics, upload]
        on(open_btn.click, open_listed, [state, scene], scene_outs, api_name="open_scene")
        on(upload.upload, open_uploaded, [state, upload], scene_outs, clear_on_error=[upload],
           api_name="upload_files")
        # API clients of before the box took several files: /upload_scene still takes one file (a hidden
        # single-file box and button, never shown in the page)
        one_file = gr.File(type="filepath", file_count="single", visible=False)
        one_btn = gr.Button(visible=False)
        on(one_btn.click, open_uploaded, [state, one_file], scene_outs, clear_on_error=[upload],
           api_name="upload_scene")
        display_in = [state, red, green, blue, lo, hi, opacity, show_map]
        for dd in (red, green, blue):
            on(dd.input, redisplay, display_in, [image], api_visibility="private")
        for sl in (lo, hi):
            on(sl.release, redisplay, display_in, [image], api_visibility="private")
        on(tc_btn.click, true_colour, [state, lo, hi, opacity, show_map], [image, red, green, blue],
           api_name="true_colour")
        on(opacity.release, restyle, [state, opacity, show_map], [image], api_visibility="private")
        on(show_map.input, restyle, [state, opacity, show_map], [image], api_visibility="private")
        pixel_outs = [image, pixel, spectrum, row, col]
        on(image.select, clicked, [state, opacity, show_map], pixel_outs, api_visibility="private")
        on(pixel_btn.click, goto_pixel, [state, row, col, opacity, show_map], pixel_outs, api_name="pixel")
        classify_event = on(run_btn.click, run_classify, [state, model, resample, opacity, smooth],
                            [image, legend, areas, map_file, metrics_file, status, show_map], api_name="classify")
        on(points_btn.click, points_file, [state], [points_out], api_name="points")
        denoise_event = on(dn_btn.click, run_denoise, [state, dn_model, dn_noise, dn_seed],
                           [dn_before, dn_after, dn_status, dn_file, dn_metrics], api_name="denoise")
        # each Stop stops its own tab's job. No concurrency limit: a stop runs at once, beside the job it stops.
        # cancels= also drops the page's job while it still waits in the queue (a job already running is left
        # by Gradio to finish: the in-job stop above ends it at its next step)
        stop_btn.click(stop_classify, [state], None, api_name="stop", concurrency_limit=None, show_progress="hidden",
                       cancels=[classify_event])
        dn_stop.click(stop_denoise, [state], None, api_name="stop_denoise", concurrency_limit=None,
                      show_progress="hidden", cancels=[denoise_event])
        detect_event = on(dt_btn.click, run_detect, [state, dt_method, dt_quant, dt_max, dt_window, dt_model,
                                                     dt_resample],
                          [dt_heat, dt_table, dt_status, dt_scores, dt_points, dt_metrics], api_name="detect")
        dt_stop.click(stop_detect, [state], None, api_name="stop_detect", concurrency_limit=None,
                      show_progress="hidden", cancels=[detect_event])
        message.change(message_html, message, banner, api_visibility="private", show_progress="hidden")
        refresh.click(model_choices, None, [model, dn_model, dt_model], api_name="models")
        demo.load(model_choices, None, [model, dn_model, dt_model], api_visibility="private")
        demo.unload(close_tab)
    return demo


def remove_folders_at_exit(demo: gr.Blocks | None = None) -> None:
    """Delete this process's session folders, and Gradio's copies of ``demo``'s files, at interpreter
    exit and on SIGTERM.

    SIGTERM (``kill``, service managers) would otherwise end the process without running
    ``atexit``, nor Gradio's own shutdown, which deletes its copies of the downloads; the handler
    removes both and exits with status 0. Ctrl-C ends through ``atexit``. Only folders of this
    process's sessions (:func:`hsi_app.viewer.remove_session_folders`) and files Gradio copied
    for ``demo`` (:func:`hsi_app.viewer.page.remove_app_files`) are removed.
    """

    def remove() -> None:
        viewer.remove_session_folders()
        if demo is not None:
            remove_app_files(demo)

    atexit.register(remove)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread

    def on_sigterm(signum: int, frame: Any) -> None:
        remove()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_sigterm)


def launch(config: viewer.ViewerConfig | None = None, host: str = "127.0.0.1", port: int = 7860,
           **kwargs: Any) -> Any:
    """Build and launch the viewer (blocking unless ``prevent_thread_lock=True``).

    The session folders of this server, and Gradio's copies of its downloads, are removed when it
    stops (see :func:`remove_folders_at_exit`).
    """
    cfg = config or viewer.ViewerConfig.create()
    demo = build_app(cfg)
    remove_folders_at_exit(demo)
    demo.queue(default_concurrency_limit=2)
    kwargs.setdefault("css", PAGE_CSS)
    return demo.launch(server_name=host, server_port=port, max_file_size=cfg.max_upload_bytes,
                       footer_links=["api"], **kwargs)


if __name__ == "__main__":
    launch()
