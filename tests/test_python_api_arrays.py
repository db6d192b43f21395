"""Arrays a notebook user hands to make_cube and create_model: common mistakes are one library error line."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.errors import BandMismatchError, ConfigError, HSIError
from hsi_app.io import make_cube

C, H, W = 6, 20, 30
NM = np.linspace(450.0, 900.0, C)


def _data() -> np.ndarray:
    return np.random.default_rng(0).random((C, H, W), dtype=np.float32)


def test_micrometre_wavelengths_are_refused_with_the_factor() -> None:
    with pytest.raises(BandMismatchError, match=r"^make_cube: wavelength 0\.45-0\.9 looks like micrometres; .*"
                                                r"pass wavelength \* 1000$"):
        make_cube(_data(), wavelength=NM / 1000)
    cube = make_cube(_data(), wavelength=(NM / 1000) * 1000)  # the fix it names
    np.testing.assert_allclose(cube.hsi.wavelengths, NM)
    with pytest.raises(BandMismatchError, match=r"wavelength 1, 2, \.\.\., 6 are band numbers.*wavelength=None"):
        make_cube(_data(), wavelength=np.arange(1, C + 1))
    assert np.isnan(make_cube(_data(), wavelength=[np.nan] * C).hsi.wavelengths).all()  # unknown centres still pass


def test_an_hwc_array_is_told_to_transpose() -> None:
    hwc = _data().transpose(1, 2, 0)
    with pytest.raises(ConfigError, match=r"^make_cube: data has shape \(20, 30, 6\) and 6 wavelengths.*looks "
                                          r"\(H, W, C\); pass data\.transpose\(2, 0, 1\)"):
        make_cube(hwc, wavelength=NM)
    assert make_cube(hwc.transpose(2, 0, 1), wavelength=NM).hsi.shape == (C, H, W)


def test_an_unknown_crs_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^make_cube: crs='EPSG:99999999' is not a coordinate reference system"):
        make_cube(_data(), wavelength=NM, crs="EPSG:99999999")
    assert make_cube(_data(), wavelength=NM, crs="EPSG:32633").rio.crs.to_epsg() == 32633


def test_create_model_refuses_micrometres() -> None:
    from hsi_app.models import create_model

    with pytest.raises(BandMismatchError, match=r"^model 'test_channel_vit': wavelengths 0\.45-0\.9 look like "
                                                r"micrometres; .*wavelengths \* 1000$") as err:
        create_model("test_channel_vit", in_chans=C, num_classes=3, wavelengths=NM / 1000)
    assert isinstance(err.value, HSIError)
    net = create_model("test_channel_vit", in_chans=C, num_classes=3, wavelengths=NM)
    assert net.receptive_radius >= 0
