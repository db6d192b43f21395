"""Gradio glue of the viewer's page (``web/app.py``): the error line, and the upload cache.

* :func:`in_page` makes an event's error the page's message line (:func:`message_html`,
  styled by :data:`PAGE_CSS`), while API clients (:func:`from_page`) still get the error;
* :func:`staging_upload` deletes Gradio's own copy of an upload once it is staged
  (:func:`drop_gradio_copy`), and not while another tab is staging the same file;
* :class:`TabSessions` deletes a closed tab's session folder, a grace period
  (:data:`CLOSE_GRACE_S`) after its connection drops, unless the page comes back;
* :func:`served_downloads_folder` names a session's folder of downloads inside Gradio's upload folder, so that
  Gradio serves them without a copy of its own and they go with the session;
* :func:`remove_app_files` deletes Gradio's copies of what the app showed and offered for download
  when the server stops.

Unlike the rest of :mod:`hsi_app.viewer`, this module imports gradio; only ``web/app.py``
imports it (``web/app.py`` is loaded by file path, so its reusable code lives here).
"""

from __future__ import annotations

import contextlib
import functools
import html
import logging
import os
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from hsi_app.viewer.session import ViewerSession

log = logging.getLogger("hsi.web")
PAGE_HEADER = ("x-gradio-user", "app")
"""The header Gradio's own page sends with every event (its API clients send ``api``)."""
PAGE_CSS = """
.gradio-container { overflow: clip !important; }
#hsi-message { position: sticky; top: 0; z-index: 50; }
#hsi-message .hsi-error { padding: 0.6em 0.9em; border: 1px solid #dc2626; border-radius: 6px;
  background: #fef2f2; color: #991b1b; font-weight: 600; }
"""
"""Styles of the page: the error line stays in view while the page scrolls (Gradio's ``overflow: hidden``
would stop ``position: sticky``; ``clip`` crops the same without making a scroll container)."""

def from_page(request: gr.Request | None) -> bool:
    """Whether an event came from the viewer's page (not from an API client).

    Gradio's page marks its events with the header ``x-gradio-user: app``; ``gradio_client``
    and the JavaScript client send ``api``. A direct call (``request`` is ``None``: tests,
    notebooks) counts as the page.
    """
    if request is None:
        return True
    headers = getattr(request, "headers", None)
    value = headers.get(PAGE_HEADER[0]) if headers is not None else None
    return value == PAGE_HEADER[1]


def _request_in(args: Sequence[Any], kwargs: dict[str, Any]) -> gr.Request | None:
    return next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)


def in_page(fn: Callable[..., Any], outputs: int, *, clear_on_error: Sequence[int] = ()) -> Callable[..., Any]:
    """``fn`` (raising :class:`gr.Error`, see :func:`ui_errors`) as a page event whose error is a message line.

    On the page, an event that raises marks every one of its outputs "Error", covering the
    open scene and its downloads, and Gradio's pop-up closes by itself. Instead, the
    returned function adds one output, the message (``""`` after a success), and on an
    error leaves its other ``outputs`` as they were (``gr.skip()``), except the indices in
    ``clear_on_error``, which it empties (the refused file in the upload box). API clients
    (see :func:`from_page`) still get the error as an exception.

    Args:
        fn: the event's function; it returns one value per output (a bare value when ``outputs`` is 1).
        outputs: how many outputs ``fn`` fills.
        clear_on_error: outputs set to ``None`` when ``fn`` fails.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        try:
            out = fn(*args, **kwargs)
        except gr.Error as err:
            if not from_page(_request_in(args, kwargs)):
                raise
            kept = tuple(None if i in clear_on_error else gr.skip() for i in range(outputs))
            return (*kept, str(err.message))
        return (*(out if outputs > 1 else (out,)), "")

    return wrapper


def message_html(text: str | None) -> str:
    """The page's error line for ``text`` (plain text, shown verbatim); ``""`` hides it."""
    if not text:
        return ""
    return f'<div class="hsi-error" role="alert">⚠ {html.escape(str(text))}</div>'


_STAGING_LOCK = threading.Lock()
_STAGING: Counter[str] = Counter()
"""How many events are staging each upload (by real path) now."""


@contextlib.contextmanager
def staging_upload(path: str | os.PathLike[str]) -> Iterator[None]:
    """Count the upload ``path`` as being staged while the body runs; then drop Gradio's copy of it.

    Gradio names an upload by its content hash, so two tabs that upload the same file get
    the same path. The copy is dropped (:func:`drop_gradio_copy`) only when the last
    event staging that path ends, so the first tab to finish never deletes the file
    another tab is still reading. (An event that has not started yet when the last one
    ends finds the file gone and says so in one line; uploading again fixes it.)
    """
    key = os.path.realpath(path)
    with _STAGING_LOCK:
        _STAGING[key] += 1
    try:
        yield
    finally:
        with _STAGING_LOCK:
            _STAGING[key] -= 1
            if _STAGING[key] <= 0:
                del _STAGING[key]
                drop_gradio_copy(path)


