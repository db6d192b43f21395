"""A worker's warning relayed by the client names its scene once: prefixed when it does not name the scene or one
of its files, left as it is when it does."""

from __future__ import annotations

import warnings

from hsi_app.batch.relay import reissue
from hsi_app.errors import HSIWarning


def _reissued(message: str, scene: str) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reissue([(message, HSIWarning, "x.py", 1)], scene=scene)
    [w] = caught
    return str(w.message)


def test_an_envi_warning_naming_the_header_is_not_prefixed_with_the_data_file() -> None:
    """The source of an ENVI pair is x.img while the reader's warnings name x.hdr: '/d/x.img: /d/x.hdr: ...'."""
    for header in ("/d/x.hdr", "/d/x.img.hdr"):
        message = f"{header}: 'wavelength units' missing; taken as nm"
        assert _reissued(message, "/d/x.img") == message


def test_a_warning_that_names_no_file_of_the_scene_is_prefixed() -> None:
    message = "detection: the background covariance is singular; regularised"
    assert _reissued(message, "/d/x.img") == f"/d/x.img: {message}"
    assert _reissued("/d/y.hdr: band 3 is empty", "/d/x.img") == "/d/x.img: /d/y.hdr: band 3 is empty"
    assert _reissued("/d/a.tif: no-data taken as -9999", "/d/a.tif") == "/d/a.tif: no-data taken as -9999"
