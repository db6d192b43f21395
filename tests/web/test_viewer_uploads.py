"""Upload validation: size limit, content (not name) checks, zip safety, staging and cleanup."""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.io.open import open_cube
from hsi_app.viewer.uploads import UploadError, safe_member_name, stage_upload

MB = 1024**2


def _geotiff(path: Path) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    data = np.arange(4 * 8 * 9, dtype=np.float32).reshape(4, 8, 9)
    with rasterio.open(path, "w", driver="GTiff", height=8, width=9, count=4, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000, 4200000, 30, 30)) as ds:
        ds.write(data)
    return path


def _zip(path: Path, members: dict[str, bytes | Path]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content.read_bytes() if isinstance(content, Path) else content)
    return path


def test_geotiff_is_staged_under_a_viewer_chosen_name(tmp_path: Path) -> None:
    src = _geotiff(tmp_path / "my scene (1).dat")  # odd name and extension: content decides
    staged = stage_upload(src, tmp_path / "work", 5 * MB)
    assert staged == tmp_path / "work" / "upload" / "scene.tif"
    np.testing.assert_array_equal(open_cube(staged).values, open_cube(src).values)


def test_mat_upload(tmp_path: Path) -> None:
    from scipy.io import savemat

    arr = np.random.default_rng(0).uniform(size=(6, 7, 5)).astype(np.float32)  # (H, W, C) as in the literature
    savemat(tmp_path / "x.bin", {"cube": arr})
    staged = stage_upload(tmp_path / "x.bin", tmp_path / "work", 5 * MB)
    assert staged.name == "scene.mat" and open_cube(staged).hsi.shape == (5, 6, 7)


def test_size_limit_and_wrong_content_are_refused(tmp_path: Path) -> None:
    big = _geotiff(tmp_path / "big.tif")
    with pytest.raises(UploadError, match="over the .* upload limit"):
        stage_upload(big, tmp_path / "work", 100)
    fake = tmp_path / "fake.tif"
    fake.write_text("<html>not a raster</html>")
    with pytest.raises(UploadError, match="checked its content"):
        stage_upload(fake, tmp_path / "work", 5 * MB)
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(UploadError, match="empty"):
        stage_upload(empty, tmp_path / "work", 5 * MB)
    truncated = tmp_path / "trunc.tif"
    truncated.write_bytes(big.read_bytes()[:300])
    with pytest.raises(UploadError, match="could not be read"):
        stage_upload(truncated, tmp_path / "work", 5 * MB)
    assert not (tmp_path / "work" / "upload").exists()  # a refused upload leaves nothing behind


def test_zipped_envi_pair_opens_like_the_original(tmp_path: Path, envi_scene: Path) -> None:
    data = next(p for p in envi_scene.parent.iterdir() if p.suffix == ".img")
    z = _zip(tmp_path / "pair.zip", {f"folder/{envi_scene.name}": envi_scene, f"folder/{data.name}": data})
    staged = stage_upload(z, tmp_path / "work", 5 * MB)
    assert staged.suffix == ".hdr" and staged.is_relative_to(tmp_path / "work" / "upload")
    a, b = open_cube(staged), open_cube(envi_scene)
    np.testing.assert_array_equal(np.asarray(a.values), np.asarray(b.values))
    assert a.rio.crs == b.rio.crs


def test_zipped_enmap_product_is_read_in_place(tmp_path: Path, load_fixture) -> None:  # noqa: ANN001
    product_zip = load_fixture("enmap_l2a").make(tmp_path, height=12, width=16, zip_it=True)
    staged = stage_upload(product_zip, tmp_path / "work", 50 * MB)
    assert staged.name == "scene.zip"
    assert open_cube(staged).hsi.shape == open_cube(product_zip).hsi.shape


