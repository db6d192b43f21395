"""Download dataset files with a progress bar, atomically, with sha256 verification.

Guarantees of :func:`fetch`:

* a file only gets its final name once it is complete and verified: bytes go to a
  temporary file of this process alone, ``<dst>.<pid>.<random>.part`` (created
  exclusively, in the same folder), which is removed on any failure (error, Ctrl-C, bad
  checksum), except that an HTTP download that broke off or was stopped with Ctrl-C keeps its bytes
  in ``<dst>.resume`` for the next fetch of the same URL to continue, when the server identifies the
  file (``ETag``/``Last-Modified``) or a sha256 is published (:mod:`~hsi_app.data.download_resume`); the sha256 and the size are taken from that file as written on disk (after
  ``fsync``), and ``os.replace`` gives it its final name atomically;
* two processes fetching one file at once do not mix their bytes: each writes its own
  temporary file, and on POSIX an advisory lock (``fcntl.flock`` on ``<dst>.lock``, removed
  afterwards) makes the second wait and then find the file complete and verified. Without
  ``fcntl`` each finisher replaces the final file with its own verified copy;
* ``.part`` files left by killed processes are removed once older than
  :data:`~hsi_app.data.download_records.STALE_PART_HOURS` (a younger one may belong to a running download, and is ignored);
* with a published ``sha256`` the download is checked against it;
* a download is complete when its size matches the catalog's ``size_bytes`` or the server's
  ``Content-Length``, its chunked transfer ended properly, or its sha256 matches; a dropped
  connection (``IncompleteRead``, chunked truncation) is an error. A download that nothing can
  prove complete (no sha256, no size, a close-delimited HTTP body) is kept but recorded in
  ``SHA256SUMS.unverified``, not in ``SHA256SUMS``, and a warning says so;
* a file whose name promises binary data (``.mat``, ``.tif``, ``.zip``...: see
  :data:`BINARY_SUFFIXES`) but which starts like a web page (``<!DOCTYPE``, ``<html``, also
  after a comment or in UTF-16, or an ``403 Forbidden`` text: see
  :func:`~hsi_app.data.download_content.is_web_page`) is refused and nothing is recorded: the
  server sent a login, consent or error page, or the URL moved. A ``.mat`` download given the
  catalog's variable name (``mat_key``) must hold that variable and end where its variables
  end, or it is refused the same way; without a published sha256 that variable must also have
  the catalog's shape (``mat_shape``: height, width, bands). An existing local copy without a
  published sha256 (a file placed by hand, such as WHU-Hi) gets the same checks, so a wrong,
  truncated or uncorrected file is refused instead of being recorded as the reference;
* with ``overwrite`` (``--force``), a new download that nothing proves complete never
  replaces a copy recorded as verified in ``SHA256SUMS``: the old file and its record are kept;
* every verified file is recorded in ``<dst.parent>/SHA256SUMS`` (the format of
  ``sha256sum``), so a later call verifies an existing local copy against the digest
  recorded when it was first downloaded and reports corruption instead of using it;
* an existing file that verifies is not downloaded again; one whose size differs from the
  catalog's ``size_bytes`` is refused. Verifying only reads: in a read-only data folder a
  good file is used, and a warning (once per folder) says its digest could not be recorded.

``http(s)://`` URLs are streamed with ``requests``; ``file://`` URLs are read from disk
(used by tests and for local mirrors).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import BinaryIO, NamedTuple
from urllib.parse import urlparse
from urllib.request import url2pathname

from hsi_app.data.catalog import DatasetEntry, DatasetFile, get_dataset, load_catalog
from hsi_app.data.download_content import is_web_page, mat_problem
from hsi_app.data.download_resume import Resume, discard, keep, pending, range_start, validator_of
from hsi_app.data.download_records import (
    LOCK_SUFFIX,
    SUMS_FILENAME,
    UNVERIFIED_FILENAME,
    locked,
    new_part,
    read_sums,
    record_digest,
    record_sum,  # noqa: F401 - public API, re-exported
    remove_stale_parts,
    sha256_file,
)
from hsi_app.errors import (
    ChecksumError,
    ConfigError,
    DatasetNotFoundError,
    HSIError,
    HSIWarning,
    InvalidDataError,
    OutputError,
)

BINARY_SUFFIXES = frozenset({
    ".mat", ".tif", ".tiff", ".zip", ".img", ".npy", ".npz", ".h5", ".hdf", ".hdf5", ".he5", ".nc",
    ".gz", ".tgz", ".bz2", ".xz", ".7z", ".tar", ".bsq", ".bil", ".bip", ".raw", ".dat", ".safetensors",
})  # fmt: skip
"""File name suffixes that promise binary data, so a web page under such a name is refused."""
HTTP_TIMEOUT_S = (15.0, 60.0)  # connect, read (between bytes)


class DownloadError(HSIError, OSError):
    """A file could not be fetched: network failure, HTTP error status, missing source."""


def _check_digest(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    digest = sha256.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ConfigError(f"sha256 {sha256!r} is not a 64-digit hex digest; pass the published sha256 or None")
    return digest


# ---------------------------------------------------------------------------- sources


def _iter_file(path: Path, chunk_size: int) -> tuple[int | None, Iterator[bytes]]:
    """``(size, chunks)`` of a local file (the ``file://`` source)."""
    size = path.stat().st_size

    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as fh:
            while block := fh.read(chunk_size):
                yield block

    return size, chunks()


class _Source(NamedTuple):
    """An opened download: ``size`` of the whole file (None: unknown), the ``chunks`` of its body, whether the
    body's end is ``framed`` (see :func:`_iter_http`), the server's ``validator`` of the file (ETag or
    Last-Modified: :func:`~hsi_app.data.download_resume.validator_of`) and the byte the body starts at
    (the kept bytes' count when the server continues an interrupted download, else 0)."""

    size: int | None
    chunks: Iterator[bytes]
    framed: bool
    validator: str | None = None
    start: int = 0


def _iter_http(url: str, chunk_size: int, resume: Resume | None = None) -> _Source:
    """An HTTP(S) download (``requests`` streaming); with ``resume``, only the bytes after the kept ones
    when the server still serves the same file (``Range`` + ``If-Range``), else the whole file.

    ``framed``: the body's end is marked (``Content-Length``, which urllib3 enforces, or a
    chunked transfer), so a dropped connection raises instead of looking like the end.
    """
    import requests

    headers: dict[str, str] = {}
    if resume is not None:
        headers = {"Range": f"bytes={resume.offset}-", "Accept-Encoding": "identity"}
        if resume.validator is not None:
            headers["If-Range"] = resume.validator
    response = requests.get(url, stream=True, timeout=HTTP_TIMEOUT_S, headers=headers)
    start, whole = 0, None
    if resume is not None and response.status_code in (206, 416):
        got = range_start(response.headers) if response.status_code == 206 else None
        now = validator_of(response.headers)
        changed = resume.validator is not None and now is not None and now != resume.validator  # If-Range ignored
        if got is None or got[0] != resume.offset or changed:  # past the file's end, a range not asked for, a new file
            response.close()
            return _iter_http(url, chunk_size)
        start, whole = got
    try:
        response.raise_for_status()
    except requests.HTTPError:
        response.close()
        raise
    length = response.headers.get("Content-Length")
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    size = start + int(length) if length and length.isdigit() and not encoded else None
    size = whole if whole is not None else size
    chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
    framed = chunked or bool(length and length.isdigit())

    def chunks() -> Iterator[bytes]:
        with response:
            yield from response.iter_content(chunk_size=chunk_size)

    return _Source(size, chunks(), framed, validator_of(response.headers), start)


_WRAPPER_PREFIX = re.compile(r"^(<[^>]*>|\w+\(host='[^']*', port=\d+\)):\s*")
"""urllib3's "<...Connection object at 0x..>: " or "HTTPConnection(host='h', port=80): " before the cause."""


def _root_cause(err: BaseException) -> BaseException:
    """The error inside requests' and urllib3's wrappers (``args[0]``, then ``reason``): the one naming the cause
    ("Failed to resolve 'host'", "Connection refused") rather than "Max retries exceeded"."""
    seen: set[int] = set()
    while id(err) not in seen:
        seen.add(id(err))
        inner = getattr(err, "reason", None)
        if not isinstance(inner, BaseException) and err.args and isinstance(err.args[0], BaseException):
            inner = err.args[0]
        if not isinstance(inner, BaseException) or isinstance(inner, OSError) and not hasattr(inner, "request"):
            return err  # stop above the bare socket error: urllib3's text names the host
        err = inner
    return err


def _failure_reason(err: BaseException) -> str:
    """Short one-line description of a network/source error, naming its cause (not urllib3's wrapping)."""
    response = getattr(err, "response", None)
    if response is not None and getattr(response, "status_code", None) is not None:
        return f"HTTP {response.status_code} {getattr(response, 'reason', '') or ''}".strip()
    cause = _root_cause(err)
    text = re.sub(_WRAPPER_PREFIX, "", " ".join(str(cause).split()))  # the URL is named already
    return f"{type(cause).__name__}: {text[:160]}" if text else type(cause).__name__


def _open_source(url: str, chunk_size: int, dst: Path | None = None, resume: Resume | None = None) -> _Source:
    """Dispatch on the URL scheme (``resume``: HTTP only); wrap source errors as :class:`DownloadError`.

    HTTP 401 and 403 (servers that refuse scripted downloads) say to download ``dst`` in a browser;
    404 and 410 that the file is not at that URL (moved); 5xx and 429 that the server failed, try later.
    The network is blamed only where it may be at fault (no connection, timeouts).
    """
    scheme = urlparse(url).scheme.lower()
    if scheme == "file":
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"{url}: file:// URLs must be local (file:///path); fix the URL")
        path = Path(url2pathname(parsed.path))
        try:
            size, chunks = _iter_file(path, chunk_size)
        except OSError as err:
            raise DownloadError(f"{url}: cannot read source file ({_failure_reason(err)}); check the URL") from err
        return _Source(size, chunks, size is not None)
    if scheme in ("http", "https"):
        import requests

        try:
            return _iter_http(url, chunk_size, resume)
        except requests.RequestException as err:
            status = getattr(getattr(err, "response", None), "status_code", None)
            where = f"save it as {dst}" if dst is not None else "save it at the destination"
            if status in (401, 403):
                raise DownloadError(
                    f"{url}: the server refused the download ({_failure_reason(err)}; some servers refuse "
                    f"scripted downloads). Download it in a browser, {where}, and run again: it is then verified"
                ) from err
            if status in (404, 410):
                raise DownloadError(
                    f"{url}: the server has no file there ({_failure_reason(err)}): it moved or the catalog's URL is "
                    f"out of date. Find it on the provider's page, download it in a browser, {where}, and run "
                    "again: it is then verified"
                ) from err
            if status is not None and (status >= 500 or status == 429):
                raise DownloadError(
                    f"{url}: the server failed to send the file ({_failure_reason(err)}), a problem on its side; "
                    f"run again later, or download it in a browser, {where}, and run again"
                ) from err
            raise DownloadError(
                f"{url}: download failed ({_failure_reason(err)}); check your network connection and the URL, "
                "then run again"
            ) from err
    raise ConfigError(f"{url}: unsupported URL scheme '{scheme}'; use http://, https:// or file://")


