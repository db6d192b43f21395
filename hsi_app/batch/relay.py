"""Warnings of batch tasks run in dask worker processes, issued again in the client.

A scene task in a worker *process* would print its warnings there, in Python's raw format
(``/.../tasks.py:223: HSIWarning: ...`` and a source line), past the ``hsi: warning: ...``
handler that the CLI installs in its own process. :func:`recording` collects the warnings of
the task's thread instead (one process-wide ``warnings.showwarning`` hook with a list per
thread, so tasks on several threads of a worker do not mix them), the task returns them with
its result, and :func:`reissue` warns them again in the client, at their original file and
line: the CLI shows them as one line like any other command's (or drops third-party noise),
and a notebook gets ordinary warnings. A message that does not name its scene gets the scene's path
in front, since the client shows the warnings of many scenes one after another. In the client's own process (a threaded cluster),
nothing is recorded: warnings already reach the client's handler.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Record = tuple[str, type[Warning], str, int]
"""One warning: message, category, file name, line number."""

_LOCAL = threading.local()
_LOCK = threading.Lock()
_PREVIOUS: list[Callable[..., Any]] = []  # the handler the hook replaced (warnings outside a recording)


def _portable(category: type[Warning]) -> type[Warning]:
    """``category`` when the client can unpickle it for sure (builtin or hsi_app's), else ``UserWarning``."""
    module = getattr(category, "__module__", "")
    return category if module == "builtins" or module.split(".")[0] == "hsi_app" else UserWarning


def _hook(message: Warning | str, category: type[Warning], filename: str, lineno: int,
          file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` of a worker process: record in a recording thread, else show as before."""
    box: list[Record] | None = getattr(_LOCAL, "box", None)
    if box is None:
        _PREVIOUS[0](message, category, filename, lineno, file, line)
        return
    box.append((str(message), _portable(category), str(filename), int(lineno)))


def _install() -> None:
    """Put :func:`_hook` in front of the current ``warnings.showwarning`` (once per process)."""
    with _LOCK:
        if warnings.showwarning is not _hook:
            _PREVIOUS[:] = [warnings.showwarning]
            warnings.showwarning = _hook


@contextmanager
def recording(active: bool = True) -> Iterator[list[Record]]:
    """Collect the warnings shown in this thread into the yielded list, while ``active``.

    Filters still apply first (a warning that Python would not show is not recorded).
    With ``active`` False the list stays empty and warnings go where they always go.
    """
    box: list[Record] = []
    if not active:
        yield box
        return
    _install()
    _LOCAL.box = box
    try:
        yield box
    finally:
        _LOCAL.box = None


def scene_names(scene: str) -> tuple[str, ...]:
    """The file names a message about ``scene`` may use instead of its own: the scene's name and, for an ENVI
    data file ``x.img``, its headers ``x.hdr`` and ``x.img.hdr`` (the readers' messages name the header)."""
    path = Path(scene)
    return (path.name, f"{path.stem}.hdr", f"{path.name}.hdr") if path.suffix else (path.name,)


def reissue(records: Iterable[Record], scene: str | None = None) -> None:
    """Warn each recorded ``(message, category, filename, lineno)`` again, in this process.

    Args:
        scene: the scene the task worked on. A message that does not name it (e.g. the detectors'
            ``detection: the background covariance is singular ...``) is prefixed with ``scene: ``,
            so that among the warnings of many scenes each says which scene it is about; one that names
            one of its files (an ENVI pair's ``x.hdr`` for scene ``x.img``: :func:`scene_names`) is left as it is.
    """
    names = scene_names(scene) if scene else ()
    for message, category, filename, lineno in records:
        if scene and not any(name in message for name in names):
            message = f"{scene}: {message}"
        warnings.warn_explicit(message, category, filename, lineno)
