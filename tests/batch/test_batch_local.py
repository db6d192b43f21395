"""A local (in-process) cluster over a folder of fixtures: outputs, report, identity with `hsi predict`, reruns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from hsi_app.batch import ClusterOptions, run_batch
from hsi_app.batch.state import sidecar_path
from hsi_app.cli.main import main

WINDOW = 16  # big.tif (70 x 60) has 20 windows > SPLIT_WINDOWS: it is spread over workers
THREADS = ClusterOptions(workers=2, threads_per_worker=1, processes=False, dashboard=False)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, run_dir: Path, kit) -> dict:  # noqa: ANN001
    root = tmp_path_factory.mktemp("local")
    scenes = kit.make_scenes(root / "scenes", big=True)
    out = root / "out"
    result = run_batch("classify", run_dir, [str(root / "scenes" / "**" / "*.tif")], out, cluster=THREADS,
                       window=WINDOW, progress=False, echo=lambda s: None)
    return {"root": root, "scenes": scenes, "out": out, "result": result}


def _by_name(rows: list) -> dict:  # noqa: ANN001
    return {Path(r["input"] if isinstance(r, dict) else r.input).name: r for r in rows}


def test_outputs_mirror_inputs_and_report_lists_every_input(first: dict) -> None:
    out = first["out"]
    doc = json.loads((out / "report.json").read_text())
    rows = _by_name(doc["inputs"])
    assert doc["summary"] == {"done": 4, "skipped": 0, "failed": 1}
    assert rows["bad.tif"]["status"] == "failed" and "bad.tif" in rows["bad.tif"]["error"]
    expected = {"a.tif": "a_classes.tif", "b.tif": "sub/b_classes.tif", "c.tif": "sub/deeper/c_classes.tif",
                "big.tif": "big_classes.tif"}
    for name, rel in expected.items():
        row = rows[name]
        assert row["status"] == "done" and Path(row["output"]) == out / rel
        assert sidecar_path(out / rel).is_file()
        assert sum(row["class_counts"].values()) == row["height"] * row["width"]
        assert row["class_counts"]["no-data"] == 12  # the 3 x 4 no-data corner of every fixture (audit O #5)
        assert "unlabelled" not in row["class_counts"] and list(row["class_counts"])[0] == "no-data"
        assert json.loads(sidecar_path(out / rel).read_text())["class_counts"] == row["class_counts"]
    assert rows["big.tif"]["split"] is True and rows["a.tif"]["split"] is False
    table = _by_name(list(csv.DictReader((out / "report.csv").open())))
    assert {k: v["status"] for k, v in table.items()} == {k: v["status"] for k, v in rows.items()}
    assert not list(out.rglob(".*"))  # no temporary files left
    assert first["result"].failed == 1


@pytest.mark.parametrize("name", ["a", "big"])
def test_output_identical_to_hsi_predict(first: dict, run_dir: Path, name: str) -> None:
    ref = first["root"] / f"{name}_predict.tif"
    main(["predict", "--model", str(run_dir), "--input", str(first["scenes"][name]), "--out", str(ref),
          "--window", str(WINDOW), "--quiet"])
    got = first["out"] / f"{name}_classes.tif"
    with rasterio.open(ref) as a, rasterio.open(got) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.tags() == b.tags() and a.profile == b.profile and a.colormap(1) == b.colormap(1)
        assert a.descriptions == b.descriptions and a.scales == b.scales and a.crs == b.crs
        assert a.transform == b.transform and b.crs.to_epsg() == 32633
        assert [a.overviews(i) for i in (1, 2)] == [b.overviews(i) for i in (1, 2)]


def test_rerun_skips_done_and_overwrite_redoes(first: dict, run_dir: Path) -> None:
    out = first["out"]
    outputs = sorted(p for p in out.rglob("*_classes.tif"))
    before = {p: p.stat().st_mtime_ns for p in outputs}
    again = run_batch("classify", run_dir, [str(first["root"] / "scenes" / "**" / "*.tif")], out, cluster=THREADS,
                      window=WINDOW, progress=False, echo=lambda s: None)
    status = {Path(r.input).name: r.status for r in again.rows}
    assert status == {"a.tif": "skipped", "b.tif": "skipped", "c.tif": "skipped", "big.tif": "skipped", "bad.tif": "failed"}
    assert {p: p.stat().st_mtime_ns for p in outputs} == before
    skipped = _by_name(again.rows)["a.tif"]
    assert sum(skipped.class_counts.values()) == 24 * 20  # counts come back from the sidecar
    redo = run_batch("classify", run_dir, [str(first["scenes"]["a"])], out, cluster=THREADS, window=WINDOW,
                     overwrite=True, progress=False, echo=lambda s: None)
    assert [r.status for r in redo.rows] == ["done"]
    assert (out / "a_classes.tif").stat().st_mtime_ns != before[out / "a_classes.tif"]


def test_other_model_redoes_outputs(first: dict, kit, tmp_path: Path) -> None:  # noqa: ANN001
    other = kit.make_run(tmp_path / "other", seed=7)
    res = run_batch("classify", other, [str(first["scenes"]["c"])], first["out"] / "sub" / "deeper", cluster=THREADS,
                    window=WINDOW, progress=False, echo=lambda s: None)
    assert [r.status for r in res.rows] == ["done"]
    side = json.loads(sidecar_path(first["out"] / "sub" / "deeper" / "c_classes.tif").read_text())
    from hsi_app.batch.state import model_hash

    assert side["model_hash"] == model_hash(other)


def test_unknown_task_is_a_clear_error(run_dir: Path, tmp_path: Path) -> None:
    from hsi_app.errors import UnknownKeyError

    with pytest.raises(UnknownKeyError, match="unknown task"):
        run_batch("segment", run_dir, [str(tmp_path)], tmp_path / "o", progress=False, echo=lambda s: None)


def test_scene_reads_run_in_the_task_not_on_the_cluster(run_dir: Path, kit, tmp_path: Path) -> None:  # noqa: ANN001
    """Only scene and window tasks reach the cluster: lazy reads inside them are not submitted as tasks of their own."""
    from distributed import Client, LocalCluster, get_task_stream

    kit.make_scenes(tmp_path / "scenes", corrupt=False, big=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client, get_task_stream(client) as stream:
        res = run_batch("classify", run_dir, [str(tmp_path / "scenes")], tmp_path / "out", window=WINDOW,
                        cluster=ClusterOptions(scheduler=cluster.scheduler_address), progress=False, echo=lambda s: None)
    assert [r.status for r in res.rows] == ["done"] * 4
    kinds = {str(t["key"]).split("-")[0] for t in stream.data}
    assert kinds == {"scene", "window_task"}, kinds  # window_task: big.tif is split


def test_split_scene_refused_on_the_client_is_reported_as_split(tmp_path: Path, run_dir: Path, kit) -> None:  # noqa: ANN001
    """A big scene whose bands do not match the model is found out when the client plans its windows:
    its failed row still says split, with the scene's size and window count, and names the mismatch."""
    big = kit.write_scene(tmp_path / "scenes" / "shifted.tif", 70, 60, 5)
    with rasterio.open(big, "r+") as ds:  # same band count, every centre 400 nm longer: no band matches
        shifted = np.linspace(450.0, 2300.0, kit.BANDS) + 400.0
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in shifted))
    result = run_batch("classify", run_dir, [str(big)], tmp_path / "out", cluster=THREADS, window=WINDOW,
                       progress=False, echo=lambda s: None)
    [row] = result.rows
    assert row.status == "failed" and row.split is True
    assert (row.height, row.width, row.windows) == (70, 60, 20)
    assert "shifted.tif" in row.error and "--resample" in row.error
    assert not (tmp_path / "out" / "shifted_classes.tif").exists()


