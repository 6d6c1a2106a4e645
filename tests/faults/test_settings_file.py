"""A corrupt or unreadable settings file (issue 15): moved aside with a timestamp, never written
over; the app starts with its default settings and says so once, naming the file."""
from __future__ import annotations

import os

import pytest

from core.paths import BROKEN_SUFFIX

GARBAGE = {
    "random bytes": bytes((i * 151 + 7) % 256 for i in range(3000)),
    "NUL bytes": b"[window]\npage=classify\n" + b"\x00" * 200,
    "UTF-16": "[window]\npage=classify\n".encode("utf-16"),
    "broken section": b"[win\npage=classify\n",
}


def _aside(home) -> list:
    return [p for p in home.root.iterdir() if p.name.startswith("settings.ini" + BROKEN_SUFFIX)]


@pytest.mark.parametrize("case", list(GARBAGE))
def test_a_damaged_settings_file_is_moved_aside_never_overwritten(home, case):
    from gui.settings import Settings

    raw = GARBAGE[case]
    home.settings_file.write_bytes(raw)
    settings = Settings(home)
    assert "settings.ini" in settings.problem and "damaged" in settings.problem
    assert "default settings" in settings.problem and "Traceback" not in settings.problem
    aside = _aside(home)
    assert len(aside) == 1 and aside[0].read_bytes() == raw  # nothing lost
    assert aside[0].name in settings.problem  # says where it went
    assert settings.get("window/page") is None  # the defaults
    settings.set("window/page", "transcribe")
    settings.sync()
    assert aside[0].read_bytes() == raw
    again = Settings(home)  # the next start: a good file, nothing to say
    assert again.problem == "" and again.get("window/page") == "transcribe"
    assert len(_aside(home)) == 1


def test_a_good_settings_file_is_kept(home):
    from gui.settings import Settings

    home.settings_file.write_text("[window]\npage=classify\n", encoding="utf-8")
    settings = Settings(home)
    assert settings.problem == "" and settings.get("window/page") == "classify"
    assert not _aside(home)


def test_an_unreadable_settings_file_is_moved_aside(home):
    from gui.settings import Settings

    if os.geteuid() == 0:
        pytest.skip("root reads a file whatever its permissions")
    home.settings_file.write_text("[window]\npage=classify\n", encoding="utf-8")
    home.settings_file.chmod(0)
    settings = Settings(home)
    assert "cannot be read" in settings.problem and "settings.ini" in settings.problem
    assert len(_aside(home)) == 1 and settings.get("window/page") is None


def test_a_damaged_file_that_cannot_be_moved_is_left_as_it_is(home, monkeypatch):
    """No copy possible (say the folder became read-only): defaults in memory, the file
    untouched however the app changes its settings."""
    import core.paths
    from gui.settings import Settings

    def refuse(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(core.paths, "set_aside", refuse)
    raw = GARBAGE["random bytes"]
    home.settings_file.write_bytes(raw)
    settings = Settings(home)
    assert "cannot be moved aside" in settings.problem and "Permission denied" in settings.problem
    settings.set("window/page", "models")
    settings.sync()
    assert settings.get("window/page") == "models"
    assert home.settings_file.read_bytes() == raw and not _aside(home)


def test_the_window_starts_with_defaults_and_says_so_once(qtbot, home):
    from gui.window import MainWindow

    home.settings_file.write_bytes(GARBAGE["random bytes"])
    shown = []
    for _start in range(2):
        win = MainWindow(home)
        win.show()
        qtbot.waitUntil(lambda w=win: w._painted, timeout=5000)
        shown.append(win.notify.text.text() if win.notify.isVisible() else "")
        assert win.current_page() == "chat"  # the default start page
        win.close()
        qtbot.waitUntil(lambda w=win: w._closed, timeout=30_000)
        win.deleteLater()
        qtbot.wait(10)
    first, second = shown
    assert "settings.ini" in first and _aside(home)[0].name in first
    assert "Traceback" not in first
    assert "settings.ini" not in second  # said once
