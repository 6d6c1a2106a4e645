"""The Add-endpoint dialog: a remote OpenAI-compatible server's base URL, an optional API key and a
name; Test lists the models it serves (or says why it cannot), Add remembers it. Both talk to the
server in jobs, never on the GUI thread; the key field never shows the key and is never logged.

    dialog = EndpointDialog(ctx, parent)      dialog.open()   (or open_endpoint_dialog(ctx, parent))
    dialog.test() -> Job                       dialog.add() -> Job | None
    Signals: tested(object: list[str] or the exception), added(object: the Endpoint)
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import describe
from core.models import EndpointStore
from gui.context import AppContext
from gui.jobs import Job

MAX_SHOWN = 12  # models named in the Test result


class EndpointDialog(QDialog):
    tested = Signal(object)
    added = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.job: Job | None = None
        self.setWindowTitle("Add endpoint")
        self.setMinimumWidth(520)

        intro = QLabel("A server that speaks the OpenAI API (vLLM, TGI, llama.cpp's server, Ollama, "
                       "LM Studio, another Workbench): its models are listed for Chat as "
                       "NAME/MODEL and replies stream from it.")
        intro.setWordWrap(True)
        self.url = QLineEdit(placeholderText="http://127.0.0.1:8000/v1")
        self.key = QLineEdit(placeholderText="optional")
        self.key.setEchoMode(QLineEdit.Password)
        self.key.setToolTip("Kept in the system keyring when there is one, otherwise in a file only "
                            "you can read; never in the endpoint list or the log.")
        self.name = QLineEdit()
        form = QFormLayout()
        form.addRow("Base URL", self.url)
        form.addRow("API key", self.key)
        form.addRow("Name", self.name)

        self.result = QLabel("Test lists the models the server serves.")
        self.result.setObjectName("subtitle")
        self.result.setWordWrap(True)
        self.test_button = QPushButton("Test")
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.add_button = self.buttons.addButton("Add", QDialogButtonBox.AcceptRole)
        self.buttons.addButton(self.test_button, QDialogButtonBox.ActionRole)

        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.result)
        lay.addWidget(self.buttons)

        self.url.textChanged.connect(self._on_url_changed)
        self.test_button.clicked.connect(self.test)
        self.buttons.accepted.connect(self.add)
        self.buttons.rejected.connect(self.reject)
        self._on_url_changed()

    def _on_url_changed(self) -> None:
        url = self.url.text().strip()
        self.name.setPlaceholderText(EndpointStore.name_for(url) if url else "from the URL")
        ready = bool(url) and self.job is None
        self.test_button.setEnabled(ready)
        self.add_button.setEnabled(ready)

    def _busy(self, busy: bool, text: str = "") -> None:
        for w in (self.url, self.key, self.name):
            w.setEnabled(not busy)
        self.test_button.setEnabled(not busy and bool(self.url.text().strip()))
        self.add_button.setEnabled(not busy and bool(self.url.text().strip()))
        if text:
            self.result.setText(text)

    def _fields(self) -> tuple[str, str, str]:
        return self.url.text().strip(), self.key.text(), self.name.text().strip()

    # ---- Test ------------------------------------------------------------------------------
    def test(self) -> Job | None:
        if self.job is not None:
            return None
        url, key, name = self._fields()
        self._busy(True, f"Asking {url}…")
        self.job = self.ctx.jobs.query(
            "Testing an endpoint", lambda _cancel: EndpointStore.probe(url, key, name),
            self._on_tested, self._on_test_failed)
        job = self.job
        job.finished.connect(lambda: self._on_job_finished(job))
        return self.job

    def _on_tested(self, models: list[str]) -> None:
        self._on_job_finished(self.job)
        if not models:
            self.result.setText("It answers, but serves no model now.")
        else:
            shown = ", ".join(models[:MAX_SHOWN]) + (" …" if len(models) > MAX_SHOWN else "")
            self.result.setText(f"It serves {len(models)} model{'s' if len(models) != 1 else ''}: "
                                f"{shown}")
        self.tested.emit(models)

    def _on_test_failed(self, exc: BaseException) -> None:
        self._on_job_finished(self.job)
        self.result.setText(describe(exc)[1])
        self.tested.emit(exc)

    # ---- Add -------------------------------------------------------------------------------
    def add(self) -> Job | None:
        if self.job is not None:
            return None
        url, key, name = self._fields()
        self._busy(True, "Adding…")
        self.job = self.ctx.models.change(
            f"Adding endpoint {name or url}",
            lambda registry: registry.endpoints.add(url, name or None, key or None),
            self._on_added, self._on_add_failed)
        job = self.job
        job.finished.connect(lambda: self._on_job_finished(job))
        return self.job

    def _on_added(self, endpoint) -> None:
        self._on_job_finished(self.job)
        self.ctx.notify.show_info(f"Added the endpoint '{endpoint.name}' ({endpoint.url}): its "
                                  "models are listed as chat models.")
        self.added.emit(endpoint)
        self.accept()

    def _on_add_failed(self, exc: BaseException) -> None:
        self._on_job_finished(self.job)
        self.result.setText(describe(exc)[1])

    def _on_job_finished(self, job: Job | None) -> None:
        """The job has delivered (or ended): the fields are the user's again."""
        if job is not None and job is self.job:
            self.job = None
            self._busy(False)

    def reject(self) -> None:
        if self.job is not None:
            self.job.cancel()
        super().reject()


def open_endpoint_dialog(ctx: AppContext, parent: QWidget) -> EndpointDialog:
    """Show a new Add-endpoint dialog (window-modal; it deletes itself when closed)."""
    from PySide6.QtCore import Qt

    dialog = EndpointDialog(ctx, parent)
    dialog.setAttribute(Qt.WA_DeleteOnClose)
    dialog.open()
    return dialog
