"""The dataset catalog: what each benchmark scene is, where its files come from, how they look.

The catalog is one JSON file, ``datasets/catalog.json`` at the root of the repository
(``datasets/README.md`` documents every field). It is found, in this order:

1. the ``path`` argument of :func:`load_catalog`;
2. the ``HSI_CATALOG`` environment variable;
3. ``<repository>/datasets/catalog.json``, located relative to this file.

The third works because hsi_app is installed in editable mode (``make install``); a
non-editable install has no ``datasets/`` folder and needs 1 or 2. The catalog is kept
out of the package on purpose: it is data that people edit and review, next to the
model manifests, not code.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from types import MappingProxyType
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, DatasetNotFoundError, UnknownKeyError

CATALOG_ENV = "HSI_CATALOG"
DEFAULT_CATALOG_PATH = Path(__file__).resolve().parents[2] / "datasets" / "catalog.json"
FILE_ROLES = ("cube", "labels", "product")
MAT_ROLES = ("cube", "labels")
FORMAT_VERSION = 1

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[a-z0-9_]+$")
_GLOB_CHARS = "*?["
_REQUIRED = (
    "name", "title", "sensor", "files", "mat_keys", "mat_version", "class_names", "bands",
    "height", "width", "dtype", "wavelength_range_nm", "gsd_m", "citation", "license_note", "notes",
)  # fmt: skip
_OPTIONAL = ("aliases", "homepage", "builtin", "access", "source_bands", "removed_bands", "wavelengths_nm")
_FILE_FIELDS = ("role", "filename", "url", "sha256", "size_bytes")


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset.

    Attributes:
        role: ``"cube"``, ``"labels"`` or ``"product"`` (a whole product archive/folder).
        filename: name on disk; for ``product`` files a glob pattern (``ENMAP01-____L2A-*``).
        url: direct download URL, or None when the file must be fetched by hand.
        sha256: published lower-case hex digest, or None when not known.
        size_bytes: expected size, or None when not known.
    """

    role: str
    filename: str
    url: str | None
    sha256: str | None
    size_bytes: int | None

    @property
    def is_pattern(self) -> bool:
        """True when ``filename`` is a glob pattern rather than one file name."""
        return any(ch in self.filename for ch in _GLOB_CHARS)


@dataclass(frozen=True)
class DatasetEntry:
    """One catalog entry (see ``datasets/README.md`` for the meaning of each field).

    ``class_names`` excludes the unlabelled class: label value ``i`` (1-based) is
    ``class_names[i - 1]``. ``removed_bands`` are 1-based indices into a grid of
    ``source_bands`` evenly spaced band centres (the sensor's band set before the
    providers dropped water-absorption or noisy bands).
    """

    name: str
    title: str
    sensor: str
    files: tuple[DatasetFile, ...]
    mat_keys: Mapping[str, str] | None = field(hash=False)
    mat_version: str | None
    class_names: tuple[str, ...]
    bands: int
    height: int | None
    width: int | None
    dtype: str | None
    wavelength_range_nm: tuple[float, float]
    gsd_m: float | None
    citation: str
    license_note: str
    notes: str
    aliases: tuple[str, ...] = ()
    homepage: str | None = None
    builtin: str | None = None
    access: str | None = None
    source_bands: int | None = None
    removed_bands: tuple[int, ...] = ()
    wavelengths_nm: tuple[float, ...] = ()

    @property
    def num_classes(self) -> int:
        """Number of labelled classes (0 for scenes without ground truth)."""
        return len(self.class_names)

    @property
    def downloadable(self) -> bool:
        """True when every file has a direct download URL."""
        return all(f.url is not None for f in self.files)

    @property
    def available_offline(self) -> bool:
        """True when a Python package ships the scene (no download needed)."""
        return self.builtin is not None

    def file(self, role: str) -> DatasetFile | None:
        """The first file with ``role`` (``"cube"``, ``"labels"``, ``"product"``), or None."""
        return next((f for f in self.files if f.role == role), None)


def _normalise(name: str) -> str:
    """Lookup form of a dataset name or alias: lower case, ``-``/space become ``_``."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def resolve_catalog_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The catalog file to read: ``path``, else ``$HSI_CATALOG``, else the repository's."""
    if path is not None:
        return Path(path)
    env = os.environ.get(CATALOG_ENV)
    return Path(env) if env else DEFAULT_CATALOG_PATH


