import json
import subprocess
import sys
import textwrap
import threading

import pytest

from core.chat import HistoryStore, title_from
from core.errors import BadInput
from tests.conftest import ROOT

FIGURES = {"tokens": 42, "tokens_per_s": 12.34, "ttft_s": 0.2, "model": "smollm2", "stopped": True}


@pytest.fixture()
def store(tmp_path):
    with HistoryStore(tmp_path / "deep" / "er" / "history.sqlite3") as s:
        yield s


def test_creates_file_in_wal_mode(tmp_path):
    path = tmp_path / "a" / "b" / "history.sqlite3"
    with HistoryStore(path) as s:
        c = s.create("Hello", model_id="m", system_prompt="Be brief.",
                     settings={"temperature": 0.7})
        assert path.is_file()
        assert s._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.get(c.id) == c
        assert (c.title, c.model_id, c.system_prompt, c.settings) == (
            "Hello", "m", "Be brief.", {"temperature": 0.7})


def test_list_is_newest_updated_first(store):
    a, b, c = (store.create(t) for t in "abc")
    assert [x.title for x in store.conversations()] == ["c", "b", "a"]
    store.add_message(a.id, "user", "bump")
    assert [x.title for x in store.conversations()] == ["a", "c", "b"]
    assert store.get(a.id).updated > a.updated


def test_search_hits_titles_and_message_text_ignoring_case(store):
    weather = store.create("Weather in Paris")
    recipe = store.create("Dinner")
    store.add_message(recipe.id, "user", "A recipe for CRÈME brûlée?")
    store.create("Unrelated")
    assert [c.id for c in store.conversations("paris")] == [weather.id]
    assert [c.id for c in store.conversations("crème BRÛLÉE")] == [recipe.id]
    assert {c.id for c in store.conversations("IN")} == {weather.id, recipe.id}  # "Dinner"
    assert store.conversations("nowhere") == []
    assert store.conversations("%") == []  # no LIKE wildcards
    assert len(store.conversations("  ")) == 3


def test_messages_round_trip_with_meta(store):
    c = store.create()
    u = store.add_message(c.id, "user", "Hi")
    a = store.add_message(c.id, "assistant", "Hello! ✨", FIGURES)
    assert store.messages(c.id) == [u, a]
    assert store.messages(c.id)[1].meta == FIGURES
    assert u.meta == {} and u.created <= a.created
    with pytest.raises(BadInput):
        store.add_message(c.id, "robot", "x")
    with pytest.raises(BadInput):
        store.add_message(9999, "user", "x")
    with pytest.raises(BadInput):
        store.add_message(c.id, "user", "x", {"bad": object()})
    with pytest.raises(BadInput):
        store.get(9999)


def test_update_message_saves_a_growing_reply(store):
    c = store.create()
    a = store.add_message(c.id, "assistant", "", {"model": "m"})
    store.update_message(a.id, "Hel")
    assert store.messages(c.id)[0].content == "Hel"
    assert store.messages(c.id)[0].meta == {"model": "m"}  # meta kept when not given
    store.update_message(a.id, "Hello", FIGURES)
    (m,) = store.messages(c.id)
    assert (m.content, m.meta) == ("Hello", FIGURES)
    assert store.get(c.id).updated > a.created
    with pytest.raises(BadInput):
        store.update_message(9999, "x")


def test_delete_from_removes_the_tail_only(store):
    c, other = store.create("c"), store.create("other")
    msgs = [store.add_message(c.id, r, f"m{i}") for i, r in enumerate(["user", "assistant"] * 3)]
    kept = store.add_message(other.id, "user", "untouched")
    store.delete_from(msgs[2].id)
    assert [m.content for m in store.messages(c.id)] == ["m0", "m1"]
    assert store.messages(other.id) == [kept]
    with pytest.raises(BadInput):
        store.delete_from(msgs[3].id)


def test_rename_and_blank_rename(store):
    c = store.create()
    store.rename(c.id, "  Trip   plans ")
    assert store.get(c.id).title == "Trip plans"
    for blank in ("", "   \n"):
        with pytest.raises(BadInput):
            store.rename(c.id, blank)
    assert store.get(c.id).title == "Trip plans"
    with pytest.raises(BadInput):
        store.rename(9999, "x")


def test_update_changes_only_given_fields(store):
    c = store.create(model_id="a", system_prompt="sys", settings={"top_p": 0.9})
    store.update(c.id, settings={"top_p": 0.5})
    got = store.get(c.id)
    assert (got.model_id, got.system_prompt, got.settings) == ("a", "sys", {"top_p": 0.5})
    store.update(c.id, model_id=None, system_prompt="")
    got = store.get(c.id)
    assert (got.model_id, got.system_prompt, got.settings) == (None, "", {"top_p": 0.5})
    with pytest.raises(BadInput):
        store.update(9999, model_id="x")


