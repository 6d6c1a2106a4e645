import pytest
from PySide6.QtCore import QThread


@pytest.fixture()
def window(qtbot, home):
    """The real main window over an empty app home. After the test: closed, no thread left.

    Not handed to qtbot.addWidget: pytest-qt would close it and then deleteLater() it even while
    the close is put off for running jobs, destroying the runner under them. The fixture closes
    it, waits for the jobs to end (as quitting the app does), and only then deletes it."""
    from gui.window import MainWindow

    win = MainWindow(home)
    win.show()
    qtbot.waitUntil(lambda: win._painted, timeout=5000)
    yield win
    if not win._closed:
        win.close()
    try:
        qtbot.waitUntil(lambda: win._closed, timeout=30_000)
    except Exception:
        import sys
        import threading
        import traceback

        print("window still open; jobs:", [(j.name, j.is_running(), j.cancel_token.cancelled)
                                           for j in win.runner.active_jobs()], file=sys.stderr)
        frames = sys._current_frames()
        for t in threading.enumerate():
            print(f"--- thread {t.name}", file=sys.stderr)
            traceback.print_stack(frames.get(t.ident), file=sys.stderr)
        raise
    assert not [j.name for j in win.runner.active_jobs() if j.is_running()]
    win.deleteLater()
    qtbot.wait(10)


@pytest.fixture()
def runner(qtbot):
    from gui.jobs import JobRunner

    r = JobRunner()
    yield r
    assert r.shutdown(10_000), "a job thread was left running"
    qtbot.waitUntil(lambda: not r.active_jobs(), timeout=5000)
    assert not [t for t in r.findChildren(QThread) if t.isRunning()]
