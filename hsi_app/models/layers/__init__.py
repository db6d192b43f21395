"""Building blocks shared by the dense model families."""

from hsi_app.models.layers.blocks import SpatialBlock
from hsi_app.models.layers.context import BoxContext
from hsi_app.models.layers.snv import INPUTS, FitsInputs, SNVFeatures, WavelengthSNV, input_layer

__all__ = ["INPUTS", "BoxContext", "FitsInputs", "SNVFeatures", "SpatialBlock", "WavelengthSNV", "input_layer"]
