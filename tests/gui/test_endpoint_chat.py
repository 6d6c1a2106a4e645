"""The Add-endpoint dialog and Chat on an endpoint model, in the real window, against our own
OpenAI-compatible server (core.server, with an API key; SmolLM2 on our llama.cpp engine)."""
from __future__ import annotations

import socket

import pytest

KEY = "sk-gui-test-4d2e8a"
MODEL = "smollm2-135m-instruct"


@pytest.fixture(autouse=True)
def no_platform_keyring(monkeypatch):
    """Keys go to the 0600 file, never to the user's real keyring."""
    monkeypatch.setattr("core.models.endpoint_keys.usable_keyring", lambda: None)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from core.models import Registry
    from core.paths import AppHome
    from core.server import ServerConfig, ServerHandle

    home = AppHome(tmp_path_factory.mktemp("server-home")).ensure()
    handle = ServerHandle(ServerConfig(port=0, device="cpu", api_key=KEY),
                          Registry(home, scan_hf_cache=False)).start()
    yield handle
    handle.stop()


def _dialog(qtbot, window):
    from gui.widgets.endpoint_dialog import EndpointDialog

    panel = window.page("models")
    panel.add_endpoint_button.click()
    dialog = panel.findChild(EndpointDialog)
    assert dialog is not None and dialog.isVisible()
    return panel, dialog


def test_the_dialog_tests_then_adds_an_endpoint(qtbot, window, server):
    panel, dialog = _dialog(qtbot, window)
    dialog.url.setText(server.url)
    dialog.key.setText(KEY)
    dialog.name.setText("local")
    with qtbot.waitSignal(dialog.tested, timeout=30_000) as tested:
        dialog.test_button.click()
    assert tested.args[0] == [MODEL]  # the server's chat models only
    assert MODEL in dialog.result.text()
    with qtbot.waitSignal(dialog.added, timeout=30_000):
        dialog.add_button.click()
    qtbot.waitUntil(lambda: any(e.id == f"local/{MODEL}" for e in panel.entries), timeout=30_000)
    listed = window.ctx.registry.endpoints.path.read_text(encoding="utf-8")
    assert "local" in listed and KEY not in listed


def test_the_dialog_says_why_an_endpoint_cannot_be_listed(qtbot, window, server):
    _panel, dialog = _dialog(qtbot, window)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog.url.setText(f"127.0.0.1:{port}")
    assert dialog.name.placeholderText() == f"127.0.0.1-{port}"
    with qtbot.waitSignal(dialog.tested, timeout=30_000):
        dialog.test_button.click()
    assert "Cannot reach" in dialog.result.text()
    assert f"http://127.0.0.1:{port}/v1" in dialog.result.text()
    dialog.url.setText(server.url)  # the right server, without its key
    with qtbot.waitSignal(dialog.tested, timeout=30_000):
        dialog.test_button.click()
    assert "401" in dialog.result.text() and "needs an API key" in dialog.result.text()
    dialog.reject()


def _endpoint_chat(qtbot, window, server):
    window.ctx.registry.endpoints.add(server.url, "local", key=KEY)
    with qtbot.waitSignal(window.ctx.models.refresh().finished, timeout=30_000):
        pass
    chat = window.page("chat")
    chat.model_box.select(f"local/{MODEL}")
    assert chat.model_box.current_id() == f"local/{MODEL}"
    return chat


def test_chat_streams_from_an_endpoint_model_with_figures(qtbot, window, server):
    chat = _endpoint_chat(qtbot, window, server)
    chat.settings_box.max_new.setValue(12)
    with qtbot.waitSignal(chat.reply_finished, timeout=120_000) as done:
        chat.composer.setPlainText("What is the capital of France?")
        chat.send_button.click()
    stats = done.args[0]
    assert stats is not None and stats.text.strip() and not stats.stopped
    reply = chat.views[-1]
    assert reply.role == "assistant" and reply.body.toPlainText() == stats.text
    assert "tok/s" in reply.figures.text()
    assert f"endpoint · local · {MODEL}" in chat.model_status.text()
    chat.shutdown()


def test_stop_ends_an_endpoint_reply_and_keeps_what_came(qtbot, window, server):
    chat = _endpoint_chat(qtbot, window, server)
    chat.settings_box.max_new.setValue(200)
    with qtbot.waitSignal(chat.reply_finished, timeout=120_000) as done:
        chat.composer.setPlainText("Tell me a long story about a dragon.")
        chat.send_button.click()
        qtbot.waitUntil(lambda: len(chat.views) == 2 and bool(chat.views[-1].text.strip()),
                        timeout=90_000)
        chat.stop_button.click()
    stats = done.args[0]
    assert stats.stopped and 0 < stats.tokens < 200
    assert chat.views[-1].body.toPlainText() == stats.text
    chat.shutdown()
