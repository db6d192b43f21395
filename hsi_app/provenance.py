"""What a run records so that it can be reproduced: library versions and the identity of its inputs.

``hsi train`` (every task) and ``hsi finetune`` write both into ``config.json`` (``extra``) and ``metrics.json``
(:func:`run_record`, taken before training); ``hsi denoise`` records the
weights it used (:func:`weights_identity`). Every key is additive: runs written before these records
load as they did.

Input files are named by their sha256; a file over :data:`HASH_LIMIT` bytes is named by its size
and modification time instead (``"sha256": null``), so a run on a large scene does not spend
seconds reading it once more. The built-in scene is named by its name and the sha256 of its
reflectance array (``(C, H, W)`` float32, C order), whatever package file it came from.

A cube changed in Python after it was opened (scaled, ``where``, a band subset, a crop, loaded:
:func:`hsi_app.io.read_values.holds_read_values` is ``False``) no longer holds its file's values: its
``scene`` record says so (``"changed_in_memory": true``), and ``hsi ensemble`` does not open the file
again to score such a run (it asks for ``--data``).

A run's ``data`` (:func:`scene_reference`) names a file scene by its resolved absolute path, so
the scene can be found again from any folder; :func:`scene_key` is what two records of one scene
share, to check that a scene opened again is the one a run was trained on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

HASH_LIMIT = 1 << 30
"""Files larger than this (1 GiB) are named by size and modification time, not by their sha256."""
LIBRARIES = ("torch", "lightning", "scikit-learn", "numpy")
"""Distributions whose versions a run records, besides hsi_app's own."""


def library_versions() -> dict[str, str | None]:
    """``{distribution: version}`` of :data:`LIBRARIES` (``None``: not installed) and ``"hsi_app"``."""
    from importlib.metadata import PackageNotFoundError, version

    from hsi_app import __version__

    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["hsi_app"] = __version__
    return out


