"""The page's queue: one QueueItem per file (its status, duration, transcript, running job) and
the table that shows them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
)

if TYPE_CHECKING:
    from core.transcribe import SavedSummary, Segment, TranscribeOptions, Transcript
    from gui.jobs import Job

QUEUE_COLUMNS = ("File", "Duration", "Status", "Progress", "RTF", "Language")
FINISHED = ("Done", "Failed", "Cancelled")
BAR_RANGE = 1000


def clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:05.2f}" if h else f"{m:02d}:{s:05.2f}"


def language_text(transcript: Transcript | None) -> str:
    """'es (98%)' for a detected language, 'es' for one that was given."""
    if transcript is None or not transcript.language:
        return ""
    p = transcript.language_probability
    return transcript.language + (f" ({p:.0%})" if p is not None else "")


@dataclass
class QueueItem:
    path: str
    status: str = "Queued"
    duration: float | None = None
    transcript: Transcript | None = None
    segments: list[Segment] | None = None  # live segments while running
    job: Job | None = None
    error: str = ""
    options: TranscribeOptions | None = None  # what it runs with, fixed when it starts
    saved: str | None = None  # the transcript JSON kept in the data folder (kept.py)
    summary: SavedSummary | None = None  # its summary (summary.py), kept in that JSON

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def name(self) -> str:
        return Path(self.path).name


class QueueTable(QTableWidget):
    """One row per QueueItem: name, duration, status (with the error), a progress bar, RTF."""

    def __init__(self) -> None:
        super().__init__(0, len(QUEUE_COLUMNS))
        self.setHorizontalHeaderLabels(QUEUE_COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        for c in (1, 3, 4, 5):
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Interactive)
        self.setColumnWidth(2, 260)

    def add(self, item: QueueItem) -> int:
        row = self.rowCount()
        self.insertRow(row)
        name = QTableWidgetItem(item.name)
        name.setToolTip(item.path)
        self.setItem(row, 0, name)
        for c in (1, 2, 4, 5):
            self.setItem(row, c, QTableWidgetItem(""))
        bar = QProgressBar()
        bar.setRange(0, BAR_RANGE)
        bar.setValue(0)
        bar.setFormat("%p%")
        self.setCellWidget(row, 3, bar)
        self.show_item(row, item)
        return row

    def show_item(self, row: int, item: QueueItem) -> None:
        self.item(row, 1).setText(clock(item.duration) if item.duration else "")
        status = item.status if not item.error else f"{item.status}: {item.error}"
        cell = self.item(row, 2)
        cell.setText(status)
        cell.setToolTip(status)
        cell.setForeground(Qt.darkRed if item.status == "Failed" else Qt.black)
        rtf = item.transcript.rtf if item.transcript else None
        self.item(row, 4).setText(f"{rtf:.3f}" if rtf is not None else "")
        self.item(row, 5).setText(language_text(item.transcript))
        if item.status == "Done":
            self.set_fraction(row, 1.0)

    def set_fraction(self, row: int, fraction: float) -> None:
        self.cellWidget(row, 3).setValue(int(fraction * BAR_RANGE))
