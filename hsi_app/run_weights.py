"""Build a run's model from its config.json and load its weights, with one-line errors.

Used by every loader of a run folder (:func:`hsi_app.predictor.load_run_model`, the base
run inside a fine-tune, a fine-tune's LoRA adapter): a model argument the registry refuses
names the run's config.json, and weights that do not fit the model say which tensors are
missing or unexpected, or which one has another shape, instead of torch's multi-line report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.checkpoint import CONFIG_NAME, WEIGHTS_NAME, RunConfig, nonfinite_names
from hsi_app.errors import BandMismatchError, ConfigError, ModelLoadError, UnknownKeyError

SHOWN_KEYS = 3


def _few(keys: Sequence[str]) -> str:
    """Up to :data:`SHOWN_KEYS` names, and how many more there are."""
    more = len(keys) - SHOWN_KEYS
    return ", ".join(keys[:SHOWN_KEYS]) + (f" (+{more} more)" if more > 0 else "")


def build_from_config(config: RunConfig, run_dir: str | os.PathLike[str], **overrides: Any) -> Any:
    """``create_model`` with the run's name, sizes, wavelengths (those the model was trained with:
    :attr:`~hsi_app.checkpoint.RunConfig.model_wavelength_array`) and model args, and its FWHM
    when the run was trained with it (:func:`hsi_app.model_fwhm.model_fwhm`; older runs and
    runs of scenes without FWHM are rebuilt with the band-spacing widths they were trained on).

    Args:
        config: the run's config.
        run_dir: its folder, for the message.
        overrides: keyword arguments that replace the config's (e.g. ``wavelengths=None``).

    Raises:
        ModelLoadError: the registry refuses the config's model name, sizes or model args
            (one line naming the run's config.json); a wavelength-aware run saved with band centres in
            micrometres (one line: re-train it, or fix the wavelengths in its config.json).
    """
    from hsi_app.model_fwhm import model_fwhm
    from hsi_app.models import create_model

    kwargs: dict[str, Any] = {"in_chans": config.in_chans, "num_classes": config.num_classes,
                              "wavelengths": config.model_wavelength_array}  # those it was trained with
    fwhm = model_fwhm(config, config.fwhm_array)
    if fwhm is not None:
        kwargs["fwhm"] = fwhm
    kwargs.update({**config.model_args, **overrides})
    try:
        return create_model(config.model_name, **kwargs)
    except BandMismatchError as err:
        from hsi_app.models.registry import micrometre_span

        span = micrometre_span(kwargs.get("wavelengths"))
        key = "model_wavelengths" if config.model_wavelengths is not None else "wavelengths"
        if span is None:
            raise ModelLoadError(f"{Path(run_dir) / CONFIG_NAME}: {err}") from err
        raise ModelLoadError(  # a run an older version saved with the scene's centres in um
            f"{Path(run_dir) / CONFIG_NAME}: model {config.model_name!r} was trained with band centres "
            f"{span[0]:g}-{span[1]:g} (micrometres, which older versions kept as read), and it embeds bands by "
            f"their centres in nm; re-train the run (hsi train), or multiply its '{key}' in config.json by 1000 "
            "(it then loads, but sees other centres than it was trained with)"
        ) from err
    except (ConfigError, UnknownKeyError) as err:
        raise ModelLoadError(f"{Path(run_dir) / CONFIG_NAME}: {err}") from err


def model_radius(model: Any, config: RunConfig) -> int:
    """The halo a run needs: the built model's ``receptive_radius``, or config.json's for a model
    without one (the SVM). The model's own value cannot be edited out of step with its layers."""
    radius = getattr(model, "receptive_radius", None)
    return int(config.receptive_radius if radius is None else radius)


def state_dict_mismatch(expected: Mapping[str, Any], tensors: Mapping[str, np.ndarray],
                        source: str = CONFIG_NAME) -> str | None:
    """How ``tensors`` differ from a model's ``expected`` state dict, in a few words (None: they fit).

    ``source`` names the file the model was built from (for the shape message).

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
            return f"{key} is {got} in the file, {want} for {source}"
    return None


def check_finite_weights(tensors: Mapping[str, np.ndarray], path: Path) -> None:
    """Refuse weights holding NaN or inf (a diverged run saved by an older version).

    Raises:
        ModelLoadError: one line naming ``path`` and up to three of the tensors.
    """
    bad = nonfinite_names(tensors)
    if bad:
        raise ModelLoadError(f"{path}: {len(bad)} weight tensors hold NaN or inf ({_few(bad)}); the run diverged: "
                             "retrain it")


def load_weights(model: Any, tensors: Mapping[str, np.ndarray], run_dir: str | os.PathLike[str],
                 name: str = WEIGHTS_NAME) -> None:
    """``model.load_state_dict(tensors)`` (strict), or one ModelLoadError line saying what does not fit.

    Args:
        model: a torch module built from the run's config.json.
        tensors: name -> array, as read from ``run_dir / name``.

    Raises:
        ModelLoadError: names or shapes that do not fit the model (:func:`state_dict_mismatch`),
            or weights holding NaN or inf (a diverged run saved by an older version).
    """
    import torch

    check_finite_weights(tensors, Path(run_dir) / name)
    problem = state_dict_mismatch(model.state_dict(), tensors)
    if problem is None:
        try:
            model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in tensors.items()})
            return
        except RuntimeError as err:  # anything the key/shape comparison does not see, on one line
            problem = " ".join(str(err).split())
    raise ModelLoadError(f"{Path(run_dir) / name}: weights do not match config.json ({problem}); "
                         "retrain the run or restore its files")


def load_adapter(net: Any, tensors: dict[str, np.ndarray], path: Path) -> None:
    """Put a saved adapter into the peft-wrapped ``net``, after checking that its tensors are
    exactly the ones peft expects (a missing LoRA matrix would silently stay at its initial
    value, and a missing new head at random weights).

    Args:
        net: the peft model built from the fine-tune's adapter_config.json.
        tensors: the adapter file's name -> array.
        path: ``adapter.safetensors``, for the message.

    Raises:
        ModelLoadError: missing or unexpected tensors, or shapes that differ from peft's.
    """
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    problem = state_dict_mismatch(get_peft_model_state_dict(net), tensors, "adapter_config.json")
    if problem is None:
        try:
            set_peft_model_state_dict(net, {k: torch.from_numpy(v) for k, v in tensors.items()})
            return
        except (RuntimeError, KeyError, ValueError) as err:
            problem = " ".join(str(err).split())
    raise ModelLoadError(f"{path}: adapter tensors do not fit the base model ({problem}); redo `hsi finetune`")
