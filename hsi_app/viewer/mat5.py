"""Variable headers of a MATLAB v5 ``.mat`` file, read without inflating the data.

:func:`mat5_variables` lists ``(name, shape, class)`` like :func:`scipy.io.whosmat`, and
also checks that each numeric array's real (and imaginary) data element holds exactly
``dims x bytes per value`` bytes. A crafted file can declare a 10 x 10 x 3 uint8 array
(300 B) and give it a data element of gigabytes of compressed zeros: the declared size
passes the upload limit, then ``scipy.io.loadmat`` inflates the whole element. Such a
variable is refused here from its data element's tag.

A compressed variable is inflated incrementally (``zlib.decompressobj`` with a maximum
output length per call), never all at once, and at most ``budget`` bytes in all: only
the headers, and for complex arrays the real part (to reach the imaginary part's tag).
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MI_MATRIX, MI_COMPRESSED = 14, 15
MAT5_CLASSES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 6: "double", 7: "single",
                8: "int8", 9: "uint8", 10: "int16", 11: "uint16", 12: "int32", 13: "uint32", 14: "int64",
                15: "uint64", 16: "function", 17: "opaque"}
NUMERIC_CLASSES = range(6, 16)  # double .. uint64 (logical arrays are uint8 with a flag)
STORED_ITEMSIZE = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8}
"""Bytes per value of the data types a numeric array may be stored as (miINT8 .. miUINT64).

MATLAB may store an array in a smaller type than its class (integer-valued doubles as
miUINT8), so the data element is checked against its own type's size, not the class's."""
HEADER_LIMIT = 4096  # flags + dimensions + name of one variable fit easily
CHUNK = 1 << 16  # compressed bytes read from the file at a time
SKIP_CHUNK = 1 << 20  # inflated bytes held at a time while skipping data


class Mat5HeaderError(ValueError):
    """A variable's data element does not hold what its header declares (or inflates past the budget)."""


@dataclass
class InflateBudget:
    """Bytes that may still be inflated from the file's compressed variables."""

    left: int

    def spend(self, n: int) -> None:
        """Count ``n`` inflated bytes.

        Raises:
            Mat5HeaderError: more than the budget.
        """
        self.left -= n
        if self.left < 0:
            raise Mat5HeaderError("the .mat file inflates to more than the upload limit")


class VariableReader:
    """Sequential reads of one variable's bytes: plain, or zlib-inflated incrementally."""

    def __init__(self, fh: BinaryIO, nbytes: int, compressed: bool, budget: InflateBudget) -> None:
        """Read the ``nbytes`` bytes at ``fh``'s position (a miCOMPRESSED payload when ``compressed``)."""
        self._fh, self._left, self._budget = fh, nbytes, budget
        self._z = zlib.decompressobj() if compressed else None

    def read(self, n: int) -> bytes:
        """Up to ``n`` next bytes of the variable (fewer only at its end)."""
        if self._z is None:
            data = self._fh.read(max(0, min(n, self._left)))
            self._left -= len(data)
            return data
        parts: list[bytes] = []
        got = 0
        while got < n and not self._z.eof:
            src = self._z.unconsumed_tail or self._next_chunk()
            out = self._z.decompress(src, n - got)
            if not src and not out:
                break  # the file's bytes are used up and nothing is pending
            self._budget.spend(len(out))
            parts.append(out)
            got += len(out)
        return b"".join(parts)

    def skip(self, n: int) -> int:
        """Drop the next ``n`` bytes (inflated ``SKIP_CHUNK`` at a time); return how many there were."""
        if self._z is None:
            step = max(0, min(n, self._left))
            self._fh.seek(step, os.SEEK_CUR)
            self._left -= step
            return step
        done = 0
        while done < n:
            chunk = self.read(min(n - done, SKIP_CHUNK))
            if not chunk:
                break
            done += len(chunk)
        return done

    def _next_chunk(self) -> bytes:
        data = self._fh.read(min(self._left, CHUNK)) if self._left > 0 else b""
        self._left -= len(data)
        return data


