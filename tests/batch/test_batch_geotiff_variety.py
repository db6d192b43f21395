"""`hsi batch` over the multi-band GeoTIFFs users really have: CRSs (UTM north/south, lat/lon, feet), rotated
grids, no georeference, nodata kinds, dtypes, GDAL scale/offset, tiling, compression, interleave, overviews,
BigTIFF, 1-pixel-wide scenes, names with spaces, and bad files among them (truncated, not a TIFF, empty, all
no-data, other band counts). One batch over all of them: the good ones keep their grid and no-data, each bad one
is one line naming it, the report counts them, the inputs are untouched (batch audit, session 53)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.transform import from_origin
from tests.tif_writer import damage_tile

BANDS = 8
WL = np.linspace(450.0, 2300.0, BANDS)  # the batch conftest's run


def _values(h: int, w: int, seed: int, bands: int = BANDS) -> np.ndarray:
    """``(bands, h, w)`` float64 around 3000 (the conftest run's units: reflectance x 1e4)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 4.0
    base = np.sin(xx + seed)[None] + np.cos(yy)[None] * np.linspace(0.5, 1.5, bands)[:, None, None]
    return 3000 + 1000 * base + 100 * rng.standard_normal((bands, h, w))


def _write(path: Path, data: np.ndarray, *, wl: np.ndarray | None = WL, scales: list[float] | None = None,
           **profile: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    c, h, w = data.shape
    prof = {"driver": "GTiff", "height": h, "width": w, "count": c, "dtype": data.dtype, "crs": "EPSG:32633",
            "transform": from_origin(500000.0, 4600000.0, 30.0, 30.0), **profile}
    with rasterio.open(path, "w", **{k: v for k, v in prof.items() if v is not None}) as ds:
        ds.write(data)
        if wl is not None:
            ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in wl), wavelength_units="nm")
        if scales is not None:
            ds.scales = scales
    return path


def make_variety(root: Path) -> dict[str, str]:
    """The scenes under ``root``; returns ``{file name: "done" or the word its failure line must hold}``."""
    v = _values(12, 10, 1)
    holes = v.copy()
    holes[:, :2, :3] = -9999
    nan = v.astype(np.float32)
    nan[:, -2:, -2:] = np.nan
    _write(root / "utm_north.tif", holes.astype(np.int16), nodata=-9999, tiled=True, blockxsize=16, blockysize=16,
           compress="deflate")
    _write(root / "south" / "utm_south.tif", v.astype(np.uint16), nodata=0, compress="lzw", crs="EPSG:32733",
           transform=from_origin(300000.0, 8000000.0, 30.0, 30.0))
    _write(root / "latlon.tif", nan, nodata=float("nan"), compress="zstd", crs="EPSG:4326",
           transform=from_origin(14.5, 48.2, 0.0003, 0.0003))
    _write(root / "feet.tif", v, crs="EPSG:2263", transform=from_origin(980000.0, 200000.0, 100.0, 100.0))
    _write(root / "rotated.tif", v.astype(np.int16), transform=Affine(25.98, 15.0, 500000.0, 15.0, -25.98, 4600000.0))
    _write(root / "no_georef.tif", v.astype(np.int16), crs=None, transform=None)
    _write(root / "scaled.tif", (v / 10).astype(np.int16), scales=[10.0] * BANDS, nodata=-1)
    _write(root / "pixel.tif", v.astype(np.int16), interleave="pixel", tiled=True, blockxsize=16, blockysize=16)
    _write(root / "band.tif", v.astype(np.int16), interleave="band", compress="deflate")
    _write(root / "big tiff é.tif", v.astype(np.int16), BIGTIFF="YES")
    ovr = _write(root / "overviews.tif", _values(32, 32, 2).astype(np.int16), tiled=True, blockxsize=16, blockysize=16)
    with rasterio.open(ovr, "r+") as ds:
        ds.build_overviews([2, 4])
    _write(root / "row.tif", _values(1, 30, 3).astype(np.int16), nodata=-9999)
    _write(root / "column.tif", _values(30, 1, 3).astype(np.int16), nodata=-9999)
    _write(root / "tiny.tif", _values(2, 2, 3).astype(np.int16), nodata=-9999)
    _write(root / "all_nodata.tif", np.full((BANDS, 6, 6), -9999, np.int16), nodata=-9999)
    _write(root / "fewer_bands.tif", _values(8, 8, 4, 6).astype(np.int16), wl=np.linspace(450, 2300, 6))
    cut = _write(root / "truncated.tif", _values(20, 20, 5).astype(np.int16), tiled=True, blockxsize=16, blockysize=16)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    damaged_inside(root / "damaged.tif")
    (root / "notes.tif").write_text("not a TIFF\n")
    (root / "empty.tif").write_bytes(b"")
    return {"utm_north.tif": "done", "utm_south.tif": "done", "latlon.tif": "done", "feet.tif": "done",
            "rotated.tif": "done", "no_georef.tif": "done", "scaled.tif": "done", "pixel.tif": "done",
            "band.tif": "done", "big tiff é.tif": "done", "overviews.tif": "done", "row.tif": "done",
            "column.tif": "done", "tiny.tif": "done", "all_nodata.tif": "no-data", "fewer_bands.tif": "--resample",
            "truncated.tif": "truncated", "damaged.tif": "IReadBlock failed", "notes.tif": "unrecognised", "empty.tif": "empty"}


