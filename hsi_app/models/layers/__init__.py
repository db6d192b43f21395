"""Building blocks shared by the dense model families."""

from hsi_app.models.layers.blocks import SpatialBlock
from hsi_app.models.layers.context import BoxContext
from hsi_app.models.layers.snv import SNVFeatures

__all__ = ["BoxContext", "SNVFeatures", "SpatialBlock"]
