"""Fine-tune page: the new-run dialog's checks (real data validation) and a run's live view
(a fake trainer that yields canned progress and loss events)."""


def make_panel(qtbot, window, trainer=None):
    from gui.panels.finetune import FinetunePanel

    panel = FinetunePanel(window.ctx, trainer=trainer)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def make_dialog(qtbot, window, task, files, output="my-run"):
    from gui.panels.finetune import NewRunDialog

    dlg = NewRunDialog(window.ctx, window.ctx.registry.entries())
    qtbot.addWidget(dlg)
    dlg.form.task.setCurrentIndex(dlg.form.task.findData(task))
    dlg.add_files([str(f) for f in files])
    dlg.form.output.setText(output)
    return dlg


def press_ok(qtbot, dlg) -> bool:
    """OK checks the data in a job; True when the dialog accepted."""
    with qtbot.waitSignal(dlg.checked, timeout=30_000) as blocker:
        dlg.try_accept()
    return blocker.args[0]


def test_dialog_rejects_an_empty_file(qtbot, window, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    dlg = make_dialog(qtbot, window, "causal-lm", [empty])
    assert press_ok(qtbot, dlg) is False
    assert not dlg.error.isHidden() and "empty.txt" in dlg.error.text()
    assert dlg.result() == 0 and dlg.config is None


def test_dialog_rejects_a_binary_file(qtbot, window, tmp_path):
    binary = tmp_path / "blob.txt"
    binary.write_bytes(bytes(range(256)) * 40)
    dlg = make_dialog(qtbot, window, "causal-lm", [binary])
    assert press_ok(qtbot, dlg) is False and "blob.txt" in dlg.error.text()


def test_dialog_rejects_missing_columns_and_a_single_label(qtbot, window, tmp_path):
    table = tmp_path / "data.csv"
    table.write_text("review,stars\n" + "".join(f"text {i},{i % 2}\n" for i in range(50)))
    dlg = make_dialog(qtbot, window, "classification", [table])
    qtbot.waitUntil(lambda: dlg.preview_job is None, timeout=30_000)
    dlg.form.text_column.clear()
    dlg.form.text_column.addItem("text")  # a column the file does not have
    assert press_ok(qtbot, dlg) is False and "review" in dlg.error.text()
    one = tmp_path / "one.csv"
    one.write_text("text,label\n" + "".join(f"sample {i},pos\n" for i in range(50)))
    dlg2 = make_dialog(qtbot, window, "classification", [one])
    qtbot.waitUntil(lambda: dlg2.preview_job is None, timeout=30_000)
    assert press_ok(qtbot, dlg2) is False and "label" in dlg2.error.text().lower()


def test_dialog_accepts_good_data_and_shows_a_preview(qtbot, window, tmp_path):
    text = tmp_path / "story.txt"
    text.write_text("Once upon a time there was a fox. " * 400)
    dlg = make_dialog(qtbot, window, "causal-lm", [text])
    qtbot.waitUntil(lambda: dlg.preview_job is None, timeout=30_000)
    assert "Once upon a time" in dlg.form.preview.toPlainText()
    assert "examples" in dlg.form.counts.text()
    assert press_ok(qtbot, dlg) is True
    assert dlg.config.data == (str(text),) and dlg.config.output == "my-run"


def test_a_run_shows_progress_and_loss_points(qtbot, window, tmp_path):
    from core.events import Done
    from core.finetune import FinetuneConfig, LossPoint, RunResult, TrainProgress

    def fake_train(config, cancel, home=None, registry=None, resume=False):
        for step in range(1, 11):
            yield TrainProgress(step, 10, step / 10, step * 0.1, (10 - step) * 0.1, 12.5)
            yield LossPoint(step, 3.0 - 0.2 * step, "train", 1e-4)
            if step % 5 == 0:
                yield LossPoint(step, 3.1 - 0.2 * step, "eval")
        yield Done(result=RunResult(config.output, str(tmp_path), {"perplexity": 4.2},
                                    "app:x", False, None))

    panel = make_panel(qtbot, window, trainer=fake_train)
    text = tmp_path / "t.txt"
    text.write_text("hello " * 500)
    config = FinetuneConfig(task="causal-lm", base="smollm2-135m-instruct", data=(str(text),),
                            output="fake-run")
    with qtbot.waitSignal(panel.run_finished, timeout=30_000) as blocker:
        panel.start(config)
        assert panel.cancel_button.isEnabled()
    assert blocker.args[0].metrics["perplexity"] == 4.2
    xs, ys = panel.plot.points["train"]
    assert xs == list(range(1, 11)) and ys[0] > ys[-1]
    assert panel.plot.points["eval"][0] == [5, 10]
    assert panel.progress.value() == 1000
    assert panel.metrics.text() == "Perplexity 4.20"
    assert not panel.cancel_button.isEnabled()


def test_cancel_stops_a_run(qtbot, window, tmp_path):
    from core.errors import Cancelled
    from core.finetune import FinetuneConfig, TrainProgress

    def slow_train(config, cancel, home=None, registry=None, resume=False):
        step = 0
        while True:
            step += 1
            yield TrainProgress(step, 1000, 0.0, 0.0, None, None)
            if cancel.wait(0.02):
                raise Cancelled()

    panel = make_panel(qtbot, window, trainer=slow_train)
    config = FinetuneConfig(task="causal-lm", base="x", data=("a.txt",), output="slow")
    job = panel.start(config)
    qtbot.waitUntil(lambda: panel.progress.value() > 0 or "step" in panel.progress.format(),
                    timeout=15_000)
    with qtbot.waitSignal(job.finished, timeout=15_000):
        panel.cancel_button.click()
    assert panel.job is None and panel.new_button.isEnabled()


def test_an_open_dialog_follows_the_model_list(qtbot, window, tiny_gpt2_dir):
    from dataclasses import replace

    panel = make_panel(qtbot, window)
    entries = window.ctx.registry.entries()
    panel.set_models(entries)
    dlg = panel.open_dialog()
    qtbot.addWidget(dlg)
    dlg.form.task.setCurrentIndex(dlg.form.task.findData("causal-lm"))
    picked = dlg.form.base.currentData()
    bases = [dlg.form.base.itemData(i) for i in range(dlg.form.base.count())]
    assert "user:new-one" not in bases
    smol = next(e for e in entries if e.id == "smollm2-135m-instruct")
    panel.set_models(entries + [replace(smol, id="user:new-one", name="New one",
                                        path=str(tiny_gpt2_dir))])  # e.g. a download finished
    bases = [dlg.form.base.itemData(i) for i in range(dlg.form.base.count())]
    assert "user:new-one" in bases and dlg.form.base.currentData() == picked
    dlg.reject()
    assert panel.dialog is None


def test_a_table_preview_counts_rows(qtbot, window, tmp_path):
    table = tmp_path / "reviews.csv"
    table.write_text("text,label\n" + "".join(f"review {i},{('neg', 'pos')[i % 2]}\n"
                                             for i in range(40)))
    dlg = make_dialog(qtbot, window, "classification", [table])
    qtbot.waitUntil(lambda: dlg.preview_job is None, timeout=30_000)
    counts = dlg.form.counts.text()
    assert counts.startswith("40 rows") and "examples" not in counts
    assert "neg 20" in counts and "pos 20" in counts


LOSS_WARNING = "The training loss did not go down: try a lower or higher learning rate."


def test_a_result_with_a_warning_shows_it(qtbot, window, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from core.events import Done
    from core.finetune import FinetuneConfig, LossPoint

    def flat_train(config, cancel, home=None, registry=None, resume=False):
        for step in (1, 2, 3):
            yield LossPoint(step, 0.69, "train")
        yield Done(result=SimpleNamespace(
            name=config.output, path=str(tmp_path), metrics={"accuracy": 0.525}, entry_id="app:x",
            stopped=False, checkpoint=None, warnings=(LOSS_WARNING,)))  # RunResult's fields

    infos = []
    monkeypatch.setattr(window.ctx.notify, "show_info", lambda text, **kw: infos.append(text))
    panel = make_panel(qtbot, window, trainer=flat_train)
    config = FinetuneConfig(task="classification", base="x", data=("a.csv",), output="flat",
                            method="full")
    with qtbot.waitSignal(panel.run_finished, timeout=30_000):
        panel.start(config)
    assert "Accuracy 0.53" in panel.metrics.text() and LOSS_WARNING in panel.metrics.text()
    assert len(infos) == 1 and "'flat' is ready" in infos[0] and LOSS_WARNING in infos[0]


def test_a_run_in_the_history_shows_its_warnings(qtbot, window, monkeypatch):
    from types import SimpleNamespace

    import core.finetune

    run = SimpleNamespace(  # RunInfo's fields
        name="flat", status="done", config={"task": "classification", "method": "full"},
        metrics={"accuracy": 0.525}, losses=[{"step": 1, "loss": 0.69, "split": "train"}],
        path="/nowhere", started=1.0, finished=2.0, error="", model_path=None, checkpoint=None,
        warnings=(LOSS_WARNING,))
    monkeypatch.setattr(core.finetune, "list_runs", lambda home=None: [run])
    panel = make_panel(qtbot, window)
    qtbot.waitUntil(lambda: panel.history.count() == 1, timeout=15_000)
    panel.history.setCurrentRow(0)
    assert "Accuracy 0.53" in panel.metrics.text() and LOSS_WARNING in panel.metrics.text()


def _finished_run(home, name, task, model_path):
    from types import SimpleNamespace

    return SimpleNamespace(  # RunInfo's fields
        name=name, status="done", config={"task": task, "method": "full", "base": "tiny"},
        metrics={}, losses=[], path=str(home.root / "runs" / name), started=1.0, finished=2.0,
        error="", model_path=str(model_path), checkpoint=None, warnings=())


def test_export_gguf_of_a_finished_language_run(qtbot, window, tmp_path, monkeypatch):
    """Export GGUF… on a finished causal-lm run: a job with progress writes the GGUF, and the
    model list gains a GGUF chat model."""
    import json

    from PySide6.QtWidgets import QInputDialog

    import core.finetune
    from core.events import Progress
    from tests.tiny_models import tiny_llama

    home = window.ctx.home
    folder = tiny_llama(home.trained / "story")
    (folder / "workbench.json").write_text(json.dumps(
        {"name": "story", "task": "text-generation", "format": "hf-folder"}))
    classifier = _finished_run(home, "sentiment", "classification", tmp_path / "none")
    monkeypatch.setattr(core.finetune, "list_runs", lambda home=None: [
        _finished_run(home, "story", "causal-lm", folder), classifier])
    panel = make_panel(qtbot, window)
    qtbot.waitUntil(lambda: panel.history.count() == 2, timeout=15_000)
    panel.history.setCurrentRow(1)
    assert not panel.gguf_button.isEnabled()  # a classifier is not a language model
    panel.history.setCurrentRow(0)
    assert panel.gguf_button.isEnabled()
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("q8_0", True))
    seen, lists = [], []
    window.ctx.models.changed.connect(lists.append)
    with qtbot.waitSignal(window.runner.jobs_changed, timeout=2000):
        panel.gguf_button.click()
    job = panel.gguf_job
    assert job is not None and not panel.gguf_button.isEnabled()
    assert panel.gguf_progress.isVisible()
    job.event.connect(seen.append)
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass
    assert any(isinstance(e, Progress) for e in seen)
    qtbot.waitUntil(lambda: bool(lists) and any(e.id == "app:story-q8_0" for e in lists[-1]),
                    timeout=30_000)
    entry = next(e for e in lists[-1] if e.id == "app:story-q8_0")
    assert entry.format.value == "gguf" and entry.task.value == "text-generation"
    assert "Exported 'story'" in window.notify.text.text()
    assert not panel.gguf_progress.isVisible() and panel.gguf_button.isEnabled()
