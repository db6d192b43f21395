"""``hsi batch``: run a task over many scenes on dask.distributed (local or remote cluster)."""

from __future__ import annotations

import sys
from typing import Any

import click

from hsi_app.cli.options import check_device_name, check_finite, device_option_with, exclude_masks_option, require_device
from hsi_app.tasks.denoise_adapt_defaults import DEFAULT_ADAPT_STEPS

EXIT_SOME_FAILED = 1
BATCH_TASKS = ("classify", "denoise", "detect")
"""The ``--task`` choices (:mod:`hsi_app.batch.tasks`)."""


def check_memory_limit(value: str) -> None:
    """Refuse a ``--memory-limit`` that dask cannot read (``4GB``, ``512MiB``, ``auto``, ``0`` = none, 0-1 = share of RAM).

    Raises:
        ConfigError: not a size, or negative.
    """
    from dask.utils import parse_bytes

    from hsi_app.errors import ConfigError

    text = str(value).strip()
    if text.lower() == "auto":
        return
    try:
        size = float(text)
    except ValueError:
        try:
            size = float(parse_bytes(text))
        except (ValueError, TypeError):
            size = float("nan")
    if not size >= 0:  # NaN (unreadable) or negative
        raise ConfigError(f"--memory-limit {value!r}: not a memory size; use e.g. 4GB, 512MB or auto")


