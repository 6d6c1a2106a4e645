"""The Models page explains: what each model is for and which pages use it, Hub suggestions
apart (needing internet when offline, Download acting on the one selected), sizes with converted
copies, a trained model's base, method and result in columns; a first start opens on Chat."""
import json

from core.errors import HubUnreachable
from core.models.registry import Format, ModelEntry, Source, Task
from gui.widgets.model_facts import facts


def _loaded(qtbot, window):
    window.show_page("models")
    panel = window.page("models")
    with qtbot.waitSignal(panel.refresh().finished, timeout=30_000):
        pass
    return panel


def _row(panel, name):
    from gui.panels.models import COLUMNS

    for r in range(panel.table.rowCount()):
        if panel.table.item(r, 0).text() == name:
            return {c: panel.table.item(r, i).text() for i, c in enumerate(COLUMNS)}
    raise AssertionError(f"{name} is not listed")


def test_a_first_start_opens_on_chat(window):
    assert window.current_page() == "chat"


def test_each_model_says_what_it_is_for_and_which_pages_use_it(qtbot, window):
    panel = _loaded(qtbot, window)
    assert "Chat" in _row(panel, "SmolLM2-135M-Instruct")["Used by"]
    assert _row(panel, "Whisper tiny.en")["Used by"] == "Transcribe"
    minilm = _row(panel, "all-MiniLM-L6-v2")
    assert "embeddings" in minilm["What it is for"] and "Fine-tune" in minilm["Used by"]
    sentiment = _row(panel, "Sentiment (MiniLM, SST-2)")
    assert "positive or negative" in sentiment["What it is for"]
    assert sentiment["Used by"].startswith("Classify")
    # the bundled model's base, method and headline figures, in columns
    assert sentiment["Trained from"] == "all-MiniLM-L6-v2 · LoRA r=16"
    assert "accuracy 0.938" in sentiment["Result"] and "calibrated" in sentiment["Result"]


def test_hub_suggestions_are_apart_and_need_internet_offline(qtbot, home, monkeypatch):
    import huggingface_hub.constants as hub_constants

    from gui.window import MainWindow

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    win = MainWindow(home)
    win.show()
    try:
        panel = _loaded(qtbot, win)
        table_sources = {panel.table.item(r, 6).text() for r in range(panel.table.rowCount())}
        assert "Hub (online)" not in table_sources  # nothing to download among the installed
        box = panel.suggestions
        qtbot.waitUntil(lambda: box.online is False, timeout=10_000)
        assert box.isVisible() and box.list.count() >= 1
        assert all("needs internet" in box.list.item(i).text() for i in range(box.list.count()))
        assert "Offline" in box.status.text()
        assert not panel.download_button.isEnabled()  # nothing selected or typed yet
        box.list.setCurrentRow(0)
        wanted = box.list.item(0).data(256)  # Qt.UserRole
        assert panel.download_button.isEnabled() and panel.download_target() == wanted
        panel.download_button.click()
        job = panel.job
        assert job is not None and job.name == f"Downloading {wanted}"
        with qtbot.waitSignal(job.failed, timeout=30_000) as blocker:
            pass
        assert isinstance(blocker.args[0], HubUnreachable)
        qtbot.waitUntil(lambda: panel.job is None, timeout=5000)
    finally:
        win.close()
        qtbot.waitUntil(lambda: win._closed, timeout=30_000)
        win.deleteLater()


def test_size_on_disk_counts_the_converted_copy(tmp_path):
    converted = tmp_path / "converted"
    converted.mkdir()
    (converted / "model.safetensors").write_bytes(b"\0" * 500_000)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"\0" * 100_000)
    e = ModelEntry("m", "M", Task.TEXT_GENERATION, Format.GGUF, Source.USER, str(gguf),
                   100_000, converted_path=str(converted))
    f = facts(e)
    assert f.size_bytes == 600_000 and "converted copy" in f.size_note
    assert "Chat (llama.cpp)" in f.pages


def test_a_trained_model_shows_base_method_and_result(tmp_path):
    folder = tmp_path / "my-run"
    folder.mkdir()
    (folder / "workbench.json").write_text(json.dumps({
        "name": "my-run", "task": "text-generation", "base": "smollm2-135m-instruct",
        "method": "lora", "note": "LoRA r=8 of SmolLM2-135M-Instruct; perplexity 41",
        "metrics": {"perplexity": 41.04, "eval_loss": 3.71}}))
    e = ModelEntry("app:my-run", "my-run", Task.TEXT_GENERATION, Format.HF, Source.APP,
                   str(folder), 1000)
    f = facts(e, {"smollm2-135m-instruct": "SmolLM2-135M-Instruct"})
    assert f.trained_from == "SmolLM2-135M-Instruct · LoRA r=8"
    assert f.result == "perplexity 41.0"
