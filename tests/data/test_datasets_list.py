"""``hsi datasets list`` says how to get each scene and whether it is already fetched (audit dlaudit #7).

Before, the list showed only "offline: no" for every scene but Indian Pines, so a user learned that
WHU-Hi and EnMAP must be fetched by hand only by trying, and could not see what was already in
the data folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hsi_app.cli.datasets_cmd import datasets


def _rows(output: str) -> dict[str, list[str]]:
    lines = output.splitlines()
    header = lines[0].split()
    get, fetched = header.index("get"), header.index("fetched")
    rows = {}
    for line in lines[2:]:
        cells = line.split("  ")
        cells = [c.strip() for c in cells if c.strip()]
        rows[cells[0]] = [cells[get], cells[fetched]]
    return rows


def test_the_list_says_how_to_get_each_scene_and_what_is_fetched(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "store"
    (root / "salinas").mkdir(parents=True)
    for name in ("Salinas_corrected.mat", "Salinas_gt.mat"):
        (root / "salinas" / name).write_bytes(b"x")
    (root / "whu_hi_longkou").mkdir()
    (root / "whu_hi_longkou" / "WHU_Hi_LongKou.mat").write_bytes(b"x")  # the labels are still missing
    monkeypatch.setenv("HSI_DATA_ROOT", str(root))
    result = CliRunner().invoke(datasets, ["list"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert rows["salinas"] == ["download", "yes"]
    assert rows["pavia_university"] == ["download", "no"]
    assert rows["whu_hi_longkou"] == ["by hand", "partly"]
    assert rows["whu_hi_hanchuan"] == ["by hand", "no"]
    assert rows["enmap_l2a"] == ["by hand", "-"]  # a product is used where it lies
    other = CliRunner().invoke(datasets, ["list", "--root", str(tmp_path / "empty")])
    assert _rows(other.output)["salinas"] == ["download", "no"], "--root wins over $HSI_DATA_ROOT"
