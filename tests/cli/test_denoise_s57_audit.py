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


def test_baselines_leave_out_a_band_without_data_as_the_model_does(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """denoise_cube flags a band that holds no data at any pixel; the baselines were given the scene unflagged,
    so MNF met a constant band and ``hsi denoise --reference --baselines`` ended in "unexpected LinAlgError" after
    the whole scene was denoised (final read s57 #2)."""
    from rasterio.transform import from_origin

    from hsi_app.io.cog import write_cube
    from hsi_app.io.cube import make_cube
    from tests.tasks.test_denoising import WL

    rng = np.random.default_rng(2)
    clean = smooth_cube(h=40, w=48)
    noisy = (clean + rng.normal(0, 150, clean.shape)).astype(np.float32)
    noisy[3] = -9999.0  # band 4: no data anywhere
    grid = {"crs": "EPSG:32633", "transform": from_origin(500000, 4600000, 30, 30), "nodata": -9999.0}
    write_cube(tmp_path / "in.tif", make_cube(noisy, wavelength=WL, **grid))
    write_cube(tmp_path / "ref.tif", make_cube(clean, wavelength=WL, **grid))
    out = tmp_path / "out.tif"
    main(["denoise", "--input", str(tmp_path / "in.tif"), "--model", str(untrained_run(tmp_path)), "--reference",
          str(tmp_path / "ref.tif"), "--baselines", "--out", str(out), "--quiet"])
    assert capsys.readouterr().err.count("band 4 (642.9 nm) holds no data at any pixel") == 1  # said once
    report = json.loads(out.with_suffix(".metrics.json").read_text())
    assert report["baselines"] and all(np.isfinite(s["psnr"]) and np.isfinite(s["sam"])
                                       for s in report["baselines"].values())
    with rasterio.open(out) as ds:
        assert np.isnan(ds.read(4)).all() and np.isfinite(ds.read(1)).all()
