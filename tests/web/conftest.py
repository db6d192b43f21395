"""Fixtures of the viewer tests: tiny scenes, random-weight runs, a live ``hsi serve``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 180


@pytest.fixture(scope="session")
def envi_scene(tmp_path_factory: pytest.TempPathFactory, load_fixture) -> Path:  # noqa: ANN001
    """A georeferenced (UTM, 15 m) ENVI pair with bad bands and no-data: returns the ``.hdr``."""
    return load_fixture("envi").make(tmp_path_factory.mktemp("envi"))


@pytest.fixture(scope="session")
def random_run() -> Callable[..., Path]:
    """``random_run(out, cube, model="test_ssfcn")``: a run folder with untrained weights.

    Bands, normalisation and class names come from ``cube``, exactly as ``hsi train``
    would write them, so Predictor/viewer code runs unchanged, in milliseconds.
    """

    def make(out: Path, cube, model: str = "test_ssfcn", num_classes: int | None = None,  # noqa: ANN001
             task: str = "classification") -> Path:
        import torch

        from hsi_app.checkpoint import RunConfig, json_floats, save_run
        from hsi_app.models import create_model

        bands = np.flatnonzero(~np.asarray(cube.coords["bad_band"].values, dtype=bool))
        img = np.asarray(cube.isel(band=bands).values, dtype=np.float64)
        names = cube.hsi.class_names
        k = num_classes or (len(names) - 1 if names else 4)
        torch.manual_seed(0)
        net = create_model(model, in_chans=int(bands.size), num_classes=k)
        cfg = RunConfig(
            task=task, model_name=model, model_args={}, in_chans=int(bands.size), num_classes=k,
            class_names=names if names and len(names) == k + 1 else ["unlabelled", *[f"class {i}" for i in range(1, k + 1)]],
            wavelengths=json_floats(cube.hsi.wavelengths[bands]), fwhm=json_floats(cube.hsi.fwhm[bands]),
            band_indices=[int(b) for b in bands], source_bands=cube.hsi.shape[0],
            mean=[float(v) for v in np.nanmean(img, axis=(1, 2))],
            std=[float(v) + 1e-6 for v in np.nanstd(img, axis=(1, 2))],
            receptive_radius=int(net.receptive_radius), data=str(cube.attrs.get("source", "")),
        )
        return save_run(out, cfg, dict(net.state_dict()))

    return make


@pytest.fixture(scope="session")
def indian_pines_runs(tmp_path_factory: pytest.TempPathFactory, random_run) -> Path:  # noqa: ANN001
    """A runs folder holding ``tiny``: untrained ``test_ssfcn`` on Indian Pines' 200 bands."""
    from hsi_app.io.open import open_cube

    runs = tmp_path_factory.mktemp("runs")
    random_run(runs / "tiny", open_cube("indian_pines"))
    return runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def viewer_server(tmp_path_factory: pytest.TempPathFactory, indian_pines_runs: Path, envi_scene: Path) -> Iterator[str]:
    """A live ``hsi serve`` on 127.0.0.1 (runs: ``runs/tiny``; scenes: the ENVI pair); yields its URL."""
    scenes = envi_scene.parent
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    hsi = Path(sys.executable).with_name("hsi")
    cmd = [str(hsi), "serve", "--port", str(port), "--runs", str(indian_pines_runs), "--scenes", str(scenes),
           "--max-upload", "5MB"]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "MPLBACKEND": "Agg"}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"hsi serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"hsi serve did not answer within {SERVER_START_TIMEOUT_S} s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def denoise_run() -> Callable[..., Path]:
    """``denoise_run(out, cube)``: a ``denoise`` run folder (untrained ``test_hsdt``) for ``cube``."""

    def make(out: Path, cube) -> Path:  # noqa: ANN001
        import torch

        from hsi_app.checkpoint import RunConfig, json_floats, save_run
        from hsi_app.models import create_model

        bands = np.flatnonzero(~np.asarray(cube.coords["bad_band"].values, dtype=bool))
        img = np.asarray(cube.isel(band=bands).values, dtype=np.float64)
        lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
        torch.manual_seed(0)
        net = create_model("test_hsdt", in_chans=int(bands.size), num_classes=1)
        c = int(bands.size)
        cfg = RunConfig(
            task="denoise", model_name="test_hsdt", model_args={}, in_chans=c, num_classes=1, class_names=[],
            wavelengths=json_floats(cube.hsi.wavelengths[bands]), fwhm=json_floats(cube.hsi.fwhm[bands]),
            band_indices=[int(b) for b in bands], source_bands=cube.hsi.shape[0], mean=[lo] * c, std=[hi - lo] * c,
            receptive_radius=int(net.receptive_radius),
            extra={"normalisation": {"kind": "global-minmax", "offset": lo, "scale": hi - lo},
                   "spatial_multiple": int(net.spatial_multiple)},
        )
        return save_run(out, cfg, dict(net.state_dict()))

    return make


