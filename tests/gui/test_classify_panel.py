"""Classify panel with real tiny models behind the one worker bridge."""
import csv

import pytest

from core.classify import load_classifier
from core.events import Done, Progress


def make_panel(qtbot, window, folder):
    from gui.panels.classify import ClassifyPanel

    loads = []

    def loader(model_id, device, cancel):
        loads.append(model_id)
        yield Progress("Loading the model", 0, None)
        yield Done(result=load_classifier(folder, name=folder.name))

    panel = ClassifyPanel(window.ctx, loader=loader)
    qtbot.addWidget(panel)
    panel.show()
    return panel, loads


def open_and_wait(qtbot, panel, path, column=None):
    """The file is read in a worker: the table it read, or None when it cannot be used."""
    with qtbot.waitSignal(panel.file_opened, timeout=20_000) as blocker:
        panel.open_file(str(path), column)
    return blocker.args[0]


def test_one_text_shows_a_bar_per_label(qtbot, window, tiny_classifier_dir):
    panel, loads = make_panel(qtbot, window, tiny_classifier_dir)
    assert not panel.classify_button.isEnabled()  # empty text
    panel.input.setPlainText("a good film with a great story")
    with qtbot.waitSignal(panel.text_finished, timeout=20_000) as blocker:
        panel.classify_button.click()
    pred = blocker.args[0]
    assert set(panel.bars.rows) == {"negative", "positive"}
    values = {k: bar.value() for k, bar in panel.bars.rows.items()}
    assert abs(sum(values.values()) - 1000) <= 1
    assert values[pred.label] == max(values.values())
    assert pred.label in panel.result_title.text()
    assert "labels: negative, positive" in panel.model_status.text()
    assert panel.notice.isHidden()
    panel.input.setPlainText("the quick brown fox " * 100)  # beyond the 128 tokens it reads
    with qtbot.waitSignal(panel.text_finished, timeout=20_000):
        panel.classify_button.click()
    assert not panel.notice.isHidden() and "only its start" in panel.notice.text()
    assert len(loads) == 1  # loaded once


def test_a_file_fills_the_table_and_exports(qtbot, window, tiny_classifier_dir, tmp_path):
    panel, _ = make_panel(qtbot, window, tiny_classifier_dir)
    src = tmp_path / "reviews.tsv"
    src.write_text("id\treview\n" + "\n".join(
        f"{i}\t{'a good film' if i % 3 else 'a bad film, dull and far too long'}"
        for i in range(299)) + "\n299\t" + "the quick brown fox " * 100, encoding="utf-8")
    assert open_and_wait(qtbot, panel, src)
    assert panel.results.rowCount() == 300 and panel.column_box.currentText() == "review"
    assert not panel.column_box.isHidden()
    panel.batch_size.setValue(16)
    seen = []
    panel.results.dataChanged.connect(lambda a, b: seen.append(b.row() - a.row() + 1))
    with qtbot.waitSignal(panel.batch_finished, timeout=60_000) as blocker:
        panel.run_button.click()
    preds = blocker.args[0]
    assert all(p is not None for p in preds) and len(seen) >= 300 // (16 * 8)
    assert panel.results.data(panel.results.index(5, 2)) == preds[5].label
    assert sum(panel.chart.counts.values()) == 300
    assert "Classified 300 texts in" in panel.batch_status.text()
    assert "1 text longer than the model reads (128 tokens) was truncated" in panel.batch_status.text()
    assert preds[299].truncated and not preds[5].truncated
    out = panel.export(str(tmp_path / "out.csv"))
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["id", "review", "predicted_label", "score", "p_negative", "p_positive"]
    assert len(rows) == 301 and rows[6][2] == preds[5].label


def test_cancel_keeps_what_is_done(qtbot, window, tiny_classifier_dir, tmp_path):
    from core.classify import BatchResult

    panel, _ = make_panel(qtbot, window, tiny_classifier_dir)
    src = tmp_path / "lines.txt"
    src.write_text("\n".join(f"line {i} a good film" for i in range(1000)), encoding="utf-8")
    assert open_and_wait(qtbot, panel, src) and panel.column_box.isHidden()
    panel.batch_size.setValue(1)

    def cancel_early(ev):
        if isinstance(ev, BatchResult) and ev.done >= 20:
            panel.cancel_button.click()

    with qtbot.waitSignal(panel.session.idle, timeout=20_000):  # loaded, and the load job ended
        panel.session.ensure(panel.model_box.current_id())
    assert panel.model is not None and panel.run_button.isEnabled()
    with qtbot.waitSignal(panel.batch_finished, timeout=60_000) as blocker:
        panel.run_button.click()
        panel.batch_job.event.connect(cancel_early)
    preds = blocker.args[0]
    done = sum(p is not None for p in preds)
    assert 20 <= done < 1000
    assert panel.batch_status.text().startswith(f"Cancelled after {done:,} of 1,000")
    assert panel.export_button.isEnabled()
    rows = list(csv.reader(panel.export(str(tmp_path / "o.csv")).open(encoding="utf-8")))
    assert sum(1 for r in rows[1:] if r[1]) == done and len(rows) == 1001


