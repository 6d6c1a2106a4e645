"""Corrupt or unreadable data files: the chat history database and run.json. The app goes on, says
what was wrong, moves the broken file aside with a timestamp and never overwrites it."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest

from core.chat import HistoryDamaged, HistoryStore, HistoryUnavailable


def _history_with_a_chat(path):
    with HistoryStore(path) as store:
        conv = store.create("kept")
        store.add_message(conv.id, "user", "hello")


def test_the_history_is_in_wal_mode_and_two_stores_share_it(tmp_path):
    path = tmp_path / "chats.sqlite3"
    a, b = HistoryStore(path), HistoryStore(path)  # the app twice, or the app and a script
    try:
        conv = a.create("from a")
        b.add_message(conv.id, "user", "from b")
        assert [m.content for m in a.messages(conv.id)] == ["from b"]
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal" and a.damage is None
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "page"])
def test_a_damaged_history_is_moved_aside_and_a_new_one_starts(tmp_path, damage):
    """Row 4's core part: "file is not a database", naming no file, and a blank page."""
    path = tmp_path / "chats.sqlite3"
    if damage == "garbage":
        path.write_bytes(b"this is not a database at all" * 100)
    else:
        _history_with_a_chat(path)
        raw = bytearray(path.read_bytes())
        if damage == "truncated":
            raw = raw[:len(raw) // 2 + 100]
        else:  # scribble over the second page (a table's b-tree)
            raw[4096 + 8:4096 + 200] = os.urandom(192)
        path.write_bytes(bytes(raw))
    original = path.read_bytes()
    store = HistoryStore(path)
    try:
        assert isinstance(store.damage, HistoryDamaged)
        message = store.damage.user_message()
        copies = list(tmp_path.glob("chats.sqlite3.broken-*"))
        copies = [c for c in copies if not c.name.endswith(("-wal", "-shm"))]
        assert len(copies) == 1 and copies[0].read_bytes() == original
        assert str(path) in message and str(copies[0]) in message
        assert store.conversations() == []  # a fresh, working history
        store.create("new")
    finally:
        store.close()
    with HistoryStore(path) as again:  # the next start is clean
        assert again.damage is None and [c.title for c in again.conversations()] == ["new"]


def test_an_unopenable_history_names_the_file(tmp_path):
    path = tmp_path / "chats.sqlite3"
    path.mkdir()  # a folder where the file should be: cannot be opened, must not be moved
    with pytest.raises(HistoryUnavailable) as caught:
        HistoryStore(path)
    assert str(path) in caught.value.user_message() and path.is_dir()


# ---- run.json ---------------------------------------------------------------------------------
def test_a_corrupt_run_json_is_set_aside_and_the_run_still_listed(home):
    from core.finetune import list_runs

    run_dir = home.root / "runs" / "broken"
    (run_dir / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (run_dir / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text(
        json.dumps({"global_step": 2}))
    (run_dir / "run.json").write_bytes(b'{"name": "broken", "status": "runn')
    runs = list_runs(home)
    assert [r.name for r in runs] == ["broken"]
    run = runs[0]
    copies = list(run_dir.glob("run.json.broken-*"))
    assert run.status == "failed" and "could not be read" in run.error
    assert len(copies) == 1 and copies[0].read_bytes() == b'{"name": "broken", "status": "runn'
    assert copies[0].name in run.error and run.checkpoint  # the checkpoints are still there
    assert list_runs(home)[0].error == run.error  # said again on the next listing, not lost


def test_a_new_run_will_not_delete_a_run_whose_run_json_is_broken(home, tmp_path):
    from core.cancel import CancelToken
    from core.errors import BadInput
    from core.finetune import FinetuneConfig, train

    run_dir = home.root / "runs" / "keep"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text("{not json")
    data = tmp_path / "d.txt"
    data.write_text("hello world " * 300)
    config = FinetuneConfig(task="causal-lm", base="x", data=(str(data),), output="keep")
    with pytest.raises(BadInput, match="--overwrite"):
        list(train(config, CancelToken(), home=home))
    assert list(run_dir.glob("run.json.broken-*"))
