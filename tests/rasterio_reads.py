"""Count the pixels every rasterio read asks for (window-read tests of predict, detect and denoise)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import rasterio.io


@contextmanager
def pixels_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Pixels (rows x cols, per call) every rasterio read asks for while the block runs."""
    seen: list[int] = []
    real = rasterio.io.DatasetReader.read

    def read(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        win = kwargs.get("window")
        if isinstance(win, tuple):  # rioxarray: ((row_start, row_stop), (col_start, col_stop))
            seen.append((win[0][1] - win[0][0]) * (win[1][1] - win[1][0]))
        elif win is not None:
            seen.append(int(win.height) * int(win.width))
        else:
            seen.append(self.height * self.width)
        return real(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(rasterio.io.DatasetReader, "read", read)
        yield seen
