"""Exports are written atomically (issue 15): the Chat page's Markdown/JSON export and Classify's
CSV export go through core.paths.atomic_write, so a full disk or a read-only folder leaves the
earlier export whole, no temporary file behind, and a message naming the folder."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from core.errors import BadInput


def _no_space(_fd):
    raise OSError(errno.ENOSPC, "No space left on device")


def _prediction(text: str):
    from core.classify import Prediction

    return Prediction(text, "pos", 0.9, {"neg": 0.1, "pos": 0.9})


def test_a_classify_export_on_a_full_disk_keeps_the_earlier_one(tmp_path, monkeypatch):
    from core.classify import export_csv

    out = tmp_path / "results.csv"
    export_csv(["a fine film"], [_prediction("a fine film")], out, ["neg", "pos"])
    before = out.read_bytes()
    assert before.startswith(b"text,predicted_label,score,p_neg,p_pos")
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(BadInput, match="full") as caught:
        export_csv(["another"], [_prediction("another")], out, ["neg", "pos"])
    assert str(tmp_path) in caught.value.user_message()
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


class _Notes:
    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.infos: list[str] = []

    def show_error(self, exc) -> None:
        self.errors.append(exc)

    def show_info(self, text: str, **_kw) -> None:
        self.infos.append(text)


class _Settings(dict):
    def set(self, key, value) -> None:
        self[key] = value


class _Ctx:
    """What write_export uses of the app context: the notification strip and the settings."""

    def __init__(self) -> None:
        self.notify = _Notes()
        self.settings = _Settings()


@pytest.mark.parametrize("kind", ["md", "json"])
def test_a_chat_export_on_a_full_disk_keeps_the_earlier_one(tmp_path, monkeypatch, kind):
    from core.chat import HistoryStore
    from gui.panels.chat.sidebar import write_export

    ctx = _Ctx()
    target = tmp_path / "out" / f"chat.{kind}"
    with HistoryStore(tmp_path / "history.sqlite3") as store:
        conv = store.create("Trip")
        store.add_message(conv.id, "user", "Where to?")
        write_export(ctx, store, conv.id, str(target), kind)
        before = target.read_bytes()
        assert b"Where to?" in before and ctx.notify.infos and not ctx.notify.errors
        assert ctx.settings["chat/export_dir"] == str(target.parent)
        store.add_message(conv.id, "assistant", "The sea.")
        monkeypatch.setattr(os, "fsync", _no_space)
        write_export(ctx, store, conv.id, str(target), kind)
    assert len(ctx.notify.errors) == 1 and isinstance(ctx.notify.errors[0], BadInput)
    assert "full" in ctx.notify.errors[0].user_message()
    assert target.read_bytes() == before  # the earlier export is whole
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file


def test_exports_go_through_the_atomic_helper():
    """The export writers call it (test_disk checks they write no file in place)."""
    from tests.conftest import ROOT

    for rel in ("core/classify/export.py", "gui/panels/chat/sidebar.py"):
        assert "atomic_write(" in (ROOT / rel).read_text(encoding="utf-8"), rel


def test_a_read_only_folder_is_named(tmp_path):
    from core.classify import export_csv

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(BadInput, match="cannot be written") as caught:
            export_csv(["x"], [_prediction("x")], folder / "r.csv", ["neg", "pos"])
        assert str(folder) in caught.value.user_message()
        assert list(Path(folder).iterdir()) == []
    finally:
        folder.chmod(0o700)
