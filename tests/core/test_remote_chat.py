"""Remote endpoints: the endpoint list and its keys, the registry's NAME/MODEL entries, and chat
streamed from a real OpenAI-compatible server (tests/remote_fixture.py: SmolLM2 on our llama.cpp
engine) through the `openai` client: replies, Stop, and every failure a user can meet."""
from __future__ import annotations

import contextlib
import io
import logging
import socket
import stat
import threading
import time

import pytest

from core.cancel import CancelToken
from core.chat import ChatRequest, GenerationSettings, Token, open_chat
from core.errors import BadInput
from core.events import Done
from core.models import EndpointModelMissing, EndpointRefused, EndpointUnreachable, Registry
from core.models.endpoint_api import normal_url
from core.models.endpoint_keys import KeyStore
from tests.remote_fixture import ChatServer

KEY = "sk-test-7f3a9c1e5b"


@pytest.fixture(autouse=True)
def no_platform_keyring(monkeypatch):
    """The tests never touch the user's real keyring: keys go to the 0600 file (one test hands
    KeyStore an in-memory keyring of its own)."""
    monkeypatch.setattr("core.models.endpoint_keys.usable_keyring", lambda: None)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from core.paths import AppHome

    home = AppHome(tmp_path_factory.mktemp("server-home")).ensure()
    with ChatServer(Registry(home, scan_hf_cache=False), api_key=KEY) as srv:
        yield srv


@pytest.fixture()
def registry(home):
    return Registry(home, scan_hf_cache=False)


def ask(text: str, **settings) -> ChatRequest:
    return ChatRequest(({"role": "user", "content": text},), "",
                       GenerationSettings(**{"max_new_tokens": 8, **settings}))


def connect(registry, model_id: str):
    events = list(open_chat(registry, model_id, "cpu", CancelToken()))
    assert isinstance(events[-1], Done)
    return events[-1].result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the list and the keys ---------------------------------------------------------------------
@pytest.mark.parametrize("given, expected", [
    ("localhost:8000", "http://localhost:8000/v1"),
    ("http://127.0.0.1:11434/", "http://127.0.0.1:11434/v1"),
    ("https://host/api/openai/v1/", "https://host/api/openai/v1"),
    ("http://h:1234/v1", "http://h:1234/v1"),
])
def test_base_urls_take_one_form(given, expected):
    assert normal_url(given) == expected


@pytest.mark.parametrize("bad", ["", "ftp://host/v1", "http://user:pw@host/v1", "http://h:99999"])
def test_bad_base_urls_are_refused(bad):
    with pytest.raises(BadInput):
        normal_url(bad)


def test_the_key_is_kept_apart_readable_by_the_user_alone(registry):
    endpoint = registry.endpoints.add("127.0.0.1:9", "box", key=KEY)
    assert endpoint.key == "file"
    listed = registry.endpoints.path.read_text(encoding="utf-8")
    assert "box" in listed and KEY not in listed
    keys = registry.endpoints.keys.file
    assert KEY in keys.read_text(encoding="utf-8")
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert registry.endpoints.target(endpoint).key == KEY
    assert KEY not in repr(registry.endpoints.target(endpoint))
    registry.endpoints.remove("box")
    assert KEY not in keys.read_text(encoding="utf-8")
    assert registry.endpoints.read() == []


def test_a_usable_keyring_holds_the_key_instead_of_the_file(tmp_path):
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self):
            super().__init__()
            self.items = {}

        def set_password(self, service, username, password):
            self.items[service, username] = password

        def get_password(self, service, username):
            return self.items.get((service, username))

        def delete_password(self, service, username):
            self.items.pop((service, username), None)

    ring = MemoryKeyring()
    store = KeyStore(tmp_path / "keys.json", backend=ring)
    assert store.save("box", KEY) == "keyring"
    assert not (tmp_path / "keys.json").exists()
    assert store.get("box", "keyring") == KEY
    store.forget("box", "keyring")
    assert store.get("box", "keyring") is None


def test_names_are_checked_and_unique(registry):
    registry.endpoints.add("127.0.0.1:9", "box")
    with pytest.raises(BadInput, match="already"):
        registry.endpoints.add("127.0.0.1:10", "box")
    with pytest.raises(BadInput, match="cannot name"):
        registry.endpoints.add("127.0.0.1:10", "a/b")
    assert registry.endpoints.add("http://127.0.0.1:10").name == "127.0.0.1-10"


