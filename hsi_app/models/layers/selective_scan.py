"""Selective state-space scan (the Mamba recurrence) for CPU and CUDA.

The recurrence, per batch row ``b``, inner channel ``d`` and state ``n``::

    dt[b, d, t]   = softplus(delta[b, d, t] + delta_bias[d])        (when delta_softplus)
    h[b, d, t, n] = exp(dt * A[d, n]) * h[b, d, t-1, n] + dt * B[b, n, t] * u[b, d, t]
    y[b, d, t]    = sum_n C[b, n, t] * h[b, d, t, n] + D[d] * u[b, d, t]
    y             = y * silu(z)                                       (when z is given)

:func:`selective_scan` takes the argument layout of ``mamba_ssm``'s
``selective_scan_fn`` and dispatches to it for CUDA tensors when ``mamba_ssm`` can be
imported; otherwise it runs :func:`selective_scan_parallel`, a pure-PyTorch
Hillis-Steele scan (``ceil(log2 T)`` vectorised steps, every step a product of decays
``<= 1``, so it is numerically stable for any length). :func:`selective_scan_ref` is
the step-by-step reference the parallel scan is tested against. All three take the
same tensors, so one set of model parameters serves both devices.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial

import torch
import torch.nn.functional as F


KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)  # what mamba_ssm's kernel computes in


@lru_cache(maxsize=1)
def _cuda_scan_import() -> tuple[Callable[..., torch.Tensor] | None, str]:
    """``(mamba_ssm's fused kernel, "")``, or ``(None, why it cannot be imported)``."""
    try:  # optional extra [cuda]; never required on CPU
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as err:  # noqa: BLE001  (ImportError, or a broken CUDA build: ABI, glibc)
        return None, f"{type(err).__name__}: {err}".splitlines()[0]
    return selective_scan_fn, ""


def _cuda_scan_fn() -> Callable[..., torch.Tensor] | None:
    """``mamba_ssm``'s fused kernel, or None when the package is not installed/importable."""
    return _cuda_scan_import()[0]


def cuda_kernel_error() -> str:
    """Why ``mamba_ssm``'s kernel cannot be imported (``""`` when it can)."""
    return _cuda_scan_import()[1]


def cuda_kernel_available() -> bool:
    """True when ``mamba_ssm``'s CUDA selective scan can be used."""
    return _cuda_scan_fn() is not None and torch.cuda.is_available()


def kernel_arguments(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
) -> tuple[torch.Tensor | None, ...] | None:
    """The arguments as ``mamba_ssm``'s kernel checks them, or None when it cannot take them.

    The kernel wants ``u``, ``delta``, ``B``, ``C`` and ``z`` in one input dtype (float32,
    float16 or bfloat16) with a unit last stride, and ``A``, ``D``, ``delta_bias`` in float32.
    Under autocast the block's convolution (float32 bias) and its matmuls (half) give mixed
    dtypes, so all inputs are brought to the widest of theirs. Float64 inputs (the kernel has
    no double version) return None: the portable scan takes them.

    Args:
        u, delta, z: ``(batch, inner, length)``; A: ``(inner, state)``;
        B, C: ``(batch, state, length)``; D, delta_bias: ``(inner,)`` (D, z, delta_bias may be None).

    Returns:
        ``(u, delta, A, B, C, D, z, delta_bias)`` or None.
    """
    dtype = u.dtype
    for t in (delta, B, C, z):
        if t is not None:
            dtype = torch.promote_types(dtype, t.dtype)
    if dtype not in KERNEL_DTYPES:
        return None

    def inp(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.to(dtype).contiguous()

    def f32(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.float().contiguous()

    return inp(u), inp(delta), f32(A), inp(B), inp(C), f32(D), inp(z), f32(delta_bias)


def _discretise(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decays ``a = exp(dt A)`` and inputs ``b = dt B u``, both time-major ``(T, b, d, n)``."""
    dt = delta if delta_bias is None else delta + delta_bias[None, :, None]
    if delta_softplus:
        dt = F.softplus(dt)
    dt_t = dt.permute(2, 0, 1).unsqueeze(-1)  # (T, b, d, 1)
    a = torch.exp(dt_t * A)
    b = (dt_t * u.permute(2, 0, 1).unsqueeze(-1)) * B.permute(2, 0, 1).unsqueeze(2)
    return a, b


def _readout(
    h: torch.Tensor, u: torch.Tensor, C: torch.Tensor, D: torch.Tensor | None, z: torch.Tensor | None
) -> torch.Tensor:
    """``y = <h, C> + D u`` (times ``silu(z)``) from time-major states ``h (T, b, d, n)``: ``(b, d, T)``."""
    y = torch.einsum("tbdn,bnt->bdt", h, C)
    if D is not None:
        y = y + D[None, :, None] * u
    if z is not None:
        y = y * F.silu(z)
    return y


def _hillis_steele(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """States of ``h_t = a_t h_{t-1} + b_t`` along dim 0 in ``ceil(log2 T)`` vectorised steps.

    Time-major, so every step works on contiguous slabs; two ping-pong buffers, no autograd.
    """
    t = a.shape[0]
    b, b_next = b.clone(), torch.empty_like(b)
    a, a_next = a.clone(), torch.empty_like(a)
    step = 1
    while step < t:
        b_next[:step] = b[:step]
        torch.addcmul(b[step:], a[step:], b[:-step], out=b_next[step:])
        b, b_next = b_next, b
        if 2 * step < t:  # the last step's decays are not needed
            a_next[:step] = a[:step]
            torch.mul(a[step:], a[:-step], out=a_next[step:])
            a, a_next = a_next, a
        step *= 2
    return b


class _LinearRecurrence(torch.autograd.Function):
    """Parallel scan with an analytic backward pass (itself a reversed parallel scan).

    With upstream gradients ``g_t = dL/dh_t`` the adjoint ``lam_t = g_t + a_{t+1} lam_{t+1}``
    gives ``dL/db_t = lam_t`` and ``dL/da_t = lam_t h_{t-1}``, so only ``a`` and ``h`` are
    kept for the backward pass, not the scan's intermediate steps.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h = _hillis_steele(a, b)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, h = ctx.saved_tensors
        a_rev = torch.empty_like(a)  # a_rev[s] = a[T - s] (the decay one step later), a_rev[0] unused
        a_rev[0] = 0.0
        a_rev[1:] = a[1:].flip(0)
        lam = _hillis_steele(a_rev, g.flip(0)).flip(0)
        grad_a = torch.empty_like(a)
        grad_a[0] = 0.0
        torch.mul(lam[1:], h[:-1], out=grad_a[1:])
        return grad_a, lam


def linear_recurrence_parallel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t`` (``h_{-1} = 0``) by a Hillis-Steele scan.

    Step ``k`` composes every element with the one ``2**k`` positions earlier, so after
    ``ceil(log2 T)`` steps position ``t`` holds the composition of elements ``0..t``.
    Differentiable; the backward pass is the reversed scan (see :class:`_LinearRecurrence`).

    Args:
        a: ``(T, ...)`` decays (time-major).
        b: ``(T, ...)`` inputs.

    Returns:
        ``(T, ...)`` states ``h``.
    """
    return _LinearRecurrence.apply(a, b)


def linear_recurrence_sequential(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t`` (``h_{-1} = 0``), one time step per iteration.

    The slow reference :func:`linear_recurrence_parallel` is tested against.

    Args:
        a: ``(T, ...)`` decays (time-major).
        b: ``(T, ...)`` inputs.

    Returns:
        ``(T, ...)`` states ``h``.
    """
    h = torch.zeros_like(b[0])
    states = []
    for t in range(a.shape[0]):
        h = a[t] * h + b[t]
        states.append(h)
    return torch.stack(states)


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    *,
    use_cuda_kernel: bool = True,
    recurrence: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = linear_recurrence_parallel,
) -> torch.Tensor:
    """Selective scan on the best available path.

    CUDA tensors go through ``mamba_ssm.selective_scan_fn`` when it is importable (and
    ``use_cuda_kernel``), their dtypes made the kernel's (:func:`kernel_arguments`);
    everything else (CPU, float64) through the portable pure-PyTorch scan, whose states
    ``recurrence`` computes.

    Args:
        u: ``(b, d, T)`` inputs.
        delta: ``(b, d, T)`` step sizes (before bias/softplus).
        A: ``(d, n)`` state matrix (negative for a stable system).
        B: ``(b, n, T)`` input projections.
        C: ``(b, n, T)`` output projections.
        D: ``(d,)`` skip weights, or None.
        z: ``(b, d, T)`` gate, or None.
        delta_bias: ``(d,)`` added to ``delta``, or None.
        delta_softplus: apply softplus to ``delta``.
        use_cuda_kernel: allow ``mamba_ssm``'s kernel for CUDA tensors.
        recurrence: the portable path's state recurrence, ``(a, b) (T, b, d, n) -> h (T, b, d, n)``:
            :func:`linear_recurrence_parallel` (parallel over the sequence) or
            :func:`linear_recurrence_sequential` (the step-by-step reference).

    Returns:
        ``(b, d, T)`` outputs ``y``.
    """
    fn = _cuda_scan_fn() if use_cuda_kernel and u.is_cuda else None
    args = kernel_arguments(u, delta, A, B, C, D, z, delta_bias) if fn is not None else None
    if fn is not None and args is not None:
        return fn(*args, delta_softplus)
    a, b = _discretise(u, delta, A, B, delta_bias, delta_softplus)
    return _readout(recurrence(a, b), u, C, D, z)


#: Pure-PyTorch selective scan, parallel over the sequence, on any device (arguments as
#: :func:`selective_scan`).
selective_scan_parallel = partial(selective_scan, use_cuda_kernel=False)

#: Sequential reference of :func:`selective_scan_parallel` (one time step per iteration);
#: same arguments and result, slow, for tests.
selective_scan_ref = partial(selective_scan, use_cuda_kernel=False, recurrence=linear_recurrence_sequential)
