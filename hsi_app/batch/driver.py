"""``run_batch``: decide what to do, submit it, collect results as they finish, write the report."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hsi_app.batch.inputs import SceneInput, check_unique_outputs, expand_inputs
from hsi_app.batch.interrupts import interrupt_flag, until_interrupted
from hsi_app.batch.relay import reissue
from hsi_app.batch.run import (
    KILLED_WORKER,
    RETRIES,
    BatchSettings,
    ClusterOptions,
    SplitJob,
    dashboard_link,
    finish_split,
    is_killed_worker,
    one_line_error,
    open_client,
    read_failure,
    scene_task,
    submit_split,
    window_count,
)
from hsi_app.batch.state import (
    SceneReport,
    clean_partials,
    input_fingerprint,
    is_done,
    model_hash,
    out_dir_lock,
    remove_output_temporaries,
    write_reports,
)
from hsi_app.batch.tasks import TaskAdapter, check_run_task, get_task
from hsi_app.errors import ConfigError, OutputError
from hsi_app.io.atomic import check_out_dir


@dataclass
class BatchResult:
    """What :func:`run_batch` returns."""

    rows: list[SceneReport]
    report_json: Path
    report_csv: Path
    dashboard: str | None
    seconds: float

    @property
    def failed(self) -> int:
        """Number of inputs that failed."""
        return sum(r.status == "failed" for r in self.rows)


def run_batch(
    task: str | TaskAdapter,
    model: str | os.PathLike[str] | None,
    inputs: list[str],
    out_dir: str | os.PathLike[str],
    *,
    cluster: ClusterOptions | None = None,
    window: int = 512,
    overwrite: bool = False,
    resample: bool = False,
    split_windows: int | None = None,
    exclude_masks: tuple[str, ...] = (),
    progress: bool = True,
    echo: Any = None,
) -> BatchResult:
    """Run ``task`` with the model in ``model`` over every scene matched by ``inputs``.

    Args:
        task: a task name (``"classify"``) or a :class:`~hsi_app.batch.tasks.TaskAdapter`.
        model: run folder (``config.json`` + ``model.safetensors``); ``None`` for tasks that
            need none (classical detection, see :func:`hsi_app.batch.tasks.detect_adapter`).
        inputs: globs, files or folders (``**`` recurses).
        out_dir: output root; outputs mirror the inputs' folder layout below it.
        cluster: scheduler address or LocalCluster settings.
        window: core window in pixels (memory per task is bounded by it).
        overwrite: redo every input, even those already done with this model.
        resample: resample scene bands to the model's when they differ.
        split_windows: scenes with more windows than this are spread over workers
            (default :data:`hsi_app.batch.run.SPLIT_WINDOWS`).
        exclude_masks: quality masks (``("cloud", "cirrus")``, ``("all",)``) whose pixels are
            no-data in every scene; part of the outputs' identity, so changing it redoes them.
        progress: show a progress bar.
        echo: ``callable(str)`` for status lines (default: ``print``).

    Returns:
        :class:`BatchResult`; ``OUT/report.json`` and ``OUT/report.csv`` are written.
    """
    from hsi_app.batch.run import SPLIT_WINDOWS
    from hsi_app.predictor import run_dir_of

    say = echo or print
    t_start = time.perf_counter()
    if window < 1:
        raise ConfigError(f"--window {window}: must be a positive number of pixels, e.g. 512")
    out = check_out_dir(out_dir)
    adapter = get_task(task) if isinstance(task, str) else task
    if adapter.identity is not None:  # e.g. classical detection: no run folder, hash of method + options
        run_dir, sha = adapter.identity(model)
    elif model is None:
        raise ConfigError(f"--task {adapter.name} needs --model RUN_DIR (the output folder of `hsi train`)")
    else:
        run_dir = str(run_dir_of(model).absolute())
        sha = model_hash(run_dir)
    if exclude_masks:  # outputs made with other masks excluded are not these outputs
        sha = hashlib.sha256(f"{sha}|exclude-masks:{','.join(exclude_masks)}".encode()).hexdigest()
    check_run_task(adapter.name, model)  # a run of another task fails here, not once per scene
    items = expand_inputs(list(inputs), out)
    check_unique_outputs(items, out, adapter.suffix)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"--out-dir {out_dir}: cannot create the folder ({err.strerror}); choose another --out-dir") from err
    with out_dir_lock(out):  # one batch at a time per output folder (see state.out_dir_lock)
        settings = BatchSettings(adapter, run_dir, sha, window, resample,
                                 SPLIT_WINDOWS if split_windows is None else split_windows,
                                 exclude_masks=tuple(exclude_masks))

        rows: list[SceneReport | None] = [None] * len(items)
        todo: list[tuple[int, SceneInput, Path, dict[str, int]]] = []
        for i, item in enumerate(items):
            dst = item.output_path(out, adapter.suffix)
            try:
                fp = input_fingerprint(item.source)
            except OSError as err:  # a dangling link, a scene removed since it was listed: this row fails, not the batch
                rows[i] = SceneReport(str(item.source), "failed", error=_unreadable_input(item.source, err))
                continue
            side = None if overwrite else is_done(dst, task=adapter.name, model_sha=sha, source=item.source,
                                                     resample=resample)
            if side is not None:
                rows[i] = _from_sidecar(item, dst, side, "skipped")
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            clean_partials(dst)
            todo.append((i, item, dst, fp))
        say(f"hsi batch: {len(items)} input{'' if len(items) == 1 else 's'}, {len(items) - len(todo)} already done, "
            f"{len(todo)} to do -> {out}")

        dash = None
        options = {**(adapter.options or {}), "exclude_masks": list(exclude_masks)} if exclude_masks else adapter.options
        meta: dict[str, Any] = {"task": adapter.name, "options": options, "model": run_dir,
                                "model_hash": sha, "out_dir": str(out), "window": window}
        try:
            if todo:
                copts = cluster or ClusterOptions()
                # an interrupt that distributed's callbacks swallow is still acted on (batch.interrupts)
                with interrupt_flag() as stop, open_client(copts) as client:
                    dash = dashboard_link(client, copts)
                    n_workers = len(client.scheduler_info().get("workers", {}))
                    why = "off (--no-dashboard)" if not copts.scheduler and not copts.dashboard else "unavailable (pip install bokeh)"
                    say(f"hsi batch: {workers_said(n_workers, copts.scheduler)}, dashboard: {dash or why}")
                    _collect(client, settings, todo, rows, progress, stop=stop)
        except BaseException:  # Ctrl-C, SIGTERM: report what finished (the rest is redone next time)
            for i, item, dst, _ in todo:  # the local workers are stopped by now: their half-written files go
                remove_output_temporaries(dst)
                side = None if rows[i] is not None else is_done(dst, task=adapter.name, model_sha=sha,
                                                                 source=item.source, resample=resample)
                if side is not None:  # finished on disk before the client heard of it
                    rows[i] = _from_sidecar(item, dst, side, "done")
            unfinished = sum(r is None for r in rows)
            write_reports(out, [r for r in rows if r is not None],
                          {**meta, "seconds": time.perf_counter() - t_start, "dashboard": dash,
                           "interrupted": True, "unfinished": unfinished,
                           "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            raise
        done_rows = [r for r in rows if r is not None]
        meta.update(seconds=time.perf_counter() - t_start, dashboard=dash,
                    finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        js, cs = write_reports(out, done_rows, meta)
        for item in items:  # temporaries of killed or retried tasks (a finished scene's are already gone)
            remove_output_temporaries(item.output_path(out, adapter.suffix))
    return BatchResult(done_rows, js, cs, dash, meta["seconds"])


def workers_said(n_workers: int, scheduler: str | None) -> str:
    """``"1 worker"``, ``"3 workers"``; for a ``--scheduler`` with no worker yet, what the batch waits for (its
    scenes sit queued until a worker connects, with the progress bar at 0, and that looked like a hang)."""
    if n_workers == 0 and scheduler:
        return f"0 workers yet: the scenes wait until one connects (start `dask worker {scheduler}`)"
    return f"{n_workers} worker{'' if n_workers == 1 else 's'}"


def _unreadable_input(source: Path, err: OSError) -> str:
    """The one report line of a scene whose files cannot even be listed (``stat``) before the run."""
    if source.is_symlink() and not source.exists():
        return f"{source}: a link to {os.readlink(source)}, which does not exist; fix or remove the link"
    return f"{source}: cannot be read ({err.strerror or err}); check that it is still there and readable"


def _from_sidecar(item: SceneInput, dst: Path, side: dict[str, Any], status: str) -> SceneReport:
    """The report row of a scene whose finished output ``dst`` has the sidecar ``side``."""
    from hsi_app.batch.tasks import sidecar_class_counts

    return SceneReport(str(item.source), status, 0.0, str(dst), int(side.get("height", 0)), int(side.get("width", 0)), int(side.get("windows", 0)),
                       class_counts=sidecar_class_counts(side.get("class_counts", {}), side.get("task")))


def _collect(client: Any, settings: BatchSettings, todo: list[tuple[int, SceneInput, Path, dict[str, int]]],
             rows: list[SceneReport | None], progress: bool, *, stop: threading.Event | None = None) -> None:
    """Submit one future per scene; as they finish, record them or expand big scenes into block futures.

    Raises:
        KeyboardInterrupt: ``stop`` (:func:`~hsi_app.batch.interrupts.interrupt_flag`) is set: Ctrl-C or SIGTERM
            came, even if its exception was swallowed on the way. The progress bar's last line then says
            ``interrupted after``, not the finished form ``12/12 scene in 46 s``.
    """
    from distributed import as_completed
    from hsi_app.progress import bar as progress_bar
    from hsi_app.progress import stop_bar

    tags: dict[Any, tuple[Any, ...]] = {}
    futures = []
    for i, item, dst, fp in todo:
        fut = client.submit(scene_task, settings, item, str(dst), fp, retries=RETRIES, pure=False,
                            key=f"scene-{i}-{os.getpid()}-{time.monotonic_ns()}")
        tags[fut] = ("scene", i, item, dst, fp)
        futures.append(fut)
    jobs: dict[int, SplitJob] = {}
    pending = as_completed(futures)
    bar = progress_bar(total=len(todo), desc=f"batch {settings.adapter.name}", unit="scene", enabled=progress,
                       leave=True)
    failed = 0
    try:
        for fut in until_interrupted(pending, stop or threading.Event()):
            tag = tags.pop(fut)
            if tag[0] == "scene":
                _, i, item, dst, fp = tag
                res = _result(fut)
                reissue(res.pop("warnings", ()), scene=str(item.source))  # a worker process's warnings, shown as the client shows its own
                if res.get("status") == "split":
                    try:
                        job, placed = submit_split(client, settings, i, item, dst, fp)
                    except Exception as err:  # noqa: BLE001 - e.g. band mismatch found on the client
                        h, w = int(res.get("height", 0)), int(res.get("width", 0))
                        res = {"status": "failed", "error": one_line_error(read_failure(err, item.source) or err),
                               "split": True, "height": h, "width": w, "windows": window_count(h, w, settings.window)}
                    else:
                        jobs[i] = job
                        for f, r0, c0 in placed:
                            tags[f] = ("block", i, r0, c0)
                            pending.add(f)
                        continue
                rows[i] = _row(item, dst, res)
            else:
                _, i, r0, c0 = tag
                job = jobs.get(i)
                if job is None:  # the scene already failed; drop the rest of its blocks
                    fut.release()
                    continue
                error: BaseException | None = None
                try:
                    stored, counts = fut.result()
                    job.writer.write_window(stored, r0, c0)
                    job.counts += counts
                except Exception as err:  # noqa: BLE001 - one bad block fails its scene only
                    error = err
                fut.release()
                job.pending -= 1
                if error is None and job.pending > 0:
                    continue
                rows[i] = finish_split(settings, jobs.pop(i), error)
            failed += rows[i].status == "failed"  # type: ignore[union-attr]
            bar.update(1)
            bar.set_postfix(failed=failed)
    except BaseException as err:  # the last line says the batch stopped, not a finished-looking count
        stop_bar(bar, "interrupted" if isinstance(err, KeyboardInterrupt) else "stopped")
        raise
    else:
        bar.close()
    finally:
        for job in jobs.values():  # interrupted: leave no staging files behind
            job.writer.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)


def _result(fut: Any) -> dict[str, Any]:
    """A scene future's dict, or a failure row when the task itself blew up (e.g. killed too often)."""
    try:
        return dict(fut.result())
    except Exception as err:  # noqa: BLE001 - KilledWorker and friends
        return {"status": "failed", "error": one_line_error(err)}
    finally:
        fut.release()


def _row(item: SceneInput, dst: Path, res: dict[str, Any]) -> SceneReport:
    """A scene result dict as its report row (a result reporting a killed worker says what to change)."""
    ok = res.get("status") == "done"
    error = str(res.get("error", ""))
    error = KILLED_WORKER if is_killed_worker(error) else error
    return SceneReport(
        input=str(item.source), status="done" if ok else "failed", seconds=float(res.get("seconds", 0.0)),
        output=str(dst) if ok else "", height=int(res.get("height", 0)), width=int(res.get("width", 0)),
        windows=int(res.get("windows", 0)), split=bool(res.get("split", False)),
        class_counts=dict(res.get("class_counts", {})), error=error,
    )
