"""Building blocks shared by the dense model families."""

from hsi_app.models.layers.blocks import SpatialBlock
from hsi_app.models.layers.context import BoxContext

__all__ = ["BoxContext", "SpatialBlock"]
