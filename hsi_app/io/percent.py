"""Percentages for messages and reports that never hide a part by rounding: ``"<0.01%"``, ``">99.99%"``."""

from __future__ import annotations


def share(part: int, total: int) -> str:
    """``"96.67%"``: ``part / total`` as a percentage with 2 decimals, never rounded to 100.00% while a part is
    missing (``">99.99%"``) nor to 0.00% while a part is there (``"<0.01%"``); ``"0.00%"`` of nothing."""
    if total <= 0:
        return "0.00%"
    if 0 < total - part and 100 * part / total >= 99.995:
        return ">99.99%"
    if 0 < part and 100 * part / total < 0.005:
        return "<0.01%"
    return f"{100 * part / total:.2f}%"