class _Checker:
    """Validates one raw JSON entry and raises :class:`ConfigError` naming file, entry and field."""

    def __init__(self, path: Path, raw: Mapping[str, Any], index: int) -> None:
        self.path = path
        self.raw = raw
        self.label = f"entry '{raw.get('name')}'" if isinstance(raw.get("name"), str) else f"entry #{index}"

    def fail(self, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.label}: {what}; fix the catalog (see datasets/README.md)")

    def text(self, value: Any, where: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"'{where}' must be a non-empty string{' or null' if optional else ''}")
        return value

    def integer(self, value: Any, where: str, *, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(f"'{where}' must be a positive integer{' or null' if optional else ''}")
        return value

    def number(self, value: Any, where: str, *, optional: bool = False) -> float | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise self.fail(f"'{where}' must be a positive number{' or null' if optional else ''}")
        return float(value)

    def field(self, key: str, kind: str = "text", *, optional: bool = False) -> Any:
        """Check ``raw[key]`` with the ``text``/``integer``/``number`` rule."""
        return getattr(self, kind)(self.raw.get(key), key, optional=optional)

    def strings(self, key: str) -> tuple[str, ...]:
        val = self.raw.get(key, [])
        if not isinstance(val, list) or not all(isinstance(s, str) and s.strip() for s in val):
            raise self.fail(f"'{key}' must be a list of non-empty strings")
        if len(set(val)) != len(val):
            raise self.fail(f"'{key}' has duplicates")
        return tuple(val)


def _parse_file(chk: _Checker, raw: Any, i: int) -> DatasetFile:
    where = f"files[{i}]"
    if not isinstance(raw, Mapping):
        raise chk.fail(f"'{where}' must be an object with {', '.join(_FILE_FIELDS)}")
    missing = [k for k in _FILE_FIELDS if k not in raw]
    extra = sorted(set(raw) - set(_FILE_FIELDS))
    if missing or extra:
        raise chk.fail(f"'{where}' missing {missing} / unknown {extra} fields")
    role = raw["role"]
    if role not in FILE_ROLES:
        raise chk.fail(f"'{where}.role' is {role!r}; use one of {', '.join(FILE_ROLES)}")
    sha = raw["sha256"]
    if sha is not None and (not isinstance(sha, str) or not _SHA256_RE.match(sha)):
        raise chk.fail(f"'{where}.sha256' must be 64 lower-case hex digits or null")
    return DatasetFile(
        role=role,
        filename=_check_filename(chk, raw["filename"], where, role),
        url=chk.text(raw["url"], f"{where}.url", optional=True),
        sha256=sha,
        size_bytes=chk.integer(raw["size_bytes"], f"{where}.size_bytes", optional=True),
    )


def _check_filename(chk: _Checker, value: Any, where: str, role: str) -> str:
    """A plain file name inside ``ROOT/NAME/``: no folder part, no ``..``; glob characters only for ``product``."""
    name = chk.text(value, f"{where}.filename") or ""
    if name in (".", "..") or any(c in name for c in "/\\") or PureWindowsPath(name).drive or name != name.strip():
        raise chk.fail(f"'{where}.filename' is {name!r}; give a plain file name (no folder, '..' or drive), "
                       "it is saved in ROOT/NAME/")
    if role != "product" and any(c in name for c in _GLOB_CHARS):
        raise chk.fail(f"'{where}.filename' is {name!r}; glob characters (* ? [) are only allowed for role 'product'")
    return name


def _check_files(chk: _Checker, raw: Any) -> tuple[DatasetFile, ...]:
    """The entry's ``files``: a non-empty list, no file name twice."""
    if not isinstance(raw, list) or not raw:
        raise chk.fail("'files' must be a non-empty list")
    files = tuple(_parse_file(chk, f, i) for i, f in enumerate(raw))
    seen: set[str] = set()
    for i, f in enumerate(files):
        if f.filename in seen:
            raise chk.fail(f"'files[{i}].filename' {f.filename!r} is listed twice; keep one")
        seen.add(f.filename)
    return files


def _parse_entry(path: Path, raw: Any, index: int) -> DatasetEntry:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: entry #{index} is not a JSON object; fix the catalog (see datasets/README.md)")
    chk = _Checker(path, raw, index)
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise chk.fail(f"missing field(s) {', '.join(missing)}")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise chk.fail(f"unknown field(s) {', '.join(unknown)}")

    name = chk.field("name") or ""
    if not _NAME_RE.match(name):
        raise chk.fail(f"'name' must be lower case letters, digits and underscores (e.g. pavia_university), "
                       f"not {name!r}: it names the folder ROOT/NAME/")
    files = _check_files(chk, raw["files"])

    mat_keys = raw["mat_keys"]
    if mat_keys is not None:
        if not isinstance(mat_keys, Mapping) or set(mat_keys) - set(MAT_ROLES) or "cube" not in mat_keys:
            raise chk.fail("'mat_keys' must be null or {\"cube\": ..., \"labels\": ...}")
        for role, key in mat_keys.items():
            chk.text(key, f"mat_keys.{role}")
        mat_keys = MappingProxyType(dict(mat_keys))
    mat_version = raw["mat_version"]
    if mat_version not in (None, "5", "7.3"):
        raise chk.fail(f"'mat_version' is {mat_version!r}; use \"5\", \"7.3\" or null")

    rng = raw["wavelength_range_nm"]
    if (
        not isinstance(rng, list)
        or len(rng) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)
        or not 0 < rng[0] < rng[1]
    ):
        raise chk.fail("'wavelength_range_nm' must be [min, max] in nm with 0 < min < max")

    bands = chk.field("bands", "integer") or 0
    source_bands = chk.field("source_bands", "integer", optional=True)
    removed = raw.get("removed_bands", [])
    if not isinstance(removed, list) or not all(isinstance(b, int) and not isinstance(b, bool) for b in removed):
        raise chk.fail("'removed_bands' must be a list of 1-based band indices")
    if removed or source_bands is not None:
        if source_bands is None or len(set(removed)) != len(removed):
            raise chk.fail("'removed_bands' needs 'source_bands' and must not repeat")
        if not all(1 <= b <= source_bands for b in removed) or source_bands - len(removed) != bands:
            raise chk.fail(f"'source_bands' ({source_bands}) minus 'removed_bands' ({len(removed)}) must equal 'bands'")

    wls = raw.get("wavelengths_nm", [])
    if (not isinstance(wls, list) or (wls and len(wls) != bands)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in wls)):
        raise chk.fail(f"'wavelengths_nm' must list one band centre (nm) per band ({bands})")

    entry = DatasetEntry(
        name=name,
        title=chk.field("title") or "",
        sensor=chk.field("sensor") or "",
        files=files,
        mat_keys=mat_keys,
        mat_version=mat_version,
        class_names=chk.strings("class_names"),
        bands=bands,
        height=chk.field("height", "integer", optional=True),
        width=chk.field("width", "integer", optional=True),
        dtype=chk.field("dtype", optional=True),
        wavelength_range_nm=(float(rng[0]), float(rng[1])),
        gsd_m=chk.field("gsd_m", "number", optional=True),
        citation=chk.field("citation") or "",
        license_note=chk.field("license_note") or "",
        notes=chk.field("notes") or "",
        aliases=tuple(_normalise(a) for a in chk.strings("aliases")),
        homepage=chk.field("homepage", optional=True),
        builtin=chk.field("builtin", optional=True),
        access=chk.field("access", optional=True),
        source_bands=source_bands,
        removed_bands=tuple(sorted(removed)),
        wavelengths_nm=tuple(float(v) for v in wls),
    )
    if entry.dtype is not None:
        try:
            np.dtype(entry.dtype)
        except TypeError as err:
            raise chk.fail(f"'dtype' {entry.dtype!r} is not a numpy dtype name") from err
    if not entry.downloadable and not (entry.access or entry.homepage):
        raise chk.fail("files without 'url' need 'access' or 'homepage' saying where to get them")
    return entry


