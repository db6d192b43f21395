"""The CUDA-kernel branch of the selective scan, driven on the CPU with a stand-in for mamba_ssm's kernel.

The stand-in applies the dtype, shape and stride checks of mamba_ssm's ``selective_scan.cpp``
and computes with the sequential reference, so the arguments this package passes are checked
without a GPU; only the device itself cannot be emulated.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest
import torch

from hsi_app.models.layers import selective_scan as scan
from hsi_app.models.layers.selective_scan import kernel_arguments, selective_scan, selective_scan_ref


class _LooksCuda(torch.Tensor):
    """A CPU tensor that reports ``is_cuda``, so the dispatch takes the kernel branch."""

    @property
    def is_cuda(self) -> bool:  # type: ignore[override]
        return True


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise RuntimeError(f"kernel check failed: {msg}")


def _fake_kernel(calls: list[torch.dtype]):  # noqa: ANN202
    """``selective_scan_fn`` with the kernel's argument checks, computing the reference."""

    def fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):  # noqa: ANN001, ANN202
        u, delta, A, B, C, D, z, delta_bias = (None if t is None else t.as_subclass(torch.Tensor)
                                               for t in (u, delta, A, B, C, D, z, delta_bias))
        it = u.dtype
        _check(it in (torch.float32, torch.float16, torch.bfloat16), f"input type {it}")
        _check(A.dtype == torch.float32, f"weight type {A.dtype}")
        for name, t in (("delta", delta), ("B", B), ("C", C), ("z", z)):
            if t is not None:
                _check(t.dtype == it, f"{name} dtype {t.dtype} != u dtype {it}")
                _check(t.stride(-1) == 1, f"{name}.stride(-1) != 1")
        for name, t in (("D", D), ("delta_bias", delta_bias)):
            if t is not None:
                _check(t.dtype == torch.float32, f"{name} dtype {t.dtype}")
        calls.append(it)
        f32 = [None if t is None else t.float() for t in (u, delta, A, B, C, D, z, delta_bias)]
        return selective_scan_ref(*f32, delta_softplus).to(it)  # the kernel computes in float32 too

    return fn


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[torch.dtype]]:
    calls: list[torch.dtype] = []
    monkeypatch.setattr(scan, "_cuda_scan_fn", lambda: _fake_kernel(calls))
    yield calls


def _inputs(dtype: torch.dtype = torch.float32, length: int = 7) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    b, d, n = 2, 4, 3

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(dtype)

    return {"u": r(b, d, length), "delta": r(b, d, length), "A": -torch.rand(d, n, generator=g),
            "B": r(b, n, length), "C": r(b, n, length), "D": torch.randn(d, generator=g),
            "z": r(b, d, length), "delta_bias": torch.randn(d, generator=g)}


def test_autocast_style_mixed_dtypes_reach_the_kernel_in_one_dtype(kernel: list[torch.dtype]) -> None:
    """The block's conv gives float32 ``u`` while its matmuls give bfloat16 ``delta``, ``B``, ``C``, ``z``."""
    x = _inputs()
    mixed = {**x, **{k: x[k].bfloat16() for k in ("delta", "B", "C", "z")}}
    mixed["u"] = mixed["u"].as_subclass(_LooksCuda)
    y = selective_scan(**mixed, delta_softplus=True)
    assert kernel == [torch.float32]
    portable = scan.selective_scan_parallel(**{k: v.as_subclass(torch.Tensor).float() for k, v in mixed.items()},
                                            delta_softplus=True)
    torch.testing.assert_close(y.as_subclass(torch.Tensor), portable, rtol=1e-5, atol=1e-5)


def test_half_inputs_keep_their_dtype_and_weights_are_float32(kernel: list[torch.dtype]) -> None:
    x = {k: (v.bfloat16() if k in ("u", "delta", "B", "C", "z", "A", "D") else v) for k, v in _inputs().items()}
    x["u"] = x["u"].as_subclass(_LooksCuda)
    selective_scan(**x, delta_softplus=True)
    assert kernel == [torch.bfloat16]


def test_gradients_reach_every_argument_through_the_kernel_branch(kernel: list[torch.dtype]) -> None:
    x = {k: v.clone().requires_grad_(True) for k, v in _inputs().items()}
    args = {**x, "u": x["u"].as_subclass(_LooksCuda)}
    selective_scan(**args, delta_softplus=True).sum().backward()
    assert kernel == [torch.float32]
    assert all(v.grad is not None and torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0 for v in x.values())


def test_float64_and_non_contiguous_inputs(kernel: list[torch.dtype]) -> None:
    x = _inputs(torch.float64)
    assert kernel_arguments(*(x[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias"))) is None
    selective_scan(**{**x, "u": x["u"].as_subclass(_LooksCuda)}, delta_softplus=True)
    assert kernel == []  # the kernel has no double version: the portable scan ran
    y = _inputs(length=6)
    strided_b = torch.randn(2, 3, 12)[..., ::2]  # last stride 2
    args = kernel_arguments(y["u"], y["delta"], y["A"], strided_b, y["C"], None, None, None)
    assert args is not None and args[3].stride(-1) == 1 and torch.equal(args[3], strided_b)
    assert args[5] is None and args[6] is None and args[7] is None


def test_a_broken_mamba_install_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """An import that fails (ABI, glibc) is kept as one line, not swallowed."""
    broken = types.ModuleType("mamba_ssm.ops.selective_scan_interface")

    def __getattr__(name: str) -> None:
        raise ImportError("selective_scan_cuda.so: undefined symbol: _ZN3c104cuda")

    broken.__getattr__ = __getattr__  # type: ignore[method-assign]
    for name in ("mamba_ssm", "mamba_ssm.ops"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "mamba_ssm.ops.selective_scan_interface", broken)
    scan._cuda_scan_import.cache_clear()
    try:
        assert scan._cuda_scan_fn() is None and not scan.cuda_kernel_available()
        assert scan.cuda_kernel_error() == "ImportError: selective_scan_cuda.so: undefined symbol: _ZN3c104cuda"
    finally:
        scan._cuda_scan_import.cache_clear()