def drop_gradio_copy(path: str | os.PathLike[str]) -> None:
    """Delete Gradio's cached copy of an upload once the viewer has staged its own copy (or refused it).

    Gradio keeps every upload in its upload folder (``GRADIO_TEMP_DIR``, by default
    ``<tmp>/gradio/<hash>/<name>``) for an hour or more, which would double the disk an
    upload takes. Only a file inside that folder is deleted (with its ``<hash>`` folder when
    that is left empty); any other path (a direct call from Python) is left alone. A file
    that cannot be deleted (``OSError``) is logged and left to Gradio's own cleanup, so the
    event's own result or error stands. Use :func:`staging_upload` around the staging.
    """
    from gradio.utils import get_upload_folder

    try:
        root = Path(get_upload_folder()).resolve()
        copy = Path(path).resolve()
        if root not in copy.parents or not copy.is_file():
            return
        copy.unlink(missing_ok=True)
    except OSError as err:
        log.warning("could not delete Gradio's copy of an upload: %s", err)
        return
    if copy.parent != root:
        with contextlib.suppress(OSError):  # not empty: another file of the same content hash
            copy.parent.rmdir()


def remove_app_files(blocks: gr.Blocks) -> int:
    """Delete the files Gradio copied into its cache for ``blocks``: every download (class map, denoised cube,
    score maps...) and image it served, which live outside the session folders.

    Gradio deletes them itself only when its server shuts down through its own lifespan (Ctrl-C);
    a SIGTERM ends the process without it, which left every copy behind (a denoised cube as large
    as the scene). Only files inside Gradio's upload folder are deleted, with their ``<hash>``
    folder when that is left empty; files of other apps are not in ``blocks``' sets.

    Returns:
        How many files were deleted.
    """
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder()).resolve()
    removed = 0
    for files in list(getattr(blocks, "temp_file_sets", [])):
        for name in list(files):
            try:
                path = Path(name).resolve()
                if root not in path.parents:
                    continue
                if path.is_file():
                    path.unlink()
                    removed += 1
            except OSError as err:
                log.warning("could not delete Gradio's copy of a file: %s", err)
                continue
            files.discard(name)
            if path.parent != root:
                with contextlib.suppress(OSError):  # not empty: another file of the same content hash
                    path.parent.rmdir()
    return removed


def served_downloads_folder() -> Path:
    """A new session's folder of downloads (:attr:`~hsi_app.viewer.session.ViewerSession.downloads_dir`) inside
    Gradio's upload folder: ``<GRADIO_TEMP_DIR>/hsi_downloads_<32 random hex digits>`` (created when first used).

    Gradio serves a file already inside that folder as it is; any other output file it copies there first, under
    a folder named by the file's content hash, and deletes the copy only an hour later or when the server stops,
    so a closed tab's class maps and denoised cubes stayed on the server long after the session was gone. The
    session deletes this folder when it is closed or opens another scene. Its name is as hard to guess as
    Gradio's own content-hash folders, which are served the same way.
    """
    import secrets

    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve() / f"hsi_downloads_{secrets.token_hex(16)}"


CLOSE_GRACE_S = 120.0
"""Seconds a tab's session folder is kept after its connection to the server drops.

Gradio runs ``unload`` whenever the page's heartbeat connection drops: a closed or
reloaded tab, but also a Wi-Fi drop, a laptop's sleep or a proxy's idle timeout, after
which the page reconnects by itself under the same session. An event of that session
within this time keeps the folder (see :class:`TabSessions`)."""


class TabSessions:
    """The session of each open tab, by Gradio's session hash; closed a grace period after the tab goes.

    :meth:`disconnected` (the page's ``unload``) schedules the close of the tab's session
    (:meth:`~hsi_app.viewer.session.ViewerSession.close`: staged upload, maps and
    downloads) :data:`CLOSE_GRACE_S` later, instead of at once; any event of the same
    session before then (:meth:`seen`, :meth:`keep`) cancels it. Gradio's own state of a
    closed session is dropped only an hour later (or after the state's time to live).
    Sessions are held weakly: one that Gradio dropped is no longer closed from here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: weakref.WeakValueDictionary[str, ViewerSession] = weakref.WeakValueDictionary()
        self._timers: dict[str, threading.Timer] = {}

    def keep(self, session_hash: str | None, session: ViewerSession) -> None:
        """``session`` is now what the tab ``session_hash`` shows (and the tab is there)."""
        if session_hash:
            with self._lock:
                self._sessions[session_hash] = session
                self._cancel(session_hash)

    def seen(self, session_hash: str | None) -> None:
        """An event of the tab ``session_hash`` arrived: it is still open; cancel a pending close."""
        if session_hash:
            with self._lock:
                self._cancel(session_hash)

    def disconnected(self, session_hash: str | None) -> None:
        """The tab's connection dropped: close its session after :data:`CLOSE_GRACE_S` unless it comes back."""
        if not session_hash:
            return
        with self._lock:
            self._cancel(session_hash)
            if session_hash not in self._sessions:
                return
            timer = threading.Timer(CLOSE_GRACE_S, lambda: self._close(session_hash, timer))
            timer.daemon = True  # never keeps the server from stopping (its folders go at exit anyway)
            self._timers[session_hash] = timer
            timer.start()

    def _cancel(self, session_hash: str) -> None:
        timer = self._timers.pop(session_hash, None)
        if timer is not None:
            timer.cancel()

    def _close(self, session_hash: str, timer: threading.Timer) -> None:
        with self._lock:
            if self._timers.get(session_hash) is not timer:
                return  # cancelled, or replaced by a later disconnect
            del self._timers[session_hash]
            session = self._sessions.pop(session_hash, None)
        if session is not None:
            session.close()
