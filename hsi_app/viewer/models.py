"""Which trained models the viewer offers, and a small LRU cache of loaded ones.

Two sources: the shipped ``models/`` folder (one folder per run, checked against the
sha256 sums in ``models/manifest.json``) and a folder of ``hsi train`` outputs
(``hsi serve --runs DIR``). Choices are keys like ``models/indian_pines_ssfcn_small``
or ``runs/exp1``; a key is only resolved through this listing, never as a path. An
``hsi ensemble`` folder under either is offered as a classifier like a run.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from hsi_app.checkpoint import ADAPTER_NAME, CONFIG_NAME, WEIGHTS_NAME, no_weights_line
from hsi_app.errors import ChecksumError, ModelLoadError, UnknownKeyError
from hsi_app.viewer.config import ViewerConfig

MANIFEST_NAME = "manifest.json"
MAX_RUN_DEPTH = 3


def _task_of(run: Path) -> str | None:
    try:
        return str(json.loads((run / CONFIG_NAME).read_text()).get("task", ""))
    except (OSError, ValueError, AttributeError):
        return None


def _runs_under(root: Path, task: str | None) -> list[Path]:
    """Run folders (config.json + weights, or + a LoRA adapter: ``hsi finetune``) and, for classification,
    ``hsi ensemble`` folders below ``root``."""
    from hsi_app.ensemble import ENSEMBLE_NAME

    found = []
    marks = [*root.rglob(CONFIG_NAME)] + ([*root.rglob(ENSEMBLE_NAME)] if task in (None, "classification") else [])
    for mark in sorted(marks):
        run = mark.parent
        depth = len(run.relative_to(root).parts)
        if depth == 0 or depth > MAX_RUN_DEPTH or any(p.startswith(".") for p in run.relative_to(root).parts):
            continue
        weights = (run / WEIGHTS_NAME).is_file() or (run / ADAPTER_NAME).is_file()
        if mark.name == ENSEMBLE_NAME or (weights and (task is None or _task_of(run) == task)):
            found.append(run)
    return found


def list_model_runs(config: ViewerConfig, task: str | None = "classification") -> dict[str, Path]:
    """Offered models: key (``models/NAME`` or ``runs/REL``) -> run folder.

    Args:
        config: where to look.
        task: keep runs whose ``config.json`` has this task; ``None`` keeps all.
    """
    out: dict[str, Path] = {}
    for prefix, root in (("models", config.models_dir), ("runs", config.runs_dir)):
        if root is None or not Path(root).is_dir():
            continue
        for run in _runs_under(Path(root), task):
            out[f"{prefix}/{run.relative_to(root).as_posix()}"] = run
    return out


def resolve_model(key: str, config: ViewerConfig, task: str | None = "classification") -> Path:
    """Run folder of an offered model key.

    Raises:
        UnknownKeyError: ``key`` is not offered (the message lists what is).
    """
    runs = list_model_runs(config, task)
    if key not in runs:
        offered = ", ".join(runs) or "none (train one with `hsi train`, then start `hsi serve --runs DIR`)"
        raise UnknownKeyError(f"model {key!r}: not offered; available: {offered}")
    return runs[key]


def verify_manifest(run: Path) -> None:
    """Check a run's files against ``manifest.json`` in its parent folder, when one lists it.

    Raises:
        ChecksumError: a listed file is missing or its sha256 differs.
    """
    manifest = run.parent / MANIFEST_NAME
    if not manifest.is_file():
        return
    from hsi_app.data.download import sha256_file

    try:
        entries = json.loads(manifest.read_text()).get("models", {})
    except (OSError, ValueError, AttributeError) as err:
        raise ChecksumError(f"{manifest}: unreadable manifest ({err}); restore it from the repository") from err
    files = entries.get(run.name)
    if not files:
        return
    for name, digest in dict(files.get("sha256", {})).items():
        path = run / name
        if not path.is_file():
            raise ChecksumError(f"{path}: listed in {manifest} but missing; restore the model folder")
        if sha256_file(path) != digest:
            raise ChecksumError(f"{path}: sha256 differs from {manifest}; the file is damaged or was replaced")


class ModelCache:
    """Least-recently-used cache of loaded :class:`~hsi_app.predictor.Predictor` objects.

    Keyed by the run folder and the modification time of its weights, so a retrained
    run is reloaded. Thread-safe (the web server runs events on worker threads).
    """

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = max(1, int(capacity))
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[tuple[str, float, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, run: str | os.PathLike[str], task: str = "classification") -> Any:
        """The loaded model of ``run`` (loaded, and manifest-checked, on first use).

        Args:
            run: run folder.
            task: ``classification`` (a :class:`~hsi_app.predictor.Predictor`), ``denoise``
                (a :class:`~hsi_app.tasks.denoising.Denoiser`) or ``detect``
                (a :class:`~hsi_app.tasks.detector_infer.LearnedDetector`).
        """
        path = Path(run).resolve()
        key = (str(path), _weights_mtime(path), task)
        with self._lock:
            if key in self._items:
                self.hits += 1
                self._items.move_to_end(key)
                return self._items[key]
        verify_manifest(path)
        model = _load(path, task)
        with self._lock:
            self.misses += 1
            self._items[key] = model
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return model


def _weights_mtime(path: Path) -> float:
    """Latest modification time of the weights a run (or an ensemble folder's members) loads.

    Raises:
        ModelLoadError: a run without weights, or an ensemble member missing.
    """
    from hsi_app.ensemble import ENSEMBLE_NAME, ensemble_members, is_ensemble_dir

    if is_ensemble_dir(path):
        members = ensemble_members(path, verify=False)
        return max([(path / ENSEMBLE_NAME).stat().st_mtime, *(_weights_mtime(m) for m in members)])
    if (path / ADAPTER_NAME).is_file():  # `hsi finetune`: its adapter and its base run's weights
        from hsi_app.checkpoint import load_config

        from hsi_app.tasks.finetune import base_run_dir

        ft = load_config(path).extra.get("finetune")
        base = base_run_dir(path, ft) / WEIGHTS_NAME if isinstance(ft, dict) and ft.get("base_run") else None
        adapter = (path / ADAPTER_NAME).stat().st_mtime
        return max(adapter, base.stat().st_mtime) if base is not None and base.is_file() else adapter
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise ModelLoadError(no_weights_line(path))  # a fine-tune folder's lost adapter is named as such
    return weights.stat().st_mtime


_TASK_VERB = {"classification": "classify", "denoise": "denoise", "detect": "detect"}


def check_model_task(path: Path, task: str) -> None:
    """Refuse a run whose model architecture does another task than ``task``.

    A run's ``config.json`` can say ``task=denoise`` while naming a classifier (edited or
    mixed-up runs); loading it would only fail deep inside the first forward pass.

    Raises:
        ModelLoadError: the registered task of the run's model differs from ``task``.
    """
    from hsi_app.checkpoint import load_config
    from hsi_app.errors import HSIError
    from hsi_app.models.registry import model_info

    cfg = load_config(path)
    try:
        kind = model_info(cfg.model_name)["task"]
    except HSIError:
        return  # not a registered model: the loader says what is wrong
    if kind != task:
        raise ModelLoadError(
            f"run {path.name}: its config.json says task={cfg.task}, but its model {cfg.model_name} is a {kind} "
            f"model and cannot {_TASK_VERB.get(task, task)}; pick another run or retrain it with "
            f"`hsi train --task {task}`"
        )


def _load(path: Path, task: str) -> Any:
    from hsi_app.ensemble import is_ensemble_dir, load_classifier

    if is_ensemble_dir(path):
        if task != "classification":
            raise ModelLoadError(f"run {path.name}: an ensemble of classifiers; it cannot {_TASK_VERB.get(task, task)}")
        return load_classifier([path])
    check_model_task(path, task)
    if task == "classification":
        from hsi_app.predictor import Predictor

        return Predictor.load(path)
    if task == "denoise":
        from hsi_app.tasks.denoising import Denoiser

        return Denoiser.load(path)
    if task == "detect":
        from hsi_app.tasks.detector_infer import LearnedDetector

        return LearnedDetector.load(path)
    raise UnknownKeyError(f"task {task!r}: the viewer loads classification, denoise or detect runs")


DEFAULT_CACHE = ModelCache()
"""The process-wide cache the web app uses."""


def write_manifest(models_dir: str | os.PathLike[str]) -> Path:
    """(Re)write ``models_dir/manifest.json``: sha256 of each run's config and weights.

    Returns:
        The manifest path.
    """
    from hsi_app.data.download import sha256_file
    from hsi_app.io.atomic import atomic_path

    root = Path(models_dir)
    entries: dict[str, Any] = {}
    for run in sorted(p for p in root.iterdir() if p.is_dir() and (p / WEIGHTS_NAME).is_file()):
        entries[run.name] = {
            "sha256": {name: sha256_file(run / name) for name in (CONFIG_NAME, WEIGHTS_NAME)},
            "card": "MODEL_CARD.md" if (run / "MODEL_CARD.md").is_file() else None,
        }
    path = root / MANIFEST_NAME
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps({"version": 1, "models": entries}, indent=2) + "\n")
    return path
