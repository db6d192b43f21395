"""Progress and Stop of the Detect tab: a detection's strips and windows as ``progress(fraction, what)``.

The detectors (:func:`hsi_app.tasks.detection.detect_scene`, the learned detector's
``predict_cube``) report progress only through :func:`hsi_app.progress.bar`, the loops over
their row strips (the statistics and scores passes of rx/mf/ace/cem and of rx-local) and
over the learned detector's windows. :func:`bars_to` routes those bars, in the calling
thread only, to a :class:`DetectProgress`, which turns each step into a fraction of the
whole run and calls the viewer's ``report`` before the next strip or window starts; the
report raises :class:`~hsi_app.viewer.session.JobStopped` when the user stopped the run, so
the detection ends there. Bars of other threads (another session, the CLI) are untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from hsi_app.viewer.session import StepFn

SCORING_SHARE = 0.95
"""Part of the bar that the strips and windows take; writing the score map and points the rest."""



class DetectProgress:
    """``passes`` loops (strip passes, or the learned detector's windows) as one bar from 0 to :data:`SCORING_SHARE`.

    Each loop that :func:`hsi_app.progress.bar` wraps while :func:`bars_to` is active is the next pass; a
    pass more than ``passes`` stretches the count (the fraction never goes back). Within a learned detector's
    window, :meth:`stage` moves the bar by the model's stages.
    """

    def __init__(self, report: StepFn, passes: int) -> None:
        self.report, self.passes = report, max(1, int(passes))
        self.started = 0  # passes begun
        self.last = 0.0
        self.where = (0, 0, 1, "")  # pass index, steps done in it, its steps, its name

    def _send(self, fraction: float, what: str) -> None:
        self.last = max(self.last, min(fraction, SCORING_SHARE))
        self.report(self.last, what)

    def _label(self, finished: bool = False) -> str:
        """``rx: scores, strip 3/10`` (``rx: scores, 10/10 strips done`` once ``finished``)."""
        _, done, total, desc = self.where
        learned = desc in ("detect", "")  # "detect": the learned detector's windows (dense_forward)
        head, unit = ("detecting", "window") if learned else (desc, "strip")
        return f"{head}, {total}/{total} {unit}s done" if finished else f"{head}, {unit} {min(done + 1, total)}/{total}"

    def over(self, iterable: Iterable[Any], desc: str, total: float | None) -> Iterator[Any]:
        """Iterate ``iterable`` as the next pass, reporting before each of its steps (the first one too)."""
        k = self.started
        self.started += 1
        self.passes = max(self.passes, self.started)
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        n_steps = max(1, int(total or 1))
        for done, item in enumerate(iterable):
            self.where = (k, done, n_steps, desc)
            self._send(SCORING_SHARE * (k + done / n_steps) / self.passes, self._label())
            yield item
        self.where = (k, n_steps, n_steps, desc)
        self._send(SCORING_SHARE * (k + 1) / self.passes, self._label(finished=True))

    def stage(self, done: int, total: int) -> None:
        """``done`` of the model's ``total`` stages ran on the current window (:func:`~hsi_app.tasks.forward_progress.stage_progress`)."""
        k, step, n_steps, _ = self.where
        if done >= total:
            return  # the window is finished: the next step's report says so
        self._send(SCORING_SHARE * (k + (step + done / total) / n_steps) / self.passes,
                   f"{self._label()}, step {done}/{total}")


@contextmanager
def bars_to(target: DetectProgress) -> Iterator[DetectProgress]:
    """Within the block, the loops of :func:`hsi_app.progress.bar` run by this thread report to ``target``, whether
    their ``enabled`` is true or not (nothing is printed: the viewer's bar shows them); other threads' bars and bars
    updated by hand are unchanged (:func:`hsi_app.progress.bars_observed`)."""
    from hsi_app.progress import bars_observed

    with bars_observed(lambda iterable, desc, total: target.over(iterable, str(desc or ""), total)):
        yield target


def passes_of(method: str, height: int) -> int:
    """How many strip or window loops a detection of ``method`` runs on a scene of ``height`` rows.

    rx/mf/ace/cem and rx-local: statistics, then scores (rx-local on a scene under
    :data:`~hsi_app.tasks.detectors_classical.SPY_MIN_ROWS` rows: one in-memory scores pass);
    the learned detector: its windows.
    """
    from hsi_app.tasks.detectors_classical import SPY_MIN_ROWS

    if method == "learned" or (method == "rx-local" and height < SPY_MIN_ROWS):
        return 1
    return 2
