"""The guard: a key, size limits, the bind rule, a port in use, the queue, no CORS by default."""
from __future__ import annotations

import asyncio

import pytest

from core.errors import BadInput
from tests.server.conftest import KEY, assert_openai_error, http


def test_missing_or_wrong_key_is_401(guarded):
    import openai
    from openai import OpenAI

    status, _, body = http(f"{guarded.url}/models")
    assert status == 401 and assert_openai_error(body)["code"] == "invalid_api_key"
    status, _, _ = http(f"{guarded.url}/models", headers={"Authorization": "Bearer wrong"})
    assert status == 401
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=guarded.url, api_key="wrong", max_retries=0).models.list()
    models = OpenAI(base_url=guarded.url, api_key=KEY, max_retries=0).models.list()
    assert models.data


def test_oversized_upload_is_413(guarded):
    import openai
    from openai import OpenAI

    client = OpenAI(base_url=guarded.url, api_key=KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(model="whisper-tiny.en",
                                           file=("big.wav", b"\0" * (256 * 1024)))
    assert caught.value.status_code == 413
    assert caught.value.body["code"] == "request_too_large"


def test_oversized_json_body_is_413(guarded):
    big = b'{"model": "x", "input": "' + b"a" * (32 * 1024) + b'"}'
    status, _, body = http(f"{guarded.url}/embeddings", "POST", big,
                           {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert status == 413
    assert_openai_error(body)


def test_unknown_path_is_404_in_openais_shape(guarded):
    status, _, body = http(f"{guarded.url}/nothing-here", headers={"Authorization": f"Bearer {KEY}"})
    assert status == 404
    assert_openai_error(body)


def test_no_cors_headers_unless_asked(guarded):
    status, headers, _ = http(f"{guarded.url}/models", headers={
        "Authorization": f"Bearer {KEY}", "Origin": "http://evil.example"})
    assert status == 200
    assert not any(k.lower().startswith("access-control") for k in headers)


def test_cors_for_the_origin_given():
    from tests.server.conftest import start

    handle = start(cors=("http://localhost:3000",))
    try:
        _, headers, _ = http(f"{handle.url}/models", headers={"Origin": "http://localhost:3000"})
        assert headers.get("access-control-allow-origin") == "http://localhost:3000"
    finally:
        handle.stop()


def test_non_loopback_bind_without_key_is_refused():
    from core.server import ServerConfig, ServerHandle

    with pytest.raises(BadInput, match="without an API key"):
        ServerHandle(ServerConfig(host="0.0.0.0", port=0))
    assert ServerConfig(host="0.0.0.0", api_key="k").validate()  # with a key it may
    assert ServerConfig(host="::1").validate()


def test_cli_refuses_a_non_loopback_bind_and_a_port_in_use(capsys):
    import main

    assert main.main(["serve", "--host", "0.0.0.0"]) == 1
    assert "without an API key" in capsys.readouterr().err
    from core.server import ServerConfig, bind

    taken = bind(ServerConfig(port=0))
    try:
        port = taken.getsockname()[1]
        assert main.main(["serve", "--port", str(port)]) == 1
        assert f"Port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err
    finally:
        taken.close()


def test_stopping_frees_the_port():
    from core.server import ServerConfig, bind
    from tests.server.conftest import start

    handle = start()
    port = handle.port
    handle.stop()
    bind(ServerConfig(port=port)).close()  # would raise "already in use"


def test_a_full_queue_answers_429_with_retry_after():
    """Gate: one turn, one waiter; the next is Busy (429, Retry-After) at once; turns pass in
    arrival order."""
    from core.server.errors import Busy
    from core.server.gate import Gate

    async def scenario():
        gate = Gate("m", queue_size=1, retry_after_s=3)
        order = []
        await gate.acquire()

        async def waiter(name):
            await gate.acquire()
            order.append(name)

        first = asyncio.create_task(waiter("first"))
        await asyncio.sleep(0)
        with pytest.raises(Busy) as caught:
            await gate.acquire()
        assert caught.value.status == 429 and caught.value.headers["Retry-After"] == "3"
        gate.release()
        await first
        assert order == ["first"] and gate.busy
        gate.release()
        assert gate.idle

    asyncio.run(scenario())


def test_a_waiter_that_leaves_gives_up_its_place():
    from core.server.gate import Gate

    async def scenario():
        gate = Gate("m", queue_size=4, retry_after_s=1)
        await gate.acquire()
        leaving = asyncio.create_task(gate.acquire())
        staying = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        leaving.cancel()
        await asyncio.sleep(0)
        gate.release()
        await asyncio.wait_for(staying, 1)
        assert gate.busy and gate.waiting == 0
        gate.release()
        assert gate.idle

    asyncio.run(scenario())
