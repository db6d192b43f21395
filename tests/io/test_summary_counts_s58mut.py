"""Mutation audit s58: ``hsi info``'s label counts (io/summary.py), checked against counts made with numpy."""

from __future__ import annotations

import re

import numpy as np

from hsi_app.io.cube import make_cube
from hsi_app.io.summary import format_summary, label_counts, summarize

NODATA = -9999.0


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, labels, valid): columns 20.. hold no data; class 1 lies on data, class 2 crosses the edge, class 4
    (the highest id) lies on no-data only, class 3 is absent."""
    rng = np.random.default_rng(3)
    data = rng.normal(0.3, 0.02, (3, 30, 30)).astype(np.float32)
    data[:, :, 20:] = NODATA
    labels = np.zeros((30, 30), np.int64)
    labels[0:5, 0:10] = 1
    labels[10:15, 15:25] = 2
    labels[25:30, 22:30] = 4
    valid = np.ones((30, 30), bool)
    valid[:, 20:] = False
    return data, labels, valid


def test_label_counts_split_each_class_between_data_and_no_data() -> None:
    _, labels, valid = _scene()
    names = ["unlabelled", "water", "soil", "road", "roof"]
    out = label_counts(labels, valid, names)
    on = {names[k]: int(np.count_nonzero((labels == k) & valid)) for k in (1, 2, 4)}
    off = {names[k]: int(np.count_nonzero((labels == k) & ~valid)) for k in (2, 4)}
    assert out["class_counts"] == on  # roof lies on no-data only: 0, still listed; road has no pixel: absent
    assert on["roof"] == 0
    assert out["class_counts_on_nodata"] == off
    assert out["labelled_pixels"] == int(np.count_nonzero(labels))
    assert out["labelled_on_nodata"] == int(np.count_nonzero((labels > 0) & ~valid))


def test_summary_text_aligns_counts_wider_than_eight_digits() -> None:
    """A class with 12,345,678 pixels: every count line ends at the same column, with thousands separators."""
    info = {"class_counts": {"a": 12_345_678, "bb": 7}, "class_counts_on_nodata": {},
            "labelled_pixels": 12_345_685, "labelled_on_nodata": 0}
    cube = make_cube(np.zeros((2, 4, 4), np.float32), wavelength=[500.0, 600.0])
    text = format_summary({**summarize(cube), **info})
    rows = [line for line in text.splitlines() if re.match(r"^  (a|bb) ", line)]
    assert [r.split()[-1] for r in rows] == ["12,345,678", "7"]
    assert len({len(r) for r in rows}) == 1, rows
    assert "on data" not in text  # no class has pixels on no-data: no column heading needed


def test_summary_of_a_cube_with_labels_counts_what_a_run_uses() -> None:
    data, labels, valid = _scene()
    cube = make_cube(data, wavelength=[500.0, 600.0, 700.0], nodata=NODATA, labels=labels)
    info = summarize(cube)
    assert info["class_counts"]["class 1"] == int(np.count_nonzero(labels == 1))
    assert info["class_counts"]["class 2"] == int(np.count_nonzero((labels == 2) & valid))
    assert info["class_counts_on_nodata"] == {"class 2": int(np.count_nonzero((labels == 2) & ~valid)),
                                              "class 4": int(np.count_nonzero(labels == 4))}
    text = format_summary(info)
    assert "on data" in text
    assert f"+ {np.count_nonzero(labels == 4):,} on no-data, not used" in text
