"""Chat on a remote OpenAI-compatible endpoint (vLLM, TGI, llama.cpp's server, Ollama, LM Studio,
our own server), streamed over server-sent events with the ``openai`` client.

``open_remote(registry, entry, cancel)`` checks that the endpoint answers and serves the model
(``GET /v1/models``): Progress, then Done(RemoteEngine). ``engine.stream(request, cancel)`` answers
the same ChatRequest with the same events as the local engines: Token as text arrives, then
Done(ReplyStats) with the tokens, tok/s and time to first token. The settings map to the API's
fields: max_tokens, temperature (0 for greedy), top_p, seed, and top_k and repetition_penalty as
the extra fields vLLM, llama.cpp and our server accept (a server that refuses them is asked again
without them, and from then on never sent them). Beam search is refused. Stop is checked before
each streamed chunk and also hangs up the connection at once (a watcher shuts its socket), so a
reply stops within one token even while the server is still thinking, and the server sees the
client go. Failures are typed (endpoint_api.py): unreachable or timed out, key refused, no such
model; each names the URL and none holds the key.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from core.cancel import CancelToken
from core.chat.engine import LoadedInfo, ReplyStats, Token
from core.chat.settings import ChatRequest, GenerationSettings
from core.errors import BadInput, ModelUnavailable
from core.events import Done, Event, Progress
from core.models.endpoint_api import (
    EndpointModelMissing,
    Target,
    list_models,
    make_client,
    no_key,
    translate,
)

ENGINE_NAME = "endpoint"
HANGUP_POLL_S = 0.02  # how often the watcher looks at the cancel token
BEAM_REFUSED = "Beam search needs the transformers engine; an endpoint streams greedy or sampled text."


@dataclass(frozen=True)
class RemoteInfo(LoadedInfo):
    endpoint: str = ""
    model: str = ""

    def line(self) -> str:
        """"endpoint · NAME · MODEL"."""
        return f"{ENGINE_NAME} · {self.endpoint} · {self.model}"


def api_fields(settings: GenerationSettings, plain: bool = False) -> dict[str, Any]:
    """The chat completions fields for ``settings``; ``plain``: OpenAI's own fields only."""
    fields: dict[str, Any] = {"max_tokens": settings.max_new_tokens}
    extra: dict[str, Any] = {}
    if settings.decoding == "greedy":
        fields["temperature"] = 0.0
    else:
        fields.update(temperature=settings.temperature, top_p=settings.top_p)
        if settings.top_k:
            extra["top_k"] = settings.top_k
    if settings.seed is not None:
        fields["seed"] = settings.seed
    if settings.repetition_penalty != 1.0:
        extra["repetition_penalty"] = settings.repetition_penalty
    if extra and not plain:
        fields["extra_body"] = extra
    return fields


def _socket_of(response: Any) -> socket.socket | None:
    """The socket under an httpx response, when the transport says which."""
    try:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
    except Exception:
        return None
    return sock if isinstance(sock, socket.socket) else None


class _Hangup:
    """Shuts the response's socket as soon as ``stop()`` is true: a read blocked on a slow server
    returns at once. Not a daemon: ``done()`` ends it and waits for it."""

    def __init__(self, response: Any, stop: Callable[[], bool]) -> None:
        self._sock = _socket_of(response)
        self._stop = stop
        self._ended = threading.Event()
        self._thread = None
        if self._sock is not None:
            self._thread = threading.Thread(target=self._run, name="endpoint-hangup", daemon=False)
            self._thread.start()

    def _run(self) -> None:
        while not self._ended.wait(HANGUP_POLL_S):
            if self._stop():
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # already closed
                    pass
                return

    def done(self) -> None:
        self._ended.set()
        if self._thread is not None:
            self._thread.join()


