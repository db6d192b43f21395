"""Shared test helpers: fixture scripts under tests/data/<name>/make.py are loaded by path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixture_loader import fixture_module

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def mat_fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Seeded exact-format .mat files (Indian Pines, Salinas, PaviaU, WHU-Hi v5 and v7.3)."""
    return fixture_module("mat").make(tmp_path_factory.mktemp("mat"))


@pytest.fixture(scope="session")
def load_fixture():  # noqa: ANN201
    """The :func:`fixture_module` loader, for tests that build fixtures with options."""
    return fixture_module


@pytest.fixture
def one_torch_thread():  # noqa: ANN201
    """Run a test with one torch thread (several times faster than two on a busy 2-core machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
