"""``hsi vectorize --map MAP --out POLYGONS.gpkg|.shp|.geojson|.fgb``: class map to polygons with a minimum mapping unit."""

from __future__ import annotations

import click

from hsi_app.cli.options import refuse_given


@click.command("vectorize")
@click.option("--map", "map_path", required=True, type=click.Path(), help="Class map GeoTIFF (band 1 = class, 0 = no data).")
@click.option("--out", "out", required=True, type=click.Path(), help="Polygons to write: .gpkg, .shp, .geojson (lon/lat) or .fgb.")
@click.option("--min-pixels", type=int, default=1, show_default=True,
              metavar="N", help="Minimum mapping unit: smaller patches take the class of their largest neighbour (by pixel count).")
@click.option("--min-area", "min_area", type=float, default=None,
              metavar="HA", help="Minimum mapping unit in hectares (a map with a CRS); instead of --min-pixels.")
@click.option("--connectivity", type=int, default=4, show_default=True, metavar="4|8", help="Pixel neighbourhood of a patch: 4 or 8.")
@click.option("--quiet", is_flag=True, help="No progress (shown for maps of a million pixels or more).")
def vectorize(map_path: str, out: str, min_pixels: int, min_area: float | None, connectivity: int, quiet: bool) -> None:
    """One polygon per connected patch of MAP, with class, area and mean confidence, in the map's CRS."""
    from hsi_app.io.atomic import check_outputs, check_writable
    from hsi_app.io.replace_guard import check_replaces_polygons
    from hsi_app.tasks.map_polygons import polygon_driver, vectorize_map

    if min_area is not None:
        refuse_given(("min_pixels",), "--min-area sets the minimum mapping unit; give one of the two")
    check_outputs({"--out": out}, {"--map": map_path})
    polygon_driver(out)
    check_writable(out)
    check_replaces_polygons("--out", out)  # a GeoPackage of other layers, or other features, is never replaced
    res = vectorize_map(map_path, out, min_pixels=min_pixels, min_area_ha=min_area, connectivity=connectivity,
                        progress=not quiet)
    unit = f"{res['min_pixels']} px" + (f" ({res['min_pixels'] * res['pixel_area_m2'] / 1e4:g} ha)"
                                        if res["pixel_area_m2"] else "")
    if res.get("min_area_ha") is not None:  # a geographic map: each patch's ground area, row by row
        unit = f"{res['min_area_ha']:g} ha of ground per patch"
    per_class = ", ".join(f"{k} {v}" for k, v in res["per_class"].items())
    click.echo(f"{out}: {res['polygons']} polygons ({per_class}); minimum mapping unit {unit}, "
               f"{res['sieved_pixels']} pixels re-classed by the sieve")
    if res["crs"] is None:  # a GIS shows such polygons nowhere near the scene, and they carry no area_ha
        where = "pixel coordinates (x = column, y = row)" if res["pixel_coordinates"] else "the map's grid coordinates"
        click.echo(f"note: {map_path} has no CRS, so the polygons are in {where} without a CRS and have no area_ha; "
                   f"give the map its CRS first (gdal_edit.py -a_srs EPSG:<code> {map_path}) to place them in a GIS")
