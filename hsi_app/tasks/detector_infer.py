"""Apply a trained point detector (``hsi train --task detect``) to a scene.

The model's ``(K + 4)`` output channels become a :class:`DenseOutput` (sigmoid heat
maps, sub-pixel offsets, box sizes in pixels), computed window by window with a halo of
the receptive radius (so the result equals one-shot inference), and are decoded into
:class:`~hsi_app.tasks.detect_metrics.Detections` by peak extraction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from hsi_app.checkpoint import RunConfig
from hsi_app.errors import ModelLoadError
from hsi_app.io.cube import Cube, scene_name
from hsi_app.tasks.detect_metrics import Detections


@dataclass
class DenseOutput:
    """Dense detector output on a scene.

    Attributes:
        heat: ``(K, H, W)`` float32 heat maps in [0, 1] (NaN = no data).
        offset: ``(2, H, W)`` float32 ``(dy, dx)`` of the object centre from the pixel centre.
        size: ``(2, H, W)`` float32 box height and width in pixels.
        resampled: the cube's bands were resampled to the model's (not picked).
    """

    heat: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    resampled: bool = False


def dense_forward(model: Any, x: np.ndarray, *, halo: int, window: int = 256, device: str = "cpu",
                  progress: bool = False) -> np.ndarray:
    """Run ``model`` on a normalised ``(C, H, W)`` image window by window: ``(K + 4, H, W)`` float32."""
    import torch
    from hsi_app.progress import bar

    from hsi_app.infer import iter_windows

    _, h, w = x.shape
    out: np.ndarray | None = None
    wins = list(iter_windows(h, w, window, halo))
    with torch.inference_mode():
        for win in bar(wins, desc="detect", unit="win", enabled=progress):
            t = torch.from_numpy(np.ascontiguousarray(
                x[:, win.read_row:win.read_row + win.read_height, win.read_col:win.read_col + win.read_width]))
            y = model(t[None].to(device))[0].float().cpu().numpy()
            if out is None:
                out = np.zeros((y.shape[0], h, w), np.float32)
            out[:, win.row:win.row + win.height, win.col:win.col + win.width] = y[(slice(None), *win.crop)]
    assert out is not None
    return out


def split_output(raw: np.ndarray, num_classes: int, valid: np.ndarray | None = None) -> DenseOutput:
    """``(K + 4, H, W)`` raw model output -> :class:`DenseOutput` (sigmoid heat, exp sizes)."""
    heat = 1.0 / (1.0 + np.exp(-raw[:num_classes].astype(np.float64)))
    heat = heat.astype(np.float32)
    if valid is not None:
        heat[:, ~valid] = np.nan
    size = np.exp(np.clip(raw[num_classes + 2:num_classes + 4], -3, 4)).astype(np.float32)
    return DenseOutput(heat, raw[num_classes:num_classes + 2].astype(np.float32), size)


def decode(out: DenseOutput, *, threshold: float = 0.1, max_per_class: int = 500,
           mask: np.ndarray | None = None) -> Detections:
    """Peaks of the heat maps, moved by the predicted offset, with boxes of the predicted size
    around them, snapped to pixel edges (ground-truth boxes are pixel footprints)."""
    from hsi_app.tasks.detection import find_peaks

    det = find_peaks(out.heat, threshold=threshold, max_per_class=max_per_class, mask=mask)
    r, c = (det.row - 0.5).astype(int), (det.col - 0.5).astype(int)
    det.row = det.row + out.offset[0, r, c]
    det.col = det.col + out.offset[1, r, c]
    hh, ww = out.size[0, r, c], out.size[1, r, c]
    box = np.stack([det.row - hh / 2, det.col - ww / 2, det.row + hh / 2, det.col + ww / 2], axis=1)
    # targets' boxes are pixel footprints: snap to pixel edges, at least one pixel
    box = np.round(box)
    box[:, 2:] = np.maximum(box[:, 2:], box[:, :2] + 1)
    det.box = box
    return det


class LearnedDetector:
    """A loaded detector run: config, model, normalisation."""

    def __init__(self, config: RunConfig, model: Any, device: str = "cpu", run_dir: str | None = None) -> None:
        self.config = config
        self.run_dir = run_dir  # for messages
        self.model = model
        self.device = device
        self.mean = np.asarray(config.mean, np.float32)[:, None, None]
        self.std = np.asarray(config.std, np.float32)[:, None, None]

    @property
    def class_names(self) -> list[str]:
        """``K`` target class names (without the background entry)."""
        return list(self.config.class_names[1:])

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str], device: str | None = None) -> LearnedDetector:
        """Load a run written by ``hsi train --task detect``.

        Raises:
            ModelLoadError: missing files, or the run is not a detection run.
        """
        from hsi_app.checkpoint import load_config
        from hsi_app.predictor import load_run_model, run_dir_of

        folder = run_dir_of(run_dir)
        config = load_config(folder)
        if config.task != "detect":  # checked before the weights are read
            raise ModelLoadError(
                f"{run_dir}: a {config.task!r} run, not a detector; train one with `hsi train --task detect`"
            )
        model, dev = load_run_model(folder, config, device)
        return cls(config, model, dev, run_dir=str(run_dir))

    def check_scene_units(self, image: np.ndarray, *, scene: str) -> None:
        """Refuse a scene in other units than the training scene, by the rule classifiers and denoisers use.

        A detector trained on reflectance x 10000 scores a 0-1 scene as noise (mAP@2px 0.047 against 0.469 on
        the same scene x 10000), without a word. A strided sample (every ``s``-th row and column, at most
        :data:`~hsi_app.value_range.SAMPLE_PIXELS` pixels; the scene is in memory here) of ``image``, the model's
        bands, is checked against the range of the run's training mean and std per band
        (:func:`~hsi_app.value_range.stats_range`) by :func:`~hsi_app.value_range.check_units`.

        Args:
            image: ``(C_model, H, W)`` raw values in the model's bands (NaN = no data).
            scene: the scene, for the message.

        Raises:
            InvalidDataError: one line with the scene's and the training values, the factor and the fix.
        """
        from hsi_app.value_range import SAMPLE_PIXELS, check_units, stats_range

        _, h, w = image.shape
        step = max(1, int(np.ceil(np.sqrt(h * w / SAMPLE_PIXELS))))
        lo, hi = stats_range(self.mean[:, 0, 0], self.std[:, 0, 0])
        check_units(image[:, ::step, ::step], lo, hi, scene=scene, model=self.run_dir or "the detector",
                    fix="convert the scene to the training scene's units (e.g. reflectance 0-1, not x 10000) or "
                        "train a detector on scenes in these units")

    def predict_image(self, image: np.ndarray, *, window: int = 256, progress: bool = False) -> DenseOutput:
        """``(C_model, H, W)`` raw values (NaN = no data) -> :class:`DenseOutput` (progress bar over windows)."""
        valid = np.isfinite(image).all(axis=0)
        x = np.nan_to_num((image - self.mean) / self.std, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        from hsi_app.run_weights import model_radius

        raw = dense_forward(self.model, x, halo=model_radius(self.model, self.config), window=window, device=self.device,
                            progress=progress)
        return split_output(raw, self.config.num_classes, valid)

    def predict_cube(self, cube: Cube, *, resample: bool = False, window: int = 256,
                     progress: bool = False) -> DenseOutput:
        """Dense output on a whole cube (bands matched to the model's).

        Raises:
            InvalidDataError: every pixel is no-data (the classical methods refuse such a scene too; an
                all-NaN map would read as "nothing found"; when a band with no data at any pixel is why, the
                line names it and says to flag it bad), or the scene is in other units than the training
                scene (:meth:`check_scene_units`).
        """
        from hsi_app.errors import InvalidDataError
        from hsi_app.io.empty_bands import empty_bands_note
        from hsi_app.predictor import plan_bands

        plan = plan_bands(self.config, cube, resample=resample, model=self.run_dir)
        image, _ = cube.hsi.read_masked()  # no data (also NaN or no-data set after open) -> NaN
        image = plan.apply(image)
        if not np.isfinite(image).all(axis=0).any():
            note = empty_bands_note(cube)  # a band with no data anywhere, not a scene without data (one more pass)
            if note is not None:
                raise InvalidDataError(f"{scene_name(cube)}: {note}; flag them bad first (cube = hsi_app.io."
                                       "empty_bands.flag_empty_bands(cube), as hsi detect does)")
            raise InvalidDataError(f"{scene_name(cube)}: every pixel is no-data in the detector's bands, so there is "
                                   "nothing to detect: check the file's no-data value, or pass a scene with data")
        self.check_scene_units(image, scene=scene_name(cube))
        out = self.predict_image(image, window=window, progress=progress)
        out.resampled = plan.resampled
        return out

    def decode(self, out: DenseOutput, *, threshold: float = 0.1, max_per_class: int = 500,
               mask: np.ndarray | None = None) -> Detections:
        """See :func:`decode`."""
        return decode(out, threshold=threshold, max_per_class=max_per_class, mask=mask)
