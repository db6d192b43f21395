"""Input expansion, mirrored output names, model hash, sidecars and resume decisions (no cluster)."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from hsi_app.batch.inputs import SceneInput, check_unique_outputs, expand_inputs, pattern_root
from hsi_app.batch.state import (
    SceneReport,
    clean_partials,
    input_fingerprint,
    is_done,
    model_hash,
    sidecar_path,
    write_reports,
    write_sidecar,
)
from hsi_app.errors import ConfigError, DatasetNotFoundError, ModelLoadError

SUFFIX = "_classes.tif"


def test_pattern_root() -> None:
    assert pattern_root("scenes/**/*.tif") == Path("scenes")
    assert pattern_root("/data/x/2024-*/a.tif") == Path("/data/x")
    assert pattern_root("*.tif") == Path(".")


def test_glob_recurses_mirrors_layout_and_skips_outputs_and_hidden(tmp_path: Path) -> None:
    root = tmp_path / "scenes"
    for rel in ("a.tif", "2024/b.tif", "2024/06/c.tif"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"II*\x00")
    (root / ".a.tif.partial-1234.tif").write_bytes(b"x")  # a stale temp file is not an input
    (root / "a.tif.aux.xml").write_text("<x/>")
    out = root / "out"  # outputs inside the input tree are never inputs
    (out / "2024").mkdir(parents=True)
    (out / "2024" / "b_classes.tif").write_bytes(b"II*\x00")
    items = expand_inputs([str(root / "**" / "*.tif")], out)
    assert [i.rel.as_posix() for i in items] == ["2024/06/c.tif", "2024/b.tif", "a.tif"]
    assert [i.output_path(out, SUFFIX).relative_to(out).as_posix() for i in items] == [
        "2024/06/c_classes.tif", "2024/b_classes.tif", "a_classes.tif"]
    # the same scene named twice (a glob and a folder) is one input
    again = expand_inputs([str(root / "*.tif"), str(root), str(root / "a.tif")], out)
    assert sorted(i.source.name for i in again) == ["a.tif", "b.tif", "c.tif"]


def test_enmap_product_folder_and_zip_are_one_input_each(tmp_path: Path, load_fixture) -> None:  # noqa: ANN001
    enmap = load_fixture("enmap_l2a")
    folder = enmap.make(tmp_path / "tiles" / "t1", height=12, width=16)
    zipped = enmap.make(tmp_path / "tiles" / "t2", height=12, width=16, zip_it=True)
    shutil.rmtree(zipped.with_suffix(""))  # the zip alone (beside its extracted folder, the folder is the input)
    items = expand_inputs([str(tmp_path / "tiles" / "**" / "*")], tmp_path / "out")
    sources = {i.source for i in items}
    assert folder in sources and zipped in sources
    assert not any(folder in s.parents for s in sources)  # nothing inside the product leaks in
    out = {i.output_path(tmp_path / "out", SUFFIX).name for i in items}
    assert f"{folder.name}{SUFFIX}" in out and f"{zipped.name[:-4]}{SUFFIX}" in out


def test_missing_literal_path_and_empty_glob(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="nope.tif"):
        expand_inputs([str(tmp_path / "nope.tif")])
    with pytest.raises(ConfigError, match="matched no scene"):
        expand_inputs([str(tmp_path / "*.tif")])


def test_colliding_outputs_are_refused(tmp_path: Path) -> None:
    items = [SceneInput(tmp_path / "a.tif", Path("a.tif")), SceneInput(tmp_path / "a.mat", Path("a.mat"))]
    with pytest.raises(ConfigError, match="would both write"):
        check_unique_outputs(items, tmp_path / "out", SUFFIX)


def test_same_names_from_different_folders_keep_their_folders(tmp_path: Path) -> None:
    """Two patterns (or files the shell listed one by one) each mirror below their own folder, so site1/scene.tif and
    site2/scene.tif both mapped to OUT/scene_classes.tif and the whole batch was refused; they now keep the folders
    below the one they share, and every other scene keeps its place."""
    root = tmp_path / "scenes"
    for rel in ("site1/scene.tif", "site2/scene.tif", "site2/other.tif", "site3/deep/scene.tif"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"II*\x00")
    out = tmp_path / "out"

    def outputs(patterns: list[str]) -> list[str]:
        items = expand_inputs(patterns, out)
        check_unique_outputs(items, out, SUFFIX)
        return sorted(i.output_path(out, SUFFIX).relative_to(out).as_posix() for i in items)

    by_pattern = outputs([str(root / "site1" / "*.tif"), str(root / "site2" / "*.tif")])
    assert by_pattern == ["other_classes.tif", "site1/scene_classes.tif", "site2/scene_classes.tif"]
    one_by_one = outputs([str(root / "site1" / "scene.tif"), str(root / "site2" / "scene.tif"),
                          str(root / "site3" / "deep" / "scene.tif")])
    assert one_by_one == ["site1/scene_classes.tif", "site2/scene_classes.tif", "site3/deep/scene_classes.tif"]
    (root / "site1" / "scene.mat").write_bytes(b"MATLAB")  # side by side: still refused, naming both
    with pytest.raises(ConfigError, match="would both write"):
        outputs([str(root / "site1" / "*")])


def test_names_that_differ_only_in_case_are_one_output(tmp_path: Path) -> None:
    """On macOS and Windows site1/Scene.tif and site2/scene.tif both wrote OUT/scene_classes.tif (neither kept apart
    nor refused); they keep their folders, and Scene.tif beside scene.tif is refused naming both."""
    root = tmp_path / "scenes"
    for rel in ("site1/Scene.tif", "site2/scene.tif"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"II*\x00")
    out = tmp_path / "out"
    items = expand_inputs([str(root / "site1" / "Scene.tif"), str(root / "site2" / "scene.tif")], out)
    check_unique_outputs(items, out, SUFFIX)
    written = sorted(i.output_path(out, SUFFIX).relative_to(out).as_posix().casefold() for i in items)
    assert written == ["site1/scene_classes.tif", "site2/scene_classes.tif"]
    side_by_side = [SceneInput(root / "Scene.tif", Path("Scene.tif")), SceneInput(root / "scene.tif", Path("scene.tif"))]
    with pytest.raises(ConfigError, match="would both write .*one file where case is ignored"):
        check_unique_outputs(side_by_side, out, SUFFIX)


def test_scenes_kept_apart_are_checked_again_until_no_two_meet(tmp_path: Path) -> None:
    """d/a/scene.tif and d/b/scene.tif (named one by one) moved to OUT/a/ and OUT/b/, where e's a/scene.tif (its
    pattern's own layout) already went: one pass left two scenes on OUT/a/scene_classes.tif and the batch refused."""
    root = tmp_path / "scenes"
    for rel in ("d/a/scene.tif", "d/b/scene.tif", "e/a/scene.tif"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"II*\x00")
    out = tmp_path / "out"
    items = expand_inputs([str(root / "d" / "a" / "scene.tif"), str(root / "d" / "b" / "scene.tif"), str(root / "e")],
                          out)
    check_unique_outputs(items, out, SUFFIX)
    written = {i.source.relative_to(root).as_posix(): i.output_path(out, SUFFIX).relative_to(out).as_posix()
               for i in items}
    assert len(set(written.values())) == 3
    for source, output in written.items():  # each output still ends in the scene's own folders
        assert output.endswith(source.rsplit("/", 2)[-2] + "/scene_classes.tif"), written


