"""``hsi batch``: many scenes on dask.distributed; resumable, atomic, memory bounded by the window.

Front door: :func:`run_batch`. Pieces: :mod:`~hsi_app.batch.inputs` (globs -> scenes and
mirrored output paths), :mod:`~hsi_app.batch.state` (model hash, sidecars, resume,
report), :mod:`~hsi_app.batch.tasks` (task adapters), :mod:`~hsi_app.batch.run`
(cluster, scene tasks, split scenes) and :mod:`~hsi_app.batch.driver` (the loop).
Nothing heavy is imported here.
"""

from __future__ import annotations

from hsi_app.batch.driver import BatchResult, run_batch
from hsi_app.batch.run import SPLIT_WINDOWS, ClusterOptions

__all__ = ["SPLIT_WINDOWS", "BatchResult", "ClusterOptions", "run_batch"]
