"""Warm starts of denoiser training (``hsi train --task denoise --init RUN``).

* :func:`warm_start` loads the weights of an earlier denoise run of the same model and
  arguments into the new model. A tensor whose shape does not fit the new model (a model
  tied to the band count) is one :class:`~hsi_app.errors.ModelLoadError` line naming both
  band counts.
* Buffers fitted to the earlier run's clean training spectra (:data:`TRAINING_SUBSPACE`:
  ``train_mean``/``train_basis`` of ``hsdt_subspace_train``) are not taken over: the new
  run keeps the basis it fitted to its own training region, as a fresh run does, and only
  the inner denoiser's weights continue. One warning line says so. Measured with 1 epoch
  on a synthetic 200-band scene on Indian Pines' wavelengths, from the shipped Indian Pines
  run: held-out PSNR 35.6 dB with the refitted basis, 11.2 dB with the earlier run's basis
  (below the noisy input's 14.1 dB), 21.2 dB without ``--init``; the refitted basis also
  continues onto other band sets (a 40-band scene: 29.4 dB, 15.3 dB without ``--init``;
  BENCHMARKS.md, "``--init`` onto another scene").
* :func:`init_regression` is the line ``hsi train`` prints when training made the held-out
  PSNR worse than the starting weights scored on the same block (``metrics.json``
  ``init_model``): a short sitting restarts the learning-rate schedule at its peak.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from hsi_app.errors import HSIWarning, ModelLoadError

TRAINING_SUBSPACE = ("train_mean", "train_basis")
"""Buffers fitted to a run's clean training spectra (``(D,)`` mean, ``(D, K)`` basis); a warm start refits them."""


def _described(model: str, task: str, args: Any) -> str:
    """``"test_hsdt denoise {'width': 8}"`` without empty parts (no doubled spaces)."""
    return " ".join(part for part in (model, task, str(dict(args)) if args else "") if part)


def warm_start(net: Any, run_dir: str | os.PathLike[str], model: str, model_args: dict[str, Any], bands: int) -> list[str]:
    """Load the weights of an earlier denoise run into ``net`` (in place), keeping ``net``'s training subspace.

    Args:
        net: the new model, built for ``bands`` bands, its training subspace (if any) already
            fitted to this run's training region.
        run_dir: the earlier run folder.
        model, model_args: the new model's registry name and arguments.
        bands: the new scene's good band count.

    Returns:
        The names of the buffers kept from ``net`` rather than taken from the run (:data:`TRAINING_SUBSPACE`;
        empty for models without one). A warning line says so when there are some.

    Raises:
        ModelLoadError: not a denoise run, another model or other model arguments, weights holding NaN or inf,
            or tensors whose names or shapes do not fit ``net`` (one line naming both band counts).
    """
    import numpy as np
    import torch

    from hsi_app.checkpoint import WEIGHTS_NAME, load_config, load_tensors
    from hsi_app.run_weights import check_finite_weights, state_dict_mismatch

    cfg = load_config(run_dir)
    if cfg.task != "denoise" or cfg.model_name != model or dict(cfg.model_args) != dict(model_args):
        raise ModelLoadError(
            f"{run_dir}: a {_described(cfg.model_name, cfg.task, cfg.model_args)} run cannot initialise "
            f"{_described(model, '', model_args)}; pass a denoise run of the same model, or drop --init"
        )
    tensors = load_tensors(run_dir)
    check_finite_weights(tensors, Path(run_dir) / WEIGHTS_NAME)
    expected = net.state_dict()
    kept = [k for k in TRAINING_SUBSPACE if k in expected]
    taken = {k: v for k, v in tensors.items() if k not in kept}
    problem = state_dict_mismatch({k: v for k, v in expected.items() if k not in kept}, taken,
                                  source=f"{model} on {bands} bands")
    if problem is not None:
        raise ModelLoadError(
            f"{run_dir}: its weights do not fit {model} on this scene's {bands} bands (the run was trained on "
            f"{cfg.in_chans} bands; {problem}); pass a run trained on {bands} bands, or drop --init"
        )
    net.load_state_dict({**{k: torch.from_numpy(np.array(v)) for k, v in taken.items()},
                         **{k: expected[k].clone() for k in kept}})
    if kept:
        warnings.warn(
            f"--init {run_dir}: {model} continues from that run's weights, but its spectral basis is fitted to "
            f"this scene's training spectra ({bands} bands), not taken from the run ({cfg.in_chans} bands of "
            f"{cfg.data or 'its scene'})", HSIWarning, stacklevel=2)
    return kept


def init_regression(metrics: dict[str, Any], init: str | os.PathLike[str]) -> str | None:
    """The line saying that training made the held-out PSNR worse than the ``--init`` weights, else ``None``.

    Args:
        metrics: a denoise run's ``metrics.json`` (``denoised``, ``init_model``, ``steps``).
        init: the ``--init`` run folder.
    """
    start, end = metrics.get("init_model"), metrics.get("denoised")
    if not start or not end or not end["psnr"] < start["psnr"]:
        return None
    return (f"training made the held-out PSNR worse than the --init {init} weights ({start['psnr']:.2f} -> "
            f"{end['psnr']:.2f} dB): its {metrics.get('steps')} steps restart the learning rate at its peak; train "
            "longer (--epochs), or keep the earlier run")
