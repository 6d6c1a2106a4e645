"""What keeps the event loop free while jobs run, checked without timing: jobs' threads (and the
native pools they start) run below the window's priority, heavy modules are never imported on the
GUI thread at start-up or when a page opens, and the idle warm-up imports off the GUI thread only
when nobody uses the window and no job runs. Plus the stall probe's attribution."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="thread nice values are per thread on Linux only")


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux_only
def test_job_threads_and_their_threads_run_at_the_window_s_priority(runner, qtbot):
    """Not lower: a job thread at nice 10 holding the interpreter is put off by every busy
    program at nice 0, and the window waits for it (bench/stalls.py beside two busy processes:
    a Whisper load froze the window 916 ms with jobs at nice 10, 49-71 ms without)."""
    seen = {}

    def work(cancel):
        seen["job"] = _nice()
        t = threading.Thread(target=lambda: seen.__setitem__("child", _nice()))
        t.start()
        t.join()
        return 1

    job = runner.query("nice", work, lambda _v: None)
    qtbot.waitUntil(lambda: not job.is_running(), timeout=10_000)
    assert seen == {"job": _nice(), "child": _nice()}


def test_no_heavy_import_on_the_gui_thread_at_start_up_or_opening_pages(tmp_path):
    code = r'''
import sys, threading, time
HEAVY = {"torch", "transformers", "ctranslate2", "faster_whisper", "whisper", "llama_cpp", "peft",
         "tokenizers", "av", "safetensors", "accelerate", "datasets", "keyring", "huggingface_hub",
         "scipy", "sklearn", "sounddevice", "soundfile"}
seen = []
def hook(ev, args):
    if ev == "import" and args[0] in HEAVY and args[0] not in sys.modules:
        seen.append((args[0], threading.current_thread() is threading.main_thread()))
sys.addaudithook(hook)
from pathlib import Path
from PySide6.QtWidgets import QApplication
from core.paths import AppHome
app = QApplication([])
from gui.window import MainWindow, PAGES
win = MainWindow(AppHome(Path(sys.argv[1])))
win.show()
win.start_background()
t0 = time.monotonic()
while not win.is_ready() and time.monotonic() - t0 < 90:
    app.processEvents(); time.sleep(0.01)
for p in PAGES:
    win.show_page(p); app.processEvents()
t0 = time.monotonic()
while time.monotonic() - t0 < 2:
    app.processEvents(); time.sleep(0.01)
print("ON-GUI", sorted({m for m, gui in seen if gui}))
win.close()
t0 = time.monotonic()
while not win._closed and time.monotonic() - t0 < 30:
    app.processEvents(); time.sleep(0.01)
'''
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "home")], cwd=ROOT,
                         capture_output=True, text=True, timeout=240,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    line = [x for x in out.stdout.splitlines() if x.startswith("ON-GUI")]
    assert line, out.stdout + out.stderr
    assert line[0] == "ON-GUI []"


@pytest.fixture()
def light_module(tmp_path, monkeypatch):
    """A module that records which thread imported it."""
    (tmp_path / "idle_probe_mod.py").write_text(
        "import threading\nTHREAD = threading.current_thread()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "idle_probe_mod", raising=False)
    from gui import warmup

    monkeypatch.setitem(warmup.JOB_MODULES, "testpage", ("idle_probe_mod",))
    yield "idle_probe_mod"
    sys.modules.pop("idle_probe_mod", None)


def test_idle_imports_wait_for_jobs_and_import_off_the_gui_thread(runner, qtbot, light_module):
    from gui.warmup import IdleImports

    gate = threading.Event()
    job = runner.query("busy", lambda c: gate.wait(30), lambda _v: None)
    imports = IdleImports(runner, idle_s=0)
    imports.want("testpage")
    qtbot.wait(600)  # two checks of the timer went by
    assert light_module not in sys.modules and imports.pending() == [light_module]
    gate.set()
    qtbot.waitUntil(lambda: not job.is_running(), timeout=10_000)
    with qtbot.waitSignal(imports.imported, timeout=10_000):
        pass
    imports.join()
    mod = sys.modules[light_module]
    assert mod.THREAD is not threading.main_thread()
    assert imports.pending() == []
    import gc

    assert gc.get_freeze_count() > 0  # what was imported is out of the collector's full sweeps


def test_a_job_waits_for_an_idle_import_in_progress(runner, qtbot, tmp_path, monkeypatch):
    """A job started while an idle import runs does its work only once that import is in: two
    threads importing one library at once can break it (transformers' lazy modules)."""
    from gui import warmup
    from gui.warmup import IdleImports

    (tmp_path / "slow_idle_mod.py").write_text(
        "import time\ntime.sleep(0.8)\nDONE_AT = time.monotonic()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(warmup.JOB_MODULES, "slowpage", ("slow_idle_mod",))
    imports = IdleImports(runner, idle_s=0)
    runner.before_work = imports.join  # as the window does
    imports.want("slowpage")
    qtbot.waitUntil(imports.busy, timeout=5000)  # the import has started, nobody using the window
    started = []
    job = runner.query("a job", lambda c: started.append(time.monotonic()), lambda _v: None)
    qtbot.waitUntil(lambda: not job.is_running(), timeout=10_000)
    assert started and started[0] >= sys.modules["slow_idle_mod"].DONE_AT
    imports.stop()
    sys.modules.pop("slow_idle_mod", None)


def test_idle_imports_wait_for_the_user_to_stop(runner, qtbot, light_module):
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication, QWidget

    from gui.warmup import IdleImports

    imports = IdleImports(runner, idle_s=3600)
    widget = QWidget()
    qtbot.addWidget(widget)
    imports._last_input = time.monotonic() - 7200  # idle for two hours...
    imports.want("testpage")
    hover = QMouseEvent(QEvent.MouseMove, QPointF(1, 1), QPointF(1, 1), Qt.NoButton, Qt.NoButton,
                        Qt.NoModifier)
    QApplication.sendEvent(widget, hover)  # the pointer passing over the window is not use
    assert time.monotonic() - imports._last_input > 7000
    drag = QMouseEvent(QEvent.MouseMove, QPointF(2, 2), QPointF(2, 2), Qt.NoButton,
                       Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, drag)  # ...until the user dragged something, as a page opened
    qtbot.wait(600)
    assert light_module not in sys.modules and imports.pending() == [light_module]
    imports.stop()
    assert not imports._watching  # no filter on every event once nothing is pending


def test_stall_probe_names_what_held_the_gui_thread(qtbot):
    from gui.stall_probe import StallProbe

    probe = StallProbe(threshold_ms=50)
    probe.start()
    probe.phase("spin")

    def spin_on_the_gui_thread():
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            pass

    qtbot.wait(50)
    spin_on_the_gui_thread()
    qtbot.wait(50)
    probe.stop()
    worst = probe.worst("spin")
    assert worst is not None and worst.late_ms >= 200
    assert "spin_on_the_gui_thread" in worst.gui
    longest, p99, ticks = probe.summary("spin")
    assert longest == worst.late_ms and ticks >= 2
