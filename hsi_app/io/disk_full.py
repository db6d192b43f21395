"""A full disk while writing an output, reported as one line naming the output.

When the disk fills up (or a file-size limit, ``ulimit -f``, is hit) writers fail in many
ways: Python raises ``OSError`` ENOSPC / EFBIG / EDQUOT; GDAL's TIFF layer reports
``_tiffWriteProc: No space left on device`` through libtiff's error handler (printed raw on
stderr) and then raises an unrelated error (``TIFFWriteDirectoryTagData: IO error``), or even
returns success with a truncated file; GDAL's other messages go to rasterio's logger; a
GeoPackage (SQLite) fails with "database or disk is full", "disk I/O error" or a follow-up
error such as "no such table: gpkg_contents".

:class:`WriteWatch` is held while an output is written (:func:`hsi_app.io.atomic.atomic_path`,
:func:`~hsi_app.io.atomic.staged_run_dir`, :class:`hsi_app.io.cog.StreamingCOGWriter`). It
keeps GDAL's and libtiff's messages to itself, so no GDAL internals are printed beside the
error line, and :meth:`WriteWatch.failure` tells whether a failure, or a "success" during
which a TIFF write failed, came from a full disk. It then returns a :class:`DiskFullError`;
nested writers (a COG inside a run folder) each rename it to their own output, so the
outermost one, the path the user gave, is named.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import logging
import os
import platform
import resource
import shutil
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from hsi_app.errors import HSIError, OutputError

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
FULL_TEXTS = ("no space left on device", "file too large", "disk is full", "disk quota exceeded")
TIFF_IO_MODULES = ("_tiffWriteProc", "_tiffSeekProc")  # GDAL's TIFF I/O: a failed write or seek
GDAL_LOGGERS = ("rasterio", "pyogrio", "fiona")  # where GDAL's CPLError messages are logged
IO_MODULES = ("rasterio", "pyogrio", "fiona", "sqlite3", "safetensors")  # errors from writers of these
NOT_SPACE = (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError)  # never about space
LOW_FREE_BYTES = 1 << 20  # an I/O error with less free space (or room under `ulimit -f`) is a full disk


class DiskFullError(OutputError):
    """The disk filled up (or a file-size limit was hit) while an output was written."""

    def __init__(self, dst: str | os.PathLike[str]) -> None:
        super().__init__(f"{os.fspath(dst)}: the disk is full (or a file-size limit was hit) while writing; "
                         "free space or choose another --out")
        self.dst = os.fspath(dst)


# ---------------------------------------------------------------- libtiff's global error handler

_TIFF_HANDLER_T = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)
_lock = threading.Lock()
_tiff_messages: deque[tuple[int, str]] = deque(maxlen=256)  # (sequence number, "module: message")
_sequence = itertools.count(1)
_last = 0  # the sequence number of the newest message
_watching = 0  # WriteWatch blocks open (any thread)
_hooked = False  # the libtiffs loaded with rasterio were scanned (once per process)
_HANDLERS: list[object] = []  # our handlers (and the previous ones), kept alive for the life of the process


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    """The C library, with ``vsnprintf``'s argument types set (loaded once)."""
    if not _LIBC:
        libc = ctypes.CDLL(None)
        libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
        _LIBC.append(libc)
    return _LIBC[0]


def _format(fmt: bytes | None, ap: int | None) -> str:
    """libtiff's ``printf``-style message (only on x86-64, where a ``va_list`` is passed as a pointer)."""
    if not fmt:
        return ""
    if ap is None or platform.machine() not in ("x86_64", "AMD64") or not sys.platform.startswith("linux"):
        return fmt.decode(errors="replace")
    buf = ctypes.create_string_buffer(1024)
    _libc().vsnprintf(buf, len(buf), fmt, ap)
    return buf.value.decode(errors="replace")


