"""Device check for the CUDA paths: selective scans, spectral_mamba on both scan paths, GPU training.

Prepared so that a session with a GPU can run it as one command and read one report::

    .venv/bin/python benchmarks/check_cuda.py [--device cuda] [--steps 5] [--side 145] [--json OUT]

It prints four tables and exits 1 when any agreement check fails:

1. **Environment**: torch, the device, whether ``mamba_ssm``'s fused scan imports.
2. **Scans**: every available scan path on ``--device`` against the sequential reference
   :func:`~hsi_app.models.layers.selective_scan.selective_scan_ref` in float64 on the CPU,
   for sequence lengths 5 (spectral_mamba's token count), 64 and 224 (one token per EnMAP
   band): the largest output error and the largest gradient error (over ``u``, ``delta``,
   ``A``, ``B``, ``C``, ``D``, ``z`` and ``delta_bias``), both relative to the reference's
   largest magnitude.
3. **One state dict, every path**: ``--steps`` AdamW steps of spectral_mamba on the device
   (on the fused kernel where it imports), its state dict written to safetensors and read
   into a CPU copy; the logits of one ``--side`` x ``--side`` tile on each path against the
   CPU's, and how many pixels keep their class.
4. **Training-step time** per path on that tile (forward, cross-entropy on every pixel,
   backward, AdamW), median of ``--steps`` after one untimed step, with the ratio to the
   CPU's, measured in this run, and the peak GPU memory of the steps.

``mamba_ssm`` is the optional extra ``pip install -e .[cuda]``; it compiles or fetches its
kernels at install time, so on a machine without network install a wheel built elsewhere
first. Without it the kernel rows say "not available" and the portable path is still checked
on the GPU. Without CUDA everything runs on the CPU and the agreement checks still run
(``tests/benchmarks/test_check_cuda.py`` does this).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from hsi_app.models import create_model
from hsi_app.models.layers import mamba_block
from hsi_app.models.layers.selective_scan import (
    _cuda_scan_fn,
    selective_scan,
    selective_scan_parallel,
    selective_scan_ref,
)

BANDS, CLASSES = 200, 16
SCAN_LENGTHS = (5, 64, 224)
SCAN_TOL = 1e-4  # relative to the reference's largest |value|; float32 paths land near 1e-6
LOGIT_TOL = 1e-3
ScanFn = Callable[..., torch.Tensor]


@dataclass
class Agreement:
    """One comparison against a reference: relative errors and whether they pass."""

    what: str
    path: str
    out_err: float
    grad_err: float
    ok: bool


def scan_inputs(length: int, *, batch: int = 3, inner: int = 16, state: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random float64 CPU arguments of a selective scan (``mamba_ssm`` layout), like a Mamba block's.

    Shapes: ``u, delta, z (batch, inner, length)``, ``A (inner, state)``,
    ``B, C (batch, state, length)``, ``D, delta_bias (inner,)``.
    """
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    return {
        "u": rnd(batch, inner, length), "delta": rnd(batch, inner, length, scale=0.5),
        "A": -torch.exp(rnd(inner, state, scale=0.5)), "B": rnd(batch, state, length),
        "C": rnd(batch, state, length), "D": rnd(inner), "z": rnd(batch, inner, length),
        "delta_bias": rnd(inner, scale=0.5) - 2.0,
    }


def run_scan(fn: ScanFn, args: dict[str, torch.Tensor], device: torch.device,
              dtype: torch.dtype) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Output and gradients (of ``sum(y * w)`` for a fixed ``w``) of ``fn``, returned as float64 CPU tensors."""
    leaves = {k: v.detach().to(device=device, dtype=dtype).clone().requires_grad_(True) for k, v in args.items()}
    y = fn(**leaves, delta_softplus=True)
    w = torch.linspace(-1.0, 1.0, y.numel(), dtype=torch.float64).reshape(y.shape)
    (y * w.to(device=device, dtype=y.dtype)).sum().backward()
    grads = {k: torch.zeros_like(v) if v.grad is None else v.grad for k, v in leaves.items()}  # None: unused
    grads = {k: v.detach().to("cpu", torch.float64) for k, v in grads.items()}
    return y.detach().to("cpu", torch.float64), grads


def relative_error(a: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest |a - ref| over the largest |ref|."""
    return float((a - ref).abs().max() / ref.abs().max().clamp_min(1e-12))


def compare_scan(fn: ScanFn, path: str, length: int, device: torch.device, tol: float = SCAN_TOL) -> Agreement:
    """``fn`` in float32 on ``device`` against :func:`selective_scan_ref` in float64 on the CPU."""
    args = scan_inputs(length)
    y_ref, g_ref = run_scan(selective_scan_ref, args, torch.device("cpu"), torch.float64)
    y, g = run_scan(fn, args, device, torch.float32)
    out_err = relative_error(y, y_ref)
    grad_err = max(relative_error(g[k], g_ref[k]) for k in g_ref)
    return Agreement(f"scan, T={length}", path, out_err, grad_err, out_err < tol and grad_err < tol)


def scan_paths(device: torch.device) -> dict[str, ScanFn]:
    """The scan implementations available on ``device``: the portable one, and the fused kernel on CUDA."""
    paths: dict[str, ScanFn] = {f"parallel ({device.type})": selective_scan_parallel}
    if device.type == "cuda" and _cuda_scan_fn() is not None:
        paths[f"mamba_ssm kernel ({device.type})"] = partial(selective_scan, use_cuda_kernel=True)
    return paths


