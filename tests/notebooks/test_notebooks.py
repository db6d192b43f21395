"""Execute the tutorial notebooks in fast mode (``HSI_FAST=1``: crops, tiny model, 2 epochs).

Outputs go to a temporary folder (``HSI_NB_OUT``); the notebooks on disk are not modified,
and the test also checks that they are committed without outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 600


def _execute(nb: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Run ``nb`` in fast mode in ``tmp_path``; its outputs, errors included (none raised here)."""
    monkeypatch.setenv("HSI_FAST", "1")
    monkeypatch.setenv("HSI_NB_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # figures become outputs
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _errors(outputs: list[dict]) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.output_type == "error"]


def _warnings(outputs: list[dict]) -> list[str]:
    """Lines of Python warnings (``path:line: SomeWarning: text``) in the stderr outputs."""
    import re

    text = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    return [line for line in text.splitlines() if re.search(r"\b\w*Warning: ", line)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HSI_NB_SCENE", raising=False)   # the built-in Indian Pines, whatever the shell says
    monkeypatch.delenv("HSI_NB_LABELS", raising=False)
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name}: no code cells"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
        f"{path.name}: commit notebooks without outputs (jupyter nbconvert --clear-output --inplace)")
    imports = [line.split()[1] for c in code for line in c.source.splitlines()
               if line.startswith(("import ", "from "))]
    assert {m.split(".")[0] for m in imports} <= {"os", "pathlib", "shlex", "numpy", "matplotlib", "hsi_app"}, imports
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs)
    assert not [o for o in outputs if o.get("name") == "stderr" and "IProgress" in o.get("text", "")]
    assert not _warnings(outputs), f"{path.name} prints warnings (a misuse of the API it teaches): {_warnings(outputs)}"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{path.name}: expected figures, got {len(images)}"


def test_explore_notebook_on_an_unlabelled_georeferenced_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 01 invites a swap to one's own GeoTIFF: without labels it skips the class means with a
    line instead of a TypeError (the other cells, map-coordinate axes included, run as well), and its
    PCA and band statistics keep to the valid pixels (a no-data strip stopped the SVD before)."""
    import sys

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tif_writer import write_tif

    rng = np.random.default_rng(0)
    values = rng.uniform(0.0, 0.5, (40, 30, 36)).astype(np.float32)
    values[:, :4, :] = np.nan   # a no-data strip along the top, as at a swath edge: the PCA skips it
    scene = write_tif(tmp_path / "scene.tif", values, np.linspace(400.0, 2500.0, 40))  # EPSG:32616, 30 m, no labels
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    monkeypatch.setenv("HSI_NB_SCENE", str(scene))   # what SCENE = ... in the first cell reads
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    printed = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    assert "this scene has no labels: no class means" in printed
    assert f"{26 * 36} valid pixels of {30 * 36}, 40 of 40 bands" in printed   # the band statistics skip the strip
    assert f"variance explained by PC1..PC5 ({26 * 36} valid pixels, 40 bands)" in printed


def test_landcover_notebook_on_a_georeferenced_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 02 on a labelled scene with a map grid (up to its polygons): the maps it writes carry the
    scene's CRS and transform, the polygons its CRS, and its map figure has axes in map units."""
    import sys

    import geopandas as gpd
    import numpy as np
    import rasterio

    from hsi_app.io import open_cube

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tif_writer import UTM_30M, write_tif

    ip = open_cube("indian_pines").hsi.window(0, 0, 64, 64)
    scene = write_tif(tmp_path / "scene.tif", np.asarray(ip.values, dtype=np.float32), ip.hsi.wavelengths)
    ids = np.unique(ip.hsi.labels, return_inverse=True)[1].reshape(ip.hsi.labels.shape)  # 1..K as a user's labels
    np.save(tmp_path / "labels.npy", ids.astype(np.uint8))  # (a corner's ids 2, 3, 4, 5, 6, 9... would be warned about)
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    last = [i for i, c in enumerate(nb.cells) if "vectorize_map(" in c.source and c.cell_type == "code"]
    maps = [i for i, c in enumerate(nb.cells) if "viewer.classify_scene(cube, run_dir, OUT / \"landcover_map\")" in c.source]
    assert len(last) == 1 and len(maps) == 1, "notebook 02: one map cell and one vectorize_map cell"
    probe = nbformat.v4.new_code_cell('print("AXES", [ax.get_xlabel() for ax in fig.axes[:3]], tuple(map(float, fig.axes[1].get_xlim())))')
    nb.cells = nb.cells[:maps[0] + 1] + [probe] + nb.cells[maps[0] + 1:last[0] + 1]   # no second run, ensemble, student
    monkeypatch.setenv("HSI_NB_SCENE", str(scene))
    monkeypatch.setenv("HSI_NB_LABELS", str(tmp_path / "labels.npy"))
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    assert not _warnings(outputs), _warnings(outputs)
    out = tmp_path / "out"
    for path in (out / "landcover_run" / "map.tif", out / "landcover_map" / "map.tif"):
        with rasterio.open(path) as ds:
            assert ds.crs == rasterio.crs.CRS.from_epsg(32616), (path, ds.crs)
            assert ds.transform.almost_equals(UTM_30M), (path, ds.transform)
    polygons = gpd.read_file(out / "landcover.gpkg")
    assert polygons.crs.to_epsg() == 32616
    x0, y0, x1, y1 = polygons.total_bounds   # inside the scene's 64 x 64 pixels of 30 m
    assert UTM_30M.c <= x0 < x1 <= UTM_30M.c + 64 * 30 and UTM_30M.f - 64 * 30 <= y0 < y1 <= UTM_30M.f
    printed = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    axes = [line for line in printed.splitlines() if line.startswith("AXES")]
    assert len(axes) == 1 and axes[0].count("EPSG:32616") == 3, axes
    assert f"({UTM_30M.c:.1f}, {UTM_30M.c + 64 * 30:.1f})" in axes[0], axes   # x limits: the scene's edges in metres


