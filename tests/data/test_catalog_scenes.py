"""Catalog scenes a user names the way the EHU page does (audit dlaudit #6).

Pavia Centre (``Pavia.mat``, variable ``pavia``) and the 224-band Salinas (``Salinas.mat``, variable
``salinas``) were missing: ``hsi datasets fetch paviac`` was an unknown dataset, and a ``Pavia.mat``
read got no class names. ``salinas-corrected`` and ``indian_pines_corrected`` (the EHU file names)
did not find their entries.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from hsi_app.data.catalog import default_wavelengths, entry_for_mat_key, get_dataset, load_catalog
from hsi_app.errors import UnknownKeyError


@pytest.mark.parametrize(
    ("query", "expected"),
    [("Salinas-corrected", "salinas"), ("Indian_pines_corrected", "indian_pines"), ("PaviaC", "pavia_centre"),
     ("pavia center", "pavia_centre"), ("salinas_224", "salinas_full")],
)  # fmt: skip
def test_ehu_names_find_their_entries(query: str, expected: str) -> None:
    assert get_dataset(query).name == expected


def test_pavia_alone_offers_both_pavia_scenes() -> None:
    with pytest.raises(UnknownKeyError, match="did you mean pavia_university or pavia_centre"):
        get_dataset("pavia")


@pytest.mark.parametrize(("key", "name", "role"), [("pavia", "pavia_centre", "cube"),
                                                   ("pavia_gt", "pavia_centre", "labels"),
                                                   ("salinas", "salinas_full", "cube")])
def test_the_ehu_variables_map_to_their_entries(key: str, name: str, role: str) -> None:
    hit = entry_for_mat_key(key)
    assert hit is not None and (hit[0].name, hit[1]) == (name, role)


def test_the_two_salinas_cubes_share_the_ground_truth_and_differ_by_the_water_bands() -> None:
    cat = load_catalog()
    full, corrected = cat["salinas_full"], cat["salinas"]
    assert full.file("labels") == corrected.file("labels")
    kept = np.delete(np.arange(1, full.bands + 1), [b - 1 for b in corrected.removed_bands])
    assert kept.size == corrected.bands
    assert np.allclose(default_wavelengths(full)[kept - 1], default_wavelengths(corrected))


def test_a_pavia_centre_file_reads_with_its_class_names(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    from hsi_app.io.open import open_cube

    scipy.io.savemat(tmp_path / "Pavia.mat", {"pavia": np.ones((6, 5, 102), np.uint16)})
    scipy.io.savemat(tmp_path / "Pavia_gt.mat", {"pavia_gt": np.arange(30, dtype=np.uint8).reshape(6, 5) % 10})
    cube = open_cube(tmp_path / "Pavia.mat")
    assert list(cube.hsi.class_names)[:4] == ["unlabelled", "Water", "Trees", "Asphalt"]
    assert float(cube["wavelength"][0]) == pytest.approx(430.0) and float(cube["wavelength"][-1]) == pytest.approx(860.0)
