"""Persistent choices (window geometry, last page, filters) in an INI file in the app data folder."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings

from core.paths import AppHome


class Settings:
    def __init__(self, home: AppHome) -> None:
        self._q = QSettings(str(home.settings_file), QSettings.IniFormat)

    def get(self, key: str, default: Any = None, type_: type | None = None) -> Any:
        if type_ is not None:
            return self._q.value(key, default, type=type_)
        return self._q.value(key, default)

    def set(self, key: str, value: Any) -> None:
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()


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
