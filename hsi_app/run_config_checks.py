"""Checks of a run's ``config.json`` as it is read (:func:`hsi_app.checkpoint.load_config`).

A hand-edited or damaged config.json must be refused with one line that names the file
and the field, not turned into a silently wrong map (a NaN mean zeroes its band, a short
class list mislabels the map) or a numpy broadcasting error deep in a prediction.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hsi_app.errors import ModelLoadError

BAND_LISTS = ("wavelengths", "fwhm", "band_indices", "mean", "std")
"""Fields with one entry per model band (``in_chans``)."""
NAMED_CLASS_TASKS = ("classification", "detect")
"""Tasks whose ``class_names`` name classes ``0..K`` (``num_classes + 1`` entries)."""


def is_int(value: Any) -> bool:
    """An integer (Python or numpy), not a bool, float or string."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _bad(path: Path, field: str, problem: str) -> ModelLoadError:
    return ModelLoadError(f"{path}: {field!r} {problem}; retrain the run or restore its config.json")


def _show(value: Any) -> str:
    """``value`` as it reads in the JSON file (``null``, ``NaN``, ``"200"``)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _first_bad(values: list[Any], ok: Callable[[Any], bool]) -> int | None:
    """Index of the first entry of ``values`` for which ``ok(entry)`` is False (None: all fine)."""
    return next((i for i, v in enumerate(values) if not ok(v)), None)


def fill_class_names(raw: Any, path: Path) -> None:
    """Name the classes ``class 1..K`` (with one warning) in a classifier's config whose
    ``class_names`` is empty: the cross-sensor benchmark's base runs were written that way
    before session 47, so the list is the app's own omission, not damage.
    """
    if not isinstance(raw, dict) or raw.get("task") not in NAMED_CLASS_TASKS or raw.get("class_names") not in ([], None):
        return
    k = raw.get("num_classes")
    if is_int(k) and k >= 1:
        import warnings

        from hsi_app.errors import HSIWarning

        raw["class_names"] = ["unlabelled", *[f"class {i}" for i in range(1, k + 1)]]
        warnings.warn(f"{path}: no class names; its classes are called class 1..{k}", HSIWarning, stacklevel=3)


def check_run_config(raw: dict[str, Any], path: Path) -> None:
    """Refuse a config whose sizes, band lists, statistics or class names do not fit together.

    Args:
        raw: the parsed ``config.json`` (every RunConfig field present).
        path: the file, for the message.

    Raises:
        ModelLoadError: one line naming ``path`` and the first bad field: ``in_chans``,
            ``num_classes``, ``source_bands`` not positive integers, ``receptive_radius``
            not an integer >= 0; a band list (wavelengths, fwhm, band_indices, mean, std)
            without ``in_chans`` entries; non-numeric wavelengths/FWHM; band indices outside
            the training cube; a mean that is not finite; a std that is not finite and > 0;
            ``class_names`` without ``num_classes + 1`` entries (classifiers and detectors);
            ``extra`` (optional) not a JSON object; ``fwhm_in_model`` (optional) not a boolean; ``model_wavelengths`` (optional) neither
            null nor one number (or null) per band.
    """
    for name in ("in_chans", "num_classes", "source_bands"):
        if not is_int(raw[name]) or raw[name] < 1:
            raise _bad(path, name, f"is {_show(raw[name])}; it must be a positive integer")
    radius = raw["receptive_radius"]
    if not is_int(radius) or radius < 0:
        raise _bad(path, "receptive_radius", f"is {_show(radius)}; it must be an integer >= 0")
    if not isinstance(raw["model_args"], dict):
        raise _bad(path, "model_args", f"is {type(raw['model_args']).__name__}; it must be a JSON object")
    if not isinstance(raw.get("extra", {}), dict):  # a hand-edited "extra": null would fail later on .get
        raise _bad(path, "extra", f"is {_show(raw['extra'])}; it must be a JSON object ({{}} when there is nothing)")
    if not isinstance(raw.get("fwhm_in_model", False), bool):
        raise _bad(path, "fwhm_in_model", f"is {_show(raw['fwhm_in_model'])}; it must be true or false")
    c = raw["in_chans"]
    for name in BAND_LISTS:
        values = raw[name]
        if not isinstance(values, list) or len(values) != c:
            n = f"{len(values)} entries" if isinstance(values, list) else f"a {type(values).__name__}"
            raise _bad(path, name, f"has {n} for in_chans={c}; it needs one value per band")
    model_wl = raw.get("model_wavelengths")
    if model_wl is not None and (not isinstance(model_wl, list) or len(model_wl) != c):
        n = f"{len(model_wl)} entries" if isinstance(model_wl, list) else f"a {type(model_wl).__name__}"
        raise _bad(path, "model_wavelengths", f"has {n} for in_chans={c}; it needs one value per band, or null")
    for name in ("wavelengths", "fwhm", "model_wavelengths"):  # None (or NaN) marks an unknown value
        if raw.get(name) is None:
            continue
        i = _first_bad(raw[name], lambda v: v is None or _is_number(v))
        if i is not None:
            raise _bad(path, name, f"entry {i} is {_show(raw[name][i])}; use a number of nm or null")
    i = _first_bad(raw["band_indices"], lambda v: is_int(v) and 0 <= v < raw["source_bands"])
    if i is not None:
        raise _bad(path, "band_indices", f"entry {i} is {_show(raw['band_indices'][i])}; indices must lie in "
                                         f"0..{raw['source_bands'] - 1} (source_bands={raw['source_bands']})")
    i = _first_bad(raw["mean"], lambda v: _is_number(v) and math.isfinite(v))
    if i is not None:
        raise _bad(path, "mean", f"entry {i} is {_show(raw['mean'][i])}; every band mean must be a finite number")
    i = _first_bad(raw["std"], lambda v: _is_number(v) and math.isfinite(v) and v > 0)
    if i is not None:
        raise _bad(path, "std", f"entry {i} is {_show(raw['std'][i])}; every band std must be a finite number > 0")
    if raw["task"] in NAMED_CLASS_TASKS:
        names, k = raw["class_names"], raw["num_classes"]
        if not isinstance(names, list) or len(names) != k + 1:
            n = len(names) if isinstance(names, list) else type(names).__name__
            raise _bad(path, "class_names", f"has {n} entries for num_classes={k}; it needs {k + 1} "
                                            "(index 0 = unlabelled, then one per class)")
