"""Slow: the simulator and ACE on the real Indian Pines background with the demo library."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.data.targets import SimOptions, simulate_targets
from hsi_app.io.open import open_cube
from hsi_app.tasks.detect_eval import column_regions, evaluate
from hsi_app.tasks.detection import find_peaks, peak_boxes, scene_image, target_spectra
from hsi_app.tasks.detectors_classical import classical_scores

LIBRARY = Path(__file__).parents[2] / "datasets" / "spectral_library_demo.csv"


@pytest.mark.slow
def test_ace_finds_demo_targets_in_indian_pines() -> None:
    cube = open_cube("indian_pines")
    spectra, names = target_spectra(cube, library=LIBRARY)
    assert spectra.shape == (6, 200) and 500 < float(np.median(spectra)) < 9000  # scaled to the cube's units
    image = scene_image(cube)
    regions = column_regions(*image.shape[1:])
    scene = simulate_targets(image, spectra, names, seed=10_000, options=SimOptions(scale=1.0), region=regions.test)
    assert len(scene.targets) > 20

    def ace(img: np.ndarray):  # noqa: ANN202
        maps = classical_scores("ace", img, spectra)
        det = find_peaks(maps, mask=regions.test)
        det.box = peak_boxes(maps, det)
        return maps, det

    rep = evaluate(ace, [scene], regions.test)
    assert rep["mAP@2px"] > 0.3 and rep["auroc"] > 0.9
