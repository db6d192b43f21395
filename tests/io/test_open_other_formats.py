"""Files that look like a scene by name but are another format, or a header that is not an image: one line
naming the file and what to do (review 1 of session 55, #5 and #6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import CubeReadError, DatasetNotFoundError, HSIError
from hsi_app.io import open_cube

LIBRARY = ("ENVI\nfile type = ENVI Spectral Library\nsamples = 5\nlines = 2\nbands = 1\nheader offset = 0\n"
           "data type = 4\ninterleave = bsq\nbyte order = 0\nwavelength = {1,2,3,4,5}\nspectra names = {a, b}\n")


def _message(path: Path, kind: type[HSIError]) -> str:
    with pytest.raises(kind) as info:
        open_cube(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    return msg


def test_an_erdas_imagine_img_is_named_with_the_conversion(tmp_path: Path) -> None:
    """It was told to copy an ENVI header beside it, which it never had."""
    img = tmp_path / "field.img"
    img.write_bytes(b"EHFA_HEADER_TAG\x00" + bytes(200))
    msg = _message(img, CubeReadError)
    assert "ERDAS Imagine" in msg and "gdal_translate -of GTiff field.img field.tif" in msg and ".hdr" not in msg


@pytest.mark.parametrize("drop", ["", "byte order = 0\n"])
def test_a_spectral_library_header_is_named_as_one_even_lacking_a_key(tmp_path: Path, drop: str) -> None:
    """Lacking a key, its .sli beside it, it was told its data file was missing."""
    hdr = tmp_path / "lib.hdr"
    hdr.write_text(LIBRARY.replace(drop, "") if drop else LIBRARY)
    np.zeros((2, 5), "<f4").tofile(tmp_path / "lib.sli")
    msg = _message(hdr, CubeReadError)
    assert "is an ENVI spectral library" in msg and "--targets LIB" in msg and "no data file" not in msg


def test_a_lone_envi_header_lacking_a_key_says_its_data_is_missing(tmp_path: Path) -> None:
    hdr = tmp_path / "scene.hdr"
    hdr.write_text("ENVI\nsamples = 5\nlines = 2\nbands = 3\ndata type = 4\ninterleave = bsq\n")
    msg = _message(hdr, DatasetNotFoundError)
    assert "no data file next to the header" in msg and "scene.img" in msg
