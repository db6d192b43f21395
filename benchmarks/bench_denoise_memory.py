"""Peak resident memory (RSS) of ``hsi denoise`` per stage, before and after session 55's change.

Where the memory of a windowed denoise goes, measured by a thread sampling the process RSS every
millisecond (``psutil``) and charging each sample to the stage running at that moment:

* ``pipeline``: :func:`hsi_app.tasks.denoise_scene.denoise_cube` on the whole scene, as ``hsi denoise``
  runs it (``GDAL_CACHEMAX`` as the CLI sets it, default ``--window 256``), with the model's forward
  pass replaced by a copy of its input, so that what is measured is everything around the model:
  ``read`` (the halo'd window read, no-data masking), ``between`` (the rest: normalisation, cropping, the
  units check), ``forward`` (what is held when the model starts: this is what adds to the model's own
  peak), ``write`` (the staging GeoTIFF) and ``cog`` (the conversion to COG with its overviews). Runs ``old`` (the code before session 55) and
  ``new`` in fresh processes, one after the other, and checks that both write the same output.
* ``model``: one real forward pass of the run's model on one full halo'd window
  (``bands x (window + 2 halo)^2``, seeded normalised values in [0, 1)), its RSS increment over
  what was held before it, in bytes per band value of that window (``--arch test_hsdt``: an untrained
  model of that architecture instead of the run's, whose memory does not depend on its weights).

The end-to-end peak of ``hsi denoise`` is about ``held at forward`` + ``model increment``.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_denoise_memory.py --make 40x768x768 --arch test_hsdt   # ~2 min
    OMP_NUM_THREADS=1 python benchmarks/bench_denoise_memory.py --input scene.tif --window 256
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "models" / "indian_pines_hsdt_s_mixture"
STAGES = ("read", "between", "forward", "write", "cog")
MIB = 2**20


class Sampler:
    """Samples RSS every millisecond; ``peak[stage]`` is the highest RSS seen while ``stage`` ran."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.stage = "between"
        self.peak: dict[str, int] = {}
        self.at_entry: dict[str, int] = {}
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def rss(self) -> int:
        return int(self.proc.memory_info().rss)

    def _run(self) -> None:
        while not self._stop:
            rss, stage = self.rss(), self.stage
            self.peak[stage] = max(self.peak.get(stage, 0), rss)
            time.sleep(0.001)

    def wrap(self, name: str, fn):  # noqa: ANN001, ANN201
        """``fn`` charged to stage ``name`` (nested stages are charged to the innermost)."""

        def inner(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            outer, self.stage = self.stage, name
            self.at_entry[name] = max(self.at_entry.get(name, 0), self.rss())
            try:
                return fn(*args, **kwargs)
            finally:
                self.peak[name] = max(self.peak.get(name, 0), self.rss())
                self.stage = outer

        return inner

    def stop(self) -> None:
        self._stop = True
        self._thread.join()


OLD_REF = "8f228d6"  # the commit before session 55's change to hsi_app/tasks/denoise_scene.py


def old_code(path: str) -> None:
    """Load ``path`` (``denoise_scene.py`` as it was at :data:`OLD_REF`) as ``hsi_app.tasks.denoise_scene``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hsi_app.tasks.denoise_scene", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["hsi_app.tasks.denoise_scene"] = module
    spec.loader.exec_module(module)


def pipeline(path: str, code: str, window: int, run: Path, out_dir: str) -> dict:
    """One ``denoise_cube`` over the scene with the forward pass stubbed; RSS peaks per stage (bytes)."""
    import numpy as np

    from hsi_app.gdal_env import cap_gdal_cache

    if code == "old":
        old_code(str(Path(out_dir) / "old_denoise_scene.py"))
    import hsi_app.io.cog as cog
    import hsi_app.tasks.denoise_scene as ds
    from hsi_app.io import open_cube
    from hsi_app.tasks.denoising import Denoiser

    cap_gdal_cache()  # as `hsi` does before any read
    den = Denoiser.load(run)
    s = Sampler()
    den.denoise_normalised = s.wrap("forward", lambda x: np.array(x, dtype=np.float32))
    ds._read = s.wrap("read", ds._read)
    cls = cog.StreamingCOGWriter
    cls.write_window = s.wrap("write", cls.write_window)
    cls._convert = s.wrap("cog", cls._convert)
    cube = open_cube(path)
    base = s.rss()
    out = Path(out_dir) / f"{code}.tif"
    t = time.perf_counter()
    res = ds.denoise_cube(den, cube, out, window=window, progress=False)
    seconds = time.perf_counter() - t
    s.stop()
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    return {"code": code, "windows": res.windows, "read_px": (window + 2 * res.halo) ** 2, "halo": res.halo,
            "base": base, "peak": s.peak, "at_entry": s.at_entry, "seconds": round(seconds, 1), "sha256": digest}


def model(run: Path, bands: int, side: int, arch: str | None) -> dict:
    """One real forward pass on a ``(bands, side, side)`` window; RSS before and peak during (bytes).

    ``arch``: the run's model replaced by an untrained one of this architecture (the memory does not depend
    on the weights), e.g. ``test_hsdt``, for which no run ships.
    """
    import numpy as np

    from hsi_app.tasks.denoising import Denoiser

    den = Denoiser.load(run)
    if arch:
        import torch

        from hsi_app.models import create_model

        torch.manual_seed(0)
        den.model = create_model(arch, in_chans=bands, num_classes=1).eval()
    x = np.random.default_rng(0).random((bands, side, side), dtype=np.float32)
    s = Sampler()
    fwd = s.wrap("forward", den.denoise_normalised)
    time.sleep(0.05)
    before = s.rss()
    t = time.perf_counter()
    fwd(x)
    seconds = time.perf_counter() - t
    s.stop()
    return {"before": before, "peak": s.peak["forward"], "values": bands * side * side, "seconds": round(seconds, 1)}


def make_scene(spec: str, folder: str) -> str:
    """A tiled (256 px) float32 GeoTIFF ``BxHxW`` of smooth seeded spectra in Indian Pines' value range."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    c, h, w = (int(v) for v in spec.lower().split("x"))
    path = str(Path(folder) / f"scene_{c}x{h}x{w}.tif")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (np.sin(xx / 37.0) + np.cos(yy / 23.0)).astype(np.float32)
    prof = {"driver": "GTiff", "height": h, "width": w, "count": c, "dtype": "float32", "tiled": True,
            "blockxsize": 256, "blockysize": 256, "crs": "EPSG:32633", "transform": from_origin(500000, 4000000, 30, 30)}
    with rasterio.open(path, "w", **prof) as dst:
        for b in range(c):
            band = 3000 + 1500 * base * (1 + b / c) + rng.normal(0, 300, (h, w)).astype(np.float32)
            dst.write(band.astype(np.float32), b + 1)
    return path


