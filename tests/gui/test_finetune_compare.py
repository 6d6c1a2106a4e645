"""Compare with base on the Fine-tune page: real tiny runs measured in a job, the result in a
dialog (figures of both models, a confusion matrix each, or the samples side by side); Cancel
stops a comparison."""
from __future__ import annotations

import pytest

from core.cancel import CancelToken
from core.events import Done, Progress
from core.finetune import FinetuneConfig, train
from tests.tiny_models import CORPUS


def _train(home, registry, config):
    events = list(train(config, CancelToken(), home=home, registry=registry))
    assert isinstance(events[-1], Done)
    return events[-1].result


def _page(qtbot, window, comparer=None):
    from gui.panels.finetune import FinetunePanel

    panel = FinetunePanel(window.ctx)
    if comparer is not None:
        panel.compare.comparer = comparer
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.history.count() == 1 and panel.compare.button.isEnabled(),
                    timeout=15_000)
    return panel


def _compare(qtbot, panel):
    panel.compare.button.click()
    dlg = panel.compare.dialog
    assert dlg is not None and dlg.running and not dlg.progress.isHidden()
    qtbot.waitUntil(lambda: panel.compare.job is None, timeout=120_000)
    assert not dlg.running
    return dlg


def _cells(table) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())]


def test_compare_a_classifier_with_its_base(qtbot, window, tiny_classifier_dir, tmp_path):
    from PySide6.QtWidgets import QTableWidget

    rows = [(f"good {w} fine great", "positive") if i % 2 else (f"bad {w} dull awful", "negative")
            for i, w in enumerate(("film story day meal room song book play show trip " * 4)
                                  .split())]
    table = tmp_path / "reviews.csv"
    table.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    m = _train(window.ctx.home, window.ctx.registry, FinetuneConfig(
        task="classification", base=str(tiny_classifier_dir), data=(str(table),), output="cls",
        method="full", max_steps=30, learning_rate=5e-3, batch_size=8, max_length=16,
        eval_split=0.3, save_steps=100, device="cpu")).metrics
    panel = _page(qtbot, window)
    dlg = _compare(qtbot, panel)
    cmp = dlg.result
    assert cmp is not None and cmp.classification and cmp.n_eval == 12
    tables = dlg.findChildren(QTableWidget)
    figures = next(t for t in tables if t.rowCount() == 2 and "Base" in
                   t.horizontalHeaderItem(0).text())
    assert _cells(figures) == [[f"{m['base_accuracy']:.3f}", f"{m['accuracy']:.3f}"],
                               [f"{m['base_f1_macro']:.3f}", f"{m['f1_macro']:.3f}"]]
    matrices = [t for t in tables if t.objectName() == "confusion"]
    assert len(matrices) == 2
    for t, score in zip(matrices, (cmp.base, cmp.tuned)):
        values = [[int(x) for x in row] for row in _cells(t)]
        assert values == [list(r) for r in score.confusion]
        assert sum(map(sum, values)) == cmp.n_eval
    assert _cells(matrices[0]) != _cells(matrices[1])
    assert "Accuracy" in dlg.heading.text() and " → " in dlg.heading.text()
    dlg.reject()
    assert not dlg.isVisible()


def test_compare_a_language_model_with_its_base(qtbot, window, tiny_gpt2_dir, tmp_path):
    from PySide6.QtWidgets import QTextBrowser

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS), encoding="utf-8")
    _train(window.ctx.home, window.ctx.registry, FinetuneConfig(
        task="causal-lm", base=str(tiny_gpt2_dir), data=(str(corpus),), output="words",
        method="full", max_steps=12, learning_rate=3e-3, batch_size=4, chunk_length=32,
        overlap=0, eval_split=0.2, save_steps=100, device="cpu"))
    panel = _page(qtbot, window)
    dlg = _compare(qtbot, panel)
    cmp = dlg.result
    assert cmp is not None and not cmp.classification
    assert cmp.tuned.perplexity < cmp.base.perplexity
    shown = [v.toPlainText() for v in dlg.findChildren(QTextBrowser)]
    assert len(shown) == 9  # three rows: prompt, base, tuned
    assert shown[0::3] == list(cmp.prompts)
    assert shown[1::3] == list(cmp.base.samples) and shown[2::3] == list(cmp.tuned.samples)
    assert shown[1::3] != shown[2::3]
    dlg.reject()


def test_cancel_stops_a_comparison(qtbot, window, tiny_gpt2_dir, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS), encoding="utf-8")
    _train(window.ctx.home, window.ctx.registry, FinetuneConfig(
        task="causal-lm", base=str(tiny_gpt2_dir), data=(str(corpus),), output="short",
        method="full", max_steps=1, batch_size=4, chunk_length=32, overlap=0, eval_split=0.2,
        save_steps=100, device="cpu"))
    seen = []

    def slow(name, cancel, **kw):  # measures until cancelled
        seen.append(name)
        for i in range(2000):
            cancel.raise_if_cancelled()
            yield Progress("Measuring the base model", i, 2000)
            cancel.wait(0.01)
        pytest.fail("the comparison was not cancelled")

    panel = _page(qtbot, window, comparer=slow)
    panel.compare.button.click()
    dlg = panel.compare.dialog
    qtbot.waitUntil(lambda: "Measuring" in dlg.progress.format(), timeout=5000)
    assert not panel.compare.button.isEnabled()
    dlg.reject()  # Cancel while it runs: cancels, the dialog stays to say so
    qtbot.waitUntil(lambda: panel.compare.job is None, timeout=10_000)
    assert seen == ["short"] and dlg.heading.text() == "Cancelled." and dlg.result is None
    assert panel.compare.button.isEnabled()
    dlg.reject()
