"""``hsi train --task detect``: train the point detector on targets simulated into a background.

``hsi_app.cli.train_cmd`` hands over every ``hsi train`` option; one that only means
something for another task (labels, split, noise, schedule) is refused there when typed.
"""

from __future__ import annotations

from typing import Any

import click

DEFAULT_MODEL = "point_detector"


def run(*, data: str, targets: str | None, out: str, model: str | None = None, epochs: int | None = None,
        seed: int = 0, key: str | None = None, quiet: bool = False, scale: float | None = None,
        device: str | None = None, **params: Any) -> dict[str, Any]:
    """Train a detector on ``data`` with targets from the library ``targets``; write the run folder ``out``.

    Args:
        data: background scene (file, EnMAP product or built-in name).
        targets: spectral library (CSV or ENVI ``.sli``).
        out: run folder.
        model: registered detector (default ``point_detector``).
        epochs: epochs of simulated batches (default 8; see :class:`DetectTrainOptions`).
        seed: seed of the simulation and the initialisation.
        key: ``.mat`` variable holding the cube.
        quiet: no progress bar, and no line saying how the library was read and scaled.
        scale: library reflectance to scene units (default: guessed, and the line says so); recorded as
            ``scale``/``scale_guessed`` in config.json ``extra`` and in metrics.json, beside the library
            ``versions`` and the ``data_identity`` of the scene and the library
            (:func:`hsi_app.provenance.run_record`), as a classifier run records them.
        device: where the detector trains and is scored (``cpu``, ``cuda[:N]``, ``mps``); None: a CUDA GPU when
            one is visible, else the CPU (recorded as ``device`` in metrics.json).
        **params: the other ``hsi train`` options (ignored).

    Returns:
        The metrics (also in ``OUT/metrics.json``).
    """

    from hsi_app.errors import ConfigError
    from hsi_app.io import open_cube
    from hsi_app.io.atomic import OTHER_THAN_TRAINING, check_out_dir, check_outputs
    from hsi_app.io.empty_bands import with_empty_bands_flagged
    from hsi_app.tasks.detect_stream import scene_mean, warn_scale_gap
    from hsi_app.tasks.detection import background_scene, check_scale, target_spectra
    from hsi_app.tasks.train_detector import RUN_FILES, DetectTrainOptions, train_detector

    if targets is None:
        raise ConfigError(
            "--task detect needs --targets LIB (a CSV or ENVI .sli spectral library), "
            "e.g. --targets datasets/spectral_library_demo.csv"
        )
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs {epochs}: must be at least 1")
    if seed < 0:
        raise ConfigError(f"--seed {seed}: must be 0 or more")
    check_scale(scale)
    check_out_dir(out, other_runs=OTHER_THAN_TRAINING, protect=[data, targets], writes=RUN_FILES,
                  task="detect")  # before the scene is read, not after training
    check_outputs({"--out": out}, {"--data": data, "--targets": targets})
    from hsi_app.cli.run_notes import say_earlier_run

    say_earlier_run(out, task="detect")
    cube = open_cube(data, key=key)
    from hsi_app.provenance import run_record, scene_reference

    provenance = run_record(cube, library=targets)  # hashed before training: the inputs as this run read them
    used: dict[str, Any] = {}  # library, scale and whether it was guessed, recorded with the run
    # bands with no data anywhere flagged bad (the run records the others), from one window when it has data;
    # the library is checked before the whole scene is read, then a scene with no valid pixel is refused
    cube = with_empty_bands_flagged(cube)
    spectra, names = target_spectra(cube, library=targets, scale=scale, max_extrapolated=0.5, record=used,
                                    leave_out="remove that column from the library (hsi train --task detect trains "
                                              "on every material in it)",
                                    describe=None if quiet else lambda line: click.echo(line, err=True))
    cube, image = background_scene(cube, "train on")
    warn_scale_gap(spectra, scene_mean(image))  # a --scale far from the scene's units
    good = cube.hsi.good_bands()
    bands = cube.hsi.good_band_indices
    opts = DetectTrainOptions(model=model or DEFAULT_MODEL, seed=seed, progress=not quiet, device=device)
    if epochs is not None:
        opts.epochs = epochs
    metrics = train_detector(image, spectra, names, out, opts, wavelengths=good.hsi.wavelengths, fwhm=good.hsi.fwhm,
                             band_indices=bands, source_bands=cube.hsi.shape[0], data=scene_reference(cube),
                             record={**{k: used[k] for k in ("library", "scale", "scale_guessed",
                                                             "extrapolated_bands")}, **provenance})
    from hsi_app.cli.detect_cmd import pd_text

    click.echo(
        f"{opts.model} on {data} ({len(names)} target classes): mAP50 {metrics['mAP50']:.3f}  "
        f"mAP@2px {metrics['mAP@2px']:.3f}  AUROC {metrics['auroc']:.3f}{pd_text(metrics)}  "
        f"({int(metrics['n_targets'])} held-out test targets, {metrics['train_seconds']:.0f} s)  -> {out}"
    )
    return metrics
