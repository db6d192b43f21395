"""``open_cube``: the one front door for reading any supported scene.

Dispatch is on content (magic bytes, header text, folder contents), not only on the
file name: a GeoTIFF named ``.dat`` or an ENVI file with an unusual extension still opens.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, CubeReadError, DatasetNotFoundError, HSIError, cannot_read
from hsi_app.io.cube import Cube

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
"""How a TIFF or BigTIFF begins (either byte order)."""
MAT_MAGIC = b"MATLAB"
"""How a MATLAB v5 file begins."""
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
"""The HDF5 signature: at byte 0, or at 512 after the user block of a MATLAB v7.3 file."""
FORMAT_NAMES = {"enmap": "an EnMAP product", "envi": "an ENVI file", "geotiff": "a GeoTIFF"}
"""How a refusal names a format that :func:`sniff` found."""
SUPPORTED = "EnMAP L2A (folder/zip, GeoTIFF or ENVI format), .mat (v5/v7.3), ENVI (.hdr + data), GeoTIFF, or indian_pines"


def has_envi_header(path: Path) -> bool:
    """True when an ENVI header sits next to the data file ``path`` (``x.hdr``/``x.HDR`` or ``x.img.hdr``)."""
    from hsi_app.io.envi import find_header

    return path.suffix.lower() != ".hdr" and find_header(path) is not None


def is_raw_envi_data(path: Path) -> bool:
    """True when ``path`` is the raw data that an ENVI header beside it describes: the header is
    not one ENVI writes to annotate a TIFF (``file type = TIFF``) and the file's size is exactly
    its ``header offset`` + samples × lines × bands × item size. Raw pixels may begin with the four
    bytes of a TIFF signature; a GeoTIFF beside another file's header (``x.img`` + ``x.hdr`` +
    ``x.tif`` from gdal_translate) never has that size, so it stays a GeoTIFF."""
    from hsi_app.io.envi import described_size, find_header, read_header

    header = find_header(path)
    if header is None or header == path:
        return False
    try:
        h = read_header(header)
        if "tif" in str(h.get("file type", "")).lower():
            return False
        return path.stat().st_size == described_size(h)
    except (HSIError, OSError, KeyError, TypeError, ValueError):
        return False


def sniff(path: Path) -> str:
    """Identify the format of ``path``: ``enmap``, ``mat``, ``envi``, ``geotiff``.

    Raises:
        CubeReadError: the content matches no supported format.
    """
    from hsi_app.io.enmap import (
        METADATA_SUFFIX,
        TAR_ENDINGS,
        is_enmap_product,
        locate_product,
        named_envi_spectral_image,
        named_jpeg2000_spectral_image,
    )
    from hsi_app.io.envi import ENVI_DATA_EXTS

    if path.is_dir() or zipfile.is_zipfile(path) or path.name.lower().endswith(TAR_ENDINGS):
        locate_product(path)  # folders and zips are EnMAP products; raises the precise reason if not (tars: always)
        return "enmap"
    if path.suffix.lower() == ".zip":
        raise CubeReadError(f"{path}: damaged or truncated zip archive; download it again")
    named = (path.name.upper().endswith(METADATA_SUFFIX) or named_envi_spectral_image(path)
             or named_jpeg2000_spectral_image(path))
    if named and is_enmap_product(path):  # an ENVI- or JPEG2000-format product's image: EnMAP, not plain ENVI
        return "enmap"
    try:
        with open(path, "rb") as fh:
            head = fh.read(520)
    except FileNotFoundError:
        raise
    except OSError as err:  # permissions, an I/O error
        raise CubeReadError(cannot_read(path, err)) from err
    if not head:
        raise CubeReadError(f"{path}: file is empty; download or export it again")
    if head[:4] in TIFF_MAGIC and not is_raw_envi_data(path):  # raw pixels may begin with these bytes
        return "enmap" if is_enmap_product(path) else "geotiff"
    if head.startswith(MAT_MAGIC) or HDF5_MAGIC in (head[:8], head[512:520]):  # v5, v7.3 (plain HDF5: refused by the reader)
        return "mat"
    if head[:4] == b"ENVI" or has_envi_header(path):
        return "envi"
    if head.startswith(b"EHFA_HEADER_TAG"):  # GDAL's default .img format, not raw ENVI data
        raise CubeReadError(f"{path}: is an ERDAS Imagine (.img, HFA) file, which is not read here; convert it to a "
                            f"GeoTIFF: gdal_translate -of GTiff {path.name} {path.stem}.tif")
    if path.suffix.lower() in ENVI_DATA_EXTS:  # raw ENVI data: its header is missing
        raise CubeReadError(f"{path}: no ENVI header beside it (looked for {path.with_suffix('.hdr').name}, "
                            f"{path.name}.hdr); copy its .hdr next to it")
    raise CubeReadError(f"{path}: unrecognised file content; supported: {SUPPORTED}")


def is_mat(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a readable file with MATLAB content (:func:`sniff`); ``False`` for anything else."""
    p = Path(path)
    try:
        return p.is_file() and sniff(p) == "mat"
    except (HSIError, OSError):
        return False


