"""Model registry: one name per model builder, in the style of ``timm``.

A family module decorates its builder functions with :func:`register_model`; the
function name becomes the model name. Every builder has the signature
``fn(in_chans, num_classes, wavelengths=None, **kw) -> nn.Module`` and the module it
returns exposes ``receptive_radius: int`` and ``task: str``.

Registration happens when the family module is imported; importing
:mod:`hsi_app.models` imports every family, so the usual entry point is::

    from hsi_app.models import create_model
    net = create_model("ssfcn", in_chans=200, num_classes=16)
"""

from __future__ import annotations

import fnmatch
import inspect
import re
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from hsi_app.errors import ConfigError, UnknownKeyError, did_you_mean
from hsi_app.run_config_checks import is_int

Builder = Callable[..., Any]
F = TypeVar("F", bound=Builder)


@dataclass(frozen=True)
class _Entry:
    """One registered builder."""

    fn: Builder
    module: str
    description: str
    task: str


_REGISTRY: dict[str, _Entry] = {}


def _first_doc_line(fn: Builder) -> str:
    """First non-empty line of ``fn``'s docstring ('' when it has none)."""
    doc = inspect.getdoc(fn) or ""
    return next((line.strip() for line in doc.splitlines() if line.strip()), "")


def register_model(fn: F | None = None, *, task: str = "classification") -> F | Callable[[F], F]:
    """Register a model builder under its function name.

    Usable bare (``@register_model``) or with options (``@register_model(task="denoise")``).

    Args:
        fn: builder ``fn(in_chans, num_classes, wavelengths=None, **kw) -> nn.Module``.
        task: what the model's output means ("classification", "denoise" or "detect").

    Returns:
        The builder itself, unchanged.

    Raises:
        ConfigError: a different builder is already registered under the same name.
    """

    def deco(f: F) -> F:
        name = f.__name__
        old = _REGISTRY.get(name)
        if old is not None and (old.module, old.fn.__qualname__) != (f.__module__, f.__qualname__):
            raise ConfigError(
                f"model {name!r}: registered twice ({old.module} and {f.__module__}); rename one builder"
            )
        _REGISTRY[name] = _Entry(f, f.__module__, _first_doc_line(f), task)
        return f

    return deco(fn) if fn is not None else deco


