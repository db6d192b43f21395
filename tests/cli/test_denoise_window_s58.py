"""``hsi denoise --window N`` with N not a multiple of the model's spatial multiple is rounded up (never to a field
smaller than asked, nor below the receptive field that the window-too-small line tells the user to pass), and the
output line and the metrics JSON say which size was used."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio

from hsi_app.cli.main import main
from hsi_app.tasks.denoising import Denoiser
from tests.tasks.test_denoising import geotiff, smooth_cube, untrained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

H, W = 60, 110


def _denoise(tmp: Path, window: int, capsys: pytest.CaptureFixture[str]) -> tuple[str, dict, np.ndarray]:
    scene = tmp / "s.tif"
    out = tmp / f"w{window}.tif"
    try:
        code = main(["denoise", "--model", str(tmp / "run"), "--input", str(scene), "--reference", str(scene),
                     "--out", str(out), "--window", str(window), "--quiet"])
    except SystemExit as exc:
        code = exc.code
    assert code in (0, None), capsys.readouterr().err
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith(str(out)))
    with rasterio.open(out) as src:
        data = src.read()
    return line, json.loads(out.with_suffix(".metrics.json").read_text()), data


def test_an_odd_window_is_rounded_up_and_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = untrained_run(tmp_path)  # test_hsdt: spatial multiple 2, receptive field 49 px
    geotiff(tmp_path / "s.tif", smooth_cube(h=H, w=W))
    den = Denoiser.load(run, device="cpu")
    m, field = den.multiple, den.field
    assert field % m  # an odd field: the size the too-small line asks for is not a multiple

    exact_line, exact_json, exact = _denoise(tmp_path, field + 1, capsys)
    assert f"(window {field + 1}, halo" in exact_line and "rounded up from" not in exact_line
    assert exact_json["window"] == field + 1

    odd_line, odd_json, odd = _denoise(tmp_path, field, capsys)
    used = math.ceil(field / m) * m
    assert used == field + 1
    assert f"(window {used}, rounded up from {field} to a multiple of {m}, halo" in odd_line
    assert f"in {math.ceil(H / used) * math.ceil(W / used)} windows" in odd_line
    assert odd_json["window"] == used
    np.testing.assert_array_equal(odd, exact)  # the same windows as asking for that size
