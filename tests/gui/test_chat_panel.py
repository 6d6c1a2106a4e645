"""Chat panel with a fake engine (canned tokens), and once with a real tiny model."""


from core.chat import LoadedInfo, ReplyStats, Token, Truncated
from core.events import Done, Progress


class FakeEngine:
    """Yields words one by one; each reply is numbered so a regenerated one differs."""

    def __init__(self, words=("Hello", " there", ",", " friend", "."), delay=0.0):
        self.words = words
        self.delay = delay
        self.calls = 0
        self.requests = []
        self.info = LoadedInfo("Fake", "/fake", "cpu", 0.01, 1000, True)

    def stream(self, request, cancel):
        self.calls += 1
        self.requests.append(request)
        if len(request.messages) > 2:
            yield Truncated(2, 900, 1000)
        text = []
        for w in (f"#{self.calls} ",) + tuple(self.words):
            if cancel.cancelled:
                break
            text.append(w)
            yield Token(w)
            if self.delay:
                cancel.wait(self.delay)
        yield Done(result=ReplyStats("".join(text), len(text), 0.5, 0.1, 10, cancel.cancelled))


def make_panel(qtbot, window, engine):
    from gui.panels.chat import ChatPanel

    loads = []

    def loader(model_id, device, cancel):
        loads.append(model_id)
        yield Progress("Loading the weights", 1, 2)
        yield Done(result=engine)

    panel = ChatPanel(window.ctx, loader=loader)
    qtbot.addWidget(panel)
    panel.show()
    return panel, loads


def send_and_wait(qtbot, panel, text, timeout=10_000):
    with qtbot.waitSignal(panel.reply_finished, timeout=timeout) as blocker:
        panel.composer.setPlainText(text)
        panel.send_button.click()
    return blocker.args[0]


def test_send_is_disabled_for_an_empty_message(qtbot, window):
    panel, _ = make_panel(qtbot, window, FakeEngine())
    panel.composer.setPlainText("   \n ")
    assert not panel.send_button.isEnabled()
    panel.composer.setPlainText("hi")
    assert panel.send_button.isEnabled()
    panel.shutdown()


def test_tokens_appear_and_figures_follow(qtbot, window):
    engine = FakeEngine()
    panel, loads = make_panel(qtbot, window, engine)
    stats = send_and_wait(qtbot, panel, "Say hello")
    assert stats.text == "#1 Hello there, friend."
    assert [v.role for v in panel.views] == ["user", "assistant"]
    reply = panel.views[-1]
    assert reply.body.toPlainText() == "#1 Hello there, friend."
    assert "tokens" in reply.figures.text() and "tok/s" in reply.figures.text()
    assert "Fake" in panel.model_status.text() and "loaded in" in panel.model_status.text()
    # the second message reuses the loaded model
    send_and_wait(qtbot, panel, "Again")
    assert len(loads) == 1 and engine.calls == 2
    assert [m["role"] for m in engine.requests[-1].messages] == ["user", "assistant", "user"]
    panel.shutdown()


def test_stop_keeps_the_partial_reply(qtbot, window):
    engine = FakeEngine(words=tuple(f" w{i}" for i in range(400)), delay=0.02)
    panel, _ = make_panel(qtbot, window, engine)
    panel.composer.setPlainText("Talk for a long time")
    with qtbot.waitSignal(panel.reply_finished, timeout=10_000) as blocker:
        panel.send_button.click()
        qtbot.waitUntil(lambda: panel.stop_button.isVisible(), timeout=5000)
        qtbot.waitUntil(lambda: len(panel.views) == 2 and " w3" in panel.views[-1].text,
                        timeout=5000)
        # the growing reply is already in the history (a killed app keeps it)
        qtbot.waitUntil(lambda: panel.store.messages(panel.conversation.id)[-1].content
                        .startswith("#1  w0 w1"), timeout=5000)
        panel.stop_button.click()
    stats = blocker.args[0]
    assert stats.stopped and 3 < stats.tokens < 400
    assert panel.views[-1].body.toPlainText() == stats.text
    assert "stopped" in panel.views[-1].figures.text()
    saved = panel.store.messages(panel.conversation.id)[-1]
    assert saved.content == stats.text and saved.meta["stopped"] is True
    assert panel.send_button.isVisible() and not panel.stop_button.isVisible()
    panel.shutdown()


