"""The transcript viewer: the shown file's segments (live while it runs, with the tentative tail
of live mode marked), a search that hides the others, editing a segment's text, the copy /
playback / export buttons and the subtitle settings (SubtitleOptions) exports use."""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.transcribe import FORMATS, Segment, SubtitleOptions
from gui.panels.transcribe.queue import QueueItem, clock

SEGMENT_COLUMNS = ("Start", "End", "Text")
TENTATIVE = "  … (still listening)"


class SubtitleBox(QWidget):
    """Characters per line, lines per cue, longest cue and punctuation splitting for SRT / VTT."""

    def __init__(self) -> None:
        super().__init__()
        d = SubtitleOptions()
        self.chars = QSpinBox(minimum=8, maximum=200, value=d.max_chars, suffix=" chars")
        self.lines = QSpinBox(minimum=1, maximum=5, value=d.max_lines, suffix=" lines")
        self.seconds = QDoubleSpinBox(minimum=0.5, maximum=60, value=d.max_duration,
                                      singleStep=0.5, suffix=" s")
        self.punctuation = QCheckBox("split at punctuation")
        self.punctuation.setChecked(d.split_on_punctuation)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Subtitles"))
        for w in (self.chars, self.lines, self.seconds, self.punctuation):
            lay.addWidget(w)
        self.setToolTip("SRT and VTT cues: at most this many characters per line and lines per "
                        "cue, at most this long, built from word timings.")

    def options(self) -> SubtitleOptions:
        return SubtitleOptions(self.chars.value(), self.lines.value(), self.seconds.value(),
                               self.punctuation.isChecked())

    def bind(self, settings) -> None:
        """Show the saved settings, and save every change."""
        d, key = SubtitleOptions(), "transcribe/subtitles_{}".format
        self.chars.setValue(int(settings.get(key("chars")) or d.max_chars))
        self.lines.setValue(int(settings.get(key("lines")) or d.max_lines))
        self.seconds.setValue(float(settings.get(key("seconds")) or d.max_duration))
        self.punctuation.setChecked(settings.get(key("punctuation")) in (None, True, "true"))

        def save(*_):
            o = self.options()
            for name, value in (("chars", o.max_chars), ("lines", o.max_lines),
                                ("seconds", o.max_duration),
                                ("punctuation", "true" if o.split_on_punctuation else "false")):
                settings.set(key(name), value)

        for box in (self.chars, self.lines, self.seconds):
            box.valueChanged.connect(save)
        self.punctuation.toggled.connect(save)


class TranscriptViewer(QWidget):
    play_requested = Signal(object)  # Segment: a time cell was clicked
    edited = Signal(object)  # the QueueItem whose segment text the user changed

    def __init__(self) -> None:
        super().__init__()
        self.item: QueueItem | None = None
        self.title = QLabel("Select a file to see its transcript.")
        self.title.setObjectName("viewerTitle")
        self.search = QLineEdit(placeholderText="Search the transcript…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(160)  # a long title line does not squeeze it away
        self.title.setMinimumWidth(1)
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
        self.subtitles = SubtitleBox()
        self.tentative = False  # the last row is live mode's tentative tail
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.search)
        for b in (self.copy_button, self.stop_play_button, self.export_folder_button):
            b.setSizePolicy(QSizePolicy.Minimum, QSizePolicy.Fixed)  # never cut to "port folder"
        for b in self.export_buttons.values():  # three or four letters: no need for 75 px
            b.setMinimumWidth(b.fontMetrics().horizontalAdvance("JSON") + 20)
            b.setMaximumWidth(b.fontMetrics().horizontalAdvance("JSON") + 28)
        bar = QHBoxLayout()
        bar.addWidget(self.copy_button)
        bar.addWidget(self.stop_play_button)
        bar.addStretch(1)
        bar.addWidget(QLabel("Export"))
        for b in self.export_buttons.values():
            bar.addWidget(b)
        bar.addWidget(self.export_folder_button)
        bar2 = QHBoxLayout()
        bar2.addStretch(1)
        bar2.addWidget(self.subtitles)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addLayout(bar)
        lay.addLayout(bar2)
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
        self.tentative = False
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        self.table.blockSignals(False)
        if item is None:
            self.title.setText("Select a file to see its transcript.")
            self.set_has_text(False)
            return
        if item.transcript:
            from gui.panels.transcribe.queue import language_text

            t = item.transcript
            model = t.model.replace("\\", "/").rsplit("/", 1)[-1]
            lang = language_text(t)
            self.title.setText(f"{item.name} · {clock(t.duration)} · {len(t.segments)} segments"
                               f" · {t.engine} {model}" + (f" · {lang}" if lang else "")
                               + f" · RTF {t.rtf:.3f}")
        elif item.status == "Failed":
            self.title.setText(f"{item.name}: {item.error}")
        else:
            self.title.setText(f"{item.name} · {item.status}")
        for i, seg in enumerate(self.segments_of(item)):
            self.append(i, seg)
        self.filter()
        self.set_has_text(item.transcript is not None)

    def set_tentative(self, start: float | None, end: float = 0.0, text: str = "") -> None:
        """Show (or, with None, remove) live mode's tentative tail as a last, greyed row."""
        blocked = self.table.blockSignals(True)
        if self.tentative:
            self.table.removeRow(self.table.rowCount() - 1)
            self.tentative = False
        if start is not None:
            row = self.table.rowCount()
            self.table.insertRow(row)
            font = QFont()
            font.setItalic(True)
            for c, value in enumerate((clock(start), clock(end), text.strip() + TENTATIVE)):
                cell = QTableWidgetItem(value)
                cell.setFlags(cell.flags() & ~Qt.ItemIsEditable)
                cell.setForeground(Qt.gray)
                cell.setFont(font)
                cell.setToolTip("Tentative: this text may still change.")
                self.table.setItem(row, c, cell)
            self.tentative = True
        self.table.blockSignals(blocked)

    def append(self, i: int, seg: Segment) -> None:
        if self.tentative:
            self.set_tentative(None)
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
        if 0 <= cell.row() < len(segs) and segs[cell.row()].text != cell.text():
            segs[cell.row()] = replace(segs[cell.row()], text=cell.text())
            self.edited.emit(item)

    def _on_clicked(self, row: int, column: int) -> None:
        if column == 2 or self.item is None:
            return  # the text column is for editing
        segs = self.segments_of(self.item)
        if 0 <= row < len(segs):
            self.play_requested.emit(segs[row])
