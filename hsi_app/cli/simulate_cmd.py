"""``hsi simulate-targets``: implant library targets into a background scene (SPOD-style).

Writes into OUT (created):

* ``scene.tif``: the cube with targets, float32 COG (good bands only: the background's bad
  bands are left out and a line says how many were kept; wavelengths, CRS kept, or the ground control points
  of a background georeferenced only by them);
* ``targets.gpkg``: one point per target (``class``, ``class_id``, ``row``/``col``,
  map ``x``/``y``, ``area``, ``size_bin``, ``gain``, ``materials``, ``proportions``,
  ``peak_abundance``, ``box_row0..box_col1``);
* ``abundance.tif``: float32 COG, band 1 ``abundance``, band 2 ``class`` (0 = none); both NaN
  (the file's nodata) where the background has no data, as in ``scene.tif``; the background's ground control
  points, as ``scene.tif``.
"""

from __future__ import annotations

import click

from hsi_app.cli.options import refuse_given, seed_option

OUTPUTS = ("scene.tif", "targets.gpkg", "abundance.tif")
"""The files written into ``--out``."""


@click.command("simulate-targets")
@click.option("--background", required=True, metavar="SCENE", help="Background scene: a file, EnMAP product, or built-in name.")
@click.option("--targets", required=True, type=click.Path(), help="Spectral library (CSV or ENVI .sli).")
@seed_option(help="Random seed (equal seeds, equal scenes).")
@click.option("--out", "out", required=True, type=click.Path(), metavar="DIR", help="Output folder (scene.tif, targets.gpkg, abundance.tif).")
@click.option("--density", type=float, default=1 / 150, show_default="1/150, one per 150 px", metavar="D", help="Targets per pixel tried.")
@click.option("--n-targets", type=int, default=None, metavar="N", help="Exact number of targets to try to place.")
@click.option("--min-distance", type=float, default=8.0, show_default=True,
              metavar="PX", help="Smallest centre spacing, pixels (at least 5.93: no pixel holds two targets).")