class RemoteEngine:
    """One model on one endpoint. Its lock lets one reply run at a time, whoever asks; ``close()``
    ends a reply in progress (its connection is closed) and the client."""

    engine = ENGINE_NAME

    def __init__(self, target: Target, model: str, info: RemoteInfo) -> None:
        self.target = target
        self.model = model
        self.info = info
        self._client = make_client(target)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._plain = False  # the server refused top_k / repetition_penalty

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    def close(self, timeout: float | None = None) -> bool:
        self._closing.set()
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            self._client.close()
        finally:
            self._lock.release()
        return True

    @classmethod
    def connect(cls, target: Target, model: str, cancel: CancelToken | None = None,
                served: list[str] | None = None) -> Iterator[Event]:
        """Progress, then Done(RemoteEngine). ``served``: the endpoint's models when the caller
        has just listed them (else they are listed here); a server without a model list is
        taken at its word."""
        cancel = cancel or CancelToken()
        name = f"{target.name}/{model}"
        started = time.perf_counter()
        yield Progress("Asking the endpoint", 0, 1, name)
        if served is None:
            try:
                served = list_models(target)
            except EndpointModelMissing:  # no /v1/models here: the chat request will tell
                served = [model]
        cancel.raise_if_cancelled()
        if model not in served:
            shown = ", ".join(served[:12]) + (" …" if len(served) > 12 else "")
            raise EndpointModelMissing(
                f"The endpoint '{target.name}' ({target.url}) has no model '{model}'.",
                hint=f"It serves: {shown}." if served else "It serves no model now.")
        info = RemoteInfo(model, target.url, "remote", time.perf_counter() - started, 0, True,
                          engine=ENGINE_NAME, endpoint=target.name, model=model)
        engine = cls(target, model, info)
        yield Progress("Connected", 1, 1, name)
        yield Done(result=engine, summary=f"{model} answers on {target.name} ({target.url}).")

    # ---- generation --------------------------------------------------------------------------
    def _open(self, messages: list[dict], settings: GenerationSettings) -> Any:
        import openai

        try:
            return self._client.chat.completions.create(
                model=self.model, messages=messages, stream=True, **no_key(self.target),
                **api_fields(settings, self._plain))
        except openai.APIStatusError as exc:
            extras = api_fields(settings).get("extra_body")
            if exc.status_code not in (400, 422) or not extras or self._plain:
                raise translate(exc, self.target, self.model) from None
        except openai.OpenAIError as exc:
            raise translate(exc, self.target, self.model) from None
        self._plain = True  # a strict server: ask again with OpenAI's own fields
        try:
            return self._client.chat.completions.create(
                model=self.model, messages=messages, stream=True, **no_key(self.target),
                **api_fields(settings, True))
        except openai.OpenAIError as exc:
            raise translate(exc, self.target, self.model) from None

    def stream(self, request: ChatRequest, cancel: CancelToken) -> Iterator[Event]:
        if self.closed:
            raise ModelUnavailable("This endpoint model was closed.", hint="Load it again.")
        request.validate()
        settings = request.settings.validate()
        if settings.decoding == "beam":
            raise BadInput(BEAM_REFUSED, hint="Pick greedy or sampling.")
        messages = ([{"role": "system", "content": request.system_prompt}]
                    if request.system_prompt else [])
        messages += [{"role": m["role"], "content": m["content"]} for m in request.messages]

        def stopping() -> bool:
            return cancel.cancelled or self._closing.is_set()

        with self._lock:
            if self.closed:
                raise ModelUnavailable("This endpoint model was closed.", hint="Load it again.")
            started = time.perf_counter()
            reply = self._open(messages, settings)
            hangup = _Hangup(reply.response, stopping)
            parts: list[str] = []
            count, ttft, usage, stopped = 0, None, None, False
            try:
                for chunk in reply:
                    if stopping():
                        stopped = True
                        break
                    if getattr(chunk, "usage", None) is not None:
                        usage = chunk.usage
                    for choice in chunk.choices or ():
                        if choice.index != 0:
                            continue
                        text = getattr(choice.delta, "content", None)
                        if text:
                            if ttft is None:
                                ttft = time.perf_counter() - started
                            count += 1
                            parts.append(text)
                            yield Token(text)
                if stopping():
                    stopped = True
            except Exception as exc:
                if not stopping():
                    import openai

                    if isinstance(exc, openai.OpenAIError):
                        raise translate(exc, self.target, self.model) from None
                    raise
                stopped = True  # the hang-up ended the read
            finally:
                hangup.done()
                try:
                    reply.close()
                except Exception:  # the connection was shut already
                    pass
            elapsed = time.perf_counter() - started
        tokens = count
        prompt_tokens = 0
        if usage is not None and not stopped:
            tokens = usage.completion_tokens or count
            prompt_tokens = usage.prompt_tokens or 0
        yield Done(result=ReplyStats("".join(parts), tokens, elapsed, ttft, prompt_tokens,
                                     stopped or cancel.cancelled))


def open_remote(registry, entry, cancel: CancelToken) -> Iterator[Event]:
    """Open a registry entry of an endpoint's model (``NAME/MODEL``): Progress, Done(engine). An
    endpoint's note entry (``endpoint:NAME``) asks it again and says what it serves."""
    from core.models.endpoints import split_id

    name, model = split_id(entry.id)
    store = registry.endpoints
    endpoint = store.get(name)
    target = store.target(endpoint)
    try:
        served = store.models(endpoint, fresh=True)
    except EndpointModelMissing:
        served = None if model else []
    if model is None:
        shown = ", ".join(f"{name}/{m}" for m in (served or [])[:12])
        raise BadInput(f"Pick one of the endpoint's models: {shown}." if shown
                       else f"The endpoint '{name}' serves no model now.")
    yield from RemoteEngine.connect(target, model, cancel, served)