def _stdout(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")


def _probe_after(nb: object, marker: str, code: str) -> None:
    """Insert a code cell ``code`` after the one code cell whose source holds ``marker``."""
    at = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and marker in c.source]
    assert len(at) == 1, f"one code cell holds {marker!r}"
    nb.cells.insert(at[0] + 1, nbformat.v4.new_code_cell(code))


def test_explore_notebook_on_a_scene_without_wavelengths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GeoTIFF without wavelength tags: the band plots use band numbers (they were empty, every x NaN), the
    composite is not called true colour, and no band is called NIR (band 1 was)."""
    import sys

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tif_writer import write_tif

    rng = np.random.default_rng(1)
    scene = write_tif(tmp_path / "no_wavelengths.tif", rng.uniform(0.0, 0.5, (30, 24, 20)).astype(np.float32))
    monkeypatch.setenv("HSI_NB_SCENE", str(scene))
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    _probe_after(nb, "false colour", 'print("RGB", [ax.get_title() for ax in fig.axes], [ax.get_visible() and ax.axison for ax in fig.axes])')
    _probe_after(nb, "mean / std across pixels", 'print("STATS", fig.axes[0].get_xlabel(), tuple(round(float(v)) for v in fig.axes[0].get_xlim()))')
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    printed = _stdout(outputs)
    assert "**no_wavelengths.tif**: 24 × 20 px, 30 bands (unknown wavelengths" in printed
    rgb = next(line for line in printed.splitlines() if line.startswith("RGB"))
    assert "not true colour" in rgb and "NIR" not in rgb and "[True, False]" in rgb, rgb
    stats = next(line for line in printed.splitlines() if line.startswith("STATS"))
    lo, hi = (float(v) for v in stats.rsplit("(", 1)[1].rstrip(")").split(","))
    assert stats.startswith("STATS band ") and lo <= 1 and hi >= 30, stats   # bands 1..30 on the x axis


def test_explore_notebook_on_an_enmap_product(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An EnMAP L2A product: its cloud, haze, snow... pixels count as no data (they dominated the PCA and the
    stretch), the pixel spectrum is one with data, and the composite is true colour."""
    import sys

    import numpy as np

    from hsi_app.io import open_cube

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fixture_loader import fixture_module

    product = fixture_module("enmap_l2a").make(tmp_path, height=40, width=30)
    cube = open_cube(product)
    flagged = np.zeros(cube.hsi.shape[1:], bool)
    for name, mask in cube.hsi.masks.items():
        if name != "defective":
            flagged |= np.asarray(mask.values, dtype=bool)
    clear = int((np.asarray(cube.hsi.valid.values, dtype=bool) & ~flagged).sum())
    assert 0 < clear < int(np.asarray(cube.hsi.valid.values).sum())   # the fixture has a cloud
    monkeypatch.setenv("HSI_NB_SCENE", str(product))
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    _probe_after(nb, "viewer.spectrum_figure(", 'print("PIXEL", bool(cube.hsi.valid.values[row, col]))')
    _probe_after(nb, "false colour", 'print("RGB", [ax.get_title() for ax in fig.axes])')
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    printed = _stdout(outputs)
    assert f"{clear} valid pixels of {40 * 30}" in printed
    assert "PIXEL True" in printed   # the spectrum figure shows a pixel with data
    rgb = next(line for line in printed.splitlines() if line.startswith("RGB"))
    assert "'true colour: bands" in rgb and "NIR" in rgb, rgb


