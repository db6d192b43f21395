"""``hsi finetune``: LoRA-adapt a trained run to a new scene or sensor; only the adapter is saved."""

from __future__ import annotations

import click

from hsi_app.cli.options import check_split_option, device_option, exclude_masks_option, seed_option


@click.command("finetune")
@click.option("--base", "base", required=True, type=click.Path(exists=True, file_okay=False),
              help="Run folder of `hsi train` to adapt (left unchanged).")
@click.option("--data", "data", required=True, metavar="SCENE", help="New scene: a file, EnMAP product, or built-in name.")
@click.option("--labels", default=None, type=click.Path(), help="Label raster/vector (default: labels found with the scene).")
@click.option("--label-attribute", default="class", show_default=True, metavar="FIELD", help="Vector attribute holding the class.")
@click.option("--label-layer", default=None, metavar="LAYER", help="Layer of a vector label file with several layers.")
@click.option("--key", default=None, metavar="VAR", help=".mat variable holding the cube.")
@click.option("--split", "split", default="fixed:10", show_default=True,
              metavar="SPLIT", help="random:F | fixed:N | disjoint:F (default: 10 labelled pixels per class).")
@click.option("--train-labels", default=None, type=click.Path(exists=True), help="User training label map (replaces --split; give --test-labels too).")
@click.option("--test-labels", default=None, type=click.Path(exists=True), help="User test label map (with --train-labels).")
@click.option("--lora-rank", type=int, required=True, metavar="R", help="LoRA rank r (e.g. 4 or 8).")
@click.option("--lora-alpha", type=float, default=None, metavar="ALPHA", help="LoRA scaling alpha (default: 2 x rank).")
@click.option("--epochs", type=int, default=None, metavar="N", help="Training epochs (default: 30).")
@click.option("--lr", type=float, default=None, metavar="LR", help="Peak learning rate (default: 5e-3).")
@click.option("--schedule", default="cyclic-cosine", show_default=True,
              metavar="NAME", help="LR schedule: cyclic-cosine | triangular | cosine.")
@seed_option(help="Seed of the split and of the adapter's initial weights.")
@click.option("--resample/--no-resample", default=True, show_default=True,
              help="Resample a scene with other bands to the base model's (Gaussian responses).")
@click.option("--train-head", is_flag=True,
              help="Also train the classifier head (always done when the class count differs from the base run).")
@click.option("--classes", "classes", type=click.Choice(["auto", "base", "new"]), default="auto", show_default=True,
              help="Classes of the map: the base run's (labels renumbered by name, or ids taken as the base's), "
                   "or new ones with a new head; auto: the base's when every class name is one of its names "
                   "(or unnamed ids number exactly its classes).")
@click.option("--window", type=int, default=512, show_default=True, metavar="PX", help="Core window size of the whole-scene map, in pixels (memory is bounded by the window).")
@exclude_masks_option
@click.option("--out", "out", required=True, type=click.Path(), metavar="DIR", help="Folder for the adapter, config, metrics and maps.")
@device_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def finetune(base: str, data: str, labels: str | None, label_attribute: str, label_layer: str | None, key: str | None, split: str,
             train_labels: str | None, test_labels: str | None, lora_rank: int, lora_alpha: float | None,
             epochs: int | None, lr: float | None, schedule: str, seed: int, resample: bool, train_head: bool,
             classes: str, window: int, exclude_masks: str | None, out: str, device: str | None, quiet: bool) -> None:
    """Freeze the BASE run, train a LoRA adapter on DATA, and write only the adapter to OUT.

    `hsi predict --model OUT` then loads base + adapter.
    """
    import numpy as np

    from hsi_app.checkpoint import ADAPTER_NAME
    from hsi_app.errors import ConfigError
    from hsi_app.io import open_cube
    from hsi_app.io.cube import parse_mask_names
    from hsi_app.io.atomic import OTHER_THAN_FINETUNE, check_out_dir, check_outputs
    from hsi_app.io.labels import read_split_labels
    from hsi_app.tasks.finetune import (
        DEFAULT_FINETUNE_LR, FinetuneOptions, _base_dir_checked, finetune as run_finetune, finetune_files)
    from hsi_app.tasks.finetune_classes import replay_plan
    from hsi_app.tasks.lr_schedules import check_schedule
    from hsi_app.cli.run_notes import say_earlier_run

    check_schedule(schedule)
    check_split_option(split, train_labels, test_labels)  # before the note on an earlier fine-tune and any reading
    opts = FinetuneOptions(lora_rank=lora_rank, lora_alpha=lora_alpha, split=split, epochs=epochs, seed=seed,
                           lr=lr if lr is not None else DEFAULT_FINETUNE_LR, schedule=schedule, resample=resample,
                           train_head=train_head, classes=classes, window=window, progress=not quiet,
                           exclude_masks=parse_mask_names(exclude_masks),
                           device=device)
    check_outputs({"--out": out}, {"--base": base})
    check_out_dir(out, other_runs=OTHER_THAN_FINETUNE, protect=[data, labels, train_labels, test_labels],
                  writes=finetune_files(), marker=ADAPTER_NAME)
    say_earlier_run(out, marker=ADAPTER_NAME)
    cube = open_cube(data, key=key, labels=labels, label_attribute=label_attribute, label_layer=label_layer)
    scene_names, scene_labels = cube.hsi.class_names, cube.hsi.labels

    def to_base() -> np.ndarray | None:
        """A replay of a fine-tune's own split.npz: its ids are its plan's (the base run's when --labels' names
        were matched to the base's classes), renumbered onto --labels' ids with the plan's own table. Planned
        only when a plain split map is not on --labels' numbering: a plan of the whole --labels map can fail
        (``--classes base`` and a class the base lacks) where the maps themselves do not use that class; then
        no fine-tune made such a split, and the maps are refused as on another numbering."""
        base_names = _base_dir_checked(base)[1].class_names
        try:
            return replay_plan(base_names, scene_names, scene_labels, classes, source=labels).table
        except ConfigError:
            return None

    cube, maps = read_split_labels(cube, (train_labels, test_labels), attribute=label_attribute, layer=label_layer,
                                   labels_from=labels, to_base=to_base if labels else None)
    given = [p for p in (train_labels, test_labels) if p] or ([labels] if labels else [])
    m = run_finetune(cube, base, out, opts, train_labels=maps[0], test_labels=maps[1],
                     protect=[labels, train_labels, test_labels], labels_from=", ".join(given) or None)
    from hsi_app.data.splits import leak_note

    click.echo(
        f"LoRA r={lora_rank} on {m['protocol']}{leak_note(m['leaky'], m['protocol'])}: OA {100 * m['oa']:.2f}%  AA {100 * m['aa']:.2f}%  "
        f"kappa {m['kappa']:.4f}  ({m['n_train']} train / {m['n_test']} test px, {m['train_seconds']:.1f} s)\n"
        f"trainable {m['trainable_params']:,} of {m['total_params']:,} parameters "
        f"({100 * m['trainable_fraction']:.1f}%); adapter.safetensors {m['adapter_bytes'] / 1024:.1f} KiB -> {out}"
    )
