"""``hsi ensemble``: combine trained classification runs into one ensemble folder, and score it."""

from __future__ import annotations

from pathlib import Path

import click

from hsi_app.cli.options import device_option_with

@click.command("ensemble")
@click.option("--model", "models", required=True, multiple=True, type=click.Path(), metavar="RUN",
              help="Run folder written by `hsi train`; give two or more (members of one split: `--init-seed`).")
@click.option("--out", "out", required=True, type=click.Path(), metavar="DIR", help="Ensemble folder to write (ensemble.json, map, metrics).")
@click.option("--data", default=None, metavar="SCENE", help="Scene to score on (default: the one the members were trained on, "
              "checked against their config.json).")
@click.option("--window", type=int, default=512, show_default=True, metavar="PX", help="Core window size of the whole-scene map, in pixels (memory is bounded by the window).")
@device_option_with("Where the members map the scene to score it; auto = a CUDA GPU when one is visible, else the CPU.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def ensemble(models: tuple[str, ...], out: str, data: str | None, window: int, device: str | None, quiet: bool) -> None:
    """Write OUT/ensemble.json naming the runs, mapped and scored like `hsi train` does (all or nothing).

    `hsi predict --model OUT` and `hsi batch --model OUT` then average the members' class
    probabilities. The ensemble is scored on the test pixels of the members' split when they
    share one; members trained on different splits are combined but not scored.
    """
    from hsi_app.ensemble import ENSEMBLE_NAME, build_ensemble
    from hsi_app.errors import ConfigError
    from hsi_app.io.atomic import check_outputs, repeated

    if window < 1:
        raise ConfigError(f"--window {window}: must be a positive number of pixels, e.g. 512")
    check_outputs({"--out": out}, {"--data": data, **repeated("--model", models)})
    # every check first; ensemble.json, map and metrics are then published together (a failure changes nothing)
    metrics = build_ensemble(out, models, data=data, window=window, progress=not quiet, device=device)
    click.echo(f"{Path(out) / ENSEMBLE_NAME}: {len(models)} members")
    if metrics is None:
        click.echo("not scored: the members were trained on different splits, so every test pixel was some "
                   "member's training pixel; score its map with `hsi evaluate` on independent labels")
        return
    from hsi_app.data.splits import leak_note

    leak = leak_note(metrics["leaky"], metrics["protocol"])
    each = ", ".join(f"{100 * m['oa']:.2f}" for m in metrics["members"] if m["oa"] is not None)
    click.echo(f"{metrics['model']} on {metrics['protocol']}{leak}: OA {100 * metrics['oa']:.2f}%  "
               f"AA {100 * metrics['aa']:.2f}%  kappa {metrics['kappa']:.4f}  (members: OA {each})  -> {out}")
