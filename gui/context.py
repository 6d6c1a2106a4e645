"""What every panel is handed: the app's home, registry, job runner, settings and notifier."""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from core.paths import AppHome
from gui.jobs import JobRunner
from gui.notify import NotificationBar
from gui.settings import Settings

if TYPE_CHECKING:
    from core.models.registry import Registry


class AppContext:
    def __init__(self, home: AppHome, runner: JobRunner, settings: Settings,
                 notify: NotificationBar) -> None:
        self.home = home
        self.runner = runner
        self.settings = settings
        self.notify = notify
        self.on_models_changed = None  # set by the window: rescan the model list

    def models_changed(self) -> None:
        """Something added or removed a model (a finished run, a merge): every picker updates."""
        if self.on_models_changed is not None:
            self.on_models_changed()

    @cached_property
    def registry(self) -> Registry:
        """Built on first use, after the window has painted."""
        from core.models.registry import Registry

        return Registry(self.home)