def mat5_variables(path: Path, budget: int | None = None) -> list[tuple[str, tuple[int, ...], str]]:
    """``(name, shape, class)`` of each variable of a MATLAB v5 file, like :func:`scipy.io.whosmat`.

    Complex arrays are reported as class ``"complex double"`` etc.

    Args:
        path: the ``.mat`` file.
        budget: most bytes to inflate from compressed variables (``None``: no limit).

    Raises:
        Mat5HeaderError: a numeric array's data element is not ``dims x bytes per value``
            long, or inflating the headers needs more than ``budget`` bytes.
        ValueError: not a readable v5 file.
    """
    spent = InflateBudget(budget if budget is not None else 1 << 62)
    out: list[tuple[str, tuple[int, ...], str]] = []
    with open(path, "rb") as fh:
        header = fh.read(128)
        if len(header) < 128 or header[:6] != b"MATLAB":
            raise ValueError("no MATLAB v5 header")
        endian = "<" if header[126:128] == b"IM" else ">"
        end = fh.seek(0, os.SEEK_END)
        pos = 128
        while pos + 8 <= end:
            fh.seek(pos)
            mdtype, nbytes = struct.unpack(endian + "II", fh.read(8))
            pos += 8 + nbytes  # miMATRIX sizes include their padding; compressed ones are not padded
            if mdtype not in (MI_MATRIX, MI_COMPRESSED):
                continue
            reader = VariableReader(fh, nbytes, mdtype == MI_COMPRESSED, spent)
            if mdtype == MI_COMPRESSED:
                tag = reader.read(8)
                if len(tag) < 8:
                    raise ValueError("damaged compressed variable")
                if struct.unpack(endian + "II", tag)[0] != MI_MATRIX:
                    continue
            out.append(read_matrix(reader, endian))
    return out


def read_element(reader: VariableReader, endian: str) -> tuple[int, bytes]:
    """The next whole data element ``(type, data)`` of a variable's header (at most ``HEADER_LIMIT`` bytes)."""
    kind, size, small = read_tag(reader, endian)
    if small is not None:
        return kind, small
    if size > HEADER_LIMIT:
        raise ValueError("variable header longer than expected")
    data = reader.read(size + (-size % 8))
    if len(data) < size:
        raise ValueError("truncated variable header")
    return kind, data[:size]


def read_tag(reader: VariableReader, endian: str) -> tuple[int, int, bytes | None]:
    """``(type, byte count, data)`` of the next element tag; ``data`` only for a small (packed) element."""
    tag = reader.read(8)
    if len(tag) < 8:
        raise ValueError("truncated variable")
    first, second = struct.unpack(endian + "II", tag)
    if first >> 16:  # small data element: 2-byte size, 2-byte type, 4 bytes of data
        size = first >> 16
        if size > 4:
            raise ValueError("damaged small data element")
        return first & 0xFFFF, size, tag[4:4 + size]
    return first, second, None


def read_matrix(reader: VariableReader, endian: str) -> tuple[str, tuple[int, ...], str]:
    """Parse one miMATRIX (after its tag): ``(name, shape, class)``; numeric data elements are checked."""
    _, flags = read_element(reader, endian)
    _, dims = read_element(reader, endian)
    _, raw_name = read_element(reader, endian)
    word = struct.unpack(endian + "I", flags[:4])[0]
    code = word & 0xFF
    shape = tuple(int(v) for v in struct.unpack(endian + f"{len(dims) // 4}i", dims[: len(dims) // 4 * 4]))
    if any(v < 0 for v in shape):
        raise ValueError("negative dimension")
    name = raw_name.decode("latin1").rstrip("\x00")
    cls = MAT5_CLASSES.get(code, "unknown")
    complex_ = bool(word & 0x800) and code in NUMERIC_CLASSES
    if code in NUMERIC_CLASSES:
        real, packed = check_data_element(reader, endian, name, shape, cls, "real")
        if complex_:
            if not packed:
                reader.skip(real + (-real % 8))
            check_data_element(reader, endian, name, shape, cls, "imaginary")
    if complex_:
        cls = "complex " + cls
    if word & 0x200:
        cls = "logical"
    return name, shape, cls


def check_data_element(reader: VariableReader, endian: str, name: str, shape: tuple[int, ...], cls: str,
                       part: str) -> tuple[int, bool]:
    """Read the tag of a numeric array's ``part`` data element and check its byte count.

    Returns:
        ``(byte count, packed)``: the data follows, not yet read, unless ``packed`` (a small
        element, whose data is in its tag).

    Raises:
        Mat5HeaderError: a non-numeric storage type, or not ``prod(shape) x`` its bytes per value.
    """
    kind, size, small = read_tag(reader, endian)
    itemsize = STORED_ITEMSIZE.get(kind)
    numel = 1
    for v in shape:
        numel *= v
    dims = " x ".join(str(v) for v in shape)
    if itemsize is None:
        raise Mat5HeaderError(f"the .mat variable {name!r} ({dims} {cls}) stores its {part} part as data type "
                              f"{kind}, not a number type; the file is damaged, save it again")
    if size != numel * itemsize:
        raise Mat5HeaderError(f"the .mat variable {name!r} declares {dims} {cls} but its {part} part holds "
                              f"{size} bytes, not {numel * itemsize}; the file is damaged or crafted, save it again")
    return size, small is not None
