"""Per-band standardisation fitted on training pixels only.

Statistics come from the training pixels alone so that nothing about test pixels reaches
the model through normalisation. They are stored with the model (``to_dict``) and applied
unchanged at inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from hsi_app.errors import BandMismatchError, ConfigError, InvalidDataError

T = TypeVar("T")


@dataclass
class BandStats:
    """Per-band mean and standard deviation.

    Attributes:
        mean: ``(C,)`` float32 band means.
        std: ``(C,)`` float32 band standard deviations (constant bands get 1).
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ConfigError(
                f"BandStats: mean has {self.mean.size} bands, std {self.std.size}; pass equally long vectors"
            )
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise InvalidDataError("BandStats: mean/std must be finite and std > 0; refit on valid pixels")

    @property
    def num_bands(self) -> int:
        """Number of bands ``C``."""
        return int(self.mean.size)

    @classmethod
    def fit(cls, image: np.ndarray, mask: np.ndarray) -> BandStats:
        """Fit on the pixels where ``mask`` is True (the training pixels).

        Args:
            image: ``(C, H, W)`` array (any real dtype).
            mask: ``(H, W)`` bool, True for pixels to use.

        Returns:
            Statistics computed in float64 and stored as float32. A band whose spread is
            below ``1e-6`` times the largest band spread (or exactly zero) gets ``std = 1``.

        Raises:
            InvalidDataError: empty mask, shape mismatch or non-finite selected values.
        """
        image = np.asarray(image)
        mask = np.asarray(mask, dtype=bool)
        if image.ndim != 3 or mask.shape != image.shape[1:]:
            raise InvalidDataError(
                f"BandStats.fit: image {image.shape} and mask {mask.shape} do not match; "
                "pass image (C, H, W) and mask (H, W)"
            )
        if not mask.any():
            raise InvalidDataError("BandStats.fit: the mask selects no pixel; pass the training-pixel mask")
        pix = image[:, mask].astype(np.float64)  # (C, N)
        if not np.all(np.isfinite(pix)):
            raise InvalidDataError("BandStats.fit: NaN/inf among the selected pixels; mask out invalid pixels")
        mean = pix.mean(axis=1)
        std = pix.std(axis=1)
        floor = 1e-6 * float(std.max()) if std.max() > 0 else 0.0
        std = np.where(std > floor, std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def apply(self, x: T, axis: int = -3) -> T:
        """Standardise ``x`` band by band: ``(x - mean) / std``.

        Args:
            x: numpy array or torch tensor with bands on ``axis``; e.g. ``(C, H, W)`` or
                ``(B, C, H, W)`` with the default ``axis=-3``, spectra ``(N, C)`` with ``axis=-1``.
            axis: index of the band axis.

        Returns:
            float32 array/tensor of the same shape (and device, for tensors).

        Raises:
            BandMismatchError: the band axis does not have :attr:`num_bands` entries.
        """
        shape = tuple(x.shape)  # type: ignore[attr-defined]
        ax = axis % len(shape) if shape else 0
        if not shape or shape[ax] != self.num_bands:
            raise BandMismatchError(
                f"BandStats.apply: input {shape} has no axis {axis} of {self.num_bands} bands; "
                "pass data with the bands the statistics were fitted on"
            )
        bshape = [1] * len(shape)
        bshape[ax] = self.num_bands
        if isinstance(x, np.ndarray):
            out = (x.astype(np.float32, copy=False) - self.mean.reshape(bshape)) / self.std.reshape(bshape)
            return out.astype(np.float32, copy=False)  # type: ignore[return-value]
        import torch

        if isinstance(x, torch.Tensor):
            m = torch.as_tensor(self.mean, device=x.device).reshape(bshape)
            s = torch.as_tensor(self.std, device=x.device).reshape(bshape)
            return ((x.float() - m) / s)  # type: ignore[return-value]
        raise ConfigError(f"BandStats.apply: unsupported input type {type(x).__name__}; pass numpy or torch")

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-friendly ``{"mean": [...], "std": [...]}``."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BandStats:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: keys missing.
        """
        try:
            return cls(np.asarray(d["mean"]), np.asarray(d["std"]))
        except (KeyError, TypeError) as err:
            raise ConfigError("BandStats.from_dict: need keys 'mean' and 'std' (lists of floats)") from err
