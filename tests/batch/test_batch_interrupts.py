"""Ctrl-C / SIGTERM during `hsi batch` stop it even when distributed swallows the KeyboardInterrupt, and the last
progress line then says the batch was interrupted (hsi_app.batch.interrupts, progress.stop_bar)."""

from __future__ import annotations

import io
import json
import signal
import threading
from pathlib import Path
from typing import Any

import dask
import pytest

from hsi_app.batch import ClusterOptions, driver, run_batch
from hsi_app.batch.interrupts import interrupt_flag, until_interrupted
from hsi_app.progress import LogProgress, stop_bar


def _swallowed(sig: int = signal.SIGINT) -> None:
    """The signal arrives while the main thread runs code that drops the KeyboardInterrupt, as the interpreter
    does in distributed's GC callback ('Exception ignored in: ... GCDiagnosis._gc_callback')."""
    try:
        signal.raise_signal(sig)
    except KeyboardInterrupt:
        pass


@pytest.fixture(autouse=True)
def python_ctrl_c_handler() -> Any:
    """Python's own Ctrl-C handler for each test, even when pytest was started in the background (``cmd &``
    without job control inherits SIGINT ignored, which interrupt_flag rightly leaves alone)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_swallowed_interrupt_is_recorded_and_the_handlers_come_back(sig: int) -> None:
    def raising(signum: int, frame: Any) -> None:  # the CLI's SIGTERM handler
        raise KeyboardInterrupt

    before_term = signal.signal(signal.SIGTERM, raising)
    try:
        before = signal.getsignal(sig)
        with interrupt_flag() as stop:
            assert not stop.is_set()
            _swallowed(sig)
            assert stop.is_set()
            with pytest.raises(KeyboardInterrupt):  # the handler still raises as before
                signal.raise_signal(sig)
        assert signal.getsignal(sig) is before
    finally:
        signal.signal(signal.SIGTERM, before_term)


def test_ignored_signals_and_handlers_that_do_not_interrupt_are_left_alone() -> None:
    calls: list[int] = []
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # e.g. `cmd &` without job control
    old_term = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        with interrupt_flag() as stop:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGTERM)  # a handler that does not raise: the batch goes on
            assert calls == [signal.SIGTERM] and not stop.is_set()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def test_outside_the_main_thread_nothing_is_installed() -> None:
    seen: list[Any] = []

    def run() -> None:
        with interrupt_flag() as stop:
            seen.extend([stop.is_set(), signal.getsignal(signal.SIGINT)])

    before = signal.getsignal(signal.SIGINT)
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert seen == [False, before]


class FakeAsCompleted:
    """``distributed.as_completed``'s polling API over a list of finished futures and some still running."""

    def __init__(self, ready: list[str], running: int = 0) -> None:
        self.ready, self.running = list(ready), running

    def has_ready(self) -> bool:
        return bool(self.ready)

    def is_empty(self) -> bool:
        return not self.ready and not self.running

    def __next__(self) -> str:
        return self.ready.pop(0)


def test_results_stop_once_the_flag_is_set_even_while_waiting() -> None:
    stop = threading.Event()
    assert list(until_interrupted(FakeAsCompleted(["a", "b"]), stop)) == ["a", "b"]
    pending = FakeAsCompleted(["a"], running=1)  # one result, then a scene that takes long
    results = until_interrupted(pending, stop, poll=0.01)
    assert next(results) == "a"
    threading.Timer(0.05, stop.set).start()  # the swallowed interrupt, while nothing is ready
    with pytest.raises(KeyboardInterrupt):
        next(results)
    stop.set()  # set after the last result: not lost either
    with pytest.raises(KeyboardInterrupt):
        list(until_interrupted(FakeAsCompleted(["a"]), stop))


def test_a_stopped_log_bar_says_so() -> None:
    out = io.StringIO()
    bar = LogProgress(desc="batch classify", total=12, unit="scene", file=out)
    bar.update(2)
    bar.set_postfix(failed=2)
    stop_bar(bar)
    bar.close()  # nothing more after the stop line
    assert out.getvalue() == "batch classify: 2/12 scene, interrupted after 0 s, failed=2\n"


def test_a_stopped_terminal_bar_keeps_its_count_and_says_why() -> None:
    from tqdm import tqdm

    out = io.StringIO()
    bar = tqdm(total=12, desc="batch classify", unit="scene", file=out)
    bar.update(2)
    bar.set_postfix(failed=2)
    stop_bar(bar)
    assert "2/12" in out.getvalue().splitlines()[-1].split("\r")[-1] and "failed=2, interrupted" in out.getvalue()


def test_a_batch_whose_interrupt_is_swallowed_still_stops_and_reports_it(run_dir: Path, kit, tmp_path: Path,  # noqa: ANN001
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The first scene's result comes back, then Ctrl-C arrives and is swallowed: the batch ran on to its end and
    returned (exit 1 or 0); it now stops with KeyboardInterrupt (exit 130), an interrupted report, and a last
    progress line that does not read like a finished run."""
    for i in range(3):
        kit.write_scene(tmp_path / "in" / f"s{i}.tif", 20, 24, i + 1)
    out = tmp_path / "out"
    relayed: list[int] = []

    def relay_then_ctrl_c(records: Any, scene: str | None = None) -> None:  # runs in the main thread for each scene's result
        relayed.append(1)
        if len(relayed) == 1:
            _swallowed()

    monkeypatch.setattr(driver, "reissue", relay_then_ctrl_c)
    handler = signal.getsignal(signal.SIGINT)
    # an interrupted threaded cluster may leave dask's `scheduler: dask.distributed` behind (its worker's own client
    # and the batch's restore it in either order): put it back after the test, for the tests after it
    monkeypatch.setitem(dask.config.config, "scheduler", None)
    with pytest.raises(KeyboardInterrupt):
        run_batch("classify", run_dir, [str(tmp_path / "in")], out, echo=lambda s: None,
                  cluster=ClusterOptions(workers=1, processes=False, dashboard=False))
    assert relayed == [1]  # no further result was taken after the interrupt
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] is True and not (out / ".hsi_batch.lock").exists()
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("batch classify: ")]
    assert lines and lines[-1].startswith("batch classify: 1/3 scene, interrupted after "), lines
    assert signal.getsignal(signal.SIGINT) is handler  # the handler is back


def test_ctrl_c_while_the_local_cluster_starts_leaves_no_cluster_behind(monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C inside distributed's start-up left a half-started LocalCluster that distributed's exit hook then
    failed to close ('Exception ignored in atexit callback ... AssertionError: Status.init' after 'hsi: interrupted').
    The interrupt is now held until the cluster runs, then raised with the cluster closed."""
    from distributed.core import Status
    from distributed.deploy import spec

    from hsi_app.batch.run import open_client

    start = spec.SpecCluster._start

    async def ctrl_c_during_start(self: Any) -> None:  # the loop thread; the main thread waits for the start
        signal.raise_signal(signal.SIGINT)
        await start(self)

    monkeypatch.setattr(spec.SpecCluster, "_start", ctrl_c_during_start)
    monkeypatch.setitem(dask.config.config, "scheduler", None)
    entered = []
    with interrupt_flag() as stop, pytest.raises(KeyboardInterrupt):
        with open_client(ClusterOptions(workers=1, dashboard=False)):
            entered.append(1)
    assert stop.is_set() and not entered  # the batch's flag saw it; no scene was submitted
    assert [c for c in list(spec.SpecCluster._instances) if c.status != Status.closed] == []
    spec.close_clusters()  # distributed's exit hook: nothing left to close, nothing raised
    assert "stopping once the workers have started" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
