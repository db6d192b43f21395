"""Atomic output files: write to a hidden temporary name, rename on success.

Every writer in :mod:`hsi_app.io` goes through :func:`atomic_path`, so an output path
holds either the previous file or the complete new one, never a half-written file,
even when the process is interrupted (exception, Ctrl-C) in the middle of a write.

The temporary file lives in the destination folder (``os.replace`` is only atomic
within one file system) and is named ``.<name>.partial-<random><suffix>``: hidden,
recognisable, and still ending in the real suffix so that libraries that infer the
format from the extension (GDAL's GeoPackage driver, matplotlib) behave as for ``dst``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from hsi_app.errors import OutputError
from hsi_app.io.disk_full import DiskFullError, WriteWatch, exception_chain

PARTIAL_MARKER = ".partial-"
TIF_SUFFIXES = (".tif", ".tiff")  # what GeoTIFF outputs may be called


def _process_umask() -> int:
    """The process's umask, read once at import (setting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Permission bits of a new output file, as ``open()`` would give it. Some writers (safetensors)
# create private 0600 files, which other users of a shared run folder, or batch workers
# running as another user, could not read.
FILE_MODE = 0o666 & ~_process_umask()


def check_writable(dst: str | os.PathLike[str]) -> Path:
    """Check up front that ``dst`` can be created, before any expensive work.

    Args:
        dst: the output file path.

    Returns:
        ``dst`` as an absolute :class:`~pathlib.Path`.

    A probe file is created and removed in the folder, because permission bits do not
    tell everything (root passes ``os.access`` on ``/proc`` and on read-only mounts).

    Raises:
        OutputError: an empty path; the folder does not exist, is not a folder, is not
            writable or refuses new files; or ``dst`` itself is an existing folder.
    """
    if not str(dst).strip():
        raise OutputError("empty output path; pass a file name for the output")
    path = Path(dst).expanduser().absolute()
    folder = path.parent
    if path.is_dir():
        raise OutputError(f"{dst}: is an existing folder; pass a file name for the output")
    if not folder.exists():
        raise OutputError(f"{dst}: folder {folder} does not exist; create it first or choose another output path")
    if not folder.is_dir():
        raise OutputError(f"{dst}: {folder} is not a folder; choose another output path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{dst}: folder {folder} is not writable; choose another output path or fix its permissions")
    probe = partial_path(path)  # os.access says yes to root everywhere; /proc or a read-only mount still refuse
    try:
        with open(probe, "xb"):
            pass
    except OSError as err:
        if isinstance(WriteWatch(dst).failure(err), DiskFullError):
            raise DiskFullError(dst) from err
        raise OutputError(f"{dst}: cannot create files in {folder} ({err.strerror}); choose another output path") from err
    remove_quietly(probe)
    return path


PathArg = str | os.PathLike[str] | None


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (links and ``..`` resolved; by path when either is missing)."""
    if a.exists() and b.exists():
        try:
            return a.samefile(b)
        except OSError:
            return False
    return a.resolve() == b.resolve()


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (``folder`` an existing folder; links resolved)."""
    if not folder.is_dir():
        return False
    return path.resolve().is_relative_to(folder.resolve())


