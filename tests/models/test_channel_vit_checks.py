"""ChannelViT input checks and deterministic band grouping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi_app.errors import BandMismatchError
from hsi_app.models import create_model
from hsi_app.models.channel_vit import ChannelViT

C, K = 20, 3
WL = np.linspace(420.0, 2400.0, C)


def _model(**kw: object) -> ChannelViT:
    torch.manual_seed(0)
    return create_model("test_channel_vit", in_chans=C, num_classes=K, wavelengths=WL, **kw).eval()


@pytest.mark.parametrize(("index", "value"), [(4, np.nan), (0, np.inf), (19, -np.inf)])
def test_non_finite_wavelength_is_refused_naming_the_band(index: int, value: float) -> None:
    """A NaN or infinite wavelength used to give all-NaN logits silently; now one line names the band."""
    net = _model()
    wl = WL.copy()
    wl[index] = value
    x = torch.randn(1, C, 6, 6)
    with pytest.raises(BandMismatchError, match=rf"band {index} is {value}; pass a finite wavelength") as err:
        net(x, wavelengths=wl)
    assert "\n" not in str(err.value)
    with pytest.raises(BandMismatchError, match=rf"band {index} is"):
        net.with_bands(wl)(x)
    with pytest.raises(BandMismatchError, match=rf"band {index} is"):
        net(x[:, : index + 1], wavelengths=torch.as_tensor(wl[: index + 1]))  # a band subset, as a tensor


def test_several_non_finite_wavelengths_name_the_first_and_count_the_rest() -> None:
    wl = WL.copy()
    wl[[3, 8, 9]] = np.nan
    with pytest.raises(BandMismatchError, match=r"band 3 is nan \(and 2 more\)"):
        _model().with_bands(wl)


def test_count_groups_keep_tied_wavelengths_in_input_order() -> None:
    """``group_size`` groups cut the bands in wavelength order; bands with the same centre follow
    their input order (a stable sort), so the grouping is deterministic."""
    n = 24
    wl = np.where(np.arange(n) % 2 == 0, 500.0, 400.0)  # 12 ties at 400 nm, 12 at 500 nm
    wl[[5, 6]] = 450.0  # and one tie across the two runs
    net = create_model("test_channel_vit", in_chans=n, num_classes=K, wavelengths=wl, group_size=7)
    groups = [g.tolist() for g in net.band_groups(torch.as_tensor(wl, dtype=torch.float32))]
    order = np.argsort(wl, kind="stable").tolist()
    assert groups == [order[i : i + 7] for i in range(0, n, 7)]
    assert order[:3] == [1, 3, 7] and order[11:13] == [5, 6]  # ties in input order (the expectation itself)
