"""Dense model families and their registry.

Importing this package imports every family module, which registers its models::

    from hsi_app.models import create_model, list_models
    net = create_model("ssfcn", in_chans=200, num_classes=16)
"""

from hsi_app.models import cnn3d as _cnn3d  # noqa: F401  (registers cnn3d, test_cnn3d)
from hsi_app.models import ssfcn as _ssfcn  # noqa: F401  (registers ssfcn, ssfcn_small, test_ssfcn)
from hsi_app.models.registry import create_model, list_models, model_info, register_model

__all__ = ["create_model", "list_models", "model_info", "register_model"]
