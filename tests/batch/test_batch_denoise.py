"""`--task denoise`: the same float32 COG as `hsi denoise` (denoise_cube), one task per scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from hsi_app.batch import ClusterOptions, run_batch
from hsi_app.batch.state import sidecar_path


def _denoise_run(tmp: Path, bands: int) -> Path:
    """A randomly initialised ``test_hsdt`` denoising run (global min-max normalisation)."""
    import torch

    from hsi_app.checkpoint import RunConfig, save_run
    from hsi_app.models import create_model

    torch.manual_seed(0)
    net = create_model("test_hsdt", in_chans=bands, num_classes=1)
    cfg = RunConfig(task="denoise", model_name="test_hsdt", model_args={}, in_chans=bands, num_classes=1, class_names=[],
                    wavelengths=[None] * bands, fwhm=[None] * bands, band_indices=list(range(bands)),
                    source_bands=bands, mean=[1000.0] * bands, std=[4000.0] * bands,
                    receptive_radius=int(net.receptive_radius),
                    extra={"normalisation": {"kind": "global-minmax", "offset": 1000.0, "scale": 4000.0}})
    return save_run(tmp / "den_run", cfg, dict(net.state_dict()))


def test_batch_denoise_equals_denoise_cube(tmp_path: Path, kit) -> None:  # noqa: ANN001
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.denoise_scene import denoise_cube
    from hsi_app.tasks.denoising import Denoiser

    run = _denoise_run(tmp_path, kit.BANDS)
    scene = kit.write_scene(tmp_path / "in" / "s.tif", 24, 28, 5, nodata_corner=False)
    res = run_batch("denoise", run, [str(tmp_path / "in")], tmp_path / "out", window=512, progress=False,
                    echo=lambda s: None, cluster=ClusterOptions(workers=1, processes=False, dashboard=False))
    assert [r.status for r in res.rows] == ["done"], [r.error for r in res.rows]
    out = tmp_path / "out" / "s_denoised.tif"
    assert sidecar_path(out).is_file()
    denoise_cube(Denoiser.load(run, device="cpu"), open_cube(scene), tmp_path / "ref.tif", window=512, progress=False)
    with rasterio.open(out) as a, rasterio.open(tmp_path / "ref.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.crs == b.crs and a.transform == b.transform and a.tags() == b.tags() and a.count == kit.BANDS