def test_resampled_outputs_count_as_done_only_while_resample_is_allowed(tmp_path: Path, run_dir: Path, kit) -> None:  # noqa: ANN001
    """A scene classified through spectral resampling is redone (and refused, as a fresh run would be) when the
    rerun drops --resample; a scene whose bands matched is skipped either way. Covers whole and split scenes."""
    scenes = tmp_path / "scenes"
    kit.write_scene(scenes / "match.tif", 20, 18, 1)
    for name, (h, w) in {"shifted.tif": (20, 18), "shifted_big.tif": (70, 60)}.items():
        path = kit.write_scene(scenes / name, h, w, 6)
        with rasterio.open(path, "r+") as ds:  # every centre 20 nm longer: no band within tolerance
            ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in np.linspace(450.0, 2300.0, kit.BANDS) + 20.0))
    out = tmp_path / "out"

    def run(resample: bool) -> dict[str, object]:
        res = run_batch("classify", run_dir, [str(scenes)], out, cluster=THREADS, window=WINDOW, resample=resample,
                        progress=False, echo=lambda s: None)
        return _by_name(res.rows)

    first = run(True)
    assert {n: r.status for n, r in first.items()} == {"match.tif": "done", "shifted.tif": "done",
                                                       "shifted_big.tif": "done"}
    assert first["shifted_big.tif"].split is True
    flags = {n: json.loads(sidecar_path(out / n.replace(".tif", "_classes.tif")).read_text())["resampled"]
             for n in first}
    assert flags == {"match.tif": False, "shifted.tif": True, "shifted_big.tif": True}
    assert {n: r.status for n, r in run(True).items()} == dict.fromkeys(first, "skipped")
    again = run(False)
    assert again["match.tif"].status == "skipped"
    for name in ("shifted.tif", "shifted_big.tif"):
        assert again[name].status == "failed" and "--resample" in again[name].error