def child_run(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--input", help="a multi-band GeoTIFF in the run's units")
    g.add_argument("--make", metavar="BxHxW", help="fabricate a tiled float32 scene of this size first")
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--run", type=Path, default=RUN)
    p.add_argument("--old-ref", default=OLD_REF, help="commit whose denoise_scene.py is the old code")
    p.add_argument("--arch", help="measure the forward pass of an untrained model of this name instead of the run's")
    p.add_argument("--skip-model", action="store_true", help="no real forward pass (minutes on 2 cores)")
    p.add_argument("--child", choices=["old", "new", "model"])
    p.add_argument("--out-dir")
    p.add_argument("--bands", type=int)
    p.add_argument("--side", type=int)
    a = p.parse_args()
    if a.child == "model":
        print(json.dumps(model(a.run, a.bands, a.side, a.arch)))
        return
    if a.child:
        print(json.dumps(pipeline(a.input, a.child, a.window, a.run, a.out_dir)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = a.input or make_scene(a.make, tmp)
        old = subprocess.run(["git", "-C", str(ROOT), "show", f"{a.old_ref}:hsi_app/tasks/denoise_scene.py"],
                             check=True, capture_output=True, text=True).stdout
        (Path(tmp) / "old_denoise_scene.py").write_text(old)
        common = ["--input", path, "--window", str(a.window), "--run", str(a.run), "--out-dir", tmp]
        rows = {code: child_run([*common, "--child", code]) for code in ("old", "new")}
        import rasterio

        with rasterio.open(path) as src:
            bands = src.count
        same = rows["old"]["sha256"] == rows["new"]["sha256"]
        fwd = None
        if not a.skip_model:
            side = rows["new"]["read_px"] ** 0.5
            fwd = child_run(["--input", path, "--run", str(a.run), "--child", "model", "--bands", str(bands),
                             "--side", str(int(side)), *(["--arch", a.arch] if a.arch else [])])
    old, new = rows["old"], rows["new"]
    print(f"scene {path if a.input else a.make}, window {a.window} (halo {new['halo']}), {new['windows']} windows; "
          f"GDAL_CACHEMAX {os.environ.get('GDAL_CACHEMAX', 'as the CLI sets it')}; load average "
          f"{os.getloadavg()[0]:.1f}; old {old['seconds']} s, new {new['seconds']} s; outputs identical: {same}")
    print(f"{'stage (peak RSS, MiB)':28s} {'old':>8s} {'new':>8s} {'old/new':>8s}")
    print(f"{'after imports + model':28s} {old['base'] / MIB:8.0f} {new['base'] / MIB:8.0f} {old['base'] / new['base']:8.2f}")
    for st in STAGES:
        o, n = old["peak"].get(st, 0), new["peak"].get(st, 0)
        if o and n:
            print(f"{st:28s} {o / MIB:8.0f} {n / MIB:8.0f} {o / n:8.2f}")
    o, n = old["at_entry"]["forward"], new["at_entry"]["forward"]
    print(f"{'held when the model starts':28s} {o / MIB:8.0f} {n / MIB:8.0f} {o / n:8.2f}")
    o, n = max(old["peak"].values()), max(new["peak"].values())
    print(f"{'whole pipeline (no model)':28s} {o / MIB:8.0f} {n / MIB:8.0f} {o / n:8.2f}")
    if fwd is not None:
        inc = fwd["peak"] - fwd["before"]
        name = a.arch or a.run.name
        print(f"model forward ({name}) on one {bands} x {int(side)}^2 window: +{inc / MIB:.0f} MiB over {fwd['before'] / MIB:.0f} MiB "
              f"({inc / fwd['values']:.0f} bytes per band value), {fwd['seconds']} s")
        for code, row in rows.items():
            held = row["at_entry"]["forward"]
            print(f"estimated hsi denoise peak ({code}): {(held + inc) / MIB:.0f} MiB = "
                  f"{(held + inc) / fwd['values']:.0f} bytes per band value of the halo'd window")


if __name__ == "__main__":
    main()
