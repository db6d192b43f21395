"""The Detect tab's learned detector on a scene of another band set: its own resample checkbox."""

from __future__ import annotations

import pytest
import rasterio

from hsi_app import viewer
from hsi_app.errors import BandMismatchError
from hsi_app.viewer import detect as vdetect
from hsi_app.viewer.messages import DETECT_RESAMPLE_LABEL, RESAMPLE_LABEL, in_viewer_terms


@pytest.fixture()
def learned_session(learned_detector_scene) -> viewer.ViewerSession:  # noqa: ANN001
    """The learned detector's session with ``half.tif`` open: another sensor, every other band of the run's."""
    return learned_detector_scene("half.tif", band_step=2)[0]


@pytest.mark.filterwarnings("ignore:.*beyond the cube.s range")
def test_a_band_mismatch_names_the_detect_tabs_checkbox_which_then_works(learned_session) -> None:  # noqa: ANN001
    with pytest.raises(BandMismatchError) as info:
        vdetect.detect(learned_session, "learned", model_key="runs/det")
    shown = in_viewer_terms(str(info.value))  # as the page shows it
    assert f'tick "{DETECT_RESAMPLE_LABEL}" (Detect tab)' in shown and RESAMPLE_LABEL not in shown
    view = vdetect.detect(learned_session, "learned", model_key="runs/det", resample=True)
    assert view.scores_path.is_file()
    with rasterio.open(view.scores_path) as ds:
        assert ds.count == 3 and (ds.height, ds.width) == (32, 48) and ds.crs.to_epsg() == 32633
