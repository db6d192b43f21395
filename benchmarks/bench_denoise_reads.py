"""Values read and read time of ``hsi denoise``'s window reads, the old whole-chunk reading against the new one.

Runs :func:`hsi_app.tasks.denoise_scene.denoise_cube` on a scene as ``hsi denoise`` does (default chunks,
``--window 256``), with the denoiser's forward pass replaced by the identity and the COG writer by one that
only hashes the windows it is given, so that what is left is the reading: the units sample, the subspace
pass (``hsdt_subspace`` models) and the halo'd windows. Each round runs ``old`` (session 50's ``_read``: the
window's values and valid coordinate computed together) and ``new`` in fresh processes, one after the other.
Counts every array rioxarray returns (``RasterioArrayWrapper._getitem``) and times ``_read``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_denoise_reads.py --input big_tiled.tif --rounds 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "models" / "indian_pines_hsdt_subspace_g50"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests/denoise_old_read.py: the old reading, shared with its test


def child(path: str, code: str, window: int, run: Path) -> dict:
    import rioxarray._io as rio_io

    import hsi_app.io.cog as cog
    import hsi_app.tasks.denoise_scene as ds
    from hsi_app.io import open_cube
    from hsi_app.tasks.denoising import Denoiser
    from tests.denoise_old_read import old_read

    counted = {"values": 0, "reads": 0, "read_s": 0.0}
    real_getitem = rio_io.RasterioArrayWrapper._getitem

    def getitem(self, key):  # noqa: ANN001, ANN202
        out = real_getitem(self, key)
        counted["values"] += int(out.size)
        counted["reads"] += 1
        return out

    rio_io.RasterioArrayWrapper._getitem = getitem
    read = old_read if code == "old" else ds._read

    def timed(*args):  # noqa: ANN002, ANN202
        t = time.perf_counter()
        out = read(*args)
        counted["read_s"] += time.perf_counter() - t
        return out

    ds._read = timed
    digest = hashlib.sha256()

    class NullWriter:
        def __init__(self, *a, **k) -> None:  # noqa: ANN002, ANN003
            pass

        def __enter__(self):  # noqa: ANN204
            return self

        def __exit__(self, *exc) -> None:  # noqa: ANN002
            pass

        def write_window(self, block, row, col) -> None:  # noqa: ANN001
            digest.update(f"{row},{col}".encode())
            digest.update(block.tobytes())

    cog.StreamingCOGWriter = NullWriter
    den = Denoiser.load(run)
    den.denoise_normalised = lambda x: x
    cube = open_cube(path)
    t = time.perf_counter()
    res = ds.denoise_cube(den, cube, "unused.tif", window=window, progress=False)
    c, h, w = cube.hsi.shape
    return {"code": code, "windows": res.windows, "scene_values": c * h * w, "values": counted["values"],
            "reads": counted["reads"], "read_s": round(counted["read_s"], 2),
            "total_s": round(time.perf_counter() - t, 2), "sha256": digest.hexdigest()[:16]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True)
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--run", type=Path, default=RUN)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--child", choices=["old", "new"])
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.input, a.child, a.window, a.run)))
        return
    rows = []
    for _ in range(a.rounds):
        for code in ("old", "new"):
            out = subprocess.run([sys.executable, __file__, "--input", a.input, "--window", str(a.window),
                                  "--run", str(a.run), "--child", code], check=True, capture_output=True, text=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{code}: {row['values']:,} values in {row['reads']} reads = {row['values'] / row['scene_values']:.2f} x "
                  f"scene; _read {row['read_s']} s, denoise_cube {row['total_s']} s; output sha256 {row['sha256']}",
                  flush=True)
    old = [r for r in rows if r["code"] == "old"]
    new = [r for r in rows if r["code"] == "new"]
    print(f"values read old/new: {old[0]['values'] / new[0]['values']:.2f}; _read time old/new per round: "
          + ", ".join(f"{o['read_s'] / n['read_s']:.2f}" for o, n in zip(old, new))
          + f"; outputs identical: {len({r['sha256'] for r in rows}) == 1}")


if __name__ == "__main__":
    main()
