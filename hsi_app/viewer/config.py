"""Viewer settings: where scenes, runs and models live, and the upload size limit.

Settings come from keyword arguments (``hsi serve --scenes/--runs/--max-upload``) or
from environment variables (``HSI_SCENES``, ``HSI_RUNS``, ``HSI_MODELS``,
``HSI_MAX_UPLOAD``), so that ``python web/app.py`` and notebooks see the same setup.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from hsi_app.errors import ConfigError

DEFAULT_MAX_UPLOAD = "2GB"
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3,
          "T": 1024**4, "TB": 1024**4}


def parse_size(text: str | int) -> int:
    """``"2GB"``, ``"500 MB"``, ``"1024"`` -> bytes (binary units: 1 GB = 1024**3 bytes).

    Raises:
        ConfigError: not a positive size.
    """
    if isinstance(text, int):
        value = text
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
        unit = match.group(2).upper() if match else ""
        if match is None or unit not in _UNITS:
            raise ConfigError(f"size {text!r}: not understood; write e.g. 2GB, 500MB or 1024 (bytes)")
        value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise ConfigError(f"size {text!r}: must be positive, e.g. 2GB")
    return value


def format_size(n: int) -> str:
    """Bytes -> a short human string (``2.0 GB``)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def default_models_dir() -> Path:
    """The top-level ``models/`` folder of the source tree (may not exist)."""
    return Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class ViewerConfig:
    """Everything the viewer needs to know about its surroundings.

    Attributes:
        scenes_dir: folder whose files/product folders are offered as scenes (or ``None``).
        runs_dir: folder of ``hsi train`` run folders offered as models (or ``None``).
        models_dir: the shipped ``models/`` folder (model cards + manifest).
        max_upload_bytes: uploads larger than this are refused.
    """

    scenes_dir: Path | None = None
    runs_dir: Path | None = None
    models_dir: Path | None = None
    max_upload_bytes: int = parse_size(DEFAULT_MAX_UPLOAD)

    @classmethod
    def create(
        cls,
        scenes: str | os.PathLike[str] | None = None,
        runs: str | os.PathLike[str] | None = None,
        models: str | os.PathLike[str] | None = None,
        max_upload: str | int | None = None,
    ) -> ViewerConfig:
        """Build a config from arguments, falling back to ``HSI_*`` environment variables.

        Raises:
            ConfigError: a given folder does not exist, or the size is unreadable.
        """
        env = os.environ
        scenes = scenes if scenes is not None else env.get("HSI_SCENES") or None
        runs = runs if runs is not None else env.get("HSI_RUNS") or None
        models = models if models is not None else env.get("HSI_MODELS") or None
        size = max_upload if max_upload is not None else env.get("HSI_MAX_UPLOAD", DEFAULT_MAX_UPLOAD)
        return cls(
            scenes_dir=_folder(scenes, "--scenes / HSI_SCENES"),
            runs_dir=_folder(runs, "--runs / HSI_RUNS"),
            models_dir=_folder(models, "HSI_MODELS") if models is not None else default_models_dir(),
            max_upload_bytes=parse_size(size),
        )


def _folder(value: str | os.PathLike[str] | None, what: str) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"{value}: {what} must be an existing folder")
    return path