def damaged_inside(path: Path) -> Path:
    """A 48 x 48 tiled DEFLATE scene whose middle tile (1, 1) holds garbage: its end is intact, so it opens."""
    _write(path, _values(48, 48, 6).astype(np.int16), tiled=True, blockxsize=16, blockysize=16, compress="deflate")
    return damage_tile(path)


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _hsi(*args: str) -> subprocess.CompletedProcess[str]:
    """``hsi ARGS`` in a fresh process (worker processes, the CLI's warning and error lines as users see them)."""
    code = "import sys; from hsi_app.cli.main import main; main(sys.argv[1:])"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def variety(tmp_path_factory: pytest.TempPathFactory, run_dir: Path) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("variety")
    expect = make_variety(root / "scenes")
    before = _hashes(root / "scenes")
    proc = _hsi("batch", "--model", str(run_dir), "--inputs", str(root / "scenes"), "--out-dir", str(root / "out"),
                "--workers", "1", "--no-dashboard")
    return {"root": root, "expect": expect, "before": before, "proc": proc,
            "report": json.loads((root / "out" / "report.json").read_text())}


def test_bad_files_get_one_line_each_and_the_others_are_done(variety: dict[str, Any]) -> None:
    proc, expect, report = variety["proc"], variety["expect"], variety["report"]
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception" not in proc.stderr, proc.stderr
    failed = [ln for ln in proc.stderr.splitlines() if ln.startswith("hsi batch: failed: ")]
    bad = {name: word for name, word in expect.items() if word != "done"}
    assert len(failed) == len(bad)
    for name, word in bad.items():
        [line] = [ln for ln in failed if f"/{name}:" in ln]
        assert word in line, line
    rows = {Path(r["input"]).name: r for r in report["inputs"]}
    assert {n: r["status"] for n, r in rows.items()} == {n: "done" if w == "done" else "failed" for n, w in expect.items()}
    assert report["summary"] == {"done": len(expect) - len(bad), "skipped": 0, "failed": len(bad)}
    assert f"{len(expect) - len(bad)} done, 0 skipped, {len(bad)} failed" in proc.stdout
    assert "batch classify: " in proc.stderr  # the progress line


