"""``hsi datasets list``, ``hsi datasets fetch NAME`` (or ``download NAME``) and ``hsi datasets fetch-library NAME``.

``--root`` defaults to ``$HSI_DATA_ROOT``, else ``data`` (see :func:`~hsi_app.data.dataset_folder.default_root`).

Library errors (:class:`~hsi_app.errors.HSIError`) propagate to ``hsi_app.cli.main``,
which prints them as one line (or a traceback with ``--debug``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hsi_app.data.dataset_folder import DATA_ROOT_ENV

F = TypeVar("F", bound=Callable[..., Any])
ALIASES = {"download": "fetch"}
"""Other names a user types for a sub-command (not listed in the help's command table)."""

_CATALOG_OPTION = click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Catalog JSON to use instead of datasets/catalog.json (or $HSI_CATALOG).",
)


def _download_options(where: str) -> Callable[[F], F]:
    """``--root`` (default ``$HSI_DATA_ROOT``, else ``data``), ``--quiet``/``--no-progress`` and ``--force``,
    shared by the fetch commands."""

    def add(f: F) -> F:
        f = click.option("--force", is_flag=True, help="Download again even if the files are present.")(f)
        f = click.option("--quiet", "--no-progress", "no_progress", is_flag=True,
                         help="No progress bar (as --quiet in the other commands).")(f)
        return click.option(
            "--root", type=click.Path(file_okay=False, path_type=Path), default=Path("data"), envvar=DATA_ROOT_ENV,
            show_default=True, show_envvar=True, metavar="DIR", help=f"Data folder; {where}.",
        )(f)

    return add


def _format_gsd(gsd_m: float | None) -> str:
    return "?" if gsd_m is None else f"{gsd_m:g} m"


def _format_size(height: int | None, width: int | None, bands: int) -> str:
    h = "?" if height is None else str(height)
    w = "?" if width is None else str(width)
    return f"{h}×{w}×{bands}"


def format_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """Plain left-aligned text table, columns separated by two spaces."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class _AliasGroup(click.Group):
    """A click group that also answers to the names in :data:`ALIASES` (``download`` runs ``fetch``)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        _, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd is not None else None), cmd, rest  # usage lines say `fetch`, the real name


@click.group("datasets", cls=_AliasGroup)
def datasets() -> None:
    """List the benchmark dataset catalog, download a dataset or a measured spectral library.

    `hsi datasets download NAME` is the same as `hsi datasets fetch NAME`. The data folder
    (--root) defaults to $HSI_DATA_ROOT, else ./data.
    """


def _how_to_get(entry: Any) -> str:
    """``download`` when every file has a URL, else ``by hand`` (``hsi datasets fetch NAME`` says where)."""
    return "download" if entry.downloadable else "by hand"


def _fetched(entry: Any, root: Path) -> str:
    """``yes`` when every named file of ``entry`` is in ``root/NAME/``, ``partly``, ``no``; ``-`` for products."""
    names = [f.filename for f in entry.files if not f.is_pattern]
    if not names:
        return "-"
    here = sum((root / entry.name / n).is_file() for n in names)
    return "yes" if here == len(names) else "partly" if here else "no"


@datasets.command("list", short_help="Show the catalog: sensor, size, classes, GSD, how to get it, if fetched.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("data"), envvar=DATA_ROOT_ENV,
              show_default=True, show_envvar=True, metavar="DIR",
              help="Data folder whose ROOT/NAME/ folders the 'fetched' column looks in.")
