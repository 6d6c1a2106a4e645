"""Fine-tune page: the run form's learning-rate default per task and method, and the hard-cut
string as typed."""
import pytest

from tests.gui.test_finetune_jobs import fake_preview
from tests.gui.test_finetune_panel import press_ok


def make_dialog(qtbot, window):
    from gui.panels.finetune import NewRunDialog

    dlg = NewRunDialog(window.ctx, window.ctx.registry.entries(),
                       previewer=lambda config, registry: fake_preview(config))
    qtbot.addWidget(dlg)
    return dlg


def choose(combo, key):
    combo.setCurrentIndex(combo.findData(key))


def test_the_learning_rate_follows_the_task_and_method_defaults(qtbot, window):
    from core.finetune import default_learning_rate
    from gui.panels.finetune.form import lr_text

    dlg = make_dialog(qtbot, window)
    form = dlg.form
    for task, method in (("causal-lm", "lora"), ("causal-lm", "full"), ("classification", "full"),
                         ("classification", "lora"), ("chat", "lora"), ("chat", "full")):
        choose(form.task, task)
        choose(form.method, method)
        assert float(form.lr.text()) == default_learning_rate(task, method), (task, method)
        assert dlg.config_dict()["learning_rate"] == default_learning_rate(task, method)
    choose(form.task, "causal-lm")
    choose(form.method, "lora")
    choose(form.method, "full")
    assert form.lr.text() == lr_text(5e-5) == "5e-05"  # full training: not LoRA's 2e-04


def test_a_typed_learning_rate_survives_a_change_of_method_or_task(qtbot, window):
    dlg = make_dialog(qtbot, window)
    form = dlg.form
    form.lr.clear()
    qtbot.keyClicks(form.lr, "3e-4")
    choose(form.method, "full")
    choose(form.task, "classification")
    choose(form.method, "lora")
    assert form.lr.text() == "3e-4" and dlg.config_dict()["learning_rate"] == 3e-4


@pytest.mark.parametrize(("typed", "meant"), [
    ("§ — é", "§ — é"),
    ("\\n\\n\\n", "\n\n\n"),  # backslash-n typed as two characters: a newline
    ("— Chapter\\n", "— Chapter\n"),
    ("C:\\path", "C:\\path"),  # a backslash before anything else stays a backslash
])
def test_the_hard_cut_reaches_the_config_as_typed(qtbot, window, tmp_path, typed, meant):
    text = tmp_path / "book.txt"
    text.write_text("Once upon a time. " * 100, encoding="utf-8")
    dlg = make_dialog(qtbot, window)
    dlg.add_files([str(text)])
    dlg.form.output.setText("book")
    dlg.form.hard_cut.insert(typed)  # as typed (QTest cannot type non-ASCII keys)
    dlg.form.hard_cut.editingFinished.emit()
    assert dlg.config_dict()["hard_cut"] == meant
    assert press_ok(qtbot, dlg) is True
    assert dlg.config.hard_cut == meant


def test_the_dialog_remembers_the_last_file_and_settings_per_task(qtbot, window, tmp_path):
    story, table = tmp_path / "story.txt", tmp_path / "reviews.csv"
    story.write_text("Once upon a time. " * 100)
    table.write_text("text,label\n" + "".join(f"review {i},{'ab'[i % 2]}\n" for i in range(40)))
    first = make_dialog(qtbot, window)
    choose(first.form.task, "causal-lm")
    first.add_files([str(story)])
    first.form.max_steps.setValue(30)
    first.form.lr.setText("1e-03")
    first.form.hard_cut.setText("\\n\\n")
    assert press_ok(qtbot, first) is True
    second = make_dialog(qtbot, window)  # opens on the last task, with its file and settings
    assert second.form.task.currentData() == "causal-lm"
    assert second.form.data_files() == (str(story),)
    assert second.form.max_steps.value() == 30 and second.form.lr.text() == "1e-03"
    assert second.config_dict()["hard_cut"] == "\n\n" and second.form.output.text() == ""
    choose(second.form.task, "classification")
    second.form.files.clear()
    second.add_files([str(table)])
    second.form.epochs.setValue(3)
    second.form.output.setText("reviews")
    assert press_ok(qtbot, second) is True
    third = make_dialog(qtbot, window)
    assert third.form.task.currentData() == "classification"
    assert third.form.data_files() == (str(table),) and third.form.epochs.value() == 3
    choose(third.form.task, "causal-lm")
    assert third.form.data_files() == (str(story),) and third.form.max_steps.value() == 30


def test_epochs_wait_while_max_steps_decide_and_the_sections_are_not_numbered(qtbot, window):
    from PySide6.QtWidgets import QGroupBox

    form = make_dialog(qtbot, window).form
    assert form.epochs.isEnabled()
    form.max_steps.setValue(100)
    assert not form.epochs.isEnabled()
    form.max_steps.setValue(-1)  # "by epochs"
    assert form.epochs.isEnabled()
    titles = [box.title() for box in form.findChildren(QGroupBox)]
    assert titles == ["Task and data", "Base model and method", "Training and output"]