def test_delete_cascades_to_messages(store):
    c, other = store.create("c"), store.create("other")
    store.add_message(c.id, "user", "bye")
    store.add_message(other.id, "user", "stay")
    store.delete(c.id)
    assert [x.id for x in store.conversations()] == [other.id]
    n = store._conn().execute("SELECT count(*) FROM messages WHERE conversation_id = ?", (c.id,))
    assert n.fetchone()[0] == 0
    assert len(store.messages(other.id)) == 1
    with pytest.raises(BadInput):
        store.messages(c.id)


def test_history_survives_reopening(tmp_path):
    path = tmp_path / "history.sqlite3"
    s = HistoryStore(path)
    c = s.create("Kept", settings={"max_new_tokens": 64})
    m = s.add_message(c.id, "user", "remember me", {"x": 1})
    s.close()
    s.close()  # twice is harmless
    with pytest.raises(BadInput):
        s.get(c.id)
    with HistoryStore(path) as again:
        (back,) = again.conversations()
        assert (back.id, back.title, back.created) == (c.id, "Kept", c.created)
        assert again.get(c.id).settings == {"max_new_tokens": 64}
        assert again.messages(c.id) == [m]
        newer = again.create("Newer")
        assert [x.id for x in again.conversations()] == [newer.id, c.id]


def test_writes_from_other_threads(store):
    c = store.create()
    errors = []

    def write(n: int) -> None:
        try:
            for i in range(25):
                m = store.add_message(c.id, "user", f"t{n}-{i}")
                store.update_message(m.id, f"t{n}-{i}!")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    contents = [m.content for m in store.messages(c.id)]
    assert sorted(contents) == sorted(f"t{n}-{i}!" for n in range(4) for i in range(25))


def test_export_markdown(store):
    c = store.create("Greetings")
    store.add_message(c.id, "system", "Be kind.")
    store.add_message(c.id, "user", "Hi there")
    store.add_message(c.id, "assistant", "Hello, human.", FIGURES)
    store.add_message(c.id, "assistant", "No figures here.")
    md = store.export_markdown(c.id)
    assert md.startswith("# Greetings\n")
    for part in ("**System**\n\nBe kind.", "**User**\n\nHi there",
                 "**Assistant**\n\nHello, human."):
        assert part in md
    assert "*42 tokens · 12.3 tok/s · TTFT 0.20 s · stopped*" in md
    assert md.index("Hello, human.") < md.index("42 tokens") < md.index("No figures here.")
    assert md.count("tok/s") == 1


def test_export_json_round_trips(store):
    c = store.create("J", model_id="m", system_prompt="s", settings={"temperature": 0.3})
    store.add_message(c.id, "user", "q")
    store.add_message(c.id, "assistant", "a", FIGURES)
    data = store.export_json(c.id)
    assert json.loads(json.dumps(data)) == data
    assert {k: data[k] for k in ("title", "model_id", "system_prompt", "settings")} == {
        "title": "J", "model_id": "m", "system_prompt": "s", "settings": {"temperature": 0.3}}
    assert [(m["role"], m["content"], m["meta"]) for m in data["messages"]] == [
        ("user", "q", {}), ("assistant", "a", FIGURES)]
    assert data["created"] == c.created and data["updated"] >= c.updated


def test_killed_process_keeps_what_it_wrote(tmp_path):
    path = tmp_path / "history.sqlite3"
    code = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from core.chat import HistoryStore
        s = HistoryStore({str(path)!r})
        c = s.create("Crash")
        s.add_message(c.id, "user", "question")
        m = s.add_message(c.id, "assistant", "")
        s.update_message(m.id, "partial reply", {{"tokens": 2}})
        os._exit(1)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    with HistoryStore(path) as s:
        (c,) = s.conversations()
        assert c.title == "Crash"
        got = [(m.role, m.content, m.meta) for m in s.messages(c.id)]
        assert got == [("user", "question", {}), ("assistant", "partial reply", {"tokens": 2})]


@pytest.mark.parametrize(("text", "expected"), [
    ("Hello world", "Hello world"),
    ("\n\n  What   is\tthe capital of France?\nSecond line", "What is the capital of France?"),
    ("   \n ", "New chat"),
    ("one two three four five six seven eight nine ten eleven twelve",
     "one two three four five six seven eight nine…"),
    ("x" * 60, "x" * 47 + "…"),
])
def test_title_from(text, expected):
    assert title_from(text) == expected


def test_title_from_respects_the_limit():
    text = "The quick brown fox jumps over the lazy dog, again and again"
    for limit in range(8, 70):
        title = title_from(text, limit)
        assert len(title) <= limit
        assert title == text or (title.endswith("…") and text.startswith(title[:-1]))
    assert title_from(text, 20) == "The quick brown fox…"
