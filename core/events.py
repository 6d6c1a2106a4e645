"""Typed events that core generators yield to the GUI, the CLI and the tests."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Base class of every event a core generator yields."""


@dataclass(frozen=True)
class Progress(Event):
    """Work advanced. ``total`` is None when the amount of work is unknown."""

    stage: str
    done: float = 0.0
    total: float | None = None
    message: str = ""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))

    coalescable = True  # consumers may drop intermediate progress events


@dataclass(frozen=True)
class Log(Event):
    """A line of information for the user (shown in a status line, printed by the CLI)."""

    message: str


@dataclass(frozen=True)
class Done(Event):
    """The generator finished; ``result`` is what it produced."""

    result: Any = None
    summary: str = ""


@dataclass(frozen=True)
class Metric(Event):
    """A named figure (tokens/s, loss, WER, ...)."""

    name: str
    value: float
    step: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
