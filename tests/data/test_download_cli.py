"""``hsi datasets`` as a user types it (audit dlaudit #2, #3, #4).

* ``hsi datasets download NAME`` was "No such command"; it now runs ``fetch``;
* the data folder can be set once in ``$HSI_DATA_ROOT`` (``--root`` still wins), and the hint for a
  catalog name given as a path looks there;
* the closing "pass --data PATH" line is quoted for the shell, so a data folder with spaces or
  non-ASCII characters gives a line that can be pasted as it is.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

from hsi_app.cli.datasets_cmd import datasets
from hsi_app.data.catalog import CATALOG_ENV, DEFAULT_CATALOG_PATH
from hsi_app.data.dataset_folder import name_hint
from hsi_app.data.download import read_sums

DATA_ROOT_ENV = "HSI_DATA_ROOT"  # the documented name (README, `hsi datasets fetch --help`)


def _catalog(tmp_path: Path) -> Path:
    """The salinas entry with file:// URLs to tiny .mat files of the shape it gives (4×3×204)."""
    remote = tmp_path / "remote"
    remote.mkdir()
    scipy.io.savemat(remote / "Salinas_corrected.mat", {"salinas_corrected": np.ones((4, 3, 204), np.int16)})
    scipy.io.savemat(remote / "Salinas_gt.mat", {"salinas_gt": np.ones((4, 3), np.uint8)})
    doc = json.loads(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))
    entry = next(d for d in doc["datasets"] if d["name"] == "salinas")
    entry.update(height=4, width=3)
    for f in entry["files"]:
        data = (remote / f["filename"]).read_bytes()
        f.update(url=(remote / f["filename"]).as_uri(), sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"format_version": 1, "datasets": [entry]}), encoding="utf-8")
    return path


def _pasted_data_path(output: str) -> Path:
    """The path of the closing line's ``pass --data PATH (...)``, read the way a shell reads it."""
    line = next(x for x in output.splitlines() if "pass --data" in x)
    words = shlex.split(line.split("pass --data ", 1)[1])
    return Path(words[0])


def test_download_is_the_same_command_as_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    root = tmp_path / "data"
    result = CliRunner().invoke(datasets, ["download", "sa", "--root", str(root), "--quiet",
                                           "--catalog", str(_catalog(tmp_path))])
    assert result.exit_code == 0, result.output
    assert set(read_sums(root / "salinas")) == {"Salinas_corrected.mat", "Salinas_gt.mat"}
    usage = CliRunner().invoke(datasets, ["download"])  # the usage line names the real command
    assert usage.exit_code == 2 and "Usage: datasets fetch [OPTIONS] NAME" in usage.output


def test_the_data_folder_comes_from_hsi_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "shared data é"
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    monkeypatch.chdir(tmp_path)
    catalog = _catalog(tmp_path)
    result = CliRunner().invoke(datasets, ["fetch", "salinas", "--quiet", "--catalog", str(catalog)])
    assert result.exit_code == 0, result.output
    assert (root / "salinas" / "Salinas_corrected.mat").is_file() and not (tmp_path / "data").exists()
    other = tmp_path / "other"
    result = CliRunner().invoke(datasets, ["fetch", "salinas", "--quiet", "--root", str(other), "--catalog",
                                           str(catalog)])
    assert result.exit_code == 0 and (other / "salinas" / "Salinas_gt.mat").is_file(), "--root wins"


def test_the_path_to_pass_survives_a_shell_with_spaces_and_accents(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    root = tmp_path / "my data" / "hyperspectral ñ 's"
    result = CliRunner().invoke(datasets, ["fetch", "salinas", "--root", str(root), "--quiet",
                                           "--catalog", str(_catalog(tmp_path))])
    assert result.exit_code == 0, result.output
    assert _pasted_data_path(result.output) == root / "salinas" / "Salinas_corrected.mat"


def test_a_catalog_name_hint_looks_in_hsi_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "store"
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    hint = name_hint("salinas") or ""
    assert hint.endswith("run `hsi datasets fetch salinas`, then pass salinas again")
    (root / "salinas").mkdir(parents=True)
    (root / "salinas" / "Salinas_corrected.mat").write_bytes(b"x")
    assert name_hint("salinas") == ("salinas: no such file or folder; it names the catalog dataset salinas; "
                                    f"{root / 'salinas' / 'Salinas_corrected.mat'} is there but no `hsi datasets "
                                    "fetch` has checked it: run `hsi datasets fetch salinas` (it checks and records "
                                    "the file), then pass salinas again")
