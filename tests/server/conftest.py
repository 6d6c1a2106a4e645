"""Servers started on a free loopback port by fixtures, and clients for them: the real ``openai``
package, and plain HTTP (urllib) for what a library would not send (malformed JSON, no key)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import _session_home

SMOLLM2 = "smollm2-135m-instruct"
MINILM = "all-minilm-l6-v2"
SENTIMENT = "sentiment-minilm"
WHISPER = "whisper-tiny.en"
KEY = "test-key-123"


def start(**options):
    from core.models.registry import Registry
    from core.paths import AppHome
    from core.server import ServerConfig, ServerHandle

    registry = Registry(AppHome(Path(_session_home)), scan_hf_cache=False)
    config = ServerConfig(port=0, device="cpu", **options)
    return ServerHandle(config, registry).start()


@pytest.fixture(scope="session")
def server():
    """The server most tests share: no key, default limits, models load on first use."""
    handle = start()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def guarded():
    """A server with an API key and small size limits (no model is loaded on it)."""
    handle = start(api_key=KEY, max_upload_bytes=64 * 1024, max_body_bytes=16 * 1024)
    yield handle
    handle.stop()


@pytest.fixture()
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=300)


def http(url: str, method: str = "GET", body: bytes | None = None,
         headers: dict | None = None, timeout: float = 60) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) of one plain request; error statuses do not raise."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, _lower(resp.headers), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, _lower(exc.headers), json.loads(exc.read() or b"null")


def assert_openai_error(body: dict) -> dict:
    """The body is OpenAI's error object: {"error": {message, type, param, code}}."""
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    return error


def _lower(headers) -> dict:
    return {k.lower(): v for k, v in headers.items()}
