"""Load the seeded fixture writers ``tests/data/<name>/make.py`` by path (they share a basename)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

DATA = Path(__file__).parent / "data"


def fixture_module(name: str) -> ModuleType:
    """Import ``tests/data/<name>/make.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"fixture_{name}", DATA / name / "make.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
