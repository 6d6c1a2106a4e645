"""The status bar's Local server switch: on serves the API (URL, requests, last error shown), off
frees the port; the window does not wait on either."""
from __future__ import annotations

import json
import urllib.error
import urllib.request


def free_port() -> int:
    from core.server import ServerConfig, bind

    sock = bind(ServerConfig(port=0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_switch_serves_counts_shows_the_last_error_and_frees_the_port(qtbot, window):
    from core.server import ServerConfig, bind

    port = free_port()
    window.settings.set("server/port", port)
    switch = window.server_switch
    with qtbot.waitSignal(switch.running, timeout=30_000) as started:
        switch.toggle.setChecked(True)
        assert switch.url.text() == "starting…"  # the start runs as a job: no waiting here
    assert started.args == [True]
    url = f"http://127.0.0.1:{port}/v1"
    assert switch.url.text() == url and switch.url.isVisible()

    with urllib.request.urlopen(f"{url}/models", timeout=30) as resp:
        assert json.loads(resp.read())["object"] == "list"
    try:
        urllib.request.urlopen(urllib.request.Request(
            f"{url}/embeddings", data=b'{"model": "nope", "input": "x"}', method="POST",
            headers={"Content-Type": "application/json"}), timeout=30)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    qtbot.waitUntil(lambda: switch.figures.text() == "2 requests served", timeout=5000)
    assert "404" in switch.error.text() and switch.error.isVisible()

    with qtbot.waitSignal(switch.running, timeout=30_000) as stopped:
        switch.toggle.setChecked(False)
    assert stopped.args == [False]
    assert switch.handle is None and not switch.url.isVisible()
    bind(ServerConfig(port=port)).close()  # the port is free again


def test_a_port_in_use_turns_the_switch_back_off_with_the_reason(qtbot, window):
    from core.server import ServerConfig, bind

    taken = bind(ServerConfig(port=0))
    try:
        window.settings.set("server/port", taken.getsockname()[1])
        switch = window.server_switch
        with qtbot.waitSignal(switch.running, timeout=30_000) as signal:
            switch.toggle.setChecked(True)
        assert signal.args == [False]
        assert not switch.toggle.isChecked()
        assert "already in use" in switch.error.toolTip()
    finally:
        taken.close()


def test_closing_the_window_stops_a_running_server(qtbot, home):
    from core.server import ServerConfig, bind
    from gui.window import MainWindow

    port = free_port()
    win = MainWindow(home)
    win.settings.set("server/port", port)
    win.show()
    with qtbot.waitSignal(win.server_switch.running, timeout=30_000):
        win.server_switch.toggle.setChecked(True)
    win.close()
    qtbot.waitUntil(lambda: win._closed, timeout=30_000)
    assert win.server_switch.handle is None
    bind(ServerConfig(port=port)).close()
    win.deleteLater()
