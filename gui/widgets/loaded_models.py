"""The status bar's loaded-models indicator: what the shared model cache (ctx.model_cache) holds,
with a menu to unload one model or all of them. It also drives the cache's idle unloading (a
timer calls ``sweep()``), so a model nobody used for the configured time leaves memory.

    indicator = LoadedModels(ctx, parent)      add it with statusBar().addPermanentWidget(...)
    indicator.refresh()                        update the label and the menu now
    indicator.menu_actions()                   [(text, QAction)] of the menu (tests)
"""
from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

SWEEP_MS = 30_000  # how often idle models are looked for


def size_text(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GB"
    return f"{n / 2**20:.0f} MB"


class LoadedModels(QToolButton):
    changed = Signal()  # the cache changed (from any thread): refresh on the GUI thread

    def __init__(self, ctx, parent: QWidget | None = None, *, sweep_ms: int = SWEEP_MS) -> None:
        super().__init__(parent)
        self.cache = ctx.model_cache
        self.setObjectName("loadedModels")
        self.setAutoRaise(True)
        self.setPopupMode(QToolButton.InstantPopup)
        self._menu = QMenu(self)
        self.setMenu(self._menu)
        self._menu.aboutToShow.connect(self.refresh)
        self.changed.connect(self.refresh)
        self.cache.on_change(self.changed.emit)
        self.timer = QTimer(self)
        self.timer.setInterval(sweep_ms)
        self.timer.timeout.connect(self.sweep)
        self.timer.start()
        self.refresh()

    def sweep(self) -> None:
        """Unload the models idle past the configured time (the cache tells us when it did)."""
        self.cache.sweep()

    def refresh(self) -> None:
        loaded = self.cache.loaded()
        total = sum(item.size_bytes for item in loaded)
        if not loaded:
            self.setText("No model loaded")
        elif len(loaded) == 1:
            self.setText(f"Loaded: {loaded[0].name} · {size_text(total)}")
        else:
            self.setText(f"{len(loaded)} models loaded · {size_text(total)}")
        budget = self.cache.settings.budget_bytes
        idle_min = self.cache.settings.idle_s / 60
        self.setToolTip(f"Models in memory: {size_text(total)} of a {size_text(budget)} budget. "
                        + (f"A model unused for {idle_min:g} min is unloaded." if idle_min
                           else "Models stay loaded until unloaded."))
        self._menu.clear()
        for item in loaded:
            state = "busy" if item.busy else f"idle {item.idle_s / 60:.0f} min"
            action = self._menu.addAction(f"Unload {item.name} ({size_text(item.size_bytes)}, "
                                          f"{state})")
            action.setEnabled(not item.busy)
            action.triggered.connect(lambda _c=False, k=item.key: self.unload(k))
        if len(loaded) > 1:
            self._menu.addSeparator()
            self._menu.addAction("Unload all").triggered.connect(self.unload_all)
        if not loaded:
            self._menu.addAction("No model loaded").setEnabled(False)
        self.setEnabled(True)

    def unload(self, key) -> None:
        self.cache.unload(key)
        self.refresh()

    def unload_all(self) -> None:
        for item in self.cache.loaded():
            self.cache.unload(item.key)
        self.refresh()

    def menu_actions(self) -> list[tuple[str, object]]:
        return [(a.text(), a) for a in self._menu.actions() if not a.isSeparator()]
