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
    monkeypatch.setenv("HSI_FAST", "1")
    monkeypatch.setenv("HSI_NB_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # figures become outputs
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{path.name}: expected figures, got {len(images)}"
