"""Progress in a terminal and in a log: live bars on a TTY; in a pipe or file, plain lines (no carriage
returns or cursor codes), at most one per 30 s, the last one kept, and one line per training epoch."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import run_main
from hsi_app import progress
from hsi_app.progress import LogProgress, bar, dask_progress, trainer_progress
from tiny_runs import make_run

WL = np.array([450.0, 550.0, 650.0, 750.0, 850.0])
CONTROL = ("\r", "\x1b[")


class Clock:
    """A fake ``time.monotonic`` advanced by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_come_at_most_every_30_s_and_the_last_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    out = io.StringIO()
    for _ in LogProgress(range(10), desc="predict", unit="win", file=out):
        clock.now += 10.0  # each window takes 10 s: a line after windows 3, 6 and 9, then the final one
    lines = out.getvalue().splitlines()
    assert lines == ["predict: 3/10 win, 30 s, about 1 min 10 s left", "predict: 6/10 win, 1 min 00 s, about 40 s left",
                     "predict: 9/10 win, 1 min 30 s, about 10 s left", "predict: 10/10 win in 1 min 40 s"]


def test_a_failed_loop_prints_no_final_line_and_postfix_never_prints_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    out = io.StringIO()
    with pytest.raises(RuntimeError):
        for i in LogProgress(range(10), desc="denoise", unit="win", file=out):
            if i == 2:
                raise RuntimeError("boom")
    assert out.getvalue() == ""  # the error's own line follows; no "finished" line
    with LogProgress(total=3 * 1024**2, desc="indian_pines.mat", unit="B", file=out) as p:
        for _ in range(3):
            p.update(1024**2)
            p.set_postfix(failed=0)  # batch calls this after every scene: no line of its own
    assert out.getvalue() == "indian_pines.mat: 3.0 MiB/3.0 MiB in 0 s, failed=0\n"


def test_bars_are_live_on_a_terminal_and_plain_in_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm import tqdm  # tqdm.auto's class when ipywidgets is installed (a subclass), else this one

    monkeypatch.setattr("sys.stderr", Terminal())
    assert isinstance(bar(range(3), desc="x"), tqdm)
    assert trainer_progress(True) == (True, [])
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert isinstance(bar(range(3), desc="x"), LogProgress)
    show, callbacks = trainer_progress(True)
    assert show is False and len(callbacks) == 1
    assert trainer_progress(False) == (False, [])
    assert list(bar(range(3), enabled=False)) == [0, 1, 2]


def test_dask_progress_in_a_log_is_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    import dask.array as da

    with dask_progress(desc="reading"):
        total = da.ones((40, 40), chunks=10).sum().compute()
    assert total == 1600
    err = capsys.readouterr().err
    assert err.startswith("reading: ") and err.count("\n") == 1 and " tasks in " in err
    assert not any(c in err for c in CONTROL)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("progress")
    labels = np.zeros((30, 28), np.uint8)
    labels[2:14, 2:12], labels[2:14, 15:26], labels[16:28, 2:26] = 1, 2, 3
    rng = np.random.default_rng(0)
    cube = (rng.random((5, 30, 28)) * 100 + labels.astype(np.int16) * 300).astype(np.int16)
    paths = {"cube": root / "scene.tif", "labels": root / "labels.tif"}
    for path, data in ((paths["cube"], cube), (paths["labels"], labels[None])):
        with rasterio.open(path, "w", driver="GTiff", height=30, width=28, count=data.shape[0], dtype=data.dtype,
                           crs="EPSG:32616", transform=from_origin(0.0, 0.0, 30.0, 30.0)) as ds:
            ds.write(data)
            if data.shape[0] == 5:
                ds.update_tags(wavelength=",".join(str(w) for w in WL), wavelength_units="nm")
    paths["run"] = make_run(root / "run", in_chans=5, num_classes=3, wavelengths=WL, like=cube)
    return paths


def test_predict_in_a_log_writes_one_plain_line(scene: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "predict", "--model", str(scene["run"]), "--input", str(scene["cube"]),
                            "--out", str(tmp_path / "m.tif"), "--window", "8")
    assert code == 0, err
    assert not any(c in err for c in CONTROL), repr(err)
    assert err.startswith("predict: 16/16 win in ") and err.count("\n") == 1