def open_cube(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    labels: str | os.PathLike[str] | np.ndarray | None = None,
    label_key: str | None = None,
    label_attribute: str = "class",
    label_layer: str | None = None,
    chunks: int = 512,
    **options: Any,
) -> Cube:
    """Open a hyperspectral scene as a :class:`~hsi_app.io.cube.Cube`.

    Args:
        path: a file, EnMAP product folder/zip, a built-in name (``indian_pines``), or the name of a catalog
            dataset fetched by ``hsi datasets fetch`` (:func:`hsi_app.data.dataset_folder.fetched_cube`).
        key: ``.mat`` variable holding the cube (default: a known key or the only 3-D array); refused
            for a file in another format.
        labels: a label raster (``.mat``/``.npy``/GeoTIFF) or vector file (GeoPackage,
            Shapefile) to attach as ``label``; overrides labels found next to the cube. An ``(H, W)``
            integer array is attached as it is (``cube.hsi.with_labels(labels)``: same checks; class
            names: pass them to ``with_labels``).
        label_key: ``.mat`` variable holding the labels.
        label_attribute: vector attribute holding the class.
        label_layer: layer of a vector label file with several layers (refused without it).
        chunks: spatial chunk size of lazy reads.
        **options: passed to the format reader.

    Returns:
        The Cube, lazily backed where the format allows, marked as holding the values read
        (:func:`hsi_app.io.read_values.holds_read_values`).

    Raises:
        DatasetNotFoundError: no such file or built-in name.
        CubeReadError: unreadable or unsupported content.
        ConfigError: ``key`` given for a file that is not a ``.mat``.
    """
    from hsi_app.io.builtin import is_builtin, load_builtin

    if not str(path).strip():
        raise DatasetNotFoundError("empty input path; pass a file, an EnMAP product folder/zip, or a built-in name (indian_pines)")
    if isinstance(path, (str, os.PathLike)) and is_builtin(os.fspath(path)) and not Path(path).exists():
        if key is not None:  # a built-in scene is no .mat file the user chose a variable of
            raise ConfigError(f"--key {key}: {path} is a built-in scene, not a .mat file, so it has no variables "
                              "to choose from; drop it (key= in Python)")
        cube = load_builtin(os.fspath(path))  # Path("indian_pines") too: the error said "pass indian_pines"
    else:
        from hsi_app.data.dataset_folder import fetched_cube, folder_hint, name_hint

        p = Path(path)
        if not p.exists() and (fetched := fetched_cube(str(path))) is not None:  # a catalog name, fetched
            p = fetched
        if not p.exists():
            raise DatasetNotFoundError(
                name_hint(str(path)) or f"{p}: no such file or folder; check the path, or use a built-in name (indian_pines)"
            )
        if p.is_dir() and (fetched := fetched_cube(str(path))) is not None and fetched.parent.resolve() == p.resolve():
            p = fetched  # a catalog name from inside the data root (HSI_DATA_ROOT=.): ./NAME is its folder
        if p.is_dir() and (hint := folder_hint(p)):  # ROOT/NAME of `hsi datasets fetch`: name its cube file
            raise CubeReadError(hint)
        fmt = sniff(p)
        if key is not None and fmt != "mat":  # an option the read would ignore is refused
            raise ConfigError(f"--key {key}: {p} is {FORMAT_NAMES.get(fmt, fmt)}, not a .mat file, so it has no "
                              "variables to choose from; drop it (key= in Python)")
        if fmt == "mat" and labels is not None:  # given labels replace the sibling *_gt.mat: do not read it
            options.setdefault("find_labels", False)
        cube = _read(p, fmt, key=key, chunks=chunks, **options)
    from hsi_app.io.read_values import mark_as_read

    mark_as_read(cube)  # a run trained on it later can tell whether it was changed in Python since
    if labels is not None and not isinstance(labels, (str, os.PathLike)):  # an (H, W) array, not a file
        return cube.hsi.with_labels(np.asarray(labels))
    if labels is not None:
        from hsi_app.io.labels import read_labels

        lab, names = read_labels(labels, cube, key=label_key, attribute=label_attribute, layer=label_layer)
        cube = cube.hsi.with_labels(lab, names if names is not None else cube.hsi.class_names)
    return cube


def _read(path: Path, fmt: str, *, key: str | None, chunks: int, **options: Any) -> Cube:
    if fmt == "enmap":
        from hsi_app.io.enmap import read_enmap

        return read_enmap(path, chunks=chunks, **options)
    if fmt == "mat":
        from hsi_app.io.mat import read_mat

        return read_mat(path, key=key, chunks=chunks, **options)
    if fmt == "envi":
        from hsi_app.io.envi import read_envi

        return read_envi(path, chunks=chunks, **options)
    from hsi_app.io.geotiff import read_geotiff

    return read_geotiff(path, chunks=chunks, **options)
