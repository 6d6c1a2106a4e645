"""The worker bridge with fake jobs: order, throttling, cancel, failure."""
import threading

from core.errors import BadInput, Cancelled
from core.events import Done, Log, Progress


def test_events_arrive_in_order_on_the_gui_thread(qtbot, runner):
    seen, threads = [], []

    def job(cancel):
        for i in range(5):
            yield Log(f"line {i}")
        yield Done(result=42)

    j = runner.start("fake", job)
    j.event.connect(lambda ev: (seen.append(ev), threads.append(threading.current_thread())))
    with qtbot.waitSignal(j.finished, timeout=5000):
        pass
    assert [getattr(e, "message", None) for e in seen[:5]] == [f"line {i}" for i in range(5)]
    assert isinstance(seen[-1], Done) and seen[-1].result == 42
    assert set(threads) == {threading.main_thread()}


def test_progress_is_coalesced_but_the_last_one_arrives(qtbot, runner):
    seen = []

    def job(cancel):
        for i in range(2001):
            yield Progress("counting", i, 2000)
        yield Done()

    j = runner.start("many", job)
    j.event.connect(seen.append)
    with qtbot.waitSignal(j.finished, timeout=10_000):
        pass
    progress = [e for e in seen if isinstance(e, Progress)]
    assert progress[-1].done == 2000  # the final state is never dropped
    assert len(progress) < 200  # 2001 updates do not flood the GUI thread
    assert isinstance(seen[-1], Done)


def test_cancel_stops_a_running_job(qtbot, runner):
    started = threading.Event()

    def job(cancel):
        started.set()
        while True:
            cancel.raise_if_cancelled()
            yield Progress("waiting", 0, None)
            cancel.wait(0.01)

    j = runner.start("endless", job)
    assert started.wait(5)
    with qtbot.waitSignals([j.cancelled, j.finished], timeout=5000, order="strict"):
        j.cancel()
    assert isinstance(j.error, Cancelled)


def test_failure_reaches_the_gui_thread_with_its_traceback(qtbot, runner):
    def job(cancel):
        yield Log("about to fail")
        raise BadInput("The file is empty.")

    j = runner.start("failing", job)
    with qtbot.waitSignal(j.failed, timeout=5000) as blocker:
        pass
    exc = blocker.args[0]
    assert isinstance(exc, BadInput) and exc.__traceback__ is not None
    qtbot.waitUntil(lambda: not runner.active_jobs(), timeout=5000)


def test_shutdown_waits_for_every_thread(qtbot, runner):
    def job(cancel):
        while not cancel.wait(0.02):
            yield Progress("busy", 0, None)

    jobs = [runner.start(f"busy {i}", job) for i in range(3)]
    assert runner.running() == ["busy 0", "busy 1", "busy 2"]
    assert runner.shutdown(5000)
    assert not any(j.is_running() for j in jobs)


def test_the_generator_is_closed_on_its_thread_when_cancelled(qtbot, runner):
    """Even a generator someone else still holds (an engine's stream) is closed on cancel."""
    held, closed_on = [], []
    started = threading.Event()

    def stream(cancel):
        try:
            started.set()
            while True:
                yield Progress("streaming", 0, None)
                cancel.wait(0.01)
        finally:
            closed_on.append(threading.current_thread())

    def factory(cancel):
        gen = stream(cancel)
        held.append(gen)  # a reference that outlives the job: only an explicit close ends it
        return gen

    j = runner.start("stream", factory)
    assert started.wait(5)
    with qtbot.waitSignals([j.cancelled, j.finished], timeout=5000, order="strict"):
        j.cancel()
    assert len(closed_on) == 1 and closed_on[0] is not threading.main_thread()
    assert held[0].gi_frame is None  # closed, not merely dropped


def test_a_failure_nobody_handles_goes_to_the_notifier(qtbot, runner):
    shown = []
    runner.notify = shown.append

    def job(cancel):
        raise BadInput("The table is empty.")
        yield

    with qtbot.waitSignal(runner.start("unhandled", job).finished, timeout=5000):
        pass
    assert [str(e) for e in shown] == ["The table is empty."]
    # a caller with its own handler, or notify=False, keeps it from the notifier
    own = []
    j = runner.start("handled", job)
    j.failed.connect(own.append)
    with qtbot.waitSignal(j.finished, timeout=5000):
        pass
    with qtbot.waitSignal(runner.start("silent", job, notify=False).finished, timeout=5000):
        pass
    assert len(own) == 1 and len(shown) == 1


def test_query_runs_in_a_worker_and_delivers_on_the_gui_thread(qtbot, runner):
    ran_on, got = [], []

    def read(cancel):
        ran_on.append(threading.current_thread())
        return [1, 2, 3]

    j = runner.query("Reading", read, lambda v: got.append((v, threading.current_thread())))
    assert j.quiet  # housekeeping: not shown as running
    with qtbot.waitSignal(j.finished, timeout=5000):
        pass
    assert ran_on[0] is not threading.main_thread()
    assert got == [([1, 2, 3], threading.main_thread())]


def test_query_failure_goes_to_its_handler_or_the_notifier(qtbot, runner):
    shown, handled = [], []
    runner.notify = shown.append

    def broken(cancel):
        raise BadInput("Cannot read 'x.csv'.")

    j = runner.query("Reading", broken, lambda v: None, on_failure=handled.append)
    with qtbot.waitSignal(j.finished, timeout=5000):
        pass
    assert [str(e) for e in handled] == ["Cannot read 'x.csv'."] and not shown
    j = runner.mutation("Changing", broken)
    assert not j.quiet  # a change is shown as running
    with qtbot.waitSignal(j.finished, timeout=5000):
        pass
    assert [str(e) for e in shown] == ["Cannot read 'x.csv'."]


def test_a_query_result_for_a_deleted_widget_is_dropped(qtbot, runner):
    from PySide6.QtWidgets import QLabel

    gate = threading.Event()
    label = QLabel()
    j = runner.query("Reading", lambda c: gate.wait(5) and "text", label.setText)
    label.deleteLater()
    qtbot.waitUntil(lambda: not __import__("shiboken6").isValid(label), timeout=2000)
    with qtbot.waitSignal(j.finished, timeout=5000):
        gate.set()
    assert j.error is None