def test_regenerate_replaces_the_reply(qtbot, window):
    engine = FakeEngine()
    panel, _ = make_panel(qtbot, window, engine)
    send_and_wait(qtbot, panel, "Say hello")
    with qtbot.waitSignal(panel.reply_finished, timeout=10_000):
        panel.regen_button.click()
    assert [v.role for v in panel.views] == ["user", "assistant"]
    assert panel.views[-1].text.startswith("#2 ")
    stored = panel.store.messages(panel.conversation.id)
    assert [m.role for m in stored] == ["user", "assistant"] and stored[-1].content.startswith("#2")
    panel.shutdown()


def test_edit_a_message_and_resubmit(qtbot, window):
    engine = FakeEngine()
    panel, _ = make_panel(qtbot, window, engine)
    send_and_wait(qtbot, panel, "first question")
    send_and_wait(qtbot, panel, "second question")
    first_user = panel.views[0]
    first_user.edit_button.click()
    assert panel.composer.toPlainText() == "first question"
    assert panel.send_button.text() == "Resubmit"
    send_and_wait(qtbot, panel, "first question, edited")
    stored = panel.store.messages(panel.conversation.id)
    assert [m.content for m in stored if m.role == "user"] == ["first question, edited"]
    assert len(panel.views) == 2
    panel.shutdown()


def test_truncation_notice_is_shown(qtbot, window):
    panel, _ = make_panel(qtbot, window, FakeEngine())
    send_and_wait(qtbot, panel, "one")
    send_and_wait(qtbot, panel, "two")
    assert panel.notice.isVisible() and "oldest" in panel.notice.text()
    panel.shutdown()


def test_history_survives_a_restart_and_search_finds_it(qtbot, window):
    panel, _ = make_panel(qtbot, window, FakeEngine())
    send_and_wait(qtbot, panel, "Tell me about otters")
    panel.rename("Otter facts")
    panel.shutdown()
    panel.close()
    again, _ = make_panel(qtbot, window, FakeEngine())
    titles = [again.chat_list.item(i).text() for i in range(again.chat_list.count())]
    assert titles == ["Otter facts"]
    assert [v.text for v in again.views][0] == "Tell me about otters"
    assert again.views[1].text.startswith("#1 Hello")
    again.search.setText("OTTERS")  # text of a message, any case
    assert again.chat_list.count() == 1
    again.search.setText("badgers")
    assert again.chat_list.count() == 0
    again.shutdown()


def test_export_markdown_and_json(qtbot, window, tmp_path):
    import json

    panel, _ = make_panel(qtbot, window, FakeEngine())
    send_and_wait(qtbot, panel, "Export me")
    panel.export(str(tmp_path / "c.md"), "md")
    panel.export(str(tmp_path / "c.json"), "json")
    md = (tmp_path / "c.md").read_text()
    assert "Export me" in md and "#1 Hello there" in md
    data = json.loads((tmp_path / "c.json").read_text())
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    panel.shutdown()


def test_markdown_code_blocks_render_monospace(qtbot):
    from PySide6.QtGui import QFontInfo

    from gui.widgets.message_view import MessageView

    view = MessageView("assistant", "Here:\n\n```python\nprint('hi')\n```\n")
    qtbot.addWidget(view)
    doc = view.body.document()
    block = doc.findBlock(doc.toPlainText().index("print"))
    assert block.blockFormat().nonBreakableLines() or block.charFormat().fontFixedPitch() \
        or QFontInfo(block.charFormat().font()).fixedPitch()
    assert "print('hi')" in doc.toPlainText()


def test_a_failing_model_load_is_reported_and_the_panel_recovers(qtbot, window):
    from core.errors import ModelUnavailable
    from gui.panels.chat import ChatPanel

    def loader(model_id, device, cancel):
        raise ModelUnavailable("The model files are missing.")
        yield

    panel = ChatPanel(window.ctx, loader=loader)
    qtbot.addWidget(panel)
    panel.composer.setPlainText("hello")
    panel.send_button.click()
    qtbot.waitUntil(lambda: not panel.session.busy, timeout=5000)
    assert window.notify.isVisible() and "missing" in window.notify.text.text()
    assert panel.regen_button.isEnabled()  # retry is possible
    assert panel.store.messages(panel.conversation.id)[0].content == "hello"
    panel.shutdown()


