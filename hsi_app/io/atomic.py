"""Atomic output files: write to a hidden temporary name, rename on success.

Every writer in :mod:`hsi_app.io` goes through :func:`atomic_path`, so an output path
holds either the previous file or the complete new one, never a half-written file,
even when the process is interrupted (exception, Ctrl-C) in the middle of a write.

The temporary file lives in the destination folder (``os.replace`` is only atomic
within one file system) and is named ``.<name>.partial-<random><suffix>``: hidden,
recognisable, and still ending in the real suffix so that libraries that infer the
format from the extension (GDAL's GeoPackage driver, matplotlib) behave as for ``dst``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hsi_app.errors import OutputError

PARTIAL_MARKER = ".partial-"


def check_writable(dst: str | os.PathLike[str]) -> Path:
    """Check up front that ``dst`` can be created, before any expensive work.

    Args:
        dst: the output file path.

    Returns:
        ``dst`` as an absolute :class:`~pathlib.Path`.

    Raises:
        OutputError: the folder does not exist, is not a folder, is not writable, or
            ``dst`` itself is an existing folder.
    """
    path = Path(dst).expanduser().absolute()
    folder = path.parent
    if path.is_dir():
        raise OutputError(f"{dst}: is an existing folder; pass a file name for the output")
    if not folder.exists():
        raise OutputError(f"{dst}: folder {folder} does not exist; create it first or choose another output path")
    if not folder.is_dir():
        raise OutputError(f"{dst}: {folder} is not a folder; choose another output path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{dst}: folder {folder} is not writable; choose another output path or fix its permissions")
    return path


def partial_path(dst: str | os.PathLike[str]) -> Path:
    """A fresh hidden temporary name next to ``dst`` (``.<name>.partial-<random><suffix>``)."""
    path = Path(dst)
    return path.with_name(f".{path.name}{PARTIAL_MARKER}{secrets.token_hex(4)}{path.suffix}")


def remove_quietly(path: str | os.PathLike[str]) -> None:
    """Delete ``path`` if it exists; never raises."""
    try:
        os.remove(path)
    except OSError:
        pass


@contextmanager
def atomic_path(dst: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``dst``; move it onto ``dst`` if the block succeeds.

    Usage::

        with atomic_path("map.tif") as tmp:
            write_something(tmp)      # dst appears only if this returns

    On any exception (``KeyboardInterrupt`` included) the temporary file is deleted,
    ``dst`` is left exactly as it was, and the exception propagates.

    Args:
        dst: final output path; its folder must exist and be writable.

    Yields:
        The temporary path to write to (it does not exist yet).

    Raises:
        OutputError: ``dst`` is not writable (checked before yielding), the block
            produced no file, or the final rename failed.
    """
    path = check_writable(dst)
    tmp = partial_path(path)
    try:
        yield tmp
    except BaseException:
        remove_quietly(tmp)
        raise
    if not tmp.exists():
        raise OutputError(f"{dst}: the writer produced no file; nothing was written")
    try:
        os.replace(tmp, path)
    except OSError as err:
        remove_quietly(tmp)
        raise OutputError(f"{dst}: cannot replace the output file ({err.strerror}); check the path") from err
