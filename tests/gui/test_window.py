"""The real main window, offscreen."""
import json
import subprocess
import sys

from core.errors import BadInput
from core.events import Progress
from tests.conftest import ROOT


def test_window_has_the_five_pages(window):
    from gui.window import PAGES

    assert PAGES == ("chat", "classify", "transcribe", "finetune", "models")
    assert [window.nav.item(i).text() for i in range(window.nav.count())] == [
        "Chat", "Classify", "Transcribe", "Fine-tune", "Models"]
    for key in PAGES:
        window.show_page(key)
        assert window.current_page() == key
        assert window.stack.currentWidget() is window.page(key)


def test_status_bar_shows_the_device(qtbot, window):
    window.probe_device()
    qtbot.waitUntil(lambda: window.device is not None, timeout=30_000)
    assert window.device_label.text() == window.device.label
    assert window.device_label.toolTip() == window.device.reason


def test_status_bar_shows_running_jobs(qtbot, window):
    def job(cancel):
        while not cancel.wait(0.02):
            yield Progress("busy", 0, None)

    j = window.runner.start("Converting something", job)
    qtbot.waitUntil(lambda: "Converting something" in window.job_label.text(), timeout=2000)
    assert window.cancel_jobs_button.isVisible()
    with qtbot.waitSignal(j.cancelled, timeout=5000):
        window.cancel_jobs_button.click()
    qtbot.waitUntil(lambda: window.job_label.text() == "Ready", timeout=5000)


def test_failure_shows_a_notification_with_details(qtbot, window):
    def job(cancel):
        yield Progress("reading", 0, 1)
        raise BadInput("The file is empty.", hint="Pick a file with text in it.")

    j = window.runner.start("failing", job)
    j.failed.connect(window.notify.show_error)
    with qtbot.waitSignal(j.finished, timeout=5000):
        pass
    assert window.notify.isVisible() and window.notify.kind == "error"
    assert window.notify.text.text() == "The file is empty. Pick a file with text in it."
    dialog = window.notify.open_details()
    assert not dialog.isModal() and dialog.isVisible()
    from PySide6.QtWidgets import QPlainTextEdit

    details = dialog.findChild(QPlainTextEdit).toPlainText()
    assert "Traceback" in details and "BadInput" in details
    dialog.close()
    # the traceback also went to the log file in the app data folder
    log = window.ctx.home.logs / "workbench.log"
    assert "job 'failing' failed" in log.read_text() and "BadInput" in log.read_text()
    window.notify.close_button.click()
    assert not window.notify.isVisible()


def test_quit_with_a_running_job_cancels_it_then_closes(qtbot, home):
    from gui.window import MainWindow

    win = MainWindow(home)
    qtbot.addWidget(win)
    win.show()

    def job(cancel):
        while not cancel.wait(0.02):
            yield Progress("busy", 0, None)

    j = win.runner.start("long job", job)
    assert j.is_running()
    with qtbot.waitSignal(win.closed, timeout=5000):
        win.close()
    assert j.cancel_token.cancelled and not j.is_running() and not win.isVisible()


def test_quit_waits_for_a_job_that_ignores_cancel_and_never_destroys_its_thread(qtbot, home):
    """Defect 8: a job that outlives the shutdown wait must not be destroyed while running."""
    import threading

    from PySide6.QtCore import QThread

    from gui.window import MainWindow

    started, release, stopped = threading.Event(), threading.Event(), threading.Event()

    def stubborn(cancel):
        started.set()
        while not release.wait(0.01):  # native work that does not look at the token
            pass
        stopped.set()
        yield Progress("busy", 0, None)

    win = MainWindow(home)
    qtbot.addWidget(win)
    win.show()
    j = win.runner.start("stubborn job", stubborn)
    thread = j._thread
    assert isinstance(thread, QThread) and started.wait(5)
    closed = []
    win.closed.connect(lambda: closed.append(True))
    win.close()  # returns at once: the close is put off, the window stays usable
    assert win.isVisible() and not closed and thread.isRunning()
    assert j.cancel_token.cancelled
    assert "Finishing… (1 job)" in win.notify.text.text()
    assert win.job_label.text() == "Finishing… (1 job)"
    qtbot.wait(200)  # the event loop runs (the window is responsive), the job still runs
    assert win.isVisible() and not closed and thread.isRunning()
    win.close()  # asked again: out of sight, but still not closed under a running thread
    assert not win.isVisible() and not closed and thread.isRunning()
    with qtbot.waitSignal(win.closed, timeout=5000):
        release.set()
    assert stopped.is_set() and not thread.isRunning() and not win.runner.active_jobs()
    win.deleteLater()  # and nothing is left for Qt to destroy while running
    qtbot.wait(50)


def test_geometry_and_page_persist(qtbot, home):
    from gui.window import MainWindow

    first = MainWindow(home)
    qtbot.addWidget(first)
    first.resize(780, 540)
    first.show()
    first.show_page("transcribe")
    first.close()
    second = MainWindow(home)
    qtbot.addWidget(second)
    assert second.current_page() == "transcribe"
    assert (second.width(), second.height()) == (780, 540)
    second.close()


def test_window_paints_before_torch_is_imported(tmp_path):
    code = (
        "import json, sys\n"
        "from gui.app import make_app\n"
        "from gui.window import MainWindow\n"
        "app = make_app()\n"
        "w = MainWindow()\n"
        "seen = {}\n"
        "def painted():\n"
        "    seen['heavy'] = [m for m in ('torch', 'transformers', 'huggingface_hub') "
        "if m in sys.modules]\n"
        "    app.quit()\n"
        "w.first_painted.connect(painted)\n"
        "w.show()\n"
        "app.exec()\n"
        "print(json.dumps(seen))\n"
    )
    env = {**__import__("os").environ, "LLM_WORKBENCH_HOME": str(tmp_path / "home"),
           "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"heavy": []}


def test_screenshot_option_writes_a_png(tmp_path):
    shot = tmp_path / "shot.png"
    env = {**__import__("os").environ, "LLM_WORKBENCH_HOME": str(tmp_path / "home"),
           "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "main.py", "--screenshot", str(shot), "--page", "chat"],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PySide6.QtGui import QImage

    img = QImage(str(shot))
    assert img.width() >= 800 and img.height() >= 500
    assert "QThread: Destroyed" not in out.stderr
