"""Warm starts of denoiser training (``--init``): training subspaces, shapes, early window check, init scores."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from hsi_app.checkpoint import load_config
from hsi_app.data.noise import add_noise
from hsi_app.errors import ConfigError, HSIWarning, ModelLoadError
from hsi_app.io.cube import make_cube
from hsi_app.models import create_model
from hsi_app.tasks.denoise_init import init_regression
from hsi_app.tasks.denoise_metrics import restoration_metrics
from hsi_app.tasks.denoising import EVAL_SEED_OFFSET, DenoiseOptions, Denoiser, train_denoiser

WL = np.linspace(450.0, 900.0, 8)
SUBSPACE = {"model": "test_hsdt_subspace", "model_args": {"basis": "train"}}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def scene(c: int = 8, seed: int = 0, h: int = 32, w: int = 40) -> np.ndarray:
    """Low-rank, spatially smooth ``(C, H, W)`` values; another ``seed`` gives other endmember spectra."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 7.0
    abund = np.stack([np.sin(yy) + 1.5, np.cos(xx) + 1.5, np.sin(xx + yy) + 1.5])
    ends = rng.uniform(0.2, 1.0, size=(c, 3))
    return (1000 * np.einsum("ck,khw->chw", ends, abund)).astype(np.float32)


def opts(**kw: object) -> DenoiseOptions:
    """Tiny, fast options: one step, all bands per patch, no baselines."""
    base = {"model": "test_hsdt", "noise": "gaussian:50", "epochs": 1, "steps_per_epoch": 1, "batch_size": 1,
            "patch": 16, "band_chunk": 0, "lr": 1e-12, "seed": 5, "progress": False, "threads": 1, "baselines": False}
    return DenoiseOptions(**{**base, **kw})  # type: ignore[arg-type]


def train(tmp: object, name: str, data: np.ndarray, **kw: object) -> tuple[dict, object]:
    out = tmp / name  # type: ignore[operator]
    return train_denoiser(make_cube(data, wavelength=WL[: data.shape[0]]), out, opts(**kw)), out


def normalised_training_region(data: np.ndarray, run: object) -> np.ndarray:
    """The run's training columns on its [0, 1] scale, from config.json alone: ``(C, N)`` spectra."""
    cfg = load_config(run)  # type: ignore[arg-type]
    norm = cfg.extra["normalisation"]
    c0 = cfg.split["train_cols"][1]
    return ((data[:, :, :c0] - norm["offset"]) / norm["scale"]).reshape(data.shape[0], -1).astype(np.float64)


