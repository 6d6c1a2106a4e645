"""Chat request options: the decoding settings (their defaults live here once: the panel and the
CLI read them) and the request an engine answers."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace

from core.errors import BadInput

DEFAULT_CHAT_MODEL = "smollm2-135m-instruct"
DECODING = ("greedy", "sampling", "beam")


@dataclass(frozen=True)
class GenerationSettings:
    decoding: str = "sampling"
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.0
    max_new_tokens: int = 256
    seed: int | None = None
    num_beams: int = 4

    def validate(self) -> GenerationSettings:
        if self.decoding not in DECODING:
            raise BadInput(f"Unknown decoding '{self.decoding}'.", hint="Use greedy, sampling or beam.")
        checks = [
            (self.temperature >= 0, "Temperature must be 0 or more."),
            (0 < self.top_p <= 1, "Top-p must be above 0 and at most 1."),
            (self.top_k >= 0, "Top-k must be 0 (off) or more."),
            (self.repetition_penalty > 0, "Repetition penalty must be above 0."),
            (1 <= self.max_new_tokens <= 32768, "Max new tokens must be between 1 and 32768."),
            (1 <= self.num_beams <= 16, "Beams must be between 1 and 16."),
        ]
        for ok, message in checks:
            if not ok:
                raise BadInput(message)
        if self.decoding == "sampling" and self.temperature == 0:
            return replace(self, decoding="greedy")  # temperature 0 means greedy
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> GenerationSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})

    @property
    def streams(self) -> bool:
        return self.decoding != "beam"


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[dict, ...]  # {"role": "user"|"assistant", "content": str}, oldest first
    system_prompt: str = ""
    settings: GenerationSettings = field(default_factory=GenerationSettings)

    def validate(self) -> None:
        if not self.messages or self.messages[-1].get("role") != "user":
            raise BadInput("There is no message to answer.")
        if not str(self.messages[-1].get("content", "")).strip():
            raise BadInput("The message is empty.", hint="Type something to send.")
        self.settings.validate()


def fit_prompt(request: ChatRequest, context: int,
               encode: Callable[[str, list[dict]], list[int]]) -> tuple[list[int], int]:
    """Prompt ids for ``request`` that leave room for its new tokens in ``context``, and how many
    old messages were dropped for that (the oldest turns go; the system prompt stays). Both chat
    engines fit their prompts here, each with its own ``encode(system_prompt, messages)``."""
    budget = context - request.settings.max_new_tokens
    messages = list(request.messages)
    dropped = 0
    ids = encode(request.system_prompt, messages)
    while len(ids) > budget and len(messages) > 1:
        # drop the oldest turn (a user message and the reply to it)
        cut = 2 if len(messages) > 2 and messages[1]["role"] == "assistant" else 1
        messages = messages[cut:]
        dropped += cut
        ids = encode(request.system_prompt, messages)
    if len(ids) > budget:
        raise BadInput(
            f"The message is too long for this model: {len(ids)} tokens, but "
            f"{context} minus {request.settings.max_new_tokens} new tokens leaves "
            f"{max(budget, 0)}.", hint="Shorten it, or lower Max new tokens.")
    return ids, dropped