def test_an_ensemble_folder_runs_like_hsi_predict(tmp_path: Path, run_dir: Path, kit) -> None:  # noqa: ANN001
    """An `hsi ensemble` folder in a batch: whole and split scenes equal `hsi predict` with the member runs."""
    from hsi_app.batch.state import model_hash
    from hsi_app.ensemble import write_ensemble
    from hsi_app.errors import ModelLoadError

    other = kit.make_run(tmp_path / "other", seed=7)
    ens = tmp_path / "ens"
    write_ensemble(ens, [run_dir, other])
    scenes = kit.make_scenes(tmp_path / "scenes", corrupt=False, big=True)
    out = tmp_path / "out"
    res = run_batch("classify", ens, [str(scenes["a"]), str(scenes["big"])], out, cluster=THREADS, window=WINDOW,
                    progress=False, echo=lambda s: None)
    assert [r.status for r in res.rows] == ["done", "done"] and res.rows[1].split is True
    for name in ("a", "big"):
        ref = tmp_path / f"{name}_members.tif"
        main(["predict", "--model", str(run_dir), "--model", str(other), "--input", str(scenes[name]),
              "--out", str(ref), "--window", str(WINDOW), "--quiet"])
        with rasterio.open(ref) as a, rasterio.open(out / f"{name}_classes.tif") as b:
            np.testing.assert_array_equal(a.read(), b.read())
    side = json.loads(sidecar_path(out / "a_classes.tif").read_text())
    assert side["model_hash"] == model_hash(ens) != model_hash(run_dir)
    with pytest.raises(ModelLoadError, match="ensemble of classifiers"):
        run_batch("denoise", ens, [str(scenes["a"])], tmp_path / "out3", cluster=THREADS, window=WINDOW,
                  progress=False, echo=lambda s: None)
    # a member retrained (here: other weights written over it) is refused before any scene is read
    kit.make_run(other, seed=8)
    with pytest.raises(ModelLoadError, match="changed since the ensemble was written"):
        run_batch("classify", ens, [str(scenes["a"])], tmp_path / "out2", cluster=THREADS, window=WINDOW,
                  progress=False, echo=lambda s: None)
    assert not (tmp_path / "out2" / "a_classes.tif").exists()



