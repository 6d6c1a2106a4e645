"""The main window's device status: the status-bar label and its checks (the last start's answer,
the quick torch-free check, the full check in a child), as a part of MainWindow."""
from __future__ import annotations

from core.device import DeviceInfo
from gui.device_probe import cached, remember


class DeviceStatus:
    """Mixed into MainWindow, which holds ``device_probe``, ``device_label``, ``device_choice``,
    ``settings``, ``notify`` and the start-up flags these methods read."""

    def probe_device(self, full: bool = True) -> None:
        """Check the device: the answer of the last start, when there is one, shows at once; the
        quick torch-free check (a thread, milliseconds) confirms or corrects it; the full check
        (torch, in a child process: torch never loads in the window for it) has the last word.
        ``full=False`` leaves the full check for later (``_full_check``)."""
        pref = self.device_choice.currentData()
        self._full_answered = False
        last = cached(self.settings, pref)
        if last is not None:
            self._show_device(last, note=" (as at the last start; checking again)")
        else:
            self.device = None
            self.device_label.setText("Device: detecting…")
        self.device_probe.quick(pref)
        if full:
            self.device_probe.start(pref)

    def _full_check(self) -> None:
        if not self._closing and not self._full_answered and not self.device_probe.running():
            self._guarded("checking the device", lambda: self.device_probe.start(
                self.device_choice.currentData()))

    def _on_device_guessed(self, pref: str, answer) -> None:
        """The quick check's answer: shown unless the full check has answered already (or the
        preference changed meanwhile). A failure brings the full check forward to say why."""
        if self._full_answered or pref != self.device_choice.currentData():
            return
        if isinstance(answer, DeviceInfo):
            if answer != self.device:
                self._show_device(answer)  # the full check follows (_full_check)
            self._check_ready()
        elif self.device is None:  # nothing to show meanwhile: the full check says why, now
            self._full_check()

    def _show_device(self, info: DeviceInfo, note: str = "") -> None:
        self.device = info
        self.device_label.setText(info.label)
        self.device_label.setToolTip(info.reason + note)

    def _on_device_found(self, info: DeviceInfo) -> None:
        self._full_answered = True
        remember(self.settings, self.device_choice.currentData(), info)
        self._show_device(info)
        self._device_settled = True
        self._check_ready()

    def _on_device_failed(self, exc) -> None:
        self._full_answered = True
        self.device = None
        self.device_label.setText("Device: unavailable")
        self.device_label.setToolTip(str(exc))
        self.notify.show_error(exc)
        self._device_settled = True
        self._check_ready()

    def _on_device_choice(self) -> None:
        self.settings.set("device/preference", self.device_choice.currentData())
        self.probe_device()