def check_outputs(outputs: Mapping[str, PathArg], inputs: Mapping[str, PathArg]) -> None:
    """Refuse, before any work, an output that is one of the inputs or another output.

    Args:
        outputs: option name -> output path (``None`` entries are skipped), e.g.
            ``{"--out": "map.tif", "--png": None}``.
        inputs: option name -> input path (built-in names that are not files are harmless);
            the ``.hdr`` next to an input (ENVI) is protected as well, and an input that is a
            folder (a run folder, an EnMAP product) protects every file inside it.

    Raises:
        OutputError: naming both options and the path.
    """
    outs = [(k, Path(v).expanduser().absolute()) for k, v in outputs.items() if v is not None and str(v) != ""]
    ins = [(k, Path(v).expanduser().absolute()) for k, v in inputs.items() if v is not None and str(v) != ""]
    for k, src in list(ins):  # an ENVI cube's or library's header (x.img / x.sli -> x.hdr) is an input too
        hdr = src.with_suffix(".hdr")
        if hdr != src and hdr.is_file():
            ins.append((f"{k} header", hdr))
    for i, (name, out) in enumerate(outs):
        for in_name, src in ins:
            if same_file(out, src):
                raise OutputError(f"{out}: {name} would overwrite the {in_name} input; choose another output path")
            if _inside(out, src):
                raise OutputError(f"{out}: {name} is inside the {in_name} input folder {src}; "
                                  "choose an output path outside it")
        for other, path in outs[i + 1:]:
            if same_file(out, path):
                raise OutputError(f"{out}: {name} and {other} are the same file; give each output its own path")


def repeated(option: str, paths: Iterable[PathArg]) -> dict[str, PathArg]:
    """``check_outputs`` inputs for a repeatable option: ``--model``, or ``--model #1``, ``--model #2``... when several."""
    paths = list(paths)
    return {option if len(paths) == 1 else f"{option} #{i}": p for i, p in enumerate(paths, 1)}


def check_suffix(option: str, dst: PathArg, suffixes: tuple[str, ...], what: str, hint: str = "") -> None:
    """Refuse an output name whose extension promises another format than the one written.

    A class map saved as ``map.png`` would be a GeoTIFF under a PNG name: viewers and GIS
    software pick the decoder from the extension, so the file would look broken.

    Args:
        option: the CLI option, for the message (``"--out"``).
        dst: the output path (``None`` or empty: nothing to check).
        suffixes: accepted extensions, lower case with the dot (``(".tif", ".tiff")``).
        what: the format written, e.g. ``"a Cloud-Optimized GeoTIFF"``.
        hint: an extra sentence for the message, e.g. pointing at the option that writes PNG.

    Raises:
        OutputError: naming the path, the format and the accepted extensions.
    """
    if dst is None or not str(dst).strip():
        return
    if Path(dst).suffix.lower() not in suffixes:
        names = " or ".join(suffixes)
        raise OutputError(f"{dst}: {option} writes {what}; give it a {names} name{hint}")


RUN_KINDS = {  # a file that makes a folder load as one kind of run -> what the folder holds
    "model.safetensors": "a trained model",
    "adapter.safetensors": "an `hsi finetune` adapter",
    "ensemble.json": "an `hsi ensemble`",
}
OTHER_THAN_TRAINING = ("adapter.safetensors", "ensemble.json")  # other_runs for `hsi train` (any task)
OTHER_THAN_FINETUNE = ("model.safetensors", "ensemble.json")  # other_runs for `hsi finetune`


