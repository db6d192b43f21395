"""Readers and writers. ``open_cube`` is the front door; every reader returns a Cube."""

from hsi_app.io.cube import Cube, make_cube
from hsi_app.io.open import open_cube

__all__ = ["Cube", "make_cube", "open_cube"]
