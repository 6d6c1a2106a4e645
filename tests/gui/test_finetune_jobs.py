"""Fine-tune page: reading files (data preview, the check behind OK, the run listing) happens in
jobs, off the GUI thread, and only the newest preview counts."""
import threading
from types import SimpleNamespace

from tests.gui.test_finetune_panel import make_panel, press_ok


def fake_preview(config, samples=("a sample",)):
    from core.finetune import DataPreview

    return DataPreview("text", tuple(config.data), tuple(samples), 12, None, None, None, "utf-8")


def make_dialog(qtbot, window, previewer):
    from gui.panels.finetune import NewRunDialog

    dlg = NewRunDialog(window.ctx, window.ctx.registry.entries(), previewer=previewer)
    qtbot.addWidget(dlg)
    return dlg


def test_preview_and_ok_read_the_data_off_the_gui_thread(qtbot, window, tmp_path):
    seen = []

    def previewer(config, registry):
        seen.append((threading.current_thread(), registry))
        return fake_preview(config)

    text = tmp_path / "story.txt"
    text.write_text("Once upon a time. " * 100)
    dlg = make_dialog(qtbot, window, previewer)
    dlg.add_files([str(text)])
    qtbot.waitUntil(lambda: dlg.preview_job is None, timeout=30_000)
    assert dlg.form.preview.toPlainText() == "a sample"
    assert "12 examples" in dlg.form.counts.text()
    assert press_ok(qtbot, dlg) is True and dlg.config.data == (str(text),)
    assert len(seen) == 2
    assert all(thread is not threading.main_thread() for thread, _r in seen)
    assert seen[0][1] is window.ctx.registry  # the preview counts with the base's tokenizer
    assert seen[1][1] is None  # the check behind OK only reads the data, as before


def test_ok_stays_open_with_the_reason_when_the_check_fails(qtbot, window, tmp_path):
    from core.errors import BadInput

    def previewer(config, registry):
        if registry is None:
            raise BadInput("The text is too short to train on.")
        return fake_preview(config)

    text = tmp_path / "story.txt"
    text.write_text("short")
    dlg = make_dialog(qtbot, window, previewer)
    dlg.add_files([str(text)])
    assert press_ok(qtbot, dlg) is False
    assert "too short" in dlg.error.text() and dlg.result() == 0 and dlg.config is None
    qtbot.waitUntil(dlg.ok_button.isEnabled, timeout=15_000)


def test_the_run_list_is_read_off_the_gui_thread(qtbot, window, monkeypatch):
    import core.finetune
    from core.finetune import RunInfo

    threads = []

    def list_runs(home=None):
        threads.append(threading.current_thread())
        return [RunInfo("old-run", "done", {"method": "lora", "task": "causal-lm"},
                        {"perplexity": 3.5}, [], "/nowhere", 1.0, 2.0)]

    monkeypatch.setattr(core.finetune, "list_runs", list_runs)
    panel = make_panel(qtbot, window)
    qtbot.waitUntil(lambda: panel.history.count() == 1, timeout=15_000)
    assert threads and all(t is not threading.main_thread() for t in threads)
    assert panel.history.item(0).text() == "old-run\ndone · ppl 3.50"


def gated_previewer():
    """A previewer that waits for the gate of the chunk length it was asked for (256: the first
    preview, 128: the second), then returns 'preview <chunk length>'. Keyed by the config, not by
    call order: the two jobs' threads may start in either order."""
    gates = {256: threading.Event(), 128: threading.Event()}
    calls = []

    def previewer(config, registry):
        calls.append(config.chunk_length)
        gates[config.chunk_length].wait(20)
        return fake_preview(config, samples=(f"preview {config.chunk_length}",))

    return previewer, gates, calls


def two_previews(qtbot, window, tmp_path, previewer, calls):
    text = tmp_path / "story.txt"
    text.write_text("Once upon a time. " * 100)
    with qtbot.waitSignal(window.ctx.models.changed, timeout=15_000):  # no late list refresh
        window.ctx.models.refresh()
    dlg = make_dialog(qtbot, window, previewer)
    dlg.add_files([str(text)])
    first = dlg.preview_job
    dlg.form.chunk.setValue(128)  # a setting the preview depends on: a second preview
    second = dlg.preview_job
    assert first is not None and second is not None and second is not first
    qtbot.waitUntil(lambda: {256, 128} <= set(calls), timeout=15_000)
    return dlg, first, second


def test_an_older_preview_ending_last_neither_shows_nor_clears_the_newer_one(qtbot, window,
                                                                             tmp_path):
    previewer, gates, calls = gated_previewer()
    try:
        dlg, first, second = two_previews(qtbot, window, tmp_path, previewer, calls)
        with qtbot.waitSignal(first.finished, timeout=15_000):
            gates[256].set()  # the old preview ends while the new one still reads
        assert dlg.preview_job is second
        assert "preview 256" not in dlg.form.preview.toPlainText()
        assert dlg.form.counts.text() == "Reading…"
        with qtbot.waitSignal(second.finished, timeout=15_000):
            gates[128].set()
        assert dlg.preview_job is None
        assert dlg.form.preview.toPlainText() == "preview 128"
    finally:
        for gate in gates.values():
            gate.set()


def test_an_older_preview_ending_after_the_newer_one_is_ignored(qtbot, window, tmp_path):
    previewer, gates, calls = gated_previewer()
    try:
        dlg, first, second = two_previews(qtbot, window, tmp_path, previewer, calls)
        with qtbot.waitSignal(second.finished, timeout=15_000):
            gates[128].set()
        assert dlg.form.preview.toPlainText() == "preview 128" and dlg.preview_job is None
        with qtbot.waitSignal(first.finished, timeout=15_000):
            gates[256].set()
        assert dlg.form.preview.toPlainText() == "preview 128" and dlg.preview_job is None
    finally:
        for gate in gates.values():
            gate.set()


def test_export_script_writes_the_files_off_the_gui_thread(qtbot, window, tmp_path, monkeypatch,
                                                           tiny_gpt2_dir):
    import core.finetune
    from core.finetune import FinetuneConfig

    real, threads = core.finetune.export_script, []

    def export_script(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(core.finetune, "export_script", export_script)
    data = tmp_path / "story.txt"
    data.write_text("Once upon a time. " * 100)
    config = FinetuneConfig(task="causal-lm", base=str(tiny_gpt2_dir), data=(str(data),),
                            output="story")

    run = SimpleNamespace(name="story", config=config.to_dict())  # what the page reads of a run
    panel = make_panel(qtbot, window)
    errors = []
    job = panel.export_script(run, str(tmp_path / "script"))
    job.failed.connect(errors.append)
    with qtbot.waitSignal(job.finished, timeout=30_000):
        pass
    assert errors == [] and threads and threads[0] is not threading.main_thread()
    names = sorted(p.name for p in (tmp_path / "script").iterdir())
    assert names == ["accelerate_config.yaml", "launch.sh", "train.py"]
    script = (tmp_path / "script" / "train.py").read_text()
    assert str(data) in script and str(tiny_gpt2_dir) in script
