"""The app as a desktop citizen: icon, Help menu, About, entry points, the .desktop file, one
window per data folder, and a clean close on Ctrl-C."""
from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT


# ---- the app process ------------------------------------------------------------------------
class AppProcess:
    """main.py with --startup-trace; stderr lines are collected as they come."""

    def __init__(self, home, *args: str) -> None:
        env = {**os.environ, "LLM_WORKBENCH_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
        self.proc = subprocess.Popen([sys.executable, "main.py", "--startup-trace", *args],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, prefix: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no '{prefix}' line; stderr so far:\n{''.join(self.seen)}")

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the app did not exit; stderr:\n{''.join(self.seen)}") from None
        time.sleep(0.2)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return rc, "".join(self.seen)


def test_sigint_closes_the_app_cleanly(tmp_path):
    """Row 14 (app): Ctrl-C closes the window the normal way: exit 130, no traceback."""
    app = AppProcess(tmp_path / "home")
    app.wait_for("first-paint-epoch")
    app.proc.send_signal(signal.SIGINT)
    rc, err = app.finish()
    assert rc == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_a_second_start_on_the_same_folder_brings_the_first_to_the_front(tmp_path):
    home = tmp_path / "home"
    first = AppProcess(home)
    try:
        first.wait_for("first-paint-epoch")
        env = {**os.environ, "LLM_WORKBENCH_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
        second = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert "already open" in second.stderr and str(home) in second.stderr
        first.wait_for("activated-epoch", timeout=20)
        assert first.proc.poll() is None  # the first one still runs
        # another folder is another window
        other = AppProcess(tmp_path / "other-home")
        other.wait_for("first-paint-epoch")
        other.proc.send_signal(signal.SIGINT)
        assert other.finish()[0] == 130
    finally:
        first.proc.send_signal(signal.SIGINT)
        first.finish()


def test_single_instance_hands_the_request_to_the_window(qtbot, window):
    from gui.instance import SingleInstance

    folder = window.ctx.home.root
    first, second = SingleInstance(folder), SingleInstance(folder)
    try:
        assert first.claim() and first.serve()
        assert not second.claim()
        first.activate_requested.connect(window.bring_to_front)
        window.showMinimized()
        qtbot.waitUntil(window.isMinimized, timeout=2000)
        with qtbot.waitSignal(first.activate_requested, timeout=5000):
            assert second.notify_primary()
        assert not window.isMinimized() and window.isVisible()
    finally:
        first.release()
        second.release()
    third = SingleInstance(folder)
    assert third.claim()  # released: the next start is first again
    third.release()


# ---- icon, Help menu, About ------------------------------------------------------------------
def test_icon_svg_and_png_sizes_are_set_on_the_app(qapp):
    from PySide6.QtGui import QImage

    from gui.app import make_app
    from gui.icon import SIZES, SVG, png_path

    assert SVG.read_text().lstrip().startswith("<svg")
    for size in SIZES:
        img = QImage(str(png_path(size)))
        assert (img.width(), img.height()) == (size, size)
        assert img.hasAlphaChannel()
    app = make_app()
    sizes = {(s.width(), s.height()) for s in app.windowIcon().availableSizes()}
    assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= sizes


def test_about_shows_version_device_and_bundled_models_with_licences(qtbot, window):
    from core.models import PACKS
    from core.runtime import app_version
    from gui.about import bundled_models

    window.probe_device()
    qtbot.waitUntil(lambda: window.device is not None, timeout=60_000)
    window.about_action.trigger()
    dialog = window.about_dialog
    assert dialog.isVisible() and not dialog.isModal()
    text = dialog.text.text()
    assert app_version() in text and window.device.label in text
    from core.models.catalog import SPLIT_PACKS

    for pack in PACKS + SPLIT_PACKS:  # Whisper base, joined from two packs, too
        assert pack.name in text and pack.licence in text
    rows = bundled_models()
    assert len(rows) > len(PACKS)  # the models in resources/ are listed too
    sentiment = next(r for r in rows if "Sentiment" in r[0])
    minilm = next(p for p in PACKS if p.id == "all-minilm-l6-v2")
    assert minilm.licence in sentiment[2]  # an adapter carries its base pack's licence
    dialog.close()


def test_help_opens_the_data_folder_and_the_log(qtbot, window, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    window.open_data_action.trigger()
    window.open_log_action.trigger()
    assert [u.toLocalFile() for u in opened] == [str(window.ctx.home.root), str(window.log_path)]
    assert window.log_path == window.ctx.home.logs / "workbench.log"
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)
    window.open_log_action.trigger()
    assert window.notify.isVisible() and str(window.log_path) in window.notify.text.text()


# ---- entry points and the .desktop file --------------------------------------------------------
def test_project_script_and_python_m_gui_run_the_entry_point():
    import importlib
    import re

    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    module, _, attr = re.search(r'^llm-workbench\s*=\s*"([^"]+)"', section, re.M).group(1).partition(":")
    main = getattr(importlib.import_module(module), attr)
    import main as main_py

    assert main is main_py.main  # one entry point for all three ways
    out = subprocess.run([sys.executable, "-m", "gui", "--version"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("LLM Workbench "), out.stderr
    out = subprocess.run([sys.executable, "-m", "gui", "models", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "models" in out.stdout, out.stderr


def test_make_install_desktop_writes_a_desktop_file_and_the_icons(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = os.path.dirname(os.path.dirname(sys.executable))
    data = tmp_path / "share"
    out = subprocess.run(["make", "-s", "install-desktop", f"VENV={venv}", f"XDG_DATA_HOME={data}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    entry = (data / "applications" / "llm-workbench.desktop").read_text()
    lines = entry.splitlines()
    assert lines[0] == "[Desktop Entry]"
    fields = dict(line.split("=", 1) for line in lines[1:])
    assert fields["Type"] == "Application" and fields["Name"] == "LLM Workbench"
    exe, script = (part.strip('"') for part in fields["Exec"].split('" "'))
    assert os.access(exe, os.X_OK) and os.path.samefile(script, ROOT / "main.py")
    assert fields["Icon"] == "llm-workbench"
    for size in (16, 48, 256):
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "llm-workbench.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "llm-workbench.svg").is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate",
                                str(data / "applications" / "llm-workbench.desktop")],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
