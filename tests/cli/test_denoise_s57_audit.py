"""Session 57 denoising audit: what ``hsi denoise`` records in its metrics JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from hsi_app.cli.main import main
from tests.tasks.test_denoising import geotiff, smooth_cube, untrained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_an_adapted_run_records_the_seed_its_output_depends_on(tmp_path: Path) -> None:
    """--adapt-sigma fine-tunes on random crops seeded by --seed, so the output depends on it; the metrics
    JSON recorded ``seed: null`` unless --noise was given, and a rerun from the JSON could not be repeated."""
    rng = np.random.default_rng(0)
    scene = geotiff(tmp_path / "scene.tif", smooth_cube(h=56, w=60) + rng.normal(0, 200, (8, 56, 60)).astype(np.float32))
    run = untrained_run(tmp_path)
    cubes = {}
    for seed in (7, 8):
        out = tmp_path / f"s{seed}.tif"
        main(["denoise", "--model", str(run), "--input", str(scene), "--out", str(out), "--adapt-sigma", "40",
              "--adapt-steps", "2", "--seed", str(seed), "--quiet"])
        with rasterio.open(out) as ds:
            cubes[seed] = ds.read()
        report = json.loads(out.with_suffix(".metrics.json").read_text())
        assert report["seed"] == seed and report["noise"] is None
    assert not np.array_equal(cubes[7], cubes[8])  # the seed changed the output, so the report must name it
    plain = tmp_path / "p.tif"
    main(["denoise", "--model", str(run), "--input", str(scene), "--out", str(plain), "--reference", str(scene),
          "--seed", "9", "--quiet"])
    assert json.loads(plain.with_suffix(".metrics.json").read_text())["seed"] is None  # nothing seeded
