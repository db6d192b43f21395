"""The area sieve's pass limit (``hsi vectorize --min-area`` on a geographic map): it warns only when one more
pass would still merge a patch, naming the map file and how many patches (and hectares) are left under the unit;
its passes are reported as area passes, numbered from 1. Maps are drawn by hand: row 0's pixels cover 4 m², the
others 1 m², the unit is 4 m² (so no patch is too small for the pixel pre-sieve)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hsi_app.errors import HSIWarning
from hsi_app.tasks import map_area_sieve
from hsi_app.tasks.map_area_sieve import sieve_by_area

ROW_AREAS = np.array([4.0, 1.0, 1.0, 1.0, 1.0])
UNIT = 4.0


def _one_speck() -> np.ndarray:
    """Class 1 everywhere but one pixel of class 2: one pass merges it, and then nothing is under the unit."""
    m = np.ones((5, 5), np.uint8)
    m[2, 2] = 2
    return m


def _chain() -> np.ndarray:
    """A 1-pixel patch (class 3, the corner) touching only a 3-pixel patch (class 2) in the class-1 field: the
    first pass merges class 2 only, the second the corner."""
    m = np.ones((5, 5), np.uint8)
    m[3, 3] = m[3, 4] = m[4, 3] = 2
    m[4, 4] = 3
    return m


def _sieve(m: np.ndarray, passes: list[int] | None = None) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HSIWarning)
        out = sieve_by_area(m, ROW_AREAS, UNIT, 4, source="geo.tif",
                            on_area_pass=None if passes is None else passes.append)
    return out, [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]


def test_a_last_pass_that_settles_the_map_does_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(map_area_sieve, "AREA_SIEVE_MAX_PASSES", 1)
    out, said = _sieve(_one_speck())
    assert (out == 1).all()
    assert said == []


def test_patches_left_under_the_unit_are_counted_and_the_map_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(map_area_sieve, "AREA_SIEVE_MAX_PASSES", 1)
    out, said = _sieve(_chain())
    assert out[4, 4] == 3 and (out[[3, 3, 4], [3, 4, 3]] == 1).all()  # one pass: the corner is still its own
    assert len(said) == 1 and "\n" not in said[0]
    assert said[0].startswith("geo.tif: area sieve stopped after 1 passes with 1 patches (0.0001 ha) still under")


def test_without_the_limit_the_chain_settles_and_passes_count_from_one() -> None:
    passes: list[int] = []
    out, said = _sieve(_chain(), passes)
    assert (out == 1).all() and said == []
    assert passes == [1, 2, 3]  # two passes merge, the third finds nothing to merge
