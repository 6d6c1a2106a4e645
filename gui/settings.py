"""Persistent choices (window geometry, last page, filters) in an INI file in the app data folder.

A settings file that cannot be read or parsed is never written over (QSettings would silently
replace it): it is moved aside with a timestamp and the app starts with the defaults; ``problem``
is the sentence that says so. When it cannot even be moved, the choices of this session are kept
in memory only and the file is left as it is."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from core.paths import AppHome

log = logging.getLogger("workbench")


class Settings:
    def __init__(self, home: AppHome) -> None:
        path = home.settings_file
        self.problem = ""  # what was wrong with the file and where it went ("" when fine)
        self._memory: dict[str, Any] | None = None  # used instead when the file is left alone
        self._q = QSettings(str(path), QSettings.IniFormat)
        why = _unreadable(path, self._q)
        if why:
            self._q = self._start_afresh(path, why)

    def _start_afresh(self, path: Path, why: str) -> QSettings | None:
        from core.paths import set_aside

        try:
            backup = set_aside(path)
        except OSError as exc:
            self._memory = {}
            self.problem = (f"The settings file '{path}' {why} and cannot be moved aside "
                            f"({exc.strerror or exc}): the app uses its default settings and "
                            "will not save changes to it this session.")
            log.warning("%s", self.problem)
            return None
        self.problem = (f"The settings file '{path}' {why}; it was moved to '{backup.name}' "
                        "and the app started with its default settings.")
        log.warning("%s", self.problem)
        return QSettings(str(path), QSettings.IniFormat)

    def get(self, key: str, default: Any = None, type_: type | None = None) -> Any:
        if self._q is None:
            value = self._memory.get(key, default)
            return type_(value) if type_ is not None and value is not None else value
        if type_ is not None:
            return self._q.value(key, default, type=type_)
        return self._q.value(key, default)

    def set(self, key: str, value: Any) -> None:
        if self._q is None:
            self._memory[key] = value
        else:
            self._q.setValue(key, value)

    def sync(self) -> None:
        if self._q is not None:
            self._q.sync()


def _unreadable(path: Path, q: QSettings) -> str:
    """Why the settings file cannot be used (as the end of a sentence), or "" when it can."""
    if not path.exists():
        return ""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if q.status() != QSettings.NoError or b"\x00" in head:
        return "is damaged (it is not a settings file the app can read)"
    return ""


def cache_settings(settings: Settings):
    """The loaded-model cache's budget and idle time from the settings ("models/budget_mb",
    "models/idle_minutes"; the defaults of core.models.cache where unset or unreadable)."""
    from core.models.cache import CacheSettings

    defaults = CacheSettings()
    try:
        budget_mb = float(settings.get("models/budget_mb", 0) or 0)
        idle_min = settings.get("models/idle_minutes", None)
        idle_s = defaults.idle_s if idle_min in (None, "") else float(idle_min) * 60
    except (TypeError, ValueError):
        return defaults
    budget = int(budget_mb * 2**20) if budget_mb > 0 else defaults.budget_bytes
    return CacheSettings(budget_bytes=budget, idle_s=max(0.0, idle_s))
