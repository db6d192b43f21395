"""``hsi evaluate --map MAP --reference REF``: accuracy and class areas of a finished map."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("evaluate")
@click.option("--map", "map_path", required=True, type=click.Path(), help="Class map GeoTIFF (band 1 = class, 0 = no data).")
@click.option("--reference", "reference", required=True, type=click.Path(),
              help="Reference labels: GeoTIFF on the map's grid, .npy, .mat, or vector file in any CRS.")
@click.option("--label-attribute", "attribute", default="class", show_default=True, metavar="FIELD", help="Vector attribute holding the class (number or name).")
@click.option("--label-layer", default=None, metavar="LAYER", help="Layer of a vector label file with several layers.")
@click.option("--key", default=None, metavar="VAR", help=".mat variable holding the reference labels.")
@click.option("--json", "json_path", default=None, type=click.Path(), help="Write the full report as JSON here.")
@click.option("--confusion", "png_path", default=None, type=click.Path(), help="Write the confusion matrix as PNG here.")
@click.option("--quiet", is_flag=True, help="No progress (shown for maps of 4 million pixels or more).")
def evaluate(map_path: str, reference: str, attribute: str, label_layer: str | None, key: str | None, json_path: str | None,
             png_path: str | None, quiet: bool) -> None:
    """Score MAP against REFERENCE: OA, AA, kappa, producer's/user's accuracy and class areas.

    Classes are matched by name when both files carry names, else by number. Areas are in
    hectares for a map with a CRS (geographic: each row's pixels' ground area, summed); the error-adjusted areas (Olofsson et al. 2014) assume the
    reference pixels are a random sample within each map class. A GeoTIFF reference on exactly
    the map's grid is counted strip by strip, so memory does not grow with the map.
    """
    from hsi_app.io.atomic import atomic_path, check_outputs, check_suffix, check_writable
    from hsi_app.tasks.map_accuracy import evaluate_map, format_report

    check_outputs({"--json": json_path, "--confusion": png_path}, {"--map": map_path, "--reference": reference})
    check_suffix("--confusion", png_path, (".png",), "a PNG image")
    check_suffix("--json", json_path, (".json",), "a JSON report")
    for out in (json_path, png_path):
        if out is not None:
            check_writable(out)
    acc = evaluate_map(map_path, reference, attribute=attribute, key=key, layer=label_layer, progress=not quiet)
    report = {"map": str(map_path), "reference": str(reference), **acc.to_dict()}
    click.echo(format_report(report))
    if json_path is not None:
        with atomic_path(json_path) as tmp:
            Path(tmp).write_text(json.dumps(report, indent=2))
        click.echo(f"report -> {json_path}")
    if png_path is not None:
        from hsi_app.io.quicklook import confusion_title, save_confusion_png

        save_confusion_png(png_path, acc.confusion, acc.class_names,
                           title=f"{Path(map_path).name} vs {Path(reference).name}: "
                                 + confusion_title(report["oa"], n=report["n_reference"]))
        click.echo(f"confusion matrix -> {png_path}")
