"""The shown transcript out of the page: copied to the clipboard, or exported as txt, srt, vtt or
json (in a job; the page's ``exported`` signal says where), and the default export folder."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from core.events import Done
from gui.panels.transcribe.jobs import export_job
from gui.panels.transcribe.kept import snapshot

if TYPE_CHECKING:
    from gui.panels.transcribe.panel import TranscribePanel


def copy_all(panel: TranscribePanel) -> None:
    from core.transcribe import to_txt

    if panel.shown and panel.shown.transcript:
        QGuiApplication.clipboard().setText(to_txt(panel.shown.transcript))
        panel.ctx.notify.show_info("Transcript copied to the clipboard.", timeout_ms=2000)


def choose_export_folder(panel: TranscribePanel) -> None:
    folder = QFileDialog.getExistingDirectory(panel, "Default export folder",
                                              panel.ctx.settings.get("transcribe/export_dir", ""))
    if folder:
        panel.ctx.settings.set("transcribe/export_dir", folder)
        panel.ctx.notify.show_info(f"Exports go to {folder} from now on.")


def export_current(panel: TranscribePanel, fmt: str, path: str | None = None):
    """Write the shown transcript as ``fmt`` in a job; the job, or None when there is nothing to
    write or the user cancelled the dialog."""
    item = panel.shown
    if item is None or item.transcript is None:
        return None
    if path is None:
        folder = panel.ctx.settings.get("transcribe/export_dir", "")
        if folder:
            path = str(Path(folder) / f"{Path(item.path).stem}.{fmt}")
        else:
            path, _ = QFileDialog.getSaveFileName(
                panel, "Export transcript", str(Path(item.path).with_suffix(f".{fmt}")),
                f"{fmt.upper()} (*.{fmt})")
            if not path:
                return None
    subtitles = panel.viewer.subtitles.options()  # the boxes keep it within its limits
    job = panel.ctx.runner.start(f"Exporting {Path(path).name}",
                                 export_job(snapshot(item), fmt, path, subtitles), quiet=True)

    def exported(ev) -> None:
        if isinstance(ev, Done):
            panel.ctx.notify.show_info(f"Saved {ev.result}")
            panel.exported.emit(ev.result)

    job.event.connect(exported)
    job.failed.connect(panel.ctx.notify.show_error)
    return job