def test_scenes_on_different_drives_keep_their_drive_as_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows os.path.commonpath raises ValueError for C:\\ and D:\\ paths (no folder in common); the batch
    stopped with that traceback."""
    import hsi_app.batch.inputs as inputs

    def no_common(paths):  # noqa: ANN001, ANN202 - as ntpath does for paths on two drives
        raise ValueError("Paths don't have the same drive")

    monkeypatch.setattr(inputs.os.path, "commonpath", no_common)
    items = [SceneInput(tmp_path / "c" / "scene.tif", Path("scene.tif")),
             SceneInput(tmp_path / "d" / "scene.tif", Path("scene.tif"))]
    kept = inputs.keep_apart(items)
    monkeypatch.undo()
    outs = [k.output_path(tmp_path / "out", SUFFIX) for k in kept]
    assert len(set(outs)) == 2 and all(o.name == f"scene{SUFFIX}" for o in outs)
    assert [o.parent.name for o in outs] == ["c", "d"]


def test_paths_with_glob_characters_in_their_names_are_taken_as_they_are(tmp_path: Path) -> None:
    """A folder named 'flight [1]' (or a file 'a[2].tif') could not be passed: '[1]' was read as a glob class,
    matched nothing, and the batch stopped with 'matched no scene'."""
    folder = tmp_path / "flight [1]"
    for name in ("a.tif", "b[2].tif"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"II*\x00")
    out = tmp_path / "out"
    assert [i.rel.as_posix() for i in expand_inputs([str(folder)], out)] == ["a.tif", "b[2].tif"]
    [one] = expand_inputs([str(folder / "b[2].tif")], out)
    assert one.source == folder / "b[2].tif" and one.output_path(out, SUFFIX) == out / f"b[2]{SUFFIX}"
    escaped = expand_inputs([str(tmp_path / "flight [[]1]" / "*.tif")], out)  # glob rules, for a real glob
    assert [i.rel.as_posix() for i in escaped] == ["flight [1]/a.tif", "flight [1]/b[2].tif"]
    with pytest.raises(ConfigError, match=r"write \[\[\] for a \["):
        expand_inputs([str(folder / "*.tif")], out)


def test_model_hash_tracks_weights_and_config(tmp_path: Path, kit) -> None:  # noqa: ANN001
    a, b = kit.make_run(tmp_path / "a", seed=0), kit.make_run(tmp_path / "b", seed=0)
    c = kit.make_run(tmp_path / "c", seed=1)
    assert model_hash(a) == model_hash(b) != model_hash(c)
    cfg = json.loads((b / "config.json").read_text())
    cfg["class_names"][1] = "lake"
    (b / "config.json").write_text(json.dumps(cfg))
    assert model_hash(a) != model_hash(b)
    with pytest.raises(ModelLoadError, match="config.json"):
        model_hash(tmp_path)
    (b / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="model.safetensors"):
        model_hash(b)


def test_done_only_with_output_and_matching_sidecar(tmp_path: Path, kit) -> None:  # noqa: ANN001
    src = kit.write_scene(tmp_path / "in.tif", 8, 8, 1)
    out = tmp_path / "in_classes.tif"
    record = {"task": "classify", "model_hash": "abc", "input_fingerprint": input_fingerprint(src), "height": 8}
    assert is_done(out, task="classify", model_sha="abc", source=src) is None  # nothing yet
    out.write_bytes(b"complete output")
    assert is_done(out, task="classify", model_sha="abc", source=src) is None  # output without sidecar: redo
    write_sidecar(out, record)
    assert is_done(out, task="classify", model_sha="abc", source=src)["height"] == 8
    assert is_done(out, task="classify", model_sha="other", source=src) is None  # another model
    assert is_done(out, task="denoise", model_sha="abc", source=src) is None
    out.write_bytes(b"a different, longer output file")  # output replaced after the sidecar
    assert is_done(out, task="classify", model_sha="abc", source=src) is None
    write_sidecar(out, record)
    assert is_done(out, task="classify", model_sha="abc", source=src)
    out.write_bytes(b"A DIFFERENT, LONGER OUTPUT FILE")  # rewritten in place at the same size, later
    st = out.stat()
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert is_done(out, task="classify", model_sha="abc", source=src) is None
    write_sidecar(out, record)
    kit.write_scene(src, 8, 9, 1)  # the input changed
    assert is_done(out, task="classify", model_sha="abc", source=src) is None


def test_gdal_files_beside_a_geotiff_are_not_scenes_but_count_as_its_input(tmp_path: Path, kit) -> None:  # noqa: ANN001
    """GDAL reads x.tif.aux.xml (no-data, scale, CRS set by gdal_edit or QGIS) and x.tif.msk (an external mask)
    with x.tif. The mask was listed as a scene of its own (and failed: 1 band); adding or editing either after a
    batch left the scene skipped with an output made without it."""
    src = kit.write_scene(tmp_path / "in" / "a.tif", 8, 8, 1)
    mask = src.with_name("a.tif.msk")
    mask.write_bytes(b"II*\x00")  # a TIFF like any other: only its name says what it is
    assert [i.source.name for i in expand_inputs([str(tmp_path / "in")], tmp_path / "out")] == ["a.tif"]
    assert [i.source.name for i in expand_inputs([str(tmp_path / "in" / "*")], tmp_path / "out")] == ["a.tif"]
    mask.unlink()
    out = tmp_path / "out" / "a_classes.tif"
    out.parent.mkdir()
    out.write_bytes(b"complete output")
    write_sidecar(out, {"task": "classify", "model_hash": "abc", "input_fingerprint": input_fingerprint(src)})
    assert is_done(out, task="classify", model_sha="abc", source=src)
    for side in ("a.tif.aux.xml", "a.tif.msk"):
        path = src.with_name(side)
        path.write_bytes(NODATA_PAM if side.endswith(".xml") else b"II*\x00")
        assert is_done(out, task="classify", model_sha="abc", source=src) is None, side  # redone
        write_sidecar(out, {"task": "classify", "model_hash": "abc", "input_fingerprint": input_fingerprint(src)})
        assert is_done(out, task="classify", model_sha="abc", source=src), side
    src.with_name("a.tif.aux.xml").write_bytes(NODATA_PAM.replace(b"-9999", b"0"))  # edited
    assert is_done(out, task="classify", model_sha="abc", source=src) is None


NODATA_PAM = b"""<PAMDataset>
  <PAMRasterBand band="1"><NoDataValue>-9999</NoDataValue></PAMRasterBand>
