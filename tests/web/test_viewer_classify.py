"""Classify tab logic: maps match the model, areas, overlay, legend, cache, manifest, downloads."""

from __future__ import annotations

import json
import shutil
import os
from pathlib import Path

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.errors import ChecksumError, InvalidDataError, UnknownKeyError
from hsi_app.io.cube import make_cube
from hsi_app.io.open import open_cube
from hsi_app.io.quicklook import default_palette


@pytest.fixture(scope="module")
def envi_cube(envi_scene: Path):  # noqa: ANN201
    return open_cube(envi_scene)


@pytest.fixture(scope="module")
def envi_run(tmp_path_factory: pytest.TempPathFactory, random_run, envi_cube) -> Path:  # noqa: ANN001
    return random_run(tmp_path_factory.mktemp("runs") / "envi_tiny", envi_cube, num_classes=5)


def test_map_equals_the_model_applied_directly(tmp_path: Path, envi_cube, envi_run: Path) -> None:  # noqa: ANN001
    from hsi_app.predictor import Predictor

    seen: list[tuple[int, int]] = []
    cache = viewer.ModelCache()
    res = viewer.classify_scene(envi_cube, envi_run, tmp_path, cache=cache, progress=lambda d, t: seen.append((d, t)),
                                window=8)
    pred = Predictor.load(envi_run, device="cpu")
    image = np.asarray(envi_cube.values, dtype=np.float32)
    valid = np.asarray(envi_cube.hsi.valid.values, dtype=bool)
    image[:, ~valid] = np.nan
    probs = pred.bind(envi_cube)(image)
    expected = np.where(valid, probs.argmax(0) + 1, 0)
    np.testing.assert_array_equal(res.classes, expected)
    np.testing.assert_allclose(res.confidence[valid], probs.max(0)[valid], atol=0.5 / 255 + 1e-6)
    assert seen[-1][0] == seen[-1][1] == len(seen) == 9  # 24 x 20 px in 8-px windows: 3 x 3
    np.testing.assert_array_equal(res.counts, np.bincount(expected.ravel(), minlength=6))
    # 15 m UTM pixels: 225 m2, i.e. 0.0225 ha each
    assert res.pixel_area_m2 == pytest.approx(225.0)
    rows = viewer.area_rows(res)
    assert sum(r[2] for r in rows) == int(valid.sum())
    for name, colour, n, pct, ha in rows:
        assert ha == pytest.approx(n * 0.0225, rel=5e-4) and colour.startswith("#")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [c["pixels"] for c in metrics["classes"]] == [r[2] for r in rows]
    from hsi_app.io.cog import read_class_map

    saved = read_class_map(res.map_path)
    np.testing.assert_array_equal(saved.classes, res.classes)
    assert saved.crs == envi_cube.rio.crs


def test_reference_agreement_uses_scene_labels(tmp_path: Path, random_run) -> None:  # noqa: ANN001
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=(10, 12))
    cube = make_cube(rng.uniform(size=(6, 10, 12)).astype(np.float32), wavelength=np.linspace(450, 900, 6),
                     labels=labels, class_names=["unlabelled", "a", "b", "c"])
    run = random_run(tmp_path / "run", cube)
    res = viewer.classify_scene(cube, run, tmp_path / "out", cache=viewer.ModelCache())
    agree = res.metrics["reference_agreement"]
    sel = labels > 0
    assert agree["n_pixels"] == int(sel.sum())
    assert agree["oa"] == pytest.approx(float((res.classes[sel] == labels[sel]).mean()), abs=1e-6)
    from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score

    t, p = labels[sel], res.classes[sel]
    assert agree["kappa"] == pytest.approx(cohen_kappa_score(t, p), abs=1e-9)
    assert agree["aa"] == pytest.approx(balanced_accuracy_score(t, p), abs=1e-9)
    assert res.pixel_area_m2 is None and "pixels only" in res.area_note
    assert all(r[4] is None for r in viewer.area_rows(res))