def check_out_dir(
    out: str | os.PathLike[str],
    *,
    other_runs: Iterable[str] = (),
    protect: Iterable[PathArg] = (),
    writes: Iterable[str] = (),
    task: str | None = None,
    marker: str | None = None,
    option: str = "--out",
) -> Path:
    """Check up front that the run folder ``out`` can be created (or reused).

    Args:
        out: the run folder.
        other_runs: names from :data:`RUN_KINDS` that mark a run of another kind. A folder
            holding one is refused: the loaders go by those files (an ``ensemble.json``
            makes ``--model DIR`` an ensemble), so a new run published beside them would
            be shadowed by the old one, or fail to load.
        protect: input files (scene, labels) that the run must not replace.
        writes: the file names the run will write into ``out``, checked against ``protect``. When ``out``
            holds no earlier run of this kind (see ``task`` and ``marker``), an existing file of one of these
            names is someone else's (a ``map.tif`` of ``hsi predict``, notes called ``metrics.json``) and is
            refused rather than replaced.
        task: the task of the training run to be written (``config.json``'s ``task``). A folder
            holding a run of another task is refused: the new run would replace only the files
            both write, leaving the other run's outputs (a classifier's ``map.tif``,
            ``split.npz``...) beside a config that does not describe them. A ``config.json`` of this
            task marks an earlier run of this kind, whose files a rerun replaces.
        marker: for a run without ``task`` (``hsi finetune``): the file that marks an earlier run of this
            kind (``adapter.safetensors``).
        option: the CLI option of ``out``, for the message about an empty name.

    Returns:
        ``out`` as an absolute :class:`~pathlib.Path`.

    Raises:
        OutputError: ``out`` is empty (it would be the current folder), an existing file, its nearest existing parent is not a
            writable folder, it holds another kind of run or a run of another task, a
            run file would replace an input or a file that no earlier run of this kind wrote.
    """
    if not str(out).strip():
        raise OutputError(f"{option} is empty; pass a folder for the run's outputs (e.g. {option} runs/a)")
    path = Path(out).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{out}: is an existing file; pass a folder for the run's outputs")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{out}: {parent} is not a folder; choose another output folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: {parent} is not writable; choose another output folder or fix its permissions")
    for name in other_runs:
        if (path / name).exists():
            raise OutputError(f"{out}: holds {RUN_KINDS[name]} ({name}); write this run to a folder of its own")
    other = run_task(path)
    if task is not None and other is not None and other != task:
        raise OutputError(f"{out}: holds a {other} run (config.json); write this {task} run to a folder of its own "
                          "(another --out)")
    _check_protected(path, writes, protect)
    _check_foreign(path, out, writes, task, marker, option)
    return path


def _check_foreign(path: Path, out: str | os.PathLike[str], writes: Iterable[str], task: str | None,
                   marker: str | None, option: str) -> None:
    """Refuse when ``path`` holds no earlier run of this kind yet already a file the run would write.

    An earlier run of this kind is a ``config.json`` of ``task``, or the ``marker`` file; its files are the
    run's own, so a rerun replaces them. Without one, such a file was put there by someone else.
    """
    if not path.is_dir() or (task is None and marker is None):
        return
    earlier = run_task(path) == task if task is not None else (path / str(marker)).is_file()
    if earlier:
        return
    found = [name for name in dict.fromkeys(writes) if (path / name).exists()]
    if found:
        kind = f"{task} run (config.json)" if task is not None else f"run with {marker}"
        if task is not None and (path / "config.json").is_file():  # a config.json hsi cannot read as a run's
            kind = f"{task} run (its config.json is unreadable or records no task)"
        raise OutputError(f"{out}: holds {', '.join(found)} but no earlier {kind}, so this run would replace "
                          f"a file it did not write; move {'them' if len(found) > 1 else 'it'} elsewhere or "
                          f"choose another {option}")


def run_task(folder: Path) -> str | None:
    """The ``task`` recorded in ``folder/config.json``, or ``None`` (no run, or an unreadable config)."""
    import json

    try:
        task = json.loads((folder / "config.json").read_text()).get("task")
    except (OSError, ValueError, AttributeError):
        return None
    return task if isinstance(task, str) else None


def _check_protected(path: Path, names: Iterable[str], protect: Iterable[PathArg]) -> None:
    """Refuse when ``path / name`` (a run file) is one of the ``protect`` inputs."""
    guarded = [Path(p).expanduser().absolute() for p in protect if p is not None and str(p) != ""]
    for name in names:
        for src in guarded:
            if same_file(path / name, src):
                raise OutputError(f"{path / name}: the run would overwrite this input; choose another --out")