@dataclass
class _Transfer:
    """What a download has received so far (filled by :func:`_stream_to` as the bytes arrive)."""

    opened: bool = False  # the source answered (a fetch that never reached it leaves kept bytes as they were)
    written: int = 0
    total: int | None = None
    framed: bool = False
    validator: str | None = None
    reason: str = ""  # why the source broke off, when it did


class _Interrupted(DownloadError):
    """The source broke off part-way (a dropped connection, a stall, a truncated body)."""


def _stream_to(url: str, fh: BinaryIO, part: Path, transfer: _Transfer, *, progress: bool, chunk_size: int, dst: Path,
               resume: Resume | None = None) -> None:
    """Stream ``url`` into the open file ``fh`` (named ``part``), the download of ``dst``, recording in
    ``transfer`` what arrived; with ``resume`` (``fh`` holds its kept bytes) after them when the server
    continues the same file, else from the start.

    Raises:
        _Interrupted: the source broke off (``transfer`` says after how many bytes).
    """
    from hsi_app.progress import bar as progress_bar

    source = _open_source(url, chunk_size, dst=dst, resume=resume)
    transfer.opened = True
    transfer.total, transfer.framed, transfer.validator = source.size, source.framed, source.validator
    fh.seek(source.start)
    fh.truncate()  # a changed file (or a server without ranges) is sent whole: the kept bytes go
    transfer.written = source.start
    with progress_bar(
        total=source.size, unit="B", unit_scale=True, unit_divisor=1024, desc=dst.name, enabled=progress, leave=True
    ) as bar:
        bar.update(source.start)
        try:
            for block in source.chunks:
                try:
                    fh.write(block)
                except OSError as err:
                    raise OutputError(
                        f"{part}: write failed ({err.strerror}); free disk space or choose another folder"
                    ) from err
                transfer.written += len(block)
                bar.update(len(block))
        except HSIError:
            raise
        except _network_errors() as err:  # requests' errors derive from OSError; http.client's IncompleteRead does not
            transfer.reason = _failure_reason(err)
            raise _Interrupted(
                f"{url}: download interrupted after {transfer.written} bytes ({transfer.reason}); nothing was kept, "
                "run again to download it from the start"
            ) from err


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the source broke off: OSError, http.client's and urllib3's errors."""
    try:
        from urllib3.exceptions import HTTPError as Urllib3Error
    except ImportError:  # pragma: no cover - urllib3 comes with requests
        return (OSError, HTTPException)
    return (OSError, HTTPException, Urllib3Error)


def _sync(fh: BinaryIO, part: Path) -> None:
    """Flush ``fh`` to disk, so the digest read back is that of the bytes stored."""
    try:
        fh.flush()
        os.fsync(fh.fileno())
    except OSError as err:
        raise OutputError(f"{part}: write failed ({err.strerror}); free disk space or choose another folder") from err


# ---------------------------------------------------------------------------- content sniffing


def _expects_binary(dst: Path) -> bool:
    """True when ``dst``'s name promises binary data (see :data:`BINARY_SUFFIXES`)."""
    return dst.suffix.lower() in BINARY_SUFFIXES


