"""The batch engine: a dask.distributed client, one future per scene, windows for big scenes.

Work units:

* a scene with at most :data:`SPLIT_WINDOWS` windows of ``--window`` pixels is **one task**:
  a worker opens it, runs the task's whole-scene function (for classify that is
  :func:`hsi_app.infer.predict_scene`, i.e. exactly ``hsi predict``), writes the COG
  atomically and then the sidecar;
* a larger scene is **split**: the worker that opened it answers "split", and the client
  submits one task per window of :func:`hsi_app.infer.iter_windows`. Each task reads its
  window *with the halo* from the file, applies the model, crops to the core and returns
  the small encoded block, which the client streams into the COG as blocks arrive. One
  huge file thus spreads over every worker, and no worker holds more than one halo'd window
  per thread. (This is ``map_overlap`` with ``boundary="none"``, with the overlap done at
  read time; :func:`hsi_app.infer.predict_dask` over a chunked array was measured to keep
  neighbouring raw blocks in worker memory, so its peak grew with the scene's width.)

Every future is submitted with ``retries``; a worker that dies mid-task (killed, out
of memory) has its task rescheduled by the scheduler on a live worker.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.batch.inputs import SceneInput
from hsi_app.batch.state import SceneReport, write_sidecar
from hsi_app.batch.tasks import TaskAdapter
from hsi_app.errors import ConfigError, HSIError, HSIWarning, InvalidDataError
from hsi_app.gdal_env import cap_gdal_cache
from hsi_app.infer import Window, read_window
from hsi_app.local_reads import reads_in_this_thread

SPLIT_WINDOWS = 4
"""A scene with more windows than this is spread over workers: at ``--window 512`` a scene up to
1024 x 1024 px is one task, a larger one becomes one task per window. Below that size the
per-window graph (halo reads, client-side writing) costs more than it gains; above it, one
scene alone can keep every worker busy. ``--split-windows`` changes it."""
RETRIES = 2
OPEN_CUBES = 4
"""Scenes kept open per worker process (lazy handles: metadata only, no pixels)."""

# Per worker process: loaded models and opened cubes, so a worker loads each model once.
_MODELS: dict[tuple[str, str, str, str], Any] = {}
_CUBES: dict[tuple[str, str, int, tuple[str, ...], bool], Any] = {}
_LOCK = threading.RLock()


@dataclass(frozen=True)
class BatchSettings:
    """What every scene task needs to know (pickled to the workers)."""

    adapter: TaskAdapter
    run_dir: str
    model_sha: str
    window: int = 512
    resample: bool = False
    split_windows: int = SPLIT_WINDOWS
    client_pid: int = field(default_factory=os.getpid)  # tasks in other processes send their warnings back
    exclude_masks: tuple[str, ...] = ()  # quality masks whose pixels are no-data (--exclude-masks)


def cached_model(settings: BatchSettings) -> Any:
    """The model of ``settings``, loaded once per process."""
    key = (settings.adapter.name, settings.run_dir, settings.model_sha, str(settings.adapter.device))
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = settings.adapter.load(Path(settings.run_dir))
        return _MODELS[key]


def cached_cube(source: str, stamp: str, chunks: int = 512, exclude_masks: tuple[str, ...] = (),
                flag_empty: bool = True) -> Any:
    """``open_cube(source, chunks=chunks)``, opened once per process (``stamp`` invalidates on change).

    Lazy reads load whole ``chunks`` x ``chunks`` blocks, so the batch opens scenes with
    chunks of the window size: a halo'd window then touches at most 4 window-sized blocks.
    The pixels flagged by the ``exclude_masks`` quality masks are no-data
    (:meth:`~hsi_app.io.cube.HSIAccessor.without_masked`, as ``--exclude-masks`` in every command);
    bands with no data at any pixel are flagged bad, as ``hsi predict`` does
    (:func:`~hsi_app.io.empty_bands.with_empty_bands_flagged`), in every process alike, without a
    warning: the scene task says it once per file (:func:`~hsi_app.io.empty_bands.flagged_note`), however
    many processes, threads or window tasks open the scene (again, once the cache let it go). The cube is marked
    so (:func:`~hsi_app.io.empty_bands.mark_probed`): ``hsi denoise``'s own probe does not read the scene again.

    ``flag_empty=False`` opens the scene as read, with no band flagged for holding no data and no probe, for a
    model that needs every band of it (:attr:`~hsi_app.batch.tasks.TaskAdapter.keeps_empty_bands`: a denoiser
    with fixed bands); the task then treats such a band as its single-scene command does.
    """
    from hsi_app.io.empty_bands import mark_probed, with_empty_bands_flagged
    from hsi_app.io.open import open_cube

    cap_gdal_cache()  # a worker's memory then follows the window, not the scene (hsi_app.gdal_env)
    key = (source, stamp, chunks, exclude_masks, flag_empty)
    with _LOCK:  # a worker may run several threads
        cube = _CUBES.pop(key, None)
        if cube is None:
            cube = open_cube(source, chunks=chunks).hsi.without_masked(exclude_masks)
            if flag_empty:
                cube = mark_probed(with_empty_bands_flagged(cube, warn=False))
        _CUBES[key] = cube  # most recently used last
        while len(_CUBES) > OPEN_CUBES:
            _CUBES.pop(next(iter(_CUBES)))
    return cube


def window_count(height: int, width: int, window: int) -> int:
    """Windows of ``window`` px over a ``height x width`` scene (as :func:`hsi_app.infer.iter_windows`)."""
    size = min(window, max(height, width))
    return math.ceil(height / size) * math.ceil(width / size)


KILLED_WORKER = ("KilledWorker: the worker running it was killed, most likely out of memory; "
                 "pass a smaller --window or a larger --memory-limit")
"""The report's line for a scene whose task killed every worker dask tried it on (``distributed.KilledWorker``)."""


