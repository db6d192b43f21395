"""One viewer session: the open scene, its display, the last map, the clicked points.

A session owns a private temporary folder (uploads, ``map.tif``, ``metrics.json``,
``points.gpkg``); :meth:`ViewerSession.close` deletes it, and so does garbage
collection or interpreter exit (``weakref.finalize``) if ``close`` is never called.
:func:`remove_session_folders` deletes the folders of every session of this process
(the web server calls it at exit and on SIGTERM); folders of other processes are never
touched. The functions here are what the web app's events call; notebooks can call them too.

Widget values arrive as whatever the browser sent (``None`` for an empty box, NaN,
infinities): the functions here check them and raise :class:`~hsi_app.errors.ConfigError`
with what to enter, never a bare ``TypeError``/``ValueError``.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import re
import shutil
import tempfile
import threading
import unicodedata
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, HSIError, InvalidDataError
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
from hsi_app.viewer.uploads import open_staged_upload

UPLOAD_FOLDERS = ("upload", "upload_next")
"""A new upload is staged in the folder the open scene does not use; the other goes once it is shown."""

_FOLDERS: dict[str, weakref.finalize] = {}
_FOLDERS_LOCK = threading.Lock()


def _remove_folder(path: str, downloads: str | None = None, done: threading.Event | None = None) -> None:
    """Delete a session's folder (and its downloads folder kept elsewhere); then set ``done`` (its ``closed``)."""
    with _FOLDERS_LOCK:
        _FOLDERS.pop(path, None)
    shutil.rmtree(path, ignore_errors=True)
    if downloads:
        shutil.rmtree(downloads, ignore_errors=True)
    if done is not None:
        done.set()


def remove_session_folders() -> int:
    """Delete the temporary folder of every session this process created and has not closed.

    Folders of other processes (another ``hsi serve``) are never touched: only folders
    registered by :class:`ViewerSession` objects of this interpreter are removed.

    Returns:
        How many folders were removed.
    """
    with _FOLDERS_LOCK:
        finalizers = list(_FOLDERS.values())
    for fin in finalizers:
        fin()
    return len(finalizers)


class JobStopped(HSIError):
    """The user stopped a running classification, denoising or detection (:func:`request_stop`).

    Not a ``RuntimeError``: raised from inside a model's forward pass (its stage hooks), it must not read as
    the model failing on the scene."""


class SceneChanged(HSIError):
    """Another scene was opened in the session while a job on the previous one ran (:func:`check_same_scene`)."""


def check_same_scene(session: ViewerSession, cube: Cube, name: str, what: str,
                     outputs: Sequence[str] = ()) -> None:
    """Refuse to keep a job's result once the session shows another scene than the job's ``cube``.

    A tab can open another scene while a long job runs; its map (or denoised cube, score maps) belongs
    to the scene it started on, and kept, it would be laid over the new scene. The job's files
    ``outputs`` (names in the session folder, which opening the scene already emptied) are deleted.

    Raises:
        SceneChanged: one line naming the job, both scenes and the fix.
    """
    if session.cube is cube:
        return
    for out in outputs:
        (session.workdir / out).unlink(missing_ok=True)
    now = session.name or "the open scene"
    raise SceneChanged(f"{name} was replaced by {now} while its {what} ran, so that result is not kept; "
                       f"run it again on {now}")


@contextlib.contextmanager
def publishing(session: ViewerSession, cube: Cube, name: str, what: str,
               outputs: Sequence[str] = ()) -> Iterator[None]:
    """Context manager around a job's publishing of its result into ``session``: checks that the session still
    shows the job's scene (:func:`check_same_scene`) and holds the session's scene lock until the result is
    published, so another scene cannot be opened between the check and the publishing (opening it waits).

    Raises:
        SceneChanged: another scene was opened while the job ran; ``outputs`` are deleted.
    """
    with session._scene_lock:
        check_same_scene(session, cube, name, what, outputs)
        yield


