"""confusion.png says what its score is: the protocol, the OA and (LEAKY) for a leaky run (audit O #3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_runner import run_main
from hsi_app.data.splits import Split
from hsi_app.io.cube import make_cube
from hsi_app.io.quicklook import confusion_title, save_confusion_png


def _title(png: Path) -> str | None:
    with Image.open(png) as im:
        return im.text.get("Title")


def test_confusion_title_text() -> None:
    assert confusion_title(0.6814, model="ssfcn_snv", protocol="random:0.1", leaky=True, n=486) == (
        "ssfcn_snv on random:0.1 (LEAKY): OA 68.14% (486 test pixels)")
    assert confusion_title(0.5, model="svm", protocol="disjoint:0.5") == "svm on disjoint:0.5: OA 50.00%"
    assert confusion_title(0.6075, n=2395) == "OA 60.75% (2395 reference pixels)"


def test_the_title_is_drawn_and_stored(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    drawn: list[str] = []
    real = Figure.savefig

    def spy(fig, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        drawn.extend(ax.get_title() for ax in fig.axes)
        return real(fig, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Figure, "savefig", spy)
        save_confusion_png(tmp_path / "cm.png", np.eye(3) * 5, ["a", "b", "c"], title="svm on random:0.1: OA 1.00%")
    assert "svm on random:0.1: OA 1.00%" in drawn
    assert _title(tmp_path / "cm.png") == "svm on random:0.1: OA 1.00%"
    save_confusion_png(tmp_path / "plain.png", np.eye(3), ["a", "b", "c"])  # no title: none stored
    assert _title(tmp_path / "plain.png") is None


def test_a_leaky_runs_confusion_png_says_so(tmp_path: Path) -> None:
    """evaluate_run (hsi train, finetune, ensemble) titles confusion.png with the model, protocol, OA and LEAKY."""
    import json

    from hsi_app.tasks.train_classifier import evaluate_run
    from tiny_runs import make_run

    rng = np.random.default_rng(0)
    data = rng.normal(0.0, 1.0, size=(5, 12, 14)).astype(np.float32)
    labels = rng.integers(1, 4, size=(12, 14)).astype(np.int32)
    run = make_run(tmp_path / "run", like=data)
    cube = make_cube(data, wavelength=np.linspace(400.0, 800.0, 5), labels=labels)
    train = np.where(np.arange(14)[None, :] % 2 == 0, labels, 0)
    for leaky, mark in ((True, " (LEAKY)"), (False, "")):
        split = Split(train=train, test=labels - train, protocol="random:0.5", leaky=leaky)
        metrics = evaluate_run(run, cube, split, 0.0, {"epochs": 1}, progress=False)
        assert json.loads((run / "metrics.json").read_text())["leaky"] is leaky
        assert _title(run / "confusion.png") == (
            f"test_ssfcn on random:0.5{mark}: OA {100 * metrics['oa']:.2f}% ({metrics['n_test']} test pixels)")


def test_hsi_evaluate_confusion_png_names_map_reference_and_oa(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from rasterio.transform import from_origin

    from hsi_app.io.cog import write_class_map

    classes = np.ones((10, 12), np.uint8)
    classes[:, 6:] = 2
    ref = classes.copy()
    ref[0, :3] = 2  # 3 of 120 wrong
    path = tmp_path / "map.tif"
    write_class_map(path, classes, np.full((10, 12), 0.8, np.float32), crs="EPSG:32616",
                    transform=from_origin(500000.0, 4200000.0, 30.0, 30.0), class_names=["unlabelled", "a", "b"])
    np.save(tmp_path / "ref.npy", ref.astype(np.int32))
    code, _, err = run_main(capsys, "evaluate", "--map", str(path), "--reference", str(tmp_path / "ref.npy"),
                            "--confusion", str(tmp_path / "cm.png"), "--json", str(tmp_path / "r.json"))
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert _title(tmp_path / "cm.png") == f"map.tif vs ref.npy: OA {100 * report['oa']:.2f}% (120 reference pixels)"
