"""Click options shared by several commands (light: nothing heavy is imported here)."""

from __future__ import annotations

import re

from typing import Any

import click

SEED_MAX = 2**32 - 1
"""The largest seed numpy and Lightning accept (seeds are 0..2**32-1)."""


def check_seed(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Click callback of every seed option: refuse a seed outside 0..2**32-1 before any data is read.

    Raises:
        ConfigError: naming the option and the valid range.
    """
    from hsi_app.errors import ConfigError

    if value is not None and not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{param.opts[0]} {value}: use a whole number from 0 to {SEED_MAX} (2**32 - 1)")
    return value


def in_range(lo: float, hi: float, *, hi_open: bool = False) -> Any:
    """Click callback of a float option that must lie in ``[lo, hi]`` (``[lo, hi)`` with ``hi_open``); NaN is refused.

    Raises (from the callback):
        ConfigError: naming the option, the value and the range.
    """
    def check(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
        from hsi_app.errors import ConfigError

        if value is not None and not (lo <= value <= hi and not (hi_open and value == hi)):
            raise ConfigError(f"{param.opts[0]} {value:g}: use a number in [{lo:g}, {hi:g}{')' if hi_open else ']'}")
        return value

    return check


def check_finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Click callback of a float option that must be a finite number (not nan or inf).

    Raises:
        ConfigError: naming the option and the value.
    """
    import math

    from hsi_app.errors import ConfigError

    if value is not None and not math.isfinite(value):
        raise ConfigError(f"{param.opts[0]} {value}: use a finite number")
    return value


def seed_option(name: str = "--seed", **kw: Any) -> Any:
    """A seed option (``int``, checked by :func:`check_seed`); ``kw`` as for :func:`click.option`."""
    kw.setdefault("default", 0)
    kw.setdefault("metavar", "SEED")
    kw.setdefault("show_default", kw["default"] is not None)
    return click.option(name, type=int, callback=check_seed, **kw)


def check_mask_names(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback of ``--exclude-masks``: a value given must name at least one mask.

    Raises:
        ConfigError: the value holds no name (``''``, ``,``).
    """
    from hsi_app.errors import ConfigError

    if value is not None and not any(n.strip() for n in value.split(",")):
        raise ConfigError(f"--exclude-masks {value!r}: no mask name; give names such as cloud,cloudshadow, or 'all'")
    return value


exclude_masks_option = click.option(
    "--exclude-masks", "exclude_masks", default=None, metavar="NAMES", callback=check_mask_names,
    help="Quality masks whose flagged pixels are no-data (class 0 in a map, NaN elsewhere): comma-separated names "
         "(EnMAP L2A: cloud, cloudshadow, haze, snow, cirrus, defective) or 'all' (every mask but defective, "
         "which is excluded only when named: all,defective).",
)


def refuse_given(names: tuple[str, ...], why: str) -> None:
    """Refuse the options ``names`` (parameter names) that the user typed although they do not apply.

    The one rule for options of another task or method: an option given on the command line that
    the run would ignore is an error naming it and why (a default value is never refused).

    Raises:
        ConfigError: one line, ``--opt: <why>; drop it``.
    """
    from hsi_app.errors import ConfigError

    ctx = click.get_current_context()
    for name in names:
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            flag = next((p.opts[0] for p in ctx.command.params if p.name == name), f"--{name}")
            raise ConfigError(f"{flag}: {why}; drop it")


def check_split_option(split: str, train_labels: str | None, test_labels: str | None) -> None:
    """``hsi train`` / ``hsi finetune``: ``--split`` typed beside ``--train-labels``/``--test-labels`` (which are
    the split) is refused, and otherwise a bad ``--split`` is one error line before any note or reading."""
    if train_labels is not None or test_labels is not None:
        refuse_given(("split",), "--train-labels/--test-labels are the split")
    else:
        from hsi_app.data.splits import parse_split

        parse_split(split)


def check_device(ctx: click.Context, param: click.Parameter, value: str) -> str | None:
    """Click callback of ``--device``: :func:`require_device`."""
    return require_device(value)


def require_device(value: str) -> str | None:
    """``--device`` ``value``: ``auto`` -> None (CUDA when a GPU is visible, else the CPU); any other value must
    name a device this machine has (:func:`hsi_app.device.resolve_device`), checked before any data is read.

    Raises:
        ConfigError: one line naming ``--device``, the value and the choices.
    """
    from hsi_app.errors import ConfigError

    if value == "auto":
        return None
    from hsi_app.device import resolve_device

    try:
        resolve_device(value)
    except ConfigError as err:
        raise ConfigError(f"--{err}") from err  # "--device 'cuda': no CUDA GPU visible ...; use cpu"
    return value


def check_device_name(ctx: click.Context, param: click.Parameter, value: str) -> str | None:
    """Click callback of a ``--device`` used on other machines (``hsi batch --scheduler``): ``auto`` -> None, any
    other value only checked to be a device name (:data:`hsi_app.device.CHOICES`), not to exist here.

    Raises:
        ConfigError: one line naming ``--device``, the value and the choices.
    """
    from hsi_app.errors import ConfigError

    if value == "auto":
        return None
    if re.fullmatch(r"cpu|cuda(:\d+)?|mps", value) is None:
        from hsi_app.device import CHOICES

        raise ConfigError(f"--device {value!r}: unknown device; use auto, {CHOICES}")
    return value


def device_option_with(help: str, *, default: str = "auto", callback: Any = check_device) -> Any:
    """The ``--device auto|cpu|cuda[:N]|mps`` option (checked by :func:`check_device`) with a command's own help."""
    return click.option("--device", default=default, show_default=True, metavar="auto|cpu|cuda[:N]|mps",
                        callback=callback, help=help)


device_option = device_option_with("Where the model runs: auto = a CUDA GPU when one is visible, else the CPU.")