def _refuse_web_page(
    url: str, dst: Path, part: Path, mat_key: str | None = None, mat_shape: tuple[int | None, ...] | None = None
) -> None:
    """Raise when a download meant to be binary data is a web page, or a ``.mat`` without ``mat_key`` (of ``mat_shape``)."""
    if _expects_binary(dst) and is_web_page(part):
        raise DownloadError(
            f"{dst.name}: the server sent a web page (HTML), not the {dst.suffix} file, from {url}; likely a login "
            f"or consent page or a moved URL. Download it in a browser and place it at {dst}"
        )
    problem = mat_problem(part, mat_key, mat_shape) if mat_key is not None and dst.suffix.lower() == ".mat" else None
    if problem:
        raise DownloadError(
            f"{dst.name}: the download from {url} {problem}, so it is not the catalog's file (a truncated download, "
            f"an error page or a wrong URL). Run again, or download it in a browser and place it at {dst}"
        )


# ---------------------------------------------------------------------------- fetch


def _verify_existing(
    dst: Path, expected: str | None, size: int | None = None, *, rerecord: bool = False, manual: bool = False,
    mat_key: str | None = None, mat_shape: tuple[int | None, ...] | None = None,
) -> None:
    """Check an existing ``dst`` against ``size``, ``expected`` or its recorded digest; record if new.

    ``rerecord``: ignore the digest recorded earlier and record this copy (``--force`` on a file
    placed by hand, ``manual``: one without a URL, which cannot be downloaded again). Without a
    published digest, a ``.mat`` must hold ``mat_key`` of ``mat_shape`` (see :func:`mat_problem`).
    """
    if size is not None and (found := dst.stat().st_size) != size:
        raise ChecksumError(
            f"{dst}: local copy is {found} bytes, the catalog gives {size}; it is incomplete or another file. "
            "Download it again (--force in the CLI, overwrite=True in Python) or replace it by hand"
        )
    if expected is None and _expects_binary(dst) and is_web_page(dst):
        raise InvalidDataError(
            f"{dst}: is a web page (HTML), not {dst.suffix} data; a download saved a login, consent or error page. "
            f"Download the file in a browser and place it at {dst}, or fetch again (--force in the CLI, "
            "overwrite=True in Python)"
        )
    if expected is None and mat_key is not None and dst.suffix.lower() == ".mat":
        _refuse_wrong_mat(dst, mat_key, mat_shape, manual=manual)
    recorded = None if rerecord else read_sums(dst.parent).get(dst.name)
    unverified = None if rerecord or recorded else read_sums(dst.parent, UNVERIFIED_FILENAME).get(dst.name)
    reference = expected or recorded or unverified
    actual = sha256_file(dst)
    if reference is None or actual == reference:
        if expected is None and size is None and recorded is None and unverified is not None:
            _warn_unverified(dst, f"its digest is in {UNVERIFIED_FILENAME}")
        elif recorded != actual or rerecord:
            _record_if_possible(dst, actual, checked=expected is not None or size is not None or unverified == actual)
        return
    raise ChecksumError(_mismatch_message(dst, reference, actual, published=expected is not None,
                                          recorded=recorded is not None, manual=manual))