def load_catalog(path: str | os.PathLike[str] | None = None) -> dict[str, DatasetEntry]:
    """Read and validate the dataset catalog.

    Args:
        path: catalog JSON; default ``$HSI_CATALOG`` or the repository's ``datasets/catalog.json``.

    Returns:
        ``{name: DatasetEntry}`` in catalog order.

    Raises:
        DatasetNotFoundError: the catalog file does not exist.
        ConfigError: the file is not valid JSON or an entry is malformed (message names the field).
    """
    cat_path = resolve_catalog_path(path)
    try:
        text = cat_path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise DatasetNotFoundError(_not_found(cat_path, given=path is not None)) from err
    except OSError as err:
        raise DatasetNotFoundError(
            f"{cat_path}: cannot read the dataset catalog ({err.strerror}); check the path"
        ) from err
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{cat_path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}; fix the file"
        ) from err
    if not isinstance(doc, Mapping) or not isinstance(doc.get("datasets"), list):
        raise ConfigError(
            f"{cat_path}: expected an object with a 'datasets' list; fix the catalog (see datasets/README.md)"
        )
    version = doc.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"{cat_path}: format_version {version!r} is not supported (expected {FORMAT_VERSION}); update hsi_app"
        )

    entries: dict[str, DatasetEntry] = {}
    lookup: dict[str, str] = {}
    for i, raw in enumerate(doc["datasets"]):
        entry = _parse_entry(cat_path, raw, i)
        for key in (entry.name, *entry.aliases):
            if key in lookup and lookup[key] != entry.name:
                raise ConfigError(
                    f"{cat_path}: entry '{entry.name}': name or alias '{key}' is already used by "
                    f"'{lookup[key]}'; make it unique"
                )
            lookup[key] = entry.name
        if entry.name in entries:
            raise ConfigError(f"{cat_path}: entry '{entry.name}' appears twice; keep one")
        entries[entry.name] = entry
    return entries


