"""The Detect tab's learned detector on a scene of another band set: its own resample checkbox."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app import viewer
from hsi_app.errors import BandMismatchError
from hsi_app.viewer import detect as vdetect
from hsi_app.viewer.messages import DETECT_RESAMPLE_LABEL, RESAMPLE_LABEL, in_viewer_terms


@pytest.fixture()
def learned_session(tmp_path: Path, load_fixture) -> viewer.ViewerSession:  # noqa: ANN001
    from hsi_app.io.spectral_library import read_library
    from hsi_app.tasks.train_detector import DetectTrainOptions, train_detector

    speclib: ModuleType = load_fixture("speclib")
    lib = read_library(speclib.write_csv(tmp_path / "lib.csv"))
    opts = DetectTrainOptions(model="test_point_detector", epochs=1, steps_per_epoch=2, batch=2, n_test_scenes=1,
                              progress=False)
    train_detector(speclib.background(1), lib.resample(speclib.WAVELENGTHS), lib.names, tmp_path / "runs" / "det",
                   opts, wavelengths=speclib.WAVELENGTHS, fwhm=np.full(speclib.BANDS, np.nan),
                   band_indices=np.arange(speclib.BANDS), source_bands=speclib.BANDS, data="fixture")
    keep = np.arange(0, speclib.BANDS, 2)  # another sensor: every other band
    scene = speclib.background(2)[keep]
    (tmp_path / "scenes").mkdir()
    with rasterio.open(tmp_path / "scenes" / "half.tif", "w", driver="GTiff", height=scene.shape[1],
                       width=scene.shape[2], count=keep.size, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(500000.0, 4100000.0, 30.0, 30.0)) as ds:
        ds.write(scene)
        for i, wl in enumerate(speclib.WAVELENGTHS[keep]):
            ds.update_tags(i + 1, wavelength=f"{wl:.2f}", wavelength_units="nm")
    s = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=tmp_path / "scenes", runs_dir=tmp_path / "runs"))
    viewer.open_scene(s, "half.tif")
    yield s
    s.close()


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