@pytest.mark.parametrize("ending", ["_COG.TIF", ".GEOTIFF", ".JP2"])
def test_zipped_enmap_product_in_another_ordered_format_is_staged(tmp_path: Path, load_fixture, ending: str) -> None:  # noqa: ANN001
    """COG, .GEOTIFF and JPEG2000 orders zip as the GeoTIFF one does; their declared size is the spectral image's."""
    from hsi_app.viewer.uploads import declared_size

    fx = load_fixture("enmap_l2a")
    product_zip = fx.make(tmp_path, height=12, width=16, zip_it=True, raster_ending=ending)
    nbytes, what = declared_size(product_zip)
    assert nbytes == 224 * 12 * 16 * 2 and what == "12 x 16 px x 224 bands of int16"
    staged = stage_upload(product_zip, tmp_path / "work", 50 * MB)
    assert open_cube(staged).hsi.shape == (224, 12, 16)


@pytest.mark.parametrize("name", ["../evil.hdr", "/abs/evil.hdr", "a/../../evil.hdr", "C:/evil.hdr", "..\\evil.hdr"])
def test_path_traversal_members_are_refused(tmp_path: Path, name: str) -> None:
    z = _zip(tmp_path / "bad.zip", {name: b"ENVI\n", "ok.img": b"\0" * 8})
    with pytest.raises(UploadError, match="outside the archive"):
        stage_upload(z, tmp_path / "work" / "deep", 5 * MB)
    assert not (tmp_path / "evil.hdr").exists() and not (tmp_path / "work" / "evil.hdr").exists()


def test_member_names_are_sanitised() -> None:
    assert str(safe_member_name("dir/we ird;name.hdr")) == "dir/we_ird_name.hdr"
    assert str(safe_member_name("./.hidden")) == "hidden"


def test_links_bombs_and_ambiguous_zips_are_refused(tmp_path: Path) -> None:
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("x.hdr")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UploadError, match="is a link"):
        stage_upload(link, tmp_path / "work", 5 * MB)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.img", b"\0" * (2 * MB))  # compresses to a few KB
    assert bomb.stat().st_size < MB
    with pytest.raises(UploadError, match="unpacks to"):
        stage_upload(bomb, tmp_path / "work", MB)
    two = _zip(tmp_path / "two.zip", {"a.hdr": b"ENVI\n", "b.hdr": b"ENVI\n"})
    with pytest.raises(UploadError, match="2 ENVI headers"):
        stage_upload(two, tmp_path / "work", MB)


def test_session_upload_and_cleanup(tmp_path: Path) -> None:
    session = viewer.ViewerSession(config=viewer.ViewerConfig(max_upload_bytes=5 * MB))
    cube = viewer.open_upload(session, _geotiff(tmp_path / "s.tif"))
    assert cube.hsi.shape == (4, 8, 9) and session.rgb is not None and session.rgb.shape == (8, 9, 3)
    work = session.workdir
    assert (work / "upload" / "scene.tif").is_file()
    session.close()
    assert not work.exists() and session.closed


def test_sparse_geotiff_declaring_a_huge_scene_is_refused(tmp_path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    huge = tmp_path / "sparse.tif"
    with rasterio.open(huge, "w", driver="GTiff", height=4000, width=4000, count=20, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000, 4200000, 10, 10), tiled=True,
                       blockxsize=512, blockysize=512, sparse_ok=True, compress="deflate"):
        pass  # no tile is written: a few KB on disk, 1.2 GB of pixels declared
    assert huge.stat().st_size < MB
    with pytest.raises(UploadError, match=r"4000 x 4000 px x 20 bands of float32 = 1\.2 GB once decompressed, "
                                          r"over the 5\.0 MB upload limit"):
        stage_upload(huge, tmp_path / "work", 5 * MB)
    assert not (tmp_path / "work" / "upload").exists()


def test_compressed_mat_bombs_are_refused_from_their_headers(tmp_path: Path) -> None:
    import h5py
    from scipy.io import savemat

    v5 = tmp_path / "bomb5.mat"
    savemat(v5, {"cube": np.zeros((200, 200, 40))}, do_compression=True)  # 12.2 MB of zeros, ~15 KB on disk
    assert v5.stat().st_size < MB
    with pytest.raises(UploadError, match=r"array 'cube' of 200 x 200 x 40 double = 12\.2 MB once decompressed"):
        stage_upload(v5, tmp_path / "work", 5 * MB)
    v73 = tmp_path / "bomb73.mat"
    with h5py.File(v73, "w") as fh:  # MATLAB order: (bands, W, H)
        fh.create_dataset("cube", shape=(40, 200, 200), dtype="f8", compression="gzip", fillvalue=0.0)
        fh["cube"].attrs["MATLAB_class"] = np.bytes_("double")
    with pytest.raises(UploadError, match=r"200 x 200 x 40 float64 = 12\.2 MB once decompressed"):
        stage_upload(v73, tmp_path / "work", 5 * MB)
    plain = tmp_path / "plain.mat"  # no MATLAB marks: refused, and the message names no server folder
    with h5py.File(plain, "w") as fh:
        fh["cube"] = np.zeros((4, 5, 6))
    with pytest.raises(UploadError, match="plain HDF5 file") as refused:
        stage_upload(plain, tmp_path / "work", 5 * MB)
    assert str(tmp_path) not in str(refused.value)
    assert not (tmp_path / "work" / "upload").exists()


