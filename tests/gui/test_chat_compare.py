"""The Chat page's Compare mode: one prompt, two models, two streamed columns with figures; Stop
stops both. Fake engines (canned tokens), and once two real tiny models."""
from __future__ import annotations

from core.events import Done, Progress
from tests.gui.test_chat_panel import FakeEngine


def make_panel(qtbot, window, engines: dict, monkeypatch):
    """A Chat page whose loader hands out ``engines`` by model id. The fake ids are not in the
    registry: the model list is left as the first scan made it (a later scan would put the
    pickers back on a listed model)."""
    from gui.panels.chat import ChatPanel

    hub = window.ctx.models
    qtbot.waitUntil(lambda: hub._scan is None, timeout=10_000)
    monkeypatch.setattr(hub, "refresh", lambda: None)

    loads = []

    def loader(model_id, device, cancel):
        loads.append(model_id)
        yield Progress("Loading the weights", 1, 2)
        yield Done(result=engines[model_id])

    panel = ChatPanel(window.ctx, loader=loader)
    qtbot.addWidget(panel)
    panel.show()
    return panel, loads


def pick(panel, left: str, right: str) -> None:
    panel.compare.toggle.click()
    assert panel.compare.isVisible() and not panel.transcript.isVisible()
    a, b = panel.compare.columns
    a.box.select(left)
    b.box.select(right)


def test_compare_streams_two_replies_with_their_figures(qtbot, window, monkeypatch):
    one = FakeEngine(words=("Left", " answer", "."))
    two = FakeEngine(words=("Right", " reply", " here", "."))
    two.info = type(one.info)("Other", "/other", "cpu", 0.01, 1000, True)
    panel, loads = make_panel(qtbot, window, {"fake-a": one, "fake-b": two}, monkeypatch)
    pick(panel, "fake-a", "fake-b")
    pane = panel.compare
    pane.prompt.setPlainText("Say something")
    with qtbot.waitSignal(pane.finished, timeout=10_000) as blocker:
        pane.compare_button.click()
    left, right = blocker.args[0]
    assert left.text == "#1 Left answer." and right.text == "#1 Right reply here."
    a, b = pane.columns
    assert a.view.body.toPlainText() == left.text and b.view.body.toPlainText() == right.text
    for col, name, stats in ((a, "Fake", left), (b, "Other", right)):
        fig = col.view.figures.text()
        assert f"{stats.tokens} tokens" in fig and "tok/s" in fig and "TTFT" in fig
        assert fig.endswith(name)
    assert loads == ["fake-a", "fake-b"]
    for engine in (one, two):  # the same request, the prompt alone
        assert engine.calls == 1
        assert [m["content"] for m in engine.requests[0].messages] == ["Say something"]
    assert one.requests[0].settings == two.requests[0].settings
    # the conversation is left alone; Compare off shows it again
    assert panel.conversation is None and not panel.views
    pane.toggle.click()
    assert panel.transcript.isVisible() and not pane.isVisible()
    panel.shutdown()


def test_stop_stops_both(qtbot, window, monkeypatch):
    slow = tuple(f" w{i}" for i in range(400))
    one, two = FakeEngine(words=slow, delay=0.02), FakeEngine(words=slow, delay=0.02)
    panel, loads = make_panel(qtbot, window, {"fake-a": one, "fake-b": two}, monkeypatch)
    pick(panel, "fake-a", "fake-b")
    pane = panel.compare
    pane.prompt.setPlainText("Talk for a long time")
    a, b = pane.columns
    with qtbot.waitSignal(pane.finished, timeout=10_000) as blocker:
        pane.compare_button.click()
        qtbot.waitUntil(lambda: pane.stop_button.isVisible(), timeout=5000)
        qtbot.waitUntil(lambda: " w3" in a.view.text, timeout=5000)
        pane.stop_button.click()
    left, right = blocker.args[0]
    assert left.stopped and 3 < left.tokens < 400 and "stopped" in a.view.figures.text()
    assert right is None and two.calls == 0 and loads == ["fake-a"]
    assert "stopped before it began" in b.view.figures.text()
    assert pane.compare_button.isVisible() and not pane.stop_button.isVisible()
    panel.shutdown()


def test_stop_during_the_second_reply_ends_it(qtbot, window, monkeypatch):
    """Escape (the page's stop) reaches the pane too: the right reply, in progress, stops."""
    one = FakeEngine(words=("short",))
    two = FakeEngine(words=tuple(f" w{i}" for i in range(400)), delay=0.02)
    panel, _ = make_panel(qtbot, window, {"fake-a": one, "fake-b": two}, monkeypatch)
    pick(panel, "fake-a", "fake-b")
    pane = panel.compare
    pane.prompt.setPlainText("Go")
    with qtbot.waitSignal(pane.finished, timeout=10_000) as blocker:
        pane.compare_button.click()
        qtbot.waitUntil(lambda: " w3" in pane.columns[1].view.text, timeout=5000)
        panel.stop()
    left, right = blocker.args[0]
    assert not left.stopped and right.stopped and right.tokens < 400
    assert "stopped" in pane.columns[1].view.figures.text()
    panel.shutdown()


def test_two_real_tiny_models_side_by_side(qtbot, window, tiny_chat_dir, tiny_gpt2_dir):
    """The default loader (registry, ChatEngine) on two different tiny model folders."""
    from gui.panels.chat import ChatPanel

    reg = window.ctx.registry
    first, second = reg.add_local(tiny_chat_dir), reg.add_local(tiny_gpt2_dir)
    panel = ChatPanel(window.ctx)
    qtbot.addWidget(panel)
    panel.show()
    panel.settings_box.max_new.setValue(8)
    panel.settings_box.seed.setValue(1)  # repeatable: unseeded, a random model sampled EOS early at times
    panel.compare.toggle.click()
    a, b = panel.compare.columns
    for col, entry in ((a, first), (b, second)):
        col.box.set_entries(reg.entries())
        col.box.select(entry.id)
    panel.compare.prompt.setPlainText("the quick")
    with qtbot.waitSignal(panel.compare.finished, timeout=60_000) as blocker:
        panel.compare.compare_button.click()
    left, right = blocker.args[0]
    assert left.tokens == 8 and right.tokens == 8
    assert a.view.text == left.text and b.view.text == right.text
    assert a.session.model is not b.session.model
    assert a.session.model.info.path != b.session.model.info.path
    for col in (a, b):
        assert "8 tokens" in col.view.figures.text() and "TTFT" in col.view.figures.text()
    panel.shutdown()


def test_the_attachment_chips_hide_in_compare_mode_and_come_back(qtbot, window, tmp_path):
    from tests.gui.test_chat_attach import ScriptedEngine, attach_and_wait
    from tests.gui.test_chat_panel import make_panel

    note = tmp_path / "note.txt"
    note.write_text("One line.\n")
    panel, _ = make_panel(qtbot, window, ScriptedEngine())
    attach_and_wait(qtbot, panel, [note])
    assert panel.attachments.bar.isVisible()
    panel.compare.set_active(True)
    assert not panel.attachments.bar.isVisible()
    panel.compare.set_active(False)
    assert panel.attachments.bar.isVisible()
    panel.shutdown()
