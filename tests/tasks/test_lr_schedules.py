"""Learning-rate schedules: cosine warm-up/decay, cosine with warm restarts, triangular cycles."""

from __future__ import annotations

import pytest
import torch

from hsi_app.errors import ConfigError
from hsi_app.tasks.lr_schedules import build_scheduler


def lrs(name: str, total: int, **kw: object) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1.0)
    sched = build_scheduler(opt, name, total, **kw)  # type: ignore[arg-type]
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_cosine_warms_up_then_decays_to_zero() -> None:
    lr = lrs("cosine", 100, warmup_frac=0.1)
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lr[9:], lr[10:]))  # monotone decay after warm-up
    assert lr[-1] < 0.01


def test_cyclic_cosine_restarts_at_the_peak() -> None:
    lr = lrs("cyclic-cosine", 40, cycles=4)  # period 10
    for start in (0, 10, 20, 30):
        assert lr[start] == pytest.approx(1.0)  # warm restart back to the max
        assert lr[start + 5] == pytest.approx(0.01 + 0.99 * 0.5)  # cosine midpoint
        assert lr[start + 9] < 0.05
    assert min(lr) >= 0.01 - 1e-12


def test_triangular_rises_and_falls_linearly() -> None:
    lr = lrs("triangular", 40, cycles=4)  # period 10: 5 up, 5 down
    expected_cycle = [0.01 + 0.99 * t / 5 for t in range(6)] + [0.01 + 0.99 * (5 - t) / 5 for t in range(1, 5)]
    for start in (0, 10, 20, 30):
        assert lr[start : start + 10] == pytest.approx(expected_cycle)


def test_unknown_schedule_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cyclic-cosine"):
        lrs("step", 10)


def test_dense_classifier_uses_the_schedule() -> None:
    from hsi_app.tasks.classification import DenseClassifier

    mod = DenseClassifier("test_ssfcn", in_chans=4, num_classes=2, total_steps=20, schedule="cyclic-cosine")
    sched = mod.configure_optimizers()["lr_scheduler"]["scheduler"]
    assert isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingWarmRestarts)
    assert isinstance(DenseClassifier("test_ssfcn", in_chans=4, num_classes=2, schedule="triangular")
                      .configure_optimizers()["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.CyclicLR)
    with pytest.raises(ConfigError):
        DenseClassifier("test_ssfcn", in_chans=4, num_classes=2, schedule="nope")
