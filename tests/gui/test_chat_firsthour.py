"""The Chat page for a newcomer: defaults from the model in use (the ones the CLI uses), presets,
stopped replies measured and marked, titles that can be told apart, columns that keep their width,
code fences rendered while streaming."""
import json

from core.chat import ReplyStats, Token
from core.events import Done
from tests.gui.test_chat_panel import FakeEngine, make_panel, send_and_wait


class BufferedEngine(FakeEngine):
    """Like a real engine, tokens already generated still arrive after Stop (a streamer's queue),
    then Done with the figures and stopped=True."""

    def stream(self, request, cancel):
        self.calls += 1
        text = []
        for i in range(400):
            if cancel.cancelled:
                for tail in (" tail1", " tail2"):  # already in the queue when Stop came
                    text.append(tail)
                    yield Token(tail)
                break
            text.append(f" w{i}")
            yield Token(f" w{i}")
            cancel.wait(0.02)
        yield Done(result=ReplyStats("".join(text), len(text), 1.0, 0.1, 10, cancel.cancelled))


def test_a_stopped_reply_is_measured_and_marked(qtbot, window):
    panel, _ = make_panel(qtbot, window, BufferedEngine())
    panel.composer.setPlainText("Talk for a long time")
    with qtbot.waitSignal(panel.reply_finished, timeout=10_000) as blocker:
        panel.send_button.click()
        qtbot.waitUntil(lambda: len(panel.views) == 2 and " w3" in panel.views[-1].text,
                        timeout=5000)
        panel.stop()  # as Esc does
    stats = blocker.args[0]
    assert stats is not None and stats.stopped and stats.text.endswith(" tail1 tail2")
    figures = panel.views[-1].figures.text()
    assert "stopped" in figures and "tok/s" in figures
    saved = panel.store.messages(panel.conversation.id)[-1]
    assert saved.meta["stopped"] is True and saved.meta["tokens"] == stats.tokens
    panel.shutdown()


def test_new_chat_takes_the_model_defaults_the_cli_uses(qtbot, window, tmp_path):
    """A model whose generation_config.json sets sampling: the panel's new chat gets exactly
    what `main.py chat` would use for it (core.chat.model_defaults, balanced)."""
    import argparse

    from core.chat import model_defaults
    from core.cli import chat as cli_chat
    from tests.tiny_models import tiny_gpt2

    folder = tiny_gpt2(tmp_path / "tiny-gen")
    (folder / "generation_config.json").write_text(json.dumps(
        {"do_sample": True, "temperature": 0.45, "top_p": 0.85, "top_k": 30}))
    entry = window.ctx.registry.add_local(folder)
    panel, _ = make_panel(qtbot, window, FakeEngine())
    panel.model_box.set_entries(window.ctx.registry.entries())
    panel.model_box.select(entry.id)
    parser = argparse.ArgumentParser()
    cli_chat.add_parser(parser.add_subparsers())
    cli = cli_chat.settings_from(parser.parse_args(["chat", "hi"]), model_defaults(folder))
    assert panel.settings_box.values() == cli
    assert panel.settings_box.preset_buttons["balanced"].isChecked()
    assert "generation_config" in panel.settings_box.defaults_note.text()
    panel.shutdown()


def test_the_bundled_model_starts_with_a_low_temperature(qtbot, window):
    from core.chat import DEFAULT_CHAT_MODEL

    panel, _ = make_panel(qtbot, window, FakeEngine())
    panel.model_box.set_entries([])  # a first start, before the registry's first scan
    assert panel.settings_box.values().temperature <= 0.3
    panel.model_box.set_entries(window.ctx.registry.entries())
    panel.model_box.select(DEFAULT_CHAT_MODEL)
    s = panel.settings_box.values()
    assert s.decoding == "sampling" and s.temperature <= 0.3  # not 0.7: a 135M model wanders
    panel.shutdown()


def test_presets_set_the_detailed_settings_and_follow_them(qtbot, window):
    panel, _ = make_panel(qtbot, window, FakeEngine())
    box = panel.settings_box
    box.max_new.setValue(77)
    box.preset_buttons["precise"].click()
    assert box.values().decoding == "greedy" and box.values().max_new_tokens == 77
    assert box.preset_buttons["precise"].isChecked()
    box.preset_buttons["creative"].click()
    creative = box.values()
    assert creative.decoding == "sampling"
    assert creative.temperature > box.defaults.settings.temperature
    assert [n for n, b in box.preset_buttons.items() if b.isChecked()] == ["creative"]
    box.temperature.setValue(1.93)  # by hand: custom, no preset checked
    assert not any(b.isChecked() for b in box.preset_buttons.values())
    # the chosen preset is what the chat keeps
    send_and_wait(qtbot, panel, "hello")
    box.preset_buttons["balanced"].click()
    assert panel.store.get(panel.conversation.id).settings == box.values().to_dict()
    panel.shutdown()


def test_chats_with_the_same_title_can_be_told_apart(qtbot, window):
    panel, _ = make_panel(qtbot, window, FakeEngine())
    for _ in range(2):
        panel.new_chat()
        send_and_wait(qtbot, panel, "What is the capital of France, and why is it that one?")
    texts = [panel.chat_list.item(i).text() for i in range(panel.chat_list.count())]
    assert len(texts) == 2 and texts[0] != texts[1]
    assert all(t.startswith("What is the capital of France") for t in texts)
    panel.shutdown()


def test_side_columns_keep_their_width_while_a_model_loads(qtbot, window):
    from core.events import Progress

    panel, _ = make_panel(qtbot, window, FakeEngine())
    panel.resize(1000, 700)
    qtbot.wait(20)
    side, settings = panel.side.width(), panel.settings_panel.width()
    panel.model_box._on_loading("x")
    panel.model_box._on_progress(Progress("Dequantizing the weights of a model with a long name",
                                          1, 3, "SmolLM2-135M-Instruct"))
    qtbot.wait(20)
    assert (panel.side.width(), panel.settings_panel.width()) == (side, settings)
    for b in (panel.rename_button, panel.delete_button, panel.export_button):
        assert b.width() >= b.sizeHint().width()  # not clipped ("Expor")
    assert panel.model_box.progress.width() <= 140  # the stage is in the status line
    assert "Dequantizing" in panel.model_status.text()
    panel.shutdown()


def test_the_page_has_a_title_and_figures_fit_under_the_reply(qtbot, window):
    from PySide6.QtWidgets import QLabel

    panel, _ = make_panel(qtbot, window, FakeEngine())
    assert "Chat" in [w.text() for w in panel.findChildren(QLabel, "pageTitle")]
    send_and_wait(qtbot, panel, "hello")
    reply = panel.views[-1]
    qtbot.wait(20)
    # the figures line is under the text, not squeezed beside Copy
    assert reply.figures.geometry().top() >= reply.body.geometry().bottom()
    assert reply.figures.width() >= min(reply.figures.sizeHint().width(), reply.body.width())
    panel.shutdown()


def test_code_fences_render_while_streaming(qtbot):
    from gui.widgets.message_view import MessageView

    view = MessageView("assistant", "")
    qtbot.addWidget(view)
    view.set_text("", final=False)
    for piece in ("Here:\n\n", "```python\n", "print('hi')\n"):  # the fence is still open
        view.append(piece)
    shown = view.body.document().toPlainText()
    assert "```" not in shown and "print('hi')" in shown
    view.append("```\nDone.")
    assert "```" not in view.body.document().toPlainText()
    assert view.text.endswith("```\nDone.")  # the text itself is kept as it came
