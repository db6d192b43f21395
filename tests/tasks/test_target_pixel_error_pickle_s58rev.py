"""A TargetPixelError survives pickling and copying with its fields (review s58 #5): worker processes and
copy.copy rebuilt it from the message alone, which raised TypeError (missing 'reason')."""

from __future__ import annotations

import copy
import pickle

import pytest

from hsi_app.errors import TargetPixelError


@pytest.mark.parametrize("clone", [lambda e: pickle.loads(pickle.dumps(e)), copy.copy, copy.deepcopy],
                         ids=["pickle", "copy", "deepcopy"])
def test_round_trip_keeps_pixel_reason_fix_and_message(clone) -> None:
    err = TargetPixelError((7, 9), "has no data", "pick a valid pixel")
    back = clone(err)
    assert type(back) is TargetPixelError
    assert (back.pixel, back.reason, back.fix) == ((7, 9), "has no data", "pick a valid pixel")
    assert str(back) == "--target-pixel 7,9 (pixels= in Python): that pixel has no data; pick a valid pixel"
