"""Bad requests to the local OpenAI-compatible server (issue 15): malformed JSON, wrong types,
empty messages, an unknown model, corrupt, empty or binary audio, a huge input, an engine that
fails mid-stream. Each is answered with OpenAI's error object and a sentence a person can act on
(naming the field or the file, never a traceback), and the server goes on serving afterwards.

Clients: the real ``openai`` package, and plain HTTP for what it would not send."""
from __future__ import annotations

import json

import pytest

from tests.server.conftest import SMOLLM2, WHISPER, assert_openai_error, http, start

JSON = {"Content-Type": "application/json"}
HI = [{"role": "user", "content": "Hi"}]
WAV_HEADER = b"RIFF\x24\x08\x00\x00WAVEfmt "  # a WAV cut off inside its header


@pytest.fixture(scope="module")
def server():
    handle = start()
    yield handle
    handle.stop()


@pytest.fixture()
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=300)


def _post(server, body, path: str = "chat/completions") -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _headers, reply = http(f"{server.url}/{path}", "POST", raw, JSON, timeout=300)
    return status, reply


def _plain(message: str) -> None:
    """A sentence for a person: no traceback, no Python repr of a missing name."""
    assert "Traceback" not in message and "'None'" not in message and "File \"" not in message
    assert message.rstrip().endswith((".", ")")), message


def _still_serving(client) -> None:
    reply = client.chat.completions.create(model=SMOLLM2, messages=HI, max_tokens=2)
    assert reply.choices[0].message.content is not None
    assert SMOLLM2 in [m.id for m in client.models.list().data]


@pytest.mark.parametrize("raw, words", [
    (b"", "has no body"),
    (b"[1, 2]", "not a JSON object"),
    (b'"hello"', "not a JSON object"),
    (b'{"model": "x", ', "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
])
def test_a_body_that_is_not_a_request_is_400_saying_what_to_send(server, raw, words):
    status, reply = _post(server, raw)
    assert status == 400
    message = assert_openai_error(reply)["message"]
    assert words in message, message
    _plain(message)


@pytest.mark.parametrize("fields, param", [
    ({"messages": "Hi"}, "messages"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "wizard", "content": "Hi"}]}, "messages[0].role"),
    ({"messages": [{"content": "Hi"}]}, "messages[0].role"),
    ({"max_tokens": "ten"}, "max_tokens"),
    ({"temperature": "hot"}, "temperature"),
    ({"model": 42}, "model"),
    ({"stream": "maybe"}, "stream"),
])
def test_wrong_types_are_400_naming_the_field(server, fields, param):
    status, reply = _post(server, {"model": SMOLLM2, "messages": HI, **fields})
    assert status == 400
    error = assert_openai_error(reply)
    assert error["param"] == param and param.split("[")[0] in error["message"], error
    _plain(error["message"])


def test_empty_messages_and_an_empty_prompt_are_refused_in_words(client):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=SMOLLM2, messages=[])
    assert "no message" in caught.value.message.lower()
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=SMOLLM2, max_tokens=2,
                                       messages=[{"role": "user", "content": "   "}])
    assert "empty" in caught.value.message.lower()
    _plain(caught.value.body["message"])
    _still_serving(client)


def test_an_unknown_model_is_404_naming_it_and_where_to_look(client):
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=HI)
    message = caught.value.body["message"]
    assert "'no-such-model'" in message and "/v1/models" in message
    _plain(message)


def test_a_huge_prompt_is_refused_with_the_numbers(client):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=SMOLLM2, max_tokens=2,
            messages=[{"role": "user", "content": "word " * 100_000}])  # ~0.5 MB, 100k tokens
    message = caught.value.body["message"]
    assert "too long" in message and "tokens" in message
    _plain(message)
    _still_serving(client)


def _audio_cases() -> dict[str, tuple[str, bytes, str]]:
    """case -> (the client's file name, its bytes, a word the refusal must hold)."""
    noise = bytes((i * 131 + 17) % 256 for i in range(6000))
    return {
        "empty": ("talk.wav", b"", "empty"),
        "binary": ("noise.wav", noise, "noise.wav"),
        "truncated": ("cut.wav", WAV_HEADER, "cut.wav"),
        "wrong-extension": ("notes.mp3", "not audio at all".encode("utf-16"), "notes.mp3"),
        "odd-name": ("-my talk é.flac", b"fLaC\x00\x00\x00\x22" + noise[:200], "-my talk é.flac"
                     .lstrip("-")),
    }