def test_landcover_notebook_on_a_geotiff_with_polygon_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 02 with LABELS = polygons of named classes, some of them outside the fast-mode crop: the
    SVM baseline cell maps the scene (it stopped with 'prob_fn returned shape (7, 64, 64)... K = 9')."""
    import sys

    import geopandas as gpd
    import numpy as np
    import rasterio.features
    from shapely.geometry import shape

    from hsi_app.io import open_cube

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tif_writer import UTM_30M, write_tif

    ip = open_cube("indian_pines").hsi.window(40, 40, 80, 80)
    scene = write_tif(tmp_path / "scene.tif", np.asarray(ip.values, dtype=np.float32), ip.hsi.wavelengths)
    labels = np.asarray(ip.hsi.labels, dtype=np.int32)
    names = ip.hsi.class_names
    shapes = list(rasterio.features.shapes(labels, mask=labels > 0, transform=UTM_30M))
    polygons = gpd.GeoDataFrame({"class": [names[int(v)] for _, v in shapes]},
                                geometry=[shape(g) for g, _ in shapes], crs="EPSG:32616")
    polygons.to_file(tmp_path / "fields.gpkg", driver="GPKG")
    in_crop = {names[int(v)] for v in np.unique(labels[:64, :64]) if v}
    assert len(in_crop) < polygons["class"].nunique(), "some classes lie outside the fast-mode crop"
    monkeypatch.setenv("HSI_NB_SCENE", str(scene))
    monkeypatch.setenv("HSI_NB_LABELS", str(tmp_path / "fields.gpkg"))
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    svm = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "svm_options" in c.source]
    assert len(svm) == 1
    nb.cells = nb.cells[:svm[0] + 1]
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    printed = _stdout(outputs)
    assert f"{polygons['class'].nunique()} reference classes" in printed
    svm_line = [line for line in printed.splitlines() if line.startswith("svm ")]
    assert len(svm_line) == 1, printed
    with rasterio.open(tmp_path / "out" / "landcover_svm" / "map.tif") as ds:
        assert ds.crs.to_epsg() == 32616 and ds.transform.almost_equals(UTM_30M)


def test_landcover_notebook_without_labels_stops_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 02 on a scene without labels stops at the cell that opens it with a line naming LABELS (the old
    cells went on to a LabelError in train_classifier that named CLI options, then a NameError per cell)."""
    import sys

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tif_writer import write_tif

    scene = write_tif(tmp_path / "scene.tif", np.ones((10, 8, 8), np.float32), np.linspace(450.0, 900.0, 10))
    monkeypatch.setenv("HSI_NB_SCENE", str(scene))
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    outputs = _execute(nb, tmp_path, monkeypatch)
    errors = _errors(outputs)
    assert errors and errors[0].startswith("LabelError: ") and "set LABELS in the first cell" in errors[0], errors
    assert str(scene) in errors[0]


