"""What a fine-tune run reports: its events (TrainProgress, LossPoint) and its result."""
from __future__ import annotations

from dataclasses import dataclass

from core.events import Event


@dataclass(frozen=True)
class TrainProgress(Event):
    step: int
    max_steps: int
    epoch: float
    elapsed_s: float
    eta_s: float | None
    samples_per_s: float | None

    coalescable = True

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.max_steps) if self.max_steps else 0.0


@dataclass(frozen=True)
class LossPoint(Event):
    step: int
    loss: float
    split: str  # "train" | "eval"
    learning_rate: float | None = None


@dataclass(frozen=True)
class RunResult:
    name: str
    path: str  # the published model folder ("" when stopped)
    metrics: dict
    entry_id: str  # registry id of the published model ("" when stopped)
    stopped: bool
    checkpoint: str | None
    warnings: tuple[str, ...] = ()  # e.g. the training loss did not go down
