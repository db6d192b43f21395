"""`--task denoise`: the same float32 COG as `hsi denoise` (denoise_cube), one task per scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from cli_runner import assert_cli_errors
from hsi_app.batch import ClusterOptions, run_batch
from hsi_app.batch.state import sidecar_path


def _denoise_run(tmp: Path, bands: int) -> Path:
    """A randomly initialised ``test_hsdt`` denoising run (global min-max normalisation)."""
    import torch

    from hsi_app.checkpoint import RunConfig, save_run
    from hsi_app.models import create_model

    torch.manual_seed(0)
    net = create_model("test_hsdt", in_chans=bands, num_classes=1)
    cfg = RunConfig(task="denoise", model_name="test_hsdt", model_args={}, in_chans=bands, num_classes=1, class_names=[],
                    wavelengths=[None] * bands, fwhm=[None] * bands, band_indices=list(range(bands)),
                    source_bands=bands, mean=[1000.0] * bands, std=[4000.0] * bands,
                    receptive_radius=int(net.receptive_radius),
                    extra={"normalisation": {"kind": "global-minmax", "offset": 1000.0, "scale": 4000.0}})
    return save_run(tmp / "den_run", cfg, dict(net.state_dict()))


def test_batch_denoise_equals_denoise_cube(tmp_path: Path, kit) -> None:  # noqa: ANN001
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.denoise_scene import denoise_cube
    from hsi_app.tasks.denoising import Denoiser

    run = _denoise_run(tmp_path, kit.BANDS)
    scene = kit.write_scene(tmp_path / "in" / "s.tif", 24, 28, 5, nodata_corner=False)
    res = run_batch("denoise", run, [str(tmp_path / "in")], tmp_path / "out", window=512, progress=False,
                    echo=lambda s: None, cluster=ClusterOptions(workers=1, processes=False, dashboard=False))
    assert [r.status for r in res.rows] == ["done"], [r.error for r in res.rows]
    out = tmp_path / "out" / "s_denoised.tif"
    assert sidecar_path(out).is_file()
    denoise_cube(Denoiser.load(run, device="cpu"), open_cube(scene), tmp_path / "ref.tif", window=512, progress=False)
    with rasterio.open(out) as a, rasterio.open(tmp_path / "ref.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.crs == b.crs and a.transform == b.transform and a.tags() == b.tags() and a.count == kit.BANDS


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir())}


def test_batch_adapt_sigma_equals_hsi_denoise_on_each_scene_alone(tmp_path: Path, kit) -> None:  # noqa: ANN001
    """One worker, one thread, two scenes in turn: the second starts from the saved weights, not the first's adaptation."""
    import json

    from hsi_app.batch.tasks import DenoiseOptions, denoise_adapter
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.denoise_scene import denoise_cube
    from hsi_app.tasks.denoising import Denoiser

    run = _denoise_run(tmp_path, kit.BANDS)
    before = _files(run)
    scenes = [kit.write_scene(tmp_path / "in" / f"s{i}.tif", 24, 28, 5 + i, nodata_corner=False) for i in range(2)]
    job = denoise_adapter(DenoiseOptions(adapt_sigma=50.0, adapt_steps=4))
    res = run_batch(job, run, [str(tmp_path / "in")], tmp_path / "out", window=512, progress=False,
                    echo=lambda s: None, cluster=ClusterOptions(workers=1, threads_per_worker=1, processes=False,
                                                                dashboard=False))
    assert [r.status for r in res.rows] == ["done", "done"], [r.error for r in res.rows]
    assert _files(run) == before  # the run folder is never written
    report = json.loads(res.report_json.read_text())
    assert report["options"] == {"adapt_sigma": 50.0, "adapt_steps": 4, "seed": 0, "fill_nan": False}
    for scene in scenes:
        out = tmp_path / "out" / f"{scene.stem}_denoised.tif"
        alone = tmp_path / f"{scene.stem}_alone.tif"
        plain = tmp_path / f"{scene.stem}_plain.tif"
        r = denoise_cube(Denoiser.load(run, device="cpu"), open_cube(scene), alone, window=512, progress=False,
                         adapt_sigma=50.0, adapt_steps=4)
        denoise_cube(Denoiser.load(run, device="cpu"), open_cube(scene), plain, window=512, progress=False)
        side = json.loads(sidecar_path(out).read_text())
        assert side["adapt"]["steps"] == 4
        assert r.adapt is not None and side["adapt"]["sure_before"] == pytest.approx(r.adapt.before, rel=1e-4)
        with rasterio.open(out) as a, rasterio.open(alone) as b, rasterio.open(plain) as c:
            got, want, unadapted = a.read(), b.read(), c.read()
            assert a.crs == b.crs and a.transform == b.transform
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-2)
        assert np.abs(got - unadapted).max() > 100 * max(np.abs(got - want).max(), 1e-3)  # it did adapt


