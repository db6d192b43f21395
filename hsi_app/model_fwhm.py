"""Which band widths (FWHM) a wavelength-aware model (``channel_vit``) is given.

ChannelViT's band gain and channel embedding are learned functions of each band's
wavelength and width. A run learns them from the widths it was built with:

* a run whose training scene has FWHM (at least one known value) is built and trained with
  the scene's FWHM, unknown entries filled with the band-spacing estimate
  (:func:`hsi_app.models.channel_vit.spacing_fwhm`); its ``config.json`` says
  ``"fwhm_in_model": true``;
* any other run, and every run written before that key existed, was trained on the
  band-spacing estimate alone (``"fwhm_in_model"`` false or absent), whatever FWHM its
  config.json records.

A model must see the kind of widths it was trained on: giving a spacing-trained model a
sensor's real FWHM shifts its logits. :func:`model_fwhm` is the one place that decides
which widths a run's model gets when it is rebuilt or bound to other bands (a band subset,
the cross-sensor native arm); :func:`training_fwhm` decides what a new run trains with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hsi_app.checkpoint import RunConfig


def training_fwhm(model_name: str, fwhm: Sequence[float] | np.ndarray | None) -> np.ndarray | None:
    """The FWHM a new run of ``model_name`` is built and trained with.

    Args:
        model_name: a registered model (or ``"svm"``).
        fwhm: ``(C,)`` nm of the training bands (NaN where unknown), or None.

    Returns:
        ``(C,)`` float64 nm (NaN entries kept: the model fills them with the spacing
        estimate) when the family takes ``fwhm`` and at least one value is known (finite,
        > 0); else None (the model uses the band-spacing estimate).
    """
    from hsi_app.models.registry import accepts_arg

    if fwhm is None or not accepts_arg(model_name, "fwhm"):
        return None
    fw = np.asarray(fwhm, dtype=np.float64).reshape(-1)
    known = np.isfinite(fw) & (fw > 0)
    return fw if known.any() else None


def model_fwhm(config: RunConfig, fwhm: Sequence[float] | np.ndarray | None) -> np.ndarray | None:
    """The FWHM to give a run's model for some bands: ``fwhm`` when the run was trained with
    real FWHM (``config.fwhm_in_model``), else None, so that a model trained on band-spacing
    widths keeps using them (its own, or the spacing of the bands it is given).

    Args:
        config: the run's config.
        fwhm: ``(C',)`` nm of the bands the model will read (the run's own bands when
            rebuilding it, a subset, another sensor's), or None.

    Returns:
        ``(C',)`` float64 nm, or None.
    """
    if fwhm is None or not config.fwhm_in_model:
        return None
    return np.asarray(fwhm, dtype=np.float64).reshape(-1)