def _not_found(cat_path: Path, *, given: bool) -> str:
    """One line for a missing catalog, naming where its path came from and the fix."""
    if given:
        return f"{cat_path}: dataset catalog not found; check the path (--catalog)"
    if os.environ.get(CATALOG_ENV):
        return f"{cat_path}: dataset catalog not found; ${CATALOG_ENV} names it: fix or unset ${CATALOG_ENV}"
    return (f"{cat_path}: dataset catalog not found; set ${CATALOG_ENV} to a catalog file such as the repository's "
            "datasets/catalog.json (an editable install, `make install`, finds it by itself)")


_UNUSABLE: set[str] = set()
"""Catalog errors already warned about by :func:`optional_catalog` (once per process each)."""


def optional_catalog() -> Mapping[str, DatasetEntry]:
    """The catalog for readers that only use it for extras (class names, band centres of ``.mat`` scenes).

    A missing or broken catalog gives one :class:`~hsi_app.errors.HSIWarning` (once per
    process) and an empty catalog, instead of failing the read.
    """
    import warnings

    from hsi_app.errors import HSIError, HSIWarning

    try:
        return load_catalog()
    except HSIError as err:
        msg = str(err)
        if msg not in _UNUSABLE:
            _UNUSABLE.add(msg)
            warnings.warn(f"{msg}; .mat files are read without it (no catalog class names or band centres)",
                          HSIWarning, stacklevel=3)
        return {}


def _as_catalog(catalog: Mapping[str, DatasetEntry] | str | os.PathLike[str] | None) -> Mapping[str, DatasetEntry]:
    if catalog is None or isinstance(catalog, (str, os.PathLike)):
        return load_catalog(catalog)
    return catalog


def get_dataset(
    name: str, catalog: Mapping[str, DatasetEntry] | str | os.PathLike[str] | None = None
) -> DatasetEntry:
    """Look up a catalog entry by name or alias (case-insensitive, ``-`` = ``_``).

    Args:
        name: e.g. ``"indian_pines"``, ``"PaviaU"``, ``"WHU-Hi-LongKou"``.
        catalog: loaded catalog or a catalog path; default: :func:`load_catalog`.

    Raises:
        UnknownKeyError: no such dataset; the message suggests close names.
    """
    entries = _as_catalog(catalog)
    key = _normalise(name)
    by_key: dict[str, str] = {}
    for entry in entries.values():
        for k in (entry.name, *entry.aliases):
            by_key.setdefault(k, entry.name)
    if key in by_key:
        return entries[by_key[key]]
    close = difflib.get_close_matches(key, list(by_key), n=5, cutoff=0.6)
    suggestions = list(dict.fromkeys(by_key[c] for c in close))[:3]
    hint = f"did you mean {' or '.join(suggestions)}?" if suggestions else f"known: {', '.join(entries)}."
    raise UnknownKeyError(f"unknown dataset '{name}'; {hint} See `hsi datasets list`")


def entry_for_mat_key(
    key: str, catalog: Mapping[str, DatasetEntry] | str | os.PathLike[str] | None = None
) -> tuple[DatasetEntry, str] | None:
    """The catalog entry whose ``.mat`` files use variable ``key``.

    Matching is exact and case-sensitive (``paviaU`` matches, ``paviau`` does not), because
    ``.mat`` variable names are case-sensitive.

    Returns:
        ``(entry, role)`` with role ``"cube"`` or ``"labels"``, or None when no entry uses ``key``.
    """
    for entry in _as_catalog(catalog).values():
        for role, mat_key in (entry.mat_keys or {}).items():
            if mat_key == key:
                return entry, role
    return None


def default_wavelengths(entry: DatasetEntry) -> np.ndarray:
    """Approximate band centres for a catalog scene whose file carries no wavelengths.

    The ``.mat`` benchmark files hold bare arrays. This spreads band centres evenly over
    ``wavelength_range_nm``; when the entry lists ``removed_bands`` (water-absorption
    bands the providers dropped) the grid has ``source_bands`` centres and the removed
    ones are deleted, which keeps the spectral gaps where they really are. The result is
    an approximation (real sensors are not evenly spaced, and spectrometers overlap);
    use real centres whenever the data provides them (EnMAP metadata, the tensorly copy
    of Indian Pines).

    Entries that list the real centres (``wavelengths_nm``) return those instead.

    Returns:
        ``(bands,)`` float64, nm.
    """
    if entry.wavelengths_nm:
        return np.asarray(entry.wavelengths_nm, dtype=np.float64)
    lo, hi = entry.wavelength_range_nm
    if entry.source_bands is None:
        return np.linspace(lo, hi, entry.bands)
    grid = np.linspace(lo, hi, entry.source_bands)
    return np.delete(grid, [b - 1 for b in entry.removed_bands])
