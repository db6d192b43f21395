"""``hsi train --task denoise`` and ``hsi denoise`` end to end on a tiny georeferenced GeoTIFF."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner
from rasterio.transform import from_origin

from hsi_app.cli.main import cli, main
from hsi_app.io.cog import write_cube
from hsi_app.io.cube import make_cube

WL = np.linspace(450.0, 900.0, 6)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tif(path: Path, c: int = 6, h: int = 28, w: int = 36, nan: bool = False, x0: float = 300000) -> Path:
    yy, xx = np.mgrid[0:h, 0:w] / 6.0
    data = np.stack([(k + 2) * 300 * (np.sin(yy + k) + np.cos(xx) + 3) for k in range(c)]).astype(np.float32)
    if nan:
        data[1, 3, 4] = np.nan
    cube = make_cube(data, wavelength=WL[:c], crs="EPSG:32633", transform=from_origin(x0, 5000000, 30, 30))
    write_cube(path, cube)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("denoise_cli")
    clean = _tif(tmp / "clean.tif")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = CliRunner().invoke(cli, ["train", "--task", "denoise", "--data", str(clean), "--noise", "gaussian:50",
                                       "--model", "test_hsdt", "--epochs", "2", "--seed", "1", "--out", str(tmp / "run"),
                                       "--quiet"])
    finally:
        torch.set_num_threads(n)
    assert res.exit_code == 0, res.output
    assert "PSNR" in res.output and "best baseline" in res.output
    return clean, tmp / "run"


def test_train_writes_a_denoise_run(trained: tuple[Path, Path]) -> None:
    _, run = trained
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["task"] == "denoise" and cfg["model_name"] == "test_hsdt"
    assert cfg["extra"]["noise"] == "gaussian:50" and cfg["split"]["protocol"] == "holdout-block"
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"denoised", "noisy", "baselines", "heldout"} <= set(metrics)
    assert (run / "model.safetensors").is_file()


def test_a_denoise_run_records_its_library_versions_and_scene_like_a_classifier_run(
        trained: tuple[Path, Path]) -> None:
    """config.json ``data`` (the resolved path), ``extra.versions`` and ``extra.data_identity`` (the scene's sha256),
    the same in metrics.json, as `hsi train` records them for a classifier."""
    import hashlib
    from importlib.metadata import version

    import hsi_app

    clean, run = trained
    cfg = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert cfg["data"] == metrics["data"] == str(clean.resolve())
    want = {"torch": version("torch"), "lightning": version("lightning"), "scikit-learn": version("scikit-learn"),
            "numpy": np.__version__, "hsi_app": hsi_app.__version__}
    assert cfg["extra"]["versions"] == metrics["versions"] == want
    assert cfg["extra"]["data_identity"] == metrics["data_identity"] == {
        "scene": {"files": [{"path": str(clean.resolve()), "bytes": clean.stat().st_size,
                             "sha256": hashlib.sha256(clean.read_bytes()).hexdigest()}]}, "labels": []}


def test_denoise_with_reference_writes_cube_and_metrics(trained: tuple[Path, Path], tmp_path: Path) -> None:
    clean, run = trained
    out = tmp_path / "den.tif"
    res = CliRunner().invoke(cli, ["denoise", "--model", str(run), "--input", str(clean), "--out", str(out),
                                   "--reference", str(clean), "--noise", "gaussian:50", "--seed", "2", "--baselines",
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "den.metrics.json").read_text())
    assert report["noise"] == "gaussian:50" and set(report["baselines"]) == {"pca", "mnf", "gaussian", "median", "subspace_gaussian"}
    assert report["input"]["psnr"] == pytest.approx(20 * np.log10(255 / 50), abs=0.7)
    # i.i.d. noise: every band's PSNR is about the same, so their mean (MPSNR) is too
    assert report["input"]["mpsnr"] == pytest.approx(20 * np.log10(255 / 50), abs=0.7)
    assert all({"psnr", "mpsnr", "ssim", "sam"} <= set(r) for r in [report["denoised"], *report["baselines"].values()])
    assert "denoised" in res.output and "PSNR" in res.output
    with rasterio.open(clean) as a, rasterio.open(out) as b:
        assert (b.crs, b.transform, b.count, b.dtypes[0]) == (a.crs, a.transform, 6, "float32")
        assert b.tags()["wavelength"] == a.tags()["wavelength"]


def test_denoise_tta_flag(trained: tuple[Path, Path], tmp_path: Path) -> None:
    clean, run = trained
    outs = {}
    for name, flag in (("plain", []), ("tta", ["--tta"])):
        out = tmp_path / f"{name}.tif"
        res = CliRunner().invoke(cli, ["denoise", "--model", str(run), "--input", str(clean), "--out", str(out),
                                       "--reference", str(clean), "--noise", "gaussian:50", "--seed", "2", "--quiet", *flag])
        assert res.exit_code == 0, res.output
        report = json.loads((tmp_path / f"{name}.metrics.json").read_text())
        assert report["tta"] is (name == "tta")
        assert np.isfinite(report["denoised"]["psnr"]) and report["input"]["psnr"] == pytest.approx(20 * np.log10(255 / 50), abs=0.7)
        with rasterio.open(out) as ds:
            outs[name] = ds.read()
    assert np.abs(outs["tta"] - outs["plain"]).max() > 0  # eight averaged views, not the single pass


def _error_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hsi: error: ")
    return err[0]


def test_bad_inputs_give_one_clear_line(trained: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    clean, run = trained
    fewer = _tif(tmp_path / "fewer.tif", c=4)
    nan = _tif(tmp_path / "nan.tif", nan=True)
    big = _tif(tmp_path / "big.tif", h=80, w=80)
    base = ["denoise", "--model", str(run), "--quiet"]
    line = _error_line([*base, "--input", str(clean), "--out", str(tmp_path / "a.tif"), "--reference", str(fewer)], capsys)
    assert "fewer.tif: reference has 4 bands" in line
    far = _tif(tmp_path / "far.tif", x0=310000)  # same size and bands, 10 km east
    line = _error_line([*base, "--input", str(clean), "--out", str(tmp_path / "a.tif"), "--reference", str(far)], capsys)
    assert f"far.tif: reference grid (origin 310000, 5000000; pixel 30 x -30) is not that of the input {clean} " in line
    assert "pass a reference on the input's grid" in line
    line = _error_line([*base, "--input", str(nan), "--out", str(tmp_path / "b.tif")], capsys)
    assert "nan.tif: NaN" in line and "--fill-nan" in line
    line = _error_line([*base, "--input", str(big), "--out", str(tmp_path / "c.tif"), "--window", "8"], capsys)
    assert "--window 8: smaller than the receptive field" in line
    line = _error_line([*base, "--input", str(clean), "--out", str(tmp_path / "d.tif"), "--noise", "poisson"], capsys)
    assert "--noise 'poisson'" in line
    assert not any((tmp_path / f"{n}.tif").exists() for n in "abcd")  # nothing half-written


def test_train_init_warm_starts_only_denoisers(trained: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    clean, run = trained
    res = CliRunner().invoke(cli, ["train", "--task", "denoise", "--data", str(clean), "--model", "test_hsdt",
                                   "--epochs", "1", "--init", str(run), "--out", str(tmp_path / "warm"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "warm" / "config.json").read_text())["extra"]["init"] == str(run.resolve())
    line = _error_line(["train", "--data", str(clean), "--init", str(run), "--out", str(tmp_path / "cls")], capsys)
    assert "--init warm-starts denoisers only" in line and "hsi finetune" in line
    line = _error_line(["train", "--task", "denoise", "--data", str(clean), "--model", "hsdt_s", "--init", str(run),
                        "--out", str(tmp_path / "other")], capsys)
    assert "cannot initialise hsdt_s" in line


def test_adapt_sigma_fine_tunes_on_the_input_without_touching_the_run(trained: tuple[Path, Path], tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    clean, run = trained
    weights = (run / "model.safetensors").read_bytes()
    reports = {}
    for name, flag in (("plain", []), ("adapted", ["--adapt-sigma", "50", "--adapt-steps", "10"])):
        res = CliRunner().invoke(cli, ["denoise", "--model", str(run), "--input", str(clean), "--out",
                                       str(tmp_path / f"{name}.tif"), "--reference", str(clean), "--noise", "gaussian:50",
                                       "--seed", "2", "--quiet", *flag])
        assert res.exit_code == 0, res.output
        reports[name] = json.loads((tmp_path / f"{name}.metrics.json").read_text())
    adapt = reports["adapted"]["adapt"]
    assert reports["plain"]["adapt"] is None and adapt["steps"] == 10
    # the first step's SURE estimates the unadapted model's true MSE (the crop is the whole 28 x 36 scene)
    true_mse = 10 ** (-reports["plain"]["denoised"]["psnr"] / 10)
    assert adapt["sure_before"] == pytest.approx(true_mse, rel=0.1)
    assert adapt["sure_after"] < adapt["sure_before"]
    assert reports["adapted"]["denoised"]["psnr"] > reports["plain"]["denoised"]["psnr"]
    assert (run / "model.safetensors").read_bytes() == weights
    line = _error_line(["denoise", "--model", str(run), "--input", str(clean), "--out", str(tmp_path / "z.tif"),
                        "--adapt-sigma", "0", "--quiet"], capsys)
    assert "--adapt-sigma 0.0: must be a positive" in line
    assert not (tmp_path / "z.tif").exists()


def test_outputs_that_are_inputs_and_single_bands_are_refused(trained: tuple[Path, Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    clean, run = trained
    src = tmp_path / "in.tif"
    shutil.copy(clean, src)
    before = src.read_bytes()
    base = ["denoise", "--model", str(run), "--quiet", "--input", str(src)]
    assert "--out would overwrite the --input" in _error_line([*base, "--out", str(src)], capsys)
    line = _error_line([*base, "--out", str(tmp_path / "o.tif"), "--reference", str(clean), "--metrics", str(src)], capsys)
    assert "--metrics would overwrite the --input" in line
    assert src.read_bytes() == before
    one = _tif(tmp_path / "one.tif", c=1)
    line = _error_line([*base[:-1], str(one), "--out", str(tmp_path / "o1.tif")], capsys)
    assert "one.tif: 1 good band(s); spectral denoising needs at least 2 bands" in line
    line = _error_line(["train", "--task", "denoise", "--data", str(one), "--model", "test_hsdt", "--epochs", "1",
                        "--out", str(tmp_path / "r1"), "--quiet"], capsys)
    assert "needs at least 2 bands" in line and not (tmp_path / "r1").exists()


def test_metrics_json_is_strict_when_the_input_equals_the_reference(trained: tuple[Path, Path], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    clean, run = trained
    main(["denoise", "--model", str(run), "--input", str(clean), "--reference", str(clean), "--out",
          str(tmp_path / "d.tif"), "--quiet"])

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON constant {token}")

    report = json.loads((tmp_path / "d.metrics.json").read_text(), parse_constant=refuse)
    assert report["input"]["psnr"] is None  # +inf: the input is the reference
    assert report["denoised"]["psnr"] > 0


def _files(folder: Path) -> dict[str, str]:
    """Name -> sha256 of every file in ``folder`` (hidden staging files included)."""
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_rerun_never_leaves_the_earlier_runs_metrics_beside_the_new_cube(trained: tuple[Path, Path], tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    clean, run = trained
    other = _tif(tmp_path / "other.tif", x0=310000)
    out, default = tmp_path / "st.tif", tmp_path / "st.metrics.json"
    scored = ["denoise", "--model", str(run), "--out", str(out), "--reference", str(clean), "--noise", "gaussian:50",
              "--quiet"]
    main([*scored, "--input", str(clean)])
    assert json.loads(default.read_text())["noise"] == "gaussian:50"
    # a failed rerun leaves the earlier cube and its metrics exactly as they were
    before = _files(tmp_path)
    nan = _tif(tmp_path / "nan.tif", nan=True)
    _error_line(["denoise", "--model", str(run), "--input", str(nan), "--out", str(out), "--quiet"], capsys)
    assert _files(tmp_path) == {**before, "nan.tif": _files(tmp_path)["nan.tif"]}
    # a rerun without --reference replaces the cube and removes the scores of the earlier one
    main(["denoise", "--model", str(run), "--input", str(other), "--out", str(out), "--quiet"])
    assert not default.exists()
    with rasterio.open(out) as ds, rasterio.open(other) as src:
        assert ds.transform == src.transform and "NOISE_ADDED" not in ds.tags()
    # metrics sent elsewhere: the default file of an earlier run goes too
    main([*scored, "--input", str(clean)])
    assert default.exists()
    main([*scored, "--input", str(clean), "--metrics", str(tmp_path / "elsewhere.json")])
    assert not default.exists() and (tmp_path / "elsewhere.json").is_file()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_adapt_sigma_without_reference_writes_its_estimates(trained: tuple[Path, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """README: the SURE error before and after adaptation is stored under ``adapt`` in the metrics JSON."""
    clean, run = trained
    base = ["denoise", "--model", str(run), "--input", str(clean), "--noise", "gaussian:50", "--seed", "3",
            "--adapt-sigma", "50", "--adapt-steps", "2", "--quiet"]
    main([*base, "--out", str(tmp_path / "a.tif"), "--metrics", str(tmp_path / "dm.json")])
    printed = re.search(r"estimated MSE of the first crop (\S+) -> (\S+)", capsys.readouterr().out)
    report = json.loads((tmp_path / "dm.json").read_text())
    assert report["adapt"]["sigma"] == 50 and report["adapt"]["steps"] == 2 and report["reference"] is None
    assert "denoised" not in report and "baselines" not in report
    assert f"{report['adapt']['sure_before']:.3g}" == printed.group(1)
    assert f"{report['adapt']['sure_after']:.3g}" == printed.group(2)
    # the same seeded adaptation with a reference: the estimates do not depend on the reference
    main([*base, "--out", str(tmp_path / "b.tif"), "--reference", str(clean)])
    scored = json.loads((tmp_path / "b.metrics.json").read_text())
    assert scored["adapt"] == pytest.approx(report["adapt"])
    # the default metrics file is written too
    main([*base, "--out", str(tmp_path / "c.tif")])
    assert json.loads((tmp_path / "c.metrics.json").read_text())["adapt"]["steps"] == 2


def test_metrics_with_nothing_to_measure_is_one_line(trained: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    clean, run = trained
    line = _error_line(["denoise", "--model", str(run), "--input", str(clean), "--out", str(tmp_path / "d.tif"),
                        "--metrics", str(tmp_path / "dm.json"), "--quiet"], capsys)
    assert f"--metrics {tmp_path / 'dm.json'}: nothing to measure" in line
    assert "--reference" in line and "--adapt-sigma" in line
    assert list(tmp_path.iterdir()) == []


def test_metrics_keep_the_input_path_and_the_input_scores(trained: tuple[Path, Path], tmp_path: Path) -> None:
    clean, run = trained
    out = tmp_path / "k.tif"
    main(["denoise", "--model", str(run), "--input", str(clean), "--out", str(out), "--reference", str(clean),
          "--noise", "gaussian:50", "--seed", "2", "--quiet"])
    report = json.loads((tmp_path / "k.metrics.json").read_text())
    assert report["input_path"] == str(clean) and report["output_path"] == str(out)
    assert report["reference"] == str(clean)
    assert report["input"]["psnr"] == pytest.approx(20 * np.log10(255 / 50), abs=0.7)


def test_training_into_a_classification_run_folder_is_refused(trained: tuple[Path, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A denoiser published there would leave the classifier's map, split and confusion beside its config."""
    from tiny_runs import make_run

    clean, _ = trained
    folder = make_run(tmp_path / "cls", in_chans=6)
    for name in ("map.tif", "map.png", "confusion.png", "split.npz", "metrics.json"):
        (folder / name).write_bytes(name.encode())
    before = _files(folder)
    line = _error_line(["train", "--task", "denoise", "--data", str(clean), "--model", "test_hsdt", "--epochs", "1",
                        "--out", str(folder), "--quiet"], capsys)
    assert f"{folder}: holds a classification run (config.json); write this denoise run to a folder of its own" in line
    assert _files(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cls"]


def test_metrics_name_the_run_folder_and_the_sha256_of_its_weights(trained: tuple[Path, Path], tmp_path: Path) -> None:
    """The scores are tied to the weights that made them: the run folder (given here as its config.json) and the
    sha256 of its model.safetensors, not only the architecture's name."""
    import hashlib

    clean, run = trained
    main(["denoise", "--model", str(run / "config.json"), "--input", str(clean), "--out", str(tmp_path / "w.tif"),
          "--reference", str(clean), "--quiet"])
    report = json.loads((tmp_path / "w.metrics.json").read_text())
    assert report["model"] == "test_hsdt" and report["model_dir"] == str(run.resolve())
    assert report["weights"] == "model.safetensors"
    assert report["weights_sha256"] == hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()


def test_train_init_says_when_training_made_the_start_worse(trained: tuple[Path, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A sitting that ruins the --init weights (here a learning rate of 0.3) is scored against them and said."""
    import functools

    from cli_runner import run_main
    from hsi_app.tasks import denoising

    clean, run = trained
    monkeypatch.setattr(denoising, "DenoiseOptions", functools.partial(denoising.DenoiseOptions, lr=0.3))
    code, out, err = run_main(capsys, "train", "--task", "denoise", "--data", str(clean), "--model", "test_hsdt",
                              "--epochs", "1", "--seed", "1", "--init", str(run), "--out", str(tmp_path / "warm"),
                              "--quiet")
    assert code == 0, err
    m = json.loads((tmp_path / "warm" / "metrics.json").read_text())
    start = json.loads((run / "metrics.json").read_text())["denoised"]["psnr"]
    # the start weights on this run's block (same scene, split and eval noise): the earlier run's own score
    assert m["init_model"]["psnr"] == pytest.approx(start, abs=0.05) and m["denoised"]["psnr"] < start - 1
    assert f"--init weights {m['init_model']['psnr']:.2f} dB" in out
    lines = [ln for ln in err.splitlines() if ln.startswith("hsi: warning: training made")]
    assert lines == [f"hsi: warning: training made the held-out PSNR worse than the --init {run} weights "
                     f"({m['init_model']['psnr']:.2f} -> {m['denoised']['psnr']:.2f} dB): its {m['steps']} steps "
                     "restart the learning rate at its peak; train longer (--epochs), or keep the earlier run"]