def test_real_tiny_model_through_the_panel(qtbot, window, tiny_chat_dir):
    """The default loader path (registry, device choice, ChatEngine) on a tiny model folder."""
    from gui.panels.chat import ChatPanel

    entry = window.ctx.registry.add_local(tiny_chat_dir)
    panel = ChatPanel(window.ctx)
    qtbot.addWidget(panel)
    panel.model_box.set_entries(window.ctx.registry.entries())
    panel.model_box.select(entry.id)
    assert panel.model_box.current_name() == entry.name
    panel.settings_box.max_new.setValue(8)
    stats = send_and_wait(qtbot, panel, "the quick", timeout=60_000)
    assert stats.tokens == 8 and panel.views[-1].text == stats.text
    panel.shutdown()


def test_quitting_mid_reply_saves_what_was_shown(qtbot, home):
    from core.chat import HistoryStore
    from gui.window import MainWindow

    win = MainWindow(home)
    qtbot.addWidget(win)
    engine = FakeEngine(words=tuple(f" w{i}" for i in range(400)), delay=0.02)
    panel, _ = make_panel(qtbot, win, engine)
    win.pages["chat"] = panel  # the window shuts it down on close, as it does its own pages
    panel.composer.setPlainText("Talk")
    panel.send_button.click()
    qtbot.waitUntil(lambda: len(panel.views) == 2 and " w5" in panel.views[-1].text, timeout=5000)
    with qtbot.waitSignal(win.closed, timeout=5000):
        win.close()  # the reply stops; the window closes when its job has ended
    store = HistoryStore(home.root / "chats.sqlite3")
    conv = store.conversations()[0]
    reply = store.messages(conv.id)[-1]
    assert reply.role == "assistant" and reply.content.startswith("#1  w0 w1 w2 w3 w4 w5")
    store.close()


def test_a_gguf_model_streams_on_llama_cpp(qtbot, window, tiny_chat_dir):
    """The real SmolLM2 GGUF through the default loader: llama.cpp, no conversion, the engine
    in the loaded line, and beam search disabled with the reason (enabled again for a model
    that runs on transformers)."""
    from core.chat import DEFAULT_CHAT_MODEL
    from gui.panels.chat import ChatPanel

    folder = window.ctx.registry.add_local(tiny_chat_dir)
    panel = ChatPanel(window.ctx)
    qtbot.addWidget(panel)
    panel.model_box.set_entries(window.ctx.registry.entries())
    panel.model_box.select(DEFAULT_CHAT_MODEL)
    box = panel.settings_box
    assert not box.beam_allowed and "transformers" in box.decoding.toolTip()
    box.decoding.setCurrentIndex(box.decoding.findData("greedy"))
    box.max_new.setValue(16)
    box.system.setPlainText("You are a helpful assistant.")
    stats = send_and_wait(qtbot, panel, "What is the capital of France?", timeout=60_000)
    assert stats.tokens > 0 and "Paris" in stats.text
    assert panel.views[-1].text == stats.text
    status = panel.model_status.text()
    assert "llama.cpp · Q4_1 · 98 MB · CPU · context 8192" in status, status
    assert not box.beam_allowed
    assert not window.ctx.registry.home.converted.exists() or not any(
        window.ctx.registry.home.converted.iterdir())  # nothing was converted
    panel.model_box.select(folder.id)  # a folder model runs on transformers: beam is back
    assert box.beam_allowed and box.decoding.toolTip() == ""
    panel.shutdown()


def test_the_context_cap_reaches_the_llama_cpp_load(qtbot, window):
    """The Context cap setting caps the context a model loads with (the loaded line says so);
    it is kept for the next start, and a new cap loads the model again."""
    from core.chat import DEFAULT_CHAT_MODEL
    from gui.panels.chat import ChatPanel

    panel = ChatPanel(window.ctx)
    qtbot.addWidget(panel)
    panel.model_box.set_entries(window.ctx.registry.entries())
    panel.model_box.select(DEFAULT_CHAT_MODEL)
    box = panel.settings_box
    box.decoding.setCurrentIndex(box.decoding.findData("greedy"))
    box.max_new.setValue(4)
    box.context_cap.setValue(2048)
    send_and_wait(qtbot, panel, "Hello", timeout=60_000)
    assert "context 2048" in panel.model_status.text(), panel.model_status.text()
    assert panel.session.model.info.context == 2048
    assert int(window.ctx.settings.get("chat/context_cap", 0)) == 2048
    first = panel.session.model
    box.context_cap.setValue(1024)
    send_and_wait(qtbot, panel, "Hello again", timeout=60_000)
    assert panel.session.model is not first and panel.session.model.info.context == 1024
    panel.shutdown()
