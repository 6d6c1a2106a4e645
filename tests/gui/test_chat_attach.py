"""Files in a chat on the Chat page: attach, sources under the answer, Ask in Chat, [mm:ss] links."""
import json

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLabel, QToolButton

from core.chat import LoadedInfo, ReplyStats, Token
from core.events import Done
from gui.links import AskInChat, SegmentLink
from tests.core.test_chat_attach import FACT, WordEmbedder, fake_retriever, filler
from tests.gui.test_chat_panel import make_panel, send_and_wait


class ScriptedEngine:
    """Answers with a fixed text; records the requests."""

    def __init__(self, answer="Noted.", context=1000):
        self.answer = answer
        self.requests = []
        self.info = LoadedInfo("Fake", "/fake", "cpu", 0.01, context, True)

    def stream(self, request, cancel):
        self.requests.append(request)
        yield Token(self.answer)
        yield Done(result=ReplyStats(self.answer, 3, 0.2, 0.05, 10, False))


def attach_and_wait(qtbot, panel, paths):
    with qtbot.waitSignal(panel.attachments.attached, timeout=30_000) as blocker:
        panel.attachments.attach(paths)
    assert blocker.args == [True]


def test_attach_then_ask_the_tiny_model_shows_the_sources(qtbot, window, tiny_chat_dir, tmp_path):
    from gui.panels.chat import ChatPanel

    p = tmp_path / "notes.txt"
    p.write_text("Alpha.\nBeta.\nGamma.\n")
    entry = window.ctx.registry.add_local(tiny_chat_dir)
    panel = ChatPanel(window.ctx)
    qtbot.addWidget(panel)
    panel.show()
    panel.model_box.set_entries(window.ctx.registry.entries())
    panel.model_box.select(entry.id)
    panel.settings_box.max_new.setValue(8)
    attach_and_wait(qtbot, panel, [p])
    assert panel.conversation.title == "notes.txt"
    assert [c.findChild(QLabel).text() for c in panel.attachments.bar.chips] \
        == ["notes.txt"]
    assert panel.attachments.bar.isVisible()
    stats = send_and_wait(qtbot, panel, "What comes second?", timeout=60_000)
    assert stats.tokens == 8
    reply = panel.views[-1]
    assert reply.sources.isVisible() and "notes.txt · lines 1–3 (whole file)" in reply.sources.text()
    saved = panel.store.messages(panel.conversation.id)[-1]
    assert saved.meta["sources"][0]["last_line"] == 3
    # reopened, the answer still shows them
    conv = panel.conversation.id
    panel.new_chat()
    assert not panel.attachments.bar.isVisible()
    panel.open_conversation(conv)
    assert "lines 1–3" in panel.views[-1].sources.text() and panel.attachments.bar.isVisible()
    panel.shutdown()


def test_a_long_file_is_answered_from_its_nearest_chunk(qtbot, window, tmp_path):
    p = tmp_path / "report.txt"
    p.write_text(filler(60, fact_at=37))
    engine = ScriptedEngine()
    panel, _ = make_panel(qtbot, window, engine)
    embedder = WordEmbedder()
    panel.attachments._retriever = fake_retriever(embedder)
    panel.settings_box.max_new.setValue(64)
    attach_and_wait(qtbot, panel, [p])
    send_and_wait(qtbot, panel, "What is the secret launch code for the orbital telescope?")
    first = panel.store.messages(panel.conversation.id)[-1].meta["sources"][0]
    assert first["first_line"] <= 37 <= first["last_line"] and first["score"] > 0
    assert f"report.txt · lines {first['first_line']}–{first['last_line']}" in \
        panel.views[-1].sources.text()
    assert FACT in engine.requests[-1].system_prompt
    # the chunks were embedded once and kept: the next question embeds only itself
    [kept] = panel.store.attachments.of(panel.conversation.id)
    assert kept.vectors is not None
    panel.open_conversation(panel.conversation.id)
    embedder.texts.clear()
    send_and_wait(qtbot, panel, "And the weather?")
    assert embedder.texts == ["And the weather?"]
    panel.shutdown()


def test_a_binary_file_is_refused_with_its_name(qtbot, window, tmp_path):
    p = tmp_path / "image.txt"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    panel, _ = make_panel(qtbot, window, ScriptedEngine())
    with qtbot.waitSignal(panel.attachments.attached, timeout=10_000) as blocker:
        panel.attachments.attach([p])
    assert blocker.args == [False]
    assert window.notify.isVisible() and "image.txt" in window.notify.text.text()
    assert panel.store.attachments.of(panel.conversation.id) == []
    panel.shutdown()