def whole_number(value: object, what: str, hint: str, *, minimum: int | None = 0,
                 maximum: int | None = None) -> int:
    """``value`` (a widget number: int, float, numpy scalar, ``None``...) as an ``int``.

    Raises:
        ConfigError: empty, not a number, NaN, infinite, fractional or out of range;
            the message says what to enter (``hint``).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"{what} is empty: {hint}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} {value!r} is not a number: {hint}") from None
    if not math.isfinite(number) or number != int(number):
        raise ConfigError(f"{what} {value!r} is not a whole number: {hint}")
    out = int(number)
    if (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise ConfigError(f"{what} {out} is out of range: {hint}")
    return out


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
        downloads_dir: folder of the outputs as the browser downloads them (:func:`download_copy`); default
            ``workdir/downloads``. The web app puts it in the folder its web server serves files from, so that
            they are not copied there again, and go with the session: :meth:`close` and opening another
            scene delete it too.
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
    downloads_dir: Path | None = None

    def __post_init__(self) -> None:
        path = str(self.workdir)
        self.downloads_dir = self.workdir / DOWNLOADS if self.downloads_dir is None else Path(self.downloads_dir)
        outside = None if self.downloads_dir.is_relative_to(self.workdir) else str(self.downloads_dir)
        # set once the folder is gone (by close() or remove_session_folders()): the finalizer's alive flag drops
        # when the removal begins, on whichever thread runs it
        self._closed = threading.Event()
        self._finalizer = weakref.finalize(self, _remove_folder, path, outside, self._closed)
        self._upload_folder: str | None = None  # which of UPLOAD_FOLDERS holds the open scene
        # the running jobs by kind ("classification", "denoising"), each with its own stop event (request_stop)
        self._jobs: dict[str, set[running_job]] = {}
        self._jobs_lock = threading.Lock()
        self._turns: dict[str, threading.Lock] = {}  # one_at_a_time: a lock per kind of job
        self._offered = itertools.count(1)  # download_copy: each offered file in a folder of its own
        self._images: dict[str, list[Path]] = {}  # offered_image: the latest folders of each image, oldest first
        # held while the shown scene changes (_set_cube) and while a job checks that its scene is still the one
        # shown and publishes its result (publishing): a result is never laid over a scene opened meanwhile
        self._scene_lock = threading.RLock()
        with _FOLDERS_LOCK:
            _FOLDERS[path] = self._finalizer

    def __deepcopy__(self, memo: dict[int, Any]) -> ViewerSession:
        """A session is a handle on a folder: copies share it (web frameworks copy state)."""
        return self

    def close(self) -> None:
        """Stop the session's running jobs (at their next step), delete the session folder and forget the scene.

        A closed tab's classification or denoising would otherwise run on to its last window, for no one, and
        then fail writing into the deleted folder.
        """
        request_stop(self)
        self.cube = self.result = self.rgb = None
        self.points = []
        self._finalizer()  # sets closed once the folder is gone

    @property
    def upload_folder(self) -> str | None:
        """The sub-folder of :attr:`workdir` (one of :data:`UPLOAD_FOLDERS`) holding the open upload, if any."""
        return self._upload_folder

    @property
    def closed(self) -> bool:
        """True once the session's folder is gone (:meth:`close`, :func:`remove_session_folders`)."""
        return self._closed.is_set()

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


def _with_computed_valid(cube: Cube) -> Cube:
    """``cube`` with its valid-pixel mask computed once (an in-memory ``(H, W)`` bool).

    The mask depends on every good band, so computing it reads the whole scene; done
    lazily, every band change, classification window and click would read it again.
    """
    valid = cube.hsi.valid  # computed from the data when the cube has no valid coordinate
    if isinstance(valid.data, np.ndarray) and "valid" in cube.coords:
        return cube
    return cube.assign_coords(valid=(valid.dims, np.asarray(valid.values, dtype=bool)))


def _with_empty_bands_flagged(cube: Cube) -> Cube:
    """``cube`` (its valid mask computed), or, when no pixel is valid because some bands hold no data anywhere,
    the cube with them flagged bad and its mask computed again: one :class:`~hsi_app.errors.HSIWarning` names
    them (:func:`~hsi_app.io.empty_bands.flag_empty_bands`; the page shows it as a toast, as ``hsi info`` prints
    its warning line), and the scene shows its other bands instead of no valid pixel at all.

    Raises:
        InvalidDataError: such bands, but the valid mask holds more than the values say (an alpha band, a GDAL
            mask): one line naming them and the fix.
    """
    from hsi_app.io.empty_bands import flag_empty_bands

    valid = np.asarray(cube.coords["valid"].values)
    if not valid.size or valid.any():
        return cube
    flagged = flag_empty_bands(cube)
    return cube if flagged is None else _with_computed_valid(flagged)


