"""benchmarks/check_mamba_reference.py loads in CI and refuses a folder that is not a mamba-ssm release.

The comparison itself needs an unpacked mamba-ssm source release (BENCHMARKS.md, "CUDA paths").
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "check_mamba_reference.py"


def test_refuses_a_folder_without_mamba_ssm(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("check_mamba_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # imports its shared helpers from check_cuda.py
    with pytest.raises(SystemExit, match="not an unpacked mamba-ssm source release"):
        module.main(["--mamba-src", str(tmp_path)])
    assert "selective_scan_cuda" not in sys.modules  # nothing was stubbed for a folder it refused