@click.option("--material", "materials", multiple=True, metavar="NAME", help="Only this library material (repeatable).")
@click.option("--scale", type=float, default=None, metavar="K", help="Library reflectance -> cube units (default: guessed).")
@click.option("--key", default=None, metavar="VAR", help=".mat variable holding the cube.")
@click.option("--quiet", is_flag=True, help="No progress bar, and no line on how the library was scaled.")
def simulate_targets(background: str, targets: str, seed: int, out: str, density: float, n_targets: int | None,
                     min_distance: float, materials: tuple[str, ...], scale: float | None, key: str | None,
                     quiet: bool) -> None:
    """Implant 1-3-material point targets (sub-pixel to 16 px) into BACKGROUND; write scene, points and abundance."""
    import math

    import numpy as np

    from hsi_app.data.targets import SimOptions, check_min_distance
    from hsi_app.data.targets import simulate_targets as simulate
    from hsi_app.errors import ConfigError
    from hsi_app.io.atomic import check_out_dir, check_outputs, staged_run_dir
    from hsi_app.io.cog import CLASS_NAMES_TAG, StreamingCOGWriter, class_names_tag, write_cube
    from hsi_app.io.cube import make_cube
    from hsi_app.io.empty_bands import with_empty_bands_flagged
    from hsi_app.io.geotiff import GEOREF_ATTRS, cube_georef
    from hsi_app.io.open import open_cube
    from hsi_app.progress import steps
    from hsi_app.tasks.detect_eval import ground_truth
    from hsi_app.tasks.detect_stream import scene_mean, warn_scale_gap
    from hsi_app.tasks.detection import background_scene, check_scale, target_spectra, write_detections

    # Every option is checked before the background is read; nothing is written for a bad command.
    for name, value in (("--density", density), ("--min-distance", min_distance)):
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} {value:g}: must be a positive number")
    if n_targets is not None and n_targets < 1:
        raise ConfigError(f"--n-targets {n_targets}: must be at least 1 (or omit it to place targets by --density)")
    check_min_distance(min_distance)  # closer footprints could share a pixel
    if n_targets is not None:
        refuse_given(("density",), "--n-targets sets the number of targets instead")
    check_scale(scale)
    folder = check_out_dir(out)
    inputs = {"--background": background, "--targets": targets}
    check_outputs({f"--out {out} ({name})": folder / name for name in OUTPUTS}, inputs)
    # without an earlier output (its abundance.tif), a scene.tif or targets.gpkg there is the user's: never replaced
    check_out_dir(out, writes=OUTPUTS, marker="abundance.tif")
    with steps("simulate-targets", 5, enabled=not quiet) as begin:
        begin("reading the background")
        # bands with no data anywhere flagged bad (from one window when it has data); the library is checked
        # before the whole background is read, then a background with no valid pixel is refused
        cube = with_empty_bands_flagged(open_cube(background, key=key))
        spectra, names = target_spectra(cube, library=targets, names=list(materials) or None, scale=scale,
                                        max_extrapolated=0.5,
                                        describe=None if quiet else lambda line: click.echo(line, err=True))
        cube, image = background_scene(cube, "implant targets into")
        warn_scale_gap(spectra, scene_mean(image))  # a --scale far from the scene's units
        begin("implanting targets")
        sim = simulate(image, spectra, names, seed=seed,
                       options=SimOptions(density=density, n_targets=n_targets, min_distance=min_distance, scale=1.0))
        good = cube.hsi.good_bands()
        crs = cube.rio.crs
        transform = cube.hsi.transform
        # Both rasters are on the background's pixel grid and keep its georeference (ground control points,
        # pixel-is-point): write_cube takes it from the scene's attrs, the abundance writer from cube_georef.
        kept = {k: cube.attrs[k] for k in GEOREF_ATTRS if k in cube.attrs} or None
        scene = make_cube(sim.image, wavelength=good.hsi.wavelengths, fwhm=good.hsi.fwhm, x=good.x.values,
                          y=good.y.values, crs=crs, transform=transform, fmt="simulated", source=str(background),
                          attrs=kept)
        _, h, w = sim.image.shape
        table = sim.table()
        gt = ground_truth(sim)
        extra = {k: table[k] for k in ("area", "size_bin", "gain", "materials", "proportions", "peak_abundance")
                 if k in table and len(table[k]) == len(gt)}
        # The three files are written into a hidden staging folder and moved into OUT together at the end:
        # a failure leaves OUT as it was (no mix of new and old files), and no input is ever replaced.
        with staged_run_dir(folder, protect=inputs.values()) as stage:
            begin("writing scene.tif")
            write_cube(stage / "scene.tif", scene, progress=not quiet)
            begin("writing abundance.tif")
            truth = np.stack([sim.abundance, sim.class_map.astype(np.float32)])
            truth[:, ~np.isfinite(sim.image).all(axis=0)] = np.nan  # no data, not "no target"
            with StreamingCOGWriter(stage / "abundance.tif", height=h, width=w, count=2, dtype="float32",
                                    nodata=float("nan"), band_descriptions=["abundance", "class"],
                                    tags={CLASS_NAMES_TAG: class_names_tag(["none", *names])},
                                    **cube_georef(cube)) as wr:
                wr.write_window(truth, 0, 0)
            begin("writing targets.gpkg")
            write_detections(stage / "targets.gpkg", gt, cube, names, extra=extra)
    click.echo(f"{out}: {len(sim.targets)} targets ({', '.join(names)}) in {h} x {w} px, seed {seed} "
               "-> scene.tif, targets.gpkg, abundance.tif")
    kept, total = good.hsi.shape[0], cube.hsi.shape[0]
    if kept < total:
        click.echo(f"  scene.tif: {kept} of the background's {total} bands; its {total - kept} bad band(s) are left out "
                   "(targets are implanted in good bands only)")
    if n_targets is not None and len(sim.targets) < n_targets:
        click.echo(f"hsi: warning: --n-targets {n_targets}: only {len(sim.targets)} fit with centres "
                   f"--min-distance {min_distance:g} px apart in this scene; lower --min-distance or use a larger scene",
                   err=True)
