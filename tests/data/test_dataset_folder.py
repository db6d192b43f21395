"""Fetched dataset folders and catalog names given where a scene is expected (audit G #8, #9; session 54).

``hsi info data/salinas`` (the folder ``hsi datasets fetch`` printed) named EnMAP: it now gives one line naming
the cube file to pass. ``hsi info salinas`` offered only the built-in name, then named the file to pass: a
catalog name now opens its fetched cube (``hsi train --data salinas``), and one not fetched (or placed by hand and
never checked) says what to run. The fetch's closing line no longer claims a digest was recorded when the folder
could not be written.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

from hsi_app.cli.datasets_cmd import datasets
from hsi_app.data import download
from hsi_app.data.catalog import CATALOG_ENV, DEFAULT_CATALOG_PATH
from hsi_app.data.dataset_folder import folder_hint, name_hint
from hsi_app.errors import CubeReadError, DatasetNotFoundError, OutputError
from hsi_app.io.open import open_cube


def _salinas_folder(root: Path, *, sums: bool = True) -> Path:
    folder = root / "salinas"
    folder.mkdir(parents=True)
    scipy.io.savemat(folder / "Salinas_corrected.mat", {"salinas_corrected": np.zeros((4, 3, 204), np.int16)})
    scipy.io.savemat(folder / "Salinas_gt.mat", {"salinas_gt": np.zeros((4, 3), np.uint8)})
    if sums:
        (folder / "SHA256SUMS").write_text(f"{'0' * 64}  Salinas_corrected.mat\n{'1' * 64}  Salinas_gt.mat\n")
    return folder


def test_a_fetched_folder_names_its_cube_file(tmp_path: Path) -> None:
    folder = _salinas_folder(tmp_path / "data")
    with pytest.raises(CubeReadError) as info:
        open_cube(folder)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{folder}: a dataset folder (salinas) from `hsi datasets fetch`")
    assert msg.endswith(f"pass its cube file instead: {folder / 'Salinas_corrected.mat'}")
    assert "SPECTRAL_IMAGE" not in msg
    assert open_cube(folder / "Salinas_corrected.mat").sizes["band"] == 204  # the file it names opens


def test_a_folder_named_after_an_entry_names_its_cube_without_sha256sums(tmp_path: Path) -> None:
    folder = _salinas_folder(tmp_path, sums=False)
    assert folder_hint(folder) is not None and str(folder / "Salinas_corrected.mat") in folder_hint(folder)
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "x.tif").write_bytes(b"")
    assert folder_hint(other) is None  # not a dataset folder: the EnMAP wording stays


def test_a_fetched_folder_of_a_custom_catalog_lists_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.mat").write_bytes(b"x")
    (folder / "SHA256SUMS.unverified").write_text(f"{'0' * 64}  a.mat\n")
    assert folder_hint(folder) == (f"{folder}: a folder of files fetched by `hsi datasets fetch`, not an EnMAP "
                                   f"product; pass one of its files instead: {folder / 'a.mat'}")


def test_a_catalog_name_given_as_a_path_names_the_file_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError) as info:
        open_cube("sa")
    assert str(info.value) == ("sa: no such file or folder; it names the catalog dataset salinas: run "
                               "`hsi datasets fetch salinas --root data`, then pass sa again")
    _salinas_folder(tmp_path / "data", sums=False)  # placed by hand, never checked by a fetch
    assert name_hint("salinas") == ("salinas: no such file or folder; it names the catalog dataset salinas; "
                                    "data/salinas/Salinas_corrected.mat is there but no `hsi datasets fetch` has "
                                    "checked it: run `hsi datasets fetch salinas --root data` (it checks and records "
                                    "the file), then pass salinas again")
    with pytest.raises(DatasetNotFoundError, match="no `hsi datasets fetch` has checked it"):
        open_cube("salinas")
    assert name_hint("ip") == ("ip: no such file or folder; it names the catalog dataset indian_pines, which is "
                               "built in: pass indian_pines")
    assert "hsi datasets fetch enmap_l2a" in (name_hint("enmap") or "")
    assert name_hint("nothing_like_it") is None
    with pytest.raises(DatasetNotFoundError, match=r"no_such\.tif: no such file or folder; check the path"):
        open_cube("no_such.tif")


def test_hints_need_no_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path / "missing.json"))
    assert name_hint("salinas") is None
    with pytest.raises(DatasetNotFoundError, match="no such file or folder; check the path"):
        open_cube(str(tmp_path / "salinas"))


def _tiny_mat_catalog(tmp_path: Path) -> Path:
    remote = tmp_path / "remote"
    remote.mkdir()
    scipy.io.savemat(remote / "Salinas_corrected.mat", {"salinas_corrected": np.zeros((4, 3, 204), np.int16)})
    scipy.io.savemat(remote / "Salinas_gt.mat", {"salinas_gt": np.zeros((4, 3), np.uint8)})
    doc = json.loads(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))
    entry = copy.deepcopy(next(d for d in doc["datasets"] if d["name"] == "salinas"))
    entry.update(height=4, width=3)  # the tiny files' shape, which a file without a sha256 must have
    for f in entry["files"]:
        f.update(url=(remote / f["filename"]).as_uri(), sha256=None, size_bytes=None)
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"format_version": 1, "datasets": [entry]}), encoding="utf-8")
    return catalog


def test_fetch_says_when_a_digest_could_not_be_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = _tiny_mat_catalog(tmp_path)
    root = tmp_path / "data"
    _salinas_folder(root, sums=False)  # files in place, folder "read-only"

    def refuse(*args: object, **kwargs: object) -> None:
        raise OutputError("cannot write") from PermissionError(13, "Permission denied")

    monkeypatch.setattr(download, "record_digest", refuse)
    monkeypatch.setattr(download, "_UNRECORDABLE", set())
    with pytest.warns(Warning, match="is used unchecked"):
        result = CliRunner().invoke(datasets, ["fetch", "salinas", "--root", str(root), "--quiet",
                                               "--catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert "sha256 recorded in SHA256SUMS" not in first
    assert first.endswith(f"(sha256 of Salinas_corrected.mat, Salinas_gt.mat not recorded: "
                          f"{root / 'salinas' / 'SHA256SUMS'} cannot be written)")


def test_a_fetched_catalog_name_opens_as_its_cube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """After `hsi datasets fetch salinas`, `salinas` (or an alias) is a scene: its cube with the sibling ground
    truth, the same values as the file; the fetch's closing lines offer the name."""
    from cli_runner import run_main

    catalog = _tiny_mat_catalog(tmp_path)
    monkeypatch.setenv(CATALOG_ENV, str(catalog))
    monkeypatch.delenv("HSI_DATA_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    remote = tmp_path / "remote"
    values = np.arange(4 * 3 * 204, dtype=np.int16).reshape(4, 3, 204)
    labels = np.array([[0, 1, 2], [1, 1, 0], [2, 2, 2], [0, 0, 1]], np.uint8)
    scipy.io.savemat(remote / "Salinas_corrected.mat", {"salinas_corrected": values})
    scipy.io.savemat(remote / "Salinas_gt.mat", {"salinas_gt": labels})
    with pytest.raises(DatasetNotFoundError, match=r"run `hsi datasets fetch salinas --root data`, then pass sa"):
        open_cube("sa")
    result = CliRunner().invoke(datasets, ["fetch", "salinas", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "salinas: or pass its name: --data salinas"
    for name in ("salinas", "sa"):
        cube = open_cube(name)
        np.testing.assert_array_equal(np.asarray(cube.values), values.transpose(2, 0, 1))
        np.testing.assert_array_equal(cube.hsi.labels, labels)
    code, out, err = run_main(capsys, "info", "salinas")
    assert code == 0, err
    assert "Salinas_corrected.mat" in out and "204" in out
    local = Path("data/salinas/Salinas_corrected.mat")
    local.write_bytes(local.read_bytes())  # still recorded: the record, not the mtime, says a fetch checked it
    assert open_cube("salinas").sizes["band"] == 204
    (local.parent / "SHA256SUMS").unlink()
    (local.parent / "SHA256SUMS.unverified").unlink(missing_ok=True)
    with pytest.raises(DatasetNotFoundError, match="no `hsi datasets fetch` has checked it"):
        open_cube("salinas")
    other = tmp_path / "elsewhere"
    result = CliRunner().invoke(datasets, ["fetch", "salinas", "--quiet", "--root", str(other)])
    assert result.exit_code == 0, result.output
    assert "or pass its name" not in result.output  # another ROOT: the name would not find it


def test_a_fetched_name_opens_from_inside_the_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`cd ROOT; HSI_DATA_ROOT=.`: the name `salinas` is also the folder ./salinas of the fetch; it opens as the
    fetched cube. A folder of that name that is not the fetched one is still refused with the file to pass."""
    from cli_runner import run_main

    catalog = _tiny_mat_catalog(tmp_path)
    values = np.arange(4 * 3 * 204, dtype=np.int16).reshape(4, 3, 204)
    scipy.io.savemat(tmp_path / "remote" / "Salinas_corrected.mat", {"salinas_corrected": values})
    monkeypatch.setenv(CATALOG_ENV, str(catalog))
    root = tmp_path / "shared"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("HSI_DATA_ROOT", ".")
    result = CliRunner().invoke(datasets, ["fetch", "salinas", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "salinas: or pass its name: --data salinas"
    assert Path("salinas").is_dir()
    np.testing.assert_array_equal(np.asarray(open_cube("salinas").values), values.transpose(2, 0, 1))
    code, out, err = run_main(capsys, "info", "salinas")
    assert code == 0 and "Salinas_corrected.mat" in out, err
    monkeypatch.setenv("HSI_DATA_ROOT", str(root))  # the same folder, named another way
    assert open_cube("salinas").sizes["band"] == 204
    with pytest.raises(CubeReadError, match=r"a dataset folder \(salinas\) from `hsi datasets fetch`"):
        open_cube("./salinas")  # a path, not a name
    elsewhere = tmp_path / "elsewhere"
    _salinas_folder(elsewhere)
    monkeypatch.chdir(elsewhere)  # ./salinas here is another folder than ROOT/salinas
    with pytest.raises(CubeReadError, match="pass its cube file instead: salinas/Salinas_corrected.mat"):
        open_cube("salinas")


def test_a_name_that_begins_several_entries_names_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`pavia` is no catalog name but begins those of both Pavia scenes: the refusal names them, as
    `hsi datasets fetch pavia` does; a path, a file name or a name that begins only one entry gets no such list."""
    from hsi_app.data.catalog import load_catalog

    monkeypatch.chdir(tmp_path)
    entries = load_catalog()
    pavias = [e.name for e in entries.values() if e.name.startswith("pavia_")]
    whu = [e.name for e in entries.values() if e.name.startswith("whu_hi_")]
    assert len(pavias) == 2 and len(whu) == 3
    with pytest.raises(DatasetNotFoundError) as info:
        open_cube("pavia")
    assert str(info.value) == (f"pavia: no such file or folder; it may name the catalog datasets {pavias[0]} or "
                               f"{pavias[1]}: pass one of those names")
    assert name_hint("WHU-Hi") == (f"WHU-Hi: no such file or folder; it may name the catalog datasets "
                                   f"{whu[0]}, {whu[1]} or {whu[2]}: pass one of those names")
    result = CliRunner().invoke(datasets, ["fetch", "pavia", "--root", str(tmp_path / "data"), "--quiet"])
    assert result.exit_code != 0 and all(p in str(result.exception) for p in pavias)
    for name in ("pavia.mat", "data/pavia", "indian", "hi"):
        assert name_hint(name) is None
        with pytest.raises(DatasetNotFoundError, match="no such file or folder; check the path"):
            open_cube(name)
