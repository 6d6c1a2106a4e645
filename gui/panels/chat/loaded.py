"""The page's model: the default loader (registry id to a chat engine), the loaded line, and the
picked model's sampling defaults."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from core.cancel import CancelToken
from core.chat import ModelDefaults, model_defaults
from core.events import Event
from gui.context import AppContext

EngineLoader = Callable[[str, str, CancelToken], Iterator[Event]]


def default_loader(ctx: AppContext) -> EngineLoader:
    def load(model_id: str, device: str, cancel: CancelToken,
             options: int | None = None) -> Iterator[Event]:
        """``options``: the context cap the page asks for (None: the model's own)."""
        from core.chat import open_chat

        return open_chat(ctx.registry, model_id, device, cancel, max_context=options)

    return load


def describe_engine(engine) -> str:
    """The loaded line: "SmolLM2 · loaded in 0.2 s · llama.cpp · Q4_1 · 98 MB · CPU · context
    8192"."""
    info = engine.info
    return (f"{info.name} · loaded in {info.seconds:.1f} s · {info.line()}"
            + ("" if info.has_chat_template else " · no chat template: plain completion"))


def runs_on_llama(engine) -> bool:
    return getattr(engine, "engine", "") == "llama.cpp"


def picks_llama(box, session) -> bool:
    """Whether the picked model runs on llama.cpp (no beam search there): the loaded one says
    which engine it runs on; a picked one not loaded yet does when it is a GGUF."""
    from core.models.registry import Format

    model_id = box.current_id()
    if session.model is not None and session.model_id == model_id:
        return runs_on_llama(session.model)
    entry = next((e for e in box.entries if e.id == model_id), None)
    return entry is not None and entry.format is Format.GGUF


def picked_defaults(box, session) -> ModelDefaults:
    """The sampling defaults of the model picked in ``box`` (core.chat.model_defaults: the same
    the CLI uses): the loaded engine's path when it is loaded, else its registry entry's; before
    the first scan a bundled pack is found by itself."""
    model_id = box.current_id()
    if session.model is not None and session.model_id == model_id:
        return model_defaults(session.model.info.path)
    entry = next((e for e in box.entries if e.id == model_id), None)
    if entry is not None:
        return model_defaults(entry.load_path)
    from core.models.catalog import PACKS, find_pack

    spec = next((p for p in PACKS if p.id == model_id), None)
    folder = find_pack(spec.package) if spec else None
    return model_defaults(folder / spec.relpath if folder else None)
