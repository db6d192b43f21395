"""Progress output that suits a terminal and a log file alike.

Every progress bar of hsi_app goes through this module:

* :func:`bar` for loops (windows, strips, scenes, bytes), in place of ``tqdm``;
* :func:`steps` for jobs made of a few long calls that report nothing (a GDAL conversion);
* :func:`trainer_progress` for Lightning training (``hsi train``);
* :func:`dask_progress` for dask computations (``hsi info``).

On a terminal (stderr is a TTY) they draw the usual live bars. When stderr is a pipe or a
file (``nohup``, Slurm, CI logs), live bars would write a carriage return ten times a second
and cursor-movement codes for nested bars, on one ever-growing line. There they print plain
ASCII lines instead: at most one every :data:`LOG_INTERVAL_S` seconds while the work runs,
and a last line when it finishes, so a log shows what finished and how long it took (a
failure or an interruption is followed by its own one-line message instead). Training prints
one line per epoch.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import IO, Any

LOG_INTERVAL_S = 30.0  # the most often a log gets a progress line
LOG_TICK_S = 5.0  # how often a long step without progress of its own checks whether a log line is due


def interactive(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: the current ``sys.stderr``) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _seconds(s: float) -> str:
    """``12 s``, ``3 min 05 s``, ``2 h 03 min``."""
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _amount(n: float, unit: str) -> str:
    """A count as text; bytes with their unit (B, KiB, MiB...)."""
    if unit != "B":
        return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.1f}"
    for prefix in ("", "Ki", "Mi", "Gi", "Ti"):
        if abs(n) < 1024 or prefix == "Ti":
            return f"{n:.0f} B" if not prefix else f"{n:.1f} {prefix}B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


class LogProgress:
    """The part of ``tqdm``'s API that hsi_app uses, printed as plain lines for logs.

    Iterating it, or calling :meth:`update`, counts work; a line goes out at most every
    ``interval`` seconds, and :meth:`close` (called when the iteration or the ``with`` block
    ends normally) prints the final one, for example::

        predict: 40/100 win, 30 s, about 45 s left
        predict: 100/100 win in 1 min 12 s
    """

    def __init__(self, iterable: Iterable[Any] | None = None, *, desc: str = "", total: float | None = None,
                 unit: str = "it", interval: float | None = None, file: IO[str] | None = None,
                 eta: bool = True) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.desc = desc
        self.unit = unit
        self.eta = eta  # steps of very unequal length: no time-left estimate
        self.interval = LOG_INTERVAL_S if interval is None else interval
        self.file = sys.stderr if file is None else file
        self.n: float = 0
        self.postfix = ""
        self._t0 = time.monotonic()
        self._last = self._t0
        self._closed = False

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None
        try:
            for item in self.iterable:
                yield item
                self.update(1)
            self.close()
        finally:
            self._closed = True  # failed or interrupted: the error line follows the last periodic line

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        self._closed = True

    def __len__(self) -> int:
        return int(self.total or 0)

    def line(self, final: bool = False) -> str:
        """The current state as one line."""
        elapsed = time.monotonic() - self._t0
        count = _amount(self.n, self.unit)
        if self.total:
            count += f"/{_amount(self.total, self.unit)}"
        unit = "" if self.unit == "B" else f" {self.unit}"
        head = f"{self.desc}: " if self.desc else ""
        tail = f", {self.postfix}" if self.postfix else ""
        if final:
            return f"{head}{count}{unit} in {_seconds(elapsed)}{tail}"
        eta = ""
        if self.eta and self.total and 0 < self.n < self.total:
            eta = f", about {_seconds(elapsed * (self.total - self.n) / self.n)} left"
        return f"{head}{count}{unit}, {_seconds(elapsed)}{eta}{tail}"

    def _print(self, final: bool = False) -> None:
        try:
            self.file.write(self.line(final) + "\n")
            self.file.flush()
        except (OSError, ValueError):  # a closed or broken log stream never stops the work
            pass

    def update(self, n: float = 1) -> None:
        """Count ``n`` more units of work; print a line when ``interval`` seconds passed since the last one."""
        self.n += n
        now = time.monotonic()
        if not self._closed and now - self._last >= self.interval:
            self._last = now
            self._print()

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        """Extra ``key=value`` text for the next lines (printed with them, never on its own)."""
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        """Rename the work in the next lines."""
        self.desc = desc or ""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Extra text for the next lines (printed with them, never on its own)."""
        self.postfix = s

    def refresh(self) -> None:
        """Print a line if ``interval`` seconds passed since the last one (nothing to redraw in a log)."""
        self.update(0)

    def close(self) -> None:
        """Print the final line (once)."""
        if not self._closed:
            self._closed = True
            self._print(final=True)

    def stop(self, why: str = "interrupted") -> None:
        """Print a last line saying the work stopped before its end (once, instead of :meth:`close`'s), e.g.
        ``batch classify: 2/12 scene, interrupted after 11 s, failed=2``: not the finished form ``... in 11 s``."""
        if self._closed:
            return
        self._closed = True
        count = _amount(self.n, self.unit) + (f"/{_amount(self.total, self.unit)}" if self.total else "")
        unit = "" if self.unit == "B" else f" {self.unit}"
        head = f"{self.desc}: " if self.desc else ""
        tail = f", {self.postfix}" if self.postfix else ""
        try:
            self.file.write(f"{head}{count}{unit}, {why} after {_seconds(time.monotonic() - self._t0)}{tail}\n")
            self.file.flush()
        except (OSError, ValueError):  # a closed or broken log stream never stops the work
            pass


