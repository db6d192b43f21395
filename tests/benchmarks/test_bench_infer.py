"""The inference benchmarks: the 'before' model inputs they time equal the predictor's, and map comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from fixture_loader import benchmark_module
from tiny_runs import make_run

from hsi_app.predictor import BandPlan, Predictor


def test_the_before_and_now_inputs_are_the_same_bits(tmp_path: Path) -> None:
    bench = benchmark_module("bench_infer_stages")
    pred = Predictor.load(make_run(tmp_path / "run", in_chans=4), device="cpu")
    image = np.random.default_rng(0).normal(0, 2, (4, 7, 6)).astype(np.float32)
    image[1, 2, 3] = np.nan
    for plan in (BandPlan(indices=np.arange(4), matrix=None), BandPlan(indices=np.array([3, 1, 0, 2]), matrix=None)):
        before = bench.numpy_inputs(pred, plan.apply(image)).numpy()
        now = bench.torch_inputs(pred, plan, image).numpy()
        assert before.tobytes() == now.tobytes()
        assert before[:, 2, 3][list(plan.indices).index(1)] == 0.0  # the no-data value became 0


def test_same_map_says_bytes_or_where_the_bands_differ(tmp_path: Path) -> None:
    bench = benchmark_module("bench_infer_speed")
    profile = {"driver": "GTiff", "height": 3, "width": 4, "count": 2, "dtype": "uint8"}
    maps = np.ones((2, 3, 4), dtype=np.uint8)
    paths = [tmp_path / f"m{i}.tif" for i in range(3)]
    for i, p in enumerate(paths):
        data = maps.copy()
        if i == 2:
            data[1, 0, :2] = 9  # two confidence pixels differ
        with rasterio.open(p, "w", **profile) as ds:
            ds.write(data)
    assert bench.same_map(paths[0], paths[1]) == "bytes"
    assert bench.same_map(paths[0], paths[2]) == "class same; confidence differs at 2 px"


def test_predict_reads_a_child_that_writes_more_than_a_pipe_holds(tmp_path: Path) -> None:
    import threading

    bench = benchmark_module("bench_infer_speed")
    cli = tmp_path / "src" / "hsi_app" / "cli"
    cli.mkdir(parents=True)
    for init in (cli / "__init__.py", cli.parent / "__init__.py"):
        init.write_text("")
    (cli / "main.py").write_text("import sys\nsys.stderr.write('e' * 300_000)\nsys.stdout.write('x' * 300_000)\n"
                                 "print('predicted 4 windows, 1.25 s')\n")
    got: list[tuple[float, float, float, float]] = []
    worker = threading.Thread(target=lambda: got.append(bench.predict(cli.parents[1], "run", "scene",
                                                                      tmp_path / "m.tif")), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert got, "predict did not return: the child blocked on a full pipe"
    wall, loop, rss_gib, cpu = got[0]
    assert loop == 1.25 and rss_gib > 0 and cpu >= 0 and wall > 0


def test_the_stage_benchmark_refuses_an_ensemble_folder_naming_it(tmp_path: Path, monkeypatch) -> None:
    import sys

    import pytest

    from hsi_app.ensemble import write_ensemble

    bench = benchmark_module("bench_infer_stages")
    runs = [make_run(tmp_path / f"r{i}", in_chans=4, seed=i) for i in range(2)]
    write_ensemble(tmp_path / "ens", runs)
    monkeypatch.setattr(sys, "argv", ["bench_infer_stages.py", "--model", str(tmp_path / "ens"),
                                      "--input", str(tmp_path / "no_scene.tif")])
    with pytest.raises(SystemExit, match=r"ens: an ensemble of 2 runs; .* pass one member's run folder as --model"):
        bench.main()


def test_the_stage_benchmark_loads_its_model_on_the_cpu(tmp_path: Path, monkeypatch) -> None:
    import hsi_app.ensemble

    bench = benchmark_module("bench_infer_stages")
    asked: list[str | None] = []
    real = hsi_app.ensemble.load_classifier

    def spy(runs, device=None, **kw):  # noqa: ANN001, ANN202 - records the device asked for
        asked.append(device)
        return real(runs, "cpu", **kw)

    monkeypatch.setattr(hsi_app.ensemble, "load_classifier", spy)
    pred = bench.load_one_model(str(make_run(tmp_path / "r", in_chans=4)))
    assert asked == ["cpu"] and pred.device == "cpu"
