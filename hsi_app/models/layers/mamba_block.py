"""A Mamba (selective state-space) block over short token sequences.

Parameter names and shapes follow ``mamba_ssm.modules.mamba_simple.Mamba``
(``in_proj``, ``conv1d``, ``x_proj``, ``dt_proj``, ``A_log``, ``D``, ``out_proj``), and the
scan goes through :func:`~hsi_app.models.layers.selective_scan.selective_scan`, so the
same state dict runs on the fused CUDA kernel and on the pure-PyTorch CPU scan.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from hsi_app.errors import ConfigError
from hsi_app.models.layers.selective_scan import selective_scan


class MambaBlock(nn.Module):
    """Pre-norm residual Mamba block: ``x + out_proj(ssm(conv(in_x)) * silu(z))``.

    Args:
        dim: token width ``D``.
        d_state: SSM state size ``N``.
        expand: inner width factor (``E = expand * D``).
        d_conv: causal depthwise conv length along the sequence.
        dt_rank: rank of the step-size projection (default ``ceil(D / 16)``).
        dt_min, dt_max: range of the initial step sizes.
        checkpoint_scan: recompute the scan in the backward pass instead of storing its
            ``(L, E, T, N)`` states (trades compute for memory when training on big tiles).

    Shapes:
        ``(L, T, D) -> (L, T, D)``: ``L`` independent sequences of ``T`` tokens.

    ``dt_proj`` is never called: its weight and bias are read directly (the bias enters the
    scan as ``delta_bias``), so a wrapper of that module (a LoRA adapter) does not act.
    """

    def __init__(
        self,
        dim: int,
        *,
        d_state: int = 4,
        expand: float = 2.0,
        d_conv: int = 3,
        dt_rank: int | None = None,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        checkpoint_scan: bool = False,
    ) -> None:
        super().__init__()
        if dim < 1 or d_state < 1 or d_conv < 1 or expand <= 0:
            raise ConfigError(
                f"MambaBlock: dim={dim}, d_state={d_state}, d_conv={d_conv}, expand={expand}; all must be positive"
            )
        inner = max(1, int(round(expand * dim)))
        self.inner, self.d_state = inner, d_state
        self.dt_rank = dt_rank or math.ceil(dim / 16)
        self.checkpoint_scan = checkpoint_scan
        self.norm = nn.LayerNorm(dim)
        self.in_proj = nn.Linear(dim, 2 * inner)
        self.conv1d = nn.Conv1d(inner, inner, d_conv, groups=inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, inner)
        self.out_proj = nn.Linear(inner, dim)
        # S4D-real initialisation of A and log-uniform initial step sizes, as in Mamba.
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(inner, 1))
        self.D = nn.Parameter(torch.ones(inner))
        with torch.no_grad():
            dt = torch.exp(torch.rand(inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def _scan(self, u: torch.Tensor, delta: torch.Tensor, bc: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        n = self.d_state
        b_mat, c_mat = bc[:, :n], bc[:, n:]
        return selective_scan(
            u, delta, -torch.exp(self.A_log.float()), b_mat, c_mat, self.D.float(), z,
            delta_bias=self.dt_proj.bias.float(), delta_softplus=True,
        )

    def _causal_conv(self, u: torch.Tensor) -> torch.Tensor:
        """``conv1d(u)[..., :T]`` (causal depthwise conv along the tokens) as a few shifted
        multiply-adds, which on CPU is much faster than a grouped Conv1d over many short
        sequences. ``(L, E, T) -> (L, E, T)``."""
        t = u.shape[-1]
        w = self.conv1d.weight[:, 0]  # (E, k); tap k looks back k_max - k steps
        k_max = w.shape[1] - 1
        out = self.conv1d.bias[:, None] + w[:, k_max, None] * u
        for k in range(k_max):
            lag = k_max - k
            if lag < t:
                out = out + F.pad(w[:, k, None] * u[..., : t - lag], (lag, 0))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (L, T, D)`` -> ``(L, T, D)``."""
        xz = self.in_proj(self.norm(x)).transpose(1, 2)  # (L, 2E, T)
        u, z = xz.chunk(2, dim=1)
        u = F.silu(self._causal_conv(u))
        dbc = self.x_proj(u.transpose(1, 2))  # (L, T, R + 2N)
        dt_low, bc = dbc.split([self.dt_rank, 2 * self.d_state], dim=-1)
        delta = (dt_low @ self.dt_proj.weight.t()).transpose(1, 2)  # (L, E, T); bias added in the scan
        bc = bc.transpose(1, 2).contiguous()  # (L, 2N, T)
        if self.checkpoint_scan and torch.is_grad_enabled() and not u.is_cuda:
            y = checkpoint(self._scan, u, delta, bc, z, use_reentrant=False)
        else:
            y = self._scan(u, delta, bc, z)
        return x + self.out_proj(y.transpose(1, 2))