def test_train_in_a_log_writes_a_line_per_epoch(scene: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str], one_torch_thread: None) -> None:
    code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]),
                            "--model", "test_ssfcn", "--split", "random:0.3", "--epochs", "2", "--out",
                            str(tmp_path / "run"))
    assert code == 0, err
    assert not any(c in err for c in CONTROL), repr(err)
    epochs = [line for line in err.splitlines() if line.startswith("train: epoch ")]
    assert [line.split(",")[0] for line in epochs] == ["train: epoch 1/2", "train: epoch 2/2"]
    assert all(", train loss " in line and ", val_oa " in line and line.endswith(" s") for line in epochs)


def test_denoise_training_in_a_log_writes_a_line_per_epoch(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          one_torch_thread: None) -> None:
    from hsi_app.io.cog import write_cube
    from hsi_app.io.cube import make_cube

    yy, xx = np.mgrid[0:24, 0:24] / 6.0
    data = np.stack([(k + 2) * 300 * (np.sin(yy + k) + np.cos(xx) + 3) for k in range(5)]).astype(np.float32)
    clean = tmp_path / "clean.tif"
    write_cube(clean, make_cube(data, wavelength=WL, crs="EPSG:32633", transform=from_origin(0, 0, 30, 30)))
    code, _, err = run_main(capsys, "train", "--task", "denoise", "--data", str(clean), "--noise", "gaussian:50",
                            "--model", "test_hsdt", "--epochs", "2", "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert not any(c in err for c in CONTROL), repr(err)
    epochs = [line for line in err.splitlines() if line.startswith("train denoiser: epoch ")]
    assert [line.split(",")[0] for line in epochs] == ["train denoiser: epoch 1/2", "train denoiser: epoch 2/2"]
    assert all(", train loss " in line for line in epochs)


def test_steps_in_a_log_name_the_long_step_and_end_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import time

    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.1)
    monkeypatch.setattr(progress, "LOG_TICK_S", 0.01)
    with progress.steps("simulate-targets", 2) as begin:
        begin("reading")
        begin("writing scene.tif")
        time.sleep(0.35)  # one GDAL call that reports nothing: the ticker still writes lines
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3 and all(line.startswith("simulate-targets: 1/2 steps, ") for line in lines[:-1])
    assert all(line.endswith(", writing scene.tif") and "left" not in line for line in lines[:-1])
    assert lines[-1].startswith("simulate-targets: 2/2 steps in ")
    with pytest.raises(KeyboardInterrupt), progress.steps("x", 2) as begin:
        begin("a")
        raise KeyboardInterrupt
    assert capsys.readouterr().err == ""  # interrupted: the "interrupted" line comes alone


def test_a_step_renamed_without_advancing_shows_its_new_text_in_a_log(monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """vectorize's sieve renames its step with the pass it is on; the step count stays."""
    import time

    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.1)
    monkeypatch.setattr(progress, "LOG_TICK_S", 0.01)
    with progress.steps("vectorize", 3) as begin:
        begin("sieving")
        begin("sieving, pass 7 of at most 50", advance=False)
        time.sleep(0.25)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2 and all(line.startswith("vectorize: 0/3 steps, ") for line in lines[:-1])
    assert lines[-2].endswith(", sieving, pass 7 of at most 50")
    assert lines[-1].startswith("vectorize: 3/3 steps in ")


