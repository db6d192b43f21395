"""Click options shared by several commands (light: nothing heavy is imported here)."""

from __future__ import annotations

import click

exclude_masks_option = click.option(
    "--exclude-masks", "exclude_masks", default=None, metavar="NAMES",
    help="Quality masks whose flagged pixels are no-data (class 0 in a map, NaN elsewhere): comma-separated names "
         "(EnMAP L2A: cloud, cloudshadow, haze, snow, cirrus) or 'all'.",
)
