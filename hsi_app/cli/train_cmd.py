"""``hsi train``: fit a model on a labelled scene and write a run folder."""

from __future__ import annotations

import click


@click.command("train")
@click.option("--data", "data", required=True, help="Scene: a file, EnMAP product, or built-in name (indian_pines).")
@click.option("--labels", default=None, type=click.Path(), help="Label raster/vector (default: labels found with the scene).")
@click.option("--label-attribute", default="class", show_default=True, help="Vector attribute holding the class.")
@click.option("--key", default=None, help=".mat variable holding the cube.")
@click.option("--model", "model", default="ssfcn", show_default=True, help="Model name (`hsi models list`) or 'svm'.")
@click.option("--split", "split", default="random:0.1", show_default=True, help="random:F | fixed:N | disjoint:F.")
@click.option("--train-labels", default=None, type=click.Path(exists=True), help="User training label map (replaces --split).")
@click.option("--test-labels", default=None, type=click.Path(exists=True), help="User test label map (with --train-labels).")
@click.option("--epochs", type=int, default=None, help="Training epochs (default: the model's tuned value).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--window", type=int, default=512, show_default=True, help="Window size of the whole-scene map.")
@click.option("--out", "out", required=True, type=click.Path(), help="Run folder to write.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(data: str, labels: str | None, label_attribute: str, key: str | None, model: str, split: str,
          train_labels: str | None, test_labels: str | None, epochs: int | None, seed: int, window: int,
          out: str, quiet: bool) -> None:
    """Train a classifier and write model, split, metrics, confusion matrix and full-scene map to OUT."""
    from hsi_app.io import open_cube
    from hsi_app.io.labels import read_labels
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    cube = open_cube(data, key=key, labels=labels, label_attribute=label_attribute)
    maps = [read_labels(p, cube, attribute=label_attribute)[0] if p else None for p in (train_labels, test_labels)]
    opts = TrainOptions(model=model, split=split, epochs=epochs, seed=seed, window=window, progress=not quiet)
    metrics = train_classifier(cube, out, opts, train_labels=maps[0], test_labels=maps[1])
    leak = " (LEAKY protocol: random pixel split with overlapping patches)" if metrics["leaky"] else ""
    click.echo(
        f"{model} on {metrics['protocol']}{leak}: OA {100 * metrics['oa']:.2f}%  AA {100 * metrics['aa']:.2f}%  "
        f"kappa {metrics['kappa']:.4f}  ({metrics['n_train']} train / {metrics['n_test']} test px, "
        f"{metrics['train_seconds']:.1f} s)  -> {out}"
    )