def test_outputs_keep_each_scene_grid_and_no_data(variety: dict[str, Any]) -> None:
    scenes, out = variety["root"] / "scenes", variety["root"] / "out"
    for row in variety["report"]["inputs"]:
        if row["status"] != "done":
            continue
        src = Path(row["input"])
        with rasterio.open(src) as a, rasterio.open(row["output"]) as b:
            assert Path(row["output"]) == out / src.relative_to(scenes).parent / f"{src.stem}_classes.tif"
            assert (b.crs, b.transform, b.height, b.width) == (a.crs, a.transform, a.height, a.width), src.name
            classes = b.read(1)
            masked = a.dataset_mask() == 0  # GDAL: no band holds data there
            assert b.nodata == 0 and (classes[masked] == 0).all() and (classes[~masked] > 0).all(), src.name
            assert row["class_counts"]["no-data"] == int(masked.sum())
            assert sum(row["class_counts"].values()) == a.height * a.width


def test_inputs_are_untouched_and_a_rerun_skips_all_but_the_failed(variety: dict[str, Any], run_dir: Path) -> None:
    root = variety["root"]
    assert _hashes(root / "scenes") == variety["before"]
    assert not [p for p in (root / "scenes").rglob("*") if p.name.endswith((".aux.xml", ".ovr", ".msk"))]
    again = _hsi("batch", "--model", str(run_dir), "--inputs", str(root / "scenes"), "--out-dir", str(root / "out"),
                 "--workers", "1", "--no-dashboard", "--quiet")
    n_bad = sum(w != "done" for w in variety["expect"].values())
    assert again.returncode == 1
    assert f"0 done, {len(variety['expect']) - n_bad} skipped, {n_bad} failed" in again.stdout
    assert _hashes(root / "scenes") == variety["before"]


def test_relayed_warnings_name_their_scene(tmp_path: Path) -> None:
    """A worker's warning that does not name its scene (the detectors' 'background covariance is singular') came
    back as is, so among many scenes nobody could tell which one it was about; each now starts with its scene."""
    for name in ("a.tif", "b.tif"):  # 6 pixels for 8 bands: a singular covariance in each
        _write(tmp_path / "in" / name, _values(2, 3, 7).astype(np.int16))
    proc = _hsi("batch", "--task", "detect", "--method", "rx", "--inputs", str(tmp_path / "in"),
                "--out-dir", str(tmp_path / "out"), "--workers", "1", "--no-dashboard", "--quiet")
    assert proc.returncode == 0, proc.stderr
    singular = [ln for ln in proc.stderr.splitlines() if "singular" in ln]
    assert sorted(ln.split(": ")[2] for ln in singular) == [str(tmp_path / "in" / "a.tif"),
                                                             str(tmp_path / "in" / "b.tif")], proc.stderr
    assert all(ln.startswith("hsi: warning: ") for ln in singular)


def test_a_tile_damaged_inside_the_file_is_named_with_gdal_reason_in_small_windows(tmp_path: Path, run_dir: Path) -> None:
    """A damaged tile inside a file (its end intact, so it opens) failed as 'RasterioIOError: Read failed. See
    previous exception for details.', a reason that named nothing and an exception nobody was shown; the line now
    carries GDAL's reason and the fix, with windows small enough to spread the scene over workers too (the variety
    run covers one window per scene)."""
    damaged_inside(tmp_path / "in" / "damaged.tif")
    proc = _hsi("batch", "--model", str(run_dir), "--inputs", str(tmp_path / "in"), "--out-dir", str(tmp_path / "out"),
                "--workers", "1", "--no-dashboard", "--quiet", "--window", "16", "--split-windows", "1")
    assert proc.returncode == 1, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("hsi batch: failed: ")]
    assert line.startswith(f"hsi batch: failed: {tmp_path / 'in' / 'damaged.tif'}: data cannot be read ("), line
    assert "IReadBlock failed" in line and "corrupt" in line and "previous exception" not in line, line
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "IReadBlock failed" in report["inputs"][0]["error"]
