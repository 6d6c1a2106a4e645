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
