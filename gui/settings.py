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