def _on_tiff_error(module: bytes | None, fmt: bytes | None, ap: int | None, previous: object = None) -> None:
    """libtiff's global error handler: the message is kept for the open :class:`WriteWatch`; outside a watch
    it goes, untouched, to the handler that was installed before ours (``previous``; libtiff's default
    prints it on stderr), so other users of that libtiff see what they saw before (without one, it is
    printed in libtiff's default format on the C-level stderr)."""
    global _last
    try:
        with _lock:
            if _watching:
                _last = next(_sequence)
                _tiff_messages.append((_last, f"{(module or b'').decode(errors='replace')}: {_format(fmt, ap)}"))
                return
        if previous is None or ap is None:  # no previous handler known, or no va_list to hand on (called by hand):
            # printed as libtiff's default handler does
            text = f"{(module or b'').decode(errors='replace')}: {_format(fmt, ap)}"
            os.write(2, f"{text}.\n".encode(errors="replace"))
        elif previous:  # a NULL one: that libtiff printed nothing, nor do we
            previous(module, fmt, ap)  # type: ignore[operator]
    except Exception:  # noqa: BLE001 - never raise into C
        pass


def _hook_libtiff() -> None:
    """Install :func:`_on_tiff_error` in the libtiffs loaded with rasterio (GDAL's TIFF I/O errors land there),
    once: ``/proc/self/maps`` is read at the first watch after rasterio is imported, and never again. Each
    libtiff's previous handler is kept and receives every message outside a watch."""
    global _hooked
    if _hooked or "rasterio" not in sys.modules:  # no GDAL yet: nothing of ours can write a TIFF
        return
    with _lock:
        if _hooked:
            return
        _hooked = True
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return
    libs = sorted({parts[5] for parts in (line.split(maxsplit=5) for line in maps.splitlines())
                   if len(parts) == 6 and "libtiff" in Path(parts[5]).name})
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            lib.TIFFSetErrorHandler.restype = _TIFF_HANDLER_T
            lib.TIFFSetErrorHandler.argtypes = [_TIFF_HANDLER_T]
            previous: list[object] = []
            handler = _TIFF_HANDLER_T(lambda m, f, a, prev=previous: _on_tiff_error(m, f, a, prev[0] if prev else None))
            _HANDLERS.append(handler)
            previous.append(lib.TIFFSetErrorHandler(handler))
            _HANDLERS.append(previous)
        except (OSError, AttributeError):
            continue


# ---------------------------------------------------------------- classifying failures


class _Collect(logging.Handler):
    """Keeps every record it sees, so nothing is printed by logging's last resort."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def exception_chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and the exceptions it was raised from or during, each once."""
    seen: set[int] = set()
    todo = [err]
    while todo and len(seen) < 32:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)


def says_full(text: str) -> bool:
    """Whether a message says the disk (or a file-size limit) is full."""
    low = text.lower()
    return any(t in low for t in FULL_TEXTS)


def _io_error(err: BaseException) -> bool:
    """An I/O-ish failure: an ``OSError`` that is not one of hsi_app's own checks, or a GDAL/SQLite/... error."""
    for e in exception_chain(err):
        if isinstance(e, NOT_SPACE) or (isinstance(e, HSIError) and not isinstance(e, OutputError)):
            continue
        if isinstance(e, OSError) or type(e).__module__.split(".")[0] in IO_MODULES:
            return True
    return False