BarObserver = Callable[[Iterable[Any], str, "float | None"], Iterator[Any]]
"""``observer(iterable, desc, total)``: iterates ``iterable`` in place of a bar (see :func:`bars_observed`)."""
_OBSERVED = threading.local()


@contextmanager
def bars_observed(observer: BarObserver) -> Iterator[None]:
    """Within the block, every loop that :func:`bar` wraps in this thread (``bar(iterable, ...)``, whether
    ``enabled`` or not) is iterated by ``observer(iterable, desc, total)`` instead, which prints nothing: a GUI
    (the viewer's Detect tab) shows the steps its own way and may raise between them to stop the work. Bars
    updated by hand (``iterable`` None) and other threads' bars are unchanged. Blocks nest; the inner one wins."""
    before = getattr(_OBSERVED, "observer", None)
    _OBSERVED.observer = observer
    try:
        yield
    finally:
        _OBSERVED.observer = before


def bar(iterable: Iterable[Any] | None = None, *, desc: str = "", total: float | None = None, unit: str = "it",
        enabled: bool = True, leave: bool = False, **tqdm_options: Any) -> Any:
    """A progress bar over ``iterable`` (or updated by hand with ``total``), like ``tqdm``.

    Args:
        iterable: what to iterate; ``None`` for a bar driven by ``update(n)``.
        desc: what is counted, e.g. ``"predict"``.
        total: the amount of work (defaults to ``len(iterable)``).
        unit: the unit counted (``"win"``, ``"strip"``, ``"B"`` for bytes...).
        enabled: ``False`` (``--quiet``) shows nothing.
        leave: on a terminal, keep the finished bar (a log always keeps its last line).
        **tqdm_options: passed to ``tqdm`` on a terminal (``unit_scale``, ``unit_divisor``...).

    Returns:
        A ``tqdm`` on a terminal or when disabled, else a :class:`LogProgress`; within :func:`bars_observed`, the
        observer's iterator.
    """
    observer = getattr(_OBSERVED, "observer", None)
    if observer is not None and iterable is not None:
        return observer(iterable, desc, total)
    if not enabled:
        from tqdm import tqdm

        return tqdm(iterable, total=total, disable=True)
    if interactive():
        return live_tqdm()(iterable, desc=desc, total=total, unit=unit, leave=leave, **tqdm_options)
    return LogProgress(iterable, desc=desc, total=total, unit=unit)


