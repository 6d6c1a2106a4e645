"""One way to show a core Progress event on a QProgressBar (busy bar when the total is unknown)."""
from __future__ import annotations

from PySide6.QtWidgets import QProgressBar

from core.events import Progress


def show_progress(bar: QProgressBar, ev: Progress, fmt: str | None = None) -> None:
    """``fmt`` is QProgressBar's format ("%p%" is the percentage); default: the stage's name."""
    frac = ev.fraction
    if frac is None:
        bar.setRange(0, 0)
    else:
        bar.setRange(0, 1000)
        bar.setValue(int(frac * 1000))
    bar.setFormat(fmt if fmt is not None else f"{ev.stage}  %p%" if frac is not None else ev.stage)
