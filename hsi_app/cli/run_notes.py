"""The one line a training command says before it replaces an earlier run in its ``--out`` folder.

A rerun into the same ``--out`` replaces the earlier run's files whole (:func:`hsi_app.io.atomic.check_out_dir`
allows it). ``hsi train`` (every task) and ``hsi finetune`` say so before any work, with the earlier run's
model, what it was trained on, its score and when its weights were written, so that a long run (or the base of a
fine-tune) is not lost without a word.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click


def earlier_run_note(out: str | os.PathLike[str], *, marker: str = "model.safetensors",
                     task: str = "classification") -> str:
    """The line telling that ``out`` holds an earlier ``task`` run that this one replaces on success, or ``""``.

    A rerun into the same ``--out`` replaces the earlier run's files whole (``check_out_dir`` allows it); said
    before any work, with the earlier run's model, split and OA (its ``metrics.json``) and when its weights were
    written, so that a long run (or the base of a fine-tune) is not lost without a word.

    Args:
        out: the run folder about to be written.
        marker: the file that marks an earlier run of this kind (``adapter.safetensors`` for a fine-tune).
        task: the run's ``config.json`` task (``classification``, or ``denoise``/``detect`` for ``hsi train --task
            denoise``/``detect``).
    """
    from datetime import datetime

    from hsi_app.io.atomic import run_task

    path = Path(out).expanduser()
    if not (path / marker).is_file() or run_task(path) != task:
        return ""
    try:
        m = json.loads((path / "metrics.json").read_text())
        if task == "denoise":
            about = f"{m['model']} on {m['noise']}, PSNR {float(m['denoised']['psnr']):.2f} dB, "
        elif task == "detect":
            about = f"{m['model']} on {len(m['classes'])} target classes, mAP50 {float(m['mAP50']):.3f}, "
        else:
            about = f"{m['model']} on {m['protocol']}, OA {100 * float(m['oa']):.2f}%, "
    except (OSError, ValueError, KeyError, TypeError):
        about = ""
    when = datetime.fromtimestamp((path / marker).stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    return (f"{out}: holds an earlier run ({about}written {when}); this run replaces it when it succeeds; "
            "pass another --out to keep it")


def say_earlier_run(out: str | os.PathLike[str], *, marker: str = "model.safetensors",
                    task: str = "classification") -> None:
    """Print :func:`earlier_run_note` as one ``hsi: note:`` line on stderr, when there is one."""
    note = earlier_run_note(out, marker=marker, task=task)
    if note:
        click.echo(f"hsi: note: {note}", err=True)
