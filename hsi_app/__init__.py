"""hsi_app: hyperspectral analysis."""
__version__ = "0.1.0"

from hsi_app.progress import quiet_tqdm_in_jupyter as _quiet_tqdm_in_jupyter

_quiet_tqdm_in_jupyter()  # no "IProgress not found" in Jupyter without ipywidgets (torchmetrics imports tqdm.auto)