def quiet_tqdm_in_jupyter() -> None:
    """Import ``tqdm.auto`` once, without its "IProgress not found" warning, in a Jupyter kernel
    without ``ipywidgets`` (called when hsi_app is imported; elsewhere it does nothing).

    Not only :func:`bar`: ``import lightning`` imports torchmetrics, which imports transformers,
    whose logging imports ``tqdm.auto``. In a kernel without ``ipywidgets`` that import prints
    "TqdmWarning: IProgress not found. Please update jupyter and ipywidgets" under the first
    training cell of a notebook, and falls back to plain ``tqdm``. Imported here first, with that one
    warning silenced, later imports find the module loaded and say nothing; nothing else changes.
    """
    import importlib.util

    if "ipykernel.zmqshell" not in sys.modules or "tqdm.auto" in sys.modules:
        return  # not a Jupyter kernel (what tqdm.auto checks), or too late
    if importlib.util.find_spec("ipywidgets") is not None:
        return  # tqdm.auto draws widgets: no warning
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import tqdm.auto  # noqa: F401


def live_tqdm() -> Any:
    """The ``tqdm`` class of a live bar: ``tqdm.auto``'s (a widget in Jupyter) when ``ipywidgets`` is
    installed, else plain ``tqdm``. Importing ``tqdm.auto`` in a Jupyter kernel without ``ipywidgets``
    prints "TqdmWarning: IProgress not found. Please update jupyter and ipywidgets" and falls back to
    plain ``tqdm`` anyway, so it is imported only when it can draw a widget."""
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is None:
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm


