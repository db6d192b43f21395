"""``hsi simulate-targets``: implant library targets into a background scene (SPOD-style).

Writes into OUT (created):

* ``scene.tif``: the cube with targets, float32 COG (good bands, wavelengths, CRS kept);
* ``targets.gpkg``: one point per target (``class``, ``class_id``, ``row``/``col``,
  map ``x``/``y``, ``area``, ``size_bin``, ``gain``, ``materials``, ``proportions``,
  ``peak_abundance``, ``box_row0..box_col1``);
* ``abundance.tif``: float32 COG, band 1 ``abundance``, band 2 ``class`` (0 = none).
"""

from __future__ import annotations

import click


@click.command("simulate-targets")
@click.option("--background", required=True, help="Background scene: a file, EnMAP product, or built-in name.")
@click.option("--targets", required=True, type=click.Path(), help="Spectral library (CSV or ENVI .sli).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (equal seeds, equal scenes).")
@click.option("--out", "out", required=True, type=click.Path(), help="Output folder.")
@click.option("--density", type=float, default=1 / 150, show_default=True, help="Targets per pixel tried.")
@click.option("--n-targets", type=int, default=None, help="Exact number of targets to try to place.")
@click.option("--min-distance", type=float, default=8.0, show_default=True, help="Smallest centre spacing, pixels.")
@click.option("--material", "materials", multiple=True, help="Only this library material (repeatable).")
@click.option("--scale", type=float, default=None, help="Library reflectance -> cube units (default: guessed).")
@click.option("--key", default=None, help=".mat variable holding the cube.")
def simulate_targets(background: str, targets: str, seed: int, out: str, density: float, n_targets: int | None,
                     min_distance: float, materials: tuple[str, ...], scale: float | None, key: str | None) -> None:
    """Implant 1-3-material point targets (sub-pixel to 16 px) into BACKGROUND; write scene, points and abundance."""
    from pathlib import Path

    import numpy as np

    from hsi_app.data.targets import SimOptions
    from hsi_app.data.targets import simulate_targets as simulate
    from hsi_app.errors import ConfigError
    from hsi_app.io.cog import StreamingCOGWriter, write_cube
    from hsi_app.io.cube import make_cube
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detect_eval import ground_truth
    from hsi_app.tasks.detection import scene_image, target_spectra, write_detections

    if density <= 0 or min_distance <= 0:
        raise ConfigError(f"--density {density} / --min-distance {min_distance}: both must be positive")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    cube = open_cube(background, key=key)
    spectra, names = target_spectra(cube, library=targets, names=list(materials) or None, scale=scale)
    image = scene_image(cube)
    sim = simulate(image, spectra, names, seed=seed,
                   options=SimOptions(density=density, n_targets=n_targets, min_distance=min_distance, scale=1.0))
    good = cube.hsi.good_bands()
    crs = cube.rio.crs
    transform = cube.rio.transform() if crs is not None else None
    scene = make_cube(sim.image, wavelength=good.hsi.wavelengths, fwhm=good.hsi.fwhm, x=good.x.values,
                      y=good.y.values, crs=crs, transform=transform, fmt="simulated", source=str(background))
    write_cube(folder / "scene.tif", scene)
    _, h, w = sim.image.shape
    with StreamingCOGWriter(folder / "abundance.tif", height=h, width=w, count=2, dtype="float32", crs=crs,
                            transform=transform, band_descriptions=["abundance", "class"],
                            tags={"CLASS_NAMES": ",".join(["none", *names])}) as wr:
        wr.write_window(np.stack([sim.abundance, sim.class_map.astype(np.float32)]), 0, 0)
    table = sim.table()
    gt = ground_truth(sim)
    extra = {k: table[k] for k in ("area", "size_bin", "gain", "materials", "proportions", "peak_abundance")
             if k in table and len(table[k]) == len(gt)}
    write_detections(folder / "targets.gpkg", gt, cube, names, extra=extra)
    click.echo(f"{folder}: {len(sim.targets)} targets ({', '.join(names)}) in {h} x {w} px, seed {seed} "
               "-> scene.tif, targets.gpkg, abundance.tif")
