"""Device detection without torch in the window. At start-up the last answer (kept in the
settings) shows at once and a quick torch-free check (core.device.quick_device: the CUDA driver
through ctypes, in a thread) confirms or corrects it within milliseconds; on a fresh data folder the
quick check answers. The full check (torch, a second or more to import) runs later in a child
process, so it never holds the window's interpreter, and has the last word."""
from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

from core.device import DeviceInfo
from core.errors import DeviceUnavailable

ROOT = Path(__file__).resolve().parent.parent
CACHE_KEY = "device/last"
_CHILD = (
    "import json, sys\n"
    "from core.device import choose_device\n"
    "from core.errors import WorkbenchError\n"
    "try:\n"
    "    d = choose_device(sys.argv[1])\n"
    "    out = {'kind': d.kind, 'label': d.label, 'reason': d.reason}\n"
    "except WorkbenchError as e:\n"
    "    out = {'error': type(e).__name__, 'message': e.message, 'hint': e.hint}\n"
    "print('DEVICE ' + json.dumps(out), flush=True)\n"
)


def parse_answer(text: str) -> DeviceInfo | BaseException:
    """The child's answer: a DeviceInfo, or the error to show."""
    for line in reversed(text.splitlines()):
        if line.startswith("DEVICE "):
            data = json.loads(line[len("DEVICE "):])
            if "error" in data:
                return DeviceUnavailable(data.get("message") or "No device.", hint=data.get("hint", ""))
            return DeviceInfo(data["kind"], data["label"], data["reason"])
    tail = text.strip().splitlines()[-1:] or ["no answer"]
    return DeviceUnavailable(f"The device check failed: {tail[0]}",
                             hint="See the log (Help → Open log) for details.")


def cached(settings, preference: str) -> DeviceInfo | None:
    """The last answer for this preference, if any."""
    raw = settings.get(CACHE_KEY)
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
        if data and data.get("preference") == preference:
            return DeviceInfo(data["kind"], data["label"], data["reason"])
    except (ValueError, KeyError, TypeError):
        pass
    return None


def remember(settings, preference: str, info: DeviceInfo) -> None:
    settings.set(CACHE_KEY, json.dumps({"preference": preference, "kind": info.kind,
                                        "label": info.label, "reason": info.reason}))


class DeviceProbe(QObject):
    """One check at a time; ``found`` or ``failed`` on the GUI thread, never both. ``guessed``
    carries the quick check's answer (``quick``), before the full one."""

    found = Signal(object)  # DeviceInfo
    failed = Signal(object)  # an exception to show
    guessed = Signal(str, object)  # the preference asked, then a DeviceInfo or an exception

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._proc: QProcess | None = None
        self._quick: threading.Thread | None = None

    def quick(self, preference: str) -> None:
        """The torch-free check in a thread (the CUDA driver may take a moment to start; ctypes
        lets go of the interpreter meanwhile); ``guessed`` on the GUI thread."""
        def run() -> None:
            from core.device import quick_device

            try:
                answer: object = quick_device(preference)
            except Exception as exc:  # a DeviceUnavailable, or a driver that misbehaves
                answer = exc
            try:
                self.guessed.emit(preference, answer)
            except RuntimeError:  # the window is gone
                pass

        self._quick = threading.Thread(target=run, name="quick device check")
        self._quick.start()

    def join_quick(self, timeout: float | None = None) -> None:
        if self._quick is not None:
            self._quick.join(timeout)

    def start(self, preference: str) -> None:
        self.stop()
        proc = QProcess(self)
        env = proc.processEnvironment()
        if env.isEmpty():
            from PySide6.QtCore import QProcessEnvironment

            env = QProcessEnvironment.systemEnvironment()
        path = env.value("PYTHONPATH", "")
        env.insert("PYTHONPATH", str(ROOT) + (os.pathsep + path if path else ""))
        proc.setProcessEnvironment(env)
        proc.setProcessChannelMode(QProcess.MergedChannels)
        proc.finished.connect(lambda *_a, p=proc: self._on_finished(p))
        proc.errorOccurred.connect(lambda err, p=proc: self._on_error(p, err))
        self._proc = proc
        proc.start(sys.executable, ["-c", _CHILD, preference])

    def running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.NotRunning

    def stop(self) -> None:
        """Forget a check in progress (on quit or when the preference changes)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.blockSignals(True)
            if proc.state() != QProcess.NotRunning:
                proc.kill()
                proc.waitForFinished(2000)
            proc.deleteLater()

    def _on_finished(self, proc: QProcess) -> None:
        if proc is not self._proc:
            return
        self._proc = None
        text = bytes(proc.readAll()).decode("utf-8", "replace")
        proc.deleteLater()
        result = parse_answer(text)
        if isinstance(result, DeviceInfo):
            self.found.emit(result)
        else:
            import logging

            logging.getLogger("workbench").error("device check: %s\n%s", result, text[-4000:])
            self.failed.emit(result)

    def _on_error(self, proc: QProcess, error) -> None:
        if proc is not self._proc or error != QProcess.FailedToStart:
            return  # a crash still ends in finished()
        self._proc = None
        proc.deleteLater()
        self.failed.emit(DeviceUnavailable(f"The device check could not start: {proc.errorString()}."))
