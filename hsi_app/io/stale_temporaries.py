"""Hidden temporaries of outputs (:mod:`hsi_app.io.atomic`) left by a hard-killed run.

A run killed with SIGKILL, by the OOM killer or a pre-empted node cannot remove its
``.<name>.partial-<pid>-*`` files and staging folders. :func:`sweep_stale` deletes those beside
a newly published output once they are stale (:func:`is_stale`: old, and their writer's pid is
gone); :func:`remove_temporaries` deletes all of them for a caller that owns the folder
(``hsi batch`` under its lock).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from hsi_app.io.atomic import PARTIAL_MARKER, TIF_SUFFIXES, remove_quietly

STALE_AFTER_S = 3600.0  # a temporary untouched for this long, whose writer is gone, belongs to a killed run


def _stems(output: Path, names: Iterable[str] = ()) -> tuple[str, ...]:
    """Name prefixes of the temporaries of ``output`` (see :func:`temporaries`)."""
    stage = [output.with_suffix(".stage.tif").name] if output.suffix.lower() in TIF_SUFFIXES else []
    return tuple(f".{n}{PARTIAL_MARKER}" for n in (output.name, *stage, *names))


def temporaries(output: str | os.PathLike[str], names: Iterable[str] = ()) -> list[Path]:
    """The hidden temporary files and staging folders of ``output`` in its folder.

    That is ``.<name>.partial-*`` (:func:`partial_path`, :func:`staged_run_dir`; GDAL's and SQLite's
    own companions of those included) and, for a GeoTIFF, ``.<stem>.stage.tif.partial-*`` (the
    staging file of :class:`~hsi_app.io.cog.StreamingCOGWriter`); plus those of the sibling
    file ``names`` (a batch sidecar).
    """
    out = Path(output)
    if not out.parent.is_dir():
        return []
    stems = _stems(out, names)
    return [f for f in out.parent.iterdir() if f.name.startswith(stems)]


def writer_alive(path: Path) -> bool:
    """Whether the process whose pid a temporary's name carries is running (``False`` for older names)."""
    rest = path.name.rpartition(PARTIAL_MARKER)[2]
    pid, sep, _ = rest.partition("-")
    if not sep or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


def is_stale(path: Path, now: float | None = None) -> bool:
    """A temporary of a killed run: untouched (itself and, for a folder, everything in it) for
    :data:`STALE_AFTER_S` seconds, and its writer's pid is not running."""
    import time

    try:
        files = [path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else [path]
        newest = max(f.lstat().st_mtime for f in files)
    except OSError:
        return False
    return (time.time() if now is None else now) - newest >= STALE_AFTER_S and not writer_alive(path)


def _remove(path: Path) -> bool:
    """Delete a temporary file or staging folder; whether it is gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        remove_quietly(path)
    return not os.path.lexists(path)


def remove_temporaries(output: str | os.PathLike[str], names: Iterable[str] = ()) -> list[Path]:
    """Delete every hidden temporary of ``output`` (:func:`temporaries`), stale or not: for a caller
    that owns the folder (``hsi batch`` holds its lock).

    Returns:
        The paths removed.
    """
    return [f for f in temporaries(output, names) if _remove(f)]


def sweep_stale(outputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """After ``outputs`` were published: delete the temporaries that a hard-killed earlier run
    (SIGKILL, the OOM killer, a pre-empted node) left beside them, only stale ones
    (:func:`is_stale`): never one that a running process may still be writing.

    Returns:
        The paths removed.
    """
    by_folder: dict[Path, set[str]] = {}
    for out in {Path(o).absolute() for o in outputs}:
        by_folder.setdefault(out.parent, set()).update(_stems(out))
    removed: list[Path] = []
    for folder, stems in sorted(by_folder.items()):
        if not folder.is_dir():
            continue
        prefixes = tuple(stems)
        removed += [f for f in sorted(folder.iterdir()) if f.name.startswith(prefixes) and is_stale(f) and _remove(f)]
    return removed
