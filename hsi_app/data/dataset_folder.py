"""Fetched datasets as readers meet them: ``ROOT/NAME/`` folders and catalog names given as paths.

``hsi datasets fetch NAME`` puts a dataset in ``ROOT/NAME/`` (with ``SHA256SUMS``). The readers
open files, not those folders, and catalog names are not paths: ``hsi info data/salinas`` or
``hsi info salinas`` is refused with one line naming the file to pass instead
(``data/salinas/Salinas_corrected.mat``), not with the EnMAP or built-in wording meant for other
inputs. The catalog is optional here: when it cannot be read, no hint is given.
"""

from __future__ import annotations

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
    """The catalog, or an empty one when it is missing or broken (hints are a courtesy)."""
    from hsi_app.data.catalog import load_catalog

    try:
        return load_catalog()
    except HSIError:
        return {}


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


def name_hint(name: str) -> str | None:
    """One line for a catalog dataset name given where a file is expected (it is no file), or None."""
    from hsi_app.data.catalog import get_dataset

    entries = _catalog()
    if not entries or not name.strip():
        return None
    try:
        entry = get_dataset(name, entries)
    except HSIError:
        return None
    head = f"{name}: no such file or folder; it names the catalog dataset {entry.name}"
    if entry.builtin:
        return f"{head}, which is built in: pass {entry.name}"
    cube = cube_file(entry)
    if cube is None:
        return f"{head}: get it as `hsi datasets fetch {entry.name}` explains, and pass the product zip or folder"
    root = default_root()
    local = root / entry.name / cube
    if local.is_file():
        return f"{head}, fetched to {local}: pass that path"
    where = "" if DATA_ROOT_ENV in os.environ else f" --root {shlex.quote(str(root))}"
    return f"{head}: run `hsi datasets fetch {entry.name}{where}`, then pass {shlex.quote(str(local))}"