def _refuse_wrong_mat(dst: Path, mat_key: str, mat_shape: tuple[int | None, ...] | None, *, manual: bool) -> None:
    """Raise when the existing ``.mat`` ``dst`` is not the catalog's file (variable, shape, truncation)."""
    problem = mat_problem(dst, mat_key, mat_shape)
    if problem:
        fix = (f"get the right file by hand and place it at {dst}" if manual else
               "fetch it again (--force in the CLI, overwrite=True in Python) or place the right file there")
        raise InvalidDataError(f"{dst}: {problem}, so it is not the catalog's file (another scene or version, or an "
                               f"incomplete download); {fix}")


def _mismatch_message(dst: Path, reference: str, actual: str, *, published: bool, recorded: bool, manual: bool) -> str:
    """One line: an existing ``dst`` does not match ``reference``, and how to get out of it."""
    sums = dst.parent / (SUMS_FILENAME if recorded else UNVERIFIED_FILENAME)
    source = "the published sha256" if published else f"the digest recorded in {sums}"
    head = f"{dst}: local copy does not match {source} (expected {reference}, got {actual})"
    if manual and not published:  # placed by hand: cannot be downloaded again, only accepted again
        return (f"{head}; it was replaced or modified. If this copy is the right one, run again with --force "
                f"(overwrite=True in Python) to record it, or remove its line from {sums}")
    if manual:
        return f"{head}; it is another file or was modified. Download it again by hand and place it at {dst}"
    return (f"{head}; it is corrupted or was modified. Delete it and fetch again (--force in the CLI, "
            "overwrite=True in Python)")


