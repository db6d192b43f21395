"""Expand ``--inputs`` patterns into scenes and give each scene its mirrored output path.

A *scene* is anything :func:`hsi_app.io.open.open_cube` reads as one cube: a file
(GeoTIFF, ``.mat``, ENVI data file), an EnMAP L2A product zip, or an EnMAP product
folder. Globs are expanded with ``**`` recursion; a match that lies *inside* an EnMAP
product folder (its ``*_SPECTRAL_IMAGE.TIF``, masks, XML) collapses into the product
folder, so a product is always one input. A plain folder stands for every scene below it (linked
folders included). A scene is one input however it is reached (links), and so is a product's ``X.ZIP``
beside its extracted folder ``X/`` (the folder is read).
An ENVI header stands for its data file (so a pair is one input, whichever file matched); a
header whose data file is missing is an input of its own, so that the batch reports it as
failed with the reader's reason instead of dropping it.

Outputs mirror the folder layout below the pattern's fixed prefix: with
``--inputs 'scenes/**/*.tif'``, ``scenes/2024/a.tif`` -> ``OUT/2024/a_classes.tif``.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from hsi_app.data.download_records import LOCK_SUFFIX, PART_SUFFIX
from hsi_app.data.download_resume import RESUME_SUFFIX
from hsi_app.errors import ConfigError, DatasetNotFoundError
from hsi_app.io.enmap_product import TAR_ENDINGS
from hsi_app.io.envi import ENVI_DATA_EXTS
from hsi_app.io.open import HDF5_MAGIC, MAT_MAGIC, TIFF_MAGIC

# Files that never are scenes on their own: sidecars and metadata; what GDAL reads beside a raster (aux, overview,
# external mask, world and .prj files, RPC/IMD metadata, Erdas spill files); checksums; vector, style and project
# files kept beside scenes; documents, spreadsheets, backups and what file managers leave (Thumbs.db, desktop.ini);
# a download's working files (.part, .lock, .resume). ENVI headers (.hdr) are resolved to their data file by
# _header_scene. A TIFF sidecar (.ovr, .msk) is listed as its content would make it a scene.
SKIP_SUFFIXES = (".json", ".xml", ".aux.xml", ".aux", ".ovr", ".rrd", ".msk", ".tfw", ".tifw", ".tiffw", ".wld", ".prj",
                 ".rpb", ".imd", ".ige", ".md5", ".sha1", ".sha256", ".sha512", ".shp", ".shx", ".dbf", ".cpg", ".qml",
                 ".qmd", ".qgz", ".qgs", ".lyr", ".lyrx", ".sld", ".kml", ".kmz", ".geojson", ".csv", ".txt", ".md",
                 ".log", ".pdf", ".html", ".doc", ".docx", ".odt", ".rtf", ".xls", ".xlsx", ".ods", ".ppt", ".pptx",
                 ".png", ".jpg", ".npy", ".gpkg", ".db", ".ini", ".bak", ".tmp", "~", PART_SUFFIX, LOCK_SUFFIX, RESUME_SUFFIX)
STEM_SUFFIXES = (".tif", ".tiff", ".mat", ".zip", *ENVI_DATA_EXTS)
"""Endings of single-file scenes (GeoTIFF, MATLAB, EnMAP zips, ENVI data), which an output's name drops
(:meth:`SceneInput.output_path`; a tar's ending stays: ``X.tar.gz`` -> ``X.tar.gz_classes.tif``)."""
SCENE_SUFFIXES = (*STEM_SUFFIXES, *TAR_ENDINGS)
"""Endings of files taken as scenes by name (GeoTIFF, MATLAB, EnMAP zips and tars, ENVI data); any other file is
one only by its content (:func:`_scene_by_content`)."""
SCENE_MAGIC = (*TIFF_MAGIC, MAT_MAGIC, HDF5_MAGIC)
"""How the content of a scene file without an extension begins (TIFF, BigTIFF, MATLAB v5, HDF5/MATLAB v7.3 at 0)."""
GLOB_CHARS = "*?["


@dataclass(frozen=True)
class SceneInput:
    """One unit of work.

    Attributes:
        source: absolute path of the scene (file, zip or EnMAP folder).
        rel: its path relative to the pattern root; decides the output location.
    """

    source: Path
    rel: Path

    def output_path(self, out_dir: str | os.PathLike[str], suffix: str) -> Path:
        """``OUT/<rel folder>/<scene stem><suffix>`` (``suffix`` like ``"_classes.tif"``)."""
        name = self.rel.name
        for ext in (*STEM_SUFFIXES, ".hdr"):
            if name.lower().endswith(ext):
                name = name[: -len(ext)]
                break
        return Path(out_dir).absolute() / self.rel.parent / f"{name}{suffix}"


def is_literal(pattern: str) -> bool:
    """Whether ``pattern`` names a path as it is: it has no glob character, or a file or folder of exactly that
    name exists (``flight [1]/a.tif``: ``[1]`` would otherwise be a glob class matching only ``1``)."""
    return not any(ch in pattern for ch in GLOB_CHARS) or os.path.lexists(pattern)


def pattern_root(pattern: str) -> Path:
    """The fixed (glob-free) leading folder of a pattern: ``scenes/**/*.tif`` -> ``scenes``."""
    if is_literal(pattern):  # a file's root is its folder, a folder is its own root
        p = Path(pattern)
        return p if p.is_dir() else p.parent
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts:
        if any(ch in part for ch in GLOB_CHARS):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _enmap_product_of(path: Path, root: Path) -> Path | None:
    """The EnMAP product folder containing ``path`` (below or equal to ``root``), if any."""
    from hsi_app.io.enmap import is_enmap_product

    for folder in [path, *path.parents]:
        # Only a folder that directly holds the spectral image is a product (not a folder of products).
        if folder.is_dir() and any("SPECTRAL_IMAGE" in f.name.upper() for f in folder.iterdir()) and is_enmap_product(folder):
            return folder
        if folder == root or folder == folder.parent:
            break
    return None


def _is_candidate(path: Path) -> bool:
    """Whether a file may be a scene by itself (not hidden, not a header, sidecar or aux file)."""
    name = path.name.lower()
    if name.startswith("."):  # hidden: our own partial/staging files, editor droppings
        return False
    if name.endswith(SKIP_SUFFIXES) or _is_header(path):
        return False
    return name.endswith(SCENE_SUFFIXES) or _scene_by_content(path)


def _scene_by_content(path: Path) -> bool:
    """A file without a scene's extension (none, or another one) is a scene when it is ENVI data (a header beside
    it) or its content is a TIFF or MATLAB file; ``README``, ``notes.yaml``, ``run.sh``, ``photo.jpeg`` are not."""
    from hsi_app.io.envi import find_header

    if find_header(path) is not None:
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(8).startswith(SCENE_MAGIC)
    except OSError:
        return True  # unreadable: an input, so that the batch reports why


def _is_header(path: Path) -> bool:
    """A visible ``*.hdr`` / ``*.HDR`` file (an ENVI header, or another file's sidecar header)."""
    return path.name.lower().endswith(".hdr") and not path.name.startswith(".")


def _header_scene(header: Path, *, literal: bool) -> Path:
    """The scene an ENVI ``header`` stands for.

    Its data file when there is one (``x.hdr`` -> ``x.img``, so a pair counts once); a header
    named literally otherwise stays itself, as in every other command; a matched header that
    is a sibling's header (``x.tif`` beside ``x.hdr``) stands for that sibling; a header with no
    file at all stays itself, so that reading it fails and the report names the missing data file.
    """
    from hsi_app.io.envi import find_data, find_header

    data = find_data(header)
    if data is not None or literal:
        return data or header
    for sib in sorted(header.parent.iterdir()):
        if sib != header and sib.is_file() and _is_candidate(sib) and find_header(sib) == header:
            return sib
    return header


def _scene_of(path: Path, root: Path, *, literal: bool = False) -> Path | None:
    """The scene a matched file belongs to (EnMAP product, ENVI data file, itself) or ``None`` (not a scene)."""
    product = _enmap_product_of(path, root)
    if product is not None:
        return product
    if _is_header(path):
        return _header_scene(path, literal=literal)
    return path if _is_candidate(path) else None


def _files_below(folder: Path) -> list[Path]:
    """Every file below ``folder``, sorted, entering linked folders as a ``**`` glob does (each real folder once,
    so a link back up the tree ends the walk there instead of looping)."""
    files: list[Path] = []
    visited: set[Path] = set()
    for top, dirs, names in os.walk(folder, followlinks=True):
        real = Path(top).resolve()
        if real in visited:
            dirs[:] = []
            continue
        visited.add(real)
        files.extend(Path(top) / n for n in names if (Path(top) / n).is_file())
    return sorted(files)


def _expand_one(pattern: str, out_dir: Path | None, excluded: list[Path] | None = None) -> list[SceneInput]:
    """The scenes of one pattern; those inside ``out_dir`` are skipped (and appended to ``excluded``)."""
    root = pattern_root(pattern).absolute()
    literal = is_literal(pattern)
    matches = [Path(pattern).absolute()] if os.path.lexists(pattern) else [
        Path(m).absolute() for m in sorted(glob.glob(pattern, recursive=True))]
    if not matches and literal:
        raise DatasetNotFoundError(f"{pattern}: no such file or folder; check the --inputs path")
    found: dict[Path, None] = {}
    for m in matches:
        if m.is_dir() and _enmap_product_of(m, root) is None:
            scenes = [_scene_of(sub, m) for sub in _files_below(m) if _is_candidate(sub) or _is_header(sub)]
        else:
            scenes = [_scene_of(m, root, literal=literal)]
        found.update((s, None) for s in scenes if s is not None)
    items = []
    for path in found:
        real = path.resolve()  # a symlink or '..' in either path must not hide our own outputs
        if out_dir is not None and (real == out_dir or out_dir in real.parents):
            if excluded is not None:
                excluded.append(path)
            continue  # never treat our own outputs as inputs
        rel = path.relative_to(root) if root in path.parents else Path(path.name)
        items.append(SceneInput(path, rel))
    return items


def expand_inputs(patterns: list[str], out_dir: str | os.PathLike[str] | None = None) -> list[SceneInput]:
    """All scenes named by ``patterns`` (globs, files, folders), deduplicated, in a stable order.

    Args:
        patterns: ``--inputs`` values; ``**`` recurses.
        out_dir: the batch output folder; anything below it is ignored (compared with links and
            ``..`` resolved, so no spelling of it lets outputs be read back as inputs).

    Raises:
        ConfigError: no pattern matched anything.
        DatasetNotFoundError: a literal (glob-free) path does not exist.
    """
    out = Path(out_dir).resolve() if out_dir is not None else None
    seen: dict[Path, SceneInput] = {}
    excluded: list[Path] = []
    for pattern in patterns:
        for item in _expand_one(pattern, out, excluded):
            seen.setdefault(item.source.resolve(), item)  # a link and its target are one scene
    for key in [k for k, item in seen.items() if _extracted_beside(item.source, seen)]:
        del seen[key]
    if not seen and excluded:
        n = len(set(excluded))
        raise ConfigError(
            f"--inputs {' '.join(patterns)}: {'all ' + str(n) + ' matching scenes lie' if n > 1 else 'the matching scene lies'} "
            f"inside --out-dir {out_dir}, "
            "whose files are never taken as inputs; choose an --out-dir outside the input folders"
        )
    if not seen:
        hint = ("; in a glob, [ ] * ? are pattern characters: write [[] for a [ in a folder name"
                if any("[" in p for p in patterns) else "")
        missing = [str(pattern_root(p)) for p in patterns if not pattern_root(p).is_dir()]
        if missing:  # 'scnes/**/*.tif': the folder is misspelt, not the pattern
            hint += f"; no such folder: {', '.join(dict.fromkeys(missing))}"
        raise ConfigError(f"--inputs {' '.join(patterns)}: matched no scene; quote globs so the shell does not "
                          f"expand them{hint}")
    return keep_apart(list(seen.values()))


def _extracted_beside(source: Path, scenes: dict[Path, SceneInput]) -> bool:
    """Whether ``source`` is a zip whose extracted folder (``X.ZIP`` and ``X/`` side by side) is also among ``scenes``:
    one product, taken once, from the folder."""
    if not source.name.lower().endswith(".zip"):
        return False
    stem = source.name[:-4].casefold()
    return any(s.source.parent == source.parent and s.source.name.casefold() == stem and s.source.is_dir()
               for s in scenes.values())


def output_key(path: Path) -> str:
    """How a file system that ignores case (macOS, Windows) tells output paths apart: ``Scene.tif`` is ``scene.tif``."""
    return str(path).casefold()


def keep_apart(items: list[SceneInput]) -> list[SceneInput]:
    """Give scenes of different folders that would share an output name their folders back.

    Each pattern mirrors the layout below its own root, so ``site1/scene.tif`` and ``site2/scene.tif``
    named by two patterns, or as files one by one (a glob the shell expanded), both map to
    ``OUT/scene...``. Those scenes are placed instead by their path below the folder they share
    (``OUT/site1/scene...``, ``OUT/site2/scene...``); every other scene keeps its place. Names are compared
    ignoring case (:func:`output_key`: ``Scene.tif`` and ``scene.tif`` are one file on macOS and Windows), and
    again after each re-placing, until no new meeting appears (``d/a/scene.tif`` and ``d/b/scene.tif`` moved to
    ``OUT/a/...`` meet ``e/a/scene.tif``'s ``OUT/a/...``). Scenes that still meet (``a.tif`` beside ``a.mat``)
    are left for :func:`check_unique_outputs` to refuse.
    """
    out = list(items)
    for _ in range(len(items) + 1):  # each round places a group deeper; a bound all the same
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(out):
            groups.setdefault(output_key(item.output_path(".", "")), []).append(i)
        changed = False
        for members in groups.values():
            if len(members) < 2:
                continue
            for i, rel in zip(members, _below_shared([out[i].source for i in members]), strict=True):
                if rel != out[i].rel:
                    out[i], changed = SceneInput(out[i].source, rel), True
        if not changed:
            break
    return out


def _below_shared(sources: list[Path]) -> list[Path]:
    """Each of ``sources``' paths below the folder their folders share; sources on different drives (Windows:
    ``C:`` and ``D:``, which have no folder in common) keep their whole path with the drive letter as the top
    folder (``C/flights/scene.tif``)."""
    try:
        shared = Path(os.path.commonpath([s.parent for s in sources]))
    except ValueError:  # different drives, or a mix of absolute and relative paths
        return [Path("".join(ch for ch in s.drive if ch.isalnum()) or ".", *s.parts[1:]) for s in sources]
    return [s.relative_to(shared) for s in sources]


def check_unique_outputs(items: list[SceneInput], out_dir: str | os.PathLike[str], suffix: str) -> None:
    """Refuse two inputs that would write the same output (e.g. ``a.tif`` and ``a.mat`` side by side, or
    ``Scene.tif`` and ``scene.tif``, one file on a file system that ignores case).

    Raises:
        ConfigError: naming both colliding inputs.
    """
    owner: dict[str, tuple[Path, Path]] = {}
    for item in items:
        out = item.output_path(out_dir, suffix)
        key = output_key(out)
        if key in owner:
            first, first_out = owner[key]
            what = str(out) if first_out == out else f"{first_out} and {out}, one file where case is ignored (macOS, Windows)"
            raise ConfigError(
                f"{item.source} and {first} would both write {what}; rename one or run them in separate batches"
            )
        owner[key] = (item.source, out)
