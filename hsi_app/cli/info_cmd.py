"""``hsi info PATH|NAME``."""

from __future__ import annotations

import json

import click


@click.command("info")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--key", default=None, metavar="VAR", help=".mat variable holding the cube.")
@click.option("--labels", "labels", default=None, type=click.Path(), help="Label raster or vector file to attach.")
@click.option("--label-attribute", default="class", show_default=True, metavar="FIELD", help="Vector attribute holding the class.")
@click.option("--label-layer", default=None, metavar="LAYER", help="Layer of a vector label file with several layers.")
def info(source: str, as_json: bool, key: str | None, labels: str | None, label_attribute: str,
         label_layer: str | None) -> None:
    """Describe SOURCE (a file, EnMAP product, or built-in name such as indian_pines).

    A class map (the GeoTIFF of `hsi predict`, any paletted one-band GeoTIFF, or an ENVI
    classification) is described by its classes instead: pixels, share, area in hectares and
    mean confidence per class.
    """
    from hsi_app.tasks.map_summary import format_class_map_summary, is_class_map, summarize_class_map

    if labels is None and key is None and is_class_map(source):
        summary = summarize_class_map(source)
        click.echo(json.dumps(summary) if as_json else format_class_map_summary(summary))
        return

    from hsi_app.io import open_cube
    from hsi_app.io.summary import format_summary, summarize

    cube = open_cube(source, key=key, labels=labels, label_attribute=label_attribute, label_layer=label_layer)
    summary = summarize(cube, progress=not as_json)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(format_summary(summary))