def free_bytes(folder: Path) -> int | None:
    """Free bytes on the file system of ``folder`` (its nearest existing parent), or ``None``."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _largest(paths: list[Path]) -> int:
    """Size of the largest file among ``paths``, files inside those that are folders included."""
    sizes = [0]
    for p in paths:
        try:
            files = [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p] if p.is_file() else []
            sizes += [f.stat().st_size for f in files]
        except OSError:
            continue
    return max(sizes)


class WriteWatch:
    """Context manager held while ``dst`` is written: keeps GDAL's messages, classifies failures.

    Args:
        dst: the output path named in the error (a file or a run folder), as the user gave it.
        scratch: the temporary files or folders being written (their size is compared with the
            ``ulimit -f`` file-size limit).
    """

    def __init__(self, dst: str | os.PathLike[str], scratch: list[Path] | None = None) -> None:
        self.dst = Path(dst)
        self.scratch = list(scratch or [])
        self._handler = _Collect()
        self._mark = _last  # libtiff messages after this one are this watch's
        self._open = False

    def __enter__(self) -> WriteWatch:
        global _watching
        if self._open:
            return self
        _hook_libtiff()
        with _lock:
            _watching += 1
            self._mark = _last
        for name in GDAL_LOGGERS:
            logging.getLogger(name).addHandler(self._handler)
        self._open = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None = None, exc: BaseException | None = None,
                 tb: TracebackType | None = None) -> None:
        global _watching
        if not self._open:
            return
        self._open = False
        for name in GDAL_LOGGERS:
            logging.getLogger(name).removeHandler(self._handler)
        with _lock:
            _watching -= 1

    def raise_replacement(self, err: BaseException, cleanup: Callable[[], object], *,
                          failure: Callable[[BaseException], BaseException | None] | None = None) -> None:
        """On a failed write: classify ``err`` (:meth:`failure`, or ``failure``) before ``cleanup()`` runs (the free
        space then still shows the fill), run ``cleanup()``, and raise the replacement from ``err``. Returns when
        there is none (or it is ``err``): the caller then re-raises ``err`` (``raise``)."""
        full = (failure or self.failure)(err)
        cleanup()
        if full is not None and full is not err:
            raise full from err

    def messages(self) -> list[str]:
        """GDAL's and libtiff's messages since the watch began."""
        with _lock:
            tiff = [text for n, text in _tiff_messages if n > self._mark]
        return tiff + self._handler.messages

    def _out_of_space(self) -> bool:
        """Little free space left where ``dst`` goes, or a scratch file up against ``ulimit -f``."""
        free = free_bytes(self.dst.absolute().parent)
        if free is not None and free < LOW_FREE_BYTES:
            return True
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        return limit != resource.RLIM_INFINITY and _largest(self.scratch) > limit - LOW_FREE_BYTES

    def failure(self, err: BaseException | None = None) -> OutputError | None:
        """What to raise instead of ``err``, or, with ``None``, after a write that returned normally.

        Call it before deleting temporary files: the free space then still shows the fill.

        Returns:
            A :class:`DiskFullError` naming ``dst`` when the failure came from a full disk: an
            ``OSError`` ENOSPC/EFBIG/EDQUOT or a message saying so anywhere in the exception chain
            or among GDAL's messages, or an I/O error (a failed TIFF write included) with little
            space left. An :class:`~hsi_app.errors.OutputError` when a write "succeeded" although
            GDAL reported a failed TIFF write (the file would be damaged). Otherwise ``None``:
            interruptions (Ctrl-C) and hsi_app's own checks other than output errors never count.
        """
        messages = self.messages()
        tiff_failed = [m for m in messages if m.startswith(TIFF_IO_MODULES)]
        if err is None:
            if any(says_full(m) for m in messages) or (tiff_failed and self._out_of_space()):
                return DiskFullError(self.dst)
            if tiff_failed:
                return OutputError(f"{self.dst}: GDAL could not write the file ({tiff_failed[0]}); nothing was "
                                   "written, check the disk")
            return None
        if isinstance(err, DiskFullError):
            return err if Path(err.dst) == self.dst else DiskFullError(self.dst)
        if not isinstance(err, Exception) or (isinstance(err, HSIError) and not isinstance(err, OutputError)):
            return None
        for e in exception_chain(err):
            if (isinstance(e, OSError) and e.errno in FULL_ERRNOS) or says_full(str(e)):
                return DiskFullError(self.dst)
        if any(says_full(m) for m in messages):
            return DiskFullError(self.dst)
        if (_io_error(err) or tiff_failed) and self._out_of_space():
            return DiskFullError(self.dst)
        return None