@pytest.fixture()
def envi_session(envi_scene: Path):  # noqa: ANN201
    """A viewer session with the ENVI fixture scene open (closed afterwards)."""
    from hsi_app import viewer

    s = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=envi_scene.parent))
    viewer.open_scene(s, envi_scene.name)
    yield s
    s.close()


@pytest.fixture()
def learned_detector_scene(tmp_path: Path, load_fixture) -> Iterator[Callable[..., tuple[Any, list[str]]]]:  # noqa: ANN001
    """``open(name, band_step=1)``: ``(session, class names)``, a viewer session on ``tmp_path`` with ``name`` open.

    Its ``runs/det`` is a ``test_point_detector`` trained briefly (1 epoch, 2 steps) on the speclib fixture's
    library, whose names are the class names; ``scenes/<name>`` is the fixture's background scene 2, every
    ``band_step``-th band (default: all), as a float32 GeoTIFF with per-band wavelengths. Closed after the test.
    """
    import rasterio
    from rasterio.transform import from_origin

    from hsi_app import viewer
    from hsi_app.io.spectral_library import read_library
    from hsi_app.tasks.train_detector import DetectTrainOptions, train_detector

    speclib = load_fixture("speclib")
    sessions = []

    def open_scene(name: str, band_step: int = 1) -> tuple[viewer.ViewerSession, list[str]]:
        lib = read_library(speclib.write_csv(tmp_path / "lib.csv"))
        opts = DetectTrainOptions(model="test_point_detector", epochs=1, steps_per_epoch=2, batch=2, n_test_scenes=1,
                                  progress=False)
        train_detector(speclib.background(1), lib.resample(speclib.WAVELENGTHS), lib.names, tmp_path / "runs" / "det",
                       opts, wavelengths=speclib.WAVELENGTHS, fwhm=np.full(speclib.BANDS, np.nan),
                       band_indices=np.arange(speclib.BANDS), source_bands=speclib.BANDS, data="fixture")
        keep = np.arange(0, speclib.BANDS, band_step)
        scene = speclib.background(2)[keep]
        (tmp_path / "scenes").mkdir()
        with rasterio.open(tmp_path / "scenes" / name, "w", driver="GTiff", height=scene.shape[1],
                           width=scene.shape[2], count=keep.size, dtype="float32", crs="EPSG:32633",
                           transform=from_origin(500000.0, 4100000.0, 30.0, 30.0)) as ds:
            ds.write(scene.astype(np.float32))
            for i, wl in enumerate(speclib.WAVELENGTHS[keep]):
                ds.update_tags(i + 1, wavelength=f"{wl:.2f}", wavelength_units="nm")
        s = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=tmp_path / "scenes", runs_dir=tmp_path / "runs"))
        sessions.append(s)
        viewer.open_scene(s, name)
        return s, list(lib.names)

    yield open_scene
    for s in sessions:
        s.close()