def test_a_broken_endpoint_list_is_set_aside_and_said(registry):
    registry.endpoints.path.write_text("{not json", encoding="utf-8")
    assert registry.endpoints.read() == []
    assert any("set aside" in p for p in registry.take_problems())
    assert list(registry.endpoints.path.parent.glob("endpoints.json.broken-*"))


# ---- against a real server ---------------------------------------------------------------------
def test_models_are_listed_as_name_slash_model(server, registry):
    registry.endpoints.add(server.url, "local", key=KEY)
    chat_ids = [e.id for e in registry.entries("text-generation")]
    assert "local/smollm2" in chat_ids
    entry = registry.get("local/smollm2")
    assert entry.format.value == "openai-api" and entry.source.value == "endpoint"
    with pytest.raises(BadInput, match="remove-endpoint"):
        registry.remove("local/smollm2")


def test_the_reply_streams_as_the_server_generates_it(server, registry):
    registry.endpoints.add(server.url, "local", key=KEY)
    engine = connect(registry, "local/smollm2")
    assert engine.info.line() == "endpoint · local · smollm2"
    request = ask("What is the capital of France?", decoding="greedy", seed=1)
    events = list(engine.stream(request, CancelToken()))
    tokens = [e.text for e in events if isinstance(e, Token)]
    stats = events[-1].result
    assert len(tokens) >= 2 and stats.text == "".join(tokens)
    # the same greedy reply as the server's own engine gives: nothing lost or added on the way
    local = [e for e in server.engine.stream(request, CancelToken()) if isinstance(e, Done)]
    assert stats.text == local[0].result.text
    assert stats.tokens >= len(tokens) and not stats.stopped
    assert stats.ttft_s is not None and stats.tokens_per_s > 0
    engine.close()


def test_stop_mid_stream_ends_within_a_token_and_hangs_up(server, registry):
    registry.endpoints.add(server.url, "local", key=KEY)
    engine = connect(registry, "local/smollm2")
    before = len(server.replies)
    cancel = CancelToken()
    seen, after_stop = 0, 0
    for ev in engine.stream(ask("Tell me a long story about a dragon.", max_new_tokens=200,
                                seed=3), cancel):
        if isinstance(ev, Token):
            if cancel.cancelled:
                after_stop += 1
            seen += 1
            if seen == 3:
                cancel.cancel()
        elif isinstance(ev, Done):
            stats = ev.result
    assert after_stop == 0 and stats.stopped and stats.text.strip()
    served = server.wait_idle(before + 1, timeout=30)
    assert served.stopped and served.tokens < 200  # the server saw the client go
    engine.close()


def test_stop_while_the_server_is_still_thinking(registry, tmp_path_factory):
    from core.paths import AppHome

    home = AppHome(tmp_path_factory.mktemp("slow-home")).ensure()
    with ChatServer(Registry(home, scan_hf_cache=False), first_token_delay=60) as slow:
        registry.endpoints.add(slow.url, "slow")
        engine = connect(registry, "slow/smollm2")
        cancel = CancelToken()
        threading.Timer(0.5, cancel.cancel).start()
        started = time.monotonic()
        events = list(engine.stream(ask("Hello"), cancel))
        took = time.monotonic() - started
        assert took < 3, f"Stop took {took:.1f} s while the server had sent nothing yet"
        assert events[-1].result.stopped and not [e for e in events if isinstance(e, Token)]
        assert slow.wait_idle(1, timeout=10).stopped  # the hang-up reached the server
        engine.close()


def test_an_unreachable_endpoint_names_its_url(registry):
    url = f"http://127.0.0.1:{free_port()}/v1"
    registry.endpoints.add(url, "gone")
    with pytest.raises(EndpointUnreachable) as caught:
        connect(registry, "gone/some-model")
    assert url in caught.value.user_message() and "Cannot reach" in caught.value.user_message()
    [entry] = [e for e in registry.entries() if e.source.value == "endpoint"]
    assert entry.id == "endpoint:gone" and url in entry.note
    with pytest.raises(EndpointUnreachable):
        connect(registry, "endpoint:gone")


def test_a_server_that_never_answers_times_out_with_a_sentence(registry, monkeypatch):
    monkeypatch.setattr("core.models.endpoint_api.LIST_TIMEOUT_S", 0.5)
    with socket.socket() as mute:  # listens, never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen(1)
        url = f"http://127.0.0.1:{mute.getsockname()[1]}/v1"
        registry.endpoints.add(url, "mute")
        started = time.monotonic()
        with pytest.raises(EndpointUnreachable) as caught:
            connect(registry, "mute/any")
    assert time.monotonic() - started < 5
    assert "did not answer in time" in caught.value.user_message() and url in str(caught.value)


