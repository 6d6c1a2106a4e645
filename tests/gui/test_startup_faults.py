"""Start-up never stops half-way: a damaged chat history, a read-only data folder, a page that
cannot open, an exception nobody caught. Each leaves a window that works and says what was wrong."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from PySide6.QtCore import QTimer

from tests.conftest import ROOT


@pytest.fixture()
def open_window(qtbot):
    """A factory for the real window that runs start-up as the app does (after the first paint);
    afterwards the window is closed and every job has ended, as in conftest's ``window``."""
    made = []

    def make(home):
        from gui.window import MainWindow

        win = MainWindow(home)
        win.first_painted.connect(lambda: QTimer.singleShot(0, win.start_background))
        win.show()
        qtbot.waitUntil(lambda: win._painted, timeout=5000)
        made.append(win)
        return win

    yield make
    for win in made:
        if not win._closed:
            win.close()
        qtbot.waitUntil(lambda w=win: w._closed, timeout=30_000)
        win.deleteLater()
    qtbot.wait(10)


def _settle(qtbot, win) -> None:
    qtbot.waitUntil(win.is_ready, timeout=90_000)


def test_damaged_chat_history_app_starts_fully_and_chat_works(qtbot, home, open_window):
    """Row 4: start-up went on past the chat page (model list, device), the strip names the
    file, the broken file is kept aside, and the Chat page works with a fresh history."""
    from gui.settings import Settings

    garbage = os.urandom(4096)
    (home.root / "chats.sqlite3").write_bytes(garbage)
    Settings(home).set("window/page", "chat")
    win = open_window(home)
    _settle(qtbot, win)
    assert win.ctx.models.entries, "the model list was never filled"
    assert "detecting" not in win.device_label.text()
    assert win.notify.isVisible()
    shown = win.notify.text.text()
    assert "chats.sqlite3" in shown and "damaged" in shown
    aside = [p for p in home.root.iterdir()
             if p.name.startswith("chats.sqlite3.") and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].read_bytes() == garbage  # nothing lost
    assert aside[0].name in shown  # the strip says where it went
    from gui.panels.chat import ChatPanel

    chat = win.page("chat")
    assert isinstance(chat, ChatPanel) and win.stack.currentWidget() is chat
    conv = chat.store.create("After the damage")
    assert [c.id for c in chat.store.conversations()] == [conv.id]


def test_a_page_that_cannot_open_says_so_and_the_rest_starts(qtbot, home, open_window,
                                                              monkeypatch):
    """A page whose construction keeps failing: its place says why and offers Try again; the
    model list and the device still arrive; Try again builds it once the cause is gone."""
    import gui.panels.chat as chat_pkg
    from gui.notify import FailedPage
    from gui.settings import Settings

    real = chat_pkg.ChatPanel

    class Broken:
        def __init__(self, *a, **kw):
            raise OSError(5, "Input/output error", str(home.root / "chats.sqlite3"))

    monkeypatch.setattr(chat_pkg, "ChatPanel", Broken)
    Settings(home).set("window/page", "chat")
    win = open_window(home)
    _settle(qtbot, win)
    page = win.page("chat")
    assert isinstance(page, FailedPage) and win.stack.currentWidget() is page
    assert "could not open" in page.message.text() and "Input/output error" in page.message.text()
    assert win.ctx.models.entries and win.device is not None
    monkeypatch.setattr(chat_pkg, "ChatPanel", real)
    page.retry_button.click()
    assert isinstance(win.page("chat"), real) and win.stack.currentWidget() is win.page("chat")


@pytest.fixture()
def read_only_dir(tmp_path):
    """A data folder that was used (its subfolders exist) and is now read-only: a tmpfs remounted
    read-only when root (chmod binds no root), chmod 555 on every folder otherwise. Skipped where
    neither can be had."""
    from core.paths import AppHome

    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            pytest.skip(f"root, and a read-only tmpfs cannot be mounted here: {out.stderr.strip()}")
        try:
            AppHome(folder).ensure()
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
            yield folder
        finally:
            subprocess.run(["umount", str(folder)], check=False)
    else:
        dirs = [folder, *(p for p in AppHome(folder).ensure().root.rglob("*") if p.is_dir())]
        for d in dirs:
            d.chmod(0o555)
        try:
            yield folder
        finally:
            for d in dirs:
                d.chmod(0o755)


