"""Build a run's model from its config.json and load its weights, with one-line errors.

Used by every loader of a run folder (:func:`hsi_app.predictor.load_run_model`, the base
run inside a fine-tune): a model argument the registry refuses names the run's
config.json, and weights that do not fit the model say which tensors are missing or
unexpected, or which one has another shape, instead of torch's multi-line report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.checkpoint import CONFIG_NAME, WEIGHTS_NAME, RunConfig
from hsi_app.errors import BandMismatchError, ConfigError, ModelLoadError, UnknownKeyError

SHOWN_KEYS = 3


def _few(keys: Sequence[str]) -> str:
    """Up to :data:`SHOWN_KEYS` names, and how many more there are."""
    more = len(keys) - SHOWN_KEYS
    return ", ".join(keys[:SHOWN_KEYS]) + (f" (+{more} more)" if more > 0 else "")


def build_from_config(config: RunConfig, run_dir: str | os.PathLike[str], **overrides: Any) -> Any:
    """``create_model`` with the run's name, sizes, wavelengths and model args.

    Args:
        config: the run's config.
        run_dir: its folder, for the message.
        overrides: keyword arguments that replace the config's (e.g. ``wavelengths=None``).

    Raises:
        ModelLoadError: the registry refuses the config's model name, sizes or model args
            (one line naming the run's config.json).
    """
    from hsi_app.models import create_model

    kwargs: dict[str, Any] = {"in_chans": config.in_chans, "num_classes": config.num_classes,
                              "wavelengths": config.wavelength_array, **config.model_args, **overrides}
    try:
        return create_model(config.model_name, **kwargs)
    except (ConfigError, BandMismatchError, UnknownKeyError) as err:
        raise ModelLoadError(f"{Path(run_dir) / CONFIG_NAME}: {err}") from err


def state_dict_mismatch(expected: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> str | None:
    """How ``tensors`` differ from a model's ``expected`` state dict, in a few words (None: they fit).

    Returns:
        ``"missing: a, b, c (+2 more); unexpected: x"`` (up to three names each), else the
        first tensor whose shape differs: ``"head.weight is [16, 24] in the file, [10, 24] for config.json"``.
    """
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    parts = ([f"missing: {_few(missing)}"] if missing else []) + ([f"unexpected: {_few(unexpected)}"] if unexpected else [])
    if parts:
        return "; ".join(parts)
    for key, value in expected.items():
        want, got = list(value.shape), list(np.shape(tensors[key]))
        if want != got:
            return f"{key} is {got} in the file, {want} for config.json"
    return None


def load_weights(model: Any, tensors: Mapping[str, np.ndarray], run_dir: str | os.PathLike[str],
                 name: str = WEIGHTS_NAME) -> None:
    """``model.load_state_dict(tensors)`` (strict), or one ModelLoadError line saying what does not fit.

    Args:
        model: a torch module built from the run's config.json.
        tensors: name -> array, as read from ``run_dir / name``.

    Raises:
        ModelLoadError: names or shapes that do not fit the model (:func:`state_dict_mismatch`).
    """
    import torch

    problem = state_dict_mismatch(model.state_dict(), tensors)
    if problem is None:
        try:
            model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in tensors.items()})
            return
        except RuntimeError as err:  # anything the key/shape comparison does not see, on one line
            problem = " ".join(str(err).split())
    raise ModelLoadError(f"{Path(run_dir) / name}: weights do not match config.json ({problem}); "
                         "retrain the run or restore its files")
