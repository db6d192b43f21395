"""Windowed, halo'd inference equals one-shot inference; georeference survives; dask path agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin
from scipy.ndimage import uniform_filter

from hsi_app.infer import iter_windows, predict_dask, predict_scene
from hsi_app.io.cube import make_cube

RADIUS = 2
K = 3


def box_model(image: np.ndarray) -> np.ndarray:
    """A 'dense model' with receptive radius 2: box-filtered bands -> softmax over 3 classes.

    ``(C, h, w)`` (NaN = no data) -> ``(3, h, w)``; zero padding at the tile edge, like a conv net.
    """
    x = np.nan_to_num(image)
    smooth = uniform_filter(x, size=(1, 2 * RADIUS + 1, 2 * RADIUS + 1), mode="constant", cval=0.0)
    logits = np.stack([smooth[0], smooth[1], smooth[2] - smooth[0]])
    e = np.exp(logits - logits.max(axis=0))
    return (e / e.sum(axis=0)).astype(np.float32)


@pytest.fixture()
def cube():  # noqa: ANN201
    rng = np.random.default_rng(3)
    data = rng.normal(size=(4, 37, 29)).astype(np.float32)
    data[:, 30:, :4] = np.nan  # a no-data corner
    t = from_origin(300000.0, 5000000.0, 30.0, 30.0)
    xs = 300000.0 + 15.0 + 30.0 * np.arange(29)
    ys = 5000000.0 - 15.0 - 30.0 * np.arange(37)
    return make_cube(data, x=xs, y=ys, crs="EPSG:32632", transform=t, labels=rng.integers(0, K + 1, size=(37, 29)))


def one_shot(cube) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    image = np.asarray(cube.values, dtype=np.float32)
    valid = np.asarray(cube.hsi.valid.values)
    image[:, ~valid] = np.nan
    probs = box_model(image)
    cls = (probs.argmax(0) + 1).astype(np.uint8)
    cls[~valid] = 0
    return cls, np.where(valid, probs.max(0), 0.0)


def test_windows_cover_scene_exactly_once() -> None:
    hits = np.zeros((37, 29), dtype=int)
    for w in iter_windows(37, 29, 8, 3):
        hits[w.row : w.row + w.height, w.col : w.col + w.width] += 1
        assert w.read_row <= w.row and w.read_row + w.read_height >= w.row + w.height
    assert (hits == 1).all()


@pytest.mark.parametrize("window", [5, 8, 16, 64])
def test_windowed_equals_one_shot(cube, window: int) -> None:  # noqa: ANN001
    expected, _ = one_shot(cube)
    res = predict_scene(box_model, cube, num_classes=K, halo=RADIUS, window=window, keep_map=True, progress=False)
    np.testing.assert_array_equal(res.classes, expected)
    assert res.class_counts.sum() == 37 * 29 and res.class_counts[0] == 7 * 4


def test_too_small_halo_is_detectably_wrong(cube) -> None:  # noqa: ANN001
    expected, _ = one_shot(cube)
    res = predict_scene(box_model, cube, num_classes=K, halo=0, window=5, keep_map=True, progress=False)
    assert (res.classes != expected).any()  # guards the equality test above against vacuity


def test_cog_keeps_crs_transform_and_values(cube, tmp_path: Path) -> None:  # noqa: ANN001
    from hsi_app.io.cog import read_class_map

    out = tmp_path / "map.tif"
    expected, conf = one_shot(cube)
    predict_scene(box_model, cube, num_classes=K, halo=RADIUS, window=8, out=out, progress=False,
                  class_names=["no data", "a", "b", "c"])
    classes, confidence, names, _cmap, crs, transform = read_class_map(out)
    np.testing.assert_array_equal(classes, expected)
    np.testing.assert_allclose(confidence, conf, atol=1 / 255 + 1e-6)
    assert crs.to_epsg() == 32632 and transform == from_origin(300000.0, 5000000.0, 30.0, 30.0)
    assert names == ["no data", "a", "b", "c"]
    assert not list(tmp_path.glob(".*partial*"))


def test_interrupt_leaves_no_output(cube, tmp_path: Path) -> None:  # noqa: ANN001
    calls = {"n": 0}

    def flaky(image: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return box_model(image)

    out = tmp_path / "map.tif"
    with pytest.raises(KeyboardInterrupt):
        predict_scene(flaky, cube, num_classes=K, halo=RADIUS, window=8, out=out, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_confusion_counts_labelled_valid_pixels(cube) -> None:  # noqa: ANN001
    """Rows are the reference class, columns the predicted one, over labelled pixels with data."""
    expected, _ = one_shot(cube)
    res = predict_scene(box_model, cube, num_classes=K, halo=RADIUS, window=8, progress=False)
    labels = np.asarray(cube.hsi.labels)
    sel = (labels > 0) & (expected > 0)
    want = np.zeros((K, K), dtype=np.int64)
    for t, p in zip(labels[sel], expected[sel]):
        want[t - 1, p - 1] += 1
    assert not np.array_equal(want, want.T)  # a transposed matrix would be caught
    np.testing.assert_array_equal(res.confusion, want)


def test_scene_confusion_rows_are_the_reference_class() -> None:
    """Every pixel labelled 2 but predicted 1 lands in row 2, column 1."""
    labels = np.full((6, 7), 2, np.int32)
    cube = make_cube(np.zeros((3, 6, 7), np.float32), labels=labels)

    def always_class_1(image: np.ndarray) -> np.ndarray:
        return np.stack([np.ones(image.shape[1:]), np.zeros(image.shape[1:])]).astype(np.float32)

    res = predict_scene(always_class_1, cube, num_classes=2, halo=0, window=4, progress=False)
    np.testing.assert_array_equal(res.confusion, [[0, 0], [42, 0]])


def test_dask_map_overlap_equals_one_shot(cube) -> None:  # noqa: ANN001
    import dask.array as da

    expected, conf = one_shot(cube)
    data = da.from_array(np.asarray(cube.values), chunks=(-1, 10, 9))
    valid = da.from_array(np.asarray(cube.hsi.valid.values), chunks=(10, 9))
    out = predict_dask(box_model, data, valid, halo=RADIUS).compute()
    np.testing.assert_array_equal(out[0].astype(np.uint8), expected)
    np.testing.assert_allclose(out[1], conf, rtol=1e-6)


@pytest.mark.parametrize("wrong", [lambda p: p[:, :5, :5], lambda p: p[:2], lambda p: p.transpose(1, 2, 0)],
                         ids=["cropped", "fewer-classes", "hwk"])
def test_a_prob_fn_of_another_shape_is_named_with_the_expected_one(cube, wrong, tmp_path: Path) -> None:  # noqa: ANN001
    from hsi_app.errors import ConfigError

    with pytest.raises(ConfigError, match=r"prob_fn returned shape \(.*\) for a \(4, 10, 10\) window; it must return "
                                          r"\(K, h, w\) = \(3, 10, 10\) probabilities \(K = num_classes = 3\)$"):
        predict_scene(lambda im: wrong(box_model(im)), cube, num_classes=K, halo=RADIUS, window=8,
                      out=tmp_path / "m.tif", progress=False)
    assert not (tmp_path / "m.tif").exists()