_UNRECORDABLE: set[Path] = set()
"""Folders whose SHA256SUMS could not be written (warned about once per process)."""


def _record_if_possible(dst: Path, digest: str, *, checked: bool = True) -> None:
    """Record an existing file; in a read-only folder warn (once per folder) instead of failing.

    ``checked``: something (a published sha256, the catalog size) verified it; otherwise the
    warning does not claim it was.
    """
    try:
        record_digest(dst, digest, verified=True)
    except OutputError as err:
        folder = dst.parent.absolute()
        if folder in _UNRECORDABLE:
            return
        _UNRECORDABLE.add(folder)
        reason = getattr(err.__cause__, "strerror", None) or "not writable"
        used = "was verified and is used" if checked else "is used unchecked (nothing to check it against yet)"
        warnings.warn(
            f"{dst.parent / SUMS_FILENAME}: cannot write the checksum record ({reason}); {dst.name} {used}, "
            "but its digest is not recorded for later checks (a read-only data folder?)",
            HSIWarning,
            stacklevel=4,
        )


def _warn_unverified(dst: Path, detail: str) -> None:
    """One-line warning: nothing proves ``dst`` is a complete download."""
    warnings.warn(
        f"{dst}: unverified: nothing proves this download is complete (no published sha256, no catalog "
        f"size_bytes, no Content-Length); {detail}. Add its sha256 or size_bytes to the catalog to verify it",
        HSIWarning,
        stacklevel=3,
    )


