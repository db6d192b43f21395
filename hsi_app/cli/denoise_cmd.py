"""``hsi denoise``: denoise a whole scene with a trained run, window by window, into a float32 COG."""

from __future__ import annotations

from typing import Any

import click

from hsi_app.cli.options import device_option, exclude_masks_option, refuse_given, seed_option
from hsi_app.tasks.denoise_adapt_defaults import DEFAULT_ADAPT_STEPS


@click.command("denoise")
@click.option("--model", "model", required=True, type=click.Path(), metavar="RUN", help="Run folder written by `hsi train --task denoise`.")
@click.option("--input", "source", required=True, metavar="SCENE", help="Scene: a file, EnMAP product, or built-in name.")
@click.option("--out", "out", required=True, type=click.Path(), metavar="OUT.tif", help="Output float32 COG (same bands, CRS, wavelengths).")
@click.option("--reference", default=None, metavar="SCENE", help="Clean scene on the same grid: report PSNR, SSIM and SAM.")
@click.option("--key", default=None, metavar="VAR", help=".mat variable holding the cube.")
@click.option("--window", type=int, default=256, show_default=True,
              metavar="PX", help="Core window size in pixels, rounded up to the model's multiple (memory grows with "
                                 "(window + 2 halo)^2 x bands).")
@click.option("--noise", default=None, metavar="NOISE", help="Add seeded synthetic noise first (demos/benchmarks), e.g. gaussian:50, mixture.")
@seed_option(help="Seed of --noise.")
@click.option("--fill-nan", is_flag=True, help="Fill NaN/no-data values with the band's scene-wide median before denoising (they stay NaN in the output).")
@click.option("--baselines", is_flag=True, help="With --reference: also score PCA/MNF/filter baselines (whole scene in memory).")
@click.option("--metrics", "metrics_path", default=None, type=click.Path(), help="Metrics JSON of --reference scores or --adapt-sigma estimates (default: OUT with .metrics.json).")
@click.option("--tta", is_flag=True, help="Average over the 8 flips / 90-degree rotations of each window (8x the time).")
@click.option("--adapt-sigma", type=float, default=None,
              metavar="SIGMA", help="First fine-tune the weights on INPUT itself by SURE (no clean data), assuming i.i.d. Gaussian "
                   "noise of this std on the 0-255 scale of the normalised data, e.g. 50. The run folder is unchanged.")
@click.option("--adapt-steps", type=int, default=DEFAULT_ADAPT_STEPS, show_default=True, metavar="N", help="Optimisation steps of --adapt-sigma (one random crop each, 128 px for subspace models).")
@exclude_masks_option
@device_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def denoise(model: str, source: str, out: str, reference: str | None, key: str | None, window: int, noise: str | None,
            seed: int, fill_nan: bool, baselines: bool, metrics_path: str | None, tta: bool, adapt_sigma: float | None,
            adapt_steps: int, exclude_masks: str | None, device: str | None, quiet: bool) -> None:
    """Denoise every band of INPUT with a trained denoiser (memory bounded by the window)."""
    from pathlib import Path

    from hsi_app.data.noise import parse_noise
    from hsi_app.errors import ConfigError
    from hsi_app.io.atomic import TIF_SUFFIXES, atomic_paths, check_outputs, check_suffix, check_writable
    from hsi_app.io.cube import parse_mask_names
    from hsi_app.io.open import is_mat, open_cube
    from hsi_app.predictor import run_dir_of
    from hsi_app.provenance import weights_identity
    from hsi_app.tasks.denoise_scene import denoise_cube
    from hsi_app.tasks.denoising import Denoiser

    if noise:
        noise = parse_noise(noise).spec
    if baselines and reference is None:
        raise ConfigError("--baselines needs --reference (a clean scene to score against)")
    if adapt_sigma is None:
        refuse_given(("adapt_steps",), "it sets the steps of --adapt-sigma, which is not given")
    mpath = Path(metrics_path) if metrics_path else Path(out).with_suffix(".metrics.json")
    writes_metrics = reference is not None or adapt_sigma is not None  # scores, or the SURE error estimates
    if metrics_path and not writes_metrics:
        raise ConfigError(f"--metrics {metrics_path}: nothing to measure; metrics need --reference CLEAN (PSNR, SSIM, "
                          "SAM) or --adapt-sigma S (the estimated error before and after adaptation)")
    check_outputs({"--out": out, "--metrics": mpath if writes_metrics else None},
                  {"--input": source, "--reference": reference, "--model": model})
    check_suffix("--out", out, TIF_SUFFIXES, "a float32 Cloud-Optimized GeoTIFF")
    check_suffix("--metrics", metrics_path, (".json",), "a JSON report")
    check_writable(out)
    if writes_metrics:
        check_writable(mpath)
        if not metrics_path:
            check_default_metrics(out)
    den = Denoiser.load(run_dir_of(model), device=device, tta=tta)
    weights = weights_identity(run_dir_of(model)) if writes_metrics else None  # the weights as loaded
    scene_key, ref_key = key, key
    if key is not None and reference is not None:  # --key names the variable of whichever input is a .mat
        # a reference named *.mat counts as one even when missing or broken, so its own read says what is wrong
        ref_mat = is_mat(reference) or Path(reference).suffix.lower() == ".mat"
        scene_key = key if is_mat(source) or not ref_mat else None  # neither: the scene refuses it
        ref_key = key if ref_mat else None
    cube = open_cube(source, key=scene_key).hsi.without_masked(parse_mask_names(exclude_masks))
    ref = open_cube(reference, key=ref_key) if reference is not None else None
    # the cube and its metrics are published together; an earlier run's OUT.metrics.json that this run
    # does not rewrite is removed with them, so no old scores ever sit beside the new cube
    with atomic_paths({"out": out, "metrics": mpath if writes_metrics else None},
                      removes=stale_metrics(out, mpath if writes_metrics else None)) as tmp:
        res = denoise_cube(den, cube, tmp["out"], window=window, reference=ref, noise=noise, seed=seed,
                           fill_nan=fill_nan, progress=not quiet, adapt_sigma=adapt_sigma, adapt_steps=adapt_steps,
                           shown_as=out)
        rounded = f", rounded up from {window} to a multiple of {den.multiple}" if res.window != window else ""
        click.echo(f"{out}: {res.bands} bands x {res.height} x {res.width} px in {res.windows} windows "
                   f"(window {res.window}{rounded}, halo {res.halo}), {res.seconds:.1f} s")
        adapt = None
        if res.adapt is not None:
            adapt = res.adapt.summary(adapt_sigma)
            click.echo(f"  adapted by SURE (sigma {adapt_sigma:g}/255): {len(res.adapt.losses)} steps; estimated MSE "
                       f"of the first crop {res.adapt.before:.3g} -> {res.adapt.after:.3g}")
        if writes_metrics:
            _write_report(tmp["metrics"], res, den, cube, ref, adapt=adapt, weights=weights, source=source, out=out,
                          reference=reference, noise=noise, seed=seed, tta=tta, baselines=baselines,
                          progress=not quiet)
    if writes_metrics:
        click.echo(f"metrics -> {mpath}")


