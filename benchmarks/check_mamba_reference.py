"""Our Mamba scan and block against ``mamba_ssm``'s own pure-PyTorch reference, on the CPU.

``mamba_ssm`` ships, next to its CUDA kernel, ``selective_scan_ref`` (the function the kernel
is tested against) and the ``Mamba`` module, whose slow path calls the scan on plain tensors.
This check imports both from an unpacked ``mamba-ssm`` source release, without building it:
the compiled extension ``selective_scan_cuda`` is replaced by an empty module, and ``Mamba``'s
scan by ``selective_scan_ref``. It then compares, against them:

1. :func:`~hsi_app.models.layers.selective_scan.selective_scan_parallel` and the sequential
   ``selective_scan_ref`` of this project, outputs and gradients, at 5, 64 and 224 tokens;
2. every :class:`~hsi_app.models.layers.mamba_block.MambaBlock` of a spectral_mamba, loaded
   into ``mamba_ssm.modules.mamba_simple.Mamba`` with ``load_state_dict(strict=True)``:
   ``block(x) - x`` against ``Mamba(block.norm(x))`` (our block is pre-norm and residual;
   theirs is the mixer alone).

So the argument layout that :func:`~hsi_app.models.layers.selective_scan.selective_scan`
hands to the fused kernel, and the parameter names and shapes that let one state dict serve
both paths, are checked against the package itself. Run::

    pip download --no-deps --no-binary :all: mamba-ssm==2.3.2.post1 -d /tmp/m && tar xzf /tmp/m/*.tar.gz -C /tmp/m
    .venv/bin/python benchmarks/check_mamba_reference.py --mamba-src /tmp/m/mamba_ssm-2.3.2.post1

It needs ``einops`` and ``triton`` importable (both come with this project's torch on Linux).
Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from pathlib import Path
from typing import Any

import torch

from hsi_app.models import create_model
from hsi_app.models.layers.mamba_block import MambaBlock
from hsi_app.models.layers.selective_scan import selective_scan_parallel, selective_scan_ref

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_cuda import SCAN_LENGTHS, SCAN_TOL, relative_error, run_scan, scan_inputs  # noqa: E402


def import_mamba_ssm(src: Path) -> tuple[Any, Any, str]:
    """``(selective_scan_interface, mamba_simple, version)`` from an unpacked source release."""
    if not (src / "mamba_ssm" / "ops" / "selective_scan_interface.py").is_file():
        raise SystemExit(f"{src}: not an unpacked mamba-ssm source release (no mamba_ssm/ops/); see --help")
    sys.modules.setdefault("selective_scan_cuda", types.ModuleType("selective_scan_cuda"))  # the unbuilt kernel
    sys.path.insert(0, str(src))
    interface = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
    simple = importlib.import_module("mamba_ssm.modules.mamba_simple")
    simple.selective_scan_fn = interface.selective_scan_ref  # Mamba's slow path, on plain tensors
    version = getattr(importlib.import_module("mamba_ssm"), "__version__", "?")
    return interface, simple, version


def scan_rows(reference: Any) -> list[tuple[str, float, float]]:
    """(what, output error, gradient error) of our scans against ``reference``, all in float32
    (``mamba_ssm``'s reference computes in float32 whatever its inputs)."""
    rows = []
    for length in SCAN_LENGTHS:
        args = scan_inputs(length)
        y_ref, g_ref = run_scan(reference, args, torch.device("cpu"), torch.float32)
        for name, fn in (("parallel", selective_scan_parallel), ("sequential", selective_scan_ref)):
            y, g = run_scan(fn, args, torch.device("cpu"), torch.float32)
            rows.append((f"scan {name}, T={length}", relative_error(y, y_ref), max(relative_error(g[k], g_ref[k]) for k in g_ref)))
    return rows


def block_rows(simple: Any, seed: int = 0) -> list[tuple[str, float, float]]:
    """Each Mamba block of a spectral_mamba against ``Mamba`` with the same weights (float32)."""
    torch.manual_seed(seed)
    net = create_model("spectral_mamba", in_chans=200, num_classes=16)
    rows = []
    for i, block in enumerate(b for b in net.modules() if isinstance(b, MambaBlock)):
        theirs = simple.Mamba(
            d_model=block.norm.normalized_shape[0], d_state=block.d_state, d_conv=block.conv1d.kernel_size[0],
            expand=block.inner / block.norm.normalized_shape[0], dt_rank=block.dt_rank, bias=True,
            conv_bias=True, use_fast_path=False,
        )
        weights = {k: v for k, v in block.state_dict().items() if not k.startswith("norm.")}
        theirs.load_state_dict(weights, strict=True)
        x = torch.randn(64, 5, block.norm.normalized_shape[0], requires_grad=True)
        ours = block(x) - x
        ref = theirs(block.norm(x))
        w = torch.randn_like(ours)
        g_ours = torch.autograd.grad((ours * w).sum(), x)[0]
        g_ref = torch.autograd.grad((ref * w).sum(), x)[0]
        rows.append((f"spectral_mamba block {i} (5 tokens)", relative_error(ours.detach(), ref.detach()), relative_error(g_ours, g_ref)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mamba-src", type=Path, required=True, help="Unpacked mamba-ssm source release.")
    args = parser.parse_args(argv)
    interface, simple, version = import_mamba_ssm(args.mamba_src)
    rows = scan_rows(interface.selective_scan_ref) + block_rows(simple)
    print(f"mamba_ssm {version} (reference code, kernel not built); torch {torch.__version__}; float32\n")
    print("| check against mamba_ssm | output rel. error | gradient rel. error | pass |")
    print("|---|---:|---:|---|")
    failed = 0
    for what, out_err, grad_err in rows:
        ok = out_err < SCAN_TOL and grad_err < SCAN_TOL
        failed += not ok
        print(f"| {what} | {out_err:.1e} | {grad_err:.1e} | {'yes' if ok else '**NO**'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
