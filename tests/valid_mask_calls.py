"""Count the whole-scene valid-mask passes of the streamed detectors (``detect_stream.valid_mask``)."""

from __future__ import annotations

import pytest

from hsi_app.tasks import detect_stream


def count_valid_mask_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Wrap ``detect_stream.valid_mask`` for this test; the returned list gets one entry per call."""
    calls: list[int] = []
    real = detect_stream.valid_mask

    def counted(cube):  # noqa: ANN001, ANN202
        calls.append(1)
        return real(cube)

    monkeypatch.setattr(detect_stream, "valid_mask", counted)
    return calls
