"""Whose classes a fine-tune predicts (``hsi finetune --classes``): names, unnamed ids, and the modes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hsi_app.errors import ConfigError, HSIWarning
from hsi_app.tasks.finetune_classes import plan_classes

BASE = ["unlabelled", "Alfalfa", "Corn-notill", "Corn-mintill", "Grass-pasture"]


def _labels(*ids: int) -> np.ndarray:
    """A (2, n) map holding each id once in its first row."""
    out = np.zeros((2, len(ids)), np.int32)
    out[0] = ids
    return out


def test_names_in_another_order_are_renumbered_onto_the_base_ids() -> None:
    names = ["none", "grass-pasture", "ALFALFA", " Corn-notill "]  # another order, case and spacing
    plan = plan_classes(BASE, names, [_labels(1, 2, 3)])
    assert not plan.new_head and plan.num_classes == 4 and plan.class_names == BASE
    np.testing.assert_array_equal(plan.relabel(_labels(1, 2, 3, 0))[0], [4, 1, 2, 0])


def test_matching_names_renumber_and_keep_the_base_head() -> None:
    names = ["none", "Grass-pasture", "Alfalfa"]
    plan = plan_classes(BASE, names, [_labels(1, 2, 2, 1)])
    assert not plan.new_head and plan.class_names == BASE
    np.testing.assert_array_equal(plan.relabel(_labels(0, 1, 2))[0], [0, 4, 1])


def test_names_in_the_base_order_keep_their_ids() -> None:
    plan = plan_classes(BASE, BASE, [_labels(1, 2, 4)])
    assert plan.table is None and not plan.new_head and plan.num_classes == 4


def test_a_name_the_base_lacks_gives_a_new_head_named_by_the_labels() -> None:
    names = ["none", "Alfalfa", "Soybean"]
    plan = plan_classes(BASE, names, [_labels(1, 2)])
    assert plan.new_head and plan.num_classes == 2 and plan.class_names == ["unlabelled", "Alfalfa", "Soybean"]
    assert plan.table is None
    with pytest.raises(ConfigError, match=r"scene.tif: classes Soybean are not classes of the base run.*--classes new"):
        plan_classes(BASE, names, [_labels(1, 2)], "base", source="scene.tif")


def test_names_of_absent_classes_do_not_decide() -> None:
    names = ["none", "Alfalfa", "Soybean"]  # Soybean has no pixel
    plan = plan_classes(BASE, names, [_labels(1, 1)])
    assert not plan.new_head and plan.class_names == BASE


def test_unnamed_ids_numbering_the_base_classes_are_the_base_classes() -> None:
    plan = plan_classes(BASE, None, [_labels(1, 4)])
    assert not plan.new_head and plan.class_names == BASE and plan.table is None


def test_fewer_unnamed_ids_get_a_new_head_and_a_warning_naming_the_option() -> None:
    with pytest.warns(HSIWarning, match=r"scene.tif: label ids 1..2 have no class names.*--classes base"):
        plan = plan_classes(BASE, None, [_labels(1, 2)], source="scene.tif")
    assert plan.new_head and plan.class_names == ["unlabelled", "class 1", "class 2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        based = plan_classes(BASE, None, [_labels(1, 2)], "base")
    assert not based.new_head and based.num_classes == 4 and based.class_names == BASE


def test_more_unnamed_ids_than_the_base_has_cannot_be_its_classes() -> None:
    plan = plan_classes(BASE, None, [_labels(1, 6)])
    assert plan.new_head and plan.num_classes == 6
    with pytest.raises(ConfigError, match=r"ids go up to 6 but the base run has 4 classes; pass --classes new"):
        plan_classes(BASE, None, [_labels(1, 6)], "base")


def test_new_forces_a_new_head_even_when_everything_matches() -> None:
    plan = plan_classes(BASE, BASE, [_labels(1, 2, 3, 4)], "new")
    assert plan.new_head and plan.table is None and plan.class_names == BASE
    assert plan_classes(BASE, None, [_labels(1, 2, 3, 4)], "new").class_names[1] == "class 1"


def test_ids_of_every_map_count() -> None:
    plan = plan_classes(BASE, None, [_labels(1), _labels(5)])  # the test map holds id 5
    assert plan.new_head and plan.num_classes == 5


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="--classes same: use one of auto, base, new"):
        plan_classes(BASE, None, [_labels(1)], "same")


def test_an_exact_spelling_wins_and_an_ambiguous_one_is_refused() -> None:
    base = ["unlabelled", "Corn-mintill", "Oats", "corn-mintill"]  # a base run that has both spellings
    plan = plan_classes(base, ["none", "Corn-mintill", "corn-mintill"], [_labels(1, 2)])
    assert plan.relabel(_labels(1, 2))[0].tolist() == [1, 3]
    with pytest.raises(ConfigError, match=r"class 'CORN-MINTILL' matches several base classes"):
        plan_classes(base, ["none", "CORN-MINTILL"], [_labels(1)])


def test_unnamed_ids_taken_as_the_base_classes_in_auto_say_which_id_became_which_class() -> None:
    """A label raster (no names) numbered in another order than the base would train and map the wrong classes
    without a word: auto names the id -> base class it chose and the two ways out; an explicit --classes base is
    quiet."""
    with pytest.warns(HSIWarning, match=r"labels.tif: label ids 1..4 have no class names.*"
                                         r"1 = Alfalfa, 2 = Corn-notill, 3 = Corn-mintill, 4 = Grass-pasture.*"
                                         r"--classes new"):
        plan = plan_classes(BASE, None, [_labels(1, 2, 3, 4)], source="labels.tif")
    assert not plan.new_head and plan.class_names == BASE
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan_classes(BASE, None, [_labels(1, 2, 3, 4)], "base")


def test_a_short_base_class_list_is_not_followed_by_an_ellipsis() -> None:
    base = ["unlabelled", "crop", "forest", "urban"]
    with pytest.raises(ConfigError) as err:
        plan_classes(base, ["none", "crop", "water"], [_labels(1, 2)], "base", source="new.gpkg")
    assert "(crop, forest, urban)" in str(err.value)
    with pytest.raises(ConfigError, match=r"\(Alfalfa, Corn-notill, Corn-mintill, Grass-pasture\)"):
        plan_classes(BASE, ["none", "water"], [_labels(1)], "base")
    with pytest.raises(ConfigError, match=r"\(a, b, c, d, \.\.\.\)"):
        plan_classes(["u", "a", "b", "c", "d", "e"], ["none", "water"], [_labels(1)], "base")
