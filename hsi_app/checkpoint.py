"""Run directories: ``config.json`` + ``model.safetensors`` (no pickles, ever).

A run directory holds everything needed to apply a trained model to a new scene: the
model name and arguments, the bands it was trained on (wavelengths, FWHM and indices in
the training cube), per-band normalisation statistics, class names and the split
protocol. Weights are plain tensors in safetensors; nothing is unpickled from files.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app import __version__
from hsi_app.errors import InvalidDataError, ModelLoadError, cannot_read

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ADAPTER_NAME = "adapter.safetensors"  # `hsi finetune` runs: the LoRA adapter instead of weights
ADAPTER_CONFIG_NAME = "adapter_config.json"


@dataclass
class RunConfig:
    """Everything but the weights. Lists are JSON-friendly; ``None`` marks unknown values."""

    task: str
    model_name: str
    model_args: dict[str, Any]
    in_chans: int
    num_classes: int
    class_names: list[str]  # index 0 = no data / unlabelled, then 1..K
    wavelengths: list[float | None]  # (in_chans,) nm
    fwhm: list[float | None]  # (in_chans,) nm
    band_indices: list[int]  # (in_chans,) indices into the training cube's bands
    source_bands: int  # band count of the training cube
    mean: list[float]  # (in_chans,) normalisation of the raw values
    std: list[float]
    receptive_radius: int
    split: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)
    fwhm_in_model: bool = False  # the model was built (trained) with ``fwhm``; False: band-spacing widths (older runs)
    model_wavelengths: list[float | None] | None = None
    """``(in_chans,)`` nm the model was built and trained with, where they are not ``wavelengths``: the
    Indian Pines runs recorded with tensorly's two mislabelled centres (:func:`load_config` corrects
    ``wavelengths`` for band matching, and keeps these for the model). None: ``wavelengths``."""

    @property
    def wavelength_array(self) -> np.ndarray:
        """``(in_chans,)`` float64, NaN where unknown."""
        return np.array([np.nan if v is None else v for v in self.wavelengths], dtype=np.float64)

    @property
    def model_wavelength_array(self) -> np.ndarray:
        """``(in_chans,)`` float64 nm the model knows its bands by (``model_wavelengths`` or
        ``wavelengths``), NaN where unknown; what a wavelength-aware model is built and bound with."""
        values = self.wavelengths if self.model_wavelengths is None else self.model_wavelengths
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    @property
    def fwhm_array(self) -> np.ndarray:
        """``(in_chans,)`` float64, NaN where unknown."""
        return np.array([np.nan if v is None else v for v in self.fwhm], dtype=np.float64)


def json_floats(values: np.ndarray) -> list[float | None]:
    """Float array -> list with ``None`` for NaN (valid JSON)."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64)]


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf) replaced by ``None``, recursively, so
    that ``json.dumps`` writes strict JSON (e.g. the PSNR of two identical cubes is +inf, a
    detection size bin without targets NaN); numpy floats become Python floats."""
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def nonfinite_names(arrays: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point arrays in ``arrays`` that hold NaN or inf."""
    arrays_np = {k: np.asarray(v) for k, v in arrays.items()}
    return [k for k, v in arrays_np.items() if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all()]


