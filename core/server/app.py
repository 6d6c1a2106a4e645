"""The ASGI application: routes (chat.py, routes.py, audio.py), the guard in front of them (API
key, body and upload size limits, counting) and OpenAI's error object for every failure.

``build_app(config, registry)`` returns the FastAPI app; ``app.state.server`` is its ServerState
(config, model pool, figures for the GUI switch)."""
from __future__ import annotations

import hmac
import json
import logging
import threading

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from core.errors import WorkbenchError
from core.models.entry import ModelEntry, Task
from core.server.config import ServerConfig
from core.server.errors import ApiError, error_body, from_exception
from core.server.pool import ModelPool

log = logging.getLogger("workbench.server")
DRAIN_LIMIT = 256 * 1024 * 1024  # an oversized body is read and dropped up to this, then cut off


class Stats:
    """Figures the GUI switch shows; written on the event loop, read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.served = 0
        self.failed = 0
        self.last_error = ""

    def count(self, status: int) -> None:
        with self._lock:
            self.served += 1
            if status >= 400:
                self.failed += 1

    def error(self, status: int, message: str) -> None:
        with self._lock:
            self.last_error = f"{status}: {message}"


class ServerState:
    def __init__(self, config: ServerConfig, registry) -> None:
        self.config = config
        self.registry = registry
        self.pool = ModelPool(registry, config)
        self.stats = Stats()

    async def servable(self) -> list[ModelEntry]:
        return await run_in_threadpool(self.pool.servable)

    async def resolve(self, model: str, task: Task) -> ModelEntry:
        return await run_in_threadpool(self.pool.resolve, model, task)


class TooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than this server accepts "
                              f"({limit / 1024 / 1024:g} MB).", code="request_too_large")


async def _send_error(send, error: ApiError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Pure ASGI (streams and disconnects pass through untouched): the API key (401), the body
    size (413: by Content-Length at once, else while it arrives), and the request count."""

    def __init__(self, app, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config, stats = self.state.config, self.state.stats
        headers = dict(scope.get("headers") or [])
        status = [500]
        started = [False]

        async def counted_send(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                started[0] = True
            await send(message)

        try:
            refused = self._refusal(headers, config)
            if refused is not None:
                stats.error(refused.status, refused.message)
                if isinstance(refused, TooLarge):
                    await _drain(receive)
                await _send_error(counted_send, refused)
                return
            limit = self._limit(headers, config)
            received = [0]

            async def limited_receive():
                message = await receive()
                if message["type"] == "http.request":
                    received[0] += len(message.get("body", b""))
                    if received[0] > limit:
                        raise TooLarge(limit)
                return message

            try:
                await self.app(scope, limited_receive, counted_send)
            except Exception as exc:
                if started[0]:
                    raise
                # answered here, not by Starlette's outermost handler, which re-raises after
                # answering: the server would then drop the client's kept-alive connection
                log.error("%s %s failed", scope.get("method"), scope.get("path"), exc_info=exc)
                error = from_exception(exc)
                stats.error(error.status, error.message)
                await _send_error(counted_send, error)
        finally:
            stats.count(status[0])

    @staticmethod
    def _limit(headers: dict, config: ServerConfig) -> int:
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        return config.max_upload_bytes if multipart else config.max_body_bytes

    def _refusal(self, headers: dict, config: ServerConfig) -> ApiError | None:
        if config.api_key:
            sent = headers.get(b"authorization", b"").decode("latin-1")
            if not hmac.compare_digest(sent.encode(), f"Bearer {config.api_key}".encode()):
                what = "No API key was sent" if not sent else "The API key is not valid"
                return ApiError(401, f"{what}: this server needs 'Authorization: Bearer KEY'.",
                                code="invalid_api_key")
        length = headers.get(b"content-length")
        limit = self._limit(headers, config)
        if length is not None and length.isdigit() and int(length) > limit:
            return TooLarge(limit)
        return None


async def _drain(receive) -> None:
    """Read an oversized body and drop it (up to DRAIN_LIMIT), so the client, still sending,
    reads the 413 instead of a reset connection."""
    total = 0
    while total < DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        total += len(message.get("body", b""))
        if not message.get("more_body"):
            return


def _error_response(request: Request, error: ApiError) -> JSONResponse:
    request.app.state.server.stats.error(error.status, error.message)
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "The request is not valid.", None
    first = errors[0]
    if first.get("type") == "json_invalid":
        why = str(first.get("ctx", {}).get("error", "")).strip()
        return f"The body is not valid JSON{f' ({why})' if why else ''}.", None
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    message = str(first.get("msg", "invalid"))
    if param is None:  # the body as a whole: none at all, or JSON that is not an object
        what = "has no body" if first.get("type") == "missing" else "body is not a JSON object"
        return (f"The request {what}: send a JSON object such as "
                '{"model": "...", "messages": [{"role": "user", "content": "Hi"}]}.'), None
    if first.get("type") == "missing":
        return f"'{param}' is required.", param
    return (f"'{param}': {message}." if param else f"{message}."), param


def build_app(config: ServerConfig, registry) -> FastAPI:
    from core.server import audio, chat, routes

    state = ServerState(config.validate(), registry)
    middleware = []
    if config.cors:
        from starlette.middleware.cors import CORSMiddleware

        middleware.append(Middleware(CORSMiddleware, allow_origins=list(config.cors),
                                     allow_methods=["GET", "POST", "OPTIONS"],
                                     allow_headers=["Authorization", "Content-Type"]))
    middleware.append(Middleware(Guard, state=state))
    app = FastAPI(title="LLM Workbench", docs_url=None, redoc_url=None, openapi_url=None,
                  middleware=middleware)
    app.state.server = state
    app.include_router(routes.router)
    app.include_router(chat.router)
    app.include_router(audio.router)

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError):
        return _error_response(request, exc)

    @app.exception_handler(WorkbenchError)
    async def on_core_error(request: Request, exc: WorkbenchError):
        return _error_response(request, from_exception(exc))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError):
        message, param = _validation_message(exc)
        return _error_response(request, ApiError(400, message, param=param))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException):
        if exc.status_code == 404:
            message = f"There is no endpoint {request.method} {request.url.path}."
        else:
            message = str(exc.detail)
        return _error_response(request, ApiError(exc.status_code, message, code=None))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        error = from_exception(exc)
        request.app.state.server.stats.error(error.status, error.message)
        return JSONResponse(error_body(error.message, error.type, error.code), error.status)

    return app