def test_smoothed_batch_equals_hsi_predict_smooth_and_is_redone_when_the_setting_changes(
        tmp_path: Path, run_dir: Path, kit) -> None:  # noqa: ANN001
    """`hsi batch --smooth`: whole and split scenes equal `hsi predict --smooth`; the setting is part of the identity."""
    from hsi_app.batch.state import model_hash
    from hsi_app.batch.tasks import CLASSIFY, classify_adapter
    from hsi_app.tasks.prob_smoothing import SmoothSpec

    assert classify_adapter(None) is CLASSIFY
    scenes = kit.make_scenes(tmp_path / "scenes", corrupt=False, big=True)
    out = tmp_path / "out"
    inputs = [str(scenes["a"]), str(scenes["big"])]
    res = run_batch(classify_adapter(SmoothSpec(2, 0.01)), run_dir, inputs, out, cluster=THREADS, window=WINDOW,
                    progress=False, echo=lambda s: None)
    assert [r.status for r in res.rows] == ["done", "done"] and res.rows[1].split is True
    for name in ("a", "big"):
        smoothed, plain = tmp_path / f"{name}_smooth.tif", tmp_path / f"{name}_plain.tif"
        for dst, flag in ((smoothed, "guided:2,0.01"), (plain, "none")):
            main(["predict", "--model", str(run_dir), "--input", str(scenes[name]), "--out", str(dst),
                  "--window", str(WINDOW), "--smooth", flag, "--quiet"])
        with rasterio.open(smoothed) as a, rasterio.open(out / f"{name}_classes.tif") as b, rasterio.open(plain) as c:
            got = b.read()
            np.testing.assert_array_equal(a.read(), got)
            assert (c.read(2) != got[1]).any()  # the filtered confidence, not the model's own
    side = json.loads(sidecar_path(out / "a_classes.tif").read_text())
    assert side["model_hash"] != model_hash(run_dir)
    assert json.loads((out / "report.json").read_text())["options"] == {"smooth": "guided:2,0.01,3"}
    again = run_batch(classify_adapter(SmoothSpec(2, 0.01)), run_dir, inputs, out, cluster=THREADS, window=WINDOW,
                      progress=False, echo=lambda s: None)
    assert [r.status for r in again.rows] == ["skipped", "skipped"]
    other = run_batch(classify_adapter(SmoothSpec(1, 0.01)), run_dir, inputs, out, cluster=THREADS, window=WINDOW,
                      progress=False, echo=lambda s: None)
    assert [r.status for r in other.rows] == ["done", "done"]


def test_envi_header_inputs_and_a_header_without_data(tmp_path: Path, run_dir: Path, kit) -> None:  # noqa: ANN001
    """`--inputs x.hdr` (named or globbed) runs the pair once, as `hsi predict --input x.hdr`; a header whose
    data file is missing is reported failed with the reader's reason instead of being dropped."""
    import spectral.io.envi as spy

    from hsi_app.io.open import open_cube

    envi = tmp_path / "envi"
    envi.mkdir()
    cube = open_cube(kit.write_scene(tmp_path / "a.tif", 20, 24, 1))
    spy.save_image(str(envi / "s.hdr"), np.asarray(cube.values).transpose(1, 2, 0), interleave="bsq",
                   metadata={"wavelength": [f"{w:.2f}" for w in cube.hsi.wavelengths]})
    (envi / "lost.hdr").write_text((envi / "s.hdr").read_text())  # its data file was never copied
    ref = tmp_path / "predict.tif"
    main(["predict", "--model", str(run_dir), "--input", str(envi / "s.hdr"), "--out", str(ref), "--quiet"])
    for pattern in (str(envi / "s.hdr"), str(envi / "s.*")):
        out = tmp_path / f"out{len(pattern)}"
        res = run_batch("classify", run_dir, [pattern], out, cluster=THREADS, progress=False, echo=lambda s: None)
        assert [(Path(r.input).name, r.status) for r in res.rows] == [("s.img", "done")], [r.error for r in res.rows]
        with rasterio.open(ref) as a, rasterio.open(out / "s_classes.tif") as b:
            np.testing.assert_array_equal(a.read(), b.read())
    res = run_batch("classify", run_dir, [str(envi)], tmp_path / "all", cluster=THREADS, progress=False,
                    echo=lambda s: None)
    rows = _by_name(res.rows)
    assert sorted(rows) == ["lost.hdr", "s.img"] and rows["s.img"].status == "done"
    assert rows["lost.hdr"].status == "failed" and res.failed == 1
    assert rows["lost.hdr"].error.startswith(f"{envi / 'lost.hdr'}: no data file next to the header"), rows["lost.hdr"].error


