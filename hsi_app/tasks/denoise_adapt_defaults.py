"""Defaults of the SURE scene adaptation that the CLI shows in its help (no numpy or torch here, so
``hsi denoise --help`` and ``hsi batch --help`` stay light); :mod:`hsi_app.tasks.denoise_adapt` re-exports them."""

from __future__ import annotations

DEFAULT_ADAPT_STEPS = 50
"""Optimisation steps of ``--adapt-sigma`` (one random crop each)."""