def _set_cube(session: ViewerSession, cube: Cube, name: str, upload_folder: str | None = None) -> None:
    """Show ``cube``: everything is computed first, then the session changes all at once.

    Bands that hold no data at any pixel are flagged bad when that leaves no valid pixel
    (:func:`_with_empty_bands_flagged`, one warning). The previous scene's results (every
    tab's) are forgotten and their files deleted.

    If the composite cannot be made, the exception propagates and the session still
    shows its previous scene (with its map and points) unchanged.
    """
    cube = _with_empty_bands_flagged(_with_computed_valid(cube))
    bands = _scene.default_rgb_bands(cube)
    rgb = _scene.composite(cube, bands)
    with session._scene_lock:  # not while a job of the previous scene publishes its result (publishing)
        session.cube, session.name, session.bands, session.rgb = cube, name, bands, rgb
        session.result = None
        session.points = []
        session.selected = None
        session.extras = {}
        session._upload_folder = upload_folder
        clear_session_folder(session.workdir, keep=upload_folder)
        if session.downloads_dir is not None:  # the previous scene's downloads and images, wherever they live
            shutil.rmtree(session.downloads_dir, ignore_errors=True)
        session._images = {}  # their folders are gone with them


def _being_written(name: str) -> bool:
    """Whether ``name`` is an output a running job is writing (``.map.tif.partial-PID-...``): its writer
    publishes or removes it, and deleting it under the writer would fail the job with a misleading
    disk error instead of :class:`SceneChanged`."""
    return name.startswith(".") and ".partial-" in name