def test_overlay_blends_only_classified_pixels() -> None:
    rgb = np.full((2, 2, 3), 100, dtype=np.uint8)
    classes = np.array([[0, 1], [2, 1]])
    pal = default_palette(3)
    np.testing.assert_array_equal(viewer.overlay(rgb, classes, pal, 0.0), rgb)
    full = viewer.overlay(rgb, classes, pal, 1.0)
    np.testing.assert_array_equal(full[0, 0], rgb[0, 0])
    np.testing.assert_array_equal(full[0, 1], pal[1])
    half = viewer.overlay(rgb, classes, pal, 0.5)
    np.testing.assert_array_equal(half[1, 0], np.round((100 + pal[2].astype(float)) / 2).astype(np.uint8))
    with pytest.raises(InvalidDataError):
        viewer.overlay(rgb, np.zeros((3, 3), int), pal, 0.5)


def test_legend_lists_present_classes_with_colours(tmp_path: Path, envi_cube, envi_run: Path) -> None:  # noqa: ANN001
    res = viewer.classify_scene(envi_cube, envi_run, tmp_path, cache=viewer.ModelCache())
    html = viewer.legend_html(res)
    present = [k for k in range(1, 6) if res.counts[k] > 0]
    assert html.count('class="hsi-legend-item"') == len(present)
    for k in present:
        assert res.class_names[k] in html and viewer.hex_colour(res.palette[k]) in html
    pick = viewer.pixel_prediction(res, 10, 10)
    assert pick["class_index"] == res.classes[10, 10] and pick["class"] == res.class_names[pick["class_index"]]
    assert viewer.pixel_prediction(res, 0, 0) == {"class": "no data", "class_index": 0, "confidence": 0.0}


def test_model_cache_reuses_and_evicts(tmp_path: Path, envi_cube, random_run) -> None:  # noqa: ANN001
    a = random_run(tmp_path / "a", envi_cube, num_classes=3)
    b = random_run(tmp_path / "b", envi_cube, num_classes=3)
    cache = viewer.ModelCache(capacity=1)
    first = cache.get(a)
    assert cache.get(a) is first and (cache.hits, cache.misses) == (1, 1)
    cache.get(b)
    assert len(cache) == 1
    assert cache.get(a) is not first and cache.misses == 3  # evicted, loaded again
    weights = a / "model.safetensors"
    st = weights.stat()
    os.utime(weights, (st.st_atime, st.st_mtime + 10))  # a retrained run is reloaded
    assert cache.get(a) is not first and cache.misses == 4


def test_model_listing_and_manifest_check(tmp_path: Path, envi_cube, random_run) -> None:  # noqa: ANN001
    models, runs = tmp_path / "models", tmp_path / "runs"
    random_run(models / "m1", envi_cube, num_classes=3)
    random_run(runs / "exp" / "r1", envi_cube, num_classes=3)
    random_run(runs / "den", envi_cube, num_classes=3, task="denoising")
    tuned = runs / "tuned"  # an `hsi finetune` folder: config.json and a LoRA adapter, no model.safetensors
    shutil.copytree(runs / "exp" / "r1", tuned)
    (tuned / "model.safetensors").rename(tuned / "adapter.safetensors")
    cfg = viewer.ViewerConfig(models_dir=models, runs_dir=runs)
    assert set(viewer.list_model_runs(cfg)) == {"models/m1", "runs/exp/r1", "runs/tuned"}
    assert "runs/tuned" not in viewer.list_model_runs(cfg, "denoise")
    shutil.rmtree(tuned)
    with pytest.raises(UnknownKeyError, match="available: models/m1"):
        viewer.resolve_model("../../etc", cfg)
    from hsi_app.viewer.models import write_manifest

    manifest = json.loads(write_manifest(models).read_text())
    assert set(manifest["models"]["m1"]["sha256"]) == {"config.json", "model.safetensors"}
    viewer.ModelCache().get(models / "m1")  # matches
    weights = models / "m1" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(ChecksumError, match="sha256 differs"):
        viewer.ModelCache().get(models / "m1")


def test_shipped_models_match_their_manifest() -> None:
    from hsi_app.viewer.config import default_models_dir

    runs = viewer.list_model_runs(viewer.ViewerConfig(models_dir=default_models_dir()))
    assert "models/indian_pines_ssfcn_small" in runs
    for run in runs.values():
        viewer.verify_manifest(run)
        assert (run / "MODEL_CARD.md").is_file()
        assert (run / "model.safetensors").stat().st_size < 5 * 1024**2


