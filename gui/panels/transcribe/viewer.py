"""The transcript viewer: the shown file's segments (live while it runs), a search that hides
the others, editing a segment's text, and the copy / playback / export buttons."""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.transcribe import FORMATS, Segment
from gui.panels.transcribe.queue import QueueItem, clock

SEGMENT_COLUMNS = ("Start", "End", "Text")


class TranscriptViewer(QWidget):
    play_requested = Signal(object)  # Segment: a time cell was clicked

    def __init__(self) -> None:
        super().__init__()
        self.item: QueueItem | None = None
        self.title = QLabel("Select a file to see its transcript.")
        self.title.setObjectName("viewerTitle")
        self.search = QLineEdit(placeholderText="Search the transcript…")
        self.search.setClearButtonEnabled(True)
        self.table = QTableWidget(0, len(SEGMENT_COLUMNS))
        self.table.setHorizontalHeaderLabels(SEGMENT_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked |
                                   QAbstractItemView.EditKeyPressed)
        self.table.setToolTip("Click a segment to play it; double-click its text to edit.")
        self.copy_button = QPushButton("Copy all")
        self.stop_play_button = QPushButton("■ Stop playback")
        self.stop_play_button.setEnabled(False)  # only while a segment plays
        self.export_buttons = {fmt: QPushButton(fmt.upper()) for fmt in FORMATS}
        self.export_folder_button = QPushButton("Export folder…")
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.search)
        bar = QHBoxLayout()
        bar.addWidget(self.copy_button)
        bar.addWidget(self.stop_play_button)
        bar.addStretch(1)
        bar.addWidget(QLabel("Export"))
        for b in self.export_buttons.values():
            bar.addWidget(b)
        bar.addWidget(self.export_folder_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addLayout(bar)
        self.search.textChanged.connect(self.filter)
        self.table.itemChanged.connect(self._on_edited)
        self.table.cellClicked.connect(self._on_clicked)
        self.set_has_text(False)

    def set_has_text(self, has_text: bool) -> None:
        for b in (*self.export_buttons.values(), self.copy_button):
            b.setEnabled(has_text)

    @staticmethod
    def segments_of(item: QueueItem) -> list[Segment]:
        return item.transcript.segments if item.transcript else (item.segments or [])

    def show_item(self, item: QueueItem | None) -> None:
        self.item = item
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        self.table.blockSignals(False)
        if item is None:
            self.title.setText("Select a file to see its transcript.")
            self.set_has_text(False)
            return
        if item.transcript:
            t = item.transcript
            model = t.model.replace("\\", "/").rsplit("/", 1)[-1]
            self.title.setText(f"{item.name} · {clock(t.duration)} · {len(t.segments)} segments"
                               f" · {t.engine} {model} · RTF {t.rtf:.3f}")
        elif item.status == "Failed":
            self.title.setText(f"{item.name}: {item.error}")
        else:
            self.title.setText(f"{item.name} · {item.status}")
        for i, seg in enumerate(self.segments_of(item)):
            self.append(i, seg)
        self.filter()
        self.set_has_text(item.transcript is not None)

    def append(self, i: int, seg: Segment) -> None:
        blocked = self.table.blockSignals(True)
        self.table.insertRow(i)
        for c, text in enumerate((clock(seg.start), clock(seg.end), seg.text.strip())):
            cell = QTableWidgetItem(text)
            if c < 2:
                cell.setFlags(cell.flags() & ~Qt.ItemIsEditable)
                cell.setForeground(Qt.darkBlue)
            self.table.setItem(i, c, cell)
        self.table.blockSignals(blocked)
        needle = self.search.text().strip().lower()
        self.table.setRowHidden(i, bool(needle) and needle not in seg.text.lower())

    def filter(self) -> None:
        needle = self.search.text().strip().lower()
        for r in range(self.table.rowCount()):
            text = self.table.item(r, 2).text().lower()
            self.table.setRowHidden(r, bool(needle) and needle not in text)

    def _on_edited(self, cell: QTableWidgetItem) -> None:
        item = self.item
        if item is None or item.transcript is None or cell.column() != 2:
            return
        segs = item.transcript.segments
        if 0 <= cell.row() < len(segs):
            segs[cell.row()] = replace(segs[cell.row()], text=cell.text())

    def _on_clicked(self, row: int, column: int) -> None:
        if column == 2 or self.item is None:
            return  # the text column is for editing
        segs = self.segments_of(self.item)
        if 0 <= row < len(segs):
            self.play_requested.emit(segs[row])