@contextmanager
def portable_scan() -> Iterator[None]:
    """Inside the block, Mamba blocks use the pure-PyTorch scan even where the fused kernel imports."""
    with mock.patch.object(mamba_block, "selective_scan", partial(selective_scan, use_cuda_kernel=False)):
        yield


@contextmanager
def _no_patch() -> Iterator[None]:
    """The scan as dispatched: the fused kernel for CUDA tensors where it imports."""
    yield


@dataclass
class StepTime:
    """Training-step cost of one path: median seconds, and peak GPU memory (None on the CPU)."""

    path: str
    seconds: float
    peak_gpu_mib: float | None


def _train_steps(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, path: str) -> StepTime:
    """Median of ``steps`` AdamW steps after one untimed step (synchronised on CUDA)."""
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    if x.is_cuda:
        torch.cuda.reset_peak_memory_stats(x.device)
    net.train()
    times = []
    for i in range(steps + 1):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        sync()
        if i:
            times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(x.device) / 2**20 if x.is_cuda else None
    return StepTime(path, statistics.median(times), peak)


def model_paths(device: torch.device, side: int, steps: int,
                kernel_ok: bool) -> tuple[list[Agreement], list[StepTime]]:
    """Train spectral_mamba on ``device``, then score and time the same weights on every path.

    Returns the logit agreements (against the CPU copy loaded from safetensors) and the
    training-step cost per path.
    """
    torch.manual_seed(0)
    x_cpu = torch.randn(1, BANDS, side, side)
    y_cpu = torch.randint(0, CLASSES, (1, side, side))
    net = create_model("spectral_mamba", in_chans=BANDS, num_classes=CLASSES).to(device)
    x, y = x_cpu.to(device), y_cpu.to(device)
    times: list[StepTime] = []
    paths = [("portable", portable_scan)] + ([("kernel", _no_patch)] if kernel_ok else [])
    for name, ctx in reversed(paths):  # train on the kernel when there is one
        with ctx():
            times.append(_train_steps(net, x, y, steps, f"{name} ({device.type})"))
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "spectral_mamba.safetensors"
        save_file({k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}, str(file))
        cpu = create_model("spectral_mamba", in_chans=BANDS, num_classes=CLASSES)
        cpu.load_state_dict(load_file(str(file)))
    cpu.eval()
    net.eval()
    with torch.no_grad():
        ref = cpu(x_cpu)
        found = []
        for name, ctx in paths:
            with ctx():
                logits = net(x).cpu()
            same = float((logits.argmax(1) == ref.argmax(1)).float().mean())
            err = relative_error(logits.double(), ref.double())
            found.append(Agreement(f"spectral_mamba logits, {side}x{side} px ({same:.2%} same class)",
                                   f"{name} ({device.type})", err, float("nan"), err < LOGIT_TOL))
    if device.type != "cpu":
        times.insert(0, _train_steps(cpu, x_cpu, y_cpu, steps, "portable (cpu)"))
    return found, times


def run(device: torch.device, side: int, steps: int) -> tuple[dict[str, object], list[Agreement], list[StepTime]]:
    """All checks on ``device``: (environment, agreements, training-step cost per path)."""
    kernel_ok = device.type == "cuda" and _cuda_scan_fn() is not None
    # TF32 convolutions and matmuls (cuDNN's default on Ampere and later) differ from float32
    # by ~1e-3 and would hide or fake a scan error: compare and time in full float32.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    env = {"torch": torch.__version__, "device": str(device),
           "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "mamba_ssm": _cuda_scan_fn() is not None, "threads": torch.get_num_threads()}
    checks = []
    for path, fn in scan_paths(device).items():
        checks += [compare_scan(fn, path, n, device) for n in SCAN_LENGTHS]
    model_checks, times = model_paths(device, side, steps, kernel_ok)
    return env, checks + model_checks, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--side", type=int, default=145, help="Tile side in pixels (145 = Indian Pines).")
    parser.add_argument("--steps", type=int, default=5, help="Timed training steps per path (median).")
    parser.add_argument("--json", default=None, help="Also write the report to this JSON file.")
    args = parser.parse_args(argv)
    env, checks, times = run(torch.device(args.device), args.side, args.steps)
    print("| " + " | ".join(f"{k}: {v}" for k, v in env.items()) + " |")
    kernel_rows = "" if env["mamba_ssm"] and args.device.startswith("cuda") else " (mamba_ssm kernel: not available)"
    print(f"\n| check{kernel_rows} | path | output rel. error | gradient rel. error | pass |")
    print("|---|---|---:|---:|---|")
    for c in checks:
        grad = "–" if c.grad_err != c.grad_err else f"{c.grad_err:.2e}"  # NaN: no gradient compared
        print(f"| {c.what} | {c.path} | {c.out_err:.2e} | {grad} | {'yes' if c.ok else '**NO**'} |")
    base = times[0].seconds
    print("\n| training step | s (median) | ratio to first row | peak GPU MiB |")
    print("|---|---:|---:|---:|")
    for t in times:
        peak = "–" if t.peak_gpu_mib is None else f"{t.peak_gpu_mib:,.0f}"
        print(f"| {t.path} | {t.seconds:.3f} | {t.seconds / base:.2f} | {peak} |")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"env": env, "checks": [asdict(c) | {"grad_err": None if c.grad_err != c.grad_err else c.grad_err}
                                    for c in checks], "steps": [asdict(t) for t in times]}, indent=1))
    failed = [c for c in checks if not c.ok]
    if failed:
        print(f"FAILED: {len(failed)} check(s) above the tolerance", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