def one_line_error(err: BaseException) -> str:
    """A one-line message for the report: HSI errors as they are, others prefixed by their type,
    a killed worker as :data:`KILLED_WORKER`."""
    if is_killed_worker(err):
        return KILLED_WORKER
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return text if isinstance(err, HSIError) else f"{type(err).__name__}: {text}"


def read_failure(err: BaseException, source: str | os.PathLike[str]) -> HSIError | None:
    """``err`` as the reader's one line when it is GDAL failing to read the scene's pixels
    (:func:`hsi_app.infer.read_error`), or the scene's file gone during the batch; else ``None`` (the error
    is reported as it is).

    Returns:
        ``CubeReadError("SOURCE: data cannot be read (GDAL's reason); the file is truncated or corrupt ...")``,
        or ``DatasetNotFoundError("SOURCE: the file was moved or deleted during the batch ...")``.
    """
    from hsi_app.errors import DatasetNotFoundError
    from hsi_app.infer import read_error

    if isinstance(err, HSIError) or type(err).__name__ != "RasterioIOError":
        return None
    if not os.path.exists(source):  # GDAL says 'No such file or directory'; a missing .hdr is not this
        return DatasetNotFoundError(f"{source}: the file was moved or deleted during the batch; put it back and "
                                    "run the batch again (done scenes are skipped)")
    return read_error(err, source)


def is_killed_worker(err: BaseException | str) -> bool:
    """Whether ``err`` is ``distributed.KilledWorker``, or a report line that a killed worker left."""
    if isinstance(err, str):
        return err.startswith("KilledWorker:")
    try:
        from distributed import KilledWorker
    except ImportError:  # pragma: no cover - distributed comes with the batch extra
        return False
    return isinstance(err, KilledWorker)


def scene_task(settings: BatchSettings, item: SceneInput, out: str, fingerprint: dict[str, int]) -> dict[str, Any]:
    """Worker side: do one scene, or answer ``{"status": "split"}`` when it is too large for one task.

    Errors in the scene (corrupt file, band mismatch, no valid pixel...) are returned as
    ``{"status": "failed", "error": ...}`` rather than raised, so they are not retried.
    In a worker process, the scene's warnings come back under ``"warnings"``
    (:mod:`hsi_app.batch.relay`; the client issues them again).
    """
    from hsi_app.batch.relay import recording

    with recording(os.getpid() != settings.client_pid) as caught:
        res = _run_scene(settings, item, out, fingerprint)
    return {**res, "warnings": caught} if caught else res


def _run_scene(settings: BatchSettings, item: SceneInput, out: str, fingerprint: dict[str, int]) -> dict[str, Any]:
    """:func:`scene_task` without the warning relay."""
    from hsi_app.io.empty_bands import flagged_note

    t0 = time.perf_counter()
    adapter = settings.adapter
    try:
        with reads_in_this_thread():
            # a task that may need every band asks its model first (loaded once per process either way)
            keeps = adapter.keeps_empty_bands is not None and adapter.keeps_empty_bands(cached_model(settings))
            cube = cached_cube(str(item.source), str(fingerprint), settings.window, settings.exclude_masks,
                               flag_empty=not keeps)
            note = flagged_note(cube)
            if note is not None:  # the one place a batch says it for this file (cached_cube does not)
                warnings.warn(note, HSIWarning, stacklevel=1)
            _, h, w = cube.hsi.shape
            if adapter.can_split and window_count(h, w, settings.window) > settings.split_windows:
                return {"status": "split", "height": h, "width": w}
            model = cached_model(settings)
            stats = adapter.run_scene(model, cube, Path(out), settings.window, settings.resample)
        seconds = time.perf_counter() - t0
        write_sidecar(out, _sidecar_record(settings, item, fingerprint, stats, seconds))
    except Exception as err:  # noqa: BLE001 - isolate the failure to this input, report it
        err = read_failure(err, item.source) or err
        return {"status": "failed", "error": one_line_error(err), "seconds": time.perf_counter() - t0}
    return {"status": "done", "seconds": seconds, **stats}


