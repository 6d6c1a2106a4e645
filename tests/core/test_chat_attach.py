"""Files in a chat: reading and chunking, whole against chunked, retrieval and its sources, the
index kept in the history database, and `main.py chat --attach`."""
import io
import json
import sqlite3
from dataclasses import dataclass

import numpy as np
import pytest

from core.cancel import CancelToken
from core.chat import (
    ChatRequest,
    GenerationSettings,
    HistoryStore,
    LoadedInfo,
    ReplyStats,
    Retriever,
    Sources,
    Token,
    answer_with_files,
    fits_whole,
    read_attachment,
)
from core.errors import BadInput
from core.events import Done

FACT = "The secret launch code for the orbital telescope is PELICAN-42."


def filler(n: int, fact_at: int | None = None) -> str:
    lines = [f"Line {i}: the weather report for day {i} was cloudy with light wind."
             for i in range(1, n + 1)]
    if fact_at is not None:
        lines[fact_at - 1] = FACT
    return "\n".join(lines) + "\n"


class FakeChat:
    """A chat engine that counts a token per four characters and records what it was asked."""

    def __init__(self, context: int):
        self.info = LoadedInfo("Fake", "/fake", "cpu", 0.0, context, True)
        self.requests = []

    def encode(self, system_prompt, messages):
        chars = len(system_prompt) + sum(len(m["content"]) for m in messages)
        return [0] * (chars // 4 + 4)

    def stream(self, request, cancel):
        self.requests.append(request)
        yield Token("ok")
        yield Done(result=ReplyStats("ok", 1, 0.1, 0.05, 10, False))


@dataclass
class _Vectors:
    vectors: list
    tokens: int = 0


class WordEmbedder:
    """Bag of words hashed into 256 dimensions; remembers every text it embedded."""

    def __init__(self):
        self.texts = []

    def embed(self, texts, cancel):
        self.texts += texts
        rows = []
        for t in texts:
            v = np.zeros(256, dtype=np.float32)
            for w in t.lower().replace(".", " ").replace("?", " ").split():
                v[sum(map(ord, w)) * 31 % 256] += 1
            rows.append(v.tolist())
        yield Done(result=_Vectors(rows))


def fake_retriever(embedder):
    def open_embedder(cancel):
        yield Done(result=embedder)

    return Retriever(open_embedder)


def ask(question: str, max_new_tokens=64) -> ChatRequest:
    return ChatRequest(({"role": "user", "content": question},),
                       settings=GenerationSettings(max_new_tokens=max_new_tokens))


def run(gen):
    events = list(gen)
    [sources] = [e for e in events if isinstance(e, Sources)]
    assert isinstance(events[-1], Done)
    return sources


# ---- reading -----------------------------------------------------------------------------------

def test_text_chunks_cover_every_line_with_their_ranges(tmp_path):
    p = tmp_path / "notes.md"
    p.write_text(filler(100), encoding="utf-8")
    a = read_attachment(p)
    assert a.kind == "text" and a.lines == 100 and len(a.chunks) > 5
    assert a.chunks[0].first_line == 1 and a.chunks[-1].last_line == 100
    for before, after in zip(a.chunks, a.chunks[1:]):
        assert after.first_line == before.last_line + 1
    for c in a.chunks:
        assert c.text.splitlines()[0].startswith(f"Line {c.first_line}:")
        assert c.text.splitlines()[-1].startswith(f"Line {c.last_line}:")


def test_a_table_repeats_its_header_in_every_chunk(tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text("name,city\n" + "".join(f"person{i},town{i}\n" for i in range(200)))
    a = read_attachment(p)
    assert a.kind == "table" and len(a.chunks) > 2
    assert all(c.text.startswith("name,city\n") for c in a.chunks)
    assert a.chunks[0].first_line == 2 and "person0,town0" in a.chunks[0].text


def test_a_transcript_is_cut_on_segments_with_times(tmp_path):
    segments = [{"start": 10.0 * i, "end": 10.0 * i + 9, "text": f" Sentence number {i} here."}
                for i in range(60)]
    p = tmp_path / "talk.json"
    p.write_text(json.dumps({"path": "talk.wav", "duration": 600.0, "segments": segments}))
    a = read_attachment(p)
    assert a.kind == "transcript" and a.lines == 60
    assert a.text.splitlines()[7] == "[01:10] Sentence number 7 here."
    assert a.chunks[0].start_s == 0.0 and a.chunks[-1].end_s == 599.0
    second = a.chunks[1]
    assert second.start_s == 10.0 * (second.first_line - 1)


@pytest.mark.parametrize("content, words", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
    (b"", "empty"),
    (b"  \n\n ", "whitespace"),
])
def test_binary_and_empty_files_are_refused_naming_the_file(tmp_path, content, words):
    p = tmp_path / "picture.txt"
    p.write_bytes(content)
    with pytest.raises(BadInput) as err:
        read_attachment(p)
    assert "picture.txt" in str(err.value) and words in str(err.value)


def test_utf16_files_are_read(tmp_path):
    p = tmp_path / "utf16.txt"
    p.write_text("Grüße aus Köln.\nZweite Zeile.\n", encoding="utf-16")
    a = read_attachment(p)
    assert a.text.splitlines() == ["Grüße aus Köln.", "Zweite Zeile."]
    assert a.chunks[0].last_line == 2


# ---- whole against chunked ---------------------------------------------------------------------

def test_a_file_that_fits_goes_in_whole(tmp_path):
    p = tmp_path / "short.txt"
    p.write_text(filler(10, fact_at=4))
    a = read_attachment(p)
    engine, embedder = FakeChat(context=2048), WordEmbedder()
    sources = run(answer_with_files(engine, fake_retriever(embedder), ask("Launch code?"), [a],
                                    CancelToken()))
    assert sources.whole and [(s.first_line, s.last_line) for s in sources.sources] == [(1, 10)]
    assert "(whole file)" in sources.sources[0].label()
    assert FACT in engine.requests[0].system_prompt and "Line 10:" in engine.requests[0].system_prompt
    assert embedder.texts == []  # nothing embedded for a file that fits


def test_a_file_too_long_is_chunked_and_the_fact_is_retrieved(tmp_path):
    p = tmp_path / "long.txt"
    p.write_text(filler(300, fact_at=211))
    a = read_attachment(p)
    engine, embedder = FakeChat(context=1024), WordEmbedder()
    request = ask("What is the secret launch code for the orbital telescope?")
    assert not fits_whole(engine, request, [a])
    assert fits_whole(FakeChat(context=100_000), request, [a])
    sources = run(answer_with_files(engine, fake_retriever(embedder), request, [a],
                                    CancelToken()))
    assert not sources.whole
    best = sources.sources[0]
    assert best.first_line <= 211 <= best.last_line and best.score is not None
    sent = engine.requests[0]
    assert FACT in sent.system_prompt and f"lines {best.first_line}-{best.last_line}" in \
        sent.system_prompt
    assert len(engine.encode(sent.system_prompt, list(sent.messages))) <= 1024 - 64


def test_a_transcript_prompt_asks_for_mm_ss_citations(tmp_path):
    segments = [{"start": 5.0 * i, "end": 5.0 * i + 4, "text": f" Point {i}."} for i in range(4)]
    p = tmp_path / "meeting.json"
    p.write_text(json.dumps({"path": "m.wav", "duration": 20.0, "segments": segments}))
    engine = FakeChat(context=4096)
    sources = run(answer_with_files(engine, None, ask("What was said?"), [read_attachment(p)],
                                    CancelToken()))
    assert "[mm:ss]" in engine.requests[0].system_prompt
    assert "[00:15] Point 3." in engine.requests[0].system_prompt
    assert sources.sources[0].label() == "meeting.json · 00:00–00:19 (whole file)"


# ---- the index in the history database ---------------------------------------------------------

def test_the_index_is_kept_and_not_embedded_again_on_reopen(tmp_path):
    p = tmp_path / "long.txt"
    p.write_text(filler(300, fact_at=42))
    db = tmp_path / "chats.sqlite3"
    store = HistoryStore(db)
    conv = store.create("long.txt")
    saved = store.attachments.add(conv.id, read_attachment(p))
    embedder = WordEmbedder()
    request = ask("What is the secret launch code?")
    run(answer_with_files(FakeChat(1024), fake_retriever(embedder), request,
                          store.attachments.of(conv.id), CancelToken(),
                          indexed=store.attachments.set_vectors))
    assert len(embedder.texts) == len(saved.chunks) + 1  # the chunks once, then the question
    store.close()

    store = HistoryStore(db)
    [again] = store.attachments.of(conv.id)
    assert again.vectors is not None and again.vectors.dtype == np.float32
    assert again.vectors.shape[0] == len(saved.chunks)
    embedder = WordEmbedder()
    sources = run(answer_with_files(FakeChat(1024), fake_retriever(embedder), request, [again],
                                    CancelToken(), indexed=store.attachments.set_vectors))
    assert embedder.texts == [request.messages[-1]["content"]]  # only the question
    assert sources.sources[0].first_line <= 42 <= sources.sources[0].last_line
    store.delete(conv.id)
    assert store.attachments.of(conv.id) == []
    store.close()


def test_a_version_1_history_upgrades_in_place(tmp_path):
    from core.chat.history import _SCHEMA

    db = tmp_path / "chats.sqlite3"
    old = sqlite3.connect(db)
    old.executescript(_SCHEMA)
    old.execute("INSERT INTO conversations (title, created, updated) VALUES ('Old', 1, 1)")
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()
    store = HistoryStore(db)
    [conv] = store.conversations()
    assert conv.title == "Old"
    p = tmp_path / "a.txt"
    p.write_text("hello\n")
    store.attachments.add(conv.id, read_attachment(p))
    assert [a.name for a in store.attachments.of(conv.id)] == ["a.txt"]
    store.close()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 2


# ---- the CLI -----------------------------------------------------------------------------------

def test_cli_chat_attach_prints_its_sources_on_stderr(home, tiny_chat_dir, tmp_path):
    import argparse

    from core.cli import chat

    p = tmp_path / "notes.txt"
    p.write_text("Alpha.\nBeta.\nGamma.\n")
    parser = argparse.ArgumentParser()
    chat.add_parser(parser.add_subparsers())
    args = parser.parse_args(["chat", "What is second?", "--model", str(tiny_chat_dir),
                              "--attach", str(p), "--max-new-tokens", "4", "--device", "cpu",
                              "--temperature", "0"])
    out, err = io.StringIO(), io.StringIO()
    assert chat.run(args, out, err) == 0
    assert "source: notes.txt · lines 1–3 (whole file)" in err.getvalue()

    bad = tmp_path / "blob.txt"
    bad.write_bytes(b"\x00\x01\x02binary")
    args = parser.parse_args(["chat", "Hi", "--model", str(tiny_chat_dir), "--attach", str(bad)])
    with pytest.raises(BadInput, match="blob.txt"):
        chat.run(args, io.StringIO(), io.StringIO())


# ---- the real embedder -------------------------------------------------------------------------

@pytest.mark.slow
def test_minilm_retrieves_the_chunk_holding_the_fact(tmp_path):
    """The bundled all-MiniLM-L6-v2 (about 15 s to load on two busy cores)."""
    from core.models.registry import Registry

    p = tmp_path / "report.txt"
    p.write_text(filler(400, fact_at=317))
    a = read_attachment(p)
    engine = FakeChat(context=1024)
    sources = run(answer_with_files(engine, Retriever.bundled(Registry(scan_hf_cache=False)),
                                    ask("Which code launches the telescope?"), [a],
                                    CancelToken()))
    best = sources.sources[0]
    assert best.first_line <= 317 <= best.last_line, sources.sources
    assert best.score > sources.sources[1].score
    assert FACT in engine.requests[0].system_prompt


def test_a_kept_transcript_is_named_by_its_recording(tmp_path):
    from core.chat.attach import display_name
    from core.chat.retrieval import Source
    from core.transcribe import saved_path

    kept = saved_path(tmp_path, "/recordings/board meeting.flac")
    assert display_name(kept) == "board meeting (transcript)"
    assert Source(str(kept), 1, 2, 5.0, 9.0, 0.5).label() == \
        "board meeting (transcript) · 00:05–00:09"
    assert display_name(tmp_path / "notes-0123456789.json") == "notes-0123456789.json"  # not kept
