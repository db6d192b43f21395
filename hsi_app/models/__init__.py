"""Dense model families and their registry.

Importing this package imports every family module, which registers its models::

    from hsi_app.models import create_model, list_models
    net = create_model("ssfcn", in_chans=200, num_classes=16)
"""

from hsi_app.models import channel_vit as _channel_vit  # noqa: F401  (registers channel_vit, channel_vit_snv, channel_vit_hcs_snv, channel_vit_hcs_snv_trunk, test_channel_vit)
from hsi_app.models import cnn3d as _cnn3d  # noqa: F401  (registers cnn3d, test_cnn3d)
from hsi_app.models import hsdt as _hsdt  # noqa: F401  (registers hsdt, hsdt_s, hsdt_m, test_hsdt)
from hsi_app.models import hsdt_subspace as _hsdt_subspace  # noqa: F401  (registers hsdt_subspace, test_hsdt_subspace)
from hsi_app.models import ssfcn as _ssfcn  # noqa: F401  (registers ssfcn, ssfcn_small, test_ssfcn)
from hsi_app.models import spectral_mamba as _spectral_mamba  # noqa: F401  (registers spectral_mamba, spectral_mamba_wide, test_spectral_mamba)
from hsi_app.models import spectral_vit as _spectral_vit  # noqa: F401  (registers spectral_vit, spectral_vit_wide, test_spectral_vit)
from hsi_app.models import point_detector as _point_detector  # noqa: F401  (registers point_detector, test_point_detector)
from hsi_app.models.registry import create_model, list_models, model_info, register_model

__all__ = ["create_model", "list_models", "model_info", "register_model"]