def stale_metrics(out: str, written: Any) -> list[Any]:
    """``OUT.metrics.json`` (the default metrics file of ``out``) when this run does not write it.

    Args:
        out: the output cube.
        written: the metrics file this run writes, or ``None``.

    Returns:
        The file to remove with the new output (empty when this run rewrites it).
    """
    from pathlib import Path

    from hsi_app.io.atomic import same_file

    default = Path(out).with_suffix(".metrics.json").absolute()
    if written is not None and same_file(Path(written), default):
        return []
    return [default] if denoise_report(default) else []  # a file hsi did not write is left alone


# keys every `hsi denoise` metrics file has held since the first one
REPORT_KEYS = frozenset({"model", "window", "halo", "seconds"})


def denoise_report(path: Any) -> bool:
    """Whether ``path`` is a metrics file of an earlier ``hsi denoise`` (a JSON object with :data:`REPORT_KEYS`)."""
    import json
    from pathlib import Path

    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(report, dict) and REPORT_KEYS <= report.keys()


def check_default_metrics(out: str) -> None:
    """Refuse, before any work, to write the default ``OUT.metrics.json`` over a file that no ``hsi denoise`` wrote.

    An earlier run's metrics file is replaced as before; anything else there (the user's notes, another tool's
    report) is not, since the user never named it. ``--metrics F`` names the file, so it is written as asked.

    Raises:
        OutputError: naming the file and the fixes.
    """
    from pathlib import Path

    from hsi_app.errors import OutputError

    default = Path(out).with_suffix(".metrics.json")
    if default.exists() and not denoise_report(default):
        raise OutputError(f"{default}: exists and is not an earlier hsi denoise metrics file, so the default metrics "
                          "path would replace it; move it, or pass --metrics F to write the metrics elsewhere")


def _write_report(dst: Any, res: Any, den: Any, cube: Any, ref: Any, *, adapt: dict[str, Any] | None,
                  weights: dict[str, Any] | None, source: str, out: str, reference: str | None, noise: str | None,
                  seed: int, tta: bool, baselines: bool, progress: bool = True) -> None:
    """Print the scores of ``res`` (and of the baselines) and write the metrics JSON to ``dst``.

    Without a reference there are no scores: the JSON holds the run's settings and ``adapt``. ``weights``
    (:func:`hsi_app.provenance.weights_identity`): the run folder and the sha256 of the weights it loaded
    (before any ``--adapt-sigma`` fine-tuning, which changes them in memory only). ``progress``: a bar over the
    baseline runs (``--quiet`` hides it).
    """
    import json
    from pathlib import Path

    from hsi_app.checkpoint import finite_json
    from hsi_app.tasks.denoise_scene import scene_baselines
    from hsi_app.tasks.denoising import SCORES_NOTE

    # paths under *_path keys: "input" / "denoised" are the scores of the input and the output cube
    report = {"model": den.config.model_name, **(weights or {}), "tta": tta, "adapt": adapt, "input_path": str(source),
              "output_path": str(out), "reference": None if reference is None else str(reference), "noise": noise,
              "seed": seed if noise or adapt is not None else None,  # --noise's draw and --adapt-sigma's crops
              "window": res.window, "halo": res.halo, "seconds": round(res.seconds, 3)}
    if res.metrics is not None:
        report.update(scale=SCORES_NOTE, **res.metrics)
    if baselines:
        report["baselines"] = scene_baselines(cube, ref, den, noise=noise, seed=seed,
                                              units_checked=True, progress=progress)  # denoise_cube checked the reference
    rows = [] if res.metrics is None else [("denoised", res.metrics["denoised"]), ("input", res.metrics["input"])]
    rows += list(report.get("baselines", {}).items())
    for name, s in rows:
        click.echo(f"  {name:<9} PSNR {s['psnr']:7.2f} dB  MPSNR {s['mpsnr']:7.2f} dB  SSIM {s['ssim']:.4f}  "
                   f"SAM {s['sam']:.4f} rad")
    Path(dst).write_text(json.dumps(finite_json(report), indent=2))
