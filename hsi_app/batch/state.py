"""What is done, what to redo: sidecars, resume decisions and the batch report.

Crash order. An output is produced in three steps, each atomic on its own:

1. any stale sidecar of the output is deleted;
2. the COG is written under a hidden temporary name and renamed onto the output
   (:class:`hsi_app.io.cog.StreamingCOGWriter` via :mod:`hsi_app.io.atomic`);
3. the sidecar ``<output>.hsi.json`` is written (temporary name, then rename). It
   records the model hash, the input's size/mtime and the output's byte size.

An output counts as *done* only when the output **and** a sidecar that matches it (same
model hash, same task, same input fingerprint, same output size) both exist. A
``kill -9`` between any two steps therefore leaves either hidden temporary files
(removed by :func:`clean_partials` on the next run) or an output without a matching
sidecar, and both are redone. Nothing finished is lost and nothing is done twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hsi_app.checkpoint import ADAPTER_CONFIG_NAME, ADAPTER_NAME, CONFIG_NAME, WEIGHTS_NAME, no_weights_line
from hsi_app.errors import ModelLoadError
from hsi_app.io import stale_temporaries
from hsi_app.io.atomic import atomic_path, remove_quietly

SIDECAR_SUFFIX = ".hsi.json"
SIDECAR_VERSION = 1
REPORT_FIELDS = ("input", "status", "seconds", "output", "height", "width", "windows", "split", "class_counts", "error")


def model_hash(run_dir: str | os.PathLike[str]) -> str:
    """sha256 over the files that define a run's predictions (hex).

    ``model.safetensors`` and ``config.json``; for a fine-tune folder also
    ``adapter.safetensors`` and ``adapter_config.json`` (its config.json pins the base
    run's weights by their sha256, so a changed base changes this hash too). For an
    ensemble folder: its ``ensemble.json``, which pins every member's hash; a member
    that changed since is refused (:func:`hsi_app.ensemble.ensemble_hash`).

    Raises:
        ModelLoadError: no config.json, or no weights at all.
    """
    run = Path(run_dir)
    from hsi_app.ensemble import ensemble_hash, is_ensemble_dir

    if is_ensemble_dir(run):
        return ensemble_hash(run)
    if not (run / CONFIG_NAME).is_file():
        raise ModelLoadError(f"{run_dir}: no {CONFIG_NAME}; pass the output folder of `hsi train` as --model")
    if not (run / WEIGHTS_NAME).is_file() and not (run / ADAPTER_NAME).is_file():
        raise ModelLoadError(no_weights_line(run_dir))  # a fine-tune folder's lost adapter is named as such
    h = hashlib.sha256()
    for name in (WEIGHTS_NAME, ADAPTER_NAME, ADAPTER_CONFIG_NAME, CONFIG_NAME):
        path = run / name
        if not path.is_file():
            continue
        h.update(name.encode())
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


GDAL_SIDECARS = (".msk",)
"""Files beside a GeoTIFF that GDAL reads with it as they are: ``x.tif.msk`` (an external mask: no-data pixels)."""
PAM_SUFFIX = ".aux.xml"
"""GDAL's PAM file beside a GeoTIFF (``x.tif.aux.xml``): no-data, scale/offset, CRS... set by ``gdal_edit.py`` on a
read-only file or by QGIS, which also writes statistics and histograms there merely by showing the layer."""
PAM_DATASET = frozenset({"SRS", "GeoTransform", "GCPList", "Metadata"})
"""PAM elements of the dataset that change what the readers get (CRS, grid, GCPs, tags such as wavelengths)."""
PAM_BAND = frozenset({"Description", "NoDataValue", "NoDataValueInt64", "NoDataValueUInt64", "Offset", "Scale",
                      "ColorInterp", "Metadata"})
"""PAM elements of a band that change what the readers get (no-data, scale/offset, an alpha band's mask,
band descriptions and tags such as wavelengths); statistics and histograms do not."""
WORLD_FILES = (".tfw", ".tifw", ".tiffw", ".wld")
"""World files GDAL takes a GeoTIFF's transform from when it has none (``x.tfw`` or ``X.TFW`` beside ``x.tif``)."""


def input_fingerprint(path: str | os.PathLike[str]) -> dict[str, int]:
    """Size and newest mtime of a scene's files (:func:`hsi_app.provenance.scene_files`), to notice changed inputs.

    A folder counts all its files; an ENVI file counts its header and data file together,
    since the header holds the georeference, wavelengths and no-data value. A GeoTIFF counts what
    GDAL applies to its read from the files beside it: an external mask (:data:`GDAL_SIDECARS`); a world
    file (:data:`WORLD_FILES`, either case) when the TIFF has no grid of its own; and, under ``"pam"``, the
    content of its ``.aux.xml`` that changes the read (:func:`pam_read_content`), not the file's size or
    time, so statistics QGIS writes there change nothing. A TIFF without them keeps the fingerprint it always had.
    """
    from hsi_app.provenance import scene_files

    files = scene_files(path) or [Path(path)]
    tiffs = [f for f in files if f.name.lower().endswith((".tif", ".tiff"))]
    files += [side for f in tiffs for side in [*(f.with_name(f.name + ext) for ext in GDAL_SIDECARS),
                                               *_world_files(f)] if side.is_file()]
    stats = [f.stat() for f in files]  # a missing file: stat raises, as before
    fingerprint = {"bytes": sum(s.st_size for s in stats), "mtime_ns": max((s.st_mtime_ns for s in stats), default=0)}
    pam = "".join(pam_read_content(f.with_name(f.name + PAM_SUFFIX)) for f in tiffs)
    if pam:
        fingerprint["pam"] = int(hashlib.sha256(pam.encode()).hexdigest()[:15], 16)
    return fingerprint


def _world_files(tif: Path) -> list[Path]:
    """The world files beside ``tif`` that exist (``x.tfw``, ``X.TFW``...), when GDAL would use them: the TIFF has
    no transform or GCPs of its own."""
    found = [w for ext in WORLD_FILES for w in dict.fromkeys([tif.with_suffix(ext), tif.with_suffix(ext.upper())])
             if w.is_file()]
    return found if found and not _own_grid(tif) else []


def _own_grid(tif: Path) -> bool:
    """Whether ``tif`` holds a transform or GCPs itself (GDAL then ignores a world file beside it)."""
    import warnings

    import rasterio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning
            with rasterio.Env(GDAL_GEOREF_SOURCES="INTERNAL"), rasterio.open(tif) as ds:
                return not ds.transform.is_identity or bool(ds.gcps[0])
    except Exception:  # noqa: BLE001 - unreadable: the scene fails when read; count the world file
        return False


def pam_read_content(path: Path) -> str:
    """The parts of a GDAL PAM file (``x.tif.aux.xml``) that change what is read, as canonical text; ``""`` when
    there is no file or it holds nothing of the kind (:data:`PAM_DATASET`, :data:`PAM_BAND`; ``STATISTICS_*``
    metadata and histograms left out). A file that is no XML counts whole."""
    import xml.etree.ElementTree as ET

    if not path.is_file():
        return ""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return path.read_bytes().hex()
    parts = [_canonical(el) for el in root if el.tag in PAM_DATASET]
    for band in root.iter("PAMRasterBand"):
        kept = [_canonical(el) for el in band if el.tag in PAM_BAND]
        if any(kept):
            parts.append(f"band {band.get('band', '')}: {''.join(kept)}")
    return "".join(parts)


def _canonical(el: Any) -> str:
    """An XML element as text independent of layout and attribute order; ``STATISTICS_*`` metadata items left out
    (a ``Metadata`` element with nothing else is ``""``)."""
    children = [c for c in el if not (c.tag == "MDI" and str(c.get("key", "")).upper().startswith("STATISTICS_"))]
    if el.tag == "Metadata" and not children:
        return ""
    attrs = ",".join(f"{k}={v}" for k, v in sorted(el.attrib.items()))
    return f"<{el.tag} {attrs}>{(el.text or '').strip()}{''.join(_canonical(c) for c in children)}</{el.tag}>"


def sidecar_path(output: str | os.PathLike[str]) -> Path:
    """``a_classes.tif`` -> ``a_classes.tif.hsi.json``."""
    out = Path(output)
    return out.with_name(out.name + SIDECAR_SUFFIX)


def write_sidecar(output: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write the sidecar of a finished output (after the output's rename). Adds the output size."""
    out = Path(output)
    st = out.stat()
    data = {"version": SIDECAR_VERSION, **record, "output": str(out), "output_bytes": st.st_size,
            "output_mtime_ns": st.st_mtime_ns, "companion_bytes": _companion_sizes(out, record),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    dst = sidecar_path(out)
    with atomic_path(dst) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=2))
    return dst


def _companion_sizes(out: Path, record: dict[str, Any]) -> dict[str, int]:
    """``{file name: bytes}`` of the other files a task wrote beside ``out`` (record keys ``*_file``, such as
    detect's ``points_file``), by name so that a moved output folder still counts as done."""
    sizes = {}
    for key, value in record.items():
        if key.endswith("_file") and value:
            path = out.parent / Path(str(value)).name
            if path.is_file():
                sizes[path.name] = path.stat().st_size
    return sizes


def _companions_intact(out: Path, side: dict[str, Any]) -> bool:
    """Whether every file the sidecar names beside ``out`` is still there at its recorded size (sidecars
    older than ``companion_bytes`` only need the named files to exist)."""
    recorded = side.get("companion_bytes")
    if isinstance(recorded, dict):
        return all((out.parent / name).is_file() and (out.parent / name).stat().st_size == n
                   for name, n in recorded.items())
    return all((out.parent / Path(str(v)).name).is_file() for k, v in side.items() if k.endswith("_file") and v)


def read_sidecar(output: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The sidecar of ``output`` as a dict, or ``None`` when missing or unreadable."""
    try:
        data = json.loads(sidecar_path(output).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_done(output: str | os.PathLike[str], *, task: str, model_sha: str, source: str | os.PathLike[str],
            resample: bool = False) -> dict[str, Any] | None:
    """The sidecar when ``output`` is complete and matches this model and input, else ``None``.

    Complete means the size and modification time recorded when it was finished (an output
    changed in place, even at the same size, is redone; older sidecars have no time). An
    output made by spectral resampling (sidecar ``resampled``) counts only when ``resample``
    is allowed now: without it the scene is redone and fails with the band mismatch, as a
    fresh run would. Outputs whose bands matched are kept whatever ``resample`` says. Files
    the task wrote beside the output (detect's points) must still be there at their size.
    """
    out = Path(output)
    side = read_sidecar(out)
    if side is None or not out.is_file():
        return None
    ok = (
        side.get("version") == SIDECAR_VERSION
        and side.get("task") == task
        and side.get("model_hash") == model_sha
        and side.get("output_bytes") == out.stat().st_size
        and side.get("output_mtime_ns", out.stat().st_mtime_ns) == out.stat().st_mtime_ns  # rewritten in place?
        and side.get("input_fingerprint") == input_fingerprint(source)
        and (resample or not side.get("resampled", False))
        and _companions_intact(out, side)  # detect's points file deleted: redo the scene
    )
    return side if ok else None


def remove_output_temporaries(output: str | os.PathLike[str]) -> list[Path]:
    """Delete the hidden temporary/staging files of an output and of its sidecar (left by killed or
    retried tasks; the batch holds the folder's lock, so none is in use): see
    :func:`hsi_app.io.stale_temporaries.remove_temporaries`.

    Returns:
        The paths removed.
    """
    return stale_temporaries.remove_temporaries(output, [sidecar_path(output).name])


def clean_partials(output: str | os.PathLike[str]) -> list[Path]:
    """Before (re)doing an output: delete its stale sidecar and hidden temporary/staging files.

    Returns:
        The paths removed.
    """
    out = Path(output)
    removed = remove_output_temporaries(out)
    side = sidecar_path(out)
    if side.exists():
        remove_quietly(side)
        removed.append(side)
    return removed


@dataclass
class SceneReport:
    """One row of the batch report."""

    input: str
    status: str  # "done" | "skipped" | "failed"
    seconds: float = 0.0
    output: str = ""
    height: int = 0
    width: int = 0
    windows: int = 0
    split: bool = False  # spread over workers as windows (map_overlap) instead of one task
    class_counts: dict[str, int] = field(default_factory=dict)  # class name -> pixels
    error: str = ""


def write_reports(out_dir: str | os.PathLike[str], rows: list[SceneReport], meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``report.json`` (meta + rows + summary) and ``report.csv`` (one row per input), atomically."""
    out = Path(out_dir)
    summary = {s: sum(r.status == s for r in rows) for s in ("done", "skipped", "failed")}
    doc = {**meta, "summary": summary, "inputs": [asdict(r) for r in rows]}
    json_path, csv_path = out / "report.json", out / "report.csv"
    with atomic_path(json_path) as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=2))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(REPORT_FIELDS))
    writer.writeheader()
    for r in rows:
        row = asdict(r)
        row["class_counts"] = json.dumps(row["class_counts"])
        row["seconds"] = f"{r.seconds:.3f}"
        writer.writerow(row)
    with atomic_path(csv_path) as tmp:
        Path(tmp).write_text(buf.getvalue())
    return json_path, csv_path


LOCK_NAME = ".hsi_batch.lock"


@contextmanager
def out_dir_lock(out: Path) -> Iterator[Path]:
    """Hold ``OUT/.hsi_batch.lock`` while a batch writes into ``out``.

    A second batch on the same folder would delete the first one's temporary files and
    overwrite its report. The lock is an advisory ``flock`` on the file, which the kernel
    releases when its process ends, however it ends: a lock file left by a killed batch is
    simply taken, and one whose owner runs is never taken, even in the moment before the
    owner has written its pid into it. The file holds the owner's pid, for the message.

    Raises:
        ConfigError: another running ``hsi batch`` holds the folder.
    """
    lock = out / LOCK_NAME
    fd = _take_lock(lock, out)
    try:
        yield lock
    finally:
        remove_quietly(lock)
        os.close(fd)


def _take_lock(lock: Path, out: Path) -> int:
    """Open ``lock`` and hold an exclusive ``flock`` on it; return the open descriptor.

    A lock file removed by its previous owner between our open and our flock is a dead
    inode: checked by comparing the descriptor's inode with the path's, and opened again.
    """
    import fcntl

    from hsi_app.errors import ConfigError

    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "starting"
            os.close(fd)
            raise ConfigError(f"--out-dir {out}: another `hsi batch` (pid {holder}) is writing there; wait for it "
                              "or choose another --out-dir") from None
        try:
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)
