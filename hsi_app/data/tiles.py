"""Random training tiles from an in-memory scene (the benchmark-cube sampler).

Samples follow the project's tile contract: a dict with ``image`` ``(C, h, w)`` float32,
``label`` ``(h, w)`` int64 (0 = unlabelled, ignored by the loss) and ``wavelength``
``(C,)`` float32. Tile positions are drawn so that most tiles contain labelled pixels,
and each tile is randomly flipped / rotated by multiples of 90 degrees.

Sampling is deterministic: sample ``i`` of epoch ``e`` depends only on ``(seed, e, i)``
(call :meth:`SceneTiles.set_epoch` at the start of each epoch), so results do not depend
on the order or the worker in which samples are drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from hsi_app.errors import ConfigError, InvalidDataError, LabelError


class SceneTiles(Dataset):
    """Random square tiles of one normalised scene with its sparse label map.

    Args:
        image: ``(C, H, W)`` float32, already normalised per band, finite (no data as 0, the band mean).
        labels: ``(H, W)`` int, 0 = unlabelled (ignored), ``1..K`` = classes.
        tile_size: tile side ``t`` in pixels. A scene side shorter than ``t`` is
            zero-padded (label 0) to ``t``; zero is the band mean after normalisation.
        tiles_per_epoch: dataset length (number of tiles drawn per epoch).
        wavelengths: ``(C,)`` band centres in nm; NaN when unknown.
        seed: base seed of the sampling.
        augment: random flips and 90-degree rotations.
        label_bias: probability that a tile is placed to contain a randomly chosen
            labelled pixel (otherwise the position is uniform over the scene).
        soft_targets: optional ``(K, H, W)`` float32 class probabilities of a teacher
            (knowledge distillation); a pixel whose values sum to 0 has no target. Tiles
            then carry them as ``"soft"`` ``(K, t, t)``, cropped, padded and flipped with the image.

    Raises:
        LabelError: labels shape differs from the image grid, or no pixel is labelled.
        ConfigError: non-positive tile size or length.
        InvalidDataError: NaN or infinite values in the image.
    """

    def __init__(
        self,
        image: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor,
        *,
        tile_size: int,
        tiles_per_epoch: int,
        wavelengths: Sequence[float] | np.ndarray | None = None,
        seed: int = 0,
        augment: bool = True,
        label_bias: float = 0.9,
        soft_targets: np.ndarray | None = None,
    ) -> None:
        img = torch.as_tensor(np.asarray(image, dtype=np.float32))
        lab = torch.as_tensor(np.asarray(labels).astype(np.int64))
        if img.ndim != 3 or tuple(lab.shape) != tuple(img.shape[1:]):
            raise LabelError(
                f"SceneTiles: labels {tuple(lab.shape)} do not match image {tuple(img.shape)}; "
                "pass image (C, H, W) and labels (H, W)"
            )
        bad = 0 if bool(torch.isfinite(img.sum())) else int((~torch.isfinite(img)).sum())  # no mask-sized temporary
        if bad:  # a NaN in a tile makes the loss NaN at the first step, far from here
            raise InvalidDataError(
                f"SceneTiles: the image holds {bad} NaN or infinite values (no data?); pass it normalised with "
                "no data as 0, the band mean: np.nan_to_num((image - mean) / std)"
            )
        if tile_size < 1 or tiles_per_epoch < 1:
            raise ConfigError(
                f"SceneTiles: tile_size={tile_size}, tiles_per_epoch={tiles_per_epoch}; both must be >= 1"
            )
        if not 0.0 <= label_bias <= 1.0:
            raise ConfigError(f"SceneTiles: label_bias={label_bias}; use a probability in [0, 1]")
        c, h, w = img.shape
        soft = None
        if soft_targets is not None:
            soft = torch.as_tensor(np.asarray(soft_targets, dtype=np.float32))
            if soft.ndim != 3 or tuple(soft.shape[1:]) != (h, w):
                raise ConfigError(f"SceneTiles: soft targets {tuple(soft.shape)} do not match image {tuple(img.shape)}; "
                                  "pass (K, H, W) probabilities on the image grid")
        ph, pw = max(0, tile_size - h), max(0, tile_size - w)
        if ph or pw:  # scene smaller than the tile: centre it on a zero canvas
            pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
            img, lab = torch.nn.functional.pad(img, pad), torch.nn.functional.pad(lab, pad)
            soft = None if soft is None else torch.nn.functional.pad(soft, pad)
        self.soft = None if soft is None else soft.contiguous()
        self.image = img.contiguous()
        self.labels = lab.contiguous()
        self.labelled = np.argwhere(self.labels.numpy() > 0)  # (N, 2) rows, cols
        if len(self.labelled) == 0:
            raise LabelError("SceneTiles: no labelled pixel (all labels are 0); pass a training label map")
        if wavelengths is None:
            wl = np.full(c, np.nan, dtype=np.float32)
        else:
            wl = np.asarray(wavelengths, dtype=np.float32).reshape(-1)
            if wl.size != c:
                raise ConfigError(f"SceneTiles: {wl.size} wavelengths for {c} bands; pass one per band")
        self.wavelength = torch.from_numpy(wl)
        self.tile_size = int(tile_size)
        self.tiles_per_epoch = int(tiles_per_epoch)
        self.seed = int(seed)
        self.augment = augment
        self.label_bias = float(label_bias)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose tiles are drawn (a new set of positions per epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.tiles_per_epoch

    def _origin(self, rng: np.random.Generator) -> tuple[int, int]:
        """Top-left corner of a tile inside the (padded) scene."""
        t = self.tile_size
        h, w = self.labels.shape
        if rng.random() < self.label_bias:
            r, c = self.labelled[rng.integers(len(self.labelled))]
            top = rng.integers(max(0, r - t + 1), min(r, h - t) + 1)
            left = rng.integers(max(0, c - t + 1), min(c, w - t) + 1)
        else:
            top, left = rng.integers(0, h - t + 1), rng.integers(0, w - t + 1)
        return int(top), int(left)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Tile ``index`` of the current epoch.

        Returns:
            ``{"image": (C, t, t) float32, "label": (t, t) int64, "wavelength": (C,) float32}``,
            plus ``"soft": (K, t, t) float32`` when the dataset has soft targets.
        """
        if not 0 <= index < self.tiles_per_epoch:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        top, left = self._origin(rng)
        t = self.tile_size
        img = self.image[:, top : top + t, left : left + t]
        lab = self.labels[None, top : top + t, left : left + t]
        soft = None if self.soft is None else self.soft[:, top : top + t, left : left + t]
        if self.augment:
            img, lab, soft = random_d4(rng, img, lab, soft)
        out = {"image": img.contiguous(), "label": lab[0].contiguous(), "wavelength": self.wavelength.clone()}
        if soft is not None:
            out["soft"] = soft.contiguous()
        return out


def random_d4(rng: np.random.Generator, *arrays: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
    """The training augmentation: one of the 8 flips / 90-degree rotations, drawn from ``rng``
    (a quarter-turn count, then a mirror bit) and applied alike to every ``(N, t, t)`` array
    (``None`` passes through). Used by :class:`SceneTiles` and the GeoTIFF tiles
    (:class:`~hsi_app.data.geo_tiles.GeoRasterTiles`)."""
    k = int(rng.integers(4))
    flip = bool(rng.random() < 0.5)
    return tuple(None if x is None else _d4(x, k, flip) for x in arrays)


def _d4(x: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    """``(N, t, t)`` rotated by ``k`` quarter turns, then mirrored left-right when ``flip``."""
    x = torch.rot90(x, k, (1, 2)) if k else x
    return torch.flip(x, (2,)) if flip else x