def clear_session_folder(workdir: Path, keep: str | None = None) -> None:
    """Delete everything in a session folder but the sub-folder ``keep`` (the open upload).

    What the previous scene left goes: its upload, class map, metrics, clicked points,
    denoised cube, score maps and detections, whichever tab wrote them. Files a running job
    is still writing stay to their writer, which deletes what it publishes once it finds the
    scene changed (:func:`check_same_scene`).
    """
    if not workdir.is_dir():
        return
    for entry in workdir.iterdir():
        if entry.name == keep or _being_written(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def open_scene(session: ViewerSession, name: str) -> Cube:
    """Open a listed scene (built-in or from the scenes folder) into the session."""
    cube = _scene.load_scene(name, session.config.scenes_dir)
    _set_cube(session, cube, name)
    assert session.cube is not None
    return session.cube


def upload_name(paths: Sequence[str | os.PathLike[str]]) -> str:
    """The display name of files uploaded together: the file's name, or ``x.hdr + x.img`` (header first)."""
    names = sorted((Path(p).name for p in paths), key=lambda n: (not n.lower().endswith(".hdr"), n))
    return " + ".join(n for n in names if n) or "the uploaded scene"


def open_upload(session: ViewerSession, path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                name: str | None = None) -> Cube:
    """Validate and open an uploaded file (see :func:`hsi_app.viewer.uploads.stage_upload`).

    Args:
        session: the session.
        path: the uploaded file (server side), or the two files of an ENVI pair uploaded together
            (header and data file, in any order).
        name: its display name (default: :func:`upload_name` of the files).

    A refused upload leaves the session (and the scene it shows) as it was, and leaves
    no file behind.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if len(paths) == 1:
        path = paths[0]
    folder = UPLOAD_FOLDERS[1] if session._upload_folder == UPLOAD_FOLDERS[0] else UPLOAD_FOLDERS[0]
    shown = name or upload_name(paths)
    _, cube = open_staged_upload(path, session.workdir, session.config.max_upload_bytes, folder=folder,
                                 display_name=shown)
    try:
        _set_cube(session, cube, shown, upload_folder=folder)
    except BaseException:
        del cube
        shutil.rmtree(session.workdir / folder, ignore_errors=True)
        raise
    assert session.cube is not None
    return session.cube


def set_display(session: ViewerSession, bands: Sequence[int] | None, stretch: tuple[float, float]) -> None:
    """Recompute the composite from three band indices (``None`` = true colour) and a stretch."""
    cube = session.require_cube()
    c = cube.hsi.shape[0]
    if bands is None:
        chosen = _scene.default_rgb_bands(cube)
    else:
        if len(bands) != 3:
            raise ConfigError("pick one band in each of the red, green and blue lists")
        chosen = tuple(whole_number(b, f"{colour} band", f"pick one in the {colour} band list (1 to {c})",
                                    minimum=None)
                       for colour, b in zip(("red", "green", "blue"), bands))
    if stretch is None or len(stretch) != 2 or any(v is None for v in stretch):
        raise ConfigError("stretch: set both the low and the high percentile (e.g. 2 and 98)")
    session.rgb = _scene.composite(cube, chosen, stretch)
    session.bands = (chosen[0], chosen[1], chosen[2])


def render(session: ViewerSession, opacity: float = 0.6, show_map: bool = True) -> np.ndarray:
    """The image to show: composite, class overlay (when classified), cross-hair, zoomed.

    Returns:
        ``(H * s, W * s, 3)`` uint8 with ``s = session.scale``.
    """
    session.require_cube()
    assert session.rgb is not None
    try:
        opacity = float(opacity)
    except (TypeError, ValueError):
        raise ConfigError("map opacity: set it between 0 and 1") from None
    if not math.isfinite(opacity):
        raise ConfigError(f"map opacity {opacity}: set it between 0 and 1")
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
        ``{"row", "col", "location" (text, ending "· no data" for a no-data pixel), "figure"
        (spectrum), "prediction" (dict or None), "has_data"}``. The pixel is added to ``session.points`` when a map exists.
    """
    cube = session.require_cube()
    _, h, w = cube.hsi.shape
    if index is None or isinstance(index, (str, bytes)) or len(index) != 2:
        raise ConfigError("the click did not say which pixel: click inside the scene image, "
                          "or type a row and col and press 'Show pixel'")
    x = whole_number(index[0], "clicked x", "click inside the scene image", minimum=None)
    y = whole_number(index[1], "clicked y", "click inside the scene image", minimum=None)
    row, col = _scene.pixel_from_click((x, y), session.scale, (h, w))
    return select_row_col(session, row, col)


def select_row_col(session: ViewerSession, row: int | float | None, col: int | float | None) -> dict[str, Any]:
    """Like :func:`select_pixel` but with scene pixel coordinates.

    Raises:
        ConfigError: ``row``/``col`` empty, NaN, infinite or fractional.
        InvalidDataError: outside the scene.
    """
    cube = session.require_cube()
    _, h, w = cube.hsi.shape
    row = whole_number(row, "row", f"enter a row between 0 and {h - 1}", minimum=None)
    col = whole_number(col, "col", f"enter a col between 0 and {w - 1}", minimum=None)
    _scene.pixel_location(cube, row, col)  # refuses a pixel outside the scene
    session.selected = (row, col)
    pred = pixel_prediction(session.result, row, col) if session.result is not None else None
    if pred is not None:
        session.points.append({"row": row, "col": col, "class": pred["class"],
                               "confidence": round(pred["confidence"], 4)})
    extra = session.extras.get("spectrum_extra")
    spectra = extra(row, col) if callable(extra) else None
    fig = _scene.spectrum_figure(cube, row, col, extra=spectra)
    return {"row": row, "col": col, "location": _scene.describe_pixel(cube, row, col), "figure": fig,
            "prediction": pred, "has_data": _scene.pixel_has_data(cube, row, col)}


JOB_KINDS = ("classification", "denoising", "detection")
"""The kinds of job :func:`request_stop` can stop (the Classify, Denoise and Detect tabs' Stop buttons)."""


def request_stop(session: ViewerSession, what: str | None = None) -> str | None:
    """Ask the session's running jobs of kind ``what`` (one of :data:`JOB_KINDS`; ``None``: every kind) to stop
    at their next step (window, strip or model stage).

    Each stopped job raises :class:`JobStopped`; the session keeps its scene, map and downloads as they were
    before it (nothing of it is published). Jobs of other kinds running beside it (a tab's Classify and Denoise
    events run at once) go on, and a job started later is not stopped. Safe to call from another thread.

    Returns:
        What was asked to stop (``"classification"``, ``"denoising"``, ``"classification and denoising"``),
        or ``None`` when no such job was running.

    Raises:
        ConfigError: ``what`` is not a job kind.
    """
    if what is not None and what not in JOB_KINDS:
        raise ConfigError(f"cannot stop {what!r}: name one of {', '.join(JOB_KINDS)}")
    with session._jobs_lock:
        kinds = [k for k in (JOB_KINDS if what is None else (what,)) if session._jobs.get(k)]
        for kind in kinds:
            for job in session._jobs[kind]:
                job.stop.set()
    return " and ".join(kinds) or None


@contextlib.contextmanager
def one_at_a_time(session: ViewerSession, what: str) -> Iterator[None]:
    """Context manager: jobs of kind ``what`` (one of :data:`JOB_KINDS`) in ``session`` run one after the other,
    each with what is built from its result (images, legend, download copies): a second one waits for the first
    to end. Two classifications at once (an API client's second call, or the page's after a Stop that has
    not ended the first yet) write the same ``map.tif``, so one's legend was shown with the other's map."""
    with session._jobs_lock:
        turn = session._turns.setdefault(what, threading.Lock())
    with turn:
        yield


StepFn = Callable[[float, str], None]
"""Progress of a viewer job: called with ``(fraction, what)``, ``fraction`` from 0.0 to 1.0."""


class running_job:
    """Context manager: ``session`` runs a job of kind ``what`` (:func:`request_stop` with that kind can stop it);
    :meth:`check` raises :class:`JobStopped` once it was asked to. Each job has its own stop event, so a stop
    asked before the job started, or for another kind of job, does not count."""

    def __init__(self, session: ViewerSession, what: str) -> None:
        self.session, self.what = session, what
        self.stop = threading.Event()

    def __enter__(self) -> running_job:
        with self.session._jobs_lock:
            self.session._jobs.setdefault(self.what, set()).add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self.session._jobs_lock:
            running = self.session._jobs.get(self.what, set())
            running.discard(self)
            if not running:
                self.session._jobs.pop(self.what, None)

    def check(self, where: str = "") -> None:
        """Raise :class:`JobStopped` if a stop was asked; ``where`` (e.g. ``"after window 2/9"``) goes in the line."""
        if self.stop.is_set():
            at = f" {where}" if where else ""
            raise JobStopped(f"{self.what} stopped{at}, as asked; the scene, its results and downloads are as "
                             "they were before it")

    def reporter(self, progress: StepFn | None) -> StepFn:
        """A step function that passes ``(fraction, what)`` on to ``progress`` (when given), then calls :meth:`check`
        with ``what`` in the line, except at ``1.0``: by then the result is written, so it is shown, not dropped."""

        def report(fraction: float, what: str) -> None:
            if progress is not None:
                progress(fraction, what)
            if fraction < 1.0:
                self.check(f"({what})")

        return report


def classify(
    session: ViewerSession,
    model_key: str,
    *,
    cache: ModelCache = DEFAULT_CACHE,
    progress: ProgressFn | None = None,
    resample: bool = False,
    smooth: bool = False,
    steps: StepFn | None = None,
) -> ClassifyResult:
    """Classify the open scene with an offered model (see :func:`list_model_runs`); ``smooth``
    guided-filters its class probabilities (:mod:`hsi_app.tasks.prob_smoothing`).

    ``progress(done, total)`` is called after each window; ``steps(fraction, what)`` also within each window, as
    the stages of the model's forward pass end (``"classifying window 1/1, step 3/10"``). A stop is checked at
    both, so a scene that fits one window stops within it.

    Raises:
        JobStopped: :func:`request_stop` was called while it ran; the session's previous map stays.
        SceneChanged: another scene was opened while it ran; the map is not kept.
    """
    cube = session.require_cube()
    run = resolve_model(model_key, session.config)
    with running_job(session, "classification") as job:

        def step(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total)
            if steps is not None:
                steps(done / total, f"classified window {done}/{total}")
            job.check(f"after window {done}/{total}")

        def stage(window: int, windows: int, done: int, total: int) -> None:
            if done == total:
                return  # the window is done: step reports it once it is written
            where = f"window {window}/{windows}, step {done}/{total}"
            if steps is not None:
                steps((window - 1 + done / total) / windows, f"classifying {where}")
            job.check(f"in {where}")

        name = session.name
        result = classify_scene(cube, run, session.workdir, cache=cache, progress=step,
                                resample=resample, model_name=model_key, smooth=smooth, scene_name=name,
                                on_stage=stage)
    with publishing(session, cube, name, "classification", () if session.result else ("map.tif", "metrics.json")):
        # the clicked points belong to the previous map: drop them only now that the new one exists
        (session.workdir / "points.gpkg").unlink(missing_ok=True)
        session.points = []
        session.result = result
    return result


def points_download(session: ViewerSession) -> Path:
    """Write the clicked points (with predicted class and confidence) to ``points.gpkg``."""
    cube = session.require_cube()
    return write_points(session.workdir / "points.gpkg", cube, session.points)


DOWNLOADS = "downloads"
"""Sub-folder of a session folder holding its outputs under the names the browser downloads them as."""


STEM_BYTES = 150
"""Most UTF-8 bytes of the scene part of a download's name (file systems allow 255 bytes a name)."""


def download_name(scene: str, output: str) -> str:
    """``<scene>_<output>``: an output's file name that tells it apart in a Downloads folder.

    ``scene`` is the display name (``field.tif``, ``scenes/indian_pines``, ``x.hdr + x.img``): its first
    file's stem, NFC-normalised (a macOS name's ``u`` + combining diaeresis is one ``ü``), with anything but
    letters, digits, ``.``, ``_`` and ``-`` made ``_`` (``Szene München 2023.tif`` gives
    ``Szene_München_2023_map.tif``), and cut to :data:`STEM_BYTES` bytes of UTF-8 between two characters.
    """
    first = PurePosixPath(unicodedata.normalize("NFC", scene).split(" + ")[0].replace("\\", "/")).name
    stem = re.sub(r"[^\w.-]+", "_", PurePosixPath(first).stem).strip("._") or "scene"
    stem = stem.encode("utf-8")[:STEM_BYTES].decode("utf-8", errors="ignore")  # a cut character is dropped
    return f"{stem}_{output}"


def download_copy(session: ViewerSession, path: Path) -> Path:
    """``path`` (an output in the session folder: ``map.tif``, ``scores.tif``...) as
    ``downloads/<scene>_<name>`` (:func:`download_name`), hard-linked (copied where links fail), so each
    scene's downloads keep their own names in the user's Downloads folder instead of ``map.tif``,
    ``map (1).tif``... Each goes in a folder of its own, ``<n>/``, in :attr:`ViewerSession.downloads_dir`
    (default ``downloads/`` of the session folder), so a file once offered keeps its content: a later run
    (another event of the tab, which the page may show first) offers its own. Opening another scene, or
    closing the session, deletes them all.
    """
    with session._scene_lock:  # not while opening another scene empties the folder
        dest = _offered(session, path.name)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copyfile(path, dest)
    return dest


def _offered(session: ViewerSession, name: str) -> Path:
    """A new folder ``<n>/`` of :attr:`ViewerSession.downloads_dir` and the path of output ``name`` in it."""
    folder = (session.downloads_dir or session.workdir / DOWNLOADS) / str(next(session._offered))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / download_name(session.name, name)


def offered_image(session: ViewerSession, image: np.ndarray, name: str = "view.png") -> Path:
    """``image`` (``(H, W, 3)`` uint8: the scene as shown, a before/after composite, a heat-map) as a PNG file
    where :func:`download_copy` puts the downloads, named after the scene (``field_view.png``).

    The web app shows images from these files, so that they go with the scene and the session as the downloads
    do; handed over as arrays, the web server kept its own copy of each until it stopped. Only the last
    :data:`KEPT_IMAGES` renderings of each ``name`` are kept.
    """
    from PIL import Image

    with session._scene_lock:
        dest = _offered(session, name)
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(dest, format="PNG")
        shown = session._images.setdefault(name, [])
        shown.append(dest.parent)
        while len(shown) > KEPT_IMAGES:  # every click renders the scene again: keep the last few only
            shutil.rmtree(shown.pop(0), ignore_errors=True)
    return dest


KEPT_IMAGES = 4
"""Renderings of one image (``view.png``...) :func:`offered_image` keeps: the page shows the latest, and may still
be fetching one or two before it."""


def map_download(session: ViewerSession) -> tuple[Path, Path]:
    """The class-map COG and ``metrics.json`` of the last classification.

    Raises:
        InvalidDataError: nothing classified yet.
    """
    if session.result is None:
        raise InvalidDataError("no map yet: run a classification first")
    return session.result.map_path, session.workdir / "metrics.json"
