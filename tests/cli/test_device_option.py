"""``--device`` on every torch command: a device this machine lacks is one line before any data is read, and the
device asked for reaches the trainer / loader (train, finetune, detect learned, ensemble, batch workers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest
import rasterio
from cli_runner import assert_one_error_line, run_main
from rasterio.transform import from_origin

from hsi_app.errors import ConfigError

STOP = "stopped by the test after the device was passed on"


def _tif(path: Path, data: np.ndarray, wavelengths: bool = True) -> Path:
    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=data.dtype, crs="EPSG:32616",
                       transform=from_origin(0.0, 0.0, 30.0, 30.0)) as ds:
        ds.write(data)
        if wavelengths:
            ds.update_tags(wavelength=",".join(f"{v:.0f}" for v in np.linspace(400, 800, c)), wavelength_units="nm")
    return path


def _labelled_scene(root: Path) -> tuple[Path, Path]:
    """A 5-band 16 x 16 scene of 2 classes (left / right half) and its label raster."""
    labels = np.zeros((16, 16), np.uint8)
    labels[2:14, 1:7], labels[2:14, 9:15] = 1, 2
    spectra = np.array([[0.2, 0.3, 0.4, 0.5, 0.6], [0.6, 0.5, 0.4, 0.3, 0.2]], np.float32)
    cube = spectra[np.where(labels == 2, 1, 0)].transpose(2, 0, 1)
    cube = cube + 0.01 * np.random.default_rng(0).standard_normal(cube.shape).astype(np.float32)
    return _tif(root / "scene.tif", cube.astype(np.float32)), _tif(root / "labels.tif", labels[None], wavelengths=False)


def _missing_gpu() -> str:
    import torch

    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    return "cuda:7"


@pytest.mark.parametrize("command", ["train", "train-denoise", "finetune", "detect", "ensemble", "batch"])
def test_a_gpu_that_is_not_there_is_one_line_before_any_data_is_read(command: str, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The inputs are junk files: reading any of them would fail with another message; the output is never made."""
    junk = tmp_path / "scene.tif"
    junk.write_bytes(b"not a raster")
    run = tmp_path / "run"
    run.mkdir()
    out = tmp_path / "out"
    args = {
        "train": ["train", "--data", str(junk), "--labels", str(junk), "--out", str(out)],
        "train-denoise": ["train", "--task", "denoise", "--data", str(junk), "--out", str(out)],
        "finetune": ["finetune", "--base", str(run), "--data", str(junk), "--lora-rank", "4", "--out", str(out)],
        "detect": ["detect", "--input", str(junk), "--method", "learned", "--model", str(run), "--out", str(out)],
        "ensemble": ["ensemble", "--model", str(run), "--model", str(run), "--out", str(out)],
        "batch": ["batch", "--model", str(run), "--inputs", str(junk), "--out-dir", str(out), "--no-dashboard"],
    }[command]
    gpu = _missing_gpu()
    code, _, err = run_main(capsys, *args, "--device", gpu)
    assert_one_error_line(code, err, f"--device '{gpu}'")
    assert not out.exists()


