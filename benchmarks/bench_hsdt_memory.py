"""Peak memory of the HSDT denoiser's forward pass at inference, old code vs new (session 56).

Every case runs in a fresh process (``--child``), so each peak is that process's own
``ru_maxrss`` (``resource.getrusage``), and the old and new code are measured in the same run:

* ``forward``: one forward pass of an untrained, seeded ``--arch`` model (memory does not depend
  on the weights) on one seeded ``(1, 1, D, H, W)`` window in [0, 1) under
  ``torch.inference_mode()`` (as :meth:`hsi_app.tasks.denoising.Denoiser.denoise_normalised`
  runs it). Reported: the peak RSS, and its increase over the RSS held just before the pass, per
  band value of the window.
* ``e2e``: :func:`hsi_app.tasks.denoise_scene.denoise_cube` on a whole fabricated scene, as
  ``hsi denoise`` runs it (``GDAL_CACHEMAX`` capped as the CLI does, ``--window``; the run's
  model replaced by an untrained ``--e2e-arch``): peak RSS of the process and the sha256 of the
  COG written.

``old`` is ``hsi_app/models/hsdt.py`` at ``--old-ref``: its classes' ``forward`` methods are put
in place of the current ones (same modules and parameters, so the same weights load). The
script checks that old and new give the same forward output (``torch.equal``) and the same COG.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_hsdt_memory.py                          # ~15 min on 2 cores
    OMP_NUM_THREADS=1 python benchmarks/bench_hsdt_memory.py --cases test_hsdt:40x256x256 --skip-e2e
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_denoise_memory import make_scene  # noqa: E402  (the same seeded tiled scene)

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "models" / "indian_pines_hsdt_s_mixture"
OLD_REF = "45797c1"  # the last commit before session 56 changed hsi_app/models/hsdt.py
CASES = ("test_hsdt:40x256x256", "test_hsdt:100x128x128", "hsdt_s:40x256x256", "hsdt_s:100x128x128")
CLASSES = ("S3Conv", "SpectralConv", "GuidedSpectralAttention", "SMFFN", "TransformerBlock", "Stage", "HSDT")
MIB = 2**20


def rss() -> int:
    """Resident set size now (bytes), from ``/proc/self/statm``."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def max_rss() -> int:
    """Peak resident set size of this process so far (bytes; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def use_old_code(path: str) -> None:
    """Put the ``forward`` methods of ``hsdt.py`` at :data:`OLD_REF` (read from ``path``) in place of the current ones."""
    import hsi_app.models.hsdt as cur

    src = Path(path).read_text()
    old = types.ModuleType("hsdt_old")
    exec(compile(src[: src.index("def _build(")], path, "exec"), old.__dict__)  # classes only, no registration
    for name in CLASSES:
        getattr(cur, name).forward = getattr(old, name).forward


def seeded_model(arch: str, bands: int):  # noqa: ANN201
    import torch

    from hsi_app.models import create_model

    torch.manual_seed(0)
    return create_model(arch, in_chans=bands, num_classes=1).eval()


def forward_case(arch: str, shape: str) -> dict:
    """One forward pass under ``inference_mode``; RSS before, peak RSS, seconds; output saved for the comparison."""
    import numpy as np
    import torch

    d, h, w = (int(v) for v in shape.lower().split("x"))
    net = seeded_model(arch, d)
    x = torch.from_numpy(np.random.default_rng(0).random((1, 1, d, h, w), dtype=np.float32))
    time.sleep(0.05)
    before = rss()
    t = time.perf_counter()
    with torch.inference_mode():
        y = net(x)
    seconds = time.perf_counter() - t
    peak = max_rss()
    digest = hashlib.sha256(y.numpy().tobytes()).hexdigest()[:16]
    return {"before": before, "peak": peak, "values": d * h * w, "seconds": round(seconds, 1), "sha256": digest}


def e2e_case(path: str, arch: str, window: int, run: Path, out: str) -> dict:
    """``denoise_cube`` over the whole scene as ``hsi denoise`` runs it; peak RSS of the process, COG digest."""
    from hsi_app.gdal_env import cap_gdal_cache
    from hsi_app.io import open_cube
    from hsi_app.tasks.denoise_scene import denoise_cube
    from hsi_app.tasks.denoising import Denoiser

    cap_gdal_cache()  # as `hsi` does before any read
    den = Denoiser.load(run)
    cube = open_cube(path)
    den.model = seeded_model(arch, int(cube.sizes["band"]))
    t = time.perf_counter()
    res = denoise_cube(den, cube, Path(out), window=window, progress=False)
    seconds = time.perf_counter() - t
    digest = hashlib.sha256(Path(out).read_bytes()).hexdigest()[:16]
    return {"peak": max_rss(), "seconds": round(seconds, 1), "windows": res.windows, "halo": res.halo, "sha256": digest}


def child(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"bench_hsdt_memory.py: a child failed:\n{err}")
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="*", default=list(CASES), help="ARCH:DxHxW forward cases")
    p.add_argument("--scene", default="40x768x768", help="BxHxW of the fabricated scene of the end-to-end case")
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--e2e-arch", default="test_hsdt", help="untrained model of the end-to-end case")
    p.add_argument("--run", type=Path, default=RUN, help="run folder whose Denoiser settings the end-to-end case uses")
    p.add_argument("--skip-e2e", action="store_true")
    p.add_argument("--e2e-parallel", action="store_true",
                   help="run the old and new end-to-end cases at the same time (peaks stay per process; times do not compare)")
    p.add_argument("--old-ref", default=OLD_REF, help="commit whose hsdt.py is the old code")
    p.add_argument("--child", choices=["forward", "e2e"])
    p.add_argument("--impl", choices=["old", "new"], default="new")
    p.add_argument("--old-src")
    p.add_argument("--case")
    p.add_argument("--input")
    p.add_argument("--out")
    a = p.parse_args()
    if a.child:
        if a.impl == "old":
            use_old_code(a.old_src)
        if a.child == "forward":
            arch, shape = a.case.split(":")
            print(json.dumps(forward_case(arch, shape)))
        else:
            print(json.dumps(e2e_case(a.input, a.e2e_arch, a.window, a.run, a.out)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        old_src = Path(tmp) / "hsdt_old.py"
        old_src.write_text(subprocess.run(["git", "-C", str(ROOT), "show", f"{a.old_ref}:hsi_app/models/hsdt.py"],
                                          check=True, capture_output=True, text=True).stdout)
        common = ["--old-src", str(old_src)]
        print(f"torch threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; load average "
              f"{os.getloadavg()[0]:.1f}; old = hsdt.py at {a.old_ref}")
        print(f"{'forward pass (inference_mode)':34s} {'old peak':>9s} {'new peak':>9s} {'old +MiB':>9s} {'new +MiB':>9s} "
              f"{'old B/bv':>9s} {'new B/bv':>9s} {'ratio':>6s} {'old s':>6s} {'new s':>6s} same")
        for case in a.cases:
            rows = {impl: result(child([*common, "--child", "forward", "--impl", impl, "--case", case])) for impl in ("old", "new")}
            o, n = rows["old"], rows["new"]
            oi, ni = o["peak"] - o["before"], n["peak"] - n["before"]
            print(f"{case:34s} {o['peak'] / MIB:9.0f} {n['peak'] / MIB:9.0f} {oi / MIB:9.0f} {ni / MIB:9.0f} "
                  f"{oi / o['values']:9.0f} {ni / n['values']:9.0f} {oi / ni:6.2f} {o['seconds']:6.1f} {n['seconds']:6.1f} "
                  f"{o['sha256'] == n['sha256']}", flush=True)
        if a.skip_e2e:
            return
        scene = make_scene(a.scene, tmp)
        args = {impl: [*common, "--child", "e2e", "--impl", impl, "--input", scene, "--window", str(a.window),
                       "--e2e-arch", a.e2e_arch, "--run", str(a.run), "--out", str(Path(tmp) / f"{impl}.tif")]
                for impl in ("old", "new")}
        if a.e2e_parallel:
            procs = {impl: child(v) for impl, v in args.items()}
            rows = {impl: result(proc) for impl, proc in procs.items()}
        else:
            rows = {impl: result(child(v)) for impl, v in args.items()}
    o, n = rows["old"], rows["new"]
    print(f"\nend to end: denoise_cube ({a.e2e_arch}, untrained) on a {a.scene} float32 scene, --window {a.window} "
          f"(halo {n['halo']}, {n['windows']} windows){', old and new at the same time' if a.e2e_parallel else ''}")
    print(f"peak RSS old {o['peak'] / MIB:.0f} MiB, new {n['peak'] / MIB:.0f} MiB, ratio {o['peak'] / n['peak']:.2f}; "
          f"old {o['seconds']} s, new {n['seconds']} s; COGs identical: {o['sha256'] == n['sha256']}")


if __name__ == "__main__":
    main()