def test_ask_about_opens_a_chat_with_the_file_and_asks(qtbot, window, tmp_path):
    p = tmp_path / "minutes.md"
    p.write_text("# Minutes\nBudget approved: 12,000 euros.\n")
    engine = ScriptedEngine("The budget is 12,000 euros (minutes.md, lines 2-2).")
    panel, _ = make_panel(qtbot, window, engine)
    with qtbot.waitSignal(panel.reply_finished, timeout=30_000):
        panel.ask_about(AskInChat(p, question="What budget was approved?"))
    assert panel.conversation.title == "minutes.md"
    assert [a.name for a in panel.attachments.items] == ["minutes.md"]
    assert [v.role for v in panel.views] == ["user", "assistant"]
    assert "12,000 euros" in engine.requests[0].system_prompt
    assert "minutes.md · lines 1–2" in panel.views[-1].sources.text()
    panel.shutdown()


def test_the_window_routes_ask_in_chat_to_the_chat_page(qtbot, window, tmp_path):
    p = tmp_path / "talk.txt"
    p.write_text("Hello.\n")
    window.ctx.links.ask_in_chat.emit(AskInChat(p, title="About the talk"))
    panel = window.page("chat")
    qtbot.waitUntil(lambda: bool(panel.attachments.items) and panel.attachments.job is None,
                    timeout=10_000)
    assert window.current_page() == "chat" and panel.conversation.title == "About the talk"
    assert [a.name for a in panel.store.attachments.of(panel.conversation.id)] == ["talk.txt"]


def test_a_moment_link_in_an_answer_opens_the_segment(qtbot, window, tmp_path):
    segments = [{"start": 5.0 * i, "end": 5.0 * i + 4, "text": f" Point {i}."} for i in range(4)]
    p = tmp_path / "meeting.json"
    p.write_text(json.dumps({"path": "m.wav", "duration": 20.0, "segments": segments}))
    engine = ScriptedEngine("Point three comes at [00:15], after the rest.")
    panel, _ = make_panel(qtbot, window, engine)
    attach_and_wait(qtbot, panel, [p])
    send_and_wait(qtbot, panel, "When is point three?")
    assert "[mm:ss]" in engine.requests[0].system_prompt
    body = panel.views[-1].body
    qtbot.waitUntil(lambda: body.isVisible() and body.height() > 10, timeout=5000)
    # find the link on screen and click it
    spot = next((QPoint(x, y) for y in range(2, body.height(), 3)
                 for x in range(2, body.viewport().width(), 3)
                 if body.anchorAt(QPoint(x, y)) == "moment:15"), None)
    assert spot is not None, body.toHtml()
    with qtbot.waitSignal(window.ctx.links.open_segment, timeout=5000) as blocker:
        qtbot.mouseClick(body.viewport(), Qt.LeftButton, pos=spot)
    link = blocker.args[0]
    assert isinstance(link, SegmentLink) and link.seconds == 15.0
    assert link.transcript == p.resolve()
    panel.shutdown()


def test_files_dropped_on_the_page_are_attached(qtbot, window, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    p = tmp_path / "dropped.md"
    p.write_text("Some notes.\n")
    panel, _ = make_panel(qtbot, window, ScriptedEngine())
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(panel, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(panel.attachments.attached, timeout=10_000):
        QApplication.sendEvent(panel, drop)
    assert [a.name for a in panel.attachments.items] == ["dropped.md"]
    # × on the chip detaches it
    panel.attachments.bar.chips[0].findChild(QToolButton).click()
    assert panel.attachments.items == [] and not panel.attachments.bar.isVisible()
    panel.shutdown()


class SlowEmbedder(WordEmbedder):
    def embed(self, texts, cancel):
        for _ in texts:
            cancel.wait(0.05)
            cancel.raise_if_cancelled()
        yield from super().embed(texts, cancel)


def test_indexing_a_long_file_shows_progress_and_can_be_cancelled(qtbot, window, tmp_path):
    from gui.panels.chat.attachments import INDEX_AT_ATTACH_CHARS

    p = tmp_path / "big.txt"
    p.write_text(filler(400))
    assert len(p.read_text()) > INDEX_AT_ATTACH_CHARS  # long enough to be embedded when attached
    panel, _ = make_panel(qtbot, window, ScriptedEngine())
    panel.attachments._retriever = fake_retriever(SlowEmbedder())
    bar = panel.attachments.bar
    with qtbot.waitSignal(panel.attachments.attached, timeout=10_000) as blocker:
        panel.attachments.attach([p])
        qtbot.waitUntil(lambda: bar.progress.isVisible() and bar.cancel_button.isVisible(),
                        timeout=5000)
        bar.cancel_button.click()
    assert blocker.args == [False]
    assert panel.store.attachments.of(panel.conversation.id) == []
    assert not bar.progress.isVisible() and not bar.isVisible()
    panel.shutdown()


def test_a_file_changed_after_attaching_is_marked(qtbot, window, tmp_path):
    p = tmp_path / "draft.md"
    p.write_text("First version.\n")
    panel, _ = make_panel(qtbot, window, ScriptedEngine())
    attach_and_wait(qtbot, panel, [p])
    assert panel.attachments.bar.chips[0].findChild(QLabel).text() == "draft.md"
    p.write_text("Second, longer version.\n")
    panel.open_conversation(panel.conversation.id)
    assert panel.attachments.bar.chips[0].findChild(QLabel).text() == "draft.md (changed on disk)"
    panel.shutdown()