def test_session_flow_points_download(tmp_path: Path, envi_scene: Path, envi_run: Path) -> None:
    import geopandas as gpd

    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=envi_run.parent, models_dir=tmp_path)
    s = viewer.ViewerSession(config=cfg)
    try:
        with pytest.raises(InvalidDataError, match="no scene"):
            viewer.render(s)
        viewer.open_scene(s, envi_scene.name)
        with pytest.raises(InvalidDataError, match="no map yet"):
            viewer.map_download(s)
        viewer.classify(s, "runs/envi_tiny", cache=viewer.ModelCache())
        scale = s.scale
        info = viewer.select_pixel(s, [7 * scale + 1, 3 * scale + 1])  # [x, y] -> row 3, col 7
        assert (info["row"], info["col"]) == (3, 7) and info["prediction"]["class_index"] == s.result.classes[3, 7]
        viewer.select_row_col(s, 10, 12)
        gdf = gpd.read_file(viewer.points_download(s))
        assert len(gdf) == 2 and gdf.crs is not None
        cube = s.cube
        assert gdf.geometry.x.iloc[0] == pytest.approx(float(cube.x.values[7]))
        assert gdf.geometry.y.iloc[1] == pytest.approx(float(cube.y.values[10]))
        assert list(gdf["class"]) == [s.result.class_names[s.result.classes[3, 7]],
                                      s.result.class_names[s.result.classes[10, 12]]]
        img = viewer.render(s, 1.0)
        assert img.shape == (24 * scale, 20 * scale, 3)
        map_path, metrics_path = viewer.map_download(s)
        assert map_path.is_file() and metrics_path.is_file()
    finally:
        s.close()
    assert not s.workdir.exists()


def test_hectares_of_fine_pixels_are_pixels_times_their_area(tmp_path: Path) -> None:
    """A drone scene's 4.3 cm pixels (WHU-Hi-HongHu): 1000 pixels are 1.849 m², 0.0001849 ha, not "0 ha"; the
    legend, the table and metrics.json agree with pixels × pixel area."""
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    cube = make_cube(np.ones((3, 40, 50), np.float32), crs=CRS.from_epsg(32650),
                     transform=from_origin(500_000, 3_400_000, 0.043, 0.043))
    classes = np.ones((40, 50), np.uint8)
    classes[:20] = 2  # 1000 px each
    classes[0, :3] = 3  # 3 px
    counts = np.bincount(classes.ravel(), minlength=4)
    area, _ = viewer.pixel_area(cube)
    res = viewer.ClassifyResult(classes=classes, confidence=np.ones(classes.shape, np.float32),
                                class_names=["unlabelled", "a", "b", "c"], palette=np.zeros((4, 3), np.uint8),
                                counts=counts, pixel_area_m2=area, area_note="", map_path=tmp_path / "map.tif",
                                model="m", seconds=0.0)
    rows = viewer.area_rows(res)
    assert area == pytest.approx(0.043**2)
    for (name, _, n, _, ha), k in zip(rows, (1, 2, 3)):
        assert n == counts[k] and ha == pytest.approx(n * 0.043**2 / 1e4, rel=5e-4), name
    assert "0.0001849 ha" in viewer.legend_html(res) and "5.547e-07 ha" in viewer.legend_html(res)
    metrics = viewer.scene_metrics(res, cube)
    assert [c["hectares"] for c in metrics["classes"]] == pytest.approx([n * 0.043**2 / 1e4 for n in counts[1:]],
                                                                        rel=1e-9)
    big = viewer.ClassifyResult(**{**res.__dict__, "pixel_area_m2": 900.0})  # 30 m pixels: to 0.01 ha as before
    assert [r[4] for r in viewer.area_rows(big)] == [round(n * 0.09, 2) for n in counts[1:]]


