"""Device check for the CUDA paths: selective scans, spectral_mamba on both scan paths, GPU training.

Prepared so that a session with a GPU can run it as one command and read one report::

    python3 benchmarks/check_cuda.py [--device cuda] [--require-kernel] [--steps 5] [--side 145] [--json OUT]

It needs only torch, numpy, safetensors and tqdm (the repository root is put on ``sys.path``),
so it runs with a GPU machine's own Python without installing hsi_app there;
``benchmarks/device_check.sh`` is the whole bounded device run. Each row is printed, and the
JSON rewritten, as soon as it is measured, so a crash keeps what came before it; a check that
raises is a failed row with its error. It exits 1 when any agreement check fails, and 2 with
one line when ``--device cuda`` has no GPU or ``--require-kernel`` has no ``mamba_ssm`` kernel
(the import error is in the line). The tables:

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

``mamba_ssm`` is the optional extra ``[cuda]``. PyPI has only its source, whose build needs
torch and nvcc: ``pip install --no-build-isolation -e ".[cuda]"`` in an environment that has
torch (``benchmarks/device_check.sh`` builds it for sm_90 on the GPU machine from a carried
sdist). Without it the kernel rows say "not available" and the portable path is still checked
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

if __package__ in (None, "") and str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # hsi_app from this checkout, uninstalled

from hsi_app.models import create_model  # noqa: E402
from hsi_app.models.layers import mamba_block  # noqa: E402
from hsi_app.models.layers.selective_scan import (  # noqa: E402
    _cuda_scan_fn,
    cuda_kernel_error,
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
    error: str = ""  # the exception, when the check raised instead of measuring


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


def environment(device: torch.device) -> dict[str, object]:
    """Versions and the device: what a reader needs to trust (or doubt) the rows below."""
    env: dict[str, object] = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "device": str(device),
                              "device_name": "cpu", "threads": torch.get_num_threads()}
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
        env["capability"] = "sm_%d%d" % torch.cuda.get_device_capability(device)
    env["mamba_ssm"] = _cuda_scan_fn() is not None
    if env["mamba_ssm"]:
        import mamba_ssm

        env["mamba_ssm_version"] = getattr(mamba_ssm, "__version__", "?")
    else:
        env["mamba_ssm_error"] = cuda_kernel_error()
    return env


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".splitlines()[0][:300]


class Report:
    """Prints each row as it is measured and rewrites the JSON after it (a crash keeps the rest)."""

    def __init__(self, json_path: str | None) -> None:
        self.path = Path(json_path) if json_path else None
        self.env: dict[str, object] = {}
        self.checks: list[Agreement] = []
        self.steps: list[StepTime] = []

    def save(self) -> None:
        if self.path is None:
            return
        checks = [asdict(c) | {k: None if getattr(c, k) != getattr(c, k) else getattr(c, k)  # NaN -> null
                               for k in ("out_err", "grad_err")} for c in self.checks]
        self.path.write_text(json.dumps({"env": self.env, "checks": checks,
                                         "steps": [asdict(t) for t in self.steps]}, indent=1))

    def set_env(self, env: dict[str, object]) -> None:
        self.env = env
        print("| " + " | ".join(f"{k}: {v}" for k, v in env.items()) + " |", flush=True)
        self.save()

    def add_check(self, c: Agreement) -> None:
        if not self.checks:
            kernel = "" if self.env.get("mamba_ssm") and str(self.env.get("device", "")).startswith("cuda") \
                else " (mamba_ssm kernel: not available)"
            print(f"\n| check{kernel} | path | output rel. error | gradient rel. error | pass |\n|---|---|---:|---:|---|")
        self.checks.append(c)
        out = "–" if c.out_err != c.out_err else f"{c.out_err:.2e}"
        grad = "–" if c.grad_err != c.grad_err else f"{c.grad_err:.2e}"  # NaN: not compared
        verdict = "yes" if c.ok else (f"**NO**: {c.error}" if c.error else "**NO**")
        print(f"| {c.what} | {c.path} | {out} | {grad} | {verdict} |", flush=True)
        self.save()

    def add_steps(self, times: list[StepTime]) -> None:
        self.steps += times
        if not self.steps:
            return
        base = self.steps[0].seconds
        print("\n| training step | s (median) | ratio to first row | peak GPU MiB |\n|---|---:|---:|---:|")
        for t in self.steps:
            peak = "–" if t.peak_gpu_mib is None else f"{t.peak_gpu_mib:,.0f}"
            print(f"| {t.path} | {t.seconds:.3f} | {t.seconds / base:.2f} | {peak} |", flush=True)
        self.save()


def run(device: torch.device, side: int, steps: int, report: Report) -> None:
    """All checks on ``device``, each row reported as it comes; a check that raises becomes a failed row."""
    report.set_env(environment(device))
    for path, fn in scan_paths(device).items():
        for n in SCAN_LENGTHS:
            try:
                report.add_check(compare_scan(fn, path, n, device))
            except Exception as err:  # noqa: BLE001 - e.g. "no kernel image is available" from a wrong build
                report.add_check(Agreement(f"scan, T={n}", path, float("nan"), float("nan"), False, _one_line(err)))
    kernel_ok = device.type == "cuda" and _cuda_scan_fn() is not None
    for attempt in ([True, False] if kernel_ok else [False]):
        try:
            found, times = model_paths(device, side, steps, attempt)
        except Exception as err:  # noqa: BLE001 - the kernel path failing must not hide the portable one
            what = "spectral_mamba training and logits"
            report.add_check(Agreement(what, f"{'kernel' if attempt else 'portable'} ({device.type})",
                                       float("nan"), float("nan"), False, _one_line(err)))
            continue
        for c in found:
            report.add_check(c)
        report.add_steps(times)
        break


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--require-kernel", action="store_true",
                        help="Exit 2 (one line, with the import error) when mamba_ssm's kernel cannot be used.")
    parser.add_argument("--side", type=int, default=145, help="Tile side in pixels (145 = Indian Pines).")
    parser.add_argument("--steps", type=int, default=5, help="Timed training steps per path (median).")
    parser.add_argument("--json", default=None, help="Also write the report to this JSON file (after every row).")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.side < 4:
        parser.error("--steps must be >= 1 and --side >= 4")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"check_cuda: --device {args.device}, but torch {torch.__version__} (CUDA {torch.version.cuda}) sees no "
              "GPU; run it on the GPU machine, or pass --device cpu", file=sys.stderr)
        return 2
    if args.require_kernel and (device.type != "cuda" or _cuda_scan_fn() is None):
        why = cuda_kernel_error() or f"--device {args.device} is not CUDA"
        print(f"check_cuda: --require-kernel, but mamba_ssm's kernel cannot be used ({why}); install the [cuda] extra "
              "(see benchmarks/device_check.sh)", file=sys.stderr)
        return 2
    report = Report(args.json)
    # TF32 convolutions and matmuls (cuDNN's default on Ampere and later) differ from float32
    # by ~1e-3 and would hide or fake a scan error: compare and time in full float32.
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        run(device, args.side, args.steps, report)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    failed = [c for c in report.checks if not c.ok]
    if failed:
        print(f"FAILED: {len(failed)} check(s) above the tolerance or raising", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
