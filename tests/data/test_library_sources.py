"""Measured spectral libraries: download (offline, file://), checksum, archive reading, CSV, CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hsi_app.cli.datasets_cmd import datasets
from hsi_app.data import library_sources
from hsi_app.data.library_sources import SOURCES, fetch_library, library_table, read_member
from hsi_app.errors import ChecksumError, InvalidDataError, UnknownKeyError
from hsi_app.io.spectral_library import read_library

MEMBERS = {"flat": "pkg/spectra/flat.txt", "ramp": "pkg/spectra/ramp.txt"}


def _zip(path: Path, texts: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in texts.items():
            zf.writestr(member, text)
    return path


def _rows(wl: np.ndarray, refl: np.ndarray) -> str:
    return "".join(f"{w:.1f},{r:.6f}\n" for w, r in zip(wl, refl, strict=True))


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """flat: 0.25 over 400-2500 nm, one row repeated as spectrometer exports do;
    ramp: reflectance = wavelength / 10000 over 500-2400 nm, blank-separated, on a coarser grid."""
    wl = np.arange(400.0, 2501.0, 10.0)
    flat = _rows(wl, np.full(wl.size, 0.25))
    flat = flat.replace("1000.0,0.250000\n", "1000.0,0.250000\n1000.0,0.250000\n")
    ramp_wl = np.arange(500.0, 2401.0, 50.0)
    ramp = _rows(ramp_wl, ramp_wl / 10000).replace(",", " ")
    return _zip(tmp_path / "spectra-1.0.whl", {MEMBERS["flat"]: flat, MEMBERS["ramp"]: ramp})


@pytest.fixture
def source(archive: Path, monkeypatch: pytest.MonkeyPatch) -> library_sources.LibrarySource:
    """A registered source served from the local archive."""
    src = dataclasses.replace(
        SOURCES["hylite_pvc"], name="local_test", url=archive.as_uri(),
        sha256=hashlib.sha256(archive.read_bytes()).hexdigest(), members=MEMBERS,
    )
    monkeypatch.setitem(SOURCES, "local_test", src)
    return src


def test_fetch_writes_a_library_on_the_common_range(source: library_sources.LibrarySource, tmp_path: Path) -> None:
    csv = fetch_library("local_test", tmp_path / "data", progress=False)
    assert csv == tmp_path / "data" / "local_test" / "local_test.csv"
    lib = read_library(csv)
    assert lib.names == ["flat", "ramp"]
    # the first member's grid, cut to the range both members cover
    np.testing.assert_allclose(lib.wavelengths, np.arange(500.0, 2401.0, 10.0))
    np.testing.assert_allclose(lib.spectra[0], 0.25)
    np.testing.assert_allclose(lib.spectra[1], lib.wavelengths / 10000, rtol=1e-5)  # linear: exact
    sums = (tmp_path / "data" / "local_test" / "SHA256SUMS").read_text()
    assert source.sha256 in sums and source.archive_name in sums


def test_a_changed_archive_is_refused_and_leaves_nothing(source: library_sources.LibrarySource, tmp_path: Path) -> None:
    other = _zip(tmp_path / "other.whl", {MEMBERS["flat"]: "400,0.1\n500,0.1\n", MEMBERS["ramp"]: "400,0.1\n500,0.2\n"})
    with pytest.raises(ChecksumError, match="sha256"):
        fetch_library("local_test", tmp_path / "data", progress=False, url=other.as_uri())
    assert not (tmp_path / "data" / "local_test").exists()


def test_archive_without_a_member_names_it(archive: Path, source: library_sources.LibrarySource) -> None:
    broken = dataclasses.replace(source, members={**MEMBERS, "tarp": "pkg/spectra/tarp.txt"})
    with pytest.raises(InvalidDataError, match="pkg/spectra/tarp.txt"):
        library_table(archive, broken)


def test_spectra_without_a_common_range_are_refused(tmp_path: Path, source: library_sources.LibrarySource) -> None:
    apart = _zip(tmp_path / "apart.whl", {MEMBERS["flat"]: "400,0.1\n500,0.1\n", MEMBERS["ramp"]: "900,0.1\n1000,0.2\n"})
    with pytest.raises(InvalidDataError, match="share no wavelength range"):
        library_table(apart, source)


def test_not_a_zip(tmp_path: Path, source: library_sources.LibrarySource) -> None:
    bad = tmp_path / "x.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InvalidDataError, match="not a zip"):
        library_table(bad, source)


def test_read_member_sorts_and_averages_repeats() -> None:
    wl, refl = read_member("500,0.2\n400,0.1\n450,0.3\n450,0.5\n", "m")
    np.testing.assert_array_equal(wl, [400.0, 450.0, 500.0])
    np.testing.assert_allclose(refl, [0.1, 0.4, 0.2])
    with pytest.raises(InvalidDataError, match="two numeric columns"):
        read_member("400,abc\n", "m")
    with pytest.raises(InvalidDataError, match="'wavelength, reflectance'"):
        read_member("400,0.1,3\n500,0.2,4\n", "m")


def test_unknown_source_suggests() -> None:
    with pytest.raises(UnknownKeyError, match="did you mean hylite_pvc"):
        library_sources.get_source("hylite_pv")


def test_published_source_is_well_formed() -> None:
    src = SOURCES["hylite_pvc"]
    assert src.url.startswith("https://files.pythonhosted.org/") and src.archive_name == "hylite-1.41-py3-none-any.whl"
    assert len(src.sha256) == 64 and int(src.sha256, 16) >= 0
    assert list(src.members) == ["PVC_Black", "PVC_Grey", "PVC_Red", "PVC_White"]


def test_cli_lists_and_fetches(source: library_sources.LibrarySource, tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(datasets, ["fetch-library"])
    assert listed.exit_code == 0 and "hylite_pvc" in listed.output and "local_test" in listed.output
    got = runner.invoke(datasets, ["fetch-library", "local_test", "--root", str(tmp_path), "--no-progress"])
    assert got.exit_code == 0, got.output
    assert str(tmp_path / "local_test" / "local_test.csv") in got.output
    assert read_library(tmp_path / "local_test" / "local_test.csv").names == ["flat", "ramp"]
