"""Ctrl-C and SIGTERM during ``hsi batch``, acted on even when the interrupt is swallowed on its way.

A LocalCluster's scheduler runs inside the client process, and ``distributed`` hooks a callback into
the garbage collector (``distributed.gc.GCDiagnosis``). The ``KeyboardInterrupt`` that a signal
handler raises surfaces in whatever code the main thread runs at that moment; when that is such a
callback, the interpreter drops it as "unraisable" (``Exception ignored in ... _gc_callback``) and
the batch ran on to its end (exit 1, not 130). :func:`interrupt_flag` therefore also records every
interrupt the handlers raise in a :class:`threading.Event`, and :func:`until_interrupted`, the loop
that collects results, raises ``KeyboardInterrupt`` itself once that event is set.

An interrupt while the LocalCluster starts is held back by :func:`interrupts_held` instead: raised
inside ``distributed``'s start-up, it left a half-started cluster that ``distributed``'s own exit hook
then failed to close, printing a traceback (``AssertionError: Status.init``) after ``hsi: interrupted``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

POLL_S = 0.1
"""How often :func:`until_interrupted` looks at the flag while no result is ready (seconds)."""
SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals whose interrupt is recorded (``hsi``'s CLI turns SIGTERM into a ``KeyboardInterrupt`` too)."""


@contextmanager
def interrupt_flag() -> Iterator[threading.Event]:
    """An event set whenever a SIGINT/SIGTERM handler raises ``KeyboardInterrupt`` within the block.

    Each Python-level handler in place (Python's default Ctrl-C handler, the CLI's SIGTERM one) is wrapped:
    it still runs and raises as before, and its interrupt is recorded first. Ignored or default (``SIG_IGN``,
    ``SIG_DFL``) dispositions are left as they are, as are the handlers outside the main thread (only it may
    set them: the event then never gets set). The previous handlers are back when the block ends.

    Yields:
        The event (set: the batch was interrupted, whether or not the exception got through).
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous: dict[int, Any] = {}
    for sig in SIGNALS:
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = handler
            signal.signal(sig, _recording(handler, stop))
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _recording(handler: Any, stop: threading.Event) -> Any:
    """``handler`` (a signal handler), with the ``KeyboardInterrupt`` it raises recorded in ``stop``."""

    def record(signum: int, frame: Any) -> Any:
        try:
            return handler(signum, frame)
        except KeyboardInterrupt:
            stop.set()
            raise

    return record


def until_interrupted(pending: Any, stop: threading.Event, poll: float = POLL_S) -> Iterator[Any]:
    """The futures of ``pending`` (a ``distributed.as_completed``) as they finish, until none is left.

    Futures added to ``pending`` meanwhile are waited for too.

    Raises:
        KeyboardInterrupt: ``stop`` is set (checked before each future and every ``poll`` seconds while
            none is ready), though the interrupt itself was swallowed.
    """
    while True:
        if stop.is_set():
            raise KeyboardInterrupt
        if pending.has_ready():
            yield next(pending)
        elif pending.is_empty():
            return
        else:
            stop.wait(poll)


@dataclass
class HeldInterrupt:
    """What :func:`interrupts_held` held back: the first signal and the handler it was meant for."""

    signum: int | None = None
    handler: Any = None
    previous: dict[int, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.signum is not None

    def replay(self) -> None:
        """Run the held signal's handler now (it raises ``KeyboardInterrupt``, recorded by :func:`interrupt_flag`)."""
        if self.signum is not None and callable(self.handler):
            self.handler(self.signum, None)


@contextmanager
def interrupts_held(note: Callable[[str], Any] | None = None) -> Iterator[HeldInterrupt]:
    """Hold back SIGINT/SIGTERM while the block runs (e.g. while a LocalCluster starts, which takes seconds).

    The first signal is recorded, not raised, and the handler it was meant for is put back at once, so a
    second Ctrl-C acts immediately (an escape from a start-up that hangs). Only Python-level handlers are
    held (as :func:`interrupt_flag`); outside the main thread nothing is installed. The handlers in place
    before are back when the block ends; the caller then cleans up and calls :meth:`HeldInterrupt.replay`.

    Args:
        note: told once, when the first signal is held, that the stop waits for the block.

    Yields:
        The :class:`HeldInterrupt` (true once a signal came).
    """
    held = HeldInterrupt()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def hold(signum: int, frame: Any) -> None:
        if held.signum is None:
            held.signum, held.handler = signum, held.previous.get(signum)
            if note is not None:
                note("hsi batch: interrupted; stopping once the workers have started (Ctrl-C again to stop at once)")
        for sig, handler in held.previous.items():
            signal.signal(sig, handler)

    for sig in SIGNALS:
        handler = signal.getsignal(sig)
        if callable(handler):
            held.previous[sig] = handler
            signal.signal(sig, hold)
    try:
        yield held
    finally:
        for sig, handler in held.previous.items():
            signal.signal(sig, handler)
