"""hsi_app.provenance: the identity of a run's inputs (sha256, or size + mtime over 1 GiB) and its library versions."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from hsi_app import provenance
from hsi_app.io.cube import make_cube


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_is_named_by_its_sha256_and_a_large_one_by_size_and_mtime(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "scene.tif"
    f.write_bytes(b"0123456789" * 3)
    assert provenance.file_identity(f) == {"path": str(f), "bytes": 30, "sha256": _sha(f)}
    os.utime(f, (1_700_000_000, 1_700_000_000))
    monkeypatch.setattr(provenance, "HASH_LIMIT", 29)  # "over 1 GiB", scaled down
    assert provenance.file_identity(f) == {"path": str(f), "bytes": 30, "sha256": None,
                                           "mtime": "2023-11-14T22:13:20+00:00"}
    assert dt.datetime.fromisoformat("2023-11-14T22:13:20+00:00").timestamp() == 1.7e9


def test_the_files_of_a_scene(tmp_path: Path) -> None:
    """An ENVI header and its data file, a .mat cube and its *_gt.mat, every file of a product folder."""
    (tmp_path / "x.hdr").write_text("ENVI\n")
    (tmp_path / "x.img").write_bytes(b"\0" * 8)
    assert provenance.scene_files(str(tmp_path / "x.hdr"), "envi") == [tmp_path / "x.hdr", tmp_path / "x.img"]
    assert provenance.scene_files(str(tmp_path / "x.img"), "envi") == [tmp_path / "x.hdr", tmp_path / "x.img"]
    (tmp_path / "Indian_pines_corrected.mat").write_bytes(b"m")
    (tmp_path / "Indian_pines_gt.mat").write_bytes(b"g")
    assert provenance.scene_files(str(tmp_path / "Indian_pines_corrected.mat"), "mat") == [
        tmp_path / "Indian_pines_corrected.mat", tmp_path / "Indian_pines_gt.mat"]
    prod = tmp_path / "ENMAP01_L2A"
    (prod / "sub").mkdir(parents=True)
    (prod / "b.tif").write_bytes(b"b")
    (prod / "sub" / "a.xml").write_bytes(b"a")
    assert provenance.scene_files(str(prod), "enmap") == [prod / "b.tif", prod / "sub" / "a.xml"]
    assert provenance.scene_files("indian_pines", "builtin") == []


def _tiff_header(path: Path, wavelengths: str, file_type: str = "TIFF") -> Path:
    """The ENVI header ENVI writes beside a (3, 4, 5) TIFF, with its wavelengths."""
    path.write_text(f"ENVI\nsamples = 5\nlines = 4\nbands = 3\nfile type = {file_type}\ndata type = 2\n"
                    f"interleave = bsq\nbyte order = 0\nwavelength units = Nanometers\nwavelength = {{{wavelengths}}}\n")
    return path


def test_a_geotiffs_envi_header_is_one_of_its_files(tmp_path: Path) -> None:
    """The ``file type = TIFF`` header beside a TIFF gives it its wavelengths (io.envi_tiff), so a run names it
    too: editing it changes the run's data identity, as editing the TIFF does. Only the TIFF counted before."""
    from tif_writer import write_tif

    from hsi_app.io import open_cube

    tif = write_tif(tmp_path / "s.tif", np.arange(60, dtype=np.int16).reshape(3, 4, 5))
    assert provenance.scene_files(str(tif), "geotiff") == [tif]  # no header: the TIFF alone
    hdr = _tiff_header(tmp_path / "s.hdr", "500, 600, 700")
    assert provenance.scene_files(str(tif), "geotiff") == [hdr, tif] == provenance.scene_files(str(tif))
    cube = open_cube(tif)
    assert cube.hsi.wavelengths.tolist() == [500.0, 600.0, 700.0]  # what the header supplies
    first = provenance.data_identity(cube)["scene"]
    assert first == {"files": [provenance.file_identity(hdr), provenance.file_identity(tif)]}
    _tiff_header(hdr, "500, 650, 800")  # other wavelengths, the same TIFF: another scene as read
    assert provenance.scene_key(provenance.data_identity(open_cube(tif))["scene"]) != provenance.scene_key(first)
    _tiff_header(hdr, "500, 600, 700", file_type="ENVI Standard")  # a header of another (ENVI) image: not the TIFF's
    assert provenance.scene_files(str(tif), "geotiff") == [tif]


def test_data_identity_of_a_file_scene_and_its_label_files(tmp_path: Path) -> None:
    scene, labels = tmp_path / "s.tif", tmp_path / "l.tif"
    scene.write_bytes(b"scene")
    labels.write_bytes(b"labels")
    cube = make_cube(np.zeros((2, 3, 4), np.float32), fmt="geotiff", source=str(scene))
    ident = provenance.data_identity(cube, [str(labels), None])
    # made in Python, not read from s.tif: it names the file but does not hold its values (io.read_values)
    assert ident == {"scene": {"files": [{"path": str(scene), "bytes": 5, "sha256": _sha(scene)}],
                               "changed_in_memory": True},
                     "labels": [{"path": str(labels), "bytes": 6, "sha256": _sha(labels)}]}


