"""MATLAB v5 uploads whose data elements disagree with their declared dimensions (".mat bombs").

The files are built byte by byte (MAT-file format, level 5) so that each element's
length can be set independently of the array's dimensions.
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from hsi_app.io.open import open_cube
from hsi_app.viewer.uploads import UploadError, stage_upload

MB = 1024**2
MI_INT8, MI_UINT8, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED = 1, 2, 5, 6, 9, 14, 15
MX_DOUBLE, MX_UINT8 = 6, 9
COMPLEX_FLAG = 0x800


def _element(mdtype: int, payload: bytes) -> bytes:
    """A full-tag data element, padded to 8 bytes."""
    return struct.pack("<II", mdtype, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def _matrix_head(name: str, mx_class: int, dims: tuple[int, ...], flags: int = 0) -> bytes:
    """Array flags, dimensions and name of a miMATRIX (its tag not included)."""
    return (_element(MI_UINT32, struct.pack("<II", mx_class | flags, 0))
            + _element(MI_INT32, struct.pack(f"<{len(dims)}i", *dims))
            + _element(MI_INT8, name.encode()))


def _mat_file(path: Path, body: bytes, *, compressed: bool) -> Path:
    """Write one variable (``body``: miMATRIX content) with the 128-byte v5 header."""
    header = b"MATLAB 5.0 MAT-file, test".ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    var = struct.pack("<II", MI_MATRIX, len(body)) + body
    if compressed:
        packed = zlib.compress(var)
        var = struct.pack("<II", MI_COMPRESSED, len(packed)) + packed
    path.write_bytes(header + var)
    return path


def _bomb(path: Path, inflated: int) -> Path:
    """A compressed 10 x 10 x 3 uint8 ``cube`` (300 B declared) whose real part holds ``inflated`` zero bytes."""
    head = _matrix_head("cube", MX_UINT8, (10, 10, 3)) + struct.pack("<II", MI_UINT8, inflated)
    z = zlib.compressobj(9)
    parts = [z.compress(struct.pack("<II", MI_MATRIX, len(head) + inflated) + head)]
    zeros = b"\0" * MB
    for _ in range(inflated // MB):
        parts.append(z.compress(zeros))
    parts.append(z.flush())
    packed = b"".join(parts)
    header = b"MATLAB 5.0 MAT-file, bomb".ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    path.write_bytes(header + struct.pack("<II", MI_COMPRESSED, len(packed)) + packed)
    return path


def test_data_element_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    inflated = 64 * MB
    bomb = _bomb(tmp_path / "small_cube.mat", inflated)
    assert bomb.stat().st_size < MB  # the file itself is far under the limit
    tracemalloc.start()
    try:
        with pytest.raises(UploadError, match=r"'cube' declares 10 x 10 x 3 uint8 but its real part holds "
                                              rf"{inflated} bytes, not 300"):
            stage_upload(bomb, tmp_path / "work", 2 * MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MB, f"{peak / MB:.1f} MB held while checking a file that inflates to 64 MB"
    assert not (tmp_path / "work" / "upload").exists()


def test_data_element_shorter_than_declared_is_refused(tmp_path: Path) -> None:
    body = _matrix_head("cube", MX_UINT8, (10, 10, 3)) + _element(MI_UINT8, bytes(100))
    for compressed in (False, True):
        bad = _mat_file(tmp_path / f"short{compressed}.mat", body, compressed=compressed)
        with pytest.raises(UploadError, match=r"its real part holds 100 bytes, not 300"):
            stage_upload(bad, tmp_path / "work", 2 * MB)


def test_complex_imaginary_part_is_checked(tmp_path: Path) -> None:
    dims = (2, 3, 2)
    real = _element(MI_DOUBLE, np.ones(12).tobytes())
    body = _matrix_head("cube", MX_DOUBLE, dims, COMPLEX_FLAG) + real + _element(MI_DOUBLE, bytes(8 * 5000))
    bad = _mat_file(tmp_path / "z.mat", body, compressed=True)
    with pytest.raises(UploadError, match=r"its imaginary part holds 40000 bytes, not 96"):
        stage_upload(bad, tmp_path / "work", 2 * MB)


def test_doubles_stored_as_uint8_like_matlab_writes_them_are_accepted(tmp_path: Path) -> None:
    # MATLAB saves integer-valued doubles in the smallest type that holds them: the class
    # is double (8 bytes per value), the data element miUINT8 (1 byte per value)
    values = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    body = _matrix_head("cube", MX_DOUBLE, (4, 5, 3)) + _element(MI_UINT8, values.tobytes(order="F"))
    for compressed in (False, True):
        good = _mat_file(tmp_path / f"m{compressed}.mat", body, compressed=compressed)
        staged = stage_upload(good, tmp_path / "work", 2 * MB)
        cube = open_cube(staged)
        np.testing.assert_array_equal(cube.values, values.transpose(2, 0, 1).astype(np.float64))


def test_savemat_files_with_scalars_and_complex_arrays_pass(tmp_path: Path) -> None:
    from scipy.io import savemat

    cube = np.random.default_rng(0).uniform(size=(4, 5, 3))
    arrays = {"cube": cube, "scale": np.uint8(3), "z": np.ones((2, 2), complex), "name": "field"}
    for compressed in (False, True):
        savemat(tmp_path / "ok.mat", arrays, do_compression=compressed)
        staged = stage_upload(tmp_path / "ok.mat", tmp_path / "work", 2 * MB)
        np.testing.assert_array_equal(open_cube(staged).values, cube.transpose(2, 0, 1))