</PAMDataset>
"""
QGIS_STATISTICS = b"""<PAMDataset>
  <PAMRasterBand band="1">
    <Histograms><HistItem><HistMin>-0.5</HistMin><HistMax>255.5</HistMax><BucketCount>256</BucketCount>
      <HistCounts>3|0|5</HistCounts></HistItem></Histograms>
    <Metadata>
      <MDI key="STATISTICS_MAXIMUM">4812</MDI><MDI key="STATISTICS_MEAN">3012.5</MDI>
      <MDI key="STATISTICS_MINIMUM">-9999</MDI><MDI key="STATISTICS_STDDEV">812.1</MDI>
      <MDI key="STATISTICS_VALID_PERCENT">96.9</MDI>
    </Metadata>
  </PAMRasterBand>
</PAMDataset>
"""


def test_statistics_qgis_writes_beside_a_geotiff_do_not_redo_it(tmp_path: Path, kit) -> None:  # noqa: ANN001
    """QGIS writes x.tif.aux.xml (statistics, histograms) merely by showing the layer: every scene looked at was
    redone on the next batch. Only what changes the read (no-data, scale, CRS, tags...) counts, by content."""
    src = kit.write_scene(tmp_path / "a.tif", 8, 8, 1)
    before = input_fingerprint(src)
    pam = src.with_name("a.tif.aux.xml")
    pam.write_bytes(QGIS_STATISTICS)
    assert input_fingerprint(src) == before
    pam.write_bytes(QGIS_STATISTICS.replace(b"<Histograms>", b"<Offset>0.5</Offset><Histograms>"))
    with_offset = input_fingerprint(src)
    assert with_offset != before
    pam.write_bytes(QGIS_STATISTICS.replace(b"<Histograms>", b"<Offset>0.5</Offset><Histograms>").replace(b"4812", b"4900"))
    assert input_fingerprint(src) == with_offset  # statistics again: the read is the same
    pam.write_bytes(QGIS_STATISTICS.replace(b"<Histograms>", b"<Offset>0.25</Offset><Histograms>"))
    assert input_fingerprint(src) != with_offset


def test_a_world_file_counts_when_gdal_takes_the_grid_from_it(tmp_path: Path) -> None:
    """A TIFF with a grid of its own: GDAL ignores x.tfw, so it changes no fingerprint (it changed them all, and old
    outputs were redone). A TIFF without one takes the grid from SCENE.TFW as from scene.tfw (upper case was missed)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    def write(path: Path, **georef: object) -> Path:
        with rasterio.open(path, "w", driver="GTiff", height=4, width=4, count=1, dtype="uint8", **georef) as ds:
            ds.write(np.zeros((1, 4, 4), np.uint8))
        return path

    own = write(tmp_path / "own.tif", crs="EPSG:32633", transform=from_origin(500000.0, 4600000.0, 30.0, 30.0))
    before = input_fingerprint(own)
    (tmp_path / "own.tfw").write_text("10.0\n0.0\n0.0\n-10.0\n500005.0\n4599995.0\n")
    assert input_fingerprint(own) == before
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        bare = write(tmp_path / "SCENE.TIF")
    before = input_fingerprint(bare)
    world = tmp_path / "SCENE.TFW"
    world.write_text("30.0\n0.0\n0.0\n-30.0\n500015.0\n4599985.0\n")
    assert input_fingerprint(bare) != before