def test_mat5_header_reader_matches_whosmat_without_inflating(tmp_path: Path) -> None:
    from scipy.io import savemat, whosmat

    from hsi_app.viewer.uploads import declared_size, mat5_variables

    arrays = {"cube": np.zeros((3, 4, 5), np.float32), "labels": np.ones((3, 4), np.uint8),
              "flags": np.ones((2, 3), bool), "z": np.ones((2, 2), complex), "tag": "hello"}
    for compressed in (False, True):
        savemat(tmp_path / "m.mat", arrays, do_compression=compressed)
        mine = mat5_variables(tmp_path / "m.mat")
        theirs = whosmat(tmp_path / "m.mat")
        assert [(n, s) for n, s, _ in mine if n != "tag"] == [(n, s) for n, s, _ in theirs if n != "tag"]
        assert dict((n, c) for n, _, c in mine)["z"] == "complex double"
        assert declared_size(tmp_path / "m.mat")[0] == 3 * 4 * 5 * 4 + 12 + 6 + 4 * 16 + 5 * 4


def test_envi_and_enmap_declared_sizes(tmp_path: Path, envi_scene: Path, load_fixture) -> None:  # noqa: ANN001
    import rasterio

    from hsi_app.viewer.uploads import declared_size

    cube = open_cube(envi_scene)
    c, h, w = cube.hsi.shape
    data = next(p for p in envi_scene.parent.iterdir() if p.suffix == ".img")
    assert declared_size(envi_scene)[0] == data.stat().st_size  # raw ENVI: header says exactly the file
    lying = tmp_path / "lying"
    lying.mkdir()
    text = envi_scene.read_text()
    (lying / "x.hdr").write_text(re.sub(r"(?m)^lines\s*=\s*\d+", "lines = 900000", text))
    assert "lines = 900000" in (lying / "x.hdr").read_text()
    (lying / "x.img").write_bytes(data.read_bytes())
    z = _zip(tmp_path / "lying.zip", {"x.hdr": lying / "x.hdr", "x.img": lying / "x.img"})
    with pytest.raises(UploadError, match="900000 x .* once decompressed"):
        stage_upload(z, tmp_path / "work", 5 * MB)
    assert not (tmp_path / "work" / "upload").exists()
    product_zip = load_fixture("enmap_l2a").make(tmp_path / "enmap", height=12, width=16, zip_it=True)
    nbytes, what = declared_size(product_zip)
    with rasterio.open(f"/vsizip/{product_zip}/{next(n for n in zipfile.ZipFile(product_zip).namelist() if 'SPECTRAL' in n)}") as ds:
        assert nbytes == ds.width * ds.height * ds.count * np.dtype(ds.dtypes[0]).itemsize
    assert what.startswith("12 x 16 px")


def test_a_zip_refused_after_extraction_leaves_nothing(tmp_path: Path) -> None:
    z = tmp_path / "noheader.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/blob.img", b"\0" * (2 * MB))
    with pytest.raises(UploadError, match="no ENVI header"):
        stage_upload(z, tmp_path / "work", 5 * MB)
    assert not (tmp_path / "work" / "upload").exists()
    assert [p for p in (tmp_path / "work").rglob("*") if p.is_file()] == []