@_CATALOG_OPTION
def list_cmd(root: Path, catalog_path: Path | None) -> None:
    """Show every catalog dataset: sensor, size, classes, GSD, offline availability, how to get it
    (download, or by hand: `hsi datasets fetch NAME` says where) and whether ROOT/NAME/ holds its files."""
    from hsi_app.data.catalog import load_catalog

    entries = load_catalog(catalog_path)
    header = ("name", "sensor", "H×W×bands", "classes", "GSD", "offline", "get", "fetched")
    rows = [
        (
            e.name,
            e.sensor,
            _format_size(e.height, e.width, e.bands),
            str(e.num_classes) if e.num_classes else "-",
            _format_gsd(e.gsd_m),
            f"yes ({e.builtin})" if e.builtin else "no",
            _how_to_get(e),
            _fetched(e, root),
        )
        for e in entries.values()
    ]
    click.echo(format_table(rows, header))


@datasets.command("fetch", short_help="Download a dataset into ROOT/NAME/, checking its sha256.")
@click.argument("name")
@_download_options("files go to ROOT/NAME/")
@_CATALOG_OPTION
def fetch_cmd(name: str, root: Path, no_progress: bool, force: bool, catalog_path: Path | None) -> None:
    """Download dataset NAME (see `hsi datasets list`) into ROOT/NAME/, verifying checksums."""
    from hsi_app.data.catalog import get_dataset, load_catalog
    from hsi_app.data.dataset_folder import cube_file, fetched_cube
    from hsi_app.data.download import SUMS_FILENAME, UNVERIFIED_FILENAME, fetch_dataset, read_sums

    entries = load_catalog(catalog_path)
    entry = get_dataset(name, entries)
    dest = fetch_dataset(entry.name, root, progress=not no_progress, catalog=entries, overwrite=force)
    names = ", ".join(f.filename for f in entry.files)
    recorded, unverified = read_sums(dest), read_sums(dest, UNVERIFIED_FILENAME)
    files = [f.filename for f in entry.files if not f.is_pattern]
    unproven = [n for n in files if n in unverified]
    unrecorded = [n for n in files if n not in unverified and n not in recorded]
    where = [f"not proven complete: {', '.join(unproven)} recorded in {UNVERIFIED_FILENAME}"] if unproven else []
    if unrecorded:  # a read-only folder: the warning above says so
        where.append(f"sha256 of {', '.join(unrecorded)} not recorded: {dest / SUMS_FILENAME} cannot be written")
    click.echo(f"{entry.name}: {names} in {dest} ({'; '.join(where) or f'sha256 recorded in {SUMS_FILENAME}'})")
    cube = cube_file(entry)
    if cube is not None:  # quoted for the shell: a data folder may hold spaces or quotes
        arg = shlex.quote(str(dest / cube))
        click.echo(f"{entry.name}: pass --data {arg} (or --input, or hsi info {arg})")
        local = fetched_cube(entry.name)  # ROOT is the default one (--root not given, or $HSI_DATA_ROOT)
        if local is not None and local.resolve() == (dest / cube).resolve():
            click.echo(f"{entry.name}: or pass its name: --data {entry.name}")


@datasets.command("fetch-library", short_help="Download a measured spectral library as a CSV for --targets.")
@click.argument("name", required=False)
@_download_options("the archive and NAME.csv go to ROOT/NAME/")
@click.option("--url", default=None, metavar="URL", help="Fetch from this mirror or file:// copy (the sha256 is checked all the same).")
def fetch_library_cmd(name: str | None, root: Path, url: str | None, no_progress: bool, force: bool) -> None:
    """Download measured spectral library NAME and write ROOT/NAME/NAME.csv (no NAME: list them).

    The CSV is a library for --targets (hsi detect, hsi simulate-targets, hsi train --task detect).
    """
    from hsi_app.data.library_sources import SOURCES, fetch_library, get_source

    if name is None:
        rows = [(s.name, str(len(s.members)), s.title) for s in SOURCES.values()]
        click.echo(format_table(rows, ("name", "spectra", "what")))
        return
    source = get_source(name)
    csv = fetch_library(source.name, root, progress=not no_progress, overwrite=force, url=url)
    click.echo(f"{source.name}: {', '.join(source.members)} in {csv} ({source.license_note}; cite {source.citation})")
