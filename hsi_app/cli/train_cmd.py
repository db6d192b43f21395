"""``hsi train``: fit a model on a scene and write a run folder.

``--task classify`` (default) is implemented here; ``--task denoise`` and ``--task detect``
hand their options to ``hsi_app.cli.train_denoise_cmd.run`` and
``hsi_app.cli.train_detect_cmd.run`` (imported only when asked for).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from hsi_app.cli.options import check_split_option, device_option_with, in_range, refuse_given, seed_option
from hsi_app.errors import ConfigError


def _check_task_options(task: str, init: str | None, init_seed: int | None, teacher: tuple[str, ...]) -> None:
    """Refuse, with one line, an option that belongs to another ``--task``."""
    if init is not None and task != "denoise":
        raise ConfigError("--init warm-starts denoisers only; use `hsi finetune` to adapt a classifier run")
    if init_seed is not None and task != "classify":
        raise ConfigError(f"--init-seed makes classifier ensemble members; a {task} run is seeded by --seed alone")
    if teacher and task != "classify":
        raise ConfigError(f"--teacher distils classifiers; a {task} run does not take it")
    params = click.get_current_context().command.params
    unused = tuple(p.name for p in params if p.name and p.name not in TASK_OPTIONS[task])
    refuse_given(unused, f"--task {task} does not use it")


TASK_OPTIONS = {
    "classify": {"task", "schedule", "data", "labels", "label_attribute", "label_layer", "key", "model", "split",
                 "buffer", "train_labels", "test_labels", "epochs", "val_fraction", "label_smoothing", "class_weights",
                 "seed", "init_seed", "teacher", "distill_weight", "window", "out", "device", "quiet"},
    "denoise": {"task", "noise", "init", "data", "key", "model", "epochs", "seed", "window", "out", "device", "quiet"},
    "detect": {"task", "targets", "scale", "data", "key", "model", "epochs", "seed", "out", "device", "quiet"},
}
"""The ``hsi train`` options each task reads; one typed for another task is refused (:func:`refuse_given`)."""
SVM_UNUSED = ("epochs", "schedule", "val_fraction", "label_smoothing", "distill_weight")
"""Options of the neural classifiers that ``--model svm`` would ignore (``--class-weights`` and
``--teacher`` are refused by :class:`~hsi_app.tasks.train_classifier.TrainOptions` itself)."""


def _warn_vector_classes_without_pixels(given: list[str], cube: Any, maps: tuple[Any, Any]) -> None:
    """Name the classes of vector label files that label no pixel (:func:`warn_named_classes_without_pixels`)."""
    from pathlib import Path

    from hsi_app.io.labels import sniff_label_format
    from hsi_app.tasks.train_classifier import warn_named_classes_without_pixels

    if not given or any(sniff_label_format(Path(p)) != "vector" for p in given):
        return
    label_maps = [m for m in maps if m is not None] or [m for m in (cube.hsi.labels,) if m is not None]
    warn_named_classes_without_pixels(", ".join(given), label_maps, cube.hsi.class_names)


TASK_RUNNERS = {"denoise": "hsi_app.cli.train_denoise_cmd", "detect": "hsi_app.cli.train_detect_cmd"}


@click.command("train")
@click.option("--task", type=click.Choice(["classify", "denoise", "detect"]), default="classify", show_default=True,
              help="What to train: a classifier, a denoiser or a point-target detector.")
@click.option("--noise", default="gaussian:50", show_default=True, metavar="NOISE", help="Denoise: noise model added on the fly.")
@click.option("--init", default=None, type=click.Path(exists=True, file_okay=False),
              help="Denoise: start from the weights of an earlier denoise run of the same model (warm start).")
@click.option("--targets", default=None, type=click.Path(), help="Detect: spectral library (CSV or ENVI .sli).")
@click.option("--scale", type=float, default=None,
              metavar="K", help="Detect: library reflectance -> scene units (default: guessed from the scene, e.g. 10000).")
@click.option("--schedule", default=None, metavar="NAME", help="LR schedule: cosine (default) | cyclic-cosine | triangular.")
@click.option("--data", "data", required=True, metavar="SCENE", help="Scene: a file, EnMAP product, or built-in name (indian_pines).")
@click.option("--labels", default=None, type=click.Path(), help="Label raster/vector (default: labels found with the scene).")
@click.option("--label-attribute", default="class", show_default=True, metavar="FIELD", help="Vector attribute holding the class.")
@click.option("--label-layer", default=None, metavar="LAYER", help="Layer of a vector label file with several layers.")
@click.option("--key", default=None, metavar="VAR", help=".mat variable holding the cube.")
@click.option("--model", "model", default=None, metavar="NAME", help="Model name (`hsi models list`) or 'svm'; default per task.")
@click.option("--split", "split", default="random:0.1", show_default=True, metavar="SPLIT", help="random:F | fixed:N | disjoint:F.")
@click.option("--buffer", type=int, default=None,
              metavar="PX", help="disjoint:F only: drop the test pixels within R px of training (also sets the block edge, "
                   ">= 2R+1); default: the model's receptive radius. --buffer 11 gives any model the split of "
                   "a default (ssfcn_snv) run of the same --seed.")
@click.option("--train-labels", default=None, type=click.Path(exists=True), help="User training label map (replaces --split; give --test-labels too).")
@click.option("--test-labels", default=None, type=click.Path(exists=True), help="User test label map (with --train-labels).")
@click.option("--epochs", type=int, default=None, metavar="N", help="Training epochs (default: the model's tuned value).")
@click.option("--val-fraction", type=float, callback=in_range(0.0, 0.5, hi_open=True), default=0.1, show_default=True,
              metavar="F", help="Classify: share of the training pixels held out for early stopping and epoch selection; "
                   "0 = train every epoch on all training pixels and keep the final weights.")
@click.option("--label-smoothing", type=float, callback=in_range(0.0, 1.0, hi_open=True), default=None,
              metavar="EPS", help="Classify: label smoothing of the training loss (default 0.1; 0 = plain cross-entropy).")
@click.option("--class-weights", "class_weights", type=float, default=0.0, show_default=True,
              metavar="P", help="Classify: weigh class k's loss by n_k^-P (n_k = its training pixels, mean weight 1); "
                   "0 = unweighted, 0.5 = inverse square-root frequency, 1 = inverse frequency.")
@seed_option(help="Seed of the split (and of the model unless --init-seed).")
@seed_option("--init-seed", default=None,
              help="Classify: seed of the initial weights, tile order and dropout (default: --seed). Runs on one split "
                   "that differ only here are the members of a deep ensemble (`hsi predict --model A --model B`).")
@click.option("--teacher", "teacher", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Classify: distil from this run or ensemble folder (repeat to average runs): the loss adds the "
                   "cross-entropy to its probabilities at every pixel that is not a test or validation pixel.")
@click.option("--distill-weight", type=float, default=1.0, show_default=True,
              metavar="W", help="Classify: weight of the distillation loss (with --teacher).")
@click.option("--window", type=int, default=512, show_default=True, metavar="PX", help="Core window size of the whole-scene map, in pixels (memory is bounded by the window).")
@click.option("--out", "out", required=True, type=click.Path(), metavar="DIR", help="Run folder to write (created; an earlier run of the same task there is replaced whole on success).")
@device_option_with("Where the net trains and maps (classify, denoise) or scores (detect) the scene; auto = a CUDA "
                    "GPU when one is visible, else the CPU. --model svm runs on the CPU whatever is asked.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(task: str, noise: str, init: str | None, targets: str | None, scale: float | None, schedule: str | None,
          data: str, labels: str | None,
          label_attribute: str, label_layer: str | None, key: str | None, model: str | None, split: str, buffer: int | None,
          train_labels: str | None,
          test_labels: str | None, epochs: int | None, val_fraction: float, label_smoothing: float | None, class_weights: float, seed: int,
          init_seed: int | None, teacher: tuple[str, ...], distill_weight: float, window: int, out: str,
          device: str | None, quiet: bool) -> None:
    """Train a model and write weights, config, metrics and full-scene outputs to OUT."""
    _check_task_options(task, init, init_seed, teacher)
    from hsi_app.io.atomic import check_outputs, repeated

    check_outputs({"--out": out}, {"--data": data, "--labels": labels, "--train-labels": train_labels,
                                   "--test-labels": test_labels, "--targets": targets, "--init": init,
                                   **repeated("--teacher", teacher)})
    if task != "classify":
        params: dict[str, Any] = dict(click.get_current_context().params)
        importlib.import_module(TASK_RUNNERS[task]).run(**params)
        return
    from hsi_app.io import open_cube
    from hsi_app.io.atomic import OTHER_THAN_TRAINING, check_out_dir
    from hsi_app.io.labels import read_split_labels
    from hsi_app.tasks.train_classifier import (
        DEFAULT_CLASSIFIER, RUN_FILES, TrainOptions, check_buffer, train_classifier)
    from hsi_app.cli.run_notes import say_earlier_run

    model = model or DEFAULT_CLASSIFIER
    check_buffer(buffer, split, given_maps=train_labels is not None or test_labels is not None)
    check_split_option(split, train_labels, test_labels)  # before the note on an earlier run and any reading
    if not teacher:
        refuse_given(("distill_weight",), "it weighs the distillation loss of --teacher, which is not given")
    if model == "svm":
        refuse_given(SVM_UNUSED, "the SVM baseline fits the training spectra directly (no epochs, schedule, "
                     "validation or loss)")

    from hsi_app.tasks.lr_schedules import check_schedule

    check_schedule(schedule)
    opts = TrainOptions(model=model, split=split, buffer=buffer, epochs=epochs, seed=seed, init_seed=init_seed,
                        window=window, progress=not quiet,
                        schedule=schedule, val_fraction=val_fraction, label_smoothing=label_smoothing,
                        class_weight_power=class_weights, teacher=tuple(teacher), distill_weight=distill_weight,
                        device=device)
    check_out_dir(out, other_runs=OTHER_THAN_TRAINING, protect=[data, labels, train_labels, test_labels], writes=RUN_FILES,
                  task="classification")
    say_earlier_run(out)
    cube = open_cube(data, key=key, labels=labels, label_attribute=label_attribute, label_layer=label_layer)
    cube, maps = read_split_labels(cube, (train_labels, test_labels), attribute=label_attribute, layer=label_layer,
                                   labels_from=labels)
    given = [p for p in (train_labels, test_labels) if p] or ([labels] if labels else [])
    _warn_vector_classes_without_pixels(given, cube, maps)
    metrics = train_classifier(cube, out, opts, train_labels=maps[0], test_labels=maps[1],
                               protect=[labels, train_labels, test_labels], labels_from=", ".join(given) or None)
    from hsi_app.data.splits import leak_note
    from hsi_app.tasks.train_classifier import layout_note

    leak = leak_note(metrics["leaky"], metrics["protocol"])
    click.echo(
        f"{model} on {metrics['protocol']}{leak}: OA {100 * metrics['oa']:.2f}%  AA {100 * metrics['aa']:.2f}%  "
        f"kappa {metrics['kappa']:.4f}  ({metrics['n_train']} train / {metrics['n_test']} test px, "
        f"{metrics['train_seconds']:.1f} s)  -> {out}"
    )
    note = layout_note(metrics["protocol"], metrics["buffer_radius"], metrics["block"], cube.hsi.shape[1:])
    if note:
        click.echo(note)
