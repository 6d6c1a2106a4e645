"""One cache of loaded engines shared by every page: the same model loaded on two pages is
loaded once, and memory goes back to the system when an engine is unloaded.

    cache = ModelCache(CacheSettings(budget_bytes=..., idle_s=...))
    engine = cache.take(key, holder)        a loaded engine (now held by ``holder``) or None
    engine = cache.put(key, engine, holder, name=...)   add a loaded engine (or, when another
                                            holder put one under that key meanwhile, close this one
                                            and hand back the other)
    cache.release(key, holder)              ``holder`` lets go; unloaded when no one holds it
    cache.sweep()                           unload engines idle for ``idle_s`` (call it now and then)
    cache.loaded()                          [Loaded(key, name, size_bytes, holders, idle_s, busy)]
    cache.unload(key)                       close it now; its holders are told (on_unload)

Past the memory budget, ``put`` unloads the least recently used other engines (never one busy
with a job: its lock is held). Holders register ``on_unload(key, engine)`` callbacks so a page
drops its reference when the cache unloads its model. Unloading closes the engine (its close():
llama.cpp frees the Llama, threads end), drops every reference, collects garbage, empties the
torch CUDA cache when torch is loaded, and asks the C allocator to hand freed pages back.
"""
from __future__ import annotations

import gc
import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_IDLE_S = 5 * 60.0  # a model nobody used for this long is unloaded
BUDGET_SHARE = 0.5  # default budget: this share of the machine's memory
FALLBACK_BUDGET = 4 << 30  # when the machine's memory cannot be read


def default_budget() -> int:
    """Half of the machine's memory (bytes)."""
    try:  # POSIX: without importing psutil (the window builds the cache before its first paint)
        import os

        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * BUDGET_SHARE)
    except (AttributeError, ValueError, OSError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().total * BUDGET_SHARE)
    except (ImportError, OSError):
        return FALLBACK_BUDGET


@dataclass(frozen=True)
class CacheSettings:
    budget_bytes: int = field(default_factory=default_budget)
    idle_s: float = DEFAULT_IDLE_S  # 0: never unload for idleness


@dataclass(frozen=True)
class Loaded:
    """One loaded engine, as the status bar lists it."""

    key: Hashable
    name: str
    size_bytes: int
    holders: int
    idle_s: float
    busy: bool


def estimate_size(engine: Any) -> int:
    """Bytes an engine holds, roughly: its torch parameters and buffers, else the size of the
    weights file it loaded (llama.cpp, Whisper), else 0."""
    explicit = getattr(engine, "size_bytes", None)
    if isinstance(explicit, int):
        return explicit
    for owner in (engine, getattr(engine, "backend", None)):
        model = getattr(owner, "model", None)
        params = getattr(model, "parameters", None)
        if callable(params):
            try:
                total = sum(p.numel() * p.element_size() for p in params())
                total += sum(b.numel() * b.element_size() for b in model.buffers())
                return int(total)
            except (AttributeError, TypeError, RuntimeError):
                pass
    for ref in (getattr(getattr(engine, "gguf", None), "path", None),
                getattr(engine, "ref", None), getattr(getattr(engine, "info", None), "path", None)):
        try:
            p = Path(str(ref)) if ref else None
            if p is not None and p.is_file():
                return p.stat().st_size
            if p is not None and p.is_dir():
                return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()
                           and f.suffix in (".safetensors", ".bin", ".gguf", ".pt"))
        except OSError:
            pass
    return 0


def is_busy(engine: Any) -> bool:
    """True while a job runs on ``engine`` (its ``busy`` flag, or its lock held)."""
    busy = getattr(engine, "busy", None)
    if isinstance(busy, bool):
        return busy
    lock = getattr(engine, "_lock", None)
    locked = getattr(lock, "locked", None)
    return bool(locked()) if callable(locked) else False


def close_engine(engine: Any) -> None:
    close = getattr(engine, "close", None)
    if callable(close):
        close()


