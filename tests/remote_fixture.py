"""A small, real OpenAI-compatible server for the endpoint tests: FastAPI on uvicorn, on a free
loopback port, streaming replies that the bundled SmolLM2 GGUF generates through our own llama.cpp
engine (core.chat.open_chat): nothing is canned, so a broken client or engine fails the tests.

    with ChatServer(registry, api_key="sk-test") as server:
        server.url            # http://127.0.0.1:PORT/v1
        server.model          # the model id it serves ("smollm2")
        server.replies        # one Served per chat request, filled as generation ends

It answers ``GET /v1/models`` and ``POST /v1/chat/completions`` (stream or not) with OpenAI's
shapes, including its error object (401 without the key, 404 for another model). A client that
hangs up ends its generation: the engine's cancel token is set. ``first_token_delay`` makes it
think before the first token (the server still sees a hang-up meanwhile); ``strict`` makes it
refuse fields OpenAI's own API does not have (top_k, repetition_penalty) with a 400, as OpenAI
does. The lead may swap this for core/server once that lands: the tests use ``url``, ``model``,
``engine``, ``replies`` and ``bodies``, and the options above.
"""
from __future__ import annotations

import asyncio
import json
import queue
import socket
import threading
import time
from dataclasses import dataclass

from fastapi import Request  # at module level: FastAPI reads the handlers' annotations here

from core.cancel import CancelToken
from core.events import Done

MODEL = "smollm2"


@dataclass
class Served:
    tokens: int
    stopped: bool
    ended_at: float


def _error(status: int, message: str, kind: str, code: str | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}},
                        status_code=status)


class ChatServer:
    def __init__(self, registry, *, model_id: str = "smollm2-135m-instruct", model: str = MODEL,
                 api_key: str | None = None, first_token_delay: float = 0.0,
                 strict: bool = False) -> None:
        self.registry = registry
        self.model_id = model_id
        self.model = model
        self.api_key = api_key
        self.first_token_delay = first_token_delay
        self.strict = strict
        self.bodies: list[dict] = []  # every chat request's body, as it came
        self.replies: list[Served] = []
        self.engine = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    # ---- life ------------------------------------------------------------------------------
    def __enter__(self) -> ChatServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        import uvicorn

        from core.chat import open_chat

        events = list(open_chat(self.registry, self.model_id, "cpu", CancelToken()))
        assert isinstance(events[-1], Done)
        self.engine = events[-1].result
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="chat-fixture-server", daemon=False)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fixture server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
        for worker in self._workers:
            worker.join(15)
        if self.engine is not None:
            self.engine.close()
        if self._sock is not None:
            self._sock.close()

    def wait_idle(self, count: int, timeout: float = 5.0) -> Served:
        """The ``count``-th reply once its generation has ended."""
        deadline = time.monotonic() + timeout
        while len(self.replies) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the server's reply #{count} did not end in {timeout} s")
            time.sleep(0.01)
        return self.replies[count - 1]

    # ---- the API ---------------------------------------------------------------------------
    def app(self):
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse, StreamingResponse

        app = FastAPI()

        def refused(request: Request):
            if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error(401, "Incorrect API key provided.", "invalid_request_error",
                              "invalid_api_key")
            return None

        @app.get("/v1/models")
        async def models(request: Request):
            return refused(request) or JSONResponse({"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "workbench"}]})

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            if (no := refused(request)) is not None:
                return no
            body = await request.json()
            self.bodies.append(body)
            unknown = sorted({"top_k", "repetition_penalty"} & set(body))
            if self.strict and unknown:
                return _error(400, f"Unrecognized request argument supplied: {unknown[0]}",
                              "invalid_request_error")
            if body.get("model") != self.model:
                return _error(404, f"The model '{body.get('model')}' does not exist.",
                              "invalid_request_error", "model_not_found")
            chat_request = self._request(body)
            cancel = CancelToken()
            items: queue.SimpleQueue = queue.SimpleQueue()
            worker = threading.Thread(target=self._generate, args=(chat_request, cancel, items),
                                      name="chat-fixture-generate", daemon=False)
            self._workers.append(worker)
            worker.start()
            made = int(time.time())

            def chunk(delta: dict, finish: str | None = None) -> str:
                return "data: " + json.dumps({
                    "id": "chatcmpl-fixture", "object": "chat.completion.chunk", "created": made,
                    "model": self.model, "choices": [{"index": 0, "delta": delta,
                                                      "finish_reason": finish}]}) + "\n\n"

            async def events():
                try:
                    yield chunk({"role": "assistant", "content": ""})
                    while True:
                        kind, value = await asyncio.to_thread(items.get)
                        if kind == "token":
                            yield chunk({"content": value})
                        elif kind == "done":
                            yield chunk({}, "length" if value.tokens >= chat_request.settings
                                        .max_new_tokens else "stop")
                            yield "data: [DONE]\n\n"
                            return
                        else:
                            yield "data: " + json.dumps({"error": {"message": str(value)}}) + "\n\n"
                            return
                finally:
                    cancel.cancel()  # the client hung up, or the reply ended

            if body.get("stream"):
                return StreamingResponse(events(), media_type="text/event-stream")
            text = []
            async for item in events():
                if item.startswith("data: {"):
                    delta = json.loads(item[6:])["choices"][0]["delta"]
                    text.append(delta.get("content", "") or "")
            return JSONResponse({"id": "chatcmpl-fixture", "object": "chat.completion",
                                 "created": made, "model": self.model, "choices": [{
                                     "index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": "".join(text)}}]})

        return app

    def _request(self, body: dict):
        from core.chat import ChatRequest, GenerationSettings

        messages = [m for m in body.get("messages", []) if m.get("role") in ("user", "assistant")]
        system = "\n".join(m["content"] for m in body.get("messages", []) if m.get("role") == "system")
        temperature = body.get("temperature", 1.0)
        settings = GenerationSettings(
            decoding="greedy" if temperature == 0 else "sampling",
            temperature=temperature or 0.0, top_p=body.get("top_p", 1.0),
            top_k=body.get("top_k", 0), repetition_penalty=body.get("repetition_penalty", 1.0),
            max_new_tokens=body.get("max_tokens") or 256, seed=body.get("seed"))
        return ChatRequest(tuple({"role": m["role"], "content": m["content"]} for m in messages),
                           system, settings)

    def _generate(self, request, cancel: CancelToken, items: queue.SimpleQueue) -> None:
        from core.chat import Token

        try:
            if self.first_token_delay and cancel.wait(self.first_token_delay):
                self.replies.append(Served(0, True, time.monotonic()))
                items.put(("done", Served(0, True, time.monotonic())))
                return
            for ev in self.engine.stream(request, cancel):
                if isinstance(ev, Token):
                    items.put(("token", ev.text))
                elif isinstance(ev, Done):
                    served = Served(ev.result.tokens, ev.result.stopped, time.monotonic())
                    self.replies.append(served)
                    items.put(("done", served))
        except Exception as exc:  # handed to the client as an error event
            self.replies.append(Served(0, True, time.monotonic()))
            items.put(("error", exc))