def fetch(
    url: str,
    dst: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    progress: bool = True,
    chunk_size: int = 1 << 20,
    overwrite: bool = False,
    size: int | None = None,
    mat_key: str | None = None,
    mat_shape: tuple[int | None, ...] | None = None,
) -> Path:
    """Download ``url`` to ``dst`` atomically and verify it.

    Args:
        url: ``http://``, ``https://`` or ``file://`` URL.
        dst: destination file; parent folders are created.
        sha256: published hex digest. When None, the digest recorded in
            ``dst.parent/SHA256SUMS`` by an earlier download (if any) is the reference.
        progress: show a progress bar (bytes, with total when the size is known).
        chunk_size: bytes per read/write.
        overwrite: download again even if ``dst`` exists; the new file is checked against
            ``sha256`` only (not the old record), and its digest replaces the record. A new
            download that nothing proves complete does not replace a copy recorded as verified.
        size: expected size in bytes (a catalog's ``size_bytes``), or None when not known.
        mat_key: for a ``.mat`` file, the variable it must hold (the catalog's ``mat_keys``);
            a download without it, or whose variables run past its end, is refused.
        mat_shape: the shape that variable must have (``(height, width, bands)`` or
            ``(height, width)``; None entries: unknown), checked when no ``sha256`` is published.

    Returns:
        ``dst`` as a Path.

    Raises:
        ChecksumError: the download (or an existing local copy) does not match the
            reference digest, or an existing local copy is not ``size`` bytes; nothing is
            left at ``dst`` for a new download.
        DownloadError: network failure, HTTP error status, missing source file, a web page or
            a ``.mat`` without ``mat_key``, or (with ``overwrite``) an unproven download that
            would replace a verified copy.
        OutputError: ``dst`` cannot be written.
        ConfigError: malformed ``sha256`` or unsupported URL scheme.
    """
    dst = Path(dst)
    expected = _check_digest(sha256)
    shape = mat_shape if expected is None else None  # a published digest proves the file
    if dst.is_dir():
        raise OutputError(f"{dst}: is a folder; pass the destination file path")
    if dst.exists() and not overwrite:
        _verify_existing(dst, expected, size, mat_key=mat_key, mat_shape=shape)
        _remove_debris(dst)
        return dst
    created = _make_parent(dst)
    try:
        with locked(dst, on_wait=_say_waiting):  # a second process fetching dst waits here
            if dst.exists() and not overwrite:  # ... and then finds it downloaded and verified
                _verify_existing(dst, expected, size, mat_key=mat_key, mat_shape=shape)
                _remove_debris(dst)
                return dst
            _remove_stale_parts(dst)
            recorded = read_sums(dst.parent).get(dst.name)
            reference = expected or (None if overwrite else recorded)
            keep = dst.name if overwrite and recorded is not None and dst.is_file() else None
            actual, proven = _download(url, dst, reference=reference, published=expected is not None, size=size,
                                       progress=progress, chunk_size=chunk_size, mat_key=mat_key, mat_shape=shape,
                                       keep_verified=keep)
            record_digest(dst, actual, verified=proven)
            if not proven:
                _warn_unverified(dst, f"it is recorded in {UNVERIFIED_FILENAME}, not in {SUMS_FILENAME}")
    except BaseException:
        _remove_empty_folders(dst.parent.absolute(), created)
        raise
    return dst


def _say_waiting(lock: Path) -> None:
    """One line on stderr: this fetch waits for another process downloading the same file."""
    name = lock.name.removesuffix(LOCK_SUFFIX)
    print(f"waiting for another download of {name} to finish ({lock})", file=sys.stderr, flush=True)


def _remove_stale_parts(dst: Path) -> None:
    """:func:`remove_stale_parts`, never failing (a read-only folder keeps its debris)."""
    with contextlib.suppress(OSError):
        remove_stale_parts(dst)


def _remove_debris(dst: Path) -> None:
    """Once ``dst`` is there and verified: its stale ``.part`` files and the kept bytes of an earlier interrupted
    download (placed by hand since, or fetched from another URL), never failing."""
    _remove_stale_parts(dst)
    discard(dst)


def _make_parent(dst: Path) -> Path | None:
    """Create ``dst``'s folder; return the top folder created (None when it existed)."""
    created = dst.parent.absolute()
    while not created.parent.exists():
        created = created.parent
    top = created if not created.exists() else None
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{dst.parent}: cannot create folder ({err.strerror}); choose another folder") from err
    return top


