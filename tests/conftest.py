"""Shared test helpers: fixture scripts under tests/data/<name>/make.py are loaded by path."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
DATA = Path(__file__).parent / "data"


def fixture_module(name: str) -> ModuleType:
    """Import ``tests/data/<name>/make.py`` as a module (they share a basename)."""
    path = DATA / name / "make.py"
    spec = importlib.util.spec_from_file_location(f"fixture_{name}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def mat_fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Seeded exact-format .mat files (Indian Pines, Salinas, PaviaU, WHU-Hi v5 and v7.3)."""
    return fixture_module("mat").make(tmp_path_factory.mktemp("mat"))


@pytest.fixture(scope="session")
def load_fixture():  # noqa: ANN201
    """The :func:`fixture_module` loader, for tests that build fixtures with options."""
    return fixture_module