def _sidecar_record(settings: BatchSettings, item: SceneInput, fingerprint: dict[str, int],
                    stats: dict[str, Any], seconds: float) -> dict[str, Any]:
    return {"task": settings.adapter.name, "model_hash": settings.model_sha, "model": settings.run_dir,
            "input": str(item.source), "input_fingerprint": fingerprint, "seconds": seconds, **stats}


# --------------------------------------------------------------------------- split scenes


def window_task(settings: BatchSettings, plan: Any, source: str, stamp: str, win: Window) -> tuple[np.ndarray, np.ndarray]:
    """Worker side: one window of a split scene, exactly as :func:`hsi_app.infer.predict_scene` does it.

    The worker reads the window *with its halo* straight from the file (the overlap of
    ``map_overlap`` with ``boundary="none"``, done at read time), applies the model and
    crops back to the core. No task needs a neighbour's data, so a worker holds one halo'd
    window at a time whatever the scene size.

    Its warnings (opening the scene again, in another process) are dropped: the scene task
    that asked for the split opened the same scene and relayed them once.

    Returns:
        The stored block ``(bands_out, h, w)`` and the counts to add to the scene's stats.
    """
    from hsi_app.batch.relay import recording

    with recording(os.getpid() != settings.client_pid):
        return _window(settings, plan, source, stamp, win)


def _window(settings: BatchSettings, plan: Any, source: str, stamp: str, win: Window) -> tuple[np.ndarray, np.ndarray]:
    """:func:`window_task` without the warning filter."""
    cube = cached_cube(source, stamp, settings.window, settings.exclude_masks)
    with reads_in_this_thread():
        try:
            image, valid = read_window(cube, win)
        except Exception as err:
            failure = read_failure(err, source)
            if failure is None:
                raise
            raise failure from None  # GDAL's reason travels in the message: chained exceptions do not pickle
    adapter = settings.adapter
    assert adapter.apply is not None and adapter.finish is not None  # only split when can_split
    out = adapter.apply(cached_model(settings), plan, image)
    return adapter.finish(out[(slice(None), *win.crop)], valid[win.crop])


@dataclass
class SplitJob:
    """Client side state of one scene spread over workers."""

    index: int
    item: SceneInput
    out: Path
    fingerprint: dict[str, int]
    writer: Any
    model: Any
    pending: int
    t0: float
    height: int
    width: int
    resampled: bool
    counts: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))


def submit_split(client: Any, settings: BatchSettings, index: int, item: SceneInput, out: Path,
                 fingerprint: dict[str, int]) -> tuple[SplitJob, list[tuple[Any, int, int]]]:
    """Submit one task per halo'd window of a big scene and open its output writer.

    Returns:
        The job and ``(future, row_off, col_off)`` per window.
    """
    from hsi_app.infer import iter_windows

    adapter = settings.adapter
    assert adapter.plan is not None and adapter.open_writer is not None  # only split when can_split
    from hsi_app.batch.relay import recording

    stamp = str(fingerprint)
    # the scene task that asked for the split relayed the opening's warnings: drop them here, in this thread only
    # (warnings.catch_warnings would silence every thread of the process: a threaded cluster's tasks too)
    # the client's own reads (the empty-band probe, the units sample) run here, not as tasks on the cluster
    with reads_in_this_thread():
        with recording():
            cube = cached_cube(str(item.source), stamp, settings.window, settings.exclude_masks)
        model = cached_model(settings)
        plan = adapter.plan(model, cube, settings.resample)
    _, h, w = cube.hsi.shape
    wins = list(iter_windows(h, w, min(settings.window, max(h, w)), adapter.halo(model)))
    [plan_f] = client.scatter([plan], broadcast=True)  # ship the band plan once, not once per window
    placed = [
        (client.submit(window_task, settings, plan_f, str(item.source), stamp, win, retries=RETRIES, pure=False),
         win.row, win.col)
        for win in wins
    ]
    writer = adapter.open_writer(model, cube, out)
    writer.__enter__()
    job = SplitJob(index, item, out, fingerprint, writer, model, len(placed), time.perf_counter(), h, w,
                   bool(getattr(plan, "resampled", False)))
    return job, placed