def check_finite_tensors(arrays: dict[str, np.ndarray], path: str | os.PathLike[str]) -> None:
    """Refuse to write weights that hold NaN or inf (a diverged training run).

    Args:
        arrays: name -> array about to be saved.
        path: the safetensors file, for the message.

    Raises:
        InvalidDataError: one line naming ``path`` and up to three of the non-finite tensors.
    """
    bad = nonfinite_names(arrays)
    if bad:
        shown = ", ".join(bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        raise InvalidDataError(f"{path}: {len(bad)} of {len(arrays)} tensors hold NaN or inf ({shown}); not saved: "
                               "training diverged, retrain with a lower learning rate")


def save_run(run_dir: str | os.PathLike[str], config: RunConfig, tensors: dict[str, Any]) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``run_dir`` (created if needed).

    ``tensors`` maps names to torch tensors or numpy arrays.

    Raises:
        InvalidDataError: a tensor holds NaN or inf (nothing is written).
    """
    from safetensors.numpy import save_file

    from hsi_app.io.atomic import atomic_path

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    # np.asarray(...).copy(order="C") keeps 0-d arrays 0-d (np.ascontiguousarray would not).
    arrays = {
        k: (v.detach().cpu().contiguous().numpy() if hasattr(v, "detach") else np.asarray(v).copy(order="C"))
        for k, v in tensors.items()
    }
    check_finite_tensors(arrays, run / WEIGHTS_NAME)
    with atomic_path(run / WEIGHTS_NAME) as tmp:
        save_file(arrays, str(tmp))
    with atomic_path(run / CONFIG_NAME) as tmp:
        Path(tmp).write_text(json.dumps(config_json(config), indent=2))
    return run


def config_json(config: RunConfig) -> dict[str, Any]:
    """``config`` as the dict written to config.json; ``model_wavelengths`` only when set."""
    raw = asdict(config)
    if raw["model_wavelengths"] is None:
        del raw["model_wavelengths"]
    return raw


def with_corrected_centres(config: RunConfig) -> RunConfig:
    """``config`` with tensorly's two mislabelled Indian Pines centres corrected in ``wavelengths``.

    A run trained on the built-in Indian Pines before session 50 (or on a file written from it)
    records 0-based bands 170 and 171 at 2260.22 and 2270.15 nm; the scene now has them at
    2212.22 and 2222.15 nm (:mod:`hsi_app.io.indian_pines_bands`). Without this, its 2260.22 nm
    band would be matched to the scene's 2261.82 nm band. The model keeps the centres it was
    trained with (``model_wavelengths``), so a wavelength-aware model's output does not change.

    Returns:
        A corrected copy when ``wavelengths`` are tensorly's list at ``band_indices`` of a
        200-band scene (:func:`~hsi_app.io.indian_pines_bands.corrected_centres`), else ``config``.
    """
    from dataclasses import replace

    from hsi_app.io.indian_pines_bands import corrected_centres

    if config.model_wavelengths is not None:
        return config
    fixed = corrected_centres(config.wavelengths, config.band_indices, config.source_bands)
    if fixed is None:
        return config
    return replace(config, wavelengths=json_floats(fixed), model_wavelengths=list(config.wavelengths))


def load_config(run_dir: str | os.PathLike[str]) -> RunConfig:
    """Read ``config.json`` from a run directory.

    A run recorded with tensorly's Indian Pines band centres gets the two corrected ones
    (:func:`with_corrected_centres`).

    Raises:
        ModelLoadError: missing or malformed config, or fields that do not fit together
            (:func:`hsi_app.run_config_checks.check_run_config`).
    """
    from hsi_app.run_config_checks import check_run_config, fill_class_names

    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise ModelLoadError(f"{run_dir}: no {CONFIG_NAME}; pass the output folder of `hsi train`")
    try:
        text = path.read_text()
    except OSError as err:
        raise ModelLoadError(cannot_read(path, err)) from err
    try:
        raw = json.loads(text)
        fill_class_names(raw, path)
        config = RunConfig(**raw)
    except (json.JSONDecodeError, TypeError) as err:
        raise ModelLoadError(f"{path}: malformed run config ({err}); retrain or restore the file") from err
    check_run_config(raw, path)
    return with_corrected_centres(config)


def load_tensors(run_dir: str | os.PathLike[str], name: str = WEIGHTS_NAME) -> dict[str, np.ndarray]:
    """Read a safetensors file of a run as numpy arrays."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(run_dir) / name
    if not path.is_file():
        raise ModelLoadError(f"{run_dir}: no {name}; the run is incomplete, retrain it")
    try:  # safetensors' own loader reports a permission error as "No such file or directory"
        with open(path, "rb"):
            pass
    except OSError as err:
        raise ModelLoadError(cannot_read(path, err)) from err
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelLoadError(f"{path}: unreadable weights ({err}); retrain or restore the file") from err


def is_finetune_config(config: RunConfig) -> bool:
    """Whether ``config`` is a fine-tune's (``hsi finetune``: ``config.extra`` holds ``"finetune"``), whose folder
    has an adapter instead of weights of its own."""
    return isinstance(config.extra, dict) and "finetune" in config.extra


def no_weights_line(run_dir: str | os.PathLike[str], config: RunConfig | None = None, *,
                    as_base: bool = False) -> str:
    """The one line for a run folder without ``model.safetensors`` (and without ``adapter.safetensors``).

    A fine-tune folder (:func:`is_finetune_config`; ``config`` read from ``run_dir`` when not given, a config that
    cannot be read counting as no fine-tune) has lost its adapter: restore it or redo ``hsi finetune``; passed as a
    base (``as_base``, ``hsi finetune --base``) it is not a base at all: pass the run it was made from. Any other
    run is incomplete: retrain it.
    """
    if config is None:
        try:
            config = load_config(run_dir)
        except ModelLoadError:
            config = None
    if config is not None and is_finetune_config(config):
        if as_base:
            return (f"{run_dir}: is a fine-tune folder (hsi finetune), without its {ADAPTER_NAME}; pass the base run "
                    "it was made from")
        return f"{run_dir}: a fine-tune folder (hsi finetune) without its {ADAPTER_NAME}; restore the file or redo " \
               "`hsi finetune`"
    return f"{run_dir}: no {WEIGHTS_NAME}; the run is incomplete, retrain it"