def check_scheduler(address: str | None) -> None:
    """Refuse a ``--scheduler`` address that is not ``[tcp://]HOST:PORT`` (or another dask scheme), before anything runs.

    Raises:
        ConfigError: no port, a port that is not a number in 1-65535, or an address dask cannot parse.
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    from hsi_app.errors import ConfigError

    if address is None:
        return
    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls") and not 1 <= int(parse_host_port(loc)[1]) <= 65535:
            raise ValueError("port outside 1-65535")
    except (ValueError, TypeError) as err:
        raise ConfigError(f"--scheduler {address!r}: not a scheduler address ({err}); use tcp://HOST:PORT, "
                          "e.g. tcp://10.0.0.5:8786") from None


@click.command("batch")
@click.option("--task", "task", type=click.Choice(BATCH_TASKS), default="classify", show_default=True, metavar="TASK",
              help="classify, denoise or detect.")
@click.option("--model", "model", default=None, type=click.Path(), metavar="RUN",
              help="Run folder written by `hsi train` (detect: only for --method learned).")
@click.option("--inputs", "inputs", multiple=True, metavar="GLOB",
              help="Glob, file or folder of scenes; repeatable. Quote globs: 'scenes/**/*.tif'.")
@click.option("--out-dir", "out_dir", required=True, type=click.Path(), metavar="DIR",
              help="Output root (mirrors the input folders).")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Address of a running dask scheduler, e.g. tcp://host:8786.")
@click.option("--workers", type=int, default=None, metavar="N", help="LocalCluster worker processes [default: CPU cores].")
@click.option("--threads-per-worker", type=int, default=1, show_default=True, metavar="N",
              help="Threads per LocalCluster worker.")
@click.option("--memory-limit", default="4GB", show_default=True, metavar="SIZE",
              help="Memory limit per LocalCluster worker (e.g. 4GB, 512MB, auto; 0 = none).")
@click.option("--window", type=int, default=512, show_default=True, metavar="PX", help="Core window in pixels (bounds memory).")
@click.option("--split-windows", type=int, default=None, metavar="N",
              help="Spread a scene over workers when it has more windows than this [default: 4].")
@click.option("--overwrite", is_flag=True, help="Redo every input, even those already done with this model.")
@click.option("--resample", is_flag=True, help="Resample scene bands to the model's when they differ.")
@click.option("--dashboard/--no-dashboard", default=True, show_default=True, help="Serve the dask dashboard (LocalCluster).")
@device_option_with("Where each worker runs the model. Default cpu: every worker holds its own copy of the model, so "
                    "cuda with the default one worker per core would put that many copies on one GPU (pass --workers "
                    "1 per GPU with it); auto = a CUDA GPU when one is visible. With --scheduler it is checked on the "
                    "workers, not here. Classical --method detectors run on the CPU.",
                    default="cpu", callback=check_device_name)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--method", default=None, metavar="METHOD",
              help="detect: rx | rx-local | mf | ace | cem | learned [default: learned when --model is a detect run].")
@click.option("--targets", default=None, type=click.Path(), help="detect: spectral library (CSV or ENVI .sli) for mf/ace/cem.")
@click.option("--material", "materials", multiple=True, metavar="NAME", help="detect: only this library material (repeatable).")
@click.option("--scale", type=float, default=None, metavar="K",
              help="detect: library reflectance -> scene units (default: guessed per scene; the sidecar records it).")
@click.option("--threshold", type=float, default=None, callback=check_finite, metavar="T", help="detect points: keep peaks scoring above T.")
@click.option("--max-points", type=int, default=100, show_default=True, metavar="N", help="detect points: most peaks kept per class.")
@click.option("--adapt-sigma", type=float, default=None, metavar="S",
              help="denoise: first fine-tune a fresh copy of the weights on each scene by SURE for Gaussian noise "
                   "of this std (0-255 scale), as `hsi denoise --adapt-sigma`.")
@click.option("--adapt-steps", type=int, default=None, metavar="N", help=f"denoise: optimisation steps of --adapt-sigma [default: {DEFAULT_ADAPT_STEPS}].")
@click.option("--fill-nan", is_flag=True, help="denoise: fill NaN/no-data values first (they stay NaN in the output), as `hsi denoise --fill-nan`.")
@click.option("--smooth", default="none", show_default=True, metavar="SMOOTH",
              help="classify: guided-filter the class probabilities, as `hsi predict --smooth` (none | guided | guided:R,EPS[,K]).")
@exclude_masks_option
@click.argument("scenes", nargs=-1, type=click.Path())
def batch(task: str, model: str | None, inputs: tuple[str, ...], scenes: tuple[str, ...], out_dir: str, scheduler: str | None,
          workers: int | None, threads_per_worker: int, memory_limit: str, window: int, split_windows: int | None,
          overwrite: bool, resample: bool, dashboard: bool, device: str | None, quiet: bool, method: str | None, targets: str | None,
          materials: tuple[str, ...], scale: float | None, threshold: float | None, max_points: int, adapt_sigma: float | None,
          adapt_steps: int | None, fill_nan: bool, smooth: str, exclude_masks: str | None) -> None:
    """Run TASK with MODEL over every scene in INPUTS (and SCENES); one COG per scene under OUT_DIR.

    SCENES are more files or folders after the options, so an unquoted glob that the shell
    expanded (`--inputs data/*.tif`) is taken whole.

    Reruns skip scenes already done with the same model (see OUT_DIR/report.json);
    exit status 0 when every scene succeeded, 1 when some failed. --task detect writes
    NAME_scores.tif (as `hsi detect --out`) and NAME_points.gpkg per scene.
    """
    from hsi_app.batch import ClusterOptions, run_batch
    from hsi_app.batch.run import default_workers
    from hsi_app.batch.tasks import (
        DenoiseOptions,
        DetectOptions,
        classify_adapter,
        default_detect_method,
        denoise_adapter,
        detect_adapter,
        on_device,
    )
    from hsi_app.tasks.prob_smoothing import parse_smooth
    from hsi_app.errors import ConfigError

    from hsi_app.errors import OutputError
    from hsi_app.io.atomic import check_out_dir, check_outputs
    from hsi_app.io.cube import parse_mask_names

    # Cluster and output options are checked before anything is read, hashed or started.
    inputs = (*inputs, *scenes)
    if not inputs:
        raise ConfigError("no scenes: pass --inputs GLOB (quoted, e.g. 'scenes/**/*.tif') or scene files")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: must be at least 1 (or omit it to use one per CPU core)")
    most = 4 * default_workers()
    if workers is not None and not scheduler and workers > most:
        raise ConfigError(f"--workers {workers}: more local processes than 4 per CPU core only share the cores "
                          f"(and --memory-limit each); pass at most {most}, or --scheduler for a real cluster")
    if split_windows is not None and split_windows < 1:
        raise ConfigError(f"--split-windows {split_windows}: must be at least 1 (a scene with more windows than this "
                          "is spread over the workers)")
    if threads_per_worker < 1:
        raise ConfigError(f"--threads-per-worker {threads_per_worker}: must be at least 1")
    check_memory_limit(memory_limit)
    check_scheduler(scheduler)
    if max_points < 1:
        raise ConfigError(f"--max-points {max_points}: must be >= 1 (the most points kept per class)")
    check_outputs({"--out-dir": out_dir}, {"--model": model})
    try:
        check_out_dir(out_dir, option="--out-dir")
    except OutputError as err:
        raise OutputError(str(err) if str(err).startswith("--out-dir") else f"--out-dir {err}") from None
    smooth_spec = parse_smooth(smooth)
    only = {"detect": {"--method": method, "--targets": targets, "--material": materials or None, "--threshold": threshold,
                       "--scale": scale},
            "denoise": {"--adapt-sigma": adapt_sigma, "--adapt-steps": adapt_steps, "--fill-nan": fill_nan or None},
            "classify": {"--smooth": smooth_spec}}
    for owner, flags in only.items():
        used = ", ".join(k for k, v in flags.items() if v is not None)
        if used and task != owner:
            raise ConfigError(f"{used}: only used with --task {owner} (this run is --task {task})")
    job: Any = task
    if task == "classify":
        job = classify_adapter(smooth_spec)
    elif task == "detect":
        from hsi_app.cli.detect_cmd import refuse_unused_detect_options
        from hsi_app.tasks.detectors_classical import check_method

        chosen = check_method(method or default_detect_method(model))
        refuse_unused_detect_options(chosen, has_library=bool(targets), pixels=False)
        job = detect_adapter(DetectOptions(chosen, targets, materials, threshold, max_points, scale=scale))
    elif task == "denoise":
        if adapt_steps is not None and adapt_sigma is None:
            raise ConfigError("--adapt-steps: only used with --adapt-sigma S (the noise std to adapt to)")
        steps = DenoiseOptions().adapt_steps if adapt_steps is None else adapt_steps
        job = denoise_adapter(DenoiseOptions(adapt_sigma, steps, fill_nan=fill_nan))
    if scheduler is None and device is not None:  # local workers: the device must be on this machine
        require_device(device)
    job = on_device(job, device)  # each worker loads the model there

    cluster = ClusterOptions(
        scheduler=scheduler, workers=workers or default_workers(), threads_per_worker=threads_per_worker,
        memory_limit=memory_limit, processes=True, dashboard=dashboard,
    )
    result = run_batch(
        job, model, list(inputs), out_dir,
        cluster=cluster, window=window, overwrite=overwrite, resample=resample,
        split_windows=split_windows, exclude_masks=parse_mask_names(exclude_masks), progress=not quiet, echo=click.echo,
    )
    for row in result.rows:
        if row.status == "failed":
            why = row.error if row.error.startswith(str(row.input)) else f"{row.input}: {row.error}"
            click.echo(f"hsi batch: failed: {why}", err=True)
    counts = {s: sum(r.status == s for r in result.rows) for s in ("done", "skipped", "failed")}
    click.echo(f"hsi batch: {counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed "
               f"in {result.seconds:.1f} s; report: {result.report_json}")
    if result.failed:
        sys.exit(EXIT_SOME_FAILED)