def test_batch_adapt_options_change_the_hash_and_are_checked(tmp_path: Path, kit, run_dir: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    from hsi_app.batch.state import model_hash
    from hsi_app.batch.tasks import DENOISE, DenoiseOptions, denoise_adapter
    from hsi_app.errors import ConfigError

    run = _denoise_run(tmp_path, kit.BANDS)
    assert denoise_adapter(DenoiseOptions()) is DENOISE
    hashes = {model_hash(run)}
    for opts in (DenoiseOptions(50.0), DenoiseOptions(30.0), DenoiseOptions(50.0, 10), DenoiseOptions(50.0, seed=1)):
        label, sha = denoise_adapter(opts).identity(run)  # type: ignore[misc]
        assert label == str(run.absolute())
        hashes.add(sha)
    assert len(hashes) == 5  # each option set redoes the scenes done with another
    with_fill = denoise_adapter(DenoiseOptions(50.0, fill_nan=True)).identity(run)  # type: ignore[misc]
    assert with_fill == denoise_adapter(DenoiseOptions(50.0)).identity(run)  # type: ignore[misc]
    with pytest.raises(ConfigError, match="--adapt-sigma 0.0: must be a positive"):
        denoise_adapter(DenoiseOptions(0.0))
    with pytest.raises(ConfigError, match="--adapt-steps 0: must be at least 1"):
        denoise_adapter(DenoiseOptions(50.0, 0))
    cases = [
        (["--task", "classify", "--model", str(run_dir), "--adapt-sigma", "50"], "only used with --task denoise"),
        (["--task", "detect", "--fill-nan"], "--fill-nan: only used with --task denoise"),
        (["--task", "denoise", "--model", str(run), "--adapt-steps", "5"], "only used with --adapt-sigma"),
        (["--task", "denoise", "--model", str(run), "--adapt-sigma", "-3"], "must be a positive"),
        (["--task", "denoise", "--adapt-sigma", "50"], "needs --model"),
    ]
    assert_cli_errors(capsys, [(["batch", *args], msg) for args, msg in cases],
                      "--inputs", str(tmp_path), "--out-dir", str(tmp_path / "o"), "--quiet")


def test_batch_fill_nan_denoises_scenes_with_no_data_and_keeps_done_ones(tmp_path: Path, kit) -> None:  # noqa: ANN001
    """Without --fill-nan a scene with no-data fails (naming the option); with it, that scene is
    done as `hsi denoise --fill-nan` and the scene done before is not redone (same identity)."""
    import json

    from hsi_app.batch.tasks import DenoiseOptions, denoise_adapter
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.denoise_scene import denoise_cube
    from hsi_app.tasks.denoising import Denoiser

    run = _denoise_run(tmp_path, kit.BANDS)
    kit.write_scene(tmp_path / "in" / "clean.tif", 24, 28, 5, nodata_corner=False)
    holes = kit.write_scene(tmp_path / "in" / "holes.tif", 24, 28, 6)  # a -9999 corner
    cluster = ClusterOptions(workers=1, processes=False, dashboard=False)
    first = run_batch("denoise", run, [str(tmp_path / "in")], tmp_path / "out", window=512, progress=False,
                      echo=lambda s: None, cluster=cluster)
    status = {Path(r.input).name: r for r in first.rows}
    assert status["clean.tif"].status == "done" and status["holes.tif"].status == "failed"
    assert "--fill-nan" in status["holes.tif"].error
    clean_bytes = (tmp_path / "out" / "clean_denoised.tif").read_bytes()

    job = denoise_adapter(DenoiseOptions(fill_nan=True))
    second = run_batch(job, run, [str(tmp_path / "in")], tmp_path / "out", window=512, progress=False,
                       echo=lambda s: None, cluster=cluster)
    status = {Path(r.input).name: r.status for r in second.rows}
    assert status == {"clean.tif": "skipped", "holes.tif": "done"}
    assert (tmp_path / "out" / "clean_denoised.tif").read_bytes() == clean_bytes
    assert json.loads(second.report_json.read_text())["options"]["fill_nan"] is True
    out = tmp_path / "out" / "holes_denoised.tif"
    ref = denoise_cube(Denoiser.load(run, device="cpu"), open_cube(holes), tmp_path / "ref.tif", window=512,
                       progress=False, fill_nan=True)
    assert ref.filled == 3 * 4 * kit.BANDS
    assert json.loads(sidecar_path(out).read_text())["filled"] == ref.filled
    with rasterio.open(out) as a, rasterio.open(tmp_path / "ref.tif") as b:
        got = a.read()
        np.testing.assert_array_equal(got, b.read())
    assert np.isnan(got[:, -3:, :4]).all() and np.isfinite(got[:, :-3]).all()


def test_batch_denoise_treats_an_internal_mask_as_no_data(tmp_path: Path, kit) -> None:  # noqa: ANN001
    """Pixels hidden by a GeoTIFF's internal mask fail the scene without --fill-nan, and are NaN in every band with it."""
    from hsi_app.batch.tasks import DenoiseOptions, denoise_adapter

    run = _denoise_run(tmp_path, kit.BANDS)
    scene = kit.write_scene(tmp_path / "in" / "m.tif", 24, 28, 5, nodata_corner=False)
    hidden = np.zeros((24, 28), bool)
    hidden[4:8, 10:14] = True
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(scene, "r+") as ds:
        ds.write_mask(np.where(hidden, 0, 255).astype(np.uint8))
    cluster = ClusterOptions(workers=1, processes=False, dashboard=False)
    first = run_batch("denoise", run, [str(scene)], tmp_path / "out", window=512, progress=False,
                      echo=lambda s: None, cluster=cluster)
    assert [r.status for r in first.rows] == ["failed"] and "--fill-nan" in first.rows[0].error
    second = run_batch(denoise_adapter(DenoiseOptions(fill_nan=True)), run, [str(scene)], tmp_path / "out", window=512,
                       progress=False, echo=lambda s: None, cluster=cluster)
    assert [r.status for r in second.rows] == ["done"], [r.error for r in second.rows]
    with rasterio.open(tmp_path / "out" / "m_denoised.tif") as ds:
        got = ds.read()
    np.testing.assert_array_equal(np.isnan(got), np.broadcast_to(hidden, got.shape))


def test_worker_process_warnings_print_as_one_hsi_line(tmp_path: Path, kit) -> None:  # noqa: ANN001
    """`hsi batch --fill-nan --quiet` on worker processes: the filled-values warning reaches stderr as the CLI's
    one `hsi: warning:` line (relayed to the client), not as Python's `file:line: HSIWarning:` plus source line."""
    import subprocess
    import sys

    run = _denoise_run(tmp_path, kit.BANDS)
    kit.write_scene(tmp_path / "in" / "clean.tif", 24, 28, 5, nodata_corner=False)
    holes = kit.write_scene(tmp_path / "in" / "holes.tif", 24, 28, 6)  # a 3 x 4 px -9999 corner
    out = tmp_path / "out"
    hsi = Path(sys.executable).parent / "hsi"
    proc = subprocess.run([str(hsi), "batch", "--task", "denoise", "--model", str(run), "--inputs", str(tmp_path / "in"),
                           "--out-dir", str(out), "--workers", "1", "--no-dashboard", "--fill-nan", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    expected = (f"hsi: warning: {holes}: {3 * 4 * kit.BANDS} NaN/no-data values were filled before denoising and left "
                f"NaN in {out / 'holes_denoised.tif'}")
    assert proc.stderr.splitlines() == [expected], proc.stderr


def test_relay_records_per_thread_and_reissues_at_the_original_line() -> None:
    """Two threads recording at once keep their own warnings; re-issued ones keep category, file and line."""
    import threading
    import warnings

    from hsi_app.batch.relay import recording, reissue
    from hsi_app.errors import HSIWarning

    boxes: dict[str, list] = {}
    ready = threading.Barrier(2)

    def task(name: str) -> None:
        with recording() as caught:
            ready.wait()
            warnings.warn(f"{name}: filled", HSIWarning, stacklevel=1)
            ready.wait()
        boxes[name] = caught

    threads = [threading.Thread(target=task, args=(n,)) for n in ("a.tif", "b.tif")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [m for m, *_ in boxes["a.tif"]] == ["a.tif: filled"] and [m for m, *_ in boxes["b.tif"]] == ["b.tif: filled"]
    _, category, filename, lineno = boxes["a.tif"][0]
    assert category is HSIWarning and filename == __file__ and lineno > 0
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        reissue(boxes["a.tif"])
    assert [(str(w.message), w.category, w.filename, w.lineno) for w in shown] == [("a.tif: filled", HSIWarning,
                                                                                     __file__, lineno)]


def test_a_split_scene_warns_once(tmp_path: Path, kit, run_dir: Path) -> None:  # noqa: ANN001
    """A scene split into windows on worker processes: its opening warning is one `hsi: warning:` line, not
    one per window opened again (raw Python format) plus one from the client opening it for the writer."""
    import subprocess
    import sys

    made = kit.write_scene(tmp_path / "made.tif", 40, 36, 7)
    with rasterio.open(made) as ds:
        data, profile, tags = ds.read(), ds.profile, ds.tags()
    scene = tmp_path / "in" / "plain.tif"
    scene.parent.mkdir()
    with rasterio.open(scene, "w", **{**profile, "crs": None}) as ds:  # a transform but no CRS: every opening warns
        ds.write(data)
        ds.update_tags(**tags)
    out = tmp_path / "out"
    hsi = Path(sys.executable).parent / "hsi"
    proc = subprocess.run([str(hsi), "batch", "--model", str(run_dir), "--inputs", str(tmp_path / "in"),
                           "--out-dir", str(out), "--workers", "2", "--no-dashboard", "--window", "16",
                           "--split-windows", "1", "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"hsi: warning: {scene}: a map transform but no CRS; outputs keep its grid "
                                        "without a CRS: assign one first (e.g. gdal_edit.py -a_srs EPSG:XXXX in.tif)"]
    produced = sorted(p.name for p in out.iterdir())
    assert "plain_classes.tif" in produced, produced
    with rasterio.open(out / "plain_classes.tif") as ds, rasterio.open(scene) as src:
        assert ds.crs is None and ds.transform == src.transform  # the grid is kept