def test_pixel_area_agrees_with_hsi_evaluate_and_corrects_web_mercator() -> None:
    """The viewer's hectares use the same pixel area as `hsi evaluate` / `hsi vectorize`."""
    import math

    from pyproj import Transformer
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    data = np.ones((3, 4, 4), np.float32)
    utm = make_cube(data, crs=CRS.from_epsg(32633), transform=from_origin(500_000, 5_000_000, 30, 30))
    area, note = viewer.pixel_area(utm)
    assert area == pytest.approx(900.0) and "EPSG:32633" in note
    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(10.0, 50.0)
    merc = make_cube(data, crs=CRS.from_epsg(3857), transform=from_origin(x - 60, y + 60, 30, 30))
    area, note = viewer.pixel_area(merc)
    assert area == pytest.approx(900 * math.cos(math.radians(50)) ** 2, rel=0.01)  # not the 900 m² of map units
    assert "does not keep area" in note
    geo = make_cube(data, crs=CRS.from_epsg(4326), transform=from_origin(10, 50, 0.001, 0.001))
    from pyproj import Geod  # a pixel in degrees: its ground area on WGS 84 (the centre pixel, row 2 col 2)

    lon, lat = [10.002, 10.003, 10.003, 10.002], [49.998, 49.998, 49.997, 49.997]
    assert viewer.pixel_area(geo)[0] == pytest.approx(abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0]),
                                                      rel=1e-6)


def test_an_ensemble_folder_is_offered_and_maps_the_mean_of_its_members(tmp_path: Path, envi_cube,  # noqa: ANN001
                                                                         random_run) -> None:  # noqa: ANN001
    import torch
    from safetensors.torch import load_file, save_file

    from hsi_app.ensemble import write_ensemble
    from hsi_app.errors import ModelLoadError
    from hsi_app.predictor import Predictor

    runs = tmp_path / "runs"
    a = random_run(runs / "a", envi_cube, num_classes=3)
    b = random_run(runs / "b", envi_cube, num_classes=3)
    weights = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
               for k, v in load_file(str(b / "model.safetensors")).items()}
    save_file(weights, str(b / "model.safetensors"))  # random_run seeds every run alike: make b differ
    write_ensemble(runs / "ens", [a, b])
    cfg = viewer.ViewerConfig(runs_dir=runs)
    assert set(viewer.list_model_runs(cfg)) == {"runs/a", "runs/b", "runs/ens"}
    assert "runs/ens" not in viewer.list_model_runs(cfg, task="denoise")
    cache = viewer.ModelCache()
    res = viewer.classify_scene(envi_cube, viewer.resolve_model("runs/ens", cfg), tmp_path / "out", cache=cache)
    image = np.asarray(envi_cube.values, dtype=np.float32)
    valid = np.asarray(envi_cube.hsi.valid.values, dtype=bool)
    image[:, ~valid] = np.nan
    pa, pb = (Predictor.load(r, device="cpu").bind(envi_cube)(image) for r in (a, b))
    assert not np.allclose(pa, pb)
    np.testing.assert_array_equal(res.classes, np.where(valid, ((pa + pb) / 2).argmax(0) + 1, 0))
    # retraining a member reloads the ensemble, which then refuses the changed member
    st = (b / "model.safetensors").stat()
    save_file({k: v * 1.01 if v.is_floating_point() else v for k, v in weights.items()}, str(b / "model.safetensors"))
    os.utime(b / "model.safetensors", (st.st_atime, st.st_mtime + 10))
    with pytest.raises(ModelLoadError, match="changed since the ensemble was written"):
        cache.get(runs / "ens")
    with pytest.raises(ModelLoadError, match="ensemble of classifiers"):
        cache.get(runs / "ens", task="denoise")


def test_agreement_of_uint8_classes_above_sixteen_does_not_wrap() -> None:
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    from hsi_app.viewer.classify import agreement

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 20, 500).astype(np.uint8)
    pred = np.where(rng.random(500) < 0.7, truth, rng.integers(0, 20, 500)).astype(np.uint8)
    got = agreement(truth, pred, 20)
    assert got["oa"] == pytest.approx(accuracy_score(truth, pred))
    assert got["kappa"] == pytest.approx(cohen_kappa_score(truth, pred))


