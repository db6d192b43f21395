"""An ENVI pair can be uploaded as it lies on disk: its ``.hdr`` and its data file picked together in the
upload box (no zip), by a browser or an API client; anything else picked together is one line saying what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.io.open import open_cube
from hsi_app.viewer.uploads import UploadError

MB = 1024**2


def _renamed_pair(envi_scene: Path, dest: Path, header: str, data: str) -> tuple[Path, Path]:
    """The fixture pair copied as the user's ``header`` + ``data`` (as a browser sends them: each file alone)."""
    dest.mkdir(parents=True)
    (dest / "h").mkdir()
    (dest / "d").mkdir()
    hdr = Path(shutil.copyfile(envi_scene, dest / "h" / header))
    img = Path(shutil.copyfile(envi_scene.with_suffix(".img"), dest / "d" / data))
    return hdr, img


@pytest.mark.parametrize(("header", "data"), [("f180601t01p00r06_sc01_refl.hdr", "f180601t01p00r06_sc01_refl.img"),
                                              ("Überflug 3.hdr", "Überflug 3"),  # ENVI writes data without an ending
                                              ("scene.hdr", "scene.dat")])
def test_header_and_data_picked_together_open_as_the_pair(tmp_path: Path, envi_scene: Path, header: str,
                                                          data: str) -> None:
    hdr, img = _renamed_pair(envi_scene, tmp_path / "browser", header, data)
    expected = open_cube(envi_scene)
    s = viewer.ViewerSession(config=viewer.ViewerConfig(max_upload_bytes=5 * MB))
    try:
        cube = viewer.open_upload(s, [str(img), str(hdr)])  # any order
        assert s.name == f"{header} + {data}"
        np.testing.assert_array_equal(np.asarray(cube.values), np.asarray(expected.values))
        np.testing.assert_allclose(cube.hsi.wavelengths, expected.hsi.wavelengths)
        assert cube.rio.crs == expected.rio.crs and cube.hsi.transform == expected.hsi.transform
        assert hdr.is_file() and img.is_file()  # the uploads themselves are left to their owner
    finally:
        s.close()


def _tiff_header(path: Path, samples: int = 1, lines: int = 1, bands: int = 1) -> Path:
    """An ENVI header of the kind ENVI writes beside a TIFF: ``file type = TIFF``, its own (small) sizes."""
    path.write_text(f"ENVI\nfile type = TIFF\nsamples = {samples}\nlines = {lines}\nbands = {bands}\n"
                    "data type = 4\ninterleave = bsq\nbyte order = 0\n")
    return path


def test_a_tiff_type_header_cannot_hide_a_huge_sparse_tiff(tmp_path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    (tmp_path / "in").mkdir()
    tif = tmp_path / "in" / "big.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=4000, width=4000, count=20, dtype="float32", tiled=True,
                       compress="deflate", sparse_ok=True, crs="EPSG:32633", transform=from_origin(0, 0, 1, 1)):
        pass  # no tile written: some KB on disk, 4000 * 4000 * 20 * 4 bytes = 1.2 GB of pixels declared
    assert tif.stat().st_size < MB
    hdr = _tiff_header(tmp_path / "in" / "big.hdr")  # says 1 x 1 px x 1 band
    s = viewer.ViewerSession(config=viewer.ViewerConfig(max_upload_bytes=5 * MB))
    try:
        with pytest.raises(UploadError, match=r"4000 x 4000 px x 20 bands of float32 = 1\.2 GB once decompressed"):
            viewer.open_upload(s, [str(hdr), str(tif)])
        assert s.cube is None and not any((s.workdir / f).exists() for f in viewer.UPLOAD_FOLDERS)
        fake = tmp_path / "in" / "fake.tif"  # a 'TIFF' that is not one: refused before GDAL reads it
        fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        with pytest.raises(UploadError, match=r"says 'file type = TIFF' but big\.tif is not a TIFF"):
            viewer.open_upload(s, [str(hdr), str(fake)])
    finally:
        s.close()


def test_other_files_picked_together_are_one_line(tmp_path: Path, envi_scene: Path) -> None:
    hdr, img = _renamed_pair(envi_scene, tmp_path / "b", "a.hdr", "a.img")
    other = tmp_path / "notes.txt"
    other.write_text("field notes")
    s = viewer.ViewerSession(config=viewer.ViewerConfig(max_upload_bytes=5 * MB))
    try:
        viewer.open_scene(s, "indian_pines")
        with pytest.raises(UploadError) as err:
            viewer.open_upload(s, [img, other])
        assert str(err.value) == ("a.img, notes.txt: two files were uploaded together, but neither is an ENVI header; "
                                  "upload one file, or an ENVI pair: pick its .hdr and its data file (.img, .dat...) "
                                  "together")
        with pytest.raises(UploadError, match=r"^3 files were uploaded together \(a.hdr, a.img, notes.txt\); upload "
                                              r"one file, or an ENVI pair"):
            viewer.open_upload(s, [hdr, img, other])
        with pytest.raises(UploadError, match=r"^the 2 files are .* over the 10.0 KB upload limit"):
            small = viewer.ViewerSession(config=viewer.ViewerConfig(max_upload_bytes=10 * 1024))
            try:
                viewer.open_upload(small, [hdr, img])
            finally:
                small.close()
        assert s.name == "indian_pines" and not any((s.workdir / f).exists() for f in viewer.UPLOAD_FOLDERS)
    finally:
        s.close()


def test_api_client_uploads_a_pair(viewer_server: str, envi_scene: Path) -> None:
    from gradio_client import Client, handle_file

    client = Client(viewer_server, verbose=False)
    out = client.predict([handle_file(str(envi_scene)), handle_file(str(envi_scene.with_suffix(".img")))],
                         api_name="/upload_files")
    assert out[1].startswith(f"**{envi_scene.name} + {envi_scene.with_suffix('.img').name}**: 24 × 20 px, 50 bands")
    _, text, *_ = client.predict(5, 5, 0.5, True, api_name="/pixel")
    assert "EPSG:32611" in text
