"""``hsi`` entry point: lazy sub-command loading and one-line error reporting.

Sub-commands live in their own modules and are imported only when invoked, so
``hsi --help`` stays instant (torch, gradio and torchgeo are imported by the commands
that need them). Errors derived from :class:`~hsi_app.errors.HSIError` print one line
on stderr and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from hsi_app import __version__
from hsi_app.gdal_env import cap_gdal_cache

# name -> (module, attribute, one-line help shown by `hsi --help`), in the order a user meets them:
# look at data, train, map and check, then the other tasks, then many scenes, the demo and the viewer.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "info": ("hsi_app.cli.info_cmd", "info", "Describe a scene: bands, size, wavelengths, CRS, validity, classes."),
    "datasets": ("hsi_app.cli.datasets_cmd", "datasets", "List the dataset catalog; download a dataset or a measured spectral library."),
    "models": ("hsi_app.cli.models_cmd", "models", "List registered models: name, task, parameter count, description."),
    "train": ("hsi_app.cli.train_cmd", "train", "Train a classifier (or the SVM baseline), a denoiser (--task denoise) or a detector (--task detect)."),
    "predict": ("hsi_app.cli.predict_cmd", "predict", "Whole-scene class map from a trained run, streamed to a COG."),
    "evaluate": ("hsi_app.cli.evaluate_cmd", "evaluate", "Accuracy (OA, AA, kappa, producer's/user's) and class areas of a map against reference labels."),
    "vectorize": ("hsi_app.cli.vectorize_cmd", "vectorize", "Class map to polygons (.gpkg, .shp, .geojson, .fgb: class, area, confidence) with a minimum mapping unit."),
    "ensemble": ("hsi_app.cli.ensemble_cmd", "ensemble", "Combine runs of one split into an ensemble folder (mean probabilities), mapped and scored."),
    "finetune": ("hsi_app.cli.finetune_cmd", "finetune", "LoRA-adapt a trained run to a new scene or sensor (adapter saved alone)."),
    "denoise": ("hsi_app.cli.denoise_cmd", "denoise", "Denoise a scene window by window with a trained HSDT run (float32 COG)."),
    "detect": ("hsi_app.cli.detect_cmd", "detect", "Target/anomaly score maps (RX, MF, ACE, CEM, learned) and detected points."),
    "simulate-targets": ("hsi_app.cli.simulate_cmd", "simulate_targets", "Implant library targets into a background (SPOD-style training/test scenes)."),
    "batch": ("hsi_app.cli.batch_cmd", "batch", "Run a task over many scenes on dask.distributed (resumable)."),
    "demo": ("hsi_app.cli.demo_cmd", "demo", "The main job on Indian Pines: random and disjoint splits vs SVM."),
    "serve": ("hsi_app.cli.serve_cmd", "serve", "Start the web map viewer (Gradio; by default on http://127.0.0.1:7860)."),
}

EXIT_USAGE_OR_DATA = 2
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())
"""Click 8.2's exception for a group called without a command; click 8.1 (allowed by pyproject) has none and
prints the help itself, and an ``except`` naming a missing attribute would turn every error into a traceback."""
EXIT_INTERRUPTED = 130


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)  # workflow order (see COMMANDS), not alphabetical

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(__version__, prog_name="hsi")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """hsi: hyperspectral scenes in, land-cover maps, denoised cubes and detections out."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Print warnings raised by hsi_app itself as one line; third-party noise is dropped."""
    from hsi_app.errors import HSIWarning

    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if issubclass(category, HSIWarning) or os.path.abspath(filename).startswith(package_dir):
        click.echo(f"hsi: warning: {message}", err=True)


def _terminate_like_ctrl_c() -> None:
    """Make SIGTERM (``kill``, job schedulers) clean up like Ctrl-C: partial files removed, a
    batch report written, one "interrupted" line. Only from the main thread, and never over
    a handler someone else installed (``hsi serve`` installs its own)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _raise_interrupt)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _sweep_stale() -> None:
    """After a command succeeded: remove the temporaries that a hard-killed earlier run left beside the
    outputs it published (only stale ones, :func:`hsi_app.io.stale_temporaries.sweep_stale`), with one note line."""
    if "hsi_app.io.atomic" not in sys.modules:  # nothing was written (and `hsi --help` stays instant)
        return
    from hsi_app.io.atomic import take_published
    from hsi_app.io.stale_temporaries import sweep_stale

    try:
        removed = sweep_stale(take_published())
    except OSError:  # tidying up never fails a finished command
        return
    if removed:
        folders = ", ".join(sorted({str(p.parent) for p in removed}))
        click.echo(f"hsi: note: removed {len(removed)} stale temporary file(s) that an interrupted earlier run left "
                   f"in {folders}", err=True)


def _usage_line(err: click.UsageError) -> str:
    """Click's usage error as one line: its message, then where the help is (``hsi train -h``)."""
    command = err.ctx.command_path if err.ctx is not None else "hsi"
    return f"{err.format_message()} (see `{command} -h`)"


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI, turning library errors into one readable line and an exit status."""
    import warnings

    from hsi_app.errors import HSIError

    cap_gdal_cache()  # before any command reads a scene; a GDAL_CACHEMAX of the user's wins
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if not debug:
        warnings.showwarning = _show_warning
    _terminate_like_ctrl_c()
    try:
        result = cli.main(args=args, prog_name="hsi", standalone_mode=False)
        _sweep_stale()
        return result
    except _NO_ARGS_IS_HELP as err:  # `hsi` or `hsi datasets` alone (click >= 8.2): the help, as with -h
        click.echo(err.ctx.get_help() if err.ctx is not None else cli.get_help(click.Context(cli)))
        return 0
    except click.exceptions.Abort:
        click.echo("hsi: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.UsageError as err:  # a bad option value or a missing option: one line, like every other error
        click.echo(f"hsi: error: {_usage_line(err)}", err=True)
        sys.exit(err.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("hsi: interrupted; no partial outputs were left behind", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except HSIError as err:
        if debug:  # the traceback instead of the one line, with the same exit status
            import traceback

            traceback.print_exc()
        else:
            click.echo(f"hsi: error: {err}", err=True)
        sys.exit(EXIT_USAGE_OR_DATA)
    except Exception as err:  # noqa: BLE001 - last-resort one-liner, traceback on --debug
        if debug:
            raise
        click.echo(f"hsi: unexpected {type(err).__name__}: {err} (rerun with --debug for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
