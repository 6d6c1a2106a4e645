"""What every panel is handed (the app's home, registry, jobs, settings, notifier) and the one
broadcast of the model list (``ctx.models.changed``)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from core.paths import AppHome
from gui.jobs import Failure, Job, JobRunner
from gui.links import Links
from gui.notify import NotificationBar
from gui.settings import Settings

if TYPE_CHECKING:
    from core.cancel import CancelToken
    from core.models.registry import ModelEntry, Registry


class ModelsHub(QObject):
    """The model list every page shows. ``refresh()`` rescans the registry in a query job and
    ``changed`` carries the new list to every page; ``change()`` runs a registry mutation (add,
    remove) off the GUI thread, then rescans. The registry's problems (an unreadable
    user_models.json) are shown once in the notification bar after a scan."""

    changed = Signal(list)  # list[ModelEntry], after every scan

    def __init__(self, jobs: JobRunner, registry: Callable[[], Registry],
                 notify: NotificationBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs = jobs
        self._registry = registry
        self._notify = notify
        self.entries: list[ModelEntry] = []
        self.scanned = False  # a scan has completed: ``entries`` is the real list
        self.listed = False  # ``entries`` is a list to show: the last start's, or a scan's
        self._scan: Job | None = None
        self._again = False
        self._lock = threading.Lock()  # one registry read or write at a time
        self._shown_problems: set[str] = set()

    def refresh(self) -> Job:
        """Rescan in a worker (a scan already running is followed by one more). The running job."""
        if self._scan is not None:
            self._again = True
            return self._scan
        registry = self._registry()
        lock = self._lock

        def scan(cancel: CancelToken) -> tuple[list, list[str]]:
            with lock:
                entries = registry.entries()
                if hasattr(registry, "save_listing"):  # shown at once at the next start
                    registry.save_listing(entries)
                return entries, list(getattr(registry, "problems", []) or [])

        self._scan = self._jobs.query("Scanning models", scan, self._on_scanned)
        self._scan.finished.connect(self._on_scan_finished)
        return self._scan

    def show_saved(self) -> bool:
        """Show the last start's list at once (read from the data folder; a few milliseconds)
        until the scan, started next, brings the real one. False when there is none."""
        if self.listed:
            return True
        saved = self._registry().saved_listing()
        if saved is None:
            return False
        self.entries = saved
        self.listed = True
        self.changed.emit(self.entries)
        return True

    def change(self, name: str, fn: Callable[[Registry], Any],
               on_result: Callable[[Any], None] | None = None,
               on_failure: Failure | None = None) -> Job:
        """Run ``fn(registry)`` in a worker (a mutation), then rescan; ``on_result(value)`` on the
        GUI thread. Without ``on_failure`` a failure goes to the notification bar."""
        registry = self._registry()
        lock = self._lock

        def mutate(cancel: CancelToken) -> Any:
            with lock:
                return fn(registry)

        def done(value: Any) -> None:
            if on_result is not None:
                on_result(value)
            self.refresh()

        return self._jobs.mutation(name, mutate, done, on_failure)

    def _on_scanned(self, result: tuple[list, list[str]]) -> None:
        entries, problems = result
        self.entries = list(entries)
        self.scanned = self.listed = True
        self.changed.emit(self.entries)
        new = [p for p in problems if p not in self._shown_problems]
        if new:
            self._shown_problems.update(new)
            self._notify.show_info(" ".join(new), timeout_ms=0)

    def _on_scan_finished(self) -> None:
        self._scan = None
        if self._again:
            self._again = False
            self.refresh()


class AppContext:
    def __init__(self, home: AppHome, runner: JobRunner, settings: Settings,
                 notify: NotificationBar) -> None:
        self.home = home
        self.runner = runner
        self.jobs = runner  # the operations layer: start / query / mutation
        self.settings = settings
        self.notify = notify
        self.models = ModelsHub(runner, lambda: self.registry, notify, parent=runner)
        self.links = Links(runner)  # requests between pages (gui.links); the window routes them

    def models_changed(self) -> None:
        """Something added or removed a model (a finished run, a merge): every page updates."""
        self.models.refresh()

    def device_preference(self) -> str:
        return self.settings.get("device/preference", "auto") or "auto"

    @cached_property
    def registry(self) -> Registry:
        """Built on first use, after the window has painted."""
        from core.models.registry import Registry

        return Registry(self.home)

    @cached_property
    def model_cache(self):
        """The loaded engines every page shares (core.models.cache), budget and idle time from the
        settings."""
        from core.models.cache import ModelCache
        from gui.settings import cache_settings

        return ModelCache(cache_settings(self.settings))

    @cached_property
    def whisper_tokenizers(self):
        """Whisper tokenizers parsed while the user is idle (core.transcribe.ahead), so that a
        first faster-whisper load does not freeze the window parsing its own."""
        from core.transcribe.ahead import ParsedTokenizers

        return ParsedTokenizers()