def assert_basis_of(spectra: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> None:
    """``mean``/``basis`` are the mean and the leading principal directions of ``spectra`` ``(C, N)``."""
    np.testing.assert_allclose(mean, spectra.mean(axis=1), atol=1e-5)
    k = basis.shape[1]
    vals, vecs = np.linalg.eigh(np.cov(spectra))
    top = vecs[:, ::-1][:, :k]
    np.testing.assert_allclose(np.abs(top.T @ basis), np.eye(k), atol=1e-3)  # same directions, up to sign


def test_warm_start_fits_the_training_subspace_to_the_new_scene(tmp_path) -> None:  # noqa: ANN001
    """Same bands, another scene: the basis is the new scene's (measured better), the inner weights the run's."""
    _, start = train(tmp_path, "start", scene(seed=0), lr=1e-2, **SUBSPACE)
    old = load_file(start / "model.safetensors")
    new_scene = scene(seed=3)
    with pytest.warns(HSIWarning, match=r"--init .*start: test_hsdt_subspace continues from that run's weights, but "
                                        r"its spectral basis is fitted to this scene's training spectra \(8 bands\)"):
        _, warm = train(tmp_path, "warm", new_scene, init=str(start), **SUBSPACE)
    got = load_file(warm / "model.safetensors")
    assert not np.allclose(got["train_mean"], old["train_mean"], atol=1e-3)  # not the earlier scene's
    assert_basis_of(normalised_training_region(new_scene, warm), got["train_mean"], got["train_basis"])
    for name in old:
        if not name.startswith("train_"):  # one step at lr 1e-12: the inner denoiser is the earlier run's
            np.testing.assert_allclose(got[name], old[name], atol=1e-6, err_msg=name)


def test_warm_start_of_a_training_basis_model_onto_another_band_count(tmp_path) -> None:  # noqa: ANN001
    """8 -> 6 bands: the basis is refitted on the 6 bands (no shape error), the rest continues."""
    _, start = train(tmp_path, "start", scene(c=8), **SUBSPACE)
    six = scene(c=6, seed=2)
    with pytest.warns(HSIWarning, match=r"\(6 bands\), not taken from the run \(8 bands"):
        _, warm = train(tmp_path, "warm", six, init=str(start), **SUBSPACE)
    got = load_file(warm / "model.safetensors")
    assert got["train_mean"].shape == (6,) and got["train_basis"].shape == (6, 3)
    assert_basis_of(normalised_training_region(six, warm), got["train_mean"], got["train_basis"])


def test_weights_that_do_not_fit_are_one_model_load_error(tmp_path) -> None:  # noqa: ANN001
    """A tensor of another shape: one ModelLoadError line naming both band counts, not torch's RuntimeError."""
    _, start = train(tmp_path, "start", scene(c=8))
    tensors = load_file(start / "model.safetensors")
    name = next(k for k, v in tensors.items() if v.ndim >= 2)
    tensors[name] = np.zeros((*tensors[name].shape[:-1], tensors[name].shape[-1] + 1), np.float32)
    save_file(tensors, str(start / "model.safetensors"))
    with pytest.raises(ModelLoadError) as info:
        train(tmp_path, "warm", scene(c=6), init=str(start))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{start}: its weights do not fit test_hsdt on this scene's 6 bands")
    assert "the run was trained on 8 bands" in msg and name in msg and "drop --init" in msg
    assert not (tmp_path / "warm").exists()


def test_window_below_the_receptive_field_is_refused_before_the_scene_is_read(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    field = 2 * int(create_model("test_hsdt", in_chans=8, num_classes=1).receptive_radius) + 1
    assert field > 16  # the held-out block is 32 x 14 px: a 16-px window cuts it

    def read(*_: object) -> None:
        raise AssertionError("the scene was read before --window was checked")

    monkeypatch.setattr("hsi_app.tasks.train_classifier.scene_in_memory", read)
    with pytest.raises(ConfigError, match=rf"^--window 16: smaller than the receptive field of test_hsdt \({field} px\); "
                                          rf"pass --window {field} or more \(window= in Python\)$"):
        train(tmp_path, "run", scene(), window=16)
    assert not (tmp_path / "run").exists()


def test_warm_start_scores_its_starting_weights_on_the_same_block(tmp_path) -> None:  # noqa: ANN001
    data = scene()
    _, start = train(tmp_path, "start", data, lr=1e-2)
    m, warm = train(tmp_path, "warm", data, init=str(start))
    # independently: the start run's own weights on the new run's held-out block with the new run's noise
    cfg = load_config(warm)
    c0, c1 = cfg.split["test_cols"]
    norm = cfg.extra["normalisation"]
    clean = (data[:, :, c0:c1] - norm["offset"]) / norm["scale"]
    noisy = add_noise(clean.astype(np.float32), "gaussian:50", 5 + EVAL_SEED_OFFSET)
    est = Denoiser.load(start, device="cpu").denoise_windows(noisy, 512)
    expected = restoration_metrics(est, clean, offset=norm["offset"], scale=norm["scale"])
    for key in ("psnr", "mpsnr", "ssim", "sam"):
        assert m["init_model"][key] == pytest.approx(expected[key], abs=1e-3), key
        assert m["denoised"][key] == pytest.approx(m["init_model"][key], abs=1e-3)  # lr 1e-12: unchanged
    assert init_regression(m, start) is None
    cold, _ = train(tmp_path, "cold", data)
    assert "init_model" not in cold


def test_init_regression_line() -> None:
    worse = {"denoised": {"psnr": 24.14}, "init_model": {"psnr": 30.01}, "steps": 15}
    line = init_regression(worse, "runs/ship")
    assert line == ("training made the held-out PSNR worse than the --init runs/ship weights (30.01 -> 24.14 dB): its "
                    "15 steps restart the learning rate at its peak; train longer (--epochs), or keep the earlier run")
    assert init_regression({**worse, "denoised": {"psnr": 30.5}}, "runs/ship") is None
    assert init_regression({"denoised": {"psnr": 1.0}}, "runs/ship") is None  # no --init


def test_readme_init_numbers_are_recorded_in_benchmarks() -> None:
    """The held-out PSNRs README quotes for --init onto another scene are in BENCHMARKS.md, with the command
    (audit K #7: 36.2 / 8.2 / 21.2 dB had no record)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    start = readme.index("`hsdt_subspace_train` stores a spectral basis")
    paragraph = readme[start:readme.index("\n\n", start)]
    quoted = re.findall(r"(\d+\.\d) dB", paragraph)
    assert len(quoted) >= 4, paragraph
    bench = (root / "BENCHMARKS.md").read_text(encoding="utf-8")
    section = bench[bench.index("### `--init` onto another scene"):]
    section = section[:section.index("\n## ")]
    assert "benchmarks/make_denoise_init_scene.py" in section and "hsi train --task denoise" in section
    recorded = {f"{float(v):.1f}" for v in re.findall(r"(\d+\.\d+) dB", section)}
    assert set(quoted) <= recorded, set(quoted) - recorded


def test_readme_cog_conversion_time_is_recorded_in_benchmarks() -> None:
    """README's "1.5 min for 1000 x 1000 x 200 bands" COG conversion points at a BENCHMARKS section that holds the
    measurement and its command (review 2 #7: the number had no record)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    bench = (root / "BENCHMARKS.md").read_text(encoding="utf-8")
    claim = re.search(r'with overviews \((\d+(?:\.\d+)?) min for 1000 × 1000 × 200 bands, BENCHMARKS "Session 51: '
                      r'the COG conversion after the window bar"\)', readme)
    assert claim is not None
    section = bench.split("## Session 51: the COG conversion after the window bar", 1)[1].split("\n#", 1)[0]
    assert "StreamingCOGWriter._convert" in section
    table = re.search(r"\| COG conversion with overviews \| (\d+(?:\.\d+)?) \|", section)
    timed = re.search(r"COG convert took (\d+(?:\.\d+)?) s", section)
    assert table is not None and timed is not None and table.group(1) == timed.group(1)  # the table is the run's
    assert round(float(table.group(1)) / 60, 1) == float(claim.group(1))  # README's minutes are those seconds
