"""Models page: every model the app has, what each is for and which pages use it, with add, import
GGUF, convert and delete; Hub suggestions apart, downloaded on request."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.errors import WorkbenchError
from core.events import Done, Progress
from core.models.registry import SOURCE_LABELS, Format, ModelEntry, Source, Task
from gui.context import AppContext
from gui.jobs import Job
from gui.progress import show_progress
from gui.widgets.endpoint_dialog import open_endpoint_dialog
from gui.widgets.hub_suggestions import HubSuggestions, hub_online
from gui.widgets.model_facts import facts, human_size

COLUMNS = ("Name", "What it is for", "Used by", "Size on disk", "Trained from", "Result",
           "Source", "Format", "Location")
LOCATION = len(COLUMNS) - 1


class ModelsPanel(QWidget):
    """The table follows ``ctx.models.changed``; adding and removing are registry mutations in a
    worker (``ctx.models.change``); converting and downloading are long jobs with progress."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.entries: list[ModelEntry] = list(ctx.models.entries)
        self.job: Job | None = None  # the one long job (convert, download)
        self._select_after: str | None = None  # select this entry when the next list arrives

        title = QLabel("Models")
        title.setObjectName("pageTitle")
        subtitle = QLabel("The models on this computer, what each is for and which pages use it: "
                          "bundled offline packs, your folders and files, converted and trained "
                          "models. Models to download from the Hub are listed apart, below.")
        subtitle.setWordWrap(True)
        subtitle.setObjectName("subtitle")

        self.task_filter = QComboBox()
        self.task_filter.addItem("All tasks", None)
        for t in Task:
            self.task_filter.addItem(t.value, t.value)
        self.search = QLineEdit(placeholderText="Filter by name…")
        self.search.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("Refresh")

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.ElideMiddle)  # a long path keeps its start and its end
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(LOCATION, QHeaderView.Stretch)

        self.add_folder_button = QPushButton("Add folder…")
        self.add_file_button = QPushButton("Add file…")
        self.import_gguf_button = QPushButton("Import GGUF…")
        self.convert_button = QPushButton("Convert")
        self.add_endpoint_button = QPushButton("Add endpoint…")  # a remote OpenAI-compatible server
        self.import_gguf_button.setToolTip("List a .gguf file as a chat model; it runs on "
                                           "llama.cpp as it is, nothing is converted")
        self.convert_button.setToolTip("Convert the selected GGUF model to a safetensors folder "
                                       "once, for the transformers engine (fine-tuning on a GGUF "
                                       "does this by itself)")
        self.delete_button = QPushButton("Delete")
        self.hub_id = QLineEdit(placeholderText="Hub id, e.g. HuggingFaceTB/SmolLM2-360M-Instruct")
        self.download_button = QPushButton("Download")
        self.suggestions = HubSuggestions()

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.progress_row = QWidget()
        prow = QHBoxLayout(self.progress_row)
        prow.setContentsMargins(0, 0, 0, 0)
        prow.addWidget(self.progress_label)
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.cancel_button)
        self.progress_row.hide()

        top = QHBoxLayout()
        top.addWidget(QLabel("Task"))
        top.addWidget(self.task_filter)
        top.addWidget(self.search, 1)
        top.addWidget(self.refresh_button)
        actions = QHBoxLayout()
        for b in (self.add_folder_button, self.add_file_button, self.import_gguf_button,
                  self.add_endpoint_button, self.convert_button, self.delete_button):
            actions.addWidget(b)
        actions.addStretch(1)
        hub = QHBoxLayout()
        hub.addWidget(QLabel("Hugging Face Hub"))
        hub.addWidget(self.hub_id, 1)
        hub.addWidget(self.download_button)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 16)
        lay.addWidget(title)
        lay.addWidget(subtitle)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addLayout(actions)
        lay.addWidget(self.suggestions)
        lay.addLayout(hub)
        lay.addWidget(self.progress_row)

        saved = ctx.settings.get("models/task_filter", "")
        idx = self.task_filter.findData(saved or None)
        if idx >= 0:
            self.task_filter.setCurrentIndex(idx)
        self.task_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.search.textChanged.connect(self._fill_table)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.add_folder_button.clicked.connect(self._pick_folder)
        self.add_file_button.clicked.connect(self._pick_file)
        self.import_gguf_button.clicked.connect(self._pick_gguf)
        self.add_endpoint_button.clicked.connect(lambda: open_endpoint_dialog(self.ctx, self))
        self.convert_button.clicked.connect(lambda: self.convert(self.selected()))
        self.delete_button.clicked.connect(self._confirm_delete)
        self.download_button.clicked.connect(lambda: self.download(self.download_target()))
        self.hub_id.returnPressed.connect(lambda: self.download(self.download_target()))
        self.hub_id.textChanged.connect(self._update_buttons)
        self.suggestions.chosen.connect(self.hub_id.setText)
        ctx.runner.query("Checking the Hub", lambda _c: hub_online(), self.suggestions.set_online,
                         lambda _exc: self.suggestions.set_online(False))
        self.cancel_button.clicked.connect(self.cancel)
        ctx.models.changed.connect(self.set_entries)
        self._fill_table()

    # ---- listing -------------------------------------------------------------------------
    def refresh(self) -> Job:
        """Rescan the registry in a worker; every page's list follows (``ctx.models.changed``)."""
        self.ctx.registry.endpoints.refresh()  # the endpoints are asked again
        return self.ctx.models.refresh()

    def set_entries(self, entries: list[ModelEntry]) -> None:
        self.entries = list(entries)
        self._fill_table()
        if self._select_after is not None:
            self.select(self._select_after)
            self._select_after = None

    def _on_filter_changed(self) -> None:
        self.ctx.settings.set("models/task_filter", self.task_filter.currentData() or "")
        self._fill_table()

    @staticmethod
    def suggestion(e: ModelEntry) -> bool:
        """A Hub model not on this computer: listed apart, as a suggestion."""
        return e.source is Source.HUB and not e.load_path

    def visible_entries(self) -> list[ModelEntry]:
        task = self.task_filter.currentData()
        needle = self.search.text().strip().lower()
        return [e for e in self.entries
                if not self.suggestion(e) and (task is None or e.task.value == task)
                and (not needle or needle in e.name.lower() or needle in e.id.lower())]

    def _fill_table(self) -> None:
        current = self.selected()
        rows = self.visible_entries()
        names = {e.id: e.name for e in self.entries}
        self.table.setRowCount(len(rows))
        for r, e in enumerate(rows):
            f = facts(e, names)
            fmt = e.format.value + (" → safetensors" if e.converted_path else "")
            loc = e.path or (e.hub_id or "")
            if e.note:
                loc = f"{loc}  ({e.note})" if loc else e.note
            tip = "\n".join(t for t in (loc, e.converted_path and f"converted: {e.converted_path}",
                                        ) if t)
            values = (e.name, f.purpose, f.pages, f.size_note or human_size(f.size_bytes),
                      f.trained_from, f.result, SOURCE_LABELS[e.source], fmt, loc)
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setData(Qt.UserRole, e.id)
                item.setToolTip(tip or v)
                self.table.setItem(r, c, item)
            if current and e.id == current.id:
                self.table.selectRow(r)
        self.suggestions.set_entries([e for e in self.entries if self.suggestion(e)])
        self._update_buttons()

    def selected(self) -> ModelEntry | None:
        items = self.table.selectedItems()
        if not items:
            return None
        model_id = items[0].data(Qt.UserRole)
        return next((e for e in self.entries if e.id == model_id), None)

    def select(self, model_id: str) -> None:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.UserRole) == model_id:
                self.table.selectRow(r)
                return

    def _update_buttons(self) -> None:
        e = self.selected()
        busy = self.job is not None
        self.convert_button.setEnabled(
            not busy and e is not None and e.format is Format.GGUF and not e.converted_path)
        self.delete_button.setEnabled(not busy and e is not None and e.removable)
        if e is not None and e.source is Source.USER and not e.converted_path:
            self.delete_button.setText("Remove from list")
        elif e is not None and e.converted_path and e.source is Source.PACK:
            self.delete_button.setText("Delete converted copy")
        else:
            self.delete_button.setText("Delete")
        self.import_gguf_button.setEnabled(not busy)
        self.download_button.setEnabled(not busy and bool(self.download_target()))

    # ---- actions ---------------------------------------------------------------------------
    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a model folder",
                                                self.ctx.settings.get("models/last_dir", ""))
        if path:
            self.add_path(path)

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a model file", self.ctx.settings.get("models/last_dir", ""),
            "Model files (*.gguf *.pt);;All files (*)")
        if path:
            self.add_path(path)

    def _pick_gguf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a GGUF model", self.ctx.settings.get("models/last_dir", ""),
            "GGUF models (*.gguf)")
        if path:
            self.import_gguf(path)

    def add_path(self, path: str, then: Callable[[ModelEntry], None] | None = None) -> Job:
        """Add a folder or file to the list (in a worker); ``then(entry)`` after it is added."""
        self.ctx.settings.set("models/last_dir", str(Path(path).parent))

        def added(entry: ModelEntry) -> None:
            about = "; ".join(t for t in (entry.task.value, entry.note) if t)
            self.ctx.notify.show_info(f"Added '{entry.name}' ({about}, "
                                      f"{human_size(entry.size_bytes)}).")
            self._select_after = entry.id
            if then is not None:
                then(entry)

        return self.ctx.models.change(f"Adding {Path(path).name}",
                                      lambda registry: registry.add_local(path), added)

    def import_gguf(self, path: str) -> Job | None:
        """List a .gguf file as a chat model, with the quantisation and context length its
        metadata gives (read in a worker); nothing is converted."""
        if Path(path).suffix.lower() != ".gguf":
            self.ctx.notify.show_error(WorkbenchError(f"'{Path(path).name}' is not a GGUF file."))
            return None
        return self.add_path(path)

    def convert(self, entry: ModelEntry | None) -> Job | None:
        if entry is None:
            return None
        from core.models.convert import convert_gguf  # light module; torch loads inside the job

        reg = self.ctx.registry
        return self._run(f"Converting {entry.name}", lambda c: convert_gguf(reg, entry, c))

    def download_target(self) -> str:
        """What Download fetches: the Hub id typed, else the selected suggestion."""
        return self.hub_id.text().strip() or self.suggestions.selected_hub_id() or ""

    def download(self, hub_id: str) -> Job | None:
        if not hub_id:
            self.ctx.notify.show_info("Type a Hub id first, e.g. HuggingFaceTB/SmolLM2-360M-Instruct.")
            return None
        from core.models.hub import download

        reg = self.ctx.registry
        return self._run(f"Downloading {hub_id}", lambda c: download(reg, hub_id, c))

    def _confirm_delete(self) -> None:
        e = self.selected()
        if e is None:
            return
        answer = QMessageBox.question(self, "Delete", f"{self.delete_button.text()}: '{e.name}'?")
        if answer == QMessageBox.Yes:
            self.delete(e.id)

    def delete(self, model_id: str) -> Job:
        """Remove an entry (in a worker); the list follows."""
        return self.ctx.models.change("Removing a model", lambda registry: registry.remove(model_id),
                                      self.ctx.notify.show_info)

    # ---- long jobs -------------------------------------------------------------------------
    def _run(self, name: str, factory) -> Job | None:
        if self.job is not None:
            self.ctx.notify.show_info("Another model job is running; cancel it or wait.")
            return None
        self.job = self.ctx.runner.start(name, factory)
        self.progress_label.setText(name)
        self.progress.setRange(0, 0)
        self.progress_row.show()
        self.job.event.connect(self._on_job_event)
        self.job.failed.connect(self.ctx.notify.show_error)
        self.job.cancelled.connect(lambda: self.ctx.notify.show_info(f"{name}: cancelled."))
        self.job.finished.connect(self._on_job_finished)
        self._update_buttons()
        return self.job

    def _on_job_event(self, ev) -> None:
        if isinstance(ev, Progress):
            show_progress(self.progress, ev, f"{ev.stage}  %p%")
            self.progress_label.setText(ev.stage if ev.fraction is None else self.job.name)
        elif isinstance(ev, Done):
            if ev.summary:
                self.ctx.notify.show_info(ev.summary)
            self._select_after = getattr(ev.result, "id", None)
            self.ctx.models_changed()

    def _on_job_finished(self) -> None:
        self.job = None
        self.progress_row.hide()
        self._update_buttons()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.progress_label.setText("Cancelling…")
