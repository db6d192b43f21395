"""Apply a trained run to any cube: band matching, normalisation, model call.

:meth:`Predictor.bind` returns the per-window function that :mod:`hsi_app.infer`
streams over a scene: raw ``(C_cube, h, w)`` reflectance in, ``(K, h, w)`` class
probabilities out. Bands are matched by wavelength (or by index when the cube has the
training cube's band count and no wavelengths); a cube with other bands is either
resampled with Gaussian responses (``resample=True``) or refused with a
:class:`~hsi_app.errors.BandMismatchError`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hsi_app.checkpoint import ADAPTER_NAME, RunConfig, is_finetune_config, load_config, load_tensors, no_weights_line
from hsi_app.errors import BandMismatchError, HSIWarning, ModelLoadError
from hsi_app.infer import ProbFn, bound_fn, window_values
from hsi_app.io.cube import Cube, scene_name

if TYPE_CHECKING:
    from hsi_app.io.partial_nodata import PartialNodata
    from hsi_app.value_range import UnitsSample

WAVELENGTH_TOLERANCE_NM = 2.0
RESAMPLE_HINT = "pass --resample (resample=True in Python) to resample spectrally"
"""The fix a band mismatch names (:func:`plan_bands`); the viewer rewrites it into its checkbox."""


@dataclass(frozen=True)
class BandPlan:
    """How to turn a cube's bands into the model's: pick ``indices`` or apply ``matrix``
    to the cube bands ``sources`` (its good bands: one all-NaN bad band would otherwise
    turn every resampled value into NaN)."""

    indices: np.ndarray | None  # (C_model,) indices into the cube's bands
    matrix: np.ndarray | None  # (C_model, C_src) resampling weights
    sources: np.ndarray | None = None  # (C_src,) cube bands the matrix reads (None: all)
    bands: int | None = None  # C_cube, the band count of the cube planned for (None: not checked)
    nodata: float | None = None  # the cube's no-data value (:func:`no_data_as_nan`)
    bad_band: np.ndarray | None = None  # (C_cube,) bool, the cube's bad bands

    @property
    def resampled(self) -> bool:
        """True when the cube's bands are resampled, not picked (the output depends on ``--resample``)."""
        return self.matrix is not None

    def picks_all(self, image: np.ndarray) -> bool:
        """Whether :meth:`apply` would return every band of ``image`` in its order, as float32: a copy
        that the caller can skip (:meth:`Predictor.apply_plan` normalises the window into a new array)."""
        idx = self.indices
        return (idx is not None and image.dtype == np.float32 and idx.shape == (image.shape[0],)
                and bool((idx == np.arange(idx.size)).all()))

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``(C_cube, h, w)`` -> ``(C_model, h, w)`` float32 (always a new array)."""
        if self.indices is not None:
            return image[self.indices].astype(np.float32, copy=False)
        from hsi_app.data.resample import resample_cube

        assert self.matrix is not None
        return resample_cube(image if self.sources is None else image[self.sources], self.matrix)


@dataclass(frozen=True)
class SubsetPlan:
    """A wavelength-aware model reading only some of its training bands: cube bands ``keep``
    ``(C',)`` are the training bands ``training`` ``(C',)`` (never resampled)."""

    keep: np.ndarray
    training: np.ndarray
    bands: int | None = None  # C_cube, the band count of the cube planned for (None: not checked)
    nodata: float | None = None  # the cube's no-data value (:func:`no_data_as_nan`)
    bad_band: np.ndarray | None = None  # (C_cube,) bool, the cube's bad bands
    resampled = False


def no_data_as_nan(image: np.ndarray, nodata: float | None, bad_band: np.ndarray | None) -> np.ndarray:
    """``(C, h, w)`` values of a cube's window with its no-data pixels NaN, as :func:`~hsi_app.infer.read_window`
    reads them: a window given as raw values (``cube.isel(...).values``) holds the cube's no-data value
    (``-9999``), which the model would otherwise take as a measurement, for the pixel and its neighbours.

    A pixel without a measurement in some good band (``nodata``, NaN, inf or a fill value: the rule of
    :func:`~hsi_app.io.cube.valid_from_data`) is no data in every band; the given array is never written. A window
    whose no-data pixels are already NaN in every band (``read_window``'s) is returned as it is, after one pass.

    Args:
        image: ``(C, h, w)`` values of the cube's bands.
        nodata: the cube's no-data value (``None``: none; NaN, inf and fill values still make no data).
        bad_band: ``(C,)`` bool bad bands of the cube (their values never make a pixel no data).
    """
    if bad_band is None:
        return image
    from hsi_app.io.cube import valid_from_data

    valid = np.asarray(valid_from_data(image, nodata, bad_band), dtype=bool)
    if valid.all() or np.isnan(image[:, ~valid]).all():  # no pixel to mask left holding a value
        return image
    out = np.array(image, dtype=np.float32)  # a new array: the caller's is not written
    out[:, ~valid] = np.nan
    return out


def check_image(image: Any, bands: int, where: str, whose: str) -> None:
    """Refuse an input that is not ``(bands, h, w)``, before bands are picked from its first axis.

    An ``(H, W, C)`` array (sklearn, rasterio's ``reshape_as_image``) with ``H >= C`` rows would
    otherwise have its rows taken as bands.

    Args:
        image: the array given (numpy, or anything with a ``shape``).
        bands: C, the band count it must have on its first axis.
        where: what was called, for the message (``"pred.bind(cube)(image)"``...).
        whose: whose bands C counts (``"the bound cube's"``, ``"the model's"``).

    Raises:
        BandMismatchError: one line with the shape, the expected C and, for an ``(H, W, C)``
            array, ``image.transpose(2, 0, 1)``; a window of no pixel (``(C, 0, w)``).
    """
    shape = tuple(int(n) for n in np.shape(image))
    if len(shape) == 3 and shape[0] == bands and shape[1] and shape[2]:
        return
    if len(shape) == 3 and shape[0] == bands:  # torch would fail on the model's first kernel
        raise BandMismatchError(f"{where}: image has shape {shape}, no pixel; pass a window of at least 1 x 1 pixel")
    fix = "image.transpose(2, 0, 1) (it looks (H, W, C))" if len(shape) == 3 and shape[2] == bands else \
        f"a ({bands}, h, w) array"
    raise BandMismatchError(f"{where}: image has shape {shape}; it takes (C, h, w) with C = {bands}, {whose} "
                            f"bands: pass {fix}")


def _range(wl: np.ndarray) -> str:
    return "unknown wavelengths" if np.isnan(wl).all() else f"{np.nanmin(wl):.0f}-{np.nanmax(wl):.0f} nm"


def plan_bands(config: RunConfig, cube: Cube, *, resample: bool = False, model: str | None = None) -> BandPlan:
    """Match a cube's bands to the bands a model was trained on.

    ``model`` names the run (its folder) in the line refusing model bands too far beyond the cube's range.

    Raises:
        BandMismatchError: the bands differ and ``resample`` is False (or impossible).
    """
    model_wl = config.wavelength_array
    cube_wl = cube.hsi.wavelengths
    c = cube.hsi.shape[0]
    known = np.isfinite(model_wl).all() and np.isfinite(cube_wl).all()
    picked: np.ndarray | None = None
    if known:
        dist = np.abs(cube_wl[None, :] - model_wl[:, None])
        nearest = dist.argmin(axis=1)
        if np.all(dist[np.arange(model_wl.size), nearest] <= WAVELENGTH_TOLERANCE_NM):
            picked = nearest
    elif c == config.source_bands:
        picked = np.asarray(config.band_indices)
    elif c == config.in_chans:
        picked = np.arange(c)
    if picked is not None and not known and np.isfinite(model_wl).all() and np.isnan(cube_wl).all():
        warnings.warn(f"{scene_name(cube)}: has no wavelengths, so its {c} bands are taken as the "
                      f"run's ({_range(model_wl)}) by position; check that it comes from the same sensor, or add "
                      "its wavelengths to the file to have them checked", HSIWarning, stacklevel=2)
    if picked is not None and not _reads_empty_bands(config, cube, picked, resample and known):
        return BandPlan(indices=picked, matrix=None, bands=c)
    source = scene_name(cube)
    good = np.setdiff1d(np.arange(c), cube.hsi.bad_bands)
    if resample and known and good.size:
        from hsi_app.data.resample import EDGE_COVERAGE_FWHM, out_of_reach, resampling_matrix, warn_edge_bands

        try:
            matrix = resampling_matrix(cube_wl[good], model_wl, config.fwhm_array, min_coverage=EDGE_COVERAGE_FWHM)
        except BandMismatchError as err:  # the resampler knows band sets, not files: name the input and the run
            line = out_of_reach(str(source), f"the model {model}" if model else "the model", cube_wl[good], model_wl,
                                config.fwhm_array, fix="use a model trained on bands within {have}, or a scene that "
                                "covers {needs}")
            raise BandMismatchError(line or f"{source}: {err}; use a model trained on this sensor's range") from err
        warn_edge_bands(str(source), cube_wl[good], model_wl, config.fwhm_array)
        return BandPlan(indices=None, matrix=matrix, sources=good, bands=c)
    hint = RESAMPLE_HINT if known else "the cube or the model lacks wavelengths, so bands cannot be resampled"
    bands = f"{c} bands ({_range(cube_wl)}) do" if c != 1 else f"1 band ({_range(cube_wl)}) does"
    detail = _largest_difference(cube, model_wl) if known and c == model_wl.size else ""
    raise BandMismatchError(
        f"{source}: {bands} not match the model's {config.in_chans} bands "
        f"({_range(model_wl)}){detail}; {hint}, or use a model trained on this sensor"
    )


def _largest_difference(cube: Cube, model_wl: np.ndarray) -> str:
    """What differs between a cube's band centres and the model's ``(C_model,)`` when their counts (and
    often their ranges) print the same: ``": band 37 (742 nm) vs the model's 745.3 nm, the largest
    difference (3.3 nm; bands match within 2 nm)"``, the model band farthest from every cube band and
    the cube band nearest to it (centres rounded to 10 nm, or another sensor's calibration)."""
    from hsi_app.io.band_labels import band_label

    cube_wl = cube.hsi.wavelengths
    dist = np.abs(cube_wl[None, :] - model_wl[:, None])  # (C_model, C_cube)
    nearest = dist.argmin(axis=1)
    j = int(dist[np.arange(model_wl.size), nearest].argmax())  # the model band farthest from the cube's bands
    i = int(nearest[j])
    gap = float(dist[j, i])
    return (f": band {band_label(int(cube.band.values[i]), float(cube_wl[i]))} vs the model's "
            f"{float(model_wl[j]):.1f} nm, the largest difference ({gap:.1f} nm; bands match within "
            f"{WAVELENGTH_TOLERANCE_NM:g} nm)")



def _reads_empty_bands(config: RunConfig, cube: Cube, picked: np.ndarray, can_resample: bool) -> bool:
    """Whether the bands ``picked`` ``(C_model,)`` include bands that hold no data anywhere (flagged by
    :func:`~hsi_app.io.empty_bands.flag_empty_bands`) and ``can_resample`` (the caller resamples instead).

    Raises:
        BandMismatchError: they do and cannot be resampled: one line naming the bands and the fix.
    """
    from hsi_app.io.band_labels import band_list
    from hsi_app.io.empty_bands import empty_band_numbers

    empty = empty_band_numbers(cube)
    used = np.unique(picked[empty[picked]])
    if used.size == 0:
        return False
    if can_resample:
        return True
    hint = (f"{RESAMPLE_HINT} from its other bands" if np.isfinite(config.wavelength_array).all()
            and np.isfinite(cube.hsi.wavelengths).all() else "the scene or the run lacks wavelengths, so they cannot be resampled")
    raise BandMismatchError(
        f"{scene_name(cube)}: {band_list(cube.band.values[used], cube.hsi.wavelengths[used])} "
        f"{'holds' if used.size == 1 else 'hold'} no data at any pixel, but the model was trained with "
        f"{'it' if used.size == 1 else 'them'}; {hint}, or train a model on this scene (hsi train leaves "
        f"{'it' if used.size == 1 else 'them'} out)"
    )


def load_run_model(run_dir: str | os.PathLike[str], config: RunConfig, device: str | None = None) -> tuple[Any, str]:
    """Build the registered model of a run from its ``config`` and load its weights.

    Args:
        run_dir: the run folder (``model.safetensors``).
        config: its :class:`~hsi_app.checkpoint.RunConfig` (task already checked by the caller).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``... (default: CUDA when present).

    Returns:
        ``(model in eval mode on the device, device name)``.

    Raises:
        ConfigError: an unknown device, or CUDA without a GPU (:func:`hsi_app.device.resolve_device`).
        ModelLoadError: model args the registry refuses, or weights whose names or shapes do not fit the config.
    """
    from hsi_app.device import resolve_device
    from hsi_app.run_weights import build_from_config, load_weights

    dev = str(resolve_device(device))
    tensors = load_tensors(run_dir)
    model = build_from_config(config, run_dir)
    load_weights(model, tensors, run_dir)  # missing/unexpected keys or shapes that do not fit the config
    return model.eval().to(dev), dev


INPUT_CLIP = 1e4
"""Normalised inputs are clipped to +-this (a fill value such as 9.97e36 would overflow a layer)."""


def normalised(image: np.ndarray, mean: np.ndarray, std: np.ndarray, *, owned: bool = False) -> Any:
    """``(C, h, w)`` raw values (NaN = no data) -> ``(C, h, w)`` float32 torch tensor of the model's inputs:
    ``(image - mean) / std``, non-finite values (NaN, +-inf) 0, clipped to +-:data:`INPUT_CLIP`.

    A float32 window is normalised by torch, in place when ``owned`` (a band pick made for this call,
    never the caller's array), else into one new tensor: one pass on every thread, where numpy made
    four single-threaded passes and two temporaries. Each step is the same IEEE float32 operation in
    the same order as numpy's ``x = image - mean; x /= std``, so the values are bit-identical
    (``tests/test_predictor_normalise.py``). Other dtypes take numpy's promotion, as before.

    Args:
        image: ``(C, h, w)`` values.
        mean, std: ``(C, 1, 1)`` per-band training statistics.
        owned: ``image`` may be overwritten.
    """
    import torch

    if image.dtype != np.float32 or not image.flags.writeable:  # numpy's promotion (float64 stays float64 until the end)
        x = image - mean
        x /= std
        t, owned = torch.from_numpy(np.ascontiguousarray(x)), True
    else:
        t = torch.from_numpy(np.ascontiguousarray(image))  # a view, or a contiguous copy that is ours
        m = torch.from_numpy(np.ascontiguousarray(mean, dtype=np.float32))
        t = t.sub_(m) if owned else torch.sub(t, m)
        t.div_(torch.from_numpy(np.ascontiguousarray(std, dtype=np.float32)))
    torch.nan_to_num_(t, nan=0.0, posinf=0.0, neginf=0.0)
    t.clamp_(-INPUT_CLIP, INPUT_CLIP)
    return t.float()


def check_probs(probs: np.ndarray, run: str | os.PathLike[str]) -> np.ndarray:
    """``probs`` unchanged when finite: argmax would quietly map NaN pixels as class 1.

    Weights are checked for NaN/inf when a run is loaded and inputs are cleaned and clipped
    (:data:`INPUT_CLIP`), so this is the last guard, against a model that overflows anyway.

    Args:
        probs: ``(K, h, w)`` class probabilities.
        run: the run folder, for the message.

    Raises:
        ModelLoadError: one line naming the run.
    """
    if not np.isfinite(probs).all():
        raise ModelLoadError(f"{run}: the model gave non-finite class probabilities on this scene although its weights "
                             "are finite; check the scene's values (units, fill values) against the training scene's")
    return probs


class Predictor:
    """A loaded run: config + model, ready to bind to cubes.

    ``tta``: average each window's probabilities over its eight flips / 90-degree rotations
    (:mod:`hsi_app.tasks.tta`; eight times the compute; not for the SVM, which sees one pixel).
    """

    def __init__(self, config: RunConfig, model: Any, device: str = "cpu", *, tta: bool = False,
                 run_dir: str | os.PathLike[str] | None = None) -> None:
        self.config = config
        self.model = model
        self.device = device
        self.tta = tta
        self.run_dir = run_dir  # for messages (None: built in memory)
        self._mean = np.asarray(config.mean, dtype=np.float32)[:, None, None]
        self._std = np.asarray(config.std, dtype=np.float32)[:, None, None]

    def __repr__(self) -> str:
        """One line for a notebook: run, model, bands, classes, halo and device."""
        span = f" ({_range(np.asarray(self.config.model_wavelength_array, dtype=np.float64))})"
        names = [str(n) for n in self.class_names[1:]]
        shown = ", ".join(names[:4]) + (f", ... (+{len(names) - 4})" if len(names) > 4 else "")
        run = "in memory" if self.run_dir is None else os.fspath(self.run_dir)
        return (f"Predictor({run!r}: {self.model_name}, {self.config.in_chans} bands{span}, {self.num_classes} "
                f"classes [{shown}], receptive radius {self.receptive_radius} px, device {self.device!r}"
                f"{', tta' if self.tta else ''})")

    @property
    def num_classes(self) -> int:
        """K."""
        return self.config.num_classes

    @property
    def receptive_radius(self) -> int:
        """Pixels of context the model looks at (the minimum halo; see :func:`~hsi_app.run_weights.model_radius`)."""
        from hsi_app.run_weights import model_radius

        return model_radius(self.model, self.config)

    @property
    def class_names(self) -> list[str]:
        """Names for 0..K."""
        return self.config.class_names

    @property
    def model_name(self) -> str:
        """The registered model name (or ``svm``)."""
        return self.config.model_name

    @property
    def data(self) -> str:
        """The scene the run was trained on: a file's resolved absolute path or a built-in name (runs from before
        session 49: the path as given to ``hsi train``)."""
        return self.config.data

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str], device: str | None = None, *, tta: bool = False) -> Predictor:
        """Load ``config.json`` + weights (+ LoRA adapter when present) from a run directory.

        Args:
            device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or None (CUDA when present; the SVM always runs on the CPU).

        Raises:
            ConfigError: an unknown device, or CUDA without a GPU.
            ModelLoadError: missing or inconsistent run files.
        """
        from hsi_app.device import resolve_device

        if (Path(run_dir) / ADAPTER_NAME).is_file():  # `hsi finetune` output: base run + peft adapter
            from hsi_app.tasks.finetune import load_finetuned

            dev = str(resolve_device(device))
            ft_config, ft_model = load_finetuned(run_dir)
            return cls(ft_config, ft_model.to(dev), dev, tta=tta, run_dir=run_dir)
        config = load_config(run_dir)
        if is_finetune_config(config):  # a fine-tune folder whose adapter is gone: no weights of its own
            raise ModelLoadError(no_weights_line(run_dir, config))
        if config.task != "classification":
            cmd = {"denoise": "hsi denoise", "detect": "hsi detect --method learned"}.get(config.task, "another command")
            raise ModelLoadError(f"{run_dir}: a {config.task!r} run, not a classifier; use it with `{cmd}` "
                                 "or pass a run of `hsi train` (classify)")
        if config.model_name == "svm":
            from hsi_app.models.svm import SVMBaseline

            resolve_device(device)  # a misspelt device, or CUDA without a GPU, is refused here too; the SVM runs on the CPU
            return cls(config, SVMBaseline.from_state_dict(load_tensors(run_dir)), "cpu", run_dir=run_dir)
        model, dev = load_run_model(run_dir, config, device)
        return cls(config, model, dev, tta=tta, run_dir=run_dir)

    def probs(self, image: np.ndarray) -> np.ndarray:
        """``(C_model, h, w)`` raw values (NaN = no data) -> ``(K, h, w)`` float32 probabilities.

        ``image`` may be a numpy array or an xarray window (``cube[:, :30, :30]``; its values, no data as NaN).
        It is never written.

        Raises:
            BandMismatchError: ``image`` is not ``(C_model, h, w)`` (:func:`check_image`).
            ModelLoadError: the weights give NaN or inf (see :func:`check_probs`).
        """
        return self._probs(image)

    def _probs(self, image: np.ndarray, *, owned: bool = False) -> np.ndarray:
        """:meth:`probs`; ``owned``: ``image`` is a band pick made for this call, normalised in place."""
        image = window_values(image)  # an xarray window (cube.isel(...)) -> its values, no data NaN
        check_image(image, self.config.in_chans, f"{self.run_dir or self.model_name}: probs(image)", "the model's")
        if self.config.model_name == "svm":
            c, h, w = image.shape
            flat = np.nan_to_num(image.reshape(c, -1).T)
            probs = self.model.predict_proba(flat).T.reshape(-1, h, w).astype(np.float32)
            return check_probs(probs, self.run_dir or self.model_name)
        return self._softmax(self.model, image, self._mean, self._std, owned=owned)

    def _softmax(self, model: Any, image: np.ndarray, mean: np.ndarray, std: np.ndarray, *,
                 owned: bool = False) -> np.ndarray:
        """Normalise ``(C, h, w)`` raw values (:func:`normalised`; in place when ``owned``), run ``model``:
        ``(K, h, w)`` float32 probabilities."""
        import torch

        from hsi_app.tasks.tta import d4_mean

        def run(v: torch.Tensor) -> torch.Tensor:
            return torch.softmax(model(v[None].to(self.device)), dim=1)[0].float().cpu()

        with torch.inference_mode():
            t = normalised(image, mean, std, owned=owned)
            probs = (d4_mean(run, t) if self.tta else run(t)).numpy()
        return check_probs(probs, self.run_dir or self.model_name)

    @property
    def takes_band_subsets(self) -> bool:
        """Whether the model is wavelength-aware (``channel_vit``): it accepts any subset of its bands."""
        return hasattr(self.model, "with_bands")

    def plan(self, cube: Cube, *, resample: bool = False, check_units: bool = True,
             sample: UnitsSample | np.ndarray | None = None) -> BandPlan | SubsetPlan:
        """How this model reads ``cube``'s bands: picked or resampled (:func:`plan_bands`), or,
        for a wavelength-aware model given only some of its training bands, that subset.

        Args:
            check_units: refuse a scene in other units than the training scene
                (:meth:`check_scene_units`); ``False`` for the training scene itself.
            sample: the scene's sample for that check, when the caller has it (an ensemble reads it once for all
                its members): see :meth:`check_scene_units`.

        Returns:
            The plan, with the cube's no-data value and bad bands: a window given as raw values
            (``cube.isel(...).values``) has its no-data pixels NaN, as ``hsi predict`` reads them (:func:`no_data_as_nan`).

        Raises:
            BandMismatchError: the bands cannot be matched, resampled or used as a subset.
            InvalidDataError: the scene is in other units (:meth:`check_scene_units`).
            ConfigError: ``cube`` is not a Cube (a numpy array: wrap it with ``make_cube``).
        """
        from hsi_app.io.cube import check_is_cube

        check_is_cube(cube, f"{self.run_dir or self.model_name}: bind(cube)")  # a numpy array: one line, not 'no attribute hsi'
        try:
            plan: BandPlan | SubsetPlan = plan_bands(self.config, cube, resample=resample,
                                                     model=None if self.run_dir is None else str(self.run_dir))
        except BandMismatchError:
            if not self.takes_band_subsets or resample:
                raise
            plan = self.subset_plan(cube)
        if check_units:
            self.check_scene_units(cube, plan, sample)
        return replace(plan, nodata=cube.hsi.nodata, bad_band=cube.hsi.bad_band_mask)  # for raw windows

    @property
    def scale_invariant(self) -> bool:
        """Whether the model sees each pixel's SNV alone (``ssfcn_snv`` and the other ``*_snv`` models): a
        scene's scale then does not change its map, as long as its normalised values stay within
        :data:`INPUT_CLIP` (the SNV is taken of the clipped values)."""
        from hsi_app.models.layers.snv import SNVFeatures, WavelengthSNV

        snv = getattr(self.model, "snv", None)
        return isinstance(snv, WavelengthSNV) or (isinstance(snv, SNVFeatures) and not snv.keep_bands)

    def check_scene_units(self, cube: Cube, plan: BandPlan | SubsetPlan,
                          sample: UnitsSample | np.ndarray | None = None) -> None:
        """Refuse a scene in other units than the training scene (uint16 reflectance x 10000 against a
        model trained on 0-1 reflectance maps every pixel to one class), as ``hsi denoise`` does.

        The model's bands of a sample of the scene (:func:`~hsi_app.value_range.scene_sample`)
        are checked against the range the run's training mean and std per band give
        (:func:`~hsi_app.value_range.stats_range`) by :func:`~hsi_app.value_range.check_units`.
        A scale-invariant (SNV-only) model is checked only when the scene's normalised values pass
        :data:`INPUT_CLIP` (99th percentile): clipped, they no longer keep the spectrum's shape
        (ssfcn_snv maps a reflectance run's scene x 1000 exactly as the scene, x 10000 half wrong).

        The same reads of the sample say when the file's no-data value sits in only some bands of many pixels
        (:func:`warn_partial_nodata`), which are then no-data in the map.

        Args:
            sample: ``None``: read here (:func:`~hsi_app.value_range.units_sample`, each window once) and warned
                about. A :class:`~hsi_app.value_range.UnitsSample`: read by the caller, who warns from it once
                (:meth:`hsi_app.ensemble.EnsemblePredictor.plan`, for all its members). ``(C_cube, N)`` values
                (a fine-tune's in-memory scene): the no-data counts are read from the sample windows.

        Raises:
            InvalidDataError: one line with the scene's and the training values, the factor and the fix.
        """
        from hsi_app.value_range import UnitsSample, check_units, stats_range, units_sample

        if not isinstance(sample, UnitsSample):
            read = units_sample(cube, partial=True)
            warn_partial_nodata(cube, read.partial)
            sample = read if sample is None else UnitsSample(np.asarray(sample), read.partial)
        values = sample.values[:, :, None]  # (C_cube, N, 1)
        if isinstance(plan, SubsetPlan):
            used, idx = values[plan.keep], plan.training
        else:
            used, idx = plan.apply(values), np.arange(self.config.in_chans)
        mean, std = np.asarray(self.config.mean)[idx], np.asarray(self.config.std)[idx]
        if self.scale_invariant:
            z = np.abs((used - mean[:, None, None]) / std[:, None, None])
            z = z[np.isfinite(z)]
            if z.size == 0 or np.percentile(z, 99) <= INPUT_CLIP:
                return
        lo, hi = stats_range(mean, std)
        check_units(used, lo, hi, scene=scene_name(cube), model=str(self.run_dir or self.model_name),
                    fix="convert the scene to the training scene's units (e.g. reflectance 0-1, not x 10000) or "
                        "train a model on scenes in these units")

    def subset_plan(self, cube: Cube) -> SubsetPlan:
        """The cube bands a wavelength-aware model can use, each paired with its training band.

        Each cube band within 2 nm of a training band is normalised with that band's
        training statistics; the model is told the wavelengths (and training FWHM) of the
        bands it gets. Cube bands with no training band nearby are left out. When the
        bands used are fewer than the training bands, one :class:`HSIWarning` line says
        how many (:func:`hsi_app.tasks.band_subset.subset_warning`).

        Raises:
            BandMismatchError: the model is not wavelength-aware, or no band matches.
        """
        from hsi_app.tasks.band_subset import TOLERANCE_NM, matching_bands, subset_warning

        source = scene_name(cube)
        if not self.takes_band_subsets:
            raise BandMismatchError(
                f"{source}: model {self.config.model_name!r} needs all {self.config.in_chans} training bands; "
                "band subsets need a wavelength-aware model such as channel_vit"
            )
        good = ~cube.hsi.bad_band_mask
        train_wl, cube_wl = self.config.wavelength_array, cube.hsi.wavelengths
        keep, idx = matching_bands(train_wl, cube_wl, source, usable=good, run=str(self.run_dir or self.model_name))
        missing = np.setdiff1d(np.arange(train_wl.size), idx)
        bad_there = bool((np.abs(cube_wl[~good][:, None] - train_wl[missing][None, :]) <= TOLERANCE_NM).any())
        few = np.unique(idx).size < 0.5 * train_wl.size
        note = subset_warning(train_wl, idx, source, str(self.run_dir or self.model_name),
                              resample_applies=few and self._can_resample(cube), good=bad_there)
        if note:
            warnings.warn(note, HSIWarning, stacklevel=2)
        return SubsetPlan(keep=keep, training=idx, bands=cube.hsi.shape[0])

    def _can_resample(self, cube: Cube) -> bool:
        """Whether ``--resample`` would map ``cube`` onto all the training bands (:func:`plan_bands`)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plan_bands(self.config, cube, resample=True)
        except BandMismatchError:
            return False
        return True

    def apply_plan(self, plan: BandPlan | SubsetPlan, image: np.ndarray) -> np.ndarray:
        """``(C_cube, h, w)`` raw values of a window (NaN = no data) -> ``(K, h, w)`` probabilities.

        ``image`` may be a numpy array or an xarray window of the cube (``cube[:, :30, :30]``).

        Raises:
            BandMismatchError: ``image`` is not ``(C_cube, h, w)`` for the cube planned for (:func:`check_image`).
        """
        image = window_values(image)  # an xarray window (cube.isel(...)) -> its values, no data NaN
        if plan.bands is not None:
            check_image(image, plan.bands, f"{self.run_dir or self.model_name}: bind(cube)(image)", "the bound cube's")
        image = no_data_as_nan(image, plan.nodata, plan.bad_band)  # raw values (cube.isel(...).values): -9999 -> NaN
        if isinstance(plan, SubsetPlan):
            bound = self.model.with_bands(self.config.model_wavelength_array[plan.training])  # FWHM: the training bands'
            return self._softmax(bound, image[plan.keep], self._mean[plan.training], self._std[plan.training],
                                 owned=True)  # image[keep]: a new array
        if plan.picks_all(image):  # every band in order: normalised straight into one new array, no band-pick copy
            return self._probs(image)
        return self._probs(plan.apply(image), owned=True)

    def bind(self, cube: Cube, *, resample: bool = False, check_units: bool = True) -> ProbFn:
        """The per-window function for :func:`hsi_app.infer.predict_scene` on ``cube`` (see :meth:`plan`):
        ``(C, h, w)`` raw values of ``cube``'s bands -> ``(K, h, w)`` probabilities. It carries the run's K,
        receptive radius and class names, so ``predict_scene(pred.bind(cube), cube, out=...)`` needs no more."""
        return bind_planned(self, cube, resample=resample, check_units=check_units)


def bind_planned(pred: Any, cube: Cube, *, resample: bool, check_units: bool) -> ProbFn:
    """``pred.plan(cube)`` made once, and the per-window function that applies it (``pred.apply_plan``), carrying
    ``pred``'s K, receptive radius and class names; ``pred`` is a :class:`Predictor` or an
    :class:`~hsi_app.ensemble.EnsemblePredictor` (their ``bind``)."""
    plan = pred.plan(cube, resample=resample, check_units=check_units)

    def prob_fn(image: np.ndarray) -> np.ndarray:
        return pred.apply_plan(plan, image)

    return bound_fn(prob_fn, num_classes=pred.num_classes, halo=pred.receptive_radius, class_names=pred.class_names)


def run_dir_of(path: str | os.PathLike[str]) -> Path:
    """Normalise a ``--model`` argument (a run dir, its config.json, or an ensemble's ensemble.json) to the folder."""
    if not str(path).strip():
        from hsi_app.errors import ConfigError

        raise ConfigError("--model is empty (a run folder in Python); pass the output folder of `hsi train`")
    p = Path(path)
    return p.parent if p.name in ("config.json", "ensemble.json") else p


def warn_partial_nodata(cube: Cube, found: PartialNodata | None) -> None:
    """One :class:`~hsi_app.errors.HSIWarning` line when :data:`~hsi_app.io.partial_nodata.WARN_FRACTION` or
    more of the units sample's pixels (``found``: :attr:`UnitsSample.partial <hsi_app.value_range.UnitsSample>`)
    hold ``cube``'s numeric no-data value in only some good bands: a no-data value that is also a real value drops
    them. Nothing when ``found`` is None (no numeric no-data value)."""
    from hsi_app.io.partial_nodata import NODATA_NOTE_ATTR, WARN_FRACTION, describe
    from hsi_app.io.summary import counted_nodata

    counted = counted_nodata(cube)
    if found is not None and counted is not None and found.fraction >= WARN_FRACTION:
        note = describe(found, counted[1], cube.hsi.wavelengths, np.asarray(cube.band.values), sampled=True,
                        note=cube.attrs.get(NODATA_NOTE_ATTR))
        warnings.warn(f"{scene_name(cube)}: {note}", HSIWarning, stacklevel=2)
