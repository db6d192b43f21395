"""``hsi predict``: whole-scene class map from a trained run, streamed to a COG."""

from __future__ import annotations

import click

from hsi_app.cli.options import device_option, exclude_masks_option


@click.command("predict")
@click.option("--model", "models", required=True, multiple=True, type=click.Path(), metavar="RUN",
              help="Run folder written by `hsi train`; repeat it to average several runs' probabilities (a deep ensemble).")
@click.option("--input", "source", required=True, metavar="SCENE", help="Scene: a file, EnMAP product, or built-in name.")
@click.option("--out", "out", required=True, type=click.Path(), metavar="MAP.tif", help="Output COG (band 1 class, band 2 confidence).")
@click.option("--key", default=None, metavar="VAR", help=".mat variable holding the cube.")
@click.option("--window", type=int, default=512, show_default=True, metavar="PX", help="Core window size in pixels (memory is bounded by the window).")
@click.option("--resample", is_flag=True, help="Resample the scene's bands to the model's (Gaussian responses).")
@click.option("--png", "png", default=None, type=click.Path(), help="Also write a PNG quick-look of the map.")
@click.option("--tta", is_flag=True, help="Average over the 8 flips / 90-degree rotations of each window (8x the time).")
@click.option("--smooth", default="none", show_default=True,
              metavar="FILTER", help="Edge-preserving smoothing of the class probabilities: none | guided (radius 2, eps 1e-3, "
                   "3 components) | guided:R,EPS[,K]. A guided filter whose guide is the scene's first K principal "
                   "components; no labels.")
@exclude_masks_option
@device_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def predict(models: tuple[str, ...], source: str, out: str, key: str | None, window: int, resample: bool, png: str | None, tta: bool,
            smooth: str, exclude_masks: str | None, device: str | None, quiet: bool) -> None:
    """Classify every pixel of INPUT window by window (memory bounded by the window).

    With several --model runs the map is their ensemble: the mean of their class probabilities
    (band 2, the confidence, is the mean probability of the chosen class). With --smooth guided
    the probabilities are guided-filtered before the class is picked (band 2 is then the filtered
    probability); each window is read with 2R more pixels of context, so the map still equals a
    one-shot prediction of the whole scene.
    """
    from hsi_app.errors import ConfigError
    from hsi_app.infer import predict_scene
    from hsi_app.io.atomic import TIF_SUFFIXES, check_outputs, check_suffix, check_writable, repeated
    from hsi_app.io.cube import parse_mask_names
    from hsi_app.io.empty_bands import with_empty_bands_flagged
    from hsi_app.io.open import open_cube
    from hsi_app.io.replace_guard import check_replaces_class_map
    from hsi_app.ensemble import load_classifier
    from hsi_app.tasks.prob_smoothing import parse_smooth, with_smoothing

    if window < 1:
        raise ConfigError(f"--window {window}: must be a positive number of pixels, e.g. 512")
    check_outputs({"--out": out, "--png": png}, {"--input": source, **repeated("--model", models)})
    check_suffix("--out", out, TIF_SUFFIXES, "a Cloud-Optimized GeoTIFF", " (--png FILE also writes a PNG quick-look)")
    check_suffix("--png", png, (".png",), "a PNG quick-look")
    for dst in (out, png):
        if dst is not None:
            check_writable(dst)
    check_replaces_class_map("--out", out)  # a scene or label raster at --out is the user's data, never replaced
    spec = parse_smooth(smooth)
    pred = load_classifier(models, device=device, tta=tta)
    cube = open_cube(source, key=key).hsi.without_masked(parse_mask_names(exclude_masks))
    cube = with_empty_bands_flagged(cube)  # bands with no data at any pixel (no pixel would be valid): flagged bad
    prob_fn, halo = with_smoothing(pred.bind(cube, resample=resample), pred.receptive_radius, cube, spec,
                                   progress=not quiet)
    _, h, w = cube.hsi.shape
    explicit = click.get_current_context().get_parameter_source("window") != click.core.ParameterSource.DEFAULT
    if window > max(h, w) and explicit:
        click.echo(f"hsi: warning: --window {window} is larger than the scene ({h} x {w}); using one window", err=True)
    result = predict_scene(
        prob_fn, cube, num_classes=pred.num_classes, halo=halo, out=out, window=window,
        class_names=pred.class_names, keep_map=png is not None, progress=not quiet,
    )
    if png is not None and result.classes is not None:
        from hsi_app.io.quicklook import save_class_map_png

        save_class_map_png(png, result.classes, pred.class_names, None)
    click.echo(f"{out}: {h} x {w} px in {result.windows} windows, {result.seconds:.1f} s ({h * w / max(result.seconds, 1e-9):,.0f} px/s)")