def finish_split(settings: BatchSettings, job: SplitJob, error: BaseException | None) -> SceneReport:
    """Close the writer of a split scene (commit, or discard on ``error``) and write its sidecar."""
    report = SceneReport(str(job.item.source), "failed", height=job.height, width=job.width,
                         windows=window_count(job.height, job.width, settings.window), split=True)
    if error is None and job.counts[1:].sum() == 0:
        error = InvalidDataError(f"{job.item.source}: every pixel is no-data; nothing to predict")
    try:
        if error is not None:
            job.writer.__exit__(type(error), error, None)
        else:
            job.writer.__exit__(None, None, None)
    except Exception as err:  # noqa: BLE001 - COG conversion failed: report, keep going
        error = err
    report.seconds = time.perf_counter() - job.t0
    if error is not None:
        report.error = one_line_error(read_failure(error, job.item.source) or error)
        return report
    assert settings.adapter.stats is not None
    stats = {"height": job.height, "width": job.width, "windows": report.windows, "resampled": job.resampled,
             **settings.adapter.stats(job.model, job.counts)}
    write_sidecar(job.out, _sidecar_record(settings, job.item, job.fingerprint, stats, report.seconds))
    report.status, report.output = "done", str(job.out)
    report.class_counts = stats.get("class_counts", {})
    return report


# --------------------------------------------------------------------------- cluster


@dataclass(frozen=True)
class ClusterOptions:
    """``--scheduler`` or a LocalCluster of ``workers`` processes."""

    scheduler: str | None = None
    workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str = "4GB"
    processes: bool = True
    dashboard: bool = True


@contextmanager
def open_client(opts: ClusterOptions) -> Iterator[Any]:
    """A ``distributed.Client``: connected to ``opts.scheduler``, or to a fresh LocalCluster."""
    from distributed import Client

    if opts.scheduler:
        try:
            client = Client(opts.scheduler, timeout="20s")
        except (OSError, ValueError) as err:  # ValueError: an address dask cannot parse
            raise ConfigError(f"--scheduler {opts.scheduler}: cannot connect ({err}); is `dask scheduler` running there?") from err
        try:
            yield client
        finally:
            client.close()
        return
    from hsi_app.batch.interrupts import interrupts_held

    with interrupts_held(note=_to_stderr) as held:  # Ctrl-C inside distributed's start-up left a cluster it could not close
        cluster = local_cluster(opts)
        try:
            client = Client(cluster)
        except BaseException:
            cluster.close()
            raise
    try:
        held.replay()  # an interrupt held during the start: raised now that the cluster can be closed
        yield client
    finally:
        client.close()
        cluster.close()


def _to_stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


WORKER_SETUP = "hsi_app.batch.worker_setup"
"""Module dask preloads into each local worker process (:mod:`hsi_app.batch.worker_setup`)."""


def local_cluster(opts: ClusterOptions) -> Any:
    """The ``distributed.LocalCluster`` that ``hsi batch`` starts for ``opts`` (the caller closes it)."""
    import logging

    from distributed import LocalCluster

    if opts.workers < 1 or opts.threads_per_worker < 1:
        raise ConfigError(f"--workers {opts.workers} --threads-per-worker {opts.threads_per_worker}: both must be >= 1")
    if opts.processes:
        _quiet_resource_tracker()
    return LocalCluster(
        n_workers=opts.workers, threads_per_worker=opts.threads_per_worker, memory_limit=opts.memory_limit,
        processes=opts.processes, dashboard_address=":8787" if opts.dashboard else None,
        # without a dashboard the scheduler still serves /health: on any free port, not 8787
        scheduler_kwargs=None if opts.dashboard else {"dashboard_address": ":0"},
        # a worker killed mid-task makes the scheduler log ERROR lines ("Couldn't gather keys") before the
        # task is retried; every scene's real outcome reaches the report and the summary line instead
        silence_logs=logging.CRITICAL,
        # worker processes ignore Ctrl-C from their start (restarts included); the batch answers it
        **({"preload": [WORKER_SETUP]} if opts.processes else {}),
    )


_TRACKER_FILTER = "ignore:resource_tracker:UserWarning"


def _quiet_resource_tracker() -> None:
    """Silence the resource tracker's "leaked semaphore" warning after a worker is killed.

    The tracker frees what a dead worker left behind, as it should, then prints a
    ``UserWarning`` from its own process; the retry is already reported in the batch report,
    and only the environment reaches that process (it starts with the first worker).
    """
    current = os.environ.get("PYTHONWARNINGS", "")
    if _TRACKER_FILTER not in current.split(","):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [current, _TRACKER_FILTER]))


def dashboard_link(client: Any, opts: ClusterOptions) -> str | None:
    """The dashboard address, or ``None`` when there is none (``--no-dashboard`` or bokeh missing)."""
    import importlib.util

    if not opts.scheduler and (not opts.dashboard or importlib.util.find_spec("bokeh") is None):
        return None
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        return str(client.dashboard_link)
    except Exception:  # noqa: BLE001 - purely informational
        return None


def default_workers() -> int:
    """Workers for a LocalCluster when ``--workers`` is not given: the usable CPU cores."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