@pytest.mark.slow   # about a minute
def test_landcover_notebook_on_a_scaled_int16_scene_with_nodata_and_polygons_in_another_crs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 02 on an int16 GeoTIFF (scale 1e-4, no-data -9999 along a swath edge, no wavelength tags) with
    reference polygons in EPSG:4326 that run over the edge: the labelled pixels on no-data are said in one
    printed line (a SplitWarning printed by the training cell before), the edge stays no-data in the maps,
    the areas count the mapped pixels at 30 m, the run's OA is that of its map on its test pixels, and the
    composite is not called true colour (it was, for a scene without wavelengths)."""
    import json
    import sys

    import geopandas as gpd
    import numpy as np
    import rasterio
    import rasterio.features
    from shapely.geometry import shape

    from hsi_app.data.splits import Split

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tif_writer import UTM_30M

    rng = np.random.default_rng(3)
    labels = np.zeros((32, 32), np.int32)
    labels[2:14, 0:14], labels[18:30, 0:12], labels[4:28, 18:30] = 1, 2, 3   # fields 1 and 2 cross the edge
    means = np.array([[800, 900, 700, 3000, 3200, 2000], [1200, 1400, 1500, 1800, 1900, 2500],
                      [500, 600, 500, 400, 350, 300], [900, 1000, 1000, 1500, 1600, 1700]], float)
    raw = means[labels].transpose(2, 0, 1) + rng.normal(0.0, 40.0, (6, 32, 32))
    raw = np.round(raw).astype(np.int16)
    edge = np.zeros((32, 32), bool)
    edge[:, :4] = True   # no data in every band: the swath edge
    raw[:, edge] = -9999
    scene = tmp_path / "scaled.tif"
    with rasterio.open(scene, "w", driver="GTiff", height=32, width=32, count=6, dtype="int16", crs="EPSG:32616",
                       transform=UTM_30M, nodata=-9999) as ds:
        ds.write(raw)
        ds.scales, ds.offsets = (1e-4,) * 6, (0.0,) * 6
    names = {1: "maize", 2: "wheat", 3: "water"}
    shapes = list(rasterio.features.shapes(labels, mask=labels > 0, transform=UTM_30M))
    fields = gpd.GeoDataFrame({"class": [names[int(v)] for _, v in shapes]}, geometry=[shape(g) for g, _ in shapes],
                              crs="EPSG:32616").to_crs("EPSG:4326")
    fields.to_file(tmp_path / "fields.gpkg", driver="GPKG")
    monkeypatch.setenv("HSI_NB_SCENE", str(scene))
    monkeypatch.setenv("HSI_NB_LABELS", str(tmp_path / "fields.gpkg"))
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    last = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "viewer.area_rows(result)" in c.source]
    assert len(last) == 1
    nb.cells = nb.cells[:last[0] + 1]   # up to the areas: no SVM baseline check, smoothing or second run here
    _probe_after(nb, "viewer.area_rows(result)",
                 'print("AREA", sum(r[2] for r in viewer.area_rows(result)), round(sum(r[4] for r in viewer.area_rows(result)), 2))')
    _probe_after(nb, "viewer.classify_scene(cube, run_dir", 'print("TITLE", axes[0].get_title())')
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    assert not _warnings(outputs), _warnings(outputs)
    printed = _stdout(outputs)
    assert f"{int((labels[edge] > 0).sum())} labelled pixels lie on no-data and are not used" in printed, printed
    title = next(line for line in printed.splitlines() if line.startswith("TITLE"))
    assert "not true colour" in title, title
    n_data = int((~edge).sum())
    assert f"AREA {n_data} {n_data * 0.09:.2f}" in printed, printed   # 30 m pixels: 0.09 ha each
    out = tmp_path / "out"
    test = np.asarray(Split.load(out / "landcover_run" / "split.npz").test)
    assert not (test[edge] > 0).any()
    for path in (out / "landcover_run" / "map.tif", out / "landcover_map" / "map.tif"):
        with rasterio.open(path) as ds:
            assert ds.crs.to_epsg() == 32616 and ds.transform.almost_equals(UTM_30M), path
            classes, tag = ds.read(1), ds.tags()["CLASS_NAMES"]
        assert (classes[edge] == 0).all() and (classes[~edge] > 0).all(), path
        assert sorted(json.loads(tag)[1:]) == sorted(names.values()), tag   # the class names of the polygons
    oa = float((classes[test > 0] == test[test > 0]).mean())
    assert f"OA {100 * oa:.2f} %" in printed, printed


def test_denoise_detect_notebook_on_an_envi_scene_without_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 03 on a 50-band ENVI pair (wavelengths in µm, water-vapour bands flagged bad, a no-data corner),
    without labels: denoising runs on the good bands and scores the pixels with data (PCA refused the NaN
    before), detection runs RX alone (a TypeError on the missing class names before) and writes its points in
    the scene's CRS."""
    import sys

    import geopandas as gpd

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fixture_loader import fixture_module

    envi = fixture_module("envi")
    hdr = envi.make(tmp_path, units="um", lines=32, samples=28)
    monkeypatch.setenv("HSI_NB_SCENE", str(hdr))
    nb = nbformat.read(NOTEBOOKS[2], as_version=4)
    _probe_after(nb, "clean = (image - lo) / (hi - lo)", 'print("GOOD", image.shape[0], int(measured.sum()))')
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    printed = _stdout(outputs)
    good_bands = int(envi.truth(0, 32, 28).bbl.sum())
    corner = sum(1 for r in range(32) for c in range(28) if r + c < envi.CORNER)
    assert f"GOOD {good_bands} {32 * 28 - corner - 1}" in printed   # the corner and the one pixel with a gap
    for name in ("noisy input", "PCA (8 components)", "MNF (8 components)"):
        line = next(line for line in printed.splitlines() if line.startswith(name))
        assert "nan" not in line, line
    assert "RX scores only" in printed
    points = gpd.read_file(tmp_path / "out" / "rx_points.gpkg")
    assert len(points) > 0 and points.crs.to_epsg() == 32611