@contextmanager
def steps(desc: str, total: int, *, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Progress over ``total`` named steps whose work reports no progress of its own (one GDAL call...).

    Yields ``begin(name)``, to call as each step starts (``begin(name, advance=False)`` renames the
    current step, e.g. with the pass a repeated step is on). The bar shows the current step and the
    elapsed time, refreshed every second on a terminal; in a log a line goes out every
    :data:`LOG_INTERVAL_S` seconds during a long step (``simulate-targets: 3/5 steps, 1 min 00 s,
    writing scene.tif``), and one when all are done. Example::

        with steps("simulate-targets", 2, enabled=not quiet) as begin:
            begin("implanting targets")
            ...
            begin("writing scene.tif")
            ...
    """
    live = not enabled or interactive()
    p = (bar(total=total, desc=desc, unit="steps", enabled=enabled,
             bar_format="{desc}: {n}/{total} steps [{elapsed}]{postfix}")
         if live else LogProgress(desc=desc, total=total, unit="steps", eta=False))
    started = [0]

    def begin(name: str, advance: bool = True) -> None:
        if not advance and started[0]:  # the current step's text changes (e.g. "sieving, pass 3")
            p.set_postfix_str(name)
            return
        if started[0]:
            p.update(1)
        started[0] += 1
        p.set_postfix_str(name)

    stop = threading.Event()

    def tick() -> None:  # elapsed time moves on a terminal; a log gets its 30-second lines
        while not stop.wait(1.0 if live else LOG_TICK_S):
            p.refresh()

    ticker = threading.Thread(target=tick, name="hsi-progress", daemon=True)
    if enabled:
        ticker.start()
    try:
        yield begin
    except BaseException as err:
        stop.set()
        p.__exit__(type(err), err, err.__traceback__)
        raise
    finally:
        stop.set()
        if ticker.is_alive():
            ticker.join()
    p.update(total - p.n)
    p.set_postfix_str("")
    p.close()


def dask_progress(enabled: bool = True, desc: str = "compute") -> AbstractContextManager[Any]:
    """A context for ``dask`` computations: dask's ``ProgressBar`` on a terminal, log lines otherwise."""
    if not enabled:
        return nullcontext()
    if interactive():
        from dask.diagnostics import ProgressBar

        return ProgressBar(out=sys.stderr)
    from dask.callbacks import Callback

    class DaskLines(Callback):  # type: ignore[misc]
        """Tasks done of a dask graph, as :class:`LogProgress` lines."""

        def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
            total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
            self.progress = LogProgress(desc=desc, total=total, unit="tasks")

        def _posttask(self, key: Any, result: Any, dsk: Any, state: dict[str, Any], worker_id: Any) -> None:
            self.progress.update(1)

        def _finish(self, dsk: Any, state: dict[str, Any], errored: bool) -> None:
            if hasattr(self, "progress"):
                self.progress.close()

    return DaskLines()


def trainer_progress(enabled: bool, desc: str = "train") -> tuple[bool, list[Any]]:
    """Lightning's ``enable_progress_bar`` and extra callbacks for a training run.

    On a terminal: Lightning's own bar. Otherwise (a log): no bar, and a callback that prints
    one line per epoch (``train: epoch 3/25, train loss 0.412, val_oa 0.871, 42 s``), plus a
    line within an epoch every :data:`LOG_INTERVAL_S` seconds when epochs are long.

    Returns:
        ``(enable_progress_bar, callbacks)``.
    """
    if not enabled:
        return False, []
    if interactive():
        return True, []
    return False, [_epoch_lines(desc)]


def _epoch_lines(desc: str) -> Any:
    """The Lightning callback of :func:`trainer_progress` (Lightning imported only here)."""
    import lightning as L

    class EpochLines(L.Callback):  # type: ignore[misc]
        """One plain line per training epoch: epoch, mean training loss, validation metrics, elapsed time."""

        def __init__(self) -> None:
            self.t0 = time.monotonic()
            self.last = self.t0
            self.losses: list[float] = []

        def on_train_start(self, trainer: Any, module: Any) -> None:
            self.t0 = self.last = time.monotonic()

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.losses = []

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            if loss is not None:
                self.losses.append(float(loss))
            now = time.monotonic()
            if now - self.last >= LOG_INTERVAL_S:
                self.last = now
                batches = trainer.num_training_batches
                of = f"/{batches}" if isinstance(batches, int) else ""
                self._print(f"{self._epoch(trainer)}, batch {batch_idx + 1}{of}{self._loss()}, "
                            f"{_seconds(now - self.t0)}")

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            metrics = trainer.callback_metrics
            val = "".join(f", {k} {float(v):.4f}" for k, v in metrics.items() if k.startswith("val_") and
                          getattr(v, "numel", lambda: 1)() == 1)
            self.last = time.monotonic()
            self._print(f"{self._epoch(trainer)}{self._loss()}{val}, {_seconds(self.last - self.t0)}")

        def _epoch(self, trainer: Any) -> str:
            epochs = trainer.max_epochs
            of = f"/{epochs}" if isinstance(epochs, int) and epochs > 0 else ""
            return f"{desc}: epoch {trainer.current_epoch + 1}{of}"

        def _loss(self) -> str:
            return f", train loss {sum(self.losses) / len(self.losses):.4f}" if self.losses else ""

        @staticmethod
        def _print(text: str) -> None:
            try:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass

    return EpochLines()


def stop_bar(progress: Any, why: str = "interrupted") -> None:
    """End a :func:`bar` whose work stopped before its end (Ctrl-C, an error) so that it does not read as finished.

    A log gets :meth:`LogProgress.stop`'s line (``batch classify: 2/12 scene, interrupted after 11 s``); a terminal
    bar keeps its count with ``why`` after it; a disabled one (``--quiet``) stays silent.
    """
    if isinstance(progress, LogProgress):
        progress.stop(why)
        return
    if not getattr(progress, "disable", True):
        postfix = str(getattr(progress, "postfix", "") or "")
        progress.set_postfix_str(f"{postfix}, {why}" if postfix else why, refresh=False)
    progress.close()