def test_train_on_the_cpu_trains_and_maps_there(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """--device cpu: Lightning is given the CPU and the run's map is made by a model whose weights are on the CPU."""
    from hsi_app.predictor import Predictor
    from hsi_app.tasks import classification

    scene, labels = _labelled_scene(tmp_path)
    accelerators: list[tuple[Any, Any]] = []
    real_accel = classification._accelerator
    monkeypatch.setattr(classification, "_accelerator",
                        lambda device: accelerators.append((device, real_accel(device))) or real_accel(device))
    loaded: list[Any] = []
    real_load = Predictor.load.__func__  # type: ignore[attr-defined]

    def spy_load(cls: Any, run_dir: Any, device: Any = None, **kw: Any) -> Any:
        pred = real_load(cls, run_dir, device, **kw)
        loaded.append((device, {p.device.type for p in pred.model.parameters()}))
        return pred

    monkeypatch.setattr(Predictor, "load", classmethod(spy_load))
    out = tmp_path / "run"
    code, _, err = run_main(capsys, "train", "--data", str(scene), "--labels", str(labels), "--model", "test_ssfcn",
                            "--split", "random:0.5", "--epochs", "1", "--out", str(out), "--device", "cpu", "--quiet")
    assert code == 0, err
    assert accelerators == [("cpu", ("cpu", 1))]
    assert loaded == [("cpu", {"cpu"})]
    assert (out / "map.tif").exists()


def test_classical_detectors_refuse_a_typed_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """rx/mf/... run on the CPU: --device would be ignored, so it is refused."""
    junk = tmp_path / "scene.tif"
    junk.write_bytes(b"not a raster")
    code, _, err = run_main(capsys, "detect", "--input", str(junk), "--method", "rx", "--out", str(tmp_path / "s.tif"),
                            "--device", "cpu")
    assert_one_error_line(code, err, "--device", "runs on the CPU")


def test_train_detect_trains_on_the_device(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """hsi train --task detect --device reaches the detector's trainer (it was refused: training was CPU-only);
    a GPU this machine lacks is one line before the scene is read."""
    from hsi_app.tasks import train_detector

    seen: list[Any] = []

    def spy(*args: Any, **kw: Any) -> Any:
        seen.append(args[4].device)  # (image, spectra, names, out, opts)
        raise ConfigError(STOP)

    monkeypatch.setattr(train_detector, "train_detector", spy)
    scene = _labelled_scene(tmp_path)[0]
    lib = Path(__file__).resolve().parents[2] / "datasets" / "spectral_library_demo.csv"
    for device in ("cpu", "auto"):
        code, _, err = run_main(capsys, "train", "--task", "detect", "--data", str(scene), "--targets", str(lib),
                                "--out", str(tmp_path / f"o_{device}"), "--device", device, "--quiet")
        assert_one_error_line(code, err, STOP)
    assert seen == ["cpu", None]
    gpu = _missing_gpu()
    code, _, err = run_main(capsys, "train", "--task", "detect", "--data", str(tmp_path / "absent.tif"),
                            "--targets", str(lib), "--out", str(tmp_path / "o"), "--device", gpu)
    assert_one_error_line(code, err, f"--device '{gpu}'")


def test_finetune_options_carry_the_device(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from hsi_app.tasks import finetune

    seen: list[Any] = []
    real = finetune.FinetuneOptions

    class Spy(real):  # type: ignore[misc, valid-type]
        def __post_init__(self) -> None:
            seen.append(self.device)
            raise ConfigError(STOP)

    monkeypatch.setattr(finetune, "FinetuneOptions", Spy)
    run = tmp_path / "run"
    run.mkdir()
    for device in ("cpu", "auto"):
        code, _, err = run_main(capsys, "finetune", "--base", str(run), "--data", "x.tif", "--lora-rank", "4",
                                "--out", str(tmp_path / "o"), "--device", device)
        assert_one_error_line(code, err, STOP)
    assert seen == ["cpu", None]
    gpu = _missing_gpu()
    with pytest.raises(ConfigError, match=f"device '{gpu}'"):
        real(device=gpu)


def test_learned_detect_loads_the_model_on_the_device(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from hsi_app.tasks.detector_infer import LearnedDetector

    seen: list[Any] = []

    def spy(cls: Any, run_dir: Any, device: Any = None) -> Any:
        seen.append(device)
        raise ConfigError(STOP)

    monkeypatch.setattr(LearnedDetector, "load", classmethod(spy))
    scene = _labelled_scene(tmp_path)[0]
    run = tmp_path / "run"
    run.mkdir()
    for device in ("cpu", "auto"):
        code, _, err = run_main(capsys, "detect", "--input", str(scene), "--method", "learned", "--model", str(run),
                                "--out", str(tmp_path / "s.tif"), "--device", device, "--quiet")
        assert_one_error_line(code, err, STOP)
    assert seen == ["cpu", None]


def test_ensemble_maps_on_the_device(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from tiny_runs import make_run

    from hsi_app.ensemble import EnsemblePredictor

    seen: list[Any] = []

    def spy(cls: Any, run_dirs: Any, device: Any = None, **kw: Any) -> Any:
        seen.append(device)
        raise ConfigError(STOP)

    monkeypatch.setattr(EnsemblePredictor, "load", classmethod(spy))
    runs = [make_run(tmp_path / f"m{i}", seed=i) for i in range(2)]
    for device in ("cpu", "auto"):
        code, _, err = run_main(capsys, "ensemble", "--model", str(runs[0]), "--model", str(runs[1]),
                                "--out", str(tmp_path / "ens"), "--device", device)
        assert_one_error_line(code, err, STOP)
    assert seen == ["cpu", None]


def test_batch_workers_load_the_model_on_the_device(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter handed to the engine (pickled to every worker) loads the run on --device; the cache keys on it."""
    from tiny_runs import make_run

    import hsi_app.batch
    from hsi_app.batch.run import BatchSettings, cached_model

    jobs: list[Any] = []

    def fake_run_batch(job: Any, *a: Any, **kw: Any) -> Any:
        jobs.append(cloudpickle.loads(cloudpickle.dumps(job)))  # as a dask worker receives it
        raise ConfigError(STOP)

    monkeypatch.setattr(hsi_app.batch, "run_batch", fake_run_batch)
    run = make_run(tmp_path / "run")
    for task in ("classify", "denoise"):
        code, _, err = run_main(capsys, "batch", "--task", task, "--model", str(run), "--inputs", "x.tif",
                                "--out-dir", str(tmp_path / f"out_{task}"), "--device", "cpu", "--no-dashboard")
        assert_one_error_line(code, err, STOP)
    code, _, err = run_main(capsys, "batch", "--task", "classify", "--model", str(run), "--inputs", "x.tif",
                            "--out-dir", str(tmp_path / "out_default"), "--no-dashboard")
    assert_one_error_line(code, err, STOP)
    code, _, err = run_main(capsys, "batch", "--task", "classify", "--model", str(run), "--inputs", "x.tif",
                            "--out-dir", str(tmp_path / "out_auto"), "--device", "auto", "--no-dashboard")
    assert_one_error_line(code, err, STOP)
    # the default is the CPU (one model copy per worker; cuda would put one per core on a GPU), auto is None
    assert [j.device for j in jobs] == ["cpu", "cpu", "cpu", None]

    import hsi_app.ensemble

    seen: list[Any] = []
    real = hsi_app.ensemble.load_classifier
    monkeypatch.setattr(hsi_app.ensemble, "load_classifier",
                        lambda dirs, device=None, **kw: seen.append(device) or real(dirs, device, **kw))
    pred = cached_model(BatchSettings(jobs[0], str(run), "sha"))
    assert seen == ["cpu"] and {p.device.type for p in pred.model.parameters()} == {"cpu"}
    cached_model(BatchSettings(jobs[3], str(run), "sha"))  # another device: not the CPU copy from the cache
    assert seen == ["cpu", None]


def test_batch_task_is_a_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "batch", "--task", "segment", "--inputs", "x.tif", "--out-dir", str(tmp_path / "o"))
    assert code == 2 and "'segment' is not one of 'classify', 'denoise', 'detect'" in err, err


def test_batch_device_is_checked_here_only_for_local_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With --scheduler the workers are elsewhere: a GPU missing here is their business, only the name is checked;
    without it the local machine must have the device (refused in one line before the batch starts)."""
    from tiny_runs import make_run

    import hsi_app.batch

    jobs: list[Any] = []

    def fake_run_batch(job: Any, *a: Any, **kw: Any) -> Any:
        jobs.append(job)
        raise ConfigError(STOP)

    monkeypatch.setattr(hsi_app.batch, "run_batch", fake_run_batch)
    run = make_run(tmp_path / "run")
    common = ("batch", "--task", "classify", "--model", str(run), "--inputs", "x.tif", "--no-dashboard")
    code, _, err = run_main(capsys, *common, "--out-dir", str(tmp_path / "remote"), "--device", "cuda:7",
                            "--scheduler", "tcp://gpu-node:8786")
    assert_one_error_line(code, err, STOP)
    assert [j.device for j in jobs] == ["cuda:7"]
    code, _, err = run_main(capsys, *common, "--out-dir", str(tmp_path / "local"), "--device", "cuda:7")
    assert_one_error_line(code, err, "--device 'cuda:7'")
    code, _, err = run_main(capsys, *common, "--out-dir", str(tmp_path / "typo"), "--device", "gpu",
                            "--scheduler", "tcp://gpu-node:8786")
    assert_one_error_line(code, err, "--device 'gpu': unknown device; use auto, cpu, cuda, cuda:N or mps")
    assert len(jobs) == 1 and not (tmp_path / "local").exists() and not (tmp_path / "typo").exists()
