"""Dense classification task: masked loss, metrics, prediction and a tiny end-to-end fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hsi_app.errors import ConfigError, LabelError
from hsi_app.models import create_model
from hsi_app.tasks.classification import (
    average_accuracy,
    balanced_class_weights,
    classification_metrics,
    fit_dense,
    masked_cross_entropy,
    predict_dense,
)


def test_masked_loss_ignores_unlabelled_pixels() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 6, 5, generator=g, requires_grad=True)
    labels = torch.zeros(2, 6, 5, dtype=torch.int64)
    labels[0, 1, 2], labels[0, 4, 4], labels[1, 0, 0] = 1, 3, 2
    loss = masked_cross_entropy(logits, labels)
    # independent reference: plain cross-entropy over the three labelled pixels
    picked = torch.stack([logits[0, :, 1, 2], logits[0, :, 4, 4], logits[1, :, 0, 0]])
    assert torch.allclose(loss, F.cross_entropy(picked, torch.tensor([0, 2, 1])))
    loss.backward()
    grad_mask = logits.grad.abs().sum(dim=1) > 0  # type: ignore[union-attr]
    assert torch.equal(grad_mask, labels > 0)
    # anything at unlabelled pixels can change without changing the loss
    other = logits.detach().clone()
    other[labels.unsqueeze(1).expand_as(other) == 0] = 50.0
    assert torch.allclose(masked_cross_entropy(other, labels), loss)


def test_balanced_class_weights_equalise_the_classes_share_of_the_loss() -> None:
    train = np.zeros((10, 20), dtype=np.int64)
    train.flat[:90] = 1
    train.flat[90:130] = 2
    train.flat[130:140] = 4  # class 3 has no training pixel
    counts = np.array([90.0, 40.0, 0.0, 10.0])
    inverse = np.array(balanced_class_weights(train, 4, 1.0))
    assert inverse[2] == 0.0 and np.isclose(inverse[[0, 1, 3]].mean(), 1.0)
    weighted = inverse * counts
    assert np.allclose(weighted[[0, 1, 3]], weighted[0])  # power 1: every class weighs the same in total
    root = np.array(balanced_class_weights(train, 4, 0.5))
    assert np.isclose(root[1] / root[0], 1.5) and np.isclose(root[3] / root[0], 3.0)  # sqrt(90/40), sqrt(90/10)
    assert np.allclose(balanced_class_weights(train, 4, 0.0), [1.0, 1.0, 0.0, 1.0])
    with pytest.raises(ConfigError, match="class-weights"):
        balanced_class_weights(train, 4, -0.5)


def test_masked_loss_without_labels_is_zero_and_differentiable() -> None:
    logits = torch.randn(1, 4, 3, 3, requires_grad=True)
    loss = masked_cross_entropy(logits, torch.zeros(1, 3, 3, dtype=torch.int64))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None


def test_label_smoothing_changes_loss() -> None:
    logits = torch.randn(1, 3, 4, 4)
    labels = torch.ones(1, 4, 4, dtype=torch.int64)
    assert float(masked_cross_entropy(logits, labels, label_smoothing=0.2)) != pytest.approx(
        float(masked_cross_entropy(logits, labels))
    )


def test_class_weights_give_the_weighted_mean_over_labelled_pixels() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 3, 4, 4, generator=g)
    labels = torch.zeros(1, 4, 4, dtype=torch.int64)
    labels[0, 0, 0], labels[0, 1, 1], labels[0, 2, 2] = 1, 1, 3
    w = torch.tensor([0.5, 1.0, 2.0])
    # by hand: sum_i w[y_i] * nll_i / sum_i w[y_i] over the three labelled pixels
    picks = [((0, 0), 0), ((1, 1), 0), ((2, 2), 2)]
    nll = [-torch.log_softmax(logits[0, :, r, c], dim=0)[k] for (r, c), k in picks]
    expected = (0.5 * nll[0] + 0.5 * nll[1] + 2.0 * nll[2]) / (0.5 + 0.5 + 2.0)
    assert torch.allclose(masked_cross_entropy(logits, labels, class_weights=w), expected)
    assert torch.allclose(masked_cross_entropy(logits, labels, class_weights=torch.ones(3)),
                          masked_cross_entropy(logits, labels))


def test_metrics_on_a_hand_made_case() -> None:
    y_true = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0]
    m = classification_metrics(np.array(y_true), np.array(y_pred), 4)
    # confusion rows (reference): [3, 1, 0], [0, 1, 1], [1, 0, 3]; class 3 absent
    assert m["confusion_matrix"] == [[3, 1, 0, 0], [0, 1, 1, 0], [1, 0, 3, 0], [0, 0, 0, 0]]
    assert m["oa"] == pytest.approx(0.7)
    assert m["aa"] == pytest.approx((0.75 + 0.5 + 0.75) / 3)
    assert m["per_class_accuracy"][:3] == pytest.approx([0.75, 0.5, 0.75])
    assert m["per_class_accuracy"][3] is None
    # p_o = 0.7, p_e = (4*4 + 2*2 + 4*4) / 100 = 0.36
    assert m["kappa"] == pytest.approx((0.7 - 0.36) / (1 - 0.36))


def test_validation_aa_averages_over_classes_present_only() -> None:
    """The logged val_aa is the AA of metrics.json: a class that is only predicted does not count."""
    y_true = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = torch.tensor([0, 0, 0, 1, 1, 3, 2, 2, 2, 0])  # class 3 predicted once, never true
    assert float(average_accuracy(y_pred, y_true, 4)) == pytest.approx((0.75 + 0.5 + 0.75) / 3)


def test_metrics_perfect_and_errors() -> None:
    m = classification_metrics([1, 1, 1], [1, 1, 1], 2)
    assert m["oa"] == 1.0 and m["aa"] == 1.0 and m["kappa"] == 1.0
    with pytest.raises(LabelError):
        classification_metrics([0, 1], [0], 2)
    with pytest.raises(LabelError, match="outside"):
        classification_metrics([0, 2], [0, 1], 2)


def test_predict_dense_gives_probabilities_and_is_window_invariant() -> None:
    torch.manual_seed(0)
    net = create_model("test_ssfcn", in_chans=6, num_classes=3)
    x = np.random.default_rng(0).normal(size=(6, 23, 17)).astype(np.float32)
    p = predict_dense(net, x)
    assert p.shape == (3, 23, 17) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(predict_dense(net, x, window=8), p, atol=1e-5)
    assert not net.training


def _synthetic_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """3 classes in vertical bands of a 32x32 scene; 20 noisy bands with class signatures."""
    rng = np.random.default_rng(seed)
    lab = np.ones((32, 32), dtype=np.int64)
    lab[:, 11:21] = 2
    lab[:, 21:] = 3
    signatures = rng.normal(size=(4, 20)).astype(np.float32)
    img = signatures[lab].transpose(2, 0, 1) + rng.normal(scale=0.8, size=(20, 32, 32)).astype(np.float32)
    return img.astype(np.float32), lab


def _sparse(lab: np.ndarray, frac: float, seed: int) -> np.ndarray:
    keep = np.random.default_rng(seed).random(lab.shape) < frac
    return np.where(keep, lab, 0)


def test_fit_dense_learns_a_tiny_scene() -> None:
    img, lab = _synthetic_scene()
    train = _sparse(lab, 0.08, 1)
    val = np.where((_sparse(lab, 0.05, 2) > 0) & (train == 0), lab, 0)
    test = np.where((train == 0) & (val == 0), lab, 0)
    model, hist = fit_dense(
        img, train, val, model_name="test_ssfcn", num_classes=3, epochs=12, tiles_per_epoch=8,
        tile_size=24, batch_size=4, lr=1e-2, seed=0, progress=False, device="cpu",
    )
    assert not model.training
    pred = predict_dense(model, img).argmax(axis=0) + 1
    m = classification_metrics(test[test > 0] - 1, pred[test > 0] - 1, 3)
    assert m["oa"] > 0.95
    assert {"epochs_run", "best_epoch", "best_val_oa", "train_seconds", "epochs"} <= set(hist)
    assert 0 <= hist["best_epoch"] < hist["epochs_run"] <= 12
    best = max(e["val_oa"] for e in hist["epochs"])
    n_val = int((val > 0).sum())
    assert hist["best_val_oa"] == hist["epochs"][hist["best_epoch"]]["val_oa"]
    assert hist["best_val_oa"] >= best - max(1.0, (n_val * best * (1 - best)) ** 0.5) / n_val - 1e-9
    assert [e["epoch"] for e in hist["epochs"]] == list(range(hist["epochs_run"]))
    assert all(e["train_loss"] > 0 for e in hist["epochs"])
    assert not torch.are_deterministic_algorithms_enabled()  # global flag restored


def test_fit_dense_is_seeded_and_works_without_validation() -> None:
    img, lab = _synthetic_scene(1)
    train = _sparse(lab, 0.1, 3)
    kw = dict(model_name="test_cnn3d", num_classes=3, epochs=2, tiles_per_epoch=2, tile_size=16,
              batch_size=2, seed=5, progress=False, device="cpu")
    a, ha = fit_dense(img, train, None, **kw)  # type: ignore[arg-type]
    b, _ = fit_dense(img, train, None, **kw)  # type: ignore[arg-type]
    assert ha["epochs_run"] == 2 and ha["best_val_oa"] is None
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_fit_dense_returns_weight_average_when_asked() -> None:
    img, lab = _synthetic_scene(2)
    train = _sparse(lab, 0.1, 4)
    val = np.where((_sparse(lab, 0.1, 5) > 0) & (train == 0), lab, 0)
    kw = dict(model_name="test_ssfcn", num_classes=3, epochs=3, tiles_per_epoch=2, tile_size=16,
              batch_size=1, seed=0, progress=False, device="cpu")
    raw, _ = fit_dense(img, train, val, **kw)  # type: ignore[arg-type]
    ema, hist = fit_dense(img, train, val, ema_decay=0.5, **kw)  # type: ignore[arg-type]
    assert set(ema.state_dict()) == set(raw.state_dict())
    assert any(not torch.equal(ema.state_dict()[k], raw.state_dict()[k]) for k in raw.state_dict())
    assert hist["epochs_run"] == 3


def test_fit_dense_class_weights_decide_between_identical_spectra() -> None:
    # classes 1 and 3 share one spectrum, so only the loss weights can separate them
    img, lab = _synthetic_scene(3)
    same = np.where(lab == 3, 1, lab)
    signatures = np.random.default_rng(3).normal(size=(4, 20)).astype(np.float32)
    img = (signatures[same].transpose(2, 0, 1) + 0.1 * img).astype(np.float32)
    train = _sparse(lab, 0.2, 6)
    kw = dict(model_name="test_cnn3d", num_classes=3, epochs=4, tiles_per_epoch=4, tile_size=16,
              batch_size=2, lr=1e-2, seed=0, progress=False, device="cpu")
    ambiguous = same == 1
    for weights, winner in (([1.0, 1.0, 20.0], 3), ([20.0, 1.0, 1.0], 1)):
        model, _ = fit_dense(img, train, None, class_weights=weights, **kw)  # type: ignore[arg-type]
        pred = predict_dense(model, img).argmax(axis=0) + 1
        assert (pred[ambiguous] == winner).mean() > 0.9
    with pytest.raises(ConfigError, match="one per class"):
        fit_dense(img, train, None, class_weights=[1.0, 2.0], **kw)  # type: ignore[arg-type]
    plain, _ = fit_dense(img, train, None, **kw)  # type: ignore[arg-type]
    unit, _ = fit_dense(img, train, None, class_weights=[1.0, 1.0, 1.0], **kw)  # type: ignore[arg-type]
    for k, v in plain.state_dict().items():
        assert torch.allclose(v, unit.state_dict()[k])


def test_fit_dense_rejects_bad_labels() -> None:
    img, lab = _synthetic_scene()
    with pytest.raises(LabelError, match="outside"):
        fit_dense(img, lab, None, model_name="test_ssfcn", num_classes=2, epochs=1, progress=False)
    with pytest.raises(LabelError, match="image grid"):
        fit_dense(img, lab[:5], None, model_name="test_ssfcn", num_classes=3, epochs=1, progress=False)


def test_epoch_selection_prefers_later_epochs_within_one_standard_error() -> None:
    from types import SimpleNamespace

    from hsi_app.tasks.classification import _BestState

    net = torch.nn.Linear(2, 2)
    module = SimpleNamespace(val_count=100, eval_model=net)
    cb = _BestState(patience=3)
    # (val OA, val loss) per epoch; one pixel-level standard error at OA 0.96 is ~2 %.
    seq = [(0.90, 1.0), (0.96, 0.8), (0.95, 0.7), (0.93, 0.75), (0.945, 0.71), (0.945, 0.72), (0.945, 0.73)]
    stopped_at = None
    for epoch, (oa, loss) in enumerate(seq):
        with torch.no_grad():
            net.weight.fill_(epoch)
        trainer = SimpleNamespace(
            callback_metrics={"val_oa": torch.tensor(oa), "val_loss": torch.tensor(loss)},
            current_epoch=epoch, sanity_checking=False, should_stop=False,
        )
        cb.on_validation_epoch_end(trainer, module)  # type: ignore[arg-type]
        if trainer.should_stop and stopped_at is None:
            stopped_at = epoch
    assert cb.best == pytest.approx(0.96)
    assert cb.best_epoch == 6 and cb.selected_oa == pytest.approx(0.945)  # 0.945 >= 0.96 - 0.0196, 0.93 is not
    assert cb.state is not None and float(cb.state["weight"][0, 0]) == 6.0
    assert stopped_at == 5  # no OA or loss improvement since epoch 2


def test_an_interrupt_during_training_stays_an_interrupt() -> None:
    """Lightning turns Ctrl-C into sys.exit(1) and ignores SIGINT afterwards; fit_interruptible
    raises KeyboardInterrupt again (the CLI then exits 130) and restores the SIGINT handler."""
    import signal

    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from hsi_app.tasks.classification import fit_interruptible

    class Interrupted(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
            if batch_idx == 2:
                raise KeyboardInterrupt  # what the SIGTERM handler of `hsi` raises mid-epoch
            return (self.w - batch[0]).pow(2).mean()

        def configure_optimizers(self):  # noqa: ANN201
            return torch.optim.SGD(self.parameters(), lr=0.1)

    handler = signal.getsignal(signal.SIGINT)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(KeyboardInterrupt):
        fit_interruptible(trainer, Interrupted(), DataLoader(TensorDataset(torch.ones(8, 1)), batch_size=2))
    assert trainer.interrupted
    assert signal.getsignal(signal.SIGINT) is handler