def test_world_checksum_and_vector_files_beside_scenes_are_not_scenes(tmp_path: Path, kit) -> None:  # noqa: ANN001
    """A folder of tiles with their world files (a.tfw, a.prj), checksums (a.tif.md5) and an AOI shapefile: each of
    those was taken as a scene and failed ('unrecognised file content'), so the batch exited 1. The world file
    gives the TIFF its transform (it has none of its own), so changing it redoes the scene."""
    import numpy as np
    import rasterio

    src = tmp_path / "in" / "a.tif"
    src.parent.mkdir()
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning), rasterio.open(
            src, "w", driver="GTiff", height=8, width=8, count=2, dtype="int16") as ds:
        ds.write(np.ones((2, 8, 8), np.int16))
    extras = ["a.tfw", "a.prj", "a.wld", "a.tif.md5", "a.tif.sha256", "aoi.shp", "aoi.shx", "aoi.dbf", "aoi.cpg",
              "a.qml", "a.tif.aux", "a.rrd", "notes.log", "readme.pdf", "index.html", "aoi.geojson", "aoi.kml"]
    for name in extras:
        (tmp_path / "in" / name).write_text("30.0\n0.0\n0.0\n-30.0\n500015.0\n4599985.0\n")
    assert [i.source.name for i in expand_inputs([str(tmp_path / "in")], tmp_path / "out")] == ["a.tif"]
    assert [i.source.name for i in expand_inputs([str(tmp_path / "in" / "*")], tmp_path / "out")] == ["a.tif"]
    out = tmp_path / "out" / "a_classes.tif"
    out.parent.mkdir()
    out.write_bytes(b"complete output")
    write_sidecar(out, {"task": "classify", "model_hash": "abc", "input_fingerprint": input_fingerprint(src)})
    assert is_done(out, task="classify", model_sha="abc", source=src)
    (tmp_path / "in" / "a.tfw").write_text("10.0\n0.0\n0.0\n-10.0\n500005.0\n4599995.0\n")  # another grid
    assert is_done(out, task="classify", model_sha="abc", source=src) is None


