"""A zip holding an EnMAP product at its top level beside another product: the advice extracts the whole zip, as
there is no folder to name (mutation audit s57: only products inside folders were tested)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import numpy as np

from hsi_app.io.enmap import read_enmap
from tests.io.test_enmap_discovery import ORDER, OTHER, P, _one_line_error, _zip, product  # noqa: F401


def test_a_product_at_the_top_level_of_a_zip_is_extracted_with_the_whole_zip(tmp_path: Path,
                                                                              product: Path) -> None:  # noqa: F811
    zpath = _zip(tmp_path / "top.zip", {"": product, f"{ORDER}/{OTHER}": product})
    msg = _one_line_error(zpath)
    assert "2 EnMAP products" in msg and "(top level)" in msg and f"{ORDER}/{OTHER}" in msg
    command = re.search(r"extract the one you want \((unzip [^)]*)\) and open its folder", msg)
    assert command is not None and command.group(1) == "unzip top.zip", msg
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(shlex.split(command.group(1).replace("top.zip", str(zpath))), cwd=out, check=True,
                   capture_output=True)
    np.testing.assert_array_equal(read_enmap(out / f"{P}-SPECTRAL_IMAGE.TIF").values, read_enmap(product).values)
