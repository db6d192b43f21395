"""The gdalwarp fix for a label raster off the scene's grid names the user's file and a fitting resampling
(audit s56 train #4; the tests fail on the old code, which printed ``-r near labels.tif on_grid.tif`` for every
raster).

Labels in finer pixels than the scene's (10 m field labels for a 30 m scene) need ``-r mode``: each scene pixel
takes the class most of its area holds. ``near`` keeps whichever fine pixel sits nearest each centre, so a field
gains or loses its edge pixels by where the two grids fall. A shifted raster of the scene's pixel size keeps
``near``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject

from hsi_app.errors import LabelError
from hsi_app.io.cube import make_cube
from hsi_app.io.labels import read_labels

H, W = 6, 8
CRS = "EPSG:32633"
WEST, NORTH, PX = 500000.0, 4100000.0, 30.0


def _cube():  # noqa: ANN202
    return make_cube(np.ones((3, H, W), np.float32), crs=CRS, transform=from_origin(WEST, NORTH, PX, PX),
                     x=WEST + PX * (np.arange(W) + 0.5), y=NORTH - PX * (np.arange(H) + 0.5))


def _write(path: Path, lab: np.ndarray, size: float, west: float = WEST) -> Path:
    with rasterio.open(path, "w", driver="GTiff", count=1, height=lab.shape[0], width=lab.shape[1], dtype="uint8",
                       crs=CRS, transform=from_origin(west, NORTH, size, size), nodata=0) as ds:
        ds.write(lab.astype(np.uint8), 1)
    return path


def _gdalwarp_args(msg: str) -> list[str]:
    return shlex.split(msg.split("e.g. ", 1)[1].split(", or use vector labels")[0])


def test_finer_labels_get_mode_and_the_files_own_name(tmp_path: Path) -> None:
    fine = np.zeros((3 * H, 3 * W), np.uint8)
    fine[:, : 3 * W // 2] = 1
    fine[:, 3 * W // 2 :] = 2
    fine[0:3, 0:3] = [[2, 2, 2], [2, 1, 1], [1, 1, 1]]  # pixel (0, 0): 5 of 9 sub-pixels class 1, its centre 1
    fine[3:6, 0:3] = [[2, 2, 2], [2, 1, 2], [1, 1, 1]]  # pixel (1, 0): 5 of 9 class 2, but its centre is 1
    path = _write(tmp_path / "field labels 10m.tif", fine, PX / 3)
    with pytest.raises(LabelError) as err:
        read_labels(path, _cube())
    msg = str(err.value)
    args = _gdalwarp_args(msg)
    assert args[0] == "gdalwarp" and args[-2:] == [str(path), str(tmp_path / "field labels 10m_on_grid.tif")], msg  # full paths
    assert args[args.index("-r") + 1] == "mode", msg
    # the line's grid and resampling, done with rasterio, give labels on the scene's grid with pixel (1, 0) = 2
    tr = [float(v) for v in args[args.index("-tr") + 1 : args.index("-tr") + 3]]
    te = [float(v) for v in args[args.index("-te") + 1 : args.index("-te") + 5]]
    shape = (round((te[3] - te[1]) / tr[1]), round((te[2] - te[0]) / tr[0]))
    out = np.zeros(shape, np.uint8)
    reproject(fine, out, src_transform=from_origin(WEST, NORTH, PX / 3, PX / 3), src_crs=CRS, src_nodata=0,
              dst_transform=from_origin(te[0], te[3], tr[0], tr[1]), dst_crs=CRS, dst_nodata=0,
              resampling=Resampling[args[args.index("-r") + 1]])
    on_grid = _write(tmp_path / "on_grid.tif", out, tr[0], te[0])
    labels, _ = read_labels(on_grid, _cube())
    assert labels[0, 0] == 1 and labels[1, 0] == 2  # the majority of each pixel's area
    assert (labels[:, : W // 2] == 1).sum() == H * W // 2 - 1 and (labels[:, W // 2 :] == 2).all()


def test_a_shifted_raster_of_the_scenes_pixel_size_keeps_near(tmp_path: Path) -> None:
    path = _write(tmp_path / "gt.tif", np.ones((H, W), np.uint8), PX, WEST + PX / 2)
    with pytest.raises(LabelError) as err:
        read_labels(path, _cube())
    args = _gdalwarp_args(str(err.value))
    assert args[args.index("-r") + 1] == "near" and args[-2:] == [str(path), str(tmp_path / "gt_on_grid.tif")]
