"""SHA256SUMS records, advisory locks and private temporary files for :mod:`hsi_app.data.download`.

* ``SHA256SUMS`` (and ``SHA256SUMS.unverified``) hold ``<digest>  <name>`` lines in
  ``sha256sum``'s format; every update takes the folder's lock and replaces the file
  atomically, so two downloads into one folder never lose each other's line;
* :func:`locked` holds ``fcntl.flock`` on ``<target>.lock`` (POSIX; elsewhere it runs unlocked);
* :func:`create_part` makes ``<dst>.<pid>.<random>.part``, exclusively this process's;
  :func:`remove_stale_parts` clears those of killed processes after :data:`STALE_PART_HOURS`.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from hsi_app.errors import OutputError

try:  # POSIX advisory locks; without them downloads still never mix (own temporary files)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SUMS_FILENAME = "SHA256SUMS"
UNVERIFIED_FILENAME = "SHA256SUMS.unverified"
PART_SUFFIX = ".part"
LOCK_SUFFIX = ".lock"
STALE_PART_HOURS = 24.0
"""Age after which a ``.part`` file of a killed process is removed (a younger one may be in use)."""


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Lower-case hex sha256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def read_sums(directory: str | os.PathLike[str], sums_name: str = SUMS_FILENAME) -> dict[str, str]:
    """``{filename: digest}`` from ``directory/SHA256SUMS`` (or ``sums_name``; empty when there is none).

    Lines are ``<digest>  <filename>`` as written by ``sha256sum``; a ``*`` before the
    file name (binary mode) is accepted, blank lines and ``#`` comments are skipped.
    """
    sums_path = Path(directory) / sums_name
    try:
        lines = sums_path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    sums: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) == 64 and name:
            sums[name] = digest.lower()
    return sums


def record_sum(
    directory: str | os.PathLike[str], filename: str, digest: str, *, sums_name: str = SUMS_FILENAME
) -> Path:
    """Set the digest of ``filename`` in ``directory/SHA256SUMS`` (or ``sums_name``; rewritten atomically).

    Concurrent writers (two downloads into one folder) take turns through the advisory lock
    ``SHA256SUMS.lock``, so neither loses the other's line.

    Returns:
        The path of the ``SHA256SUMS`` file.

    Raises:
        OutputError: the record cannot be written (read-only folder, full disk).
    """
    return update_sums(Path(directory), sums_name, filename, digest.lower())


def update_sums(directory: Path, sums_name: str, filename: str, digest: str | None) -> Path:
    """Set (or, with ``digest=None``, remove) the line of ``filename`` in ``directory/sums_name``."""
    sums_path = directory / sums_name
    with locked(sums_path):
        sums = read_sums(directory, sums_name)
        if digest is None:
            if sums.pop(filename, None) is None:
                return sums_path
        else:
            sums[filename] = digest
        text = "".join(f"{d}  {n}\n" for n, d in sorted(sums.items()))
        write_atomically(sums_path, text)
    return sums_path


def record_digest(dst: Path, digest: str, *, verified: bool) -> None:
    """Record ``dst``'s digest in SHA256SUMS (verified) or SHA256SUMS.unverified, and drop it from the other."""
    keep, drop = (SUMS_FILENAME, UNVERIFIED_FILENAME) if verified else (UNVERIFIED_FILENAME, SUMS_FILENAME)
    record_sum(dst.parent, dst.name, digest, sums_name=keep)
    if dst.name in read_sums(dst.parent, drop):
        update_sums(dst.parent, drop, dst.name, None)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file of this process and ``os.replace``."""
    tmp: Path | None = None
    try:
        tmp, fh = create_part(path)
        with fh:
            fh.write(text.encode("utf-8"))
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write checksum record ({err.strerror}); check permissions") from err


# ---------------------------------------------------------------------------- locks and temporary files


@contextlib.contextmanager
def locked(target: Path, on_wait: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``<target>.lock`` for the ``with`` block.

    POSIX only (``fcntl.flock``); elsewhere, or where the file system refuses locks, the block
    runs unlocked (temporary files of their own still keep concurrent writers apart). The
    lock file is removed on release. ``on_wait(lock file)`` is called once when another
    process holds the lock, before waiting for it (to say why nothing happens).

    Raises:
        OutputError: the lock file cannot be created (read-only folder).
    """
    lock = target.with_name(target.name + LOCK_SUFFIX)
    fd = _acquire(lock, on_wait) if fcntl is not None else None
    try:
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                lock.unlink()  # before unlocking: a waiter then sees its file was removed and retries
            os.close(fd)


def _acquire(lock: Path, on_wait: Callable[[Path], None] | None = None) -> int | None:
    """Open and ``flock`` ``lock``; the fd, or None when the file system has no locks."""
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise OutputError(f"{lock}: cannot write ({err.strerror}); choose another folder or fix permissions") from err
        try:
            _flock(fd, lock, on_wait)
            on_wait = None  # said once
        except OSError:  # e.g. ENOLCK on some network file systems
            os.close(fd)
            return None
        except BaseException:  # Ctrl-C while waiting
            os.close(fd)
            raise
        if _is_current(fd, lock):
            return fd
        os.close(fd)  # the holder removed this lock file on release; lock the new one


def _flock(fd: int, lock: Path, on_wait: Callable[[Path], None] | None) -> None:
    """``flock(fd, LOCK_EX)``; when another process holds it, call ``on_wait(lock)`` first, then wait."""
    if on_wait is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        on_wait(lock)
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits while another process holds it


def _is_current(fd: int, path: Path) -> bool:
    """True when the open file ``fd`` still is the file named ``path``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def create_part(dst: Path) -> tuple[Path, BinaryIO]:
    """Create ``<dst>.<pid>.<random>.part`` exclusively (this process's alone), opened for writing.

    Raises:
        OSError: the folder cannot be written.
    """
    while True:
        part = dst.with_name(f"{dst.name}.{os.getpid()}.{secrets.token_hex(6)}{PART_SUFFIX}")
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        return part, os.fdopen(fd, "wb")


def new_part(dst: Path) -> tuple[Path, BinaryIO]:
    """:func:`create_part` for a download; an unwritable folder is an :class:`OutputError`."""
    try:
        return create_part(dst)
    except OSError as err:
        raise OutputError(f"{dst}: cannot write ({err.strerror}); choose another folder or fix permissions") from err


def remove_stale_parts(dst: Path, max_age_hours: float = STALE_PART_HOURS) -> None:
    """Remove ``.part`` files of ``dst`` left by killed processes.

    ``<dst>.<pid>.<random>.part`` files are removed once older than ``max_age_hours`` (a
    younger one may belong to a download still running elsewhere and is left alone); the
    fixed-name ``<dst>.part`` of earlier versions is always removed.
    """
    cutoff = time.time() - max_age_hours * 3600.0
    legacy = dst.with_name(dst.name + PART_SUFFIX)
    for part in [legacy, *dst.parent.glob(glob.escape(dst.name) + ".*" + PART_SUFFIX)]:
        with contextlib.suppress(OSError):
            if part == legacy or part.stat().st_mtime < cutoff:
                part.unlink()
