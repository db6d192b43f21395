"""Training seeds the process-wide RNGs; :func:`kept_global_rng` gives the caller's back afterwards.

``lightning.seed_everything`` and ``torch.manual_seed`` reset ``numpy.random``, ``random`` and
torch's generators and leave ``PL_GLOBAL_SEED``/``PL_SEED_WORKERS`` in ``os.environ``. A notebook
that draws random numbers after a training cell would otherwise get the same "random" draws after
every run. The training entry points (``fit_dense``, ``fit_denoiser``, ``train_detector``,
``finetune``, the cross-sensor runs...) run inside :func:`kept_global_rng`: inside it everything is
as before (the run seeds itself; results are unchanged), and on the way out the caller's RNG states
and environment are put back.

Nested entry points (``train_classifier`` -> ``fit_dense``) restore once, at the outermost exit,
so that a run sees exactly the generator states it saw before this existed.
"""

from __future__ import annotations

import os
import random
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

SEED_ENV = ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")  # what lightning.seed_everything leaves in os.environ
_depth = threading.local()


def _torch_states() -> tuple[Any, Any, Any] | None:
    """``(torch, CPU state, CUDA states or None)`` when torch is imported (a run that seeds it imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return torch, torch.get_rng_state(), cuda


@contextmanager
def kept_global_rng() -> Iterator[None]:
    """Run the block, then restore the ``numpy.random``, ``random``, torch CPU (and, when CUDA was
    initialised before the block, CUDA) generator states and the ``PL_*`` seed variables.

    Usable as a decorator. Only the outermost block of nested ones saves and restores.
    When torch is first imported inside the block (``from hsi_app... import train_*`` then a run), there
    is no caller's torch state to put back: torch is reseeded nondeterministically (``torch.seed()``) on
    the way out, so the caller's next torch draws are not the run's fixed seed's.
    CUDA generators that were not initialised when the block began cannot be read without
    initialising CUDA; they are left as the run seeded them.

    Not thread-safe: the states are process-wide, so a block exiting in one thread resets them under a
    run still going in another. Run trainings one at a time per process.
    """
    depth = getattr(_depth, "n", 0)
    if depth:
        _depth.n = depth + 1
        try:
            yield
        finally:
            _depth.n = depth
        return
    np_state, py_state = np.random.get_state(), random.getstate()
    env = {k: os.environ.get(k) for k in SEED_ENV}
    torch_states = _torch_states()  # None: torch not imported yet, reseeded on exit if the block imports it
    _depth.n = 1
    try:
        yield
    finally:
        _depth.n = 0
        np.random.set_state(np_state)
        random.setstate(py_state)
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if torch_states is not None:
            torch, cpu, cuda = torch_states
            torch.set_rng_state(cpu)
            if cuda is not None:
                torch.cuda.set_rng_state_all(cuda)
        elif "torch" in sys.modules:  # imported (and seeded) by the block: a fresh state, not the run's seed
            sys.modules["torch"].seed()
