"""The server's loaded models: each loads on its first request (or at start) and stays loaded; a
memory budget unloads the least recently used idle model before another loads. Each model has a
Gate (gate.py): its requests run one at a time, in arrival order.

Self-contained on purpose (the GUI keeps its own engines); ``acquire`` is called on the event loop,
loading runs on a worker thread.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from core.cancel import CancelToken
from core.events import Done, Event
from core.models.entry import ModelEntry, Source, Task
from core.server.config import MB, ServerConfig
from core.server.errors import ApiError, model_not_found
from core.server.gate import Gate

log = logging.getLogger("workbench.server")
SERVED_TASKS = (Task.TEXT_GENERATION, Task.TEXT_CLASSIFICATION, Task.FEATURE_EXTRACTION,
                Task.SPEECH_RECOGNITION)
LIST_TTL_S = 5.0  # the registry is rescanned at most this often


@dataclass
class Slot:
    entry: ModelEntry
    gate: Gate
    engine: Any = None
    size_bytes: int = 0
    last_used: float = field(default_factory=time.monotonic)


class Lease:
    """One request's turn on a loaded model. ``release`` is idempotent and thread-safe."""

    def __init__(self, slot: Slot) -> None:
        self.slot = slot
        self.engine = slot.engine
        self._released = threading.Event()

    def release(self) -> None:
        if not self._released.is_set():
            self._released.set()
            self.slot.last_used = time.monotonic()
            self.slot.gate.release_soon()


def opener(registry, entry: ModelEntry, device: str, cancel: CancelToken) -> Iterator[Event]:
    """The core opener for an entry's task: the same engines the GUI and the CLI load."""
    if entry.task is Task.TEXT_GENERATION:
        from core.chat import open_chat

        return open_chat(registry, entry.id, device, cancel)
    if entry.task is Task.TEXT_CLASSIFICATION:
        from core.classify import open_classifier

        return open_classifier(registry, entry.id, device, cancel)
    if entry.task is Task.FEATURE_EXTRACTION:
        from core.models.embed import open_embedder

        return open_embedder(registry, entry.id, device, cancel)
    if entry.task is Task.SPEECH_RECOGNITION:
        from core.models.entry import Format
        from core.transcribe import open_transcriber

        engine = "openai-whisper" if entry.format is Format.WHISPER_PT else "faster-whisper"
        return open_transcriber(registry, entry.id, device, cancel, engine)
    raise ApiError(400, f"'{entry.name}' is a {entry.task.value} model: no endpoint serves it.",
                   param="model")


def close_engine(engine: Any) -> None:
    """Free a loaded engine (each kind has its own way)."""
    close = getattr(engine, "close", None)
    if close is None:
        return  # classifiers and embedders: dropping the reference frees them
    try:
        if hasattr(engine, "backend"):  # a Transcriber
            close(wait=True)
        else:
            close(30.0)
    except Exception:  # unloading never fails a request
        log.exception("unloading %s failed", getattr(engine, "name", engine))


