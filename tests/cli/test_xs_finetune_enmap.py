"""`hsi finetune` on a real-format EnMAP L2A product: the band matching is said and recorded, and
`--exclude-masks` keeps flagged pixels (cloud) out of the adapter's training, scoring and map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main
from fixture_loader import fixture_module
from hsi_app.io.cog import read_class_map
from tiny_runs import make_run

fx = fixture_module("enmap_l2a")
H, W = 24, 24
BASE_WL = np.linspace(400.0, 2500.0, 30)  # an AVIRIS-like range: wider than EnMAP's 418-2445 nm at both ends
BASE_FWHM = 10.0


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("xs")
    (root / "p").mkdir()
    product = fx.make(root / "p", height=H, width=W)
    base = make_run(root / "base", model="test_spectral_vit", in_chans=BASE_WL.size, wavelengths=BASE_WL,
                    fwhm=[BASE_FWHM] * BASE_WL.size, mean=[0.2] * BASE_WL.size, std=[0.1] * BASE_WL.size)
    labels = np.zeros((H, W), np.int64)
    labels[6:, 6:12], labels[6:, 12:18], labels[6:, 18:] = 1, 2, 3  # every class also labels some cloud pixels
    np.save(root / "labels.npy", labels)
    return {"root": root, "product": product, "base": base, "labels": root / "labels.npy"}


def _finetune(capsys: pytest.CaptureFixture[str], setup: dict[str, Path], out: str, *extra: str) -> tuple[Path, str]:
    ft = setup["root"] / out
    code, stdout, err = run_main(capsys, "finetune", "--base", str(setup["base"]), "--data", str(setup["product"]),
                                 "--labels", str(setup["labels"]), "--split", "random:0.5", "--lora-rank", "2",
                                 "--epochs", "1", "--out", str(ft), *extra)
    assert code == 0, err
    return ft, stdout + err


def test_the_band_matching_is_said_and_recorded_in_metrics(setup: dict[str, Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    ft, text = _finetune(capsys, setup, "ft_bands")
    wl, _ = fx.band_table(0)
    bad = fx.bad_band_indices(wl)  # the water-vapour bands the product holds no data in
    good = np.setdiff1d(np.arange(wl.size), bad)
    half = BASE_FWHM / 2
    beyond = int(((BASE_WL < wl[good].min() - half) | (BASE_WL > wl[good].max() + half)).sum())
    assert beyond == 2  # 400 and 2500 nm
    assert f"resampling {good.size} of the scene's {wl.size} bands ({bad.size} bad or empty bands left out)" in text
    assert f"{beyond} of the base model's bands lie beyond the scene's range" in text
    bands = json.loads((ft / "metrics.json").read_text())["bands"]
    assert bands == {"scene_bands": wl.size, "bands_used": good.size, "bands_left_out": [int(b) + 1 for b in bad],
                     "base_bands": BASE_WL.size, "base_bands_edge_copied": beyond}


def test_exclude_masks_keeps_cloud_out_of_training_scoring_and_the_map(setup: dict[str, Path],
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cloud = fx.quality_layers(H, W)["CLOUD"].astype(bool)
    labels = np.load(setup["labels"])
    assert (cloud & (labels > 0)).any() and cloud.any()
    ft, _ = _finetune(capsys, setup, "ft_cloud", "--exclude-masks", "cloud", "--quiet")
    split = np.load(ft / "split.npz")
    assert not (split["train"][cloud] > 0).any() and not (split["test"][cloud] > 0).any()
    metrics = json.loads((ft / "metrics.json").read_text())
    assert metrics["exclude_masks"] == ["cloud"]
    nodata = np.zeros((H, W), bool)
    nodata[H - fx.SINGLE_BAND_NODATA[1], W - fx.SINGLE_BAND_NODATA[1]] = True  # no data in one good band
    assert metrics["n_train"] + metrics["n_test"] == int(((labels > 0) & ~cloud & ~nodata).sum())
    classes = read_class_map(ft / "map.tif", confidence=False).classes
    assert (classes[cloud] == 0).all()
    assert (classes[~cloud & ~nodata & (labels > 0)] > 0).all()


def test_a_raw_value_base_refused_on_reflectance_points_to_a_base_that_reads_any_units(
        setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """An Indian Pines-like base (values ~1000-8000) meets EnMAP L2A reflectance (0-1): the one error line also
    names the models that read any units, the way to adapt such a base's sensor to an L2A product."""
    from cli_runner import assert_one_error_line

    base = make_run(setup["root"] / "dn_base", model="test_spectral_vit", in_chans=BASE_WL.size,
                    wavelengths=BASE_WL, fwhm=[BASE_FWHM] * BASE_WL.size, mean=[4000.0] * BASE_WL.size,
                    std=[1500.0] * BASE_WL.size)
    code, _, err = run_main(capsys, "finetune", "--base", str(base), "--data", str(setup["product"]), "--labels",
                            str(setup["labels"]), "--lora-rank", "2", "--epochs", "1", "--out",
                            str(setup["root"] / "ft_dn"), "--quiet")
    assert_one_error_line(code, err, str(setup["product"]), "other units", "spectral_vit_snv")
    assert not (setup["root"] / "ft_dn").exists()
