"""``hsi demo``: the main job on the embedded Indian Pines scene."""

from __future__ import annotations

import click

from hsi_app.cli.options import seed_option


@click.command("demo")
@click.option("--out", "out", default="outputs/demo", show_default=True, type=click.Path(), metavar="DIR", help="Output folder (one run folder per protocol and model).")
@seed_option(help="Seed of the splits (random and disjoint block layout) and of the models.")
@click.option("--epochs", type=int, default=None, metavar="N", help="Override training epochs (smaller = faster, less accurate).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(out: str, seed: int, epochs: int | None, quiet: bool) -> None:
    """Train the default model and SVM-RBF on Indian Pines (random:0.1 and disjoint) and compare."""
    import time

    from hsi_app.tasks.demo import format_table, run_demo

    t0 = time.perf_counter()
    click.echo("hsi demo: real AVIRIS Indian Pines (145 x 145 x 200, 16 classes), default model vs SVM-RBF")
    rows = run_demo(out, seed=seed, epochs=epochs, progress=not quiet)
    click.echo("")
    click.echo(format_table(rows))
    click.echo("")
    click.echo("random:0.1 is the literature protocol; it is LEAKY (training patches overlap test pixels).")
    click.echo("disjoint drops test pixels within the model's receptive radius of any training pixel.")
    click.echo(f"Outputs (maps, confusion matrices, metrics) in {out}/  [{time.perf_counter() - t0:.0f} s]")