class ModelPool:
    def __init__(self, registry, config: ServerConfig) -> None:
        self.registry = registry
        self.config = config
        if config.memory_budget_mb is not None:
            self.budget_bytes = config.memory_budget_mb * MB
        else:
            import psutil

            self.budget_bytes = psutil.virtual_memory().total // 2
        self._slots: dict[str, Slot] = {}
        self._listed: list[ModelEntry] = []
        self._listed_at = 0.0
        self._list_lock = threading.Lock()
        self._closing: list[threading.Thread] = []

    # ---- what may be served --------------------------------------------------------------------
    def servable(self) -> list[ModelEntry]:
        """Every registry model this server may serve (Hub ones only with downloads allowed).
        Blocking (a registry scan, cached a few seconds): call it off the event loop."""
        with self._list_lock:
            if time.monotonic() - self._listed_at > LIST_TTL_S:
                entries = [e for e in self.registry.entries(endpoints=False) if e.task in SERVED_TASKS]
                if not self.config.allow_downloads:
                    entries = [e for e in entries if e.source is not Source.HUB]
                self._listed, self._listed_at = entries, time.monotonic()
            return list(self._listed)

    def resolve(self, model: str, task: Task) -> ModelEntry:
        """The entry a request names (its id, name or Hub id; aliases such as whisper-1), checked
        for the endpoint's task. Only listed models: never a path on this machine."""
        if not isinstance(model, str) or not model.strip():
            raise ApiError(400, "'model' is required.", param="model")
        wanted = self.config.aliases.get(model, model)
        for entry in self.servable():
            if wanted in (entry.id, entry.name, entry.hub_id):
                if entry.task is not task:
                    raise ApiError(400, f"'{model}' is a {entry.task.value} model; this endpoint "
                                        f"needs a {task.value} model.", param="model",
                                   code="wrong_model_task")
                return entry
        hint = ("" if self.config.allow_downloads else
                "This server was started without --allow-downloads, so it serves downloaded "
                "models only; GET /v1/models lists them.")
        raise model_not_found(model, hint)

    def loaded(self) -> list[str]:
        return [key for key, slot in self._slots.items() if slot.engine is not None]

    def busy(self, model_id: str) -> bool:
        slot = self._slots.get(model_id)
        return slot is not None and not slot.gate.idle

    # ---- turns -----------------------------------------------------------------------------------
    async def acquire(self, entry: ModelEntry) -> Lease:
        """This model's turn, loaded (first use: loading waits for other models' memory).
        The caller releases the lease, or hands it to a worker that does."""
        slot = self._slots.get(entry.id)
        if slot is None:
            slot = self._slots[entry.id] = Slot(entry, Gate(entry.name, self.config.queue_size,
                                                            self.config.retry_after_s))
        await slot.gate.acquire()
        lease = Lease(slot)
        if slot.engine is not None:
            return lease
        loop = asyncio.get_running_loop()
        self._make_room(entry.id, entry.size_bytes or 0)
        cancel = CancelToken()
        future = loop.run_in_executor(None, self._load, slot, cancel)
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:  # the request went away: the load finishes, then the turn
            cancel.cancel()
            future.add_done_callback(lambda _f: lease.release())
            raise
        except BaseException:
            lease.release()
            raise
        lease.engine = slot.engine
        self._make_room(entry.id, 0)  # its measured size may be more than its files said
        return lease

    def _load(self, slot: Slot, cancel: CancelToken) -> None:
        import psutil

        before = psutil.Process().memory_info().rss
        started = time.perf_counter()
        engine = None
        for event in opener(self.registry, slot.entry, self.config.device, cancel):
            if isinstance(event, Done):
                engine = event.result
        grown = max(0, psutil.Process().memory_info().rss - before)
        slot.size_bytes = max(slot.entry.size_bytes or 0, grown)
        slot.engine = engine
        log.info("loaded %s in %.1f s (%.0f MB)", slot.entry.name, time.perf_counter() - started,
                 slot.size_bytes / MB)

    def _make_room(self, keep: str, need: int) -> None:
        """Unload idle models other than ``keep``, least recently used first, until what is
        loaded plus ``need`` bytes fits the budget."""
        idle = sorted((s for s in self._slots.values()
                       if s.engine is not None and s.gate.idle and s.entry.id != keep),
                      key=lambda s: s.last_used)
        used = sum(s.size_bytes for s in self._slots.values() if s.engine is not None)
        for slot in idle:
            if used + need <= self.budget_bytes:
                break
            used -= slot.size_bytes
            self.unload(slot.entry.id)

    def unload(self, model_id: str) -> bool:
        """Unload an idle model (its engine is closed on a thread). False when it is in use."""
        slot = self._slots.get(model_id)
        if slot is None or slot.engine is None or not slot.gate.idle:
            return False
        engine, slot.engine = slot.engine, None
        del self._slots[model_id]
        log.info("unloading %s (memory budget)", slot.entry.name)
        thread = threading.Thread(target=close_engine, args=(engine,), name="serve-unload")
        thread.start()
        self._closing.append(thread)
        return True

    # ---- start and stop ----------------------------------------------------------------------
    def preload(self, models: tuple[str, ...]) -> list[str]:
        """Load ``models`` now (blocking; before the server takes requests). Their names."""
        names = []
        for model in models:
            entry = next((e for e in self.servable()
                          if self.config.aliases.get(model, model) in (e.id, e.name, e.hub_id)),
                         None)
            if entry is None:
                raise model_not_found(model)
            slot = self._slots.setdefault(entry.id, Slot(entry, Gate(
                entry.name, self.config.queue_size, self.config.retry_after_s)))
            if slot.engine is None:
                self._load(slot, CancelToken())
            names.append(entry.name)
        return names

    def close(self) -> None:
        """Unload everything (the server has stopped: no request holds a model)."""
        for slot in list(self._slots.values()):
            engine, slot.engine = slot.engine, None
            if engine is not None:
                close_engine(engine)
        self._slots.clear()
        for thread in self._closing:
            thread.join()
        self._closing.clear()