@contextmanager
def staged_run_dir(
    out: str | os.PathLike[str], protect: Iterable[PathArg] = (), *, replaces: Iterable[str] = ()
) -> Iterator[Path]:
    """Yield a fresh hidden folder next to the run folder ``out``; publish it on success.

    Training writes its files (weights, config, split, metrics, maps) into the staging
    folder. When the block succeeds, each file is moved into ``out`` (created if needed),
    replacing files of the same name; the files named in ``replaces`` that this run did not
    write (an earlier run's optional outputs) are removed; other files in ``out`` are left
    alone. When it fails (exception or Ctrl-C), the staging folder is deleted and ``out`` is
    untouched, so a failed run never leaves a run folder that looks complete or damages a
    previous one; parent folders it had to create are removed again while empty.

    Args:
        out: the run folder.
        protect: input files that must not be replaced (a run file with the same path
            aborts the publication with an error and nothing is moved; callers check the
            names they know up front with :func:`check_out_dir`).
        replaces: optional run files of an earlier run of this kind, e.g. ``train_labels.tif``.

    Raises:
        OutputError: ``out`` cannot be created, or a run file would replace a protected input.
    """
    path = check_out_dir(out)
    tmp = path.with_name(f".{path.name}{PARTIAL_MARKER}{os.getpid()}-{secrets.token_hex(4)}")
    watch = WriteWatch(out, [tmp])
    created = _missing_folders(path.parent)  # made here, so removed again if the run fails
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as err:
        _remove_empty(created)
        if isinstance(watch.failure(err), DiskFullError):
            raise DiskFullError(out) from err
        raise OutputError(f"{out}: cannot create the run folder ({err.strerror}); choose another output folder") from err
    try:
        with watch:
            yield tmp
        if (failed := watch.failure()) is not None:  # a TIFF write failed, yet GDAL returned: a damaged file
            raise failed
        files = sorted(tmp.iterdir())
        _check_protected(path, [f.name for f in files], protect)
    except BaseException as err:
        watch.raise_replacement(err, lambda: (shutil.rmtree(tmp, ignore_errors=True), _remove_empty(created)))
        raise
    path.mkdir(exist_ok=True)
    for f in files:
        dst = path / f.name
        if f.is_dir() and dst.is_dir():
            shutil.rmtree(dst)
        os.replace(f, dst)
    written = {f.name for f in files}
    for name in replaces:
        if name not in written:
            remove_quietly(path / name)
    shutil.rmtree(tmp, ignore_errors=True)
    _published(path)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: Iterable[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty: the ones a failed run created, unless
    something else was put there meanwhile."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def partial_path(dst: str | os.PathLike[str]) -> Path:
    """A fresh hidden temporary name next to ``dst`` (``.<name>.partial-<pid>-<random><suffix>``).

    The writer's pid in the name lets a later run tell a temporary file of a killed run (stale,
    swept by :func:`~hsi_app.io.stale_temporaries.sweep_stale`) from one that a running process is still writing."""
    path = Path(dst)
    return path.with_name(f".{path.name}{PARTIAL_MARKER}{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def remove_quietly(path: str | os.PathLike[str]) -> None:
    """Delete ``path`` if it exists; never raises."""
    try:
        os.remove(path)
    except OSError:
        pass


@contextmanager
def atomic_path(dst: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``dst``; move it onto ``dst`` if the block succeeds.

    Usage::

        with atomic_path("map.tif") as tmp:
            write_something(tmp)      # dst appears only if this returns

    On any exception (``KeyboardInterrupt`` included) the temporary file is deleted,
    ``dst`` is left exactly as it was, and the exception propagates.

    Args:
        dst: final output path; its folder must exist and be writable.

    Yields:
        The temporary path to write to (it does not exist yet).

    Raises:
        OutputError: ``dst`` is not writable (checked before yielding), the block
            produced no file, or the final rename failed.
    """
    path = check_writable(dst)
    tmp = partial_path(path)
    watch = WriteWatch(dst, [tmp])
    try:
        with watch:
            yield tmp
        if (failed := watch.failure()) is not None:  # a TIFF write failed, yet GDAL returned: a damaged file
            raise failed
    except BaseException as err:
        watch.raise_replacement(err, lambda: remove_quietly(tmp))
        raise
    if not tmp.exists():
        raise OutputError(f"{dst}: the writer produced no file; nothing was written")
    try:
        if tmp.is_file():
            os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except OSError as err:
        remove_quietly(tmp)
        raise OutputError(f"{dst}: cannot replace the output file ({err.strerror}); check the path") from err
    _published(path)


@contextmanager
def atomic_paths(outputs: Mapping[str, PathArg], *, removes: Iterable[PathArg] = ()) -> Iterator[dict[str, Path]]:
    """:func:`atomic_path` for several outputs that must change together.

    Yields temporary paths (same keys; ``None`` outputs are skipped). Only when the block
    succeeds and every temporary file exists are they renamed onto their destinations; on
    any failure (Ctrl-C included) all are deleted and every destination is left as it was.

    ``removes`` names files of an earlier run that this one does not write (e.g. a metrics
    file that would describe the old output): they are deleted just before the renames, so
    they never sit beside the new outputs, and are kept when the block fails.

    Raises:
        OutputError: a destination is not writable (checked first), a writer produced no
            file, or a rename failed.
    """
    final = {k: check_writable(v) for k, v in outputs.items() if v is not None and str(v) != ""}
    tmps = {k: partial_path(v) for k, v in final.items()}
    shown = {k: Path(outputs[k]) for k in final}  # as the user gave them, for the message
    watch = WriteWatch(next(iter(shown.values()), Path(".")), list(tmps.values()))
    try:
        with watch:
            yield tmps
        if (failed := watch.failure()) is not None:  # a TIFF write failed, yet GDAL returned: a damaged file
            raise failed
        missing = [str(final[k]) for k, t in tmps.items() if not t.exists()]
        if missing:
            raise OutputError(f"{missing[0]}: the writer produced no file; nothing was written")
    except BaseException as err:
        watch.raise_replacement(err, lambda: [remove_quietly(t) for t in tmps.values()],
                                failure=lambda e: _disk_full_of(e, shown, tmps, watch))
        raise
    for stale in removes:
        if stale is not None and str(stale) != "":
            remove_quietly(stale)
    for k, t in tmps.items():
        try:
            if t.is_file():
                os.chmod(t, FILE_MODE)
            os.replace(t, final[k])
        except OSError as err:
            for rest in tmps.values():
                remove_quietly(rest)
            raise OutputError(f"{final[k]}: cannot replace the output file ({err.strerror}); check the path") from err
    for path in final.values():
        _published(path)


def _disk_full_of(err: BaseException, shown: Mapping[str, Path], tmps: Mapping[str, Path],
                  watch: WriteWatch) -> OutputError | None:
    """:meth:`WriteWatch.failure` for :func:`atomic_paths`, naming the output that was being written: the
    one an inner writer or the ``OSError`` named (by its temporary path), else the last one started."""
    full = watch.failure(err)
    if not isinstance(full, DiskFullError):
        return full
    named = {Path(err.dst)} if isinstance(err, DiskFullError) else set()
    named |= {Path(os.fsdecode(e.filename)) for e in exception_chain(err)
              if isinstance(e, OSError) and isinstance(e.filename, (str, bytes))}
    for k, t in tmps.items():
        if named & {t, shown[k], shown[k].absolute()}:
            return DiskFullError(shown[k])
    started = [shown[k] for k, t in tmps.items() if t.exists()]
    return DiskFullError(started[-1] if started else next(iter(shown.values())))


# ---------------------------------------------------------------- outputs published (swept beside: hsi_app.io.stale_temporaries)

_PUBLISHED: set[Path] = set()  # outputs published since the last take_published()


def _published(path: Path) -> None:
    """Note that ``path`` was published (for :func:`~hsi_app.io.stale_temporaries.sweep_stale` at the end of a command)."""
    _PUBLISHED.add(Path(path).absolute())


def take_published() -> set[Path]:
    """The outputs published since the last call (``hsi`` sweeps beside them once a command succeeded)."""
    taken = set(_PUBLISHED)
    _PUBLISHED.difference_update(taken)
    return taken