def test_denoise_detect_notebook_scores_only_pixels_with_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 03 on a labelled EnMAP product with a cloud: the AUROC's target and background pixels are pixels
    with data (the cloud's masked pixels were counted and scored as targets and background)."""
    import sys

    import numpy as np

    from hsi_app.io import open_cube

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fixture_loader import fixture_module

    product = fixture_module("enmap_l2a").make(tmp_path, height=40, width=30)
    cube = open_cube(product).hsi.without_masked(["all"])
    masked = ~np.asarray(cube.hsi.valid.values, dtype=bool)
    labels = np.ones(masked.shape, np.uint8)            # class 1 everywhere, class 2 a block across the cloud's edge
    rows, cols = np.nonzero(masked)
    r, c = int(np.median(rows)), int(np.median(cols))
    labels[max(r - 8, 0):r + 8, max(c - 8, 0):c + 8] = 2
    assert masked[labels == 2].any() and (~masked[labels == 2]).sum() >= 20
    np.save(tmp_path / "labels.npy", labels)
    monkeypatch.setenv("HSI_NB_SCENE", str(product))
    monkeypatch.setenv("HSI_NB_LABELS", str(tmp_path / "labels.npy"))
    nb = nbformat.read(NOTEBOOKS[2], as_version=4)
    _probe_after(nb, "pixel_auroc(res.scores[0]", 'print("NODATA SCORED", int((scored & ~measured).sum()), int((truth & ~measured).sum()))')
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    printed = _stdout(outputs)
    assert "NODATA SCORED 0 0" in printed, printed
    assert "ace  pixel AUROC for class 2" in printed   # integer labels without names: 'class K'


@pytest.mark.parametrize("layout", ["road", "tiny"])
def test_denoise_detect_notebook_on_small_or_narrow_label_classes(layout: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Review 4 #1: a 12-pixel road mostly in one column took its target spectrum from no pixel (``cols <
    median``: empty) and stopped on NaN spectra with a CLI hint; labels whose classes all have under 10 pixels
    stopped on ``min() arg is an empty sequence``. The road now gives half its pixels; tiny classes give RX
    alone, with one line saying why."""
    import sys

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tif_writer import write_tif

    rng = np.random.default_rng(2)
    data = rng.uniform(0.1, 0.4, (12, 30, 26)).astype(np.float32)
    labels = np.zeros((30, 26), np.uint8)
    if layout == "road":
        labels[2:10, 5], labels[2:6, 6] = 1, 1   # 8 pixels in column 5, 4 in column 6: the median column is 5
        data[:, labels == 1] += 0.3
    else:
        labels[0:3, 0:3], labels[20:22, 20:23] = 1, 2   # 9 and 6 pixels
    scene = write_tif(tmp_path / "field.tif", data, np.linspace(450, 2400, 12))
    np.save(tmp_path / "labels.npy", labels)
    monkeypatch.setenv("HSI_NB_SCENE", str(scene))
    monkeypatch.setenv("HSI_NB_LABELS", str(tmp_path / "labels.npy"))
    outputs = _execute(nbformat.read(NOTEBOOKS[2], as_version=4), tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    printed = _stdout(outputs)
    if layout == "road":
        assert "target spectrum: mean of 6 class 1 pixels; scored: 6 other class 1 pixels" in printed, printed
        assert "ace  pixel AUROC for class 1" in printed
    else:
        assert "no labelled class with 10 pixels with data: RX scores only" in printed, printed


def test_cross_sensor_notebook_says_it_does_not_use_a_users_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 04 runs on Indian Pines only: with HSI_NB_SCENE set (as for 01-03) its first cell says the scene is
    not used (it ran on Indian Pines without a word)."""
    monkeypatch.setenv("HSI_NB_SCENE", str(tmp_path / "my_enmap_scene"))
    nb = nbformat.read(NOTEBOOKS[3], as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells = nb.cells[:first + 1]
    outputs = _execute(nb, tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    assert "HSI_NB_SCENE is not used by this notebook: it runs on Indian Pines" in _stdout(outputs)


@pytest.mark.slow   # the whole notebook, about two minutes
def test_cross_sensor_notebook_prints_a_predict_command_that_maps_the_region(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook 04's 'Use the adapter' command named ``--input SCENE``, and the adapter reads only EnMAP-like bands in
    Indian Pines' units (a real EnMAP L2A product is refused): it now writes the held-out region and names that file,
    which the adapter maps as the LoRA arm's own map."""
    import re
    import shlex

    import numpy as np

    from hsi_app.ensemble import load_classifier
    from hsi_app.errors import HSIWarning
    from hsi_app.infer import predict_scene
    from hsi_app.io import open_cube
    from hsi_app.io.cog import read_class_map

    monkeypatch.delenv("HSI_NB_SCENE", raising=False)
    monkeypatch.delenv("HSI_NB_LABELS", raising=False)
    outputs = _execute(nbformat.read(NOTEBOOKS[3], as_version=4), tmp_path, monkeypatch)
    assert not _errors(outputs), _errors(outputs)
    assert not _warnings(outputs), _warnings(outputs)
    command = re.search(r"^hsi predict .*$", _stdout(outputs), re.MULTILINE)
    assert command, _stdout(outputs)
    words = shlex.split(command.group(0))   # as a shell reads it: the paths are quoted
    assert words[:3] == ["hsi", "predict", "--model"] and words[4] == "--input" and words[6:] == ["--out", "map.tif"]
    lora, region = Path(words[3]), Path(words[5])
    assert region.is_file(), region
    with pytest.warns(HSIWarning, match="no georeference"):   # Indian Pines has no CRS: nor has the region
        cube = open_cube(region)
    res = predict_scene(load_classifier(lora, device="cpu").bind(cube), cube, out=tmp_path / "map.tif")
    ours = read_class_map(tmp_path / "map.tif").classes
    arm = read_class_map(lora / "map.tif").classes   # the map the LoRA arm was scored on
    assert ours.shape == arm.shape and res is not None
    assert np.array_equal(ours, arm)


def test_cross_sensor_predict_command_quotes_an_output_folder_with_spaces(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Notebook 04's 'Use the adapter' cell printed its paths bare: with ``HSI_NB_OUT`` holding a space the command
    split into other words in a shell. The cell alone, on a tiny cube, must print paths a shell reads back whole."""
    import shlex
    import types

    import numpy as np

    from hsi_app.io.cube import make_cube

    nb = nbformat.read(NOTEBOOKS[3], as_version=4)
    heading = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Use the adapter"))
    cell = next(c for c in nb.cells[heading:] if c.cell_type == "code")
    out = tmp_path / "my notebook's out"   # a space and a quote
    (out / "cross_lora").mkdir(parents=True)
    cube = make_cube(np.ones((3, 4, 5), np.float32), wavelength=np.array([500.0, 600.0, 700.0]))
    exec(cell.source, {"OUT": out, "target": types.SimpleNamespace(cube=cube)})  # noqa: S102
    line = next(t for t in capsys.readouterr().out.splitlines() if t.startswith("hsi predict "))
    words = shlex.split(line)
    assert words == ["hsi", "predict", "--model", str((out / "cross_lora").resolve()), "--input",
                     str((out / "enmap_like_region.tif").resolve()), "--out", "map.tif"], line
    assert Path(words[5]).is_file()


def test_notebook_outputs_are_ignored_by_git() -> None:
    """Jupyter runs a notebook in notebooks/, so its default output folder is notebooks/outputs/notebooks."""
    import shutil
    import subprocess

    root = NOTEBOOKS[0].parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("notebooks/outputs/notebooks/cross_lora/adapter.safetensors", "outputs/notebooks/map.tif"):
        out = subprocess.run(["git", "check-ignore", "-q", path], cwd=root, capture_output=True)
        assert out.returncode == 0, f"{path} is not git-ignored"


def test_readme_notebook_commands_make_their_output_folder() -> None:
    """``jupyter execute --output=../DIR/NAME`` fails when DIR does not exist, as it does in a fresh clone (audit K #3)."""
    import re

    root = NOTEBOOKS[0].parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    folders = set(re.findall(r"--output=\.\./([\w.-]+)/", readme))
    assert folders, "README no longer shows a notebook --output command; update this test"
    for folder in folders:
        assert f"mkdir -p {folder}" in readme, f"README's --output=../{folder}/... needs `mkdir -p {folder}` first"