def test_clean_partials_removes_temp_files_and_stale_sidecar_only(tmp_path: Path) -> None:
    out = tmp_path / "x_classes.tif"
    junk = [tmp_path / ".x_classes.tif.partial-0a1b2c3d.tif", tmp_path / ".x_classes.stage.tif.partial-00000000.tif",
            sidecar_path(out)]
    keep = [tmp_path / "x_classes.tif", tmp_path / ".y_classes.tif.partial-0a1b2c3d.tif", tmp_path / "x.tif"]
    for f in junk + keep:
        f.write_bytes(b"1")
    removed = clean_partials(out)
    assert sorted(removed) == sorted(junk)
    assert all(f.exists() for f in keep) and not any(f.exists() for f in junk)


def test_reports_round_trip(tmp_path: Path) -> None:
    rows = [SceneReport("a.tif", "done", 1.5, "out/a.tif", 4, 5, 1, False, {"water": 12}),
            SceneReport("b.tif", "failed", 0.1, error="b.tif: not a readable GeoTIFF")]
    js, cs = write_reports(tmp_path, rows, {"task": "classify"})
    doc = json.loads(js.read_text())
    assert doc["summary"] == {"done": 1, "skipped": 0, "failed": 1} and doc["task"] == "classify"
    table = list(csv.DictReader(cs.open()))
    assert [r["status"] for r in table] == ["done", "failed"]
    assert json.loads(table[0]["class_counts"]) == {"water": 12} and table[1]["error"].startswith("b.tif")


