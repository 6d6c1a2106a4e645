"""The Help menu: About (version, device, bundled models and their licences), Open data folder,
Open log. The model list is read from the catalogue (core.models), never repeated here."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout

if TYPE_CHECKING:
    from gui.window import MainWindow


def bundled_models() -> list[tuple[str, str, str]]:
    """(name, what it is, licence) for every model that ships with the app: the offline packs and
    the models in resources/models (an adapter takes the licence of the pack it adapts)."""
    from core.models import BUNDLED, PACKS, RESOURCES
    from core.models.catalog import SPLIT_PACKS

    rows = [(p.name, p.task.value.replace("-", " "), p.licence) for p in PACKS + SPLIT_PACKS]
    by_hub = {p.hub_id: p for p in PACKS if p.hub_id}
    for _id, name, task, folder, note in BUNDLED:
        licence = "see its folder"
        try:
            config = json.loads((Path(RESOURCES) / folder / "adapter_config.json").read_text("utf-8"))
            base = by_hub.get(config.get("base_model_name_or_path"))
            if base is not None:
                licence = f"{base.licence} (as its base, {base.name})"
        except (OSError, ValueError):
            pass
        rows.append((name, f"{task.value.replace('-', ' ')}; {note}", licence))
    return rows


class AboutDialog(QDialog):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        from core.runtime import app_version

        self.setWindowTitle("About LLM Workbench")
        self.setModal(False)
        device = window.device
        device_text = f"{device.label} ({device.reason})" if device else window.device_label.text()
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(n)}</td><td>{esc(w)}</td><td>{esc(lic)}</td></tr>"
            for n, w, lic in bundled_models())
        log = str(window.log_path) if window.log_path else "the terminal (stderr)"
        self.text = QLabel(
            f"<h2>LLM Workbench {esc(app_version())}</h2>"
            "<p>A desktop workbench for local language models: chat, classify, transcribe, "
            "fine-tune. Offline first.</p>"
            f"<p><b>Device:</b> {esc(device_text)}<br>"
            f"<b>Data folder:</b> {esc(str(window.home.root))}<br>"
            f"<b>Log:</b> {esc(log)}</p>"
            "<p><b>Bundled models</b></p>"
            "<table cellspacing='0' cellpadding='3'>"
            "<tr><th align='left'>Model</th><th align='left'>What</th>"
            f"<th align='left'>Licence</th></tr>{rows}</table>")
        self.text.setWordWrap(True)
        from PySide6.QtCore import Qt

        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        icon = QLabel()
        icon.setPixmap(window.windowIcon().pixmap(64, 64))
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(icon)
        lay.addWidget(self.text)
        lay.addWidget(buttons)
        self.resize(620, 440)


def open_path(window: MainWindow, path: Path | None, what: str) -> bool:
    """Open a folder or file with the system's handler; say so in the strip when that fails."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    if path is None or not Path(path).exists():
        window.notify.show_info(f"There is no {what} yet" + (f" at {path}." if path else "."),
                                timeout_ms=0)
        return False
    if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
        window.notify.show_info(f"No program could open the {what}. It is at {path}.", timeout_ms=0)
        return False
    return True


def add_help_menu(window: MainWindow) -> None:
    menu = window.menuBar().addMenu("&Help")
    window.about_action = menu.addAction("&About LLM Workbench", lambda: show_about(window))
    window.open_data_action = menu.addAction(
        "Open &data folder", lambda: open_path(window, window.home.root, "data folder"))
    window.open_log_action = menu.addAction(
        "Open &log", lambda: open_path(window, window.log_path, "log"))


def show_about(window: MainWindow) -> AboutDialog:
    dialog = AboutDialog(window)
    dialog.show()
    window.about_dialog = dialog
    return dialog