def _download(
    url: str, dst: Path, *, reference: str | None, published: bool, size: int | None, progress: bool, chunk_size: int,
    mat_key: str | None = None, mat_shape: tuple[int | None, ...] | None = None, keep_verified: str | None = None,
) -> tuple[str, bool]:
    """Download ``url`` into a temporary file of this process, check it, rename it to ``dst``.

    ``keep_verified``: ``dst`` holds a copy recorded as verified; a download that nothing
    proves complete is then refused instead of replacing it.

    Returns:
        ``(sha256 of the file as stored, read back after fsync; whether anything proved it complete)``.
    """
    http = urlparse(url).scheme.lower() in ("http", "https")
    expected = {"sha256": reference, "size": size}  # what the kept bytes are bytes of
    part, fh, resume = _open_part(dst, pending(dst, url, **expected) if http else None)
    transfer, kept = _Transfer(), False
    interrupted: BaseException | None = None
    try:
        with fh:
            try:
                _stream_to(url, fh, part, transfer, progress=progress, chunk_size=chunk_size, dst=dst, resume=resume)
            except (_Interrupted, KeyboardInterrupt) as err:
                # kept only when a later fetch can tell the server still sends the same file (or the sha256 will)
                if not (http and transfer.written and (transfer.validator is not None or published)):
                    raise
                interrupted = err
            _sync(fh, part)
        if interrupted is not None:
            kept = True
            _keep_interrupted(url, dst, part, transfer, interrupted, expected)
            raise interrupted
        written, total, framed = transfer.written, transfer.total, transfer.framed
        stored = part.stat().st_size
        if stored != written:
            raise DownloadError(f"{part}: holds {stored} bytes but {written} were written; another program "
                                "changed it, run again")
        _refuse_web_page(url, dst, part, mat_key, mat_shape)
        actual = sha256_file(part)
        _check_download(url, dst, actual, stored, total=total, size=size, reference=reference, published=published)
        proven = framed or size is not None or reference is not None
        if not proven and keep_verified is not None:
            raise DownloadError(
                f"{dst.name}: nothing proves the new download from {url} complete (no published sha256, no catalog "
                f"size_bytes, no Content-Length), so it does not replace the verified copy; kept {dst} and its line "
                f"in {dst.parent / SUMS_FILENAME}. Add its sha256 or size_bytes to the catalog, or delete the file "
                "and fetch again"
            )
        os.replace(part, dst)
    except BaseException:
        if resume is not None and not transfer.opened:  # offline, HTTP 503...: the kept bytes stay for the next fetch
            with contextlib.suppress(OSError):
                keep(dst, part, url, resume.offset, resume.validator, **expected)
                kept = True
        if not kept:
            part.unlink(missing_ok=True)
        raise
    return actual, proven


def _open_part(dst: Path, resume: Resume | None) -> tuple[Path, BinaryIO, Resume | None]:
    """``(path, open file, resume)``: the file a download writes to: the kept bytes of ``resume`` (opened to be
    continued), else a new temporary file of this process (:func:`~hsi_app.data.download_records.new_part`)
    and no ``resume``."""
    if resume is not None:
        try:
            return resume.path, open(resume.path, "r+b"), resume  # noqa: SIM115 - closed by the caller's with
        except OSError:
            resume.path.unlink(missing_ok=True)
    return *new_part(dst), None


def _keep_interrupted(url: str, dst: Path, part: Path, transfer: _Transfer, err: BaseException,
                      expected: Mapping[str, str | int | None]) -> None:
    """Keep the bytes of an interrupted download for the next fetch to continue
    (:mod:`~hsi_app.data.download_resume`) and say so: a network break raises one line saying where they
    are; a Ctrl-C prints that line on stderr (the caller then re-raises it)."""
    kept = keep(dst, part, url, transfer.written, transfer.validator, **expected)  # type: ignore[arg-type]
    said = (f"{url}: download interrupted after {transfer.written} bytes ({transfer.reason or 'Ctrl-C'}); kept them "
            f"in {kept}, run the same fetch again to continue from there")
    if isinstance(err, KeyboardInterrupt):
        print(said, file=sys.stderr, flush=True)
        return
    raise DownloadError(said) from err


