"""The page's model: the default loader (registry id to a chat engine) and the loaded line."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from core.cancel import CancelToken
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
