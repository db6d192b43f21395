"""Training tiles from georeferenced rasters, sampled with torchgeo.

The image and the training-label raster are two ``torchgeo`` ``RasterDataset`` s joined
by their intersection (``image_ds & label_ds``), and a ``RandomGeoSampler`` draws tile
queries in map coordinates; torchgeo reads only the window of each tile from disk. The
samples follow the same contract as the in-memory :class:`~hsi_app.data.tiles.SceneTiles`:
``image`` ``(C, h, w)`` float32 (normalised), ``label`` ``(h, w)`` int64 (0 = ignore),
``wavelength`` ``(C,)`` float32, and get the same seeded flips / 90-degree rotations
(:func:`~hsi_app.data.tiles.random_d4`; tile ``i`` of epoch ``e`` depends only on
``(seed, e, i)``). Unlike ``SceneTiles``, tile positions are drawn uniformly over the
scene (no bias towards labelled pixels).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from hsi_app.data.tiles import random_d4
from hsi_app.errors import BandMismatchError, ConfigError, CubeReadError, DatasetNotFoundError, LabelError


def _is_gdal_virtual(path: str | os.PathLike[str]) -> bool:
    """A path GDAL (and torchgeo) open without a local file: ``/vsizip/...``, ``/vsis3/...``, ``/vsicurl/...``, or
    a URL such as ``s3://`` or ``https://`` (rasterio maps those to ``/vsi`` paths)."""
    text = os.fspath(path)
    return text.startswith("/vsi") or "://" in text


