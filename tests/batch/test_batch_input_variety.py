"""Which scenes ``--inputs`` finds in folders that mix links, EnMAP zips and their extracted folders."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hsi_app.batch.inputs import check_unique_outputs, expand_inputs

ENMAP_MAKER = Path(__file__).resolve().parents[1] / "data" / "enmap_l2a" / "make.py"


def _enmap():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("enmap_l2a_make", ENMAP_MAKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _tif(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"II*\x00")
    return path


def _found(patterns: list[str], out: Path) -> list[str]:
    return sorted(i.rel.as_posix() for i in expand_inputs(patterns, out))


def test_a_folder_enters_linked_subfolders_as_its_glob_does(tmp_path: Path) -> None:
    """``--inputs links`` skipped the scenes of a linked subfolder that ``--inputs 'links/**/*.tif'`` found."""
    _tif(tmp_path / "data" / "deep" / "b.tif")
    top = tmp_path / "links"
    _tif(top / "a.tif")
    (top / "sublink").symlink_to(tmp_path / "data", target_is_directory=True)
    (top / "sublink" / "deep" / "up").symlink_to(top, target_is_directory=True)  # a loop back up the tree
    out = tmp_path / "out"
    by_glob = _found([str(top / "**" / "*.tif")], out)
    assert "sublink/deep/b.tif" in by_glob
    assert _found([str(top)], out) == ["a.tif", "sublink/deep/b.tif"]


def test_a_link_and_its_target_are_one_scene(tmp_path: Path) -> None:
    """A scene named through a link and by its own path was processed twice, under two output names."""
    real = _tif(tmp_path / "scenes" / "a.tif")
    (tmp_path / "picked").mkdir()
    (tmp_path / "picked" / "alias.tif").symlink_to(real)
    items = expand_inputs([str(tmp_path / "scenes"), str(tmp_path / "picked")], tmp_path / "out")
    assert [i.source for i in items] == [real]


def test_an_enmap_zip_beside_its_extracted_folder_is_one_input(tmp_path: Path) -> None:
    """``X.ZIP`` unzipped beside itself gave two inputs with one output name, so the whole batch was refused."""
    zipped = _enmap().make(tmp_path / "enmap", zip_it=True)
    folder = zipped.with_suffix("")
    assert folder.is_dir()
    out = tmp_path / "maps"
    for patterns in ([str(tmp_path / "enmap")], [str(tmp_path / "enmap" / "ENMAP01-*")], [str(zipped), str(folder)]):
        items = expand_inputs(patterns, out)
        assert [i.source for i in items] == [folder], patterns
        check_unique_outputs(items, out, "_classes.tif")
    # the zip alone is still its own input
    assert [i.source for i in expand_inputs([str(zipped)], out)] == [zipped]


def test_exclude_masks_fails_only_the_scenes_without_masks_with_the_fix(tmp_path: Path, kit) -> None:  # noqa: ANN001
    """A GeoTIFF among EnMAP products under ``--exclude-masks cloud`` failed with ``its masks: none (or 'all')``,
    which names no fix for a batch (``all`` would exclude four more masks from the products)."""
    import numpy as np
    import rasterio

    from hsi_app.batch import ClusterOptions, run_batch
    from hsi_app.batch.tasks import DetectOptions, detect_adapter
    from hsi_app.io.open import open_cube

    product = _enmap().make(tmp_path / "in", height=16, width=16)
    tif = kit.write_scene(tmp_path / "in" / "plain.tif", 16, 16, 1)
    res = run_batch(detect_adapter(DetectOptions("rx")), None, [str(tmp_path / "in")], tmp_path / "out",
                    exclude_masks=("cloud",), progress=False, echo=lambda s: None,
                    cluster=ClusterOptions(workers=1, processes=False, dashboard=False))
    rows = {Path(r.input).name: r for r in res.rows}
    assert rows[product.name].status == "done", rows[product.name].error
    failed = rows[tif.name]
    assert failed.status == "failed" and failed.error.startswith(str(tif))
    assert "no quality masks" in failed.error and "without --exclude-masks" in failed.error
    cloud = open_cube(product).hsi.masks["cloud"].values.astype(bool)
    with rasterio.open(tmp_path / "out" / f"{product.name}_scores.tif") as ds:
        scores = ds.read(1)
    assert cloud.any() and np.isnan(scores[cloud]).all()


def test_an_envi_data_file_without_its_header_fails_alone_naming_the_header(tmp_path: Path, kit) -> None:  # noqa: ANN001
    """A lone ``x.img`` failed with 'unrecognised file content; supported: ...', which names neither the missing
    header nor the fix; the other scenes of the batch still finish."""
    from hsi_app.batch import ClusterOptions, run_batch
    from hsi_app.batch.tasks import DetectOptions, detect_adapter

    kit.write_scene(tmp_path / "in" / "ok.tif", 16, 16, 1)
    lone = tmp_path / "in" / "lone.img"
    lone.write_bytes(bytes(2 * 8 * 16 * 16))
    res = run_batch(detect_adapter(DetectOptions("rx")), None, [str(tmp_path / "in")], tmp_path / "out",
                    progress=False, echo=lambda s: None,
                    cluster=ClusterOptions(workers=1, processes=False, dashboard=False))
    rows = {Path(r.input).name: r for r in res.rows}
    assert rows["ok.tif"].status == "done"
    error = rows["lone.img"].error
    assert rows["lone.img"].status == "failed" and error.startswith(str(lone)) and "\n" not in error
    assert "lone.hdr" in error and "header" in error


def test_documents_metadata_and_system_files_beside_scenes_are_not_inputs(tmp_path: Path) -> None:
    """README: documents are never inputs; a folder's README, Thumbs.db, .docx or a WorldView .RPB/.IMD was taken as
    a scene, failed, and made the batch exit 1."""
    scenes = tmp_path / "scenes"
    kept = [_tif(scenes / "a.tif"), _tif(scenes / "raw_tiff")]  # a TIFF saved without an extension
    envi = scenes / "cube"  # ENVI data without an extension, its header beside it
    envi.write_bytes(bytes(16))
    (scenes / "cube.hdr").write_text("ENVI\n")
    kept.append(envi)
    kept.append(_tif(scenes / "flight.data"))  # a TIFF under another extension: a scene by its content
    for name in ("README", "LICENSE", "Thumbs.db", "desktop.ini", "a.RPB", "a.IMD", "a.ige", "notes.docx",
                 "table.xlsx", "a.tif.bak", "a.tif~", "style.lyr", "a.qmd", "project.qgz",
                 # review 1 #3/#9: a download's working files, and any document, script or photo by its content
                 "x.mat.resume", "x.mat.123.abcdef.part", "x.mat.lock", "README.rst", "notes.yaml", "process.py",
                 "run.sh", "analysis.ipynb", "photo.jpeg"):
        (scenes / name).write_text("not a scene\n")
    items = expand_inputs([str(scenes)], tmp_path / "out")
    assert sorted(i.source for i in items) == sorted(kept)


def test_a_dangling_link_fails_alone_naming_its_target(tmp_path: Path, kit) -> None:  # noqa: ANN001
    """A glob that matched a link to a missing file stopped the whole batch with 'unexpected FileNotFoundError'."""
    from hsi_app.batch import ClusterOptions, run_batch
    from hsi_app.batch.tasks import DetectOptions, detect_adapter

    kit.write_scene(tmp_path / "in" / "ok.tif", 16, 16, 1)
    broken = tmp_path / "in" / "broken.tif"
    broken.symlink_to(tmp_path / "gone" / "x.tif")
    res = run_batch(detect_adapter(DetectOptions("rx")), None, [str(tmp_path / "in" / "*.tif")], tmp_path / "out",
                    progress=False, echo=lambda s: None,
                    cluster=ClusterOptions(workers=1, processes=False, dashboard=False))
    rows = {Path(r.input).name: r for r in res.rows}
    assert rows["ok.tif"].status == "done" and rows["broken.tif"].status == "failed"
    error = rows["broken.tif"].error
    assert error.startswith(str(broken)) and str(tmp_path / "gone" / "x.tif") in error and "link" in error


def test_a_glob_below_a_missing_folder_names_the_folder(tmp_path: Path) -> None:
    """``--inputs 'scnes/**/*.tif'`` (misspelt) said only 'matched no scene; quote globs ...'."""
    import pytest

    from hsi_app.errors import ConfigError

    _tif(tmp_path / "scenes" / "a.tif")
    with pytest.raises(ConfigError, match=r"no such folder: .*scnes"):
        expand_inputs([str(tmp_path / "scnes" / "**" / "*.tif")], tmp_path / "out")
    with pytest.raises(ConfigError) as info:  # the folder is there, the glob just matches nothing
        expand_inputs([str(tmp_path / "scenes" / "*.img")], tmp_path / "out")
    assert "no such folder" not in str(info.value)


def test_every_envi_data_extension_is_dropped_from_the_output_name(tmp_path: Path) -> None:
    """``x.raw`` (an ENVI data file ending in .raw) was written as ``x.raw_classes.tif``."""
    from hsi_app.batch.inputs import SceneInput

    names = {ext: SceneInput(tmp_path / f"x{ext}", Path(f"x{ext}")).output_path(tmp_path, "_classes.tif").name
             for ext in (".img", ".dat", ".bsq", ".bil", ".bip", ".raw", ".RAW")}
    assert set(names.values()) == {"x_classes.tif"}, names
