"""Chat completions through the real openai client, on the bundled SmolLM2 GGUF (llama.cpp)."""
from __future__ import annotations

import time

import pytest

from tests.server.conftest import SMOLLM2, assert_openai_error, http

ASK = [{"role": "user", "content": "Name three colours."}]


def test_models_lists_every_served_model_with_its_task(client):
    models = {m.id: m for m in client.models.list().data}
    assert {"smollm2-135m-instruct", "all-minilm-l6-v2", "sentiment-minilm",
            "whisper-tiny.en"} <= set(models)
    assert models["smollm2-135m-instruct"].task == "text-generation"
    assert models["all-minilm-l6-v2"].task == "feature-extraction"
    assert models["whisper-tiny.en"].task == "speech-recognition"
    # not started with --allow-downloads: nothing that would need the Hub
    assert not any(m.startswith("hub:") for m in models)


def test_chat_whole_reply_with_usage(client):
    reply = client.chat.completions.create(model=SMOLLM2, messages=ASK, max_tokens=12,
                                           temperature=0)
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 5
    assert 1 <= reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_max_tokens_ends_with_length(client):
    reply = client.chat.completions.create(
        model=SMOLLM2, max_tokens=3, temperature=0,
        messages=[{"role": "user", "content": "Write a long story about a dragon."}])
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 3


def test_stream_matches_the_whole_reply_and_ends_with_done(client, server):
    whole = client.chat.completions.create(model=SMOLLM2, messages=ASK, max_tokens=16,
                                           temperature=0).choices[0].message.content
    chunks = list(client.chat.completions.create(
        model=SMOLLM2, messages=ASK, max_tokens=16, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole  # greedy: the same tokens, streamed
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 2
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    finals = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finals[-1] in ("stop", "length")
    # the raw stream ends with [DONE]
    import urllib.request

    req = urllib.request.Request(
        f"{server.url}/chat/completions", method="POST",
        data=(b'{"model": "%s", "stream": true, "max_tokens": 4, "messages": '
              b'[{"role": "user", "content": "Hi"}]}' % SMOLLM2.encode()),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        raw = resp.read().decode()
    assert raw.rstrip().endswith("data: [DONE]")


def test_seed_repeats_a_sampled_reply_and_stop_cuts_it(client):
    kw = dict(model=SMOLLM2, messages=ASK, max_tokens=20, temperature=0.9, top_p=0.95, seed=7,
              frequency_penalty=0.4)
    a = client.chat.completions.create(**kw).choices[0].message.content
    b = client.chat.completions.create(**kw).choices[0].message.content
    assert a == b and a
    word = a.split()[1] if len(a.split()) > 1 else a[1:]
    cut = client.chat.completions.create(**kw, stop=[word]).choices[0]
    assert cut.message.content == a[:a.index(word)]
    assert cut.finish_reason == "stop"


def test_unknown_model_is_404_in_openais_shape(client, server):
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=ASK)
    assert caught.value.status_code == 404
    status, _, body = http(f"{server.url}/chat/completions", "POST",
                           b'{"model": "no-such-model", "messages": [{"role": "user", '
                           b'"content": "Hi"}]}', {"Content-Type": "application/json"})
    assert status == 404
    assert assert_openai_error(body)["code"] == "model_not_found"


def test_a_path_on_the_server_is_not_a_model(server, tiny_chat_dir):
    import json

    body = json.dumps({"model": str(tiny_chat_dir),
                       "messages": [{"role": "user", "content": "Hi"}]}).encode()
    status, _, body = http(f"{server.url}/chat/completions", "POST", body,
                           {"Content-Type": "application/json"})
    assert status == 404
    assert_openai_error(body)


def test_malformed_json_is_400(server):
    status, _, body = http(f"{server.url}/chat/completions", "POST", b'{"model": "x", ',
                           {"Content-Type": "application/json"})
    assert status == 400
    assert "JSON" in assert_openai_error(body)["message"]


def test_missing_messages_and_wrong_task_are_400(server):
    status, _, body = http(f"{server.url}/chat/completions", "POST", b'{"model": "x"}',
                           {"Content-Type": "application/json"})
    assert status == 400 and assert_openai_error(body)["param"] == "messages"
    status, _, body = http(f"{server.url}/chat/completions", "POST",
                           b'{"model": "all-minilm-l6-v2", "messages": [{"role": "user", '
                           b'"content": "Hi"}]}', {"Content-Type": "application/json"})
    assert status == 400 and assert_openai_error(body)["param"] == "model"


def test_client_disconnect_mid_stream_frees_the_engine(client, server):
    """A long generation is abandoned after a few tokens: the model is free again within a
    second or two, and serves the next request."""
    client.chat.completions.create(model=SMOLLM2, messages=ASK, max_tokens=1)  # loaded
    stream = client.chat.completions.create(
        model=SMOLLM2, stream=True, max_tokens=4000, temperature=0.8,
        messages=[{"role": "user", "content": "Write a very long story about the sea."}])
    got = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            got += 1
            if got >= 3:
                break
    assert server.state.pool.busy(SMOLLM2)  # still generating when the client leaves
    stream.close()
    left = time.monotonic()
    while server.state.pool.busy(SMOLLM2):
        assert time.monotonic() - left < 2.0, "the generation went on after the client left"
        time.sleep(0.02)
    reply = client.chat.completions.create(model=SMOLLM2, messages=ASK, max_tokens=2)
    assert reply.choices[0].message.content is not None  # the model serves the next request


def test_what_the_engines_cannot_do_is_refused_not_ignored(server):
    for extra in ({"n": 2}, {"tools": [{"type": "function", "function": {"name": "f"}}]},
                  {"response_format": {"type": "json_object"}},
                  {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}):
        body = {"model": SMOLLM2, "messages": [{"role": "user", "content": "Hi"}], **extra}
        import json

        status, _, reply = http(f"{server.url}/chat/completions", "POST",
                                json.dumps(body).encode(), {"Content-Type": "application/json"})
        assert status == 400, extra
        assert assert_openai_error(reply)["param"]
