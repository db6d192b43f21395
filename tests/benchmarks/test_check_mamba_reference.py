"""benchmarks/check_mamba_reference.py loads in CI and refuses a folder that is not a mamba-ssm release.

The comparison itself needs an unpacked mamba-ssm source release (BENCHMARKS.md, "CUDA paths").
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fixture_loader import benchmark_module


def test_refuses_a_folder_without_mamba_ssm(tmp_path: Path) -> None:
    module = benchmark_module("check_mamba_reference")  # imports its shared helpers from check_cuda.py
    with pytest.raises(SystemExit, match="not an unpacked mamba-ssm source release"):
        module.main(["--mamba-src", str(tmp_path)])
    assert "selective_scan_cuda" not in sys.modules  # nothing was stubbed for a folder it refused
