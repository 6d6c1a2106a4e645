"""From an OpenAI chat-completions body to the ChatRequest the chat engines answer, and the stop
sequences (which the engines do not know: the server cuts the reply at the first one).

``frequency_penalty`` (OpenAI, -2 to 2) maps onto the engines' multiplicative repetition penalty
as 1 + f/2 for f >= 0 and 1 / (1 - f/2) below 0; ``repetition_penalty`` (the vLLM / TGI spelling)
is taken as it is and wins when both are sent.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from core.chat import ChatRequest, GenerationSettings
from core.server.errors import ApiError

MAX_STOPS = 4


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict]
    stream: bool = False
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None
    n: int | None = None
    stream_options: dict | None = None


def _text(content, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text ones can be answered
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise ApiError(400, f"messages[{index}]: only text content is supported.",
                               param=f"messages[{index}].content")
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    if content is None:
        return ""
    raise ApiError(400, f"messages[{index}].content must be a string or a list of text parts.",
                   param=f"messages[{index}].content")


def repetition_penalty(body: ChatBody) -> float:
    if body.repetition_penalty is not None:
        return body.repetition_penalty
    f = body.frequency_penalty or 0.0
    if not -2.0 <= f <= 2.0:
        raise ApiError(400, "frequency_penalty must be between -2 and 2.", param="frequency_penalty")
    return 1.0 + f / 2 if f >= 0 else 1.0 / (1.0 - f / 2)


def stops(body: ChatBody) -> list[str]:
    found = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(found) > MAX_STOPS:
        raise ApiError(400, f"At most {MAX_STOPS} stop sequences.", param="stop")
    return [s for s in found if s]


def chat_request(body: ChatBody) -> ChatRequest:
    """The engines' request. BadInput from its validation becomes a 400 upstream."""
    if body.n not in (None, 1):
        raise ApiError(400, "Only n=1 is supported.", param="n")
    for name in ("tools", "functions", "logprobs", "response_format"):
        value = (body.model_extra or {}).get(name)
        if value and not (name == "response_format" and isinstance(value, dict)
                                    and value.get("type") == "text"):
            raise ApiError(400, f"'{name}' is not supported by this server.", param=name)
    system: list[str] = []
    turns: list[dict] = []
    for i, message in enumerate(body.messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            system.append(_text(message.get("content"), i))
        elif role in ("user", "assistant"):
            turns.append({"role": role, "content": _text(message.get("content"), i)})
        else:
            raise ApiError(400, f"messages[{i}].role must be system, developer, user or "
                                f"assistant (got {role!r}).", param=f"messages[{i}].role")
    d = GenerationSettings()  # the defaults live there once
    max_tokens = body.max_completion_tokens or body.max_tokens or d.max_new_tokens
    temperature = d.temperature if body.temperature is None else body.temperature
    settings = GenerationSettings(
        decoding="greedy" if temperature == 0 else "sampling", temperature=temperature,
        top_p=d.top_p if body.top_p is None else body.top_p, top_k=0,
        repetition_penalty=repetition_penalty(body), max_new_tokens=max_tokens,
        seed=body.seed)
    request = ChatRequest(tuple(turns), "\n\n".join(system), settings.validate())
    request.validate()
    return request


class StopText:
    """Cuts streamed text at the first stop sequence. ``feed`` returns what may be shown now: text
    that could still turn into a stop sequence is held back until the next piece decides."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.hit = False
        self._held = ""

    def feed(self, piece: str) -> str:
        if self.hit:
            return ""
        text = self._held + piece
        if not self.stops:
            return text
        cut = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.hit = True
            self._held = ""
            return text[:cut]
        hold = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(text)), hold, -1):
                if stop.startswith(text[-k:]):
                    hold = k
                    break
        self._held = text[len(text) - hold:] if hold else ""
        return text[:len(text) - hold]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self.hit else held
