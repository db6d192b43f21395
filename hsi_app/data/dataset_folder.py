"""Fetched datasets as readers meet them: catalog names and ``ROOT/NAME/`` folders given where a scene is expected.

``hsi datasets fetch NAME`` puts a dataset in ``ROOT/NAME/`` (``ROOT``: ``$HSI_DATA_ROOT``, else
``data``) and records every file it checked in ``SHA256SUMS`` (or ``SHA256SUMS.unverified``). A
catalog name then opens as that cube file (:func:`fetched_cube`): ``hsi train --data salinas``
reads ``data/salinas/Salinas_corrected.mat``. A name not fetched yet, or whose cube file is there
but was never checked by a fetch, is refused with one line saying what to run (:func:`name_hint`).
The folder itself is not a scene: ``hsi info data/salinas`` is refused with one line naming the
file (or the name) to pass, not with the EnMAP wording meant for product folders; a name that is also
that folder (``cd ROOT`` with ``HSI_DATA_ROOT=.``) opens the cube. A bare name that begins several
entries' names (``pavia``) is refused with one line listing them. The catalog is optional here: when
it cannot be read, names are not looked up and no hint is given.
"""

from __future__ import annotations

import functools
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hsi_app.data.download_records import SUMS_FILENAME, UNVERIFIED_FILENAME, read_sums
from hsi_app.errors import HSIError

if TYPE_CHECKING:  # the catalog (numpy) is imported when a hint is made, not by `hsi datasets --help`
    from hsi_app.data.catalog import DatasetEntry

DEFAULT_ROOT = Path("data")
"""The default ``--root`` of ``hsi datasets fetch`` when ``$HSI_DATA_ROOT`` is not set."""
DATA_ROOT_ENV = "HSI_DATA_ROOT"
"""Environment variable naming the data folder (``--root``) of ``hsi datasets fetch``."""


def default_root() -> Path:
    """The data folder ``hsi datasets fetch`` uses without ``--root``: ``$HSI_DATA_ROOT``, else ``data``."""
    return Path(os.environ.get(DATA_ROOT_ENV) or DEFAULT_ROOT)


def cube_file(entry: DatasetEntry) -> str | None:
    """The file name of ``entry``'s cube (None for a product given as a pattern, such as EnMAP)."""
    cube = entry.file("cube")
    return None if cube is None or cube.is_pattern else cube.filename


def _catalog() -> Mapping[str, DatasetEntry]:
    """The catalog, or an empty one when it is missing or broken (hints are a courtesy).

    Read once per catalog file and version (path and modification time): a scene path that is not found
    asks for it up to three times (:func:`fetched_cube`, :func:`name_hint` and its candidates)."""
    from hsi_app.data.catalog import resolve_catalog_path

    try:
        path = resolve_catalog_path()
        return _read_catalog(str(path), path.stat().st_mtime_ns)
    except (HSIError, OSError):
        return {}


@functools.lru_cache(maxsize=4)
def _read_catalog(path: str, mtime_ns: int) -> Mapping[str, DatasetEntry]:
    """:func:`~hsi_app.data.catalog.load_catalog` of ``path`` as of ``mtime_ns`` (the cache key)."""
    from types import MappingProxyType

    from hsi_app.data.catalog import load_catalog

    return MappingProxyType(load_catalog(path))


def folder_hint(folder: Path) -> str | None:
    """One line for a dataset folder of ``hsi datasets fetch`` given where a file is expected, or None.

    A dataset folder holds ``SHA256SUMS`` (or ``SHA256SUMS.unverified``), or is named after a
    catalog entry and holds its cube file.
    """
    fetched = (folder / SUMS_FILENAME).is_file() or (folder / UNVERIFIED_FILENAME).is_file()
    for entry in _catalog().values():
        name = cube_file(entry)
        if name and (folder / name).is_file() and (fetched or folder.name == entry.name):
            return (f"{folder}: a dataset folder ({entry.name}) from `hsi datasets fetch`, not an EnMAP product; "
                    f"pass its cube file instead: {folder / name}")
    if not fetched:
        return None
    files = sorted({**read_sums(folder), **read_sums(folder, UNVERIFIED_FILENAME)})
    listed = ", ".join(str(folder / f) for f in files if (folder / f).is_file()) or "(none left)"
    return (f"{folder}: a folder of files fetched by `hsi datasets fetch`, not an EnMAP product; "
            f"pass one of its files instead: {listed}")


def _entry(name: str) -> DatasetEntry | None:
    """The catalog entry ``name`` (or an alias) names, or None (no catalog, no such entry)."""
    from hsi_app.data.catalog import get_dataset

    entries = _catalog()
    if not entries or not name.strip():
        return None
    try:
        return get_dataset(name, entries)
    except HSIError:
        return None


def _candidates(name: str) -> list[str]:
    """Catalog entries a bare ``name`` (no folder, no suffix) begins the name or an alias of, at a word
    boundary (``pavia`` -> ``pavia_university``, ``pavia_centre``), in catalog order; [] for a path."""
    from hsi_app.data.catalog import _normalise  # the lookup form get_dataset matches names in

    if not name.strip() or "/" in name or os.sep in name or Path(name).suffix:
        return []
    stem = _normalise(name) + "_"
    return [e.name for e in _catalog().values() if any(k.startswith(stem) for k in (e.name, *e.aliases))]


def _recorded(local: Path) -> bool:
    """Whether ``hsi datasets fetch`` checked ``local`` and recorded it in its folder's sums files."""
    return local.name in read_sums(local.parent) or local.name in read_sums(local.parent, UNVERIFIED_FILENAME)


def fetched_cube(name: str) -> Path | None:
    """The cube file of the catalog dataset ``name`` (or an alias) that ``hsi datasets fetch`` put in
    ``ROOT/NAME/`` and recorded there, or None: not a catalog name, built in, a product (EnMAP: pass the
    product), not fetched to :func:`default_root`, or a file there that no fetch has checked."""
    entry = _entry(name)
    if entry is None or entry.builtin:
        return None
    cube = cube_file(entry)
    if cube is None:
        return None
    local = default_root() / entry.name / cube
    return local if local.is_file() and _recorded(local) else None


def name_hint(name: str) -> str | None:
    """One line for a catalog dataset name that cannot be opened as its fetched cube (:func:`fetched_cube`), or
    None when ``name`` is no catalog name. A bare name that begins several entries' names names them all
    (``pavia``: ``pavia_university`` or ``pavia_centre``)."""
    entry = _entry(name)
    if entry is None:
        several = _candidates(name)
        if len(several) < 2:
            return None
        listed = f"{', '.join(several[:-1])} or {several[-1]}"
        return (f"{name}: no such file or folder; it may name the catalog datasets {listed}: "
                "pass one of those names")
    head = f"{name}: no such file or folder; it names the catalog dataset {entry.name}"
    if entry.builtin:
        return f"{head}, which is built in: pass {entry.name}"
    cube = cube_file(entry)
    if cube is None:
        return f"{head}: get it as `hsi datasets fetch {entry.name}` explains, and pass the product zip or folder"
    root = default_root()
    local = root / entry.name / cube
    where = "" if DATA_ROOT_ENV in os.environ else f" --root {shlex.quote(str(root))}"
    if local.is_file():  # placed by hand and never checked: fetch checks it (variable, shape, digest) and records it
        return (f"{head}; {local} is there but no `hsi datasets fetch` has checked it: run `hsi datasets fetch "
                f"{entry.name}{where}` (it checks and records the file), then pass {name} again")
    return f"{head}: run `hsi datasets fetch {entry.name}{where}`, then pass {name} again"
