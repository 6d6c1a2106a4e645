"""The queue and the per-request timeout, end to end over HTTP. The model's turn is held by the
test itself (as a long request would hold it), so the checks do not depend on how fast the
machine generates: a request that arrives then waits; one more is refused at once with 429 and
Retry-After; the waiting one runs out of its time limit with 504."""
from __future__ import annotations

import asyncio
import json
import threading
import time

from core.models.entry import Task
from tests.server.conftest import SMOLLM2, assert_openai_error, http, start

ASK = {"model": SMOLLM2, "max_tokens": 1,
       "messages": [{"role": "user", "content": "Hi"}]}
JSON = {"Content-Type": "application/json"}


def test_a_full_queue_is_429_and_a_request_past_its_time_limit_is_504():
    handle = start(queue_size=1, request_timeout_s=4, retry_after_s=3)
    try:
        url = f"{handle.url}/chat/completions"
        pool = handle.state.pool
        entry = pool.resolve(SMOLLM2, Task.TEXT_GENERATION)
        # the model's turn, taken as a request takes it (loading the model first)
        lease = asyncio.run_coroutine_threadsafe(pool.acquire(entry), handle.loop).result(300)
        gate = pool._slots[SMOLLM2].gate

        waiting: dict = {}
        waiter = threading.Thread(target=lambda: waiting.update(zip(
            ("status", "headers", "body"), http(url, "POST", json.dumps(ASK).encode(), JSON))))
        waiter.start()
        deadline = time.monotonic() + 10
        while gate.waiting < 1:
            assert time.monotonic() < deadline, "the second request never queued"
            time.sleep(0.01)

        started = time.monotonic()
        status, headers, body = http(url, "POST", json.dumps(ASK).encode(), JSON)
        assert status == 429 and time.monotonic() - started < 2
        assert headers.get("retry-after") == "3"
        assert assert_openai_error(body)["type"] == "rate_limit_error"

        waiter.join(30)  # the turn is still held: the waiting request runs out of time
        assert waiting["status"] == 504
        assert assert_openai_error(waiting["body"])["code"] == "timeout"
        lease.release()
        deadline = time.monotonic() + 10
        while not gate.idle:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        status, _, body = http(url, "POST", json.dumps({**ASK, "max_tokens": 1}).encode(), JSON,
                               timeout=300)
        assert status in (200, 504), body  # served again (504 only on a very busy machine)
    finally:
        handle.stop()
