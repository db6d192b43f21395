"""Downloads are named after their scene (``field_map.tif``, ``Szene_München_2023_scores.tif``), so the class
maps, score maps and metrics of several scenes do not all land in the user's Downloads folder as
``map.tif``, ``map (1).tif``..."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app import viewer
from hsi_app.io.open import open_cube

gr = pytest.importorskip("gradio")


def _geotiff(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(1).integers(200, 4000, (6, 18, 22)).astype(np.int16)
    data[:, :2, :] = -9999  # a no-data border
    with rasterio.open(path, "w", driver="GTiff", height=18, width=22, count=6, dtype="int16", nodata=-9999,
                       crs="EPSG:32633", transform=from_origin(400000, 5200000, 30, 30)) as ds:
        ds.write(data)
        ds.scales = [0.0001] * 6
        for i, wl in enumerate((450.0, 520.0, 600.0, 660.0, 800.0, 1600.0)):
            ds.update_tags(i + 1, wavelength=str(wl), wavelength_units="nm")
    return path


def _no_progress(*args: Any, **kwargs: Any) -> None:
    return None


def test_downloads_carry_the_scene_name(tmp_path: Path, random_run, envi_scene: Path) -> None:  # noqa: ANN001
    from hsi_app.cli.serve_cmd import load_web_app

    scene = _geotiff(tmp_path / "gradio" / "4f3e" / "Szene München 2023.tif")
    random_run(tmp_path / "runs" / "m", open_cube(scene), num_classes=3)
    cfg = viewer.ViewerConfig(runs_dir=tmp_path / "runs", scenes_dir=envi_scene.parent)
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    fns = {getattr(f.fn, "__name__", None): f.fn for f in demo.fns.values()}
    state = viewer.ViewerSession(config=cfg)
    try:
        assert fns["open_uploaded"](state, str(scene))[-1] == ""
        out = fns["run_classify"](state, "runs/m", False, 0.6, False, _no_progress)
        assert out[-1] == "", out[-1]
        map_file, metrics_file = Path(out[3]), Path(out[4])
        assert (map_file.name, metrics_file.name) == ("Szene_München_2023_map.tif", "Szene_München_2023_metrics.json")
        assert map_file.read_bytes() == (state.workdir / "map.tif").read_bytes()
        with rasterio.open(map_file) as ds:  # still the class map: CRS and grid of the scene
            assert ds.crs.to_epsg() == 32633 and ds.transform == from_origin(400000, 5200000, 30, 30)
        fns["goto_pixel"](state, 5, 6, 0.6, True)
        assert Path(fns["points_file"](state)[0]).name == "Szene_München_2023_points.gpkg"
        det = fns["run_detect"](state, "rx", 90.0, 5, "5,21", None, False, _no_progress)
        assert det[-1] == "", det[-1]
        names = [Path(p).name for p in det[3:6] if p]
        assert names[0] == "Szene_München_2023_scores.tif" and names[-1] == "Szene_München_2023_detect_metrics.json"
        again = fns["run_classify"](state, "runs/m", False, 0.6, True, _no_progress)  # smoothed: another map
        assert Path(again[3]).name == map_file.name
        assert Path(again[3]).read_bytes() == (state.workdir / "map.tif").read_bytes()
        # each offered file keeps its content (a page may still show the earlier one): same name, own folder
        assert out[3] != again[3] and Path(out[3]).read_bytes() != Path(again[3]).read_bytes()
        fns["open_listed"](state, envi_scene.name)
        offered = [p.name for p in (state.workdir / viewer.session.DOWNLOADS).rglob("*") if p.is_file()]
        assert offered == [f"{envi_scene.stem}_view.png"]  # a new scene: the old downloads go; its image is shown
    finally:
        state.close()


@pytest.mark.parametrize(("scene", "expected"), [
    ("field.tif", "field_map.tif"),
    ("scenes/indian_pines", "indian_pines_map.tif"),
    ("f180601t01p00r06_sc01_refl.hdr + f180601t01p00r06_sc01_refl.img", "f180601t01p00r06_sc01_refl_map.tif"),
    ("x/../..", "scene_map.tif"),
])
def test_download_name(scene: str, expected: str) -> None:
    assert viewer.download_name(scene, "map.tif") == expected


def test_download_name_of_a_long_cjk_or_decomposed_name_is_a_valid_file(tmp_path: Path) -> None:
    import unicodedata

    long = "地" * 80 + ".tif"  # 240 bytes of UTF-8: with "_detect_metrics.json", over the 255 bytes of a name
    name = viewer.download_name(long, "detect_metrics.json")
    assert name.endswith("_detect_metrics.json") and name.startswith("地" * 40)
    assert len(name.encode("utf-8")) <= 255 and set(name[:-len("_detect_metrics.json")]) == {"地"}  # no half character
    decomposed = unicodedata.normalize("NFD", "Szene München 2023.tif")  # as macOS names files
    assert viewer.download_name(decomposed, "map.tif") == "Szene_München_2023_map.tif"
    s = viewer.ViewerSession(config=viewer.ViewerConfig())
    try:
        out = s.workdir / "detect_metrics.json"
        out.write_text("{}")
        s.name = long
        copy = viewer.download_copy(s, out)  # the name is one the file system takes
        assert copy.read_text() == "{}" and copy.name == name
    finally:
        s.close()
