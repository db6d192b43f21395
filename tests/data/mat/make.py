"""Seeded .mat fixtures that mirror the real benchmark files.

Real keys and band counts, at a reduced spatial size; the EHU dtypes as distributed (the WHU-Hi cubes' dtype is
not verified, and the catalog leaves it null; float32 here):

- ``Indian_pines_corrected.mat`` (v5): ``indian_pines_corrected`` (H, W, 200) uint16,
  ``Indian_pines_gt.mat``: ``indian_pines_gt`` (H, W) uint8, 16 classes.
- ``Salinas_corrected.mat`` (v5): ``salinas_corrected`` (H, W, 204) int16 + ``Salinas_gt.mat``.
- ``PaviaU.mat`` (v5): ``paviaU`` (H, W, 103) uint16 + ``PaviaU_gt.mat`` (``paviaU_gt``).
- ``WHU_Hi_LongKou.mat`` (v5): ``WHU_Hi_LongKou`` (H, W, 270) float32 + ``_gt`` 9 classes.
- ``WHU_Hi_HanChuan.mat`` with ``WHU_Hi_HanChuan`` (H, W, 274) float32, and ``WHU_Hi_HanChuan_gt.mat`` (uint8),
  written as v7.3 (HDF5 as MATLAB writes it: dataset shape reversed, ``MATLAB_class`` attribute, 512-byte user
  block with the MATLAB text header) to exercise the HDF5 reader: the distributed files are not v7.3 (scipy's
  ``loadmat`` reads them; the catalog's ``mat_version`` is "5"), but the same cube re-saved with ``save -v7.3``
  (MATLAB's format for variables over 2 GB) is.
- ``two_cubes.mat``: two 3-D arrays (ambiguous, needs ``key=``); ``flat.mat``: only 2-D;
  ``truncated.mat``: the Indian Pines file cut in half; ``nan_cube.mat``: float32 with NaNs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

H, W = 24, 20


def _scene(rng: np.random.Generator, bands: int, classes: int, dtype: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A blocky labelled scene: each class has a smooth spectrum plus noise. (H, W, bands), (H, W)."""
    labels = np.zeros((H, W), dtype=np.uint8)
    for k in range(1, classes + 1):
        r, c = rng.integers(0, H - 4), rng.integers(0, W - 4)
        labels[r : r + 4, c : c + 4] = k
    x = np.linspace(0, 1, bands)
    spectra = np.stack([0.3 + 0.2 * np.sin(2 * np.pi * (x * (k % 5 + 1)) + k) for k in range(classes + 1)])
    cube = spectra[labels] + 0.01 * rng.standard_normal((H, W, bands))
    return (cube * scale).astype(dtype), labels


def write_v73(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as MATLAB v7.3 does: HDF5, 512-byte header, column-major (reversed) shapes."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as fh:
        for name, arr in arrays.items():
            dset = fh.create_dataset(name, data=np.ascontiguousarray(arr.T))
            cls = {"f": "single" if arr.dtype == np.float32 else "double", "u": f"uint{8 * arr.itemsize}", "i": f"int{8 * arr.itemsize}"}[arr.dtype.kind]
            dset.attrs["MATLAB_class"] = np.bytes_(cls)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


def make(root: Path, seed: int = 0) -> dict[str, Path]:
    """Write every fixture into ``root``; return name -> path."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    specs = [
        ("indian_pines", "Indian_pines_corrected", "indian_pines_corrected", "Indian_pines_gt", "indian_pines_gt", 200, 16, "uint16", 5000.0),
        ("salinas", "Salinas_corrected", "salinas_corrected", "Salinas_gt", "salinas_gt", 204, 16, "int16", 2000.0),
        ("paviaU", "PaviaU", "paviaU", "PaviaU_gt", "paviaU_gt", 103, 9, "uint16", 3000.0),
        ("longkou", "WHU_Hi_LongKou", "WHU_Hi_LongKou", "WHU_Hi_LongKou_gt", "WHU_Hi_LongKou_gt", 270, 9, "float32", 1.0),
    ]
    for name, fname, key, gtname, gtkey, bands, classes, dtype, scale in specs:
        cube, labels = _scene(rng, bands, classes, dtype, scale)
        savemat(root / f"{fname}.mat", {key: cube})
        savemat(root / f"{gtname}.mat", {gtkey: labels})
        out[name] = root / f"{fname}.mat"
        out[name + "_gt"] = root / f"{gtname}.mat"
        out[name + "_array"] = cube  # type: ignore[assignment]
        out[name + "_labels"] = labels  # type: ignore[assignment]
    cube, labels = _scene(rng, 274, 16, "float32", 1.0)
    write_v73(root / "WHU_Hi_HanChuan.mat", {"WHU_Hi_HanChuan": cube})
    write_v73(root / "WHU_Hi_HanChuan_gt.mat", {"WHU_Hi_HanChuan_gt": labels})
    out["hanchuan"], out["hanchuan_gt"] = root / "WHU_Hi_HanChuan.mat", root / "WHU_Hi_HanChuan_gt.mat"
    out["hanchuan_array"], out["hanchuan_labels"] = cube, labels  # type: ignore[assignment]

    a, _ = _scene(rng, 10, 2, "float32", 1.0)
    savemat(root / "two_cubes.mat", {"first": a, "second": a + 1, "mask": np.ones((H, W))})
    savemat(root / "flat.mat", {"image": a[..., 0]})
    savemat(root / "unknown_single.mat", {"my_cube": a, "note": np.array([1.0])})
    nan = a.copy()
    nan[0, 0, 3] = np.nan
    nan[5, 6, :] = np.inf
    savemat(root / "nan_cube.mat", {"data": nan})
    raw = (root / "Indian_pines_corrected.mat").read_bytes()
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "truncated.mat").write_bytes(raw[: len(raw) // 2])
    (root / "sub" / "garbage.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(rng.integers(0, 255, 300, dtype=np.uint8)))
    out.update(
        two_cubes=root / "two_cubes.mat", flat=root / "flat.mat", unknown_single=root / "unknown_single.mat",
        nan_cube=root / "nan_cube.mat", truncated=root / "sub" / "truncated.mat", garbage=root / "sub" / "garbage.mat",
    )
    return out
