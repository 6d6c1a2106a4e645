"""What every panel is handed: the app's home, registry, job runner, settings and notifier."""
from __future__ import annotations

from dataclasses import dataclass

from core.paths import AppHome
from core.registry import Registry
from gui.notify import NotificationBar
from gui.settings import Settings
from gui.workers import JobRunner


@dataclass
class AppContext:
    home: AppHome
    registry: Registry
    runner: JobRunner
    settings: Settings
    notify: NotificationBar