def give_memory_back() -> None:
    """Collect the young garbage, empty the CUDA cache (when torch is loaded) and trim the C heap,
    so what an unloaded engine held leaves the process's resident memory. Engines are freed by
    reference counting; a full collection is left out on purpose: with torch and transformers
    imported it walks millions of objects, seconds on a busy machine, holding the interpreter
    (the window would freeze). The trim runs on a short thread: it releases the interpreter."""
    gc.collect(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except RuntimeError:
            pass
    if sys.platform.startswith("linux"):
        threading.Thread(target=_trim_heap, name="malloc_trim").start()


def _trim_heap() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@dataclass
class _Entry:
    engine: Any
    name: str
    size: int
    holders: set = field(default_factory=set)
    used: float = 0.0


OnUnload = Callable[[Hashable, Any], None]


class ModelCache:
    """Loaded engines by key (e.g. (kind, model id, device, options)); thread-safe."""

    def __init__(self, settings: CacheSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or CacheSettings()
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self._listeners: dict[int, Callable[[], OnUnload | None]] = {}
        self._changed: list[Callable[[], None]] = []
        self._lock = threading.RLock()

    # ---- holders ------------------------------------------------------------------------------
    def on_unload(self, holder: object, callback: OnUnload) -> None:
        """``callback(key, engine)`` when the cache unloads an engine ``holder`` holds. A bound
        method is held weakly: a page that went away is not kept alive by the cache."""
        ref = weakref.WeakMethod(callback) if hasattr(callback, "__self__") else \
            (lambda: callback)
        with self._lock:
            self._listeners[id(holder)] = ref

    def forget(self, holder: object) -> None:
        with self._lock:
            self._listeners.pop(id(holder), None)

    def on_change(self, callback: Callable[[], None]) -> None:
        """``callback()`` after anything is loaded or unloaded (e.g. the status bar)."""
        self._changed.append(callback)

    def take(self, key: Hashable, holder: object) -> Any:
        """The engine under ``key`` (now also held by ``holder``), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            entry.holders.add(id(holder))
            entry.used = self._clock()
            return entry.engine

    def touch(self, key: Hashable) -> None:
        """``key`` was just used (a job ran on it): not idle."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.used = self._clock()

    def put(self, key: Hashable, engine: Any, holder: object, *, name: str = "",
            size_bytes: int | None = None) -> Any:
        """Add ``engine`` under ``key``, held by ``holder``; unload others past the budget. The
        engine to use: ``engine``, or the one already there (``engine`` is then closed)."""
        with self._lock:
            entry = self._entries.get(key)
            duplicate = None
            added = entry is None
            if entry is not None and entry.engine is not engine:
                duplicate = engine
            elif entry is None:
                size = estimate_size(engine) if size_bytes is None else size_bytes
                entry = self._entries[key] = _Entry(engine, name or str(key), size)
            entry.holders.add(id(holder))
            entry.used = self._clock()
            kept = entry.engine
            victims = self._over_budget(keep=key)
        if duplicate is not None:
            close_engine(duplicate)
        self._drop(victims)
        if added and not victims:
            self.notify_changed()
        return kept

    def release(self, key: Hashable, holder: object) -> None:
        """``holder`` no longer uses the engine; with no holder left it is unloaded."""
        victims = []
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.holders.discard(id(holder))
            if not entry.holders:
                victims.append((key, self._entries.pop(key)))
        self._drop(victims)

    # ---- unloading ----------------------------------------------------------------------------
    def unload(self, key: Hashable) -> bool:
        """Unload ``key`` now (its holders are told). False when it is not loaded or busy."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or is_busy(entry.engine):
                return False
            del self._entries[key]
        self._drop([(key, entry)])
        return True

    def unload_all(self) -> None:
        with self._lock:
            victims = list(self._entries.items())
            self._entries.clear()
        self._drop(victims)

    def sweep(self) -> list[Hashable]:
        """Unload the engines idle for the configured time (never a busy one); their keys."""
        idle_s = self.settings.idle_s
        if not idle_s:
            return []
        now = self._clock()
        with self._lock:
            victims = [(k, e) for k, e in self._entries.items()
                       if now - e.used >= idle_s and not is_busy(e.engine)]
            for k, _e in victims:
                del self._entries[k]
        self._drop(victims)
        return [k for k, _e in victims]

    def set_settings(self, settings: CacheSettings) -> None:
        """New budget / idle time; applies the budget at once."""
        with self._lock:
            self.settings = settings
            victims = self._over_budget(keep=None)
        self._drop(victims)

    def _over_budget(self, keep: Hashable | None) -> list[tuple[Hashable, _Entry]]:
        """Pop least recently used entries (not ``keep``, not busy) until within the budget."""
        total = sum(e.size for e in self._entries.values())
        victims = []
        for k, e in sorted(self._entries.items(), key=lambda kv: kv[1].used):
            if total <= self.settings.budget_bytes:
                break
            if k == keep or is_busy(e.engine):
                continue
            victims.append((k, e))
            total -= e.size
        for k, _e in victims:
            del self._entries[k]
        return victims

    def _drop(self, victims: list[tuple[Hashable, _Entry]]) -> None:
        if not victims:
            return
        for key, entry in victims:
            with self._lock:
                refs = [self._listeners.get(h) for h in entry.holders]
            for ref in refs:
                callback = ref() if ref is not None else None
                if callback is not None:
                    try:
                        callback(key, entry.engine)
                    except Exception:  # one holder's failure must not keep the model loaded
                        log.exception("A holder of %s failed to let go", entry.name)
            try:
                close_engine(entry.engine)
            except Exception:
                log.exception("Closing %s failed", entry.name)
            log.info("Unloaded %s (%.0f MB)", entry.name, entry.size / 2**20)
            entry.engine = None  # the caller's list still holds the entry, not the engine
        give_memory_back()
        for callback in list(self._changed):
            callback()

    def loaded(self) -> list[Loaded]:
        """What is loaded, most recently used first."""
        now = self._clock()
        with self._lock:
            items = sorted(self._entries.items(), key=lambda kv: kv[1].used, reverse=True)
            return [Loaded(k, e.name, e.size, len(e.holders), max(0.0, now - e.used),
                           is_busy(e.engine)) for k, e in items]

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(e.size for e in self._entries.values())

    def notify_changed(self) -> None:
        for callback in list(self._changed):
            callback()
