"""``hsi denoise`` with a model whose spectral basis was fitted to its training scene (``hsdt_subspace_train``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hsi_app.checkpoint import RunConfig, save_run
from hsi_app.cli.main import main
from hsi_app.errors import BandMismatchError
from hsi_app.io import open_cube
from hsi_app.io.cube import make_cube
from hsi_app.models import create_model
from hsi_app.tasks.denoise_scene import denoise_cube
from hsi_app.tasks.denoising import Denoiser
from tests.tasks.test_denoising import WL, geotiff, smooth_cube

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def basis_run(tmp: Path) -> Path:
    """A ``test_hsdt_subspace`` run whose basis is fitted to a scene at the 8 wavelengths ``WL`` (450-900 nm)."""
    torch.manual_seed(0)
    net = create_model("test_hsdt_subspace", in_chans=8, num_classes=1, basis="train")
    net.fit_training_subspace(((smooth_cube() - 1000.0) / 4000.0).astype(np.float32))
    cfg = RunConfig(task="denoise", model_name="test_hsdt_subspace", model_args={"basis": "train"}, in_chans=8,
                    num_classes=1, class_names=[], wavelengths=[float(v) for v in WL], fwhm=[None] * 8,
                    band_indices=list(range(8)), source_bands=8, mean=[1000.0] * 8, std=[4000.0] * 8,
                    receptive_radius=int(net.receptive_radius),
                    extra={"normalisation": {"kind": "global-minmax", "offset": 1000.0, "scale": 4000.0}})
    return save_run(tmp / "run", cfg, dict(net.state_dict()))


def test_a_scene_at_other_wavelengths_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Eight bands, as the run, but at 1000-1450 nm: they were projected on the 450-900 nm basis, silently."""
    den = Denoiser.load(basis_run(tmp_path), device="cpu")
    other = geotiff(tmp_path / "swir.tif", smooth_cube(), wl=WL + 550.0)
    with pytest.raises(BandMismatchError, match=r"swir\.tif: good band 1 \(band 1\) is at 1000\.0 nm but "
                                                r"test_hsdt_subspace was trained with it at 450\.0 nm"):
        denoise_cube(den, open_cube(other), tmp_path / "o.tif", progress=False)
    assert not (tmp_path / "o.tif").exists()
    with pytest.raises(SystemExit) as exc:  # hsi denoise: one line, exit 2
        main(["denoise", "--model", str(tmp_path / "run"), "--input", str(other), "--out", str(tmp_path / "c.tif"),
              "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "swir.tif: good band 1" in err[0] and "hsdt_s" in err[0], err


def test_the_training_bands_within_tolerance_and_unknown_wavelengths_are_denoised(tmp_path: Path) -> None:
    den = Denoiser.load(basis_run(tmp_path), device="cpu")
    near = geotiff(tmp_path / "near.tif", smooth_cube(), wl=WL + 1.5)  # within the 2 nm tolerance
    res = denoise_cube(den, open_cube(near), tmp_path / "a.tif", progress=False)
    assert res.bands == 8
    bare = make_cube(smooth_cube())  # no wavelengths: nothing to compare, the band count matches
    assert denoise_cube(den, bare, tmp_path / "b.tif", progress=False).bands == 8