def _entry(name: str) -> _Entry:
    """Registry entry for ``name``, or an UnknownKeyError that suggests close names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        hint = did_you_mean(name, _REGISTRY, "run `hsi models` to list them", cutoff=0.5)
        raise UnknownKeyError(f"model {name!r}: not registered; {hint}") from None


def create_model(
    name: str,
    *,
    in_chans: int,
    num_classes: int,
    wavelengths: Sequence[float] | None = None,
    **kwargs: Any,
) -> Any:
    """Build a registered model.

    The shapes it maps depend on its task (``model_info(name)["task"]``):

    ==================  ==========================================  ===================================
    task                input                                       output
    ==================  ==========================================  ===================================
    ``classification``  ``(B, C, h, w)``                            ``(B, K, h, w)`` class logits
    ``denoise``         ``(B, C, h, w)`` or ``(B, 1, C, h, w)``;     the input's shape (denoised values)
                        ``hsdt_subspace*``: ``(B, 1, C, h, w)`` only
    ``detect``          ``(B, C, h, w)``                            ``(B, K + 4, h, w)``: K heat-map
                                                                    logits, centre offset (dy, dx), log
                                                                    box height and width
    ==================  ==========================================  ===================================

    Args:
        name: registered model name (see :func:`list_models`).
        in_chans: number of input bands ``C``.
        num_classes: number of output classes ``K`` (labels ``1..K``; denoisers ignore it, runs pass 1).
        wavelengths: ``(C,)`` band centres in nm; used by wavelength-aware families.
        **kwargs: family-specific options (width, depth, dropout...).

    Returns:
        ``torch.nn.Module`` mapping the shapes above for its task.

    Raises:
        UnknownKeyError: ``name`` is not registered.
        ConfigError: bad sizes or an option the builder does not accept.
        BandMismatchError: ``wavelengths`` in micrometres (every centre below 30), not nm, for a family that
            reads them (:func:`uses_wavelengths`; the others only record them).
    """
    entry = _entry(name)
    if not (is_int(in_chans) and is_int(num_classes)) or in_chans < 1 or num_classes < 1:
        raise ConfigError(
            f"model {name!r}: in_chans={in_chans!r}, num_classes={num_classes!r}; both must be integers >= 1"
        )
    _check_nanometres(name, wavelengths)
    try:
        model = entry.fn(in_chans=in_chans, num_classes=num_classes, wavelengths=wavelengths, **kwargs)
    except TypeError as err:
        unknown = unknown_model_args(entry.fn, kwargs, err)
        what = f"unknown model args {unknown}" if unknown else f"bad model args {sorted(kwargs)}"
        raise ConfigError(f"model {name!r}: {what} ({err}); check model_args") from err
    return model


def uses_wavelengths(name: str) -> bool:
    """Whether the registered model ``name`` reads its band centres, not only stores them.

    A wavelength-aware model declares it by the ``with_bands`` method of the class its builder
    returns (``channel_vit*``: it embeds each band by its centre, and accepts band subsets; the
    same attribute :attr:`hsi_app.predictor.Predictor.takes_band_subsets` reads). Every other family
    records ``wavelengths`` and ignores them. A builder whose class cannot be known counts as aware.

    Raises:
        UnknownKeyError: ``name`` is not registered.
    """
    fn = _entry(name).fn
    try:
        target = typing.get_type_hints(fn).get("return")
    except Exception:  # noqa: BLE001 - unresolvable annotations: assume the model reads them
        return True
    return not inspect.isclass(target) or hasattr(target, "with_bands")


def micrometre_span(wavelengths: Sequence[float] | None) -> tuple[float, float] | None:
    """``(min, max)`` of band centres that look like micrometres (every finite one below
    :data:`~hsi_app.io.wavelength_units.MAX_MICROMETRES`), else ``None`` (nm, unknown, or not numbers)."""
    if wavelengths is None:
        return None
    import numpy as np

    from hsi_app.io.wavelength_units import MAX_MICROMETRES

    try:
        wl = np.asarray(wavelengths, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None  # not numbers: the family's own check says so
    finite = wl[np.isfinite(wl)]
    if finite.size and finite.max() < MAX_MICROMETRES:
        return float(finite.min()), float(finite.max())
    return None


def _check_nanometres(name: str, wavelengths: Sequence[float] | None) -> None:
    """Refuse band centres in micrometres for a model that reads them (:func:`uses_wavelengths`): it would
    embed 0.4-2.5 as nanometres, far below any band it was built for, and predict garbage without an
    error. Families that only record the centres take them as given.

    Raises:
        BandMismatchError: one line with the values and the fix (``wavelengths * 1000``).
    """
    span = micrometre_span(wavelengths)
    if span is None or not uses_wavelengths(name):
        return
    from hsi_app.errors import BandMismatchError

    raise BandMismatchError(f"model {name!r}: wavelengths {span[0]:g}-{span[1]:g} look like micrometres; "
                            "band centres are in nm: pass wavelengths * 1000")


def _accepted_names(fn: Builder) -> set[str] | None:
    """Keyword names ``fn`` accepts: its own parameters, plus those of the class it returns when it
    forwards ``**kw`` to it (the families' builders); None when that cannot be known."""
    params = inspect.signature(fn).parameters
    names = {n for n, p in params.items() if p.kind is not p.VAR_KEYWORD}
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return names
    try:
        target = typing.get_type_hints(fn).get("return")
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to the error text
        return None
    if not inspect.isclass(target):
        return None
    inner = inspect.signature(target).parameters
    if any(p.kind is p.VAR_KEYWORD for p in inner.values()):
        return None
    return names | set(inner)


def unknown_model_args(fn: Builder, kwargs: dict[str, Any], err: TypeError | None = None) -> list[str]:
    """The keys of ``kwargs`` that builder ``fn`` does not accept (sorted).

    Read from the signatures of ``fn`` and of the model class it returns; when those
    cannot tell, the name in ``err`` ("unexpected keyword argument 'x'"), if any.
    """
    accepted = _accepted_names(fn)
    if accepted is not None:
        return sorted(k for k in kwargs if k not in accepted)
    named = re.findall(r"unexpected keyword argument '(\w+)'", str(err or ""))
    return sorted(k for k in kwargs if k in named)


def accepts_arg(name: str, arg: str) -> bool:
    """Whether the registered builder ``name`` (or the model class it returns) takes keyword ``arg``.

    False for a name that is not registered (the SVM baseline) and for a builder whose
    accepted names cannot be read from its signatures.
    """
    entry = _REGISTRY.get(name)
    accepted = None if entry is None else _accepted_names(entry.fn)
    return accepted is not None and arg in accepted


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of registered models matching the ``fnmatch`` ``pattern``."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def model_info(name: str) -> dict[str, str]:
    """Task and one-line description of a registered model.

    Returns:
        ``{"name", "task", "description", "module"}``.

    Raises:
        UnknownKeyError: ``name`` is not registered.
    """
    e = _entry(name)
    return {"name": name, "task": e.task, "description": e.description, "module": e.module}
