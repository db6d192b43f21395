"""Click options shared by several commands (light: nothing heavy is imported here)."""

from __future__ import annotations

from typing import Any

import click

SEED_MAX = 2**32 - 1
"""The largest seed numpy and Lightning accept (seeds are 0..2**32-1)."""


def check_seed(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Click callback of every seed option: refuse a seed outside 0..2**32-1 before any data is read.

    Raises:
        ConfigError: naming the option and the valid range.
    """
    from hsi_app.errors import ConfigError

    if value is not None and not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{param.opts[0]} {value}: use a whole number from 0 to {SEED_MAX} (2**32 - 1)")
    return value


def seed_option(name: str = "--seed", **kw: Any) -> Any:
    """A seed option (``int``, checked by :func:`check_seed`); ``kw`` as for :func:`click.option`."""
    kw.setdefault("default", 0)
    kw.setdefault("show_default", kw["default"] is not None)
    return click.option(name, type=int, callback=check_seed, **kw)


exclude_masks_option = click.option(
    "--exclude-masks", "exclude_masks", default=None, metavar="NAMES",
    help="Quality masks whose flagged pixels are no-data (class 0 in a map, NaN elsewhere): comma-separated names "
         "(EnMAP L2A: cloud, cloudshadow, haze, snow, cirrus) or 'all'.",
)
