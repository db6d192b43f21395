"""Progress inside one forward pass: a callback as each stage of a model finishes.

A scene that fits one window (Indian Pines, 145 x 145, in a 256 px window) is one forward
pass of a denoiser, which can take minutes on a CPU; window counts then say nothing until
the end. :func:`stage_progress` hooks the model's *stages* (:func:`model_stages`: its
top-level sub-modules, with ``ModuleList``/``Sequential`` containers opened one level) and
reports ``(done, total)`` as each finishes, for example ``3/12`` after the head and two
encoder stages of HSDT. Stages differ in cost, so ``done / total`` is a rough fraction of the
pass, but it moves.

Only forward passes run by the thread that entered the ``with`` block are counted: a model
shared by two sessions of the viewer reports each pass to its own caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

StageFn = Callable[[int, int], None]
"""``callback(done_stages, total_stages)`` of the current forward pass."""


def model_stages(model: Any) -> list[Any]:
    """The sub-modules of ``model`` whose ends mark progress through its forward pass.

    The direct children of ``model``, with the items of ``ModuleList``, ``ModuleDict`` and
    ``Sequential`` children in their place (an encoder's stages, not the encoder as one). A
    model that only wraps one module (``SubspaceHSDT`` around its ``HSDT``) gives that
    module's stages; one without children gives ``[model]``.
    """
    stages = _opened(model)
    while len(stages) == 1 and _opened(stages[0]):
        stages = _opened(stages[0])
    return stages or [model]


def _opened(module: Any) -> list[Any]:
    """``module``'s children, containers replaced by their items."""
    from torch import nn

    out: list[Any] = []
    for child in module.children():
        if isinstance(child, (nn.ModuleList, nn.ModuleDict, nn.Sequential)) and len(child):
            out.extend(child.values() if isinstance(child, nn.ModuleDict) else child)
        else:
            out.append(child)
    return out


@contextmanager
def stage_progress(model: Any, callback: StageFn) -> Iterator[int]:
    """Within the block, call ``callback(done, total)`` each time one of ``model``'s stages finishes.

    ``done`` counts from 1 to ``total`` within each forward pass and starts again with the
    next one (eight passes of test-time augmentation count as eight). The hooks are removed
    when the block ends, also on an error.

    Yields:
        ``total``, the number of stages (:func:`model_stages`).
    """
    stages = model_stages(model)
    total = len(stages)
    owner = threading.get_ident()
    finished = 0

    def hook(module: Any, inputs: Any, output: Any) -> None:
        nonlocal finished
        if threading.get_ident() != owner:
            return
        finished += 1
        callback((finished - 1) % total + 1, total)

    handles = [stage.register_forward_hook(hook) for stage in stages]
    try:
        yield total
    finally:
        for handle in handles:
            handle.remove()
