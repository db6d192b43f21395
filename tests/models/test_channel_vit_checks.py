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