def _check_download(
    url: str, dst: Path, actual: str, stored: int, *, total: int | None, size: int | None,
    reference: str | None, published: bool,
) -> None:
    """Compare a finished download with its expected length, catalog size and reference digest."""
    if total is not None and stored != total:
        raise DownloadError(f"{url}: received {stored} of {total} bytes; the connection dropped, run again")
    if size is not None and stored != size:
        raise DownloadError(f"{url}: received {stored} bytes, the catalog gives {size}; the file is truncated "
                            "or changed upstream, run again or check the URL")
    if reference is not None and actual != reference:
        source, fix = (("published", "check the URL and the catalog's sha256") if published else
                       (f"recorded in {dst.parent / SUMS_FILENAME}",
                        "if the file legitimately changed, remove its line from SHA256SUMS"))
        raise ChecksumError(
            f"{dst.name}: sha256 of the download from {url} is {actual}, expected {reference} ({source}); "
            f"the file was corrupted in transit or changed upstream. Run again, or {fix}"
        )


def _remove_empty_folders(folder: Path, top: Path | None) -> None:
    """Remove ``folder`` and its parents up to ``top`` (folders a failed download created) while empty."""
    if top is None:
        return
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == top:
            return
        folder = folder.parent


# ---------------------------------------------------------------------------- datasets


def _manual_message(entry: DatasetEntry, file: DatasetFile, dest: Path) -> str:
    where = entry.access or f"download it from {entry.homepage}"
    if file.is_pattern:  # a product: used where it lies; keeping it under root is optional
        return f"{entry.name}: no direct download URL; {where} (or put it in {dest} so this command finds it)"
    return (
        f"{entry.name}: {file.filename} has no direct download URL; {where}. "
        f"Then save it as {dest / file.filename} and run again"
    )


def _present(dest: Path, file: DatasetFile) -> bool:
    if file.is_pattern:
        return any(dest.glob(file.filename))
    return (dest / file.filename).is_file()


def _mat_key(entry: DatasetEntry, file: DatasetFile) -> str | None:
    """The variable a ``.mat`` file of ``entry`` must hold (its ``mat_keys`` for the file's role), or None."""
    if entry.mat_keys is None or not file.filename.lower().endswith(".mat"):
        return None
    return entry.mat_keys.get(file.role)


def _mat_shape(entry: DatasetEntry, file: DatasetFile) -> tuple[int | None, ...] | None:
    """The catalog's shape of ``file``'s ``.mat`` variable: ``(height, width, bands)`` for the cube,
    ``(height, width)`` for the labels; None for other files."""
    if file.role == "cube":
        return (entry.height, entry.width, entry.bands)
    if file.role == "labels":
        return (entry.height, entry.width)
    return None


def fetch_dataset(
    name: str,
    root: str | os.PathLike[str],
    progress: bool = True,
    *,
    catalog: Mapping[str, DatasetEntry] | str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Download every file of a catalog dataset into ``root/<name>/``.

    Files without a URL (WHU-Hi behind a sharing link, EnMAP behind a registration) must
    be placed by hand; when they are already there they are verified like downloads.

    Args:
        name: dataset name or alias (see ``hsi datasets list``).
        root: data folder; files go to ``root/<canonical name>/``.
        progress: show progress bars.
        catalog: loaded catalog or catalog path; default: :func:`~hsi_app.data.catalog.load_catalog`.
        overwrite: download files again even when present; a file without a URL (placed by
            hand) is verified again and its digest recorded anew.

    Returns:
        The dataset folder ``root/<name>``.

    Raises:
        UnknownKeyError: unknown dataset name (with suggestions).
        DatasetNotFoundError: a file has no URL and is not in place; says where to get it.
        ChecksumError, DownloadError, OutputError: as :func:`fetch`.
    """
    entries = catalog if isinstance(catalog, Mapping) else load_catalog(catalog)
    entry = get_dataset(name, entries)
    dest = Path(root) / entry.name
    for file in entry.files:  # fail before downloading anything if a manual file is missing
        if file.url is None and not _present(dest, file):
            raise DatasetNotFoundError(_manual_message(entry, file, dest))
    for file in entry.files:
        if file.url is not None:
            fetch(file.url, dest / file.filename, sha256=file.sha256, progress=progress, overwrite=overwrite,
                  size=file.size_bytes, mat_key=_mat_key(entry, file), mat_shape=_mat_shape(entry, file))
        elif not file.is_pattern:
            expected = _check_digest(file.sha256)
            _verify_existing(dest / file.filename, expected, file.size_bytes, rerecord=overwrite, manual=True,
                             mat_key=_mat_key(entry, file), mat_shape=None if expected else _mat_shape(entry, file))
    return dest
