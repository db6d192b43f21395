"""Error hierarchy.

Every error raised on purpose by hsi_app derives from :class:`HSIError` *and* from the
builtin a caller would naturally catch (``OSError``, ``ValueError``, ``KeyError``...).
Messages are one line that names the file (or object) at fault and says how to fix it,
for example ``"x.mat: no 3-D array; keys found: a, b. Pass key=..."``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable


class HSIError(Exception):
    """Root of all hsi_app errors. ``str(err)`` is a one-line, user-facing message."""


class CubeReadError(HSIError, OSError):
    """A file exists but cannot be read as a hyperspectral cube (corrupt, truncated, 2-D...)."""


class DatasetNotFoundError(HSIError, FileNotFoundError):
    """A path or built-in dataset name does not exist."""


class UnknownKeyError(HSIError, KeyError):
    """A requested key (``.mat`` variable, dataset name, model name...) is not present."""

    def __str__(self) -> str:  # KeyError would quote the message; keep it readable.
        return str(self.args[0]) if self.args else ""


class BandMismatchError(HSIError, ValueError):
    """The bands of a cube do not match what a model or reference expects."""


class LabelError(HSIError, ValueError):
    """Labels are unreadable, of the wrong shape, or inconsistent with the cube."""


class InvalidDataError(HSIError, ValueError):
    """Values are unusable: all no-data, NaN/inf where not allowed, empty selections."""


class TargetPixelError(InvalidDataError):
    """A target pixel (``--target-pixel ROW,COL``, ``pixels=`` in Python) gives no target spectrum.

    Front ends word it from its fields: ``str(err)`` is the CLI's and Python's line (``"--target-pixel 7,9
    (pixels= in Python): that pixel has no data; pick a valid pixel"``); the viewer names the clicked pixel.

    Attributes:
        pixel: ``(row, col)``, 0-based.
        reason: what is wrong, worded to follow ``"that pixel "`` (e.g. ``"has no data"``).
        fix: what to do, e.g. ``"pick another pixel"``.
    """

    def __init__(self, pixel: tuple[int, int], reason: str, fix: str = "pick another pixel") -> None:
        self.pixel = (int(pixel[0]), int(pixel[1]))
        self.reason = reason
        self.fix = fix
        super().__init__(f"--target-pixel {self.pixel[0]},{self.pixel[1]} (pixels= in Python): that pixel {reason}; "
                         f"{fix}")

    def __reduce__(self) -> tuple[type[TargetPixelError], tuple[tuple[int, int], str, str]]:
        """Rebuild from the fields (pickle, ``copy``, multiprocessing): the default passes only the message."""
        return type(self), (self.pixel, self.reason, self.fix)


class ConfigError(HSIError, ValueError):
    """A bad option value (split spec, window size, model args...)."""


class ChecksumError(HSIError, OSError):
    """A downloaded file does not match its published checksum."""


class OutputError(HSIError, OSError):
    """An output path cannot be written."""


class ModelLoadError(HSIError, OSError):
    """A run directory / checkpoint is missing files or is inconsistent."""


def describe_path(path: str | os.PathLike[str]) -> str:
    """Return the display form of ``path`` used at the start of error messages."""
    return os.fspath(path)


def cannot_read(path: str | os.PathLike[str], err: OSError) -> str:
    """The message for a file that exists but cannot be opened (permissions, an I/O error)."""
    return f"{describe_path(path)}: cannot be read ({err.strerror or err}); check its permissions"


class HSIWarning(UserWarning):
    """A recoverable problem worth telling the user (no georeference, NaNs masked...)."""


def did_you_mean(name: str, choices: Iterable[str], otherwise: str = "", *, cutoff: float = 0.6) -> str:
    """``"did you mean a, b?"`` with up to three close matches of ``name``, else ``otherwise``.

    The hint of an :class:`UnknownKeyError` message (model, method, material or library names).
    """
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=cutoff)
    return f"did you mean {', '.join(close)}?" if close else otherwise