def test_read_only_data_folder_opens_the_window_and_names_the_folder(qtbot, read_only_dir,
                                                                      open_window):
    """Row 6: no PermissionError, a window; the strip names the folder; the log goes elsewhere."""
    from core.paths import AppHome

    home = AppHome(read_only_dir)
    win = open_window(home)
    assert win.isVisible()
    assert win.notify.isVisible()
    assert str(read_only_dir) in win.notify.text.text()
    assert "read-only" in win.notify.text.text()
    assert win.log_path is None or read_only_dir not in win.log_path.parents
    _settle(qtbot, win)
    assert win.ctx.models.entries  # the bundled models still list
    # the Chat page cannot keep a history there: it says so, and the folder stays the headline
    from gui.notify import FailedPage

    chat = win.page("chat")
    assert isinstance(chat, FailedPage) and str(read_only_dir) in chat.message.text()
    win.start_background()
    assert str(read_only_dir) in win.notify.text.text()


def test_read_only_data_folder_app_process_starts(read_only_dir, tmp_path):
    """Row 6 end to end: the app process (as a launcher starts it) paints, no traceback."""
    shot = tmp_path / "ro.png"
    env = {**os.environ, "LLM_WORKBENCH_HOME": str(read_only_dir), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "main.py", "--screenshot", str(shot)], cwd=ROOT,
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "PermissionError" not in out.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.qt_no_exception_capture
def test_uncaught_exceptions_reach_the_strip_and_the_log(qtbot, window):
    """An exception in a slot and one in a Python thread: both in the strip and in the log."""
    from gui.excepthook import install_excepthooks

    uninstall = install_excepthooks(window.notify.show_error)
    try:
        def slot():
            raise ValueError("a slot went wrong")

        QTimer.singleShot(0, slot)
        qtbot.waitUntil(lambda: "a slot went wrong" in window.notify.text.text(), timeout=5000)
        t = threading.Thread(target=lambda: 1 / 0, name="worker-x")
        t.start()
        t.join()
        qtbot.waitUntil(lambda: "ZeroDivisionError" in window.notify.text.text(), timeout=5000)
    finally:
        uninstall()
    log = (window.ctx.home.logs / "workbench.log").read_text()
    assert "a slot went wrong" in log and "in thread worker-x" in log and "ZeroDivisionError" in log


def test_strip_keeps_an_earlier_message_behind_a_later_one(qtbot, window):
    """Two start-up problems: the second does not wipe the first; Dismiss shows it again."""
    from core.errors import BadInput

    window.notify.show_info("The data folder /x is read-only.", timeout_ms=0)
    window.notify.show_error(BadInput("The chat history is damaged."))
    assert window.notify.text.text() == "The chat history is damaged."
    assert "1 more" in window.notify.close_button.text()
    window.notify.dismiss()
    assert window.notify.isVisible() and window.notify.text.text() == "The data folder /x is read-only."
    window.notify.dismiss()
    assert not window.notify.isVisible()


def test_start_up_knows_the_device_without_loading_torch_in_the_window(tmp_path):
    """The device is checked in a child process: the window's interpreter never imports torch
    for it (importing torch there held the event loop for a second or more)."""
    code = (
        "import json, sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from gui.app import make_app\n"
        "from gui.window import MainWindow\n"
        "app = make_app()\n"
        "w = MainWindow()\n"
        "w.first_painted.connect(lambda: QTimer.singleShot(0, w.start_background))\n"
        "def check():\n"
        "    if w.is_ready() and not w.device_probe.running():\n"
        "        print(json.dumps({'device': w.device.kind if w.device else None,\n"
        "                          'torch': 'torch' in sys.modules}))\n"
        "        w.close()\n"
        "    else:\n"
        "        QTimer.singleShot(50, check)\n"
        "w.closed.connect(app.quit)\n"
        "w.show()\n"
        "QTimer.singleShot(50, check)\n"
        "app.exec()\n"
        "w.runner.shutdown()\n"
    )
    env = {**os.environ, "LLM_WORKBENCH_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    assert seen["device"] in ("cpu", "cuda") and seen["torch"] is False


def test_damaged_chat_history_app_process_end_to_end(tmp_path):
    """Row 4 through the app's own start-up (main.py): it reaches ready (models and device),
    the broken file is kept aside, the log names it, and nothing lands on the terminal."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "chats.sqlite3").write_bytes(b"this is not a database" * 100)
    env = {**os.environ, "LLM_WORKBENCH_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    shot = tmp_path / "chat.png"
    out = subprocess.run([sys.executable, "main.py", "--screenshot", str(shot), "--page", "chat",
                          "--wait-idle", "--startup-trace"], cwd=ROOT, capture_output=True,
                         text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "ready-epoch" in out.stderr and "Traceback" not in out.stderr
    aside = [p for p in home.glob("chats.sqlite3.*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].read_bytes() == b"this is not a database" * 100
    log = (home / "logs" / "workbench.log").read_text()
    assert "chats.sqlite3" in log and "damaged" in log