def file_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"path", "bytes", "sha256"}`` of a file (``path``: resolved, absolute); over :data:`HASH_LIMIT` bytes,
    ``"sha256": None`` and ``"mtime"`` (UTC, ISO 8601) instead."""
    from hsi_app.data.download_records import sha256_file

    p = Path(path).resolve()
    st = p.stat()
    record: dict[str, Any] = {"path": str(p), "bytes": int(st.st_size)}
    if st.st_size > HASH_LIMIT:
        record.update(sha256=None, mtime=dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).isoformat())
    else:
        record["sha256"] = sha256_file(p)
    return record


def scene_files(source: str | os.PathLike[str], fmt: str | None = None) -> list[Path]:
    """The files a scene was read from: every file of a product folder, an ENVI header and its data file,
    a GeoTIFF and the ``file type = TIFF`` ENVI header beside it (which the reader takes wavelengths, FWHM, bad
    bands and no-data from: :mod:`hsi_app.io.envi_tiff`), a ``.mat`` cube and the ``*_gt.mat`` beside it, else
    the file itself (none for a name that is not a path).

    The one list of a scene's files (run provenance, ``hsi batch``'s input fingerprint). Without ``fmt``
    (the reader's format name) an ENVI pair is found by its header; a ``.mat``'s labels file counts only
    with a ``mat`` format (``mat-v5``, ``mat-v7.3``: a prediction does not read it).
    """
    if not str(source).strip():  # a cube built in Python: no files (Path('') is the current folder)
        return []
    p = Path(source)
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file())
    if not p.is_file():
        return []
    files = [p]
    from hsi_app.io.envi import find_data, find_header, is_tiff_header

    if fmt == "envi" or (fmt is None and find_header(p) is not None):
        header = find_header(p)
        data = find_data(header) if header is not None else None
        files = [f for f in (header, data) if f is not None] or [p]
    elif fmt == "geotiff":  # as the header + TIFF pair above lists them, so both identities agree
        header = find_header(p)
        files = [header, p] if header is not None and header != p and is_tiff_header(header) else [p]
    elif fmt is not None and fmt.startswith("mat"):  # the reader names it mat-v5 / mat-v7.3
        from hsi_app.io.mat import find_labels_file

        gt = find_labels_file(p)
        files += [gt] if gt is not None else []
    return list(dict.fromkeys(files))


def array_sha256(values: np.ndarray) -> str:
    """sha256 of an array's bytes in C order (its dtype and shape are not hashed: record them beside it)."""
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()


def data_identity(cube: Any, label_files: Iterable[str | os.PathLike[str] | None] = (), *,
                  library: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Identity of a run's inputs: ``{"scene": ..., "labels": [file identities]}``.

    Args:
        cube: the scene as opened (``attrs["source"]``, ``attrs["format"]``).
        label_files: label files given besides the scene (``--labels``, ``--train-labels``...); ``None`` skipped.
        library: the spectral library a detector was trained with (``--targets``), recorded under ``"library"``
            when it is a file.

    Returns:
        ``scene``: ``{"builtin": name, "array_sha256", "array": "float32 (C, H, W)"}`` for a built-in scene,
        else ``{"files": [file_identity, ...]}``; with ``"changed_in_memory": True`` when the cube names a scene
        but no longer holds the values opening it gives (:func:`~hsi_app.io.read_values.holds_read_values`).
    """
    from hsi_app.io.read_values import holds_read_values

    source, fmt = str(cube.attrs.get("source", "")), cube.attrs.get("format")
    scene: dict[str, Any]
    if fmt == "builtin":
        values = np.asarray(cube.values)
        scene = {"builtin": source, "array_sha256": array_sha256(values),
                 "array": f"{values.dtype} {tuple(values.shape)} (C, H, W)"}
    else:
        scene = {"files": [file_identity(f) for f in scene_files(source, fmt)]}
    if source.strip() and not holds_read_values(cube):
        scene["changed_in_memory"] = True
    labels = [file_identity(f) for f in label_files if f is not None and Path(f).is_file()]
    out: dict[str, Any] = {"scene": scene, "labels": labels}
    if library is not None and Path(library).is_file():
        out["library"] = file_identity(library)
    return out


def run_record(cube: Any, label_files: Iterable[str | os.PathLike[str] | None] = (), *,
               library: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``{"versions", "data_identity"}`` of a training run (:func:`library_versions`, :func:`data_identity`),
    for its config.json ``extra`` and metrics.json; take it before training, so it names the inputs as read."""
    return {"versions": library_versions(), "data_identity": data_identity(cube, label_files, library=library)}


def scene_reference(cube: Any) -> str:
    """What a run records as its scene (config.json ``data``): the resolved absolute path of a file or folder
    scene, the name of a built-in one, else ``attrs["source"]`` as it is ('' for a cube built in Python)."""
    source = str(cube.attrs.get("source", ""))
    if not source or cube.attrs.get("format") == "builtin":
        return source
    path = Path(source)
    return str(path.resolve()) if path.exists() else source


def scene_key(scene: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """The contents named by a :func:`data_identity` ``scene`` record, without its paths (``None``: no record, or
    no file in it): two records of the same scene have the same key wherever its files lie."""
    if not scene:
        return None
    if "builtin" in scene:
        return ("builtin", scene.get("array_sha256"))
    files = scene.get("files") or []
    if not files:
        return None
    return tuple((f.get("bytes"), f.get("sha256") or f.get("mtime")) for f in files)


def same_contents(recorded: tuple[Any, ...] | None, found: tuple[Any, ...] | None) -> bool:
    """Whether a scene ``found`` now (its :func:`scene_key`) is the one a run ``recorded``: equal keys, or a record
    of one file that ``found`` lists beside its side files (a run recorded before a ``.mat``'s ``*_gt.mat`` and a
    GeoTIFF's ENVI header joined a scene's files, in session 50). Not the other way: a recorded side file that is
    gone now (an ENVI header giving the TIFF's wavelengths and scale) is a changed scene. ``None`` never agrees."""
    if recorded is None or found is None:
        return False
    return recorded == found or (len(recorded) == 1 and len(found) > 1 and recorded[0] in found)


def weights_identity(run_dir: str | os.PathLike[str], name: str | None = None) -> dict[str, Any]:
    """``{"model_dir", "weights", "weights_sha256"}`` of a run folder's weights file (default ``model.safetensors``)."""
    from hsi_app.checkpoint import WEIGHTS_NAME
    from hsi_app.data.download_records import sha256_file

    run = Path(run_dir)
    weights = run / (name or WEIGHTS_NAME)
    return {"model_dir": str(run.resolve()), "weights": weights.name,
            "weights_sha256": sha256_file(weights) if weights.is_file() else None}
