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


def test_families_that_ignore_wavelengths_take_micrometres_as_given() -> None:
    """Only a model that embeds its bands by their centres (channel_vit) is harmed by micrometres; ssfcn and
    the others record them and were refused for nothing."""
    from hsi_app.models import create_model

    for name in ("test_ssfcn", "test_spectral_vit", "test_cnn3d"):
        net = create_model(name, in_chans=C, num_classes=3, wavelengths=NM / 1000)
        assert net.receptive_radius >= 0


def test_a_run_saved_with_micrometres_names_its_config_and_the_way_out(tmp_path) -> None:  # noqa: ANN001
    """An older version saved a channel_vit run with the scene's centres in um: loading it said 'pass
    wavelengths * 1000', which no CLI user can do. A run of a family that ignores them loads."""
    import json
    import re

    from tiny_runs import make_run

    from hsi_app.errors import ModelLoadError
    from hsi_app.predictor import Predictor

    for model, ok in (("test_channel_vit", False), ("test_ssfcn", True)):
        run = make_run(tmp_path / model, model=model, in_chans=C, wavelengths=NM)
        cfg = json.loads((run / "config.json").read_text())
        cfg["wavelengths"] = [w / 1000 for w in cfg["wavelengths"]]  # as an older version wrote it
        (run / "config.json").write_text(json.dumps(cfg))
        if ok:
            assert Predictor.load(run, device="cpu").config.model_name == model
            continue
        with pytest.raises(ModelLoadError, match=rf"^{re.escape(str(run / 'config.json'))}: model 'test_channel_vit' was trained "
                                                 r"with band centres 0\.45-0\.9 \(micrometres.*re-train the run "
                                                 r"\(hsi train\), or multiply its 'wavelengths' in config\.json by "
                                                 "1000"):
            Predictor.load(run, device="cpu")


@pytest.mark.parametrize("wavelength", [[1.0, 2.0], [1.0], [0.0, 1.0]])
def test_one_or_two_band_numbers_are_not_called_micrometres(wavelength: list[float]) -> None:
    """Too few values to tell band numbers from micrometres: the message names both, not 'micrometres' alone."""
    with pytest.raises(BandMismatchError, match=r"band numbers.*micrometres|micrometres.*band numbers") as err:
        make_cube(_data()[: len(wavelength)], wavelength=wavelength)
    assert "wavelength=None" in str(err.value) and "wavelength * 1000" in str(err.value)
