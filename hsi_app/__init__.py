"""hsi_app: hyperspectral analysis."""
__version__ = "0.1.0"
