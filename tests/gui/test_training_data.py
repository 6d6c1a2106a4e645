"""Your data into Fine-tune, in the window: "Use as training data…" on chats and on a classified
table with corrected labels writes the file, and the Fine-tune page opens its New-run dialog
prefilled (task, file, base); OK checks the data and starts the run."""
import csv
import json
import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox

from tests.gui.test_chat_panel import FakeEngine, send_and_wait
from tests.gui.test_chat_panel import make_panel as make_chat_panel
from tests.gui.test_classify_panel import make_panel as make_classify_panel
from tests.gui.test_classify_panel import open_and_wait
from tests.gui.test_finetune_panel import press_ok


def finetune_page(window, trainer):
    """The window's Fine-tune page with ``trainer`` in place of a real run."""
    page = window.page("finetune")
    page.trainer = trainer
    return page


def recording_trainer(tmp_path, seen):
    from core.events import Done
    from core.finetune import RunResult

    def train(config, cancel, home=None, registry=None, resume=False):
        seen.append(config)
        yield Done(result=RunResult(config.output, str(tmp_path), {}, "app:x", False, None))

    return train


def ok_starts_the_run(qtbot, page, dlg):
    """OK on the dialog: its data check (the real one) accepts, and the run starts."""
    qtbot.waitUntil(lambda: dlg.preview_job is None, timeout=30_000)
    with qtbot.waitSignal(page.run_finished, timeout=30_000):
        assert press_ok(qtbot, dlg) is True, dlg.error.text()


def test_train_on_opens_the_dialog_prefilled_over_remembered_settings(qtbot, window, tmp_path):
    from gui.links import TrainingData

    old = tmp_path / "old.csv"
    old.write_text("review,stars\n" + "".join(f"r {i},{i % 2}\n" for i in range(20)))
    window.ctx.settings.set("finetune/last/classification", json.dumps({
        "task": "classification", "base": "sentiment-minilm", "data": [str(old)],
        "text_column": "review", "label_column": "stars", "max_steps": 7}))
    window.ctx.settings.set("finetune/last_task", "causal-lm")
    table = tmp_path / "fixed.csv"
    table.write_text("text,label\n" + "".join(f"text {i},{('neg', 'pos')[i % 2]}\n"
                                             for i in range(30)))
    seen = []
    with qtbot.waitSignal(window.ctx.models.changed, timeout=30_000):  # the model list
        window.ctx.models.refresh()
    page = finetune_page(window, recording_trainer(tmp_path, seen))
    window.ctx.links.train_on.emit(TrainingData("classification", table, base="all-minilm-l6-v2"))
    dlg = page.dialog
    assert window.current_page() == "finetune" and dlg is not None and dlg.isVisible()
    form = dlg.form
    assert form.task.currentData() == "classification"
    assert form.data_files() == (str(table),)  # the request's file, not the remembered one
    assert form.base.currentData() == "all-minilm-l6-v2"  # not the remembered sentiment-minilm
    assert form.max_steps.value() == 7  # the task's other remembered settings stay
    assert not dlg.carried.isHidden() and "max steps 7" in dlg.carried.text()  # and it says so
    assert form.output.text().startswith("fixed-")
    assert dlg.note.isHidden()
    ok_starts_the_run(qtbot, page, dlg)
    config = seen[0]
    assert (config.task, config.data, config.base) == ("classification", (str(table),),
                                                        "all-minilm-l6-v2")
    assert config.text_column in (None, "text") and config.label_column in (None, "label")

    # no base: the dialog's default (remembered from the run just started); a base this task
    # cannot use: the default too, and a note that says so
    window.ctx.settings.set("finetune/last/classification", json.dumps(
        {**json.loads(window.ctx.settings.get("finetune/last/classification")),
         "base": "hub:google-bert/bert-base-uncased"}))
    dlg = page.start_from(TrainingData("classification", table))
    assert dlg.form.base.currentData() == "hub:google-bert/bert-base-uncased"
    assert dlg.note.isHidden()
    dlg = page.start_from(TrainingData("classification", table, base="smollm2-135m-instruct"))
    assert dlg.form.base.currentData() == "hub:google-bert/bert-base-uncased"
    assert not dlg.note.isHidden() and "smollm2-135m-instruct" in dlg.note.text()

    # the request came before the model list was read: the base follows once it is
    entries = window.ctx.models.entries
    page.set_models([])
    dlg = page.start_from(TrainingData("classification", table, base="sentiment-minilm"))
    assert dlg.form.base.currentData() != "sentiment-minilm" and not dlg.note.isHidden()
    page.set_models(entries)
    assert dlg.form.base.currentData() == "sentiment-minilm" and dlg.note.isHidden()
    dlg.reject()