def test_bad_files_leave_the_table_as_it_was(qtbot, window, tiny_classifier_dir, tmp_path):
    panel, _ = make_panel(qtbot, window, tiny_classifier_dir)
    good = tmp_path / "ok.txt"
    good.write_text("one\ntwo\n", encoding="utf-8")
    assert open_and_wait(qtbot, panel, good)
    binary = tmp_path / "x.txt"
    binary.write_bytes(b"\x00\x01" * 300)
    empty = tmp_path / "e.csv"
    empty.write_text("", encoding="utf-8")
    for bad, words in ((binary, "binary"), (empty, "empty")):
        assert open_and_wait(qtbot, panel, bad) is None
        assert window.notify.kind == "error" and words in window.notify.text.text()
        assert panel.results.texts == ["one", "two"]


def test_fill_mask_mode_shows_top_k(qtbot, window, tmp_path):
    from core.models.registry import Task
    from gui.widgets.model_box import TASK_ROLE
    from tests.tiny_models import tiny_bert_masked_lm

    panel, _ = make_panel(qtbot, window, tiny_bert_masked_lm(tmp_path / "mlm"))
    combo = panel.model_box.combo
    combo.addItem("tiny masked LM  (fill-mask)", "user:tiny-mlm")
    combo.setItemData(combo.count() - 1, Task.FILL_MASK.value, TASK_ROLE)
    combo.setCurrentIndex(combo.count() - 1)
    assert panel.classify_button.text() == "Fill" and not panel.tabs.isTabEnabled(1)
    panel.top_k.setValue(3)
    panel.input.setPlainText("the quick brown [MASK] jumps over the lazy dog")
    with qtbot.waitSignal(panel.text_finished, timeout=20_000) as blocker:
        panel.classify_button.click()
    [fills] = blocker.args[0]
    assert list(panel.bars.rows) == [f.token for f in fills] and len(fills) == 3
    panel.input.setPlainText("no mask at all")
    with qtbot.waitSignal(panel.text_finished, timeout=20_000) as blocker:
        panel.classify_button.click()
    assert blocker.args[0] is None
    assert window.notify.kind == "error" and "[MASK]" in window.notify.text.text()


@pytest.mark.parametrize("page", ["classify"])
def test_window_try_opens_classify_with_the_model(qtbot, window, page):
    window.try_model(page, "sentiment-minilm")
    assert window.current_page() == "classify"
    assert window.page("classify").model_box.current_id() == "sentiment-minilm"


def test_dropping_a_file_opens_it_on_the_file_tab(qtbot, window, tiny_classifier_dir, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    panel, _ = make_panel(qtbot, window, tiny_classifier_dir)
    f = tmp_path / "dropped.txt"
    f.write_text("first text\nsecond text\nthird text\n", encoding="utf-8")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(panel.file_opened, timeout=20_000):
        panel.dropEvent(event)
    assert panel.tabs.currentIndex() == 1
    assert panel.results.texts == ["first text", "second text", "third text"]
    assert "dropped.txt: 3 texts" in panel.file_tab.file_label.text()


class GatedModel:
    """A real classifier whose single-text predictions wait for a gate; counts jobs running on it
    at once (defect 4: a text job and a file job must never share the model)."""

    def __init__(self, model):
        import threading

        self._model, self.gate = model, threading.Event()
        self._lock = threading.Lock()
        self.active = self.most = 0

    def __getattr__(self, name):
        return getattr(self._model, name)

    def _enter(self):
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)

    def _leave(self):
        with self._lock:
            self.active -= 1

    def predict(self, texts):
        self._enter()
        try:
            self.gate.wait(10)
            return self._model.predict(texts)
        finally:
            self._leave()

    def classify(self, texts, cancel, size):
        self._enter()
        try:
            yield from self._model.classify(texts, cancel, size)
        finally:
            self._leave()


def test_a_text_and_a_file_never_run_on_the_model_at_once(qtbot, window, tiny_classifier_dir,
                                                         tmp_path):
    from core.classify import BatchResult
    from gui.panels.classify import ClassifyPanel
    from gui.panels.classify.panel import BUSY_FILE

    gated = GatedModel(load_classifier(tiny_classifier_dir, name="tiny"))

    def loader(model_id, device, cancel):
        yield Done(result=gated)

    panel = ClassifyPanel(window.ctx, loader=loader)
    qtbot.addWidget(panel)
    src = tmp_path / "lines.txt"
    src.write_text("\n".join(f"line {i} a good film" for i in range(400)), encoding="utf-8")
    assert open_and_wait(qtbot, panel, src)
    panel.batch_size.setValue(1)
    panel.input.setPlainText("a text typed while the file runs")
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=20_000)  # no load or read still running
    # a file runs: the text waits (button off; Ctrl+Enter, which skips the button, is refused)
    with qtbot.waitSignal(panel.batch_finished, timeout=60_000):
        panel.run_button.click()
        qtbot.waitUntil(lambda: panel.batch_job is not None, timeout=20_000)
        assert not panel.classify_button.isEnabled()
        panel.classify_text()
        assert panel.text_job is None and BUSY_FILE in window.notify.text.text()
        panel.batch_job.event.connect(
            lambda ev: isinstance(ev, BatchResult) and ev.done >= 5 and panel.cancel_batch())
    # a text runs: the file waits
    with qtbot.waitSignal(panel.text_finished, timeout=20_000) as blocker:
        panel.classify_button.click()
        qtbot.waitUntil(lambda: panel.text_job is not None, timeout=5000)
        assert not panel.run_button.isEnabled() and not panel.model_box.combo.isEnabled()
        panel.classify_file()
        assert panel.batch_job is None
        gated.gate.set()
    assert blocker.args[0] is not None and panel.run_button.isEnabled()
    assert gated.most == 1
