"""The bytes of an interrupted HTTP download, kept so the next fetch continues where it stopped.

A dropped connection or a Ctrl-C part-way through a large file (a WHU-Hi cube is hundreds of MB)
used to throw every byte away. :func:`~hsi_app.data.download.fetch` now keeps them when the
server can later prove it still serves the same file:

* ``<dst>.resume``: the bytes received so far (``fsync``-ed), never under ``dst``'s own name;
* ``<dst>.resume.json``: ``{"url", "bytes", "validator", "sha256", "size"}``, where ``validator`` is the
  response's strong ``ETag`` or else its ``Last-Modified`` (without either, and without a published sha256,
  nothing is kept: a resumed file could silently mix two versions), and ``sha256``/``size`` what the
  file was expected to be (a catalog that changed them since makes the kept bytes useless).

The next fetch of the same URL into the same ``dst`` takes the bytes over under a temporary name of
its own (:func:`pending`: two fetches never continue the same bytes, even where no lock is held) and
asks for ``Range: bytes=<bytes>-`` with ``If-Range: <validator>``: the server answers 206 with the rest
(appended) when the file is unchanged, or 200 with the whole file (written from the start) when it
changed or it ignores ranges. The whole file is then checked as any download is (size, sha256, ``.mat``
content); a check that fails removes the bytes, while a fetch that never reached the server (offline,
HTTP 503) or broke off again keeps them for the next one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hsi_app.data.download_records import PART_SUFFIX

RESUME_SUFFIX = ".resume"
META_SUFFIX = ".resume.json"


@dataclass(frozen=True)
class Resume:
    """Kept bytes of an interrupted download, taken over by this process: ``path`` (a temporary file of its
    own) holds the first ``offset`` bytes of the file the server identified by ``validator`` (``None``: none
    given; only a published sha256 then checks the result)."""

    path: Path
    offset: int
    validator: str | None


def resume_paths(dst: Path) -> tuple[Path, Path]:
    """``(<dst>.resume, <dst>.resume.json)``: the kept bytes and their record."""
    return dst.with_name(dst.name + RESUME_SUFFIX), dst.with_name(dst.name + META_SUFFIX)


def pending(dst: Path, url: str, *, sha256: str | None = None, size: int | None = None) -> Resume | None:
    """Take over the kept bytes of an interrupted download of ``url`` into ``dst``, expected to have ``sha256``
    and ``size`` (None: not known), or return ``None``.

    The bytes are moved to a temporary name of this process (``<dst>.<pid>.<random>.part``, swept like any
    other when stale) and their record removed, so another fetch does not continue them at the same time;
    :func:`keep` puts them back. Bytes kept for another URL or another expected file, or whose record
    disagrees with the file (edited, truncated, a record without its file), are removed and ``None`` is
    returned: the download starts from the beginning.
    """
    data, meta = resume_paths(dst)
    if not meta.exists() and not data.exists():
        return None
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
        offset = int(record["bytes"])
        same = (record["url"] == url and record.get("sha256") == sha256 and record.get("size") == size
                and data.stat().st_size == offset and offset > 0)
        validator = record.get("validator")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        same, offset, validator = False, 0, None
    if not same:
        discard(dst)
        return None
    claimed = dst.with_name(f"{dst.name}.{os.getpid()}.{secrets.token_hex(6)}{PART_SUFFIX}")
    try:
        os.replace(data, claimed)
    except OSError:  # another fetch took them first
        return None
    with contextlib.suppress(OSError):
        os.utime(claimed)  # a part file is stale by its age: bytes kept days ago are in use now
    with contextlib.suppress(OSError):
        meta.unlink()
    return Resume(claimed, offset, validator if isinstance(validator, str) else None)


def keep(dst: Path, part: Path, url: str, written: int, validator: str | None, *, sha256: str | None = None,
         size: int | None = None) -> Path:
    """Move the ``written`` bytes in ``part`` (already ``fsync``-ed) to ``<dst>.resume`` and record them with the
    ``sha256`` and ``size`` the file is expected to have.

    The record is written after the bytes are in place, through a temporary file, so a crash leaves
    either no record (the bytes are then removed by :func:`pending`) or a correct one.
    """
    data, meta = resume_paths(dst)
    os.replace(part, data)
    tmp = meta.with_name(meta.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "bytes": written, "validator": validator, "sha256": sha256,
                               "size": size}), encoding="utf-8")
    os.replace(tmp, meta)
    return data


def discard(dst: Path) -> None:
    """Remove the kept bytes of ``dst`` and their record (never raises)."""
    for path in resume_paths(dst):
        with contextlib.suppress(OSError):
            path.unlink()


def validator_of(headers: Mapping[str, str]) -> str | None:
    """The response's strong ``ETag``, else its ``Last-Modified``, else ``None``. A weak ETag (``W/"..."``)
    cannot be sent in ``If-Range`` (RFC 9110 13.1.5), so it does not count."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified") or None


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def range_start(headers: Mapping[str, str]) -> tuple[int, int | None] | None:
    """``(first byte, whole size or None)`` of a 206 response's ``Content-Range``; ``None`` when it has none
    that can be read."""
    match = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", "").strip())
    if match is None:
        return None
    total = match.group(3)
    return int(match.group(1)), None if total == "*" else int(total)
