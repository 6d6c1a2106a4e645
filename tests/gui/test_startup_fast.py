"""Start-up answers from what it already has: the last scan's model list at once, the device from
the quick torch-free check, the full device check (torch, in a child) only after the window is
ready."""
from __future__ import annotations

from PySide6.QtCore import QTimer


def _open(qtbot, home, before_show=None):
    from gui.window import MainWindow

    win = MainWindow(home)
    if before_show is not None:
        before_show(win)
    win.first_painted.connect(lambda: QTimer.singleShot(0, win.start_up))
    win.show()
    qtbot.waitUntil(lambda: win._painted, timeout=5000)
    return win


def _close(qtbot, win):
    win.close()
    qtbot.waitUntil(lambda: win._closed, timeout=30_000)
    if win.warmup is not None:
        win.warmup.join()
    win.device_probe.join_quick()
    win.deleteLater()
    qtbot.wait(10)


def test_last_model_list_shows_before_any_scan(qtbot, home):
    from core.models.entry import Format, ModelEntry, Source, Task
    from core.models.registry import Registry

    kept = ModelEntry("user:kept", "Kept from last time", Task.TEXT_GENERATION, Format.HF,
                      Source.USER, "/nowhere")
    Registry(home).save_listing([kept])
    lists = []  # every list the window was given, with whether a scan had ended by then
    win = _open(qtbot, home, before_show=lambda w: w.ctx.models.changed.connect(
        lambda entries: lists.append(([e.id for e in entries], w.ctx.models.scanned))))
    try:
        qtbot.waitUntil(lambda: win.ctx.models.listed, timeout=5000)
        # the saved list first, before any scan ended (the scan drops the entry: its folder is
        # gone); the scan (about 20 ms now) may already have followed by the time this looks
        assert lists[0] == (["user:kept"], False)
        qtbot.waitUntil(lambda: win.ctx.models.scanned, timeout=60_000)
        assert "user:kept" not in [e.id for e in win.ctx.models.entries]
        assert Registry(home).saved_listing() == win.ctx.models.entries  # kept for next time
    finally:
        _close(qtbot, win)


def test_ready_from_the_quick_check_before_the_full_check(qtbot, home):
    """A fresh data folder: ready comes with the quick check's device; the child importing torch
    has not started by then (it starts a moment later and has the last word)."""
    started, at_ready = [], []

    def watch(win):
        start = win.device_probe.start
        win.device_probe.start = lambda pref: (started.append(pref), start(pref))
        win.ready.connect(lambda: at_ready.append((win.device, list(started))))

    win = _open(qtbot, home, watch)
    try:
        qtbot.waitUntil(lambda: bool(at_ready), timeout=60_000)
        device, full_checks = at_ready[0]
        assert device is not None and "detecting" not in win.device_label.text()
        assert full_checks == []
        qtbot.waitUntil(lambda: bool(started), timeout=10_000)
    finally:
        _close(qtbot, win)


def test_a_failing_quick_check_brings_the_full_check_forward(qtbot, home, monkeypatch):
    """No device from the last start and a quick check that fails: the full check starts at once
    (not after the latest delay) and answers."""
    import core.device
    import gui.window
    from core.errors import DeviceUnavailable

    def broken(preference):
        raise DeviceUnavailable("driver trouble")

    monkeypatch.setattr(core.device, "quick_device", broken)
    monkeypatch.setattr(gui.window, "FULL_CHECK_LATEST_MS", 600_000)
    started = []

    def watch(win):
        start = win.device_probe.start
        win.device_probe.start = lambda pref: (started.append(pref), start(pref))

    win = _open(qtbot, home, watch)
    try:
        qtbot.waitUntil(lambda: bool(started), timeout=30_000)
        qtbot.waitUntil(win.is_ready, timeout=90_000)
        assert win.device is not None
    finally:
        _close(qtbot, win)


def test_left_idle_on_transcribe_the_window_parses_the_tokenizer_the_first_load_uses(qtbot, home):
    """faster-whisper's own parse of tokenizer.json froze the window 60-100 ms at a first load:
    the idle warm-up parses it for the model the page would use, and the page's load takes it."""
    from core.models.registry import Registry
    from gui.window import PAGES

    win = _open(qtbot, home, before_show=lambda w: w.ctx.settings.set("transcribe/language",
                                                                         "en"))
    try:
        qtbot.waitUntil(win.is_ready, timeout=30_000)
        win.idle_imports.idle_s = 0  # nobody is using this window
        win.nav.setCurrentRow(PAGES.index("transcribe"))  # Automatic with English: tiny.en
        store = win.ctx.whisper_tokenizers
        qtbot.waitUntil(lambda: len(store) == 1 and not win.idle_imports.busy(), timeout=120_000)
        parsed = store.get(Registry(home).get("whisper-tiny.en").load_path)
        assert parsed is not None
        page = win.page("transcribe")
        got = []
        page.session.ensure("whisper-tiny.en", got.append, device="cpu",
                            options=("faster-whisper", "cpu"))
        qtbot.waitUntil(lambda: bool(got), timeout=60_000)
        assert got[0].backend.model.hf_tokenizer is parsed
    finally:
        _close(qtbot, win)
