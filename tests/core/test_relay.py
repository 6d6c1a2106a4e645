import threading

import pytest

from core.cancel import CancelToken
from core.errors import Cancelled
from core.events import Done, Log
from core.relay import relay


def test_events_arrive_in_order_and_the_result_is_returned():
    def work(emit):
        for i in range(5):
            emit(Log(str(i)))
        return "answer"

    def gen():
        result = yield from relay(work, CancelToken(), name="t")
        yield Done(result=result)

    events = list(gen())
    assert [e.message for e in events[:-1]] == ["0", "1", "2", "3", "4"]
    assert events[-1].result == "answer"


def test_the_worker_error_reaches_the_consumer():
    def work(emit):
        emit(Log("before"))
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        list(relay(work, CancelToken(), name="t"))


def test_closing_the_generator_cancels_the_work_and_waits_for_it():
    started, stopped = threading.Event(), threading.Event()
    cancel = CancelToken()

    def work(emit):
        started.set()
        try:
            while True:
                emit(Log("tick"))
                cancel.raise_if_cancelled()
                threading.Event().wait(0.01)
        finally:
            stopped.set()

    gen = relay(work, cancel, name="relay-test")
    next(gen)
    assert started.is_set()
    gen.close()
    assert cancel.cancelled and stopped.is_set()
    assert not any(t.name == "relay-test" for t in threading.enumerate())


def test_the_worker_is_not_a_daemon():
    seen = {}

    def work(emit):
        seen["daemon"] = threading.current_thread().daemon

    list(relay(work, CancelToken(), name="t"))
    assert seen["daemon"] is False


def test_a_cancelled_work_raises_cancelled():
    cancel = CancelToken()
    cancel.cancel()

    def work(emit):
        cancel.raise_if_cancelled()

    with pytest.raises(Cancelled):
        list(relay(work, cancel, name="t"))