def test_the_builtin_scene_is_named_by_the_sha256_of_its_array() -> None:
    """indian_pines: the sha256 of tensorly's shipped array as the cube holds it, (200, 145, 145) float32."""
    tensorly_datasets = pytest.importorskip("tensorly.datasets")
    from hsi_app.io import open_cube

    shipped = Path(tensorly_datasets.__file__).parent / "data" / "Indian_pines_corrected.npy"
    array = np.ascontiguousarray(np.load(shipped).astype(np.float32).transpose(2, 0, 1))
    scene = provenance.data_identity(open_cube("indian_pines"))["scene"]
    assert scene == {"builtin": "indian_pines", "array_sha256": hashlib.sha256(array.tobytes()).hexdigest(),
                     "array": "float32 (200, 145, 145) (C, H, W)"}


def test_library_versions() -> None:
    from importlib.metadata import version

    import hsi_app

    got = provenance.library_versions()
    assert got == {"torch": version("torch"), "lightning": version("lightning"),
                   "scikit-learn": version("scikit-learn"), "numpy": np.__version__, "hsi_app": hsi_app.__version__}


def test_a_scene_is_referenced_by_its_resolved_path_and_keyed_by_its_contents(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """config.json ``data``: a relative path becomes absolute (through a symlinked folder too), a built-in name and a
    cube made in Python stay as they are; the key of two identities of one file in two places is the same."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    scene = tmp_path / "real" / "s.tif"
    scene.write_bytes(b"scene")
    monkeypatch.chdir(tmp_path / "link")
    typed = make_cube(np.zeros((2, 3, 4), np.float32), fmt="geotiff", source="s.tif")
    assert provenance.scene_reference(typed) == str(scene.resolve())
    assert provenance.scene_reference(make_cube(np.zeros((2, 3, 4)), fmt="builtin", source="indian_pines")) == \
        "indian_pines"
    assert provenance.scene_reference(make_cube(np.zeros((2, 3, 4)))) == ""
    copy = tmp_path / "copy.tif"
    copy.write_bytes(b"scene")
    here, there = (provenance.data_identity(make_cube(np.zeros((2, 3, 4)), fmt="geotiff", source=str(p)))["scene"]
                   for p in ("s.tif", copy))
    assert here["files"][0]["path"] == str(scene.resolve())
    assert provenance.scene_key(here) == provenance.scene_key(there) == ((5, _sha(scene)),)
    copy.write_bytes(b"other")
    assert provenance.scene_key(provenance.data_identity(
        make_cube(np.zeros((2, 3, 4)), fmt="geotiff", source=str(copy)))["scene"]) != provenance.scene_key(here)
    assert provenance.scene_key({"files": []}) is None and provenance.scene_key(None) is None


def test_a_cube_built_in_python_has_no_scene_files(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """An empty ``source`` is not the current folder: nothing there is listed or hashed."""
    import numpy as np

    from hsi_app.io.cube import make_cube
    from hsi_app.provenance import data_identity, scene_files

    (tmp_path / "unrelated.bin").write_bytes(b"x" * 10)
    monkeypatch.chdir(tmp_path)
    cube = make_cube(np.ones((3, 4, 5), np.float32), wavelength=[500.0, 600.0, 700.0])
    cube.attrs["source"] = ""
    assert scene_files("") == [] and scene_files("   ") == []
    assert data_identity(cube) == {"scene": {"files": []}, "labels": []}


def test_a_mat_scenes_labels_file_is_in_its_identity(tmp_path: Path) -> None:
    """A run on a .mat cube read with its *_gt.mat records both: the reader names its format mat-v5 / mat-v7.3,
    which the labels-file rule must recognise (it matched only the bare name 'mat')."""
    import scipy.io

    from hsi_app.io.open import open_cube

    rng = np.random.default_rng(0)
    scipy.io.savemat(tmp_path / "Salinas_corrected.mat", {"salinas_corrected": rng.integers(0, 900, (6, 5, 4), np.int16)})
    scipy.io.savemat(tmp_path / "Salinas_gt.mat", {"salinas_gt": rng.integers(0, 3, (6, 5), np.uint8)})
    cube = open_cube(tmp_path / "Salinas_corrected.mat")
    assert str(cube.attrs["format"]).startswith("mat")
    paths = [f["path"] for f in provenance.data_identity(cube)["scene"]["files"]]
    assert [Path(p).name for p in paths] == ["Salinas_corrected.mat", "Salinas_gt.mat"]


def test_a_record_of_the_scene_file_alone_agrees_with_one_that_adds_its_side_files() -> None:
    """A run recorded before a .mat's *_gt.mat (or a GeoTIFF's ENVI header) counted names the same scene as the
    files found now; a side file recorded then and gone now, a different file, or two differing pairs do not."""
    cube, gt, other = (10, "a" * 64), (11, "b" * 64), (10, "c" * 64)
    assert provenance.same_contents((cube,), (cube, gt))
    assert provenance.same_contents((cube, gt), (cube, gt))
    assert not provenance.same_contents((cube, gt), (cube,))  # the header that gave its wavelengths is gone
    assert not provenance.same_contents((other,), (cube, gt))
    assert not provenance.same_contents((cube, other), (cube, gt))
    assert not provenance.same_contents(None, (cube,))