def _labelled_result(labels: np.ndarray, scene_names: list[str], run_names: list[str],
                     to_run: dict[int, int]) -> tuple:
    """A scene with ``labels`` named ``scene_names`` and a map that relabels each label id with ``to_run``."""
    cube = make_cube(np.ones((3, *labels.shape), np.float32), wavelength=np.linspace(450, 900, 3),
                     labels=labels, class_names=scene_names)
    classes = np.vectorize(lambda v: to_run.get(int(v), 0))(labels).astype(np.uint8)
    counts = np.bincount(classes.ravel(), minlength=len(run_names))
    res = viewer.ClassifyResult(classes=classes, confidence=np.ones(classes.shape, np.float32),
                                class_names=run_names, palette=default_palette(len(run_names)), counts=counts,
                                pixel_area_m2=None, area_note="", map_path=Path("map.tif"), model="m", seconds=0.0)
    return res, cube


def test_reference_agreement_matches_classes_by_name_not_by_number() -> None:
    labels = np.array([[1, 1, 2, 2, 3, 3], [1, 2, 3, 1, 2, 3], [3, 3, 3, 2, 1, 1]])
    # the run numbers the same three classes the other way round; every pixel is right by name
    res, cube = _labelled_result(labels, ["unlabelled", "water", "forest", "urban"],
                                 ["unlabelled", "Urban", "forest", "WATER"], {1: 3, 2: 2, 3: 1})
    agree = viewer.scene_metrics(res, cube)["reference_agreement"]
    assert agree["n_pixels"] == 18
    assert agree["oa"] == 1.0 and agree["aa"] == 1.0 and agree["kappa"] == 1.0
    assert agree["per_class_accuracy"] == [1.0, 1.0, 1.0]
    assert agree["class_names"] == ["Urban", "forest", "WATER"]
    assert viewer.agreement_status(viewer.scene_metrics(res, cube)).startswith(
        "agreement with the scene's labels: OA 100.0 %, kappa 1.000 (18 labelled pixels")


def test_reference_agreement_counts_label_classes_the_model_lacks_as_errors() -> None:
    labels = np.array([[1, 1, 2, 2], [3, 3, 3, 3]])
    # "urban" (4 px) is not one of the run's classes: 4 right (water, forest) out of 8
    res, cube = _labelled_result(labels, ["unlabelled", "water", "forest", "urban"],
                                 ["unlabelled", "forest", "water"], {1: 2, 2: 1, 3: 1})
    agree = viewer.scene_metrics(res, cube)["reference_agreement"]
    assert agree["oa"] == 0.5 and agree["class_names"] == ["forest", "water", "urban"]
    assert agree["per_class_accuracy"] == [1.0, 1.0, 0.0]


def test_no_reference_agreement_when_no_class_name_matches() -> None:
    labels = np.array([[1, 2, 3], [3, 2, 1]])
    res, cube = _labelled_result(labels, ["unlabelled", "water", "forest", "urban"],
                                 ["unlabelled", "Brocoli", "Celery", "Vinyard"], {1: 1, 2: 2, 3: 3})
    metrics = viewer.scene_metrics(res, cube)
    assert "reference_agreement" not in metrics
    note = metrics["reference_agreement_note"]
    assert note.startswith("not compared with the scene's labels") and "water" in note and "Brocoli" in note
    assert viewer.agreement_status(metrics) == note


def test_metrics_of_an_upload_name_the_uploaded_file(tmp_path: Path, random_run) -> None:  # noqa: ANN001
    import rasterio
    from rasterio.transform import from_origin

    upload = tmp_path / "gradio" / "field 2024-06.tif"
    upload.parent.mkdir()
    data = np.random.default_rng(3).uniform(0.1, 0.5, size=(4, 6, 7)).astype(np.float32)
    with rasterio.open(upload, "w", driver="GTiff", height=6, width=7, count=4, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000, 4200000, 30, 30)) as ds:
        ds.write(data)
    runs = tmp_path / "runs"
    random_run(runs / "tiny", open_cube(upload), num_classes=2)
    session = viewer.ViewerSession(config=viewer.ViewerConfig(runs_dir=runs))
    try:
        viewer.open_upload(session, upload, name="field 2024-06.tif")
        viewer.classify(session, "runs/tiny", cache=viewer.ModelCache())
        metrics = json.loads(viewer.map_download(session)[1].read_text())
        assert metrics["scene"] == "field 2024-06.tif"  # not the staged copy, scene.tif
    finally:
        session.close()