def test_a_refused_upload_keeps_the_open_scene_and_its_map(tmp_path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    session = viewer.ViewerSession(config=viewer.ViewerConfig(max_upload_bytes=5 * MB))
    viewer.open_upload(session, _geotiff(tmp_path / "first.tif"))
    before = (session.cube, session.rgb, session.name)
    assert session.name == "first.tif"
    marker = session.workdir / "map.tif"
    marker.write_bytes(b"old map")
    allbad = tmp_path / "allbad.tif"  # opens, but every band is flagged bad: no composite
    with rasterio.open(allbad, "w", driver="GTiff", height=3, width=4, count=3, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000, 4200000, 30, 30)) as ds:
        ds.write(np.ones((3, 3, 4), np.float32))
        ds.update_tags(bad_bands="0,1,2")
    with pytest.raises(viewer.UploadError.__mro__[1]):  # an HSIError
        viewer.open_upload(session, allbad)
    assert (session.cube, session.rgb, session.name) == before
    assert marker.read_bytes() == b"old map"
    assert session.cube.hsi.shape == (4, 8, 9) and float(session.cube.values.sum()) > 0  # still readable
    assert not (session.workdir / viewer.UPLOAD_FOLDERS[1]).exists()
    viewer.open_upload(session, _geotiff(tmp_path / "second.tif"))  # the next one replaces the first
    assert session.name == "second.tif" and not (session.workdir / viewer.UPLOAD_FOLDERS[0]).exists()
    session.close()


def test_content_refusals_name_the_uploaded_file_and_an_envi_half_gets_the_zip_fix(tmp_path: Path) -> None:
    """Each refusal for the file's content names it as the user knows it (not the server's copy)."""
    server = tmp_path / "gradio" / "0a1b2c"
    server.mkdir(parents=True)

    def refusal(content: bytes, display: str) -> str:
        src = server / "upload.bin"
        src.write_bytes(content)
        with pytest.raises(UploadError) as err:
            stage_upload(src, tmp_path / "work", 5 * MB, display_name=display)
        assert str(server) not in str(err.value) and "upload.bin" not in str(err.value)
        return str(err.value)

    assert refusal(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "fake.tif") == (
        "fake.tif is not a GeoTIFF, a .mat file, an ENVI pair (.hdr + data, picked together or zipped) or a zipped "
        "EnMAP L2A product (checked its content, not its name)")
    header = b"ENVI\nsamples = 5\nlines = 4\nbands = 3\ndata type = 4\ninterleave = bsq\n"
    assert refusal(header, "ip_envi.hdr") == (
        "ip_envi.hdr is an ENVI header, which holds no pixels: upload it together with its data file "
        "(pick ip_envi.hdr and ip_envi.img at once), or zip the two and upload the zip")
    assert refusal(b"\x01\x02" * 100, "ip_envi.img") == (
        "ip_envi.img is no scene on its own: if it is the data file of an ENVI pair, upload it together with its "
        "header (pick ip_envi.hdr and ip_envi.img at once), or zip the two; the viewer takes a GeoTIFF, a .mat "
        "file, an ENVI pair (.hdr + data, picked together or zipped) or a zipped EnMAP L2A product")
    assert refusal(b"", "field.tif") == "field.tif is empty; upload it again"
    truncated = _geotiff(tmp_path / "whole.tif").read_bytes()[:16]  # the header points past the end
    assert refusal(truncated, "trunc90.tif") == (
        "trunc90.tif could not be read as a scene: its image header is damaged or the file is cut short; "
        "export it again and upload the whole file")
    assert not (tmp_path / "work" / "upload").exists()


@pytest.mark.parametrize("display", ["scene", "a", "image"])
def test_a_short_upload_name_inside_the_wording_still_names_the_file(tmp_path: Path, display: str) -> None:
    """An upload named ``scene`` or ``a`` was taken as already named by any refusal holding those letters
    ("the upload could not be read as a scene"), so the refusal never said which file it was about."""
    src = tmp_path / "upload.bin"
    src.write_bytes(_geotiff(tmp_path / "whole.tif").read_bytes()[:16])  # a TIFF whose header points past the end
    with pytest.raises(UploadError) as err:
        stage_upload(src, tmp_path / "work", 5 * MB, display_name=display)
    assert str(err.value) == (f"{display} could not be read as a scene: its image header is damaged or the file is "
                              "cut short; export it again and upload the whole file")