def _raster_facts(path: str | os.PathLike[str], role: str) -> tuple[Any, Any, int]:
    """``(crs, bounds, band count)`` of the ``role`` raster (``"image"``, ``"label"``) torchgeo will sample.

    Raises:
        DatasetNotFoundError: no such file (torchgeo's message says it cannot download it).
        CubeReadError: GDAL cannot open it.
        ConfigError: it has no CRS (torchgeo places every tile in map coordinates).
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    if not _is_gdal_virtual(path) and not os.path.isfile(path):
        raise DatasetNotFoundError(f"{path}: no such file; pass the {role} GeoTIFF")
    try:
        with rasterio.open(path) as ds:
            crs, bounds, count = ds.crs, ds.bounds, ds.count
    except RasterioIOError as err:
        raise CubeReadError(f"{path}: GDAL cannot read it ({err}); pass a GeoTIFF") from err
    if crs is None:
        raise ConfigError(f"{path}: the {role} raster has no CRS, and torchgeo samples tiles in map coordinates: "
                          "write one (cube.rio.write_crs(...) then hsi_app.io.cog.write_cube), or tile an in-memory "
                          "scene with hsi_app.data.tiles.SceneTiles")
    return crs, bounds, count


def check_rasters(image_path: str | os.PathLike[str], label_path: str | os.PathLike[str], *,
                  band_indices: Sequence[int], per_band: dict[str, Any], tile_size: int, tiles_per_epoch: int) -> None:
    """Refuse what torchgeo would fail on later, or deep inside a DataLoader worker, in one line each.

    Args:
        image_path, label_path: the rasters of :class:`GeoRasterTiles`.
        band_indices: ``(C,)`` 0-based bands of the image.
        per_band: ``{"mean": ..., "std": ..., "wavelengths": ...}``, each ``(C,)`` or ``None``.
        tile_size, tiles_per_epoch: as given.

    Raises:
        ConfigError: a tile size below 1 or a negative length; a per-band vector not one per used band; the
            label raster not overlapping the image (in the image's CRS).
        BandMismatchError: a band index outside the image's bands.
        LabelError: a label raster of more than one band.
    """
    from rasterio.warp import transform_bounds

    if int(tile_size) < 1 or int(tiles_per_epoch) < 0:
        raise ConfigError(f"GeoRasterTiles: tile_size={tile_size}, tiles_per_epoch={tiles_per_epoch}; "
                          "the tile side is 1 pixel or more and the length 0 or more")
    crs, bounds, count = _raster_facts(image_path, "image")
    label_crs, label_bounds, label_count = _raster_facts(label_path, "label")
    bands = np.asarray(band_indices, dtype=np.int64).reshape(-1)
    outside = bands[(bands < 0) | (bands >= count)]
    if outside.size:
        raise BandMismatchError(f"{image_path}: band index {int(outside[0])} is outside its {count} bands; "
                                f"band_indices are 0-based, 0..{count - 1}")
    for name, values in per_band.items():
        if values is not None and np.size(values) != bands.size:
            raise ConfigError(f"GeoRasterTiles: {name} has {np.size(values)} values for {bands.size} bands "
                              "(band_indices); pass one per band used")
    if label_count != 1:
        raise LabelError(f"{label_path}: {label_count} bands; a label raster holds one band of class ids (0 = unlabelled)")
    left, bottom, right, top = transform_bounds(label_crs, crs, *label_bounds) if label_crs != crs else label_bounds
    if left >= bounds.right or right <= bounds.left or bottom >= bounds.top or top <= bounds.bottom:
        raise ConfigError(f"{label_path}: the label raster does not overlap the image {image_path} (in {crs}); "
                          "pass labels for this scene")


def _raster_classes() -> tuple[type, type]:
    from torchgeo.datasets import RasterDataset

    class ImageRaster(RasterDataset):  # type: ignore[misc, valid-type]
        """Any multi-band GeoTIFF, read as float32."""

        filename_glob = "*"
        is_image = True

    class LabelRaster(RasterDataset):  # type: ignore[misc, valid-type]
        """A single-band class raster, read as int64 with nearest resampling."""

        filename_glob = "*"
        is_image = False

    return ImageRaster, LabelRaster


class GeoRasterTiles(Dataset):
    """Random tiles of a GeoTIFF and its label raster through torchgeo.

    Args:
        image_path: georeferenced multi-band GeoTIFF.
        label_path: single-band label GeoTIFF on the same grid (0 = unlabelled).
        tile_size: tile side in pixels (at least one pixel below the scene's shorter side).
        tiles_per_epoch: tiles drawn per epoch (dataset length).
        band_indices: ``(C,)`` 0-based bands of the image to use.
        mean, std: ``(C,)`` normalisation of the used bands.
        wavelengths: ``(C,)`` nm (NaN when unknown).
        nodata: raw value meaning no data (those pixels are zeroed after normalising).
        seed: seed of the sampler and of the flips / rotations; :meth:`set_epoch` redraws deterministically.
        augment: random flips and 90-degree rotations (:func:`~hsi_app.data.tiles.random_d4`), as in memory.

    Raises:
        DatasetNotFoundError, CubeReadError, ConfigError, BandMismatchError, LabelError: inputs torchgeo
            would fail on later (:func:`check_rasters`), each in one line naming the file and the fix.
    """

    def __init__(
        self,
        image_path: str | os.PathLike[str],
        label_path: str | os.PathLike[str],
        *,
        tile_size: int,
        tiles_per_epoch: int,
        band_indices: Sequence[int],
        mean: np.ndarray,
        std: np.ndarray,
        wavelengths: np.ndarray | None = None,
        nodata: float | None = None,
        seed: int = 0,
        augment: bool = True,
    ) -> None:
        import rasterio

        check_rasters(image_path, label_path, band_indices=band_indices, tile_size=tile_size,
                      tiles_per_epoch=tiles_per_epoch, per_band={"mean": mean, "std": std, "wavelengths": wavelengths})
        image_cls, label_cls = _raster_classes()
        self.dataset = image_cls(paths=[os.fspath(image_path)]) & label_cls(paths=[os.fspath(label_path)])
        with rasterio.open(image_path) as ds:
            side = min(ds.height, ds.width)
        # a tile as large as the scene may not fit it in map units (40 x 0.001 deg rounds below the extent),
        # which leaves torchgeo's sampler nothing to draw: such tiles are one pixel smaller
        self.tile_size = int(tile_size) if int(tile_size) < side else max(1, side - 1)
        self.length = int(tiles_per_epoch)
        self.bands = torch.as_tensor(np.asarray(band_indices, dtype=np.int64))
        self.mean = torch.as_tensor(np.asarray(mean, dtype=np.float32))[:, None, None]
        self.std = torch.as_tensor(np.asarray(std, dtype=np.float32))[:, None, None]
        wl = np.full(len(band_indices), np.nan) if wavelengths is None else np.asarray(wavelengths)
        self.wavelength = torch.as_tensor(wl.astype(np.float32))
        self.nodata = None if nodata is None or np.isnan(nodata) else float(nodata)
        self.seed = int(seed)
        self.augment = bool(augment)
        self.epoch = 0
        self.queries: list[Any] = []
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's tile queries (map-coordinate slices) with a seeded sampler."""
        from torchgeo.samplers import RandomGeoSampler

        self.epoch = int(epoch)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        sampler = RandomGeoSampler(self.dataset, size=self.tile_size, length=self.length, generator=gen)
        self.queries = list(sampler)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.dataset[self.queries[index]]
        raw = sample["image"][self.bands].float()
        image = torch.nan_to_num((raw - self.mean) / self.std, nan=0.0, posinf=0.0, neginf=0.0)
        if self.nodata is not None:  # no-data pixels become the band mean, as in memory
            image[:, (raw == self.nodata).any(dim=0)] = 0.0
        label = sample["mask"].long()
        if self.augment:
            image, lab = random_d4(np.random.default_rng([self.seed, self.epoch, int(index)]), image, label[None])
            image, label = image.contiguous(), lab[0].contiguous()
        return {"image": image, "label": label, "wavelength": self.wavelength}
