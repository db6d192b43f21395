"""GDAL's block cache cap for every ``hsi`` process (the CLI and each batch worker).

GDAL's default block cache is 5 % of RAM per process, so without a cap the memory of a windowed
read grows with the scene (up to 1.2 GiB on a 23 GiB machine, 6.4 GiB on a 128 GiB one) as tiles
are cached, not with the window. GDAL reads ``GDAL_CACHEMAX`` when it first caches a block, so
setting the environment variable before any scene is read is enough. This module imports
nothing heavy (``hsi --help`` stays instant).
"""

from __future__ import annotations

import os

GDAL_CACHE_MB = 256
"""GDAL block cache (MB) per process unless the user set ``GDAL_CACHEMAX``. A 256-px tile of a
200-band int16 GeoTIFF is 26 MB, so this holds a row of such tiles across a 2000-px scene, which
the next row of halo'd windows reads again."""


_SET_HERE: list[str] = []
"""The ``GDAL_CACHEMAX`` values :func:`cap_gdal_cache` set (empty: it set none)."""


def cap_gdal_cache(mb: int = GDAL_CACHE_MB) -> None:
    """Set ``GDAL_CACHEMAX`` to ``mb`` megabytes unless it is already set (the user's value wins)."""
    if "GDAL_CACHEMAX" not in os.environ:
        os.environ["GDAL_CACHEMAX"] = str(mb)
        _SET_HERE.append(str(mb))


def user_gdal_cache() -> bool:
    """Whether ``GDAL_CACHEMAX`` holds a value of the user's (set, and not by :func:`cap_gdal_cache`), which a
    step that caps the cache for itself must leave alone: a user's explicit 256 counts too."""
    value = os.environ.get("GDAL_CACHEMAX")
    return value is not None and value not in _SET_HERE