@pytest.mark.parametrize("case", list(_audio_cases()))
def test_bad_audio_uploads_are_400_naming_the_file(client, case):
    import openai

    name, data, word = _audio_cases()[case]
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model=WHISPER, file=(name, data))
    message = caught.value.body["message"]
    assert word in message, message
    assert "upload." not in message  # the client's name, not the server's copy
    _plain(message)


def test_after_bad_uploads_a_good_one_is_transcribed(client, shared_eval):
    with open(shared_eval / "speech" / "jfk.flac", "rb") as f:
        result = client.audio.transcriptions.create(model=WHISPER, file=f)
    assert "ask not what your country" in result.text.lower()


def _failing_stream(original, after: int, error: BaseException):
    """The engine's stream, failing after ``after`` events (a driver error, memory running
    out); the real generation is closed, so the engine is free again."""
    def stream(request, cancel):
        events = original(request, cancel)
        try:
            for n, event in enumerate(events):
                if n >= after:
                    raise error
                yield event
        finally:
            events.close()
    return stream


@pytest.mark.parametrize("error, status, words", [
    (RuntimeError("CUDA error: an illegal memory access"), 500, "Internal error"),
    ("oom", 507, "memory"),
])
def test_an_engine_failing_mid_stream_ends_the_stream_with_an_error(client, server, monkeypatch,
                                                                      error, status, words):
    import openai

    from core.errors import OutOfMemory

    if error == "oom":
        error = OutOfMemory("The model ran out of memory while writing the reply.",
                            hint="Use a shorter message or a smaller model.")
    client.chat.completions.create(model=SMOLLM2, messages=HI, max_tokens=1)  # loaded
    engine = server.state.pool._slots[SMOLLM2].engine
    monkeypatch.setattr(engine, "stream", _failing_stream(engine.stream, 3, error))
    got = []
    with pytest.raises(openai.APIError) as caught:
        stream = client.chat.completions.create(
            model=SMOLLM2, stream=True, max_tokens=40,
            messages=[{"role": "user", "content": "Tell me about the sea."}])
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                got.append(chunk.choices[0].delta.content)
    assert got, "the failure came before any token: not mid-stream"
    assert words in caught.value.message, caught.value.message
    _plain(caught.value.message)
    # not streamed: the status says it
    with pytest.raises(openai.APIStatusError) as whole:
        client.chat.completions.create(model=SMOLLM2, messages=HI, max_tokens=20)
    assert whole.value.status_code == status and words in whole.value.body["message"]
    monkeypatch.undo()
    _still_serving(client)
    assert not server.state.pool.busy(SMOLLM2)


def test_an_internal_error_keeps_the_clients_connection_usable(client, server, monkeypatch):
    """A 500 is answered without closing the kept-alive connection: a client that reuses it (as
    the openai client does at once) is served, instead of meeting a reset connection."""
    import http.client
    import time
    from urllib.parse import urlsplit

    client.chat.completions.create(model=SMOLLM2, messages=HI, max_tokens=1)  # loaded
    engine = server.state.pool._slots[SMOLLM2].engine
    monkeypatch.setattr(engine, "stream", _failing_stream(engine.stream, 0, KeyError("boom")))
    where = urlsplit(server.url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
    body = json.dumps({"model": SMOLLM2, "messages": HI, "max_tokens": 5})
    try:
        for _round in range(3):
            conn.request("POST", "/v1/chat/completions", body, JSON)
            reply = conn.getresponse()
            error = assert_openai_error(json.loads(reply.read()))
            assert reply.status == 500 and "Internal error" in error["message"]
            _plain(error["message"])
            time.sleep(0.3)  # time enough for a server that drops the connection to do so
            conn.request("GET", "/v1/models")  # the same connection
            listed = conn.getresponse()
            assert listed.status == 200 and SMOLLM2 in listed.read().decode()
    finally:
        conn.close()
    monkeypatch.undo()
    _still_serving(client)
