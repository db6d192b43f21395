"""Execute the tutorial notebooks in fast mode (``HSI_FAST=1``: crops, tiny model, 2 epochs).

Outputs go to a temporary folder (``HSI_NB_OUT``); the notebooks on disk are not modified,
and the test also checks that they are committed without outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 600


def _execute(nb: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Run ``nb`` in fast mode in ``tmp_path``; its outputs, errors included (none raised here)."""
    monkeypatch.setenv("HSI_FAST", "1")
    monkeypatch.setenv("HSI_NB_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # figures become outputs
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _errors(outputs: list[dict]) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.output_type == "error"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name}: no code cells"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
        f"{path.name}: commit notebooks without outputs (jupyter nbconvert --clear-output --inplace)")
    imports = [line.split()[1] for c in code for line in c.source.splitlines()
               if line.startswith(("import ", "from "))]
    assert {m.split(".")[0] for m in imports} <= {"os", "pathlib", "numpy", "matplotlib", "hsi_app"}, imports
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs)
    assert not [o for o in outputs if o.get("name") == "stderr" and "IProgress" in o.get("text", "")]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{path.name}: expected figures, got {len(images)}"


def test_explore_notebook_on_an_unlabelled_georeferenced_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 01 invites a swap to one's own GeoTIFF: without labels it skips the class means with a
    line instead of a TypeError (the other cells, map-coordinate axes included, run as well)."""
    import sys

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tif_writer import write_tif

    rng = np.random.default_rng(0)
    scene = write_tif(tmp_path / "scene.tif", rng.uniform(0.0, 0.5, (40, 30, 36)).astype(np.float32),
                      np.linspace(400.0, 2500.0, 40))  # EPSG:32616, 30 m, no labels
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    opening = [c for c in nb.cells if 'open_cube("indian_pines")' in c.source]
    assert len(opening) == 1, "notebook 01 opens the scene in one cell"
    opening[0].source = opening[0].source.replace('open_cube("indian_pines")', f"open_cube({str(scene)!r})")
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    printed = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    assert "this scene has no labels: no class means" in printed


def test_notebook_outputs_are_ignored_by_git() -> None:
    """Jupyter runs a notebook in notebooks/, so its default output folder is notebooks/outputs/notebooks."""
    import shutil
    import subprocess

    root = NOTEBOOKS[0].parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("notebooks/outputs/notebooks/cross_lora/adapter.safetensors", "outputs/notebooks/map.tif"):
        out = subprocess.run(["git", "check-ignore", "-q", path], cwd=root, capture_output=True)
        assert out.returncode == 0, f"{path} is not git-ignored"


def test_readme_notebook_commands_make_their_output_folder() -> None:
    """``jupyter execute --output=../DIR/NAME`` fails when DIR does not exist, as it does in a fresh clone (audit K #3)."""
    import re

    root = NOTEBOOKS[0].parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    folders = set(re.findall(r"--output=\.\./([\w.-]+)/", readme))
    assert folders, "README no longer shows a notebook --output command; update this test"
    for folder in folders:
        assert f"mkdir -p {folder}" in readme, f"README's --output=../{folder}/... needs `mkdir -p {folder}` first"
