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
