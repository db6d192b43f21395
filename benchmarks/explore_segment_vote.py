"""Exploration: does majority voting inside unsupervised segments lift a model on ``disjoint``?

Object-based post-processing (Tarabalka et al., partitional clustering + majority vote):
cluster the scene's pixels on their leading principal components (k-means), cut each
cluster into 8-connected regions, and give every pixel of a region the most frequent
predicted class in it. Label-free and applied to the saved whole-scene maps, so it tests
whether fields that the classifier gets mostly right can be made wholly right.

Also reported: the same vote inside the *ground-truth* fields (connected components of the
label map). That uses the labels' geometry, so it is only an upper bound of what voting
inside perfect segments could give, never a method.

Input: run folders written by ``bench_classification.py --out DIR`` (``map.tif`` and
``split.npz`` per run), e.g.::

    python benchmarks/bench_classification.py --seeds 5 --models ssfcn svm --protocols disjoint:0.5 --out /tmp/disj
    python benchmarks/explore_segment_vote.py /tmp/disj
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np


def leading_components(image: np.ndarray, n: int = 10) -> np.ndarray:
    """``(H, W, n)`` scores of the ``n`` leading principal components of standardised ``(C, H, W)`` bands."""
    from sklearn.decomposition import PCA

    c, h, w = image.shape
    x = np.nan_to_num(image.reshape(c, -1).T)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    return PCA(n, random_state=0).fit_transform(x).reshape(h, w, n)


def regions(classes: np.ndarray) -> np.ndarray:
    """``(H, W)`` int64 region ids ``1..N``: the 8-connected components of each non-negative value of
    ``classes``; pixels with a negative value are left in region 0."""
    from scipy import ndimage

    out = np.zeros(classes.shape, np.int64)
    last = 0
    for value in np.unique(classes[classes >= 0]):
        cc, n = ndimage.label(classes == value, structure=np.ones((3, 3)))
        out[cc > 0] = cc[cc > 0] + last
        last += n
    return out


def cluster_regions(pcs: np.ndarray, clusters: int, median: int) -> np.ndarray:
    """Regions of a k-means clustering of the component scores (median-filtered over ``median`` px first if > 1)."""
    from scipy.ndimage import median_filter
    from sklearn.cluster import KMeans

    h, w, n = pcs.shape
    if median > 1:
        pcs = np.stack([median_filter(pcs[..., i], median) for i in range(n)], -1)
    km = KMeans(clusters, n_init=3, random_state=0).fit(pcs.reshape(-1, n))
    return regions(km.labels_.reshape(h, w))


def vote(pred: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Majority class of ``pred`` (``(H, W)``, 0 = no prediction) inside each region of ``seg``."""
    hist = np.zeros((int(seg.max()) + 1, int(pred.max()) + 1), np.int64)
    np.add.at(hist, (seg.ravel(), pred.ravel()), 1)
    hist[:, 0] = 0
    return np.where(pred > 0, hist.argmax(1)[seg], 0)


def model_of(run: str) -> str:
    """Model name of a ``PROTOCOL_FRACTION_MODEL_SEED`` run folder (model names may hold underscores)."""
    return "_".join(Path(run).name.split("_")[2:-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", help="--out folder of bench_classification.py")
    p.add_argument("--clusters", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--median", type=int, nargs="+", default=[0, 5], help="median filter sizes before clustering")
    args = p.parse_args()
    import rasterio

    from hsi_app.io import open_cube
    from hsi_app.tasks.train_classifier import scene_in_memory

    cube = open_cube("indian_pines")
    image, _, _ = scene_in_memory(cube)
    truth = np.asarray(cube.hsi.labels, dtype=np.int64)
    pcs = leading_components(image)
    segmentations = {"none": None, "ground-truth fields (upper bound)": regions(np.where(truth > 0, truth, -1))}
    for med in args.median:
        for k in args.clusters:
            segmentations[f"k-means {k}, median {med}"] = cluster_regions(pcs, k, med)
    runs = sorted(glob.glob(str(Path(args.runs) / "disjoint_*")))
    models = sorted({model_of(r) for r in runs})
    print("| model | segments | regions | OA % per seed | mean OA % |\n|---|---|---:|---|---:|")
    for model in models:
        for name, seg in segmentations.items():
            oas = []
            for run in (r for r in runs if model_of(r) == model):
                test = np.load(Path(run) / "split.npz")["test"]
                with rasterio.open(Path(run) / "map.tif") as src:
                    pred = src.read(1).astype(np.int64)
                if seg is not None:
                    pred = vote(pred, seg)
                sel = test > 0
                oas.append(100 * float((pred[sel] == test[sel]).mean()))
            n_regions = "-" if seg is None else f"{int(seg.max()):,}"
            print(f"| {model} | {name} | {n_regions} | {', '.join(f'{o:.2f}' for o in oas)} | {np.mean(oas):.2f} |")


if __name__ == "__main__":
    main()
