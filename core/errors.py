"""Typed errors. Each carries a sentence a user can act on; ``gui`` and the CLI show it as is."""
from __future__ import annotations


class WorkbenchError(Exception):
    """Base of every error the app expects and can explain."""

    title = "Something went wrong"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(f"{message} {hint}".strip())
        self.message = message
        self.hint = hint

    def user_message(self) -> str:
        return f"{self.message} {self.hint}".strip()


class BadInput(WorkbenchError):
    title = "Bad input"


class ModelUnavailable(WorkbenchError):
    title = "Model unavailable"


class HubUnreachable(ModelUnavailable):
    title = "Hugging Face Hub unreachable"


class DeviceUnavailable(WorkbenchError):
    title = "Device unavailable"


class OutOfMemory(WorkbenchError):
    title = "Out of memory"


class Cancelled(WorkbenchError):
    title = "Cancelled"

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


def describe(exc: BaseException) -> tuple[str, str]:
    """(title, sentence) for any exception, typed or not."""
    if isinstance(exc, WorkbenchError):
        return exc.title, exc.user_message()
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return OutOfMemory.title, (
            "The machine ran out of memory. Close other programs, pick a smaller model, "
            "or lower the batch size / maximum length."
        )
    if isinstance(exc, FileNotFoundError):
        return BadInput.title, f"File not found: {exc.filename or exc}"
    if isinstance(exc, PermissionError):
        return BadInput.title, f"Permission denied: {exc.filename or exc}"
    text = str(exc) or exc.__class__.__name__
    return "Unexpected error", f"{exc.__class__.__name__}: {text}"
