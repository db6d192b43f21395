"""Device strings (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``) to ``torch.device``, with one clear error.

:class:`~hsi_app.predictor.Predictor`, the runs' loaders and the trainers all resolve
their ``device`` argument here, so a typo or a GPU that is not there gives one
:class:`~hsi_app.errors.ConfigError` line instead of a raw torch error deep in a load.
"""

from __future__ import annotations

from typing import Any

from hsi_app.errors import ConfigError

CHOICES = "cpu, cuda, cuda:N or mps"


def resolve_device(device: str | Any | None = None) -> Any:
    """The ``torch.device`` for ``device``; ``None`` means CUDA when a GPU is visible, else the CPU.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, a ``torch.device``, or None.

    Returns:
        A ``torch.device`` that exists on this machine.

    Raises:
        ConfigError: an unknown device string, CUDA without a visible GPU, a GPU index
            beyond the visible ones, or MPS where torch has none.
    """
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ConfigError(f"device {str(device)!r}: unknown device; use {CHOICES}") from err
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {str(device)!r}: no CUDA GPU visible (torch.cuda.is_available() is False); use cpu")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"device {str(device)!r}: only {count} CUDA GPU(s) visible (cuda:0..cuda:{count - 1}); "
                              "pick one of them or cpu")
        return dev
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"device {str(device)!r}: this torch has no usable MPS (Apple GPU) backend; use cpu")
        return dev
    raise ConfigError(f"device {str(device)!r}: {dev.type} devices are not supported; use {CHOICES}")