def test_a_wrong_or_missing_key_is_a_401_message(server, registry):
    registry.endpoints.add(server.url, "wrong", key="sk-wrong-key-123")
    with pytest.raises(EndpointRefused) as caught:
        connect(registry, "wrong/smollm2")
    text = caught.value.user_message()
    assert "401" in text and "refused the API key" in text and server.url in text
    assert "sk-wrong-key-123" not in text
    registry.endpoints.add(server.url, "nokey")
    with pytest.raises(EndpointRefused, match="needs an API key"):
        connect(registry, "nokey/smollm2")


def test_an_unknown_model_is_a_404_message_naming_what_it_serves(server, registry):
    registry.endpoints.add(server.url, "local", key=KEY)
    with pytest.raises(EndpointModelMissing) as caught:
        connect(registry, "local/gpt-9")
    assert "gpt-9" in caught.value.user_message() and "smollm2" in caught.value.user_message()


def test_the_key_never_reaches_the_endpoint_list_or_the_log(server, registry, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, the openai client's and httpx's included
    registry.endpoints.add(server.url, "local", key=KEY)
    registry.endpoints.add(server.url, "wrong", key=KEY + "x")
    engine = connect(registry, "local/smollm2")
    list(engine.stream(ask("Hi", max_new_tokens=3), CancelToken()))
    with pytest.raises(EndpointRefused):
        connect(registry, "wrong/smollm2")
    engine.close()
    assert caplog.records  # the clients did log: the check below looks at something
    assert KEY not in caplog.text
    assert KEY not in registry.endpoints.path.read_text(encoding="utf-8")


def test_settings_reach_the_server_and_a_strict_one_is_asked_again(registry, tmp_path_factory):
    from core.paths import AppHome

    home = AppHome(tmp_path_factory.mktemp("strict-home")).ensure()
    with ChatServer(Registry(home, scan_hf_cache=False), strict=True) as strict:
        registry.endpoints.add(strict.url, "strict")
        engine = connect(registry, "strict/smollm2")
        settings = dict(temperature=0.5, top_p=0.8, top_k=20, repetition_penalty=1.1, seed=7,
                        max_new_tokens=3)
        for _ in range(2):
            stats = list(engine.stream(ask("Hi", **settings), CancelToken()))[-1].result
            assert stats.tokens >= 1 and stats.text
        first, again, second = strict.bodies
        assert (first["top_k"], first["repetition_penalty"]) == (20, 1.1)  # refused with a 400
        for body in (again, second):  # OpenAI's own fields only, from then on
            assert "top_k" not in body and "repetition_penalty" not in body
            assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (
                0.5, 0.8, 7, 3)
        engine.close()


def test_an_error_in_the_stream_is_a_sentence_naming_the_endpoint(server, registry):
    from core.errors import ModelUnavailable

    registry.endpoints.add(server.url, "local", key=KEY)
    engine = connect(registry, "local/smollm2")
    with pytest.raises(ModelUnavailable) as caught:  # the server's engine refuses it mid-stream
        list(engine.stream(ask("Hi", max_new_tokens=30000), CancelToken()))
    text = caught.value.user_message()
    assert "failed while answering" in text and "too long" in text and server.url in text
    engine.close()


def test_beam_search_is_refused(server, registry):
    registry.endpoints.add(server.url, "local", key=KEY)
    engine = connect(registry, "local/smollm2")
    with pytest.raises(BadInput, match="Beam search"):
        list(engine.stream(ask("Hi", decoding="beam"), CancelToken()))
    engine.close()


# ---- the CLI -----------------------------------------------------------------------------------
def cli(*argv):
    from core.cli import run
    from main import build_parser

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run(build_parser().parse_args(list(argv)), out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_cli_adds_chats_with_and_removes_an_endpoint(server, home, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", KEY)
    code, out, err = cli("models", "add-endpoint", server.url, "--name", "local",
                         "--api-key-env", "TEST_ENDPOINT_KEY")
    assert code == 0, err
    assert "local/smollm2" in out and KEY not in out + err
    code, out, err = cli("chat", "--model", "local/smollm2", "--temperature", "0",
                         "--max-new-tokens", "5", "Say hello")
    assert code == 0, err
    assert out.strip() and "endpoint · local · smollm2" in err and "tok/s" in err
    code, out, err = cli("models", "remove-endpoint", "local")
    assert code == 0 and "Removed the endpoint 'local'" in out
    code, out, err = cli("models", "list")
    assert code == 0 and "local/smollm2" not in out