def test_simulate_targets_shows_its_steps_and_quiet_hides_them(load_fixture: Any, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    speclib = load_fixture("speclib")
    bg = speclib.write_geotiff(tmp_path / "bg.tif", speclib.background(3))
    lib = speclib.write_csv(tmp_path / "lib.csv")
    base = ["simulate-targets", "--background", str(bg), "--targets", str(lib), "--n-targets", "3"]
    code, out, err = run_main(capsys, *base, "--out", str(tmp_path / "a"))
    assert code == 0 and " targets (" in out, err
    library, steps = err.splitlines()  # how the library was scaled (as hsi detect says it), then the steps
    assert library.startswith(f"{lib}: 3 spectra read as reflectance 0-1, times 1 ")
    assert steps.startswith("simulate-targets: 5/5 steps in ")
    assert not any(c in err for c in CONTROL)
    code, out, err = run_main(capsys, *base, "--out", str(tmp_path / "b"), "--quiet")
    assert code == 0 and err == ""


def test_write_cube_in_a_log_writes_plain_lines_and_quiet_hides_them(load_fixture: Any, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.io import summary
    from hsi_app.io.cog import write_cube
    from hsi_app.io.open import open_cube

    speclib = load_fixture("speclib")
    bg = speclib.write_geotiff(tmp_path / "bg.tif", speclib.background(3))
    monkeypatch.setattr(summary, "LARGE_ELEMENTS", 10)  # every cube counts as large
    write_cube(tmp_path / "out.tif", open_cube(bg), blocksize=16)
    err = capsys.readouterr().err
    assert err.startswith("write_cube: ") and not any(c in err for c in CONTROL), repr(err)
    write_cube(tmp_path / "quiet.tif", open_cube(bg), blocksize=16, progress=False)
    assert capsys.readouterr().err == ""
    lib = speclib.write_csv(tmp_path / "lib.csv")
    base = ["simulate-targets", "--background", str(bg), "--targets", str(lib), "--n-targets", "3"]
    code, _, err = run_main(capsys, *base, "--out", str(tmp_path / "a"))
    assert code == 0 and "write_cube: " in err and not any(c in err for c in CONTROL), repr(err)
    code, _, err = run_main(capsys, *base, "--out", str(tmp_path / "b"), "--quiet")
    assert code == 0 and err == ""


def test_vectorize_shows_progress_on_large_maps_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.io.cog import write_class_map
    from hsi_app.tasks import map_polygons

    classes = (np.indices((40, 40)).sum(axis=0) // 7 % 3 + 1).astype(np.uint8)
    write_class_map(tmp_path / "map.tif", classes, None, crs="EPSG:32633", transform=from_origin(0, 0, 10, 10),
                    class_names=["none", "a", "b", "c"])
    args = ["vectorize", "--map", str(tmp_path / "map.tif")]
    code, _, err = run_main(capsys, *args, "--out", str(tmp_path / "small.gpkg"))
    assert code == 0 and err == ""  # 1,600 px: done in a moment, nothing to show
    monkeypatch.setattr(map_polygons, "PROGRESS_MIN_PIXELS", 1000)
    code, out, err = run_main(capsys, *args, "--out", str(tmp_path / "large.gpkg"))
    polygons = int(out.split(": ")[1].split()[0])
    assert code == 0 and not any(c in err for c in CONTROL), repr(err)
    lines = err.splitlines()
    assert lines[0].startswith(f"vectorize: tracing: {polygons}/{polygons} polygons in ")
    assert lines[1].startswith("vectorize: 3/3 steps in ") and len(lines) == 2
    code, _, err = run_main(capsys, *args, "--out", str(tmp_path / "quiet.gpkg"), "--quiet")
    assert code == 0 and err == ""


def test_no_ipywidgets_warning_in_a_jupyter_kernel() -> None:
    """In a Jupyter kernel without ipywidgets, importing ``tqdm.auto`` warns "IProgress not found" on stderr
    (notebooks 02-04 showed it under their first training cell): not from hsi_app's bars, disabled or live,
    nor from a library that imports tqdm.auto after hsi_app (transformers, through lightning)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import ipykernel.zmqshell  # what tqdm.auto looks for to detect a notebook\n"
        "sys.modules['ipywidgets'] = None  # not installed (make install does not install it)\n"
        "from hsi_app import progress\n"
        "assert list(progress.bar(range(3), enabled=False)) == [0, 1, 2]\n"
        "progress.interactive = lambda stream=None: True\n"
        "assert list(progress.bar(range(3), desc='x')) == [0, 1, 2]\n"
        "from tqdm import auto  # as transformers does (import lightning -> torchmetrics -> transformers)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "IProgress" not in out.stderr


def test_bars_observed_routes_this_threads_loops_only() -> None:
    """A GUI sees every loop bar() wraps in its thread (even disabled ones) and may stop between steps; another
    thread's bars and a bar updated by hand are untouched, and the block restores what was there."""
    import threading

    from hsi_app.progress import bar, bars_observed

    seen: list[tuple[str, float | None, int]] = []

    def observer(iterable: Any, desc: str, total: float | None) -> Any:
        for i, item in enumerate(iterable):
            seen.append((desc, total, i))
            yield item

    other: list[Any] = []
    with bars_observed(observer):
        assert list(bar(range(3), desc="strips", enabled=False)) == [0, 1, 2]
        worker = threading.Thread(target=lambda: other.append(bar(range(2), desc="x", enabled=False)))
        worker.start()
        worker.join()
        hand = bar(None, total=5, enabled=False)
    assert seen == [("strips", None, 0), ("strips", None, 1), ("strips", None, 2)]
    assert type(other[0]).__name__ == "tqdm" and type(hand).__name__ == "tqdm"  # not routed
    assert type(bar(range(2), enabled=False)).__name__ == "tqdm"  # the block is over