def _envi_folder(root: Path) -> Path:
    """ENVI pairs in every naming style, a header with no data file, and a GeoTIFF with a sidecar ``.hdr``."""
    root.mkdir(parents=True)
    for name in ("a.hdr", "a.img", "b.img.hdr", "b.img", "C.HDR", "C.dat", "orphan.hdr", "g.tif", "g.hdr"):
        (root / name).write_bytes(b"ENVI\n" if name.lower().endswith(".hdr") else b"II*\x00")
    return root


def test_envi_headers_are_scenes_counted_once(tmp_path: Path) -> None:
    """A header stands for its data file (one input per pair, however it is named or globbed)."""
    envi = _envi_folder(tmp_path / "envi")

    def names(*patterns: str) -> list[str]:
        return [i.source.name for i in expand_inputs([str(envi / p) if p else str(envi) for p in patterns], tmp_path / "o")]

    pairs = ["C.dat", "a.img", "b.img", "g.tif"]
    assert sorted(names("a.hdr")) == ["a.img"]
    assert sorted(names("b.img.hdr")) == ["b.img"]
    assert sorted(names("*.hdr")) == ["a.img", "b.img", "g.tif", "orphan.hdr"]  # g.hdr is g.tif's sidecar
    assert sorted(names("*.HDR")) == ["C.dat"]
    assert sorted(names("a.hdr", "a.img", "*", "")) == sorted([*pairs, "orphan.hdr"])
    # a header without its data file is an input (the batch reports why it fails), named or not
    assert sorted(names("")) == sorted([*pairs, "orphan.hdr"])
    assert names("orphan.hdr") == ["orphan.hdr"]
    assert names("g.hdr") == ["g.hdr"]  # named literally: read as the header it is, like `hsi predict --input g.hdr`
    item = expand_inputs([str(envi / "orphan.hdr")])[0]
    assert item.output_path(tmp_path / "o", SUFFIX) == tmp_path / "o" / f"orphan{SUFFIX}"


def test_out_dir_spelt_with_a_symlink_or_dotdot_still_excludes_its_outputs(tmp_path: Path) -> None:
    """Outputs read back as inputs made a_denoised_denoised.tif on every rerun."""
    root = tmp_path / "scenes"
    (root / "sub").mkdir(parents=True)
    (root / "a.tif").write_bytes(b"II*\x00")
    out = root / "out"
    out.mkdir()
    (out / "a_denoised.tif").write_bytes(b"II*\x00")
    link = tmp_path / "link_to_out"
    link.symlink_to(out, target_is_directory=True)
    for spelling in (root / "sub" / ".." / "out", link):
        items = expand_inputs([str(root)], spelling)
        assert [i.rel.as_posix() for i in items] == ["a.tif"], spelling
    linked_root = tmp_path / "link_to_scenes"  # the inputs through a link, the output folder by its real path
    linked_root.symlink_to(root, target_is_directory=True)
    assert [i.rel.as_posix() for i in expand_inputs([str(linked_root)], out)] == ["a.tif"]