def test_a_scene_in_other_units_is_refused_as_hsi_predict_refuses_it(tmp_path: Path, run_dir: Path, kit) -> None:  # noqa: ANN001
    """The run maps int16 reflectance x 10000; the same scene as 0-1 reflectance is one failed row naming the
    factor (it was mapped without a word), whole or split over the workers, and no output is written."""
    for name, size in (("whole", (24, 20)), ("split", (70, 60))):
        made = kit.write_scene(tmp_path / "made" / f"{name}.tif", *size, 6, nodata_corner=False)
        with rasterio.open(made) as ds:
            data, profile, tags = ds.read(), ds.profile, ds.tags()
        scene = tmp_path / "scenes" / f"{name}.tif"
        scene.parent.mkdir(exist_ok=True)
        with rasterio.open(scene, "w", **{**profile, "dtype": "float32", "nodata": None}) as ds:
            ds.write(data.astype(np.float32) / 10_000)
            ds.update_tags(**tags)
    result = run_batch("classify", run_dir, [str(tmp_path / "scenes" / "*.tif")], tmp_path / "out", cluster=THREADS,
                       window=WINDOW, progress=False, echo=lambda s: None)
    rows = _by_name(result.rows)
    for name in ("whole", "split"):
        row = rows[f"{name}.tif"]
        assert row.status == "failed" and "so the scene is in other units; its values are ~1/" in row.error, row.error
        assert not (tmp_path / "out" / f"{name}_classes.tif").exists()
    assert rows["split.tif"].split is True


def test_class_counts_key_the_maps_0_as_no_data() -> None:
    """The map's 0 is no data (`hsi info` on the map: 'N no-data'), not an 'unlabelled' land cover (audit O #5);
    a sidecar written before says 'unlabelled', renamed when a rerun reads it back."""
    from types import SimpleNamespace

    from hsi_app.batch.tasks import _classify_counts, sidecar_class_counts

    pred = SimpleNamespace(class_names=["unlabelled", "water", "crop"])
    assert _classify_counts(pred, np.array([7, 3, 2])) == {"class_counts": {"no-data": 7, "water": 3, "crop": 2}}
    assert list(_classify_counts(pred, np.array([1, 2]))["class_counts"]) == ["no-data", "1"]
    assert sidecar_class_counts({"unlabelled": 7, "water": 3}, "classify") == {"no-data": 7, "water": 3}
    assert sidecar_class_counts({"no-data": 7, "water": 3}, "classify") == {"no-data": 7, "water": 3}
    assert sidecar_class_counts({"metal": 3}, "detect") == {"metal": 3}  # detection counts: points, no 0


def test_a_classify_sidecar_of_a_run_whose_class_0_is_not_unlabelled_is_keyed_no_data_too(tmp_path: Path) -> None:
    """A sidecar written before keyed the map's 0 by the run's class 0, whatever the run named it; only
    'unlabelled' was renamed, so a run whose class 0 is 'background' kept that key beside other scenes'
    'no-data'. The first key of a classify sidecar is the map's 0 whatever its name; detect's are points."""
    from types import SimpleNamespace

    from hsi_app.batch.driver import _from_sidecar
    from hsi_app.batch.tasks import sidecar_class_counts

    old = {"background": 11, "water": 3, "crop": 2}
    assert sidecar_class_counts(old, "classify") == {"no-data": 11, "water": 3, "crop": 2}
    assert list(sidecar_class_counts(old, "classify").values()) == [11, 3, 2]
    assert sidecar_class_counts({"background": 4, "metal": 1}, "detect") == {"background": 4, "metal": 1}
    item = SimpleNamespace(source=tmp_path / "a.tif")
    side = {"task": "classify", "height": 4, "width": 5, "windows": 1, "class_counts": old}
    row = _from_sidecar(item, tmp_path / "a_classes.tif", side, "skipped")
    assert row.class_counts == {"no-data": 11, "water": 3, "crop": 2}
