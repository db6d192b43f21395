"""Load scripts by path: the seeded fixture writers ``tests/data/<name>/make.py`` (they share a
basename) and the benchmark scripts ``benchmarks/<name>.py`` (not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

DATA = Path(__file__).parent / "data"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def fixture_module(name: str) -> ModuleType:
    """Import ``tests/data/<name>/make.py`` as a module."""
    return _load(f"fixture_{name}", DATA / name / "make.py")


def benchmark_module(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` as the module ``name``, with ``benchmarks/`` on the path for the
    helpers it shares with the other scripts."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return _load(name, BENCHMARKS / f"{name}.py")