def test_selected_chats_become_training_data_with_their_model_as_base(qtbot, window,
                                                                      tmp_path):
    panel, _ = make_chat_panel(qtbot, window, FakeEngine())
    send_and_wait(qtbot, panel, "First question")
    panel.new_chat()
    send_and_wait(qtbot, panel, "Second question")
    panel.new_chat()
    send_and_wait(qtbot, panel, "Not selected")
    model_id = panel.model_box.current_id()
    assert model_id
    side = panel.side
    side.list.clearSelection()
    for i in range(side.list.count()):
        item = side.list.item(i)
        if item.text() != "Not selected":
            item.setSelected(True)
    assert len(side.selected_ids()) == 2
    seen = []
    page = finetune_page(window, recording_trainer(tmp_path, seen))
    with qtbot.waitSignal(window.ctx.links.train_on, timeout=20_000) as blocker:
        side.train_action.trigger()  # Export ▸ Use as training data…
    request = blocker.args[0]
    assert request.task == "chat" and request.base == model_id
    assert request.path.parent == window.ctx.home.root / "training-data"
    lines = [json.loads(line) for line in request.path.read_text().splitlines()]
    assert sorted(m["messages"][-2]["content"] for m in lines) == ["First question",
                                                                   "Second question"]
    assert all(m["messages"][-1]["role"] == "assistant" for m in lines)
    dlg = page.dialog
    assert dlg.form.task.currentData() == "chat"
    assert dlg.form.data_files() == (str(request.path),)
    assert dlg.form.base.currentData() == model_id
    name = dlg.form.output.text()  # named after the file, without its time stamp twice
    assert name.startswith("chats-") and not re.search(r"\d{8}-\d{6}", name), name
    ok_starts_the_run(qtbot, page, dlg)
    assert seen[0].data == (str(request.path),) and seen[0].task == "chat"
    panel.shutdown()


def correct_label(qtbot, view, row: int, label: str) -> None:
    """Double-click the row's label and pick ``label`` in the list that opens."""
    index = view.model().index(row, 2)
    view.scrollTo(index)
    rect = view.visualRect(index)
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.viewport(), Qt.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: view.findChild(QComboBox) is not None, timeout=5000)
    combo = view.findChild(QComboBox)
    assert [combo.itemText(i) for i in range(combo.count())] == view.model().labels
    combo.setCurrentText(label)
    combo.activated.emit(combo.currentIndex())  # what picking it in the list does
    combo.hidePopup()


def test_a_corrected_label_is_marked_and_the_csv_carries_it(qtbot, window, tiny_classifier_dir,
                                                            tmp_path):
    panel, _ = make_classify_panel(qtbot, window, tiny_classifier_dir)
    src = tmp_path / "reviews.csv"
    src.write_text("review\n" + "".join(f"{('a good film', 'a bad film')[i % 2]} {i}\n"
                                        for i in range(12)), encoding="utf-8")
    assert open_and_wait(qtbot, panel, src)
    panel.tabs.setCurrentIndex(1)
    assert not panel.file_tab.train_button.isEnabled()  # nothing classified yet
    with qtbot.waitSignal(panel.batch_finished, timeout=60_000) as blocker:
        panel.run_button.click()
    preds = blocker.args[0]
    assert panel.file_tab.train_button.isEnabled()
    results, flip = panel.results, {"negative": "positive", "positive": "negative"}
    wanted = flip[preds[3].label]
    before = dict(panel.chart.counts)
    correct_label(qtbot, panel.view, 3, wanted)
    assert panel.chart.counts == {**before, wanted: before.get(wanted, 0) + 1,
                                  preds[3].label: before[preds[3].label] - 1}
    assert results.corrected == {3: wanted}
    assert results.data(results.index(3, 2)) == wanted
    assert results.data(results.index(3, 2), Qt.FontRole).bold()
    assert results.data(results.index(3, 4)) == f"✎ was {preds[3].label}"
    assert not isinstance(results.data(results.index(4, 2), Qt.FontRole), QFont)
    assert results.data(results.index(4, 4)) == ""

    seen = []
    page = finetune_page(window, recording_trainer(tmp_path, seen))
    with qtbot.waitSignal(window.ctx.links.train_on, timeout=20_000) as blocker:
        panel.file_tab.train_button.click()
    request = blocker.args[0]
    assert request.task == "classification" and request.base == panel.model_box.current_id()
    with open(request.path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["text", "label"] and len(rows) == 13
    assert rows[4] == ["a bad film 3", wanted]
    assert [r[1] for i, r in enumerate(rows[1:]) if i != 3] == [
        p.label for i, p in enumerate(preds) if i != 3]
    dlg = page.dialog
    assert (dlg.form.task.currentData(), dlg.form.data_files()) == ("classification",
                                                                    (str(request.path),))
    ok_starts_the_run(qtbot, page, dlg)  # two labels at least: the model's and the correction
    assert seen[0].data == (str(request.path),)

    # corrected rows only: one row of one label cannot train a classifier; the page says so
    panel.file_tab.corrected_only.setChecked(True)
    job = panel.train_on_results()
    with qtbot.waitSignal(job.finished, timeout=20_000):
        pass
    assert "two labels" in window.ctx.notify.text.text()
    assert len(list((window.ctx.home.root / "training-data").glob("reviews-labels-*"))) == 1
    panel.shutdown()
