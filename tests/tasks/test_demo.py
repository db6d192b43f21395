"""The demo job on a tiny fixture: every model of a protocol is scored on the same test pixels."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from hsi_app.data.splits import Split, SplitWarning
from hsi_app.tasks.demo import format_table, run_demo


def striped_pavia(root: Path) -> Path:
    """A PaviaU-format scene (24 x 20 x 103 uint16, 9 classes) whose classes are full-height stripes, so
    each spans several ``disjoint`` blocks and can be on both sides of the split."""
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    labels = np.zeros((24, 20), dtype=np.uint8)
    labels[:, :18] = np.repeat(np.arange(1, 10), 2)[None, :]
    x = np.linspace(0, 1, 103)
    spectra = np.stack([0.3 + 0.2 * np.sin(2 * np.pi * x * (k % 5 + 1) + k) for k in range(10)])
    cube = (3000 * (spectra[labels] + 0.01 * rng.standard_normal((24, 20, 103)))).astype(np.uint16)
    root.mkdir()
    savemat(root / "PaviaU.mat", {"paviaU": cube})
    savemat(root / "PaviaU_gt.mat", {"paviaU_gt": labels})
    return root / "PaviaU.mat"


def test_models_share_one_split_per_protocol(tmp_path: Path) -> None:
    data = striped_pavia(tmp_path / "scene")
    out = tmp_path / "out"
    rows = run_demo(out, protocols=("random:0.3", "disjoint:0.5"), models=("test_ssfcn", "svm"), epochs=2,
                    progress=False, data=str(data))
    assert len(rows) == 4
    for protocol in ("random_0.3", "disjoint_0.5"):
        a = Split.load(out / protocol / "test_ssfcn" / "split.npz")
        b = Split.load(out / protocol / "svm" / "split.npz")
        np.testing.assert_array_equal(a.test, b.test)
        np.testing.assert_array_equal(a.train, b.train)
    disjoint = [r for r in rows if r["protocol"].startswith("disjoint")]
    assert {r["buffer_radius"] for r in disjoint} == {3}  # test_ssfcn's radius, applied to the SVM too
    assert disjoint[0]["n_test"] == disjoint[1]["n_test"]
    summary = json.loads((out / "summary.json").read_text())
    assert [s["model"] for s in summary] == ["test_ssfcn", "svm", "test_ssfcn", "svm"]
    table = format_table(rows)
    assert "random:0.3 (leaky)" in table and "| disjoint:0.5 |" in table


def _fake_metrics(model: str, protocol: str) -> dict[str, object]:
    return {"model": model, "protocol": protocol, "leaky": protocol.startswith("random"), "oa": 0.5, "aa": 0.5,
            "kappa": 0.4, "n_train": 10, "n_test": 90, "train_seconds": 1.0}


def test_an_interrupted_demo_leaves_no_empty_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hsi_app.io.atomic import staged_run_dir
    from hsi_app.tasks import train_classifier as tc

    data = striped_pavia(tmp_path / "scene")
    calls = []

    def train(cube: object, run: Path, opts: tc.TrainOptions, **kwargs: object) -> dict[str, object]:
        calls.append(run)
        with staged_run_dir(run) as stage:  # as the real training: staged beside the run folder
            (stage / "config.json").write_text("{}")
            if len(calls) == 3:  # Ctrl-C during the first run of the second protocol
                raise KeyboardInterrupt
        return _fake_metrics(opts.model, str(opts.split))

    monkeypatch.setattr(tc, "train_classifier", train)
    out = tmp_path / "out" / "demo"
    with pytest.raises(KeyboardInterrupt):
        run_demo(out, protocols=("random:0.3", "disjoint:0.5"), models=("test_ssfcn", "svm"), progress=False,
                 data=str(data))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "random_0.3", "random_0.3/svm", "random_0.3/svm/config.json",
        "random_0.3/test_ssfcn", "random_0.3/test_ssfcn/config.json"]  # no empty disjoint_0.5/, nothing hidden


def test_the_summary_files_are_written_together_or_not_at_all(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from hsi_app.tasks import demo
    from hsi_app.tasks import train_classifier as tc

    data = striped_pavia(tmp_path / "scene")
    monkeypatch.setattr(tc, "train_classifier",
                        lambda cube, run, opts, **k: _fake_metrics(opts.model, str(opts.split)))
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("[] earlier")

    def broken(rows: object) -> str:
        raise RuntimeError("formatting failed")

    monkeypatch.setattr(demo, "format_table", broken)
    with pytest.raises(RuntimeError):
        run_demo(out, protocols=("random:0.3",), models=("svm",), progress=False, data=str(data))
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]  # the earlier one, no .md, nothing partial
    assert (out / "summary.json").read_text() == "[] earlier"


def _demo_splits(monkeypatch: pytest.MonkeyPatch, data: str) -> tuple[dict[str, Split], int]:
    """The split each protocol of the demo trains on (training stubbed), and how often it read the scene."""
    from hsi_app.tasks import train_classifier as tc

    splits: dict[str, Split] = {}
    reads = []
    real_scene = tc.scene_in_memory

    def counted(cube: object) -> object:
        reads.append(1)
        return real_scene(cube)

    def train(cube: object, run: Path, opts: tc.TrainOptions, **kwargs: object) -> dict[str, object]:
        splits[str(opts.split)] = kwargs["split"]
        return _fake_metrics(opts.model, str(opts.split))

    monkeypatch.setattr(tc, "scene_in_memory", counted)
    monkeypatch.setattr(tc, "train_classifier", train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        run_demo("out", models=("test_ssfcn", "svm"),
                 protocols=("random:0.1", "fixed:5", "disjoint:0.5"), progress=False, data=data)
    return splits, len(reads)


@pytest.mark.parametrize("scene", ["indian_pines", "nan_field"])
def test_the_demo_reads_its_scene_once_for_every_protocols_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  scene: str) -> None:
    """The demo drew each protocol's split with no valid mask, so each read the whole scene again; given the
    mask read once, the splits are the ones drawn on the scene's own (byte for byte), also where labelled
    pixels lie on no data (a NaN field) and are left out."""
    from hsi_app.io import open_cube
    from hsi_app.tasks.train_classifier import protocol_split, receptive_radius

    monkeypatch.chdir(tmp_path)
    if scene == "nan_field":
        from scipy.io import loadmat, savemat

        path = striped_pavia(tmp_path / "scene")
        values = loadmat(path)["paviaU"].astype(np.float32)
        values[4:10, 2:8, :] = np.nan  # labelled pixels of three classes without data
        savemat(path, {"paviaU": values})
        data = str(path)
    else:
        data = "indian_pines"
    splits, reads = _demo_splits(monkeypatch, data)
    assert reads == 1
    cube = open_cube(data)
    for protocol, split in splits.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SplitWarning)
            want = protocol_split(cube, protocol, seed=0, radius=receptive_radius("test_ssfcn"))
        assert split.train.tobytes() == want.train.tobytes() and split.test.tobytes() == want.test.tobytes()
        if scene == "nan_field":
            assert not split.train[4:10, 2:8].any() and not split.test[4:10, 2:8].any()
