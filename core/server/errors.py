"""OpenAI's error object for every failure, and which status code each typed error gets.

``{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}``: a client library that
speaks the OpenAI API raises its own typed error from it (NotFoundError for 404 and so on).
"""
from __future__ import annotations

from core.errors import (
    BadInput,
    Cancelled,
    DeviceUnavailable,
    HubUnreachable,
    ModelUnavailable,
    OutOfMemory,
    WorkbenchError,
)

INVALID = "invalid_request_error"


class ApiError(Exception):
    """An answer with an error status. ``headers`` go on the response (Retry-After, say)."""

    def __init__(self, status: int, message: str, *, type: str = INVALID,
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.message, self.type, self.code, self.param)


def error_body(message: str, type: str = INVALID, code: str | None = None,
               param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def model_not_found(model: str, hint: str = "") -> ApiError:
    text = f"The model '{model}' does not exist on this server."
    return ApiError(404, f"{text} {hint}".strip() if hint else
                    f"{text} GET /v1/models lists the ones it serves.",
                    code="model_not_found", param="model")


class Busy(ApiError):
    """The model's queue is full."""

    def __init__(self, model: str, waiting: int, retry_after_s: int) -> None:
        super().__init__(429, f"The model '{model}' has {waiting} request(s) waiting, as many as "
                              "this server queues. Try again shortly.",
                         type="rate_limit_error", code="queue_full",
                         headers={"Retry-After": str(retry_after_s)})


class TimedOut(ApiError):
    def __init__(self, seconds: float) -> None:
        super().__init__(504, f"The request took longer than this server's limit of "
                              f"{seconds:g} s and was stopped.", type="server_error",
                         code="timeout")


def from_exception(exc: BaseException) -> ApiError:
    """The answer for an exception raised by core: its sentence, with a fitting status."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, WorkbenchError):
        text = exc.user_message()
        if isinstance(exc, HubUnreachable):
            return ApiError(503, text, type="server_error", code="hub_unreachable")
        if isinstance(exc, ModelUnavailable):
            return ApiError(404 if text.startswith("No model called") else 503, text,
                            type=INVALID if text.startswith("No model") else "server_error",
                            code="model_not_found" if text.startswith("No model")
                            else "model_unavailable")
        if isinstance(exc, OutOfMemory):
            return ApiError(507, text, type="server_error", code="out_of_memory")
        if isinstance(exc, DeviceUnavailable):
            return ApiError(503, text, type="server_error", code="device_unavailable")
        if isinstance(exc, Cancelled):
            return ApiError(499, text, code="cancelled")
        if isinstance(exc, BadInput):
            return ApiError(400, text)
        return ApiError(400, text)
    return ApiError(500, f"Internal error ({exc.__class__.__name__}). The server's log has the "
                         "details.", type="server_error", code="internal_error")
