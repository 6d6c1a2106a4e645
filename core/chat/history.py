"""Chat history: conversations and their messages in one SQLite file.

Every write commits at once, so a crash or a killed process loses nothing already saved (a
streaming reply is saved as it grows with :meth:`HistoryStore.update_message`). One connection,
guarded by a lock, serves the GUI thread and a worker thread alike.

The file is opened in WAL mode (another process, the app twice or the app and a script, can read
and write it safely) and checked at open (``PRAGMA quick_check``). A damaged file (not a database,
a malformed page) is moved aside as ``chats.sqlite3.broken-<time>`` with its bytes intact and a new
history starts; :attr:`HistoryStore.damage` then holds the sentence for the user. A file that
cannot be opened at all (a read-only folder) raises :class:`HistoryUnavailable`, naming it.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.chat.attach_store import AttachmentStore, migrate
from core.errors import BadInput
from core.paths import set_aside

ROLES = ("system", "user", "assistant")
_KEEP: Any = object()  # "leave this field as it is" in HistoryStore.update
_SCHEMA_VERSION = 2  # 2: attachments and their chunk index (core.chat.attach_store)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    title         TEXT NOT NULL,
    created       REAL NOT NULL,
    updated       REAL NOT NULL,
    model_id      TEXT,
    system_prompt TEXT NOT NULL DEFAULT '',
    settings      TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL,
    created         REAL NOT NULL,
    meta            TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
CREATE INDEX IF NOT EXISTS conversations_by_updated ON conversations(updated);
"""


class HistoryDamaged(BadInput):
    """The chat history file was damaged and was moved aside; a new one was started."""

    title = "Chat history damaged"


class HistoryUnavailable(BadInput):
    """The chat history file cannot be opened or moved (permissions, a read-only folder)."""

    title = "Chat history unavailable"


def _connect(path: Path) -> sqlite3.Connection:
    """An open, checked connection in WAL mode with the schema in place. sqlite3.DatabaseError
    (not OperationalError) when the file is damaged."""
    db = sqlite3.connect(path, check_same_thread=False, timeout=10)
    try:
        db.row_factory = sqlite3.Row
        db.create_function("fold", 1, lambda s: (s or "").casefold(), deterministic=True)
        result = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
        if result != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(str(r) for r in result[:3]))
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        with db:
            db.executescript(_SCHEMA)
            migrate(db, version)  # an older file upgrades in place
            db.execute(f"PRAGMA user_version={max(version, _SCHEMA_VERSION)}")
    except BaseException:
        db.close()
        raise
    return db


@dataclass
class Message:
    id: int
    conversation_id: int
    role: str  # "system" | "user" | "assistant"
    content: str
    created: float  # time.time()
    meta: dict  # e.g. {"tokens": 42, "tokens_per_s": 12.3, "ttft_s": 0.2, "model": "..."}


@dataclass
class Conversation:
    id: int
    title: str
    created: float
    updated: float  # creation or the last message written, whichever is later
    model_id: str | None
    system_prompt: str
    settings: dict  # sampling settings, JSON-able


def title_from(text: str, limit: int = 48) -> str:
    """A conversation title from a first message: its first non-blank line, whitespace collapsed,
    cut at a word boundary with "…" when longer than ``limit``."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if not line:
        return "New chat"
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if line[limit - 1] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


def _json(value: dict | None, what: str) -> str:
    try:
        return json.dumps(value or {}, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"The {what} cannot be saved: {exc}.") from exc


def _title(title: str) -> str:
    title = " ".join(str(title).split())
    if not title:
        raise BadInput("A conversation needs a title.", hint="Type at least one character.")
    return title


def _figures(meta: dict) -> str:
    """``42 tokens · 12.3 tok/s · TTFT 0.20 s`` from an assistant message's meta ('' if none)."""
    parts = []
    if meta.get("tokens") is not None:
        parts.append(f"{meta['tokens']} tokens")
    if meta.get("tokens_per_s") is not None:
        parts.append(f"{meta['tokens_per_s']:.1f} tok/s")
    if meta.get("ttft_s") is not None:
        parts.append(f"TTFT {meta['ttft_s']:.2f} s")
    if parts and meta.get("stopped"):
        parts.append("stopped")
    return " · ".join(parts)


class HistoryStore:
    """Conversations and messages in a SQLite file (WAL mode); safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.damage: HistoryDamaged | None = None  # set when a damaged file was moved aside
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = _connect(self.path)
        except sqlite3.OperationalError as exc:  # locked, read-only, a folder in the way
            raise self._unavailable(exc) from exc
        except OSError as exc:
            raise self._unavailable(exc) from exc
        except sqlite3.DatabaseError as exc:  # damaged: keep its bytes, start a new history
            self.damage = self._set_aside(exc)
            try:
                db = _connect(self.path)
            except (sqlite3.Error, OSError) as again:
                raise self._unavailable(again) from again
        self._db: sqlite3.Connection | None = db
        row = db.execute(
            "SELECT max(coalesce((SELECT max(updated) FROM conversations), 0),"
            " coalesce((SELECT max(created) FROM messages), 0))"
        ).fetchone()
        self._last = float(row[0])

    @property
    def attachments(self) -> AttachmentStore:
        """The files attached to conversations, with their chunk index."""
        return AttachmentStore(self)

    # -- plumbing ----------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> HistoryUnavailable:
        why = getattr(exc, "strerror", None) or str(exc)
        return HistoryUnavailable(f"The chat history '{self.path}' cannot be opened ({why}).",
                                  hint="Check that its folder can be written, then start again.")

    def _set_aside(self, exc: BaseException) -> HistoryDamaged:
        """Move the damaged file (and its -wal/-shm companions) to ``.broken-<time>`` names."""
        try:
            backup = set_aside(self.path)
            for extra in ("-wal", "-shm"):
                companion = self.path.with_name(self.path.name + extra)
                if companion.exists():
                    companion.replace(backup.with_name(backup.name + extra))
        except OSError as move:
            raise HistoryUnavailable(
                f"The chat history '{self.path}' is damaged ({exc}) and cannot be moved aside "
                f"({move.strerror or move}).",
                hint="Move or delete the file, then start again.") from move
        return HistoryDamaged(
            f"The chat history '{self.path}' was damaged ({exc}); it was moved to "
            f"'{backup}' and a new, empty history was started.",
            hint="Your old chats are in that copy; a SQLite tool may recover some of them.")

    def close(self) -> None:
        """Close the file; later calls fail. Closing twice is harmless."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise BadInput("The chat history is closed.")
        return self._db

    def _now(self) -> float:
        """time.time(), but strictly increasing, so "newest first" never ties."""
        self._last = max(time.time(), self._last + 1e-6)
        return self._last

    def _read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn().execute(sql, args).fetchall()

    @staticmethod
    def _conversation(row: sqlite3.Row) -> Conversation:
        return Conversation(row["id"], row["title"], row["created"], row["updated"],
                            row["model_id"], row["system_prompt"], json.loads(row["settings"]))

    @staticmethod
    def _message(row: sqlite3.Row) -> Message:
        return Message(row["id"], row["conversation_id"], row["role"], row["content"],
                       row["created"], json.loads(row["meta"]))

    @staticmethod
    def _missing(conversation_id: int) -> BadInput:
        return BadInput(f"Conversation {conversation_id} does not exist.",
                        hint="It may have been deleted.")

    # -- conversations ---------------------------------------------------------------------------

    def create(self, title: str = "New chat", *, model_id: str | None = None,
               system_prompt: str = "", settings: dict | None = None) -> Conversation:
        """A new, empty conversation."""
        title, settings_json = _title(title), _json(settings, "settings")
        with self._lock, self._conn() as db:
            now = self._now()
            cur = db.execute(
                "INSERT INTO conversations (title, created, updated, model_id, system_prompt,"
                " settings) VALUES (?, ?, ?, ?, ?, ?)",
                (title, now, now, model_id, system_prompt, settings_json))
        return Conversation(cur.lastrowid, title, now, now, model_id, system_prompt,
                            json.loads(settings_json))

    def conversations(self, search: str = "") -> list[Conversation]:
        """Newest updated first; ``search`` matches titles and message text, ignoring case."""
        needle = search.strip().casefold()
        if not needle:
            rows = self._read("SELECT * FROM conversations ORDER BY updated DESC, id DESC")
        else:
            rows = self._read(
                "SELECT * FROM conversations c WHERE instr(fold(c.title), ?) OR EXISTS"
                " (SELECT 1 FROM messages m WHERE m.conversation_id = c.id"
                "  AND instr(fold(m.content), ?)) ORDER BY updated DESC, id DESC",
                (needle, needle))
        return [self._conversation(r) for r in rows]

    def get(self, conversation_id: int) -> Conversation:
        rows = self._read("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if not rows:
            raise self._missing(conversation_id)
        return self._conversation(rows[0])

    def rename(self, conversation_id: int, title: str) -> None:
        self._update(conversation_id, {"title": _title(title)})

    def update(self, conversation_id: int, *, model_id: str | None = _KEEP,
               system_prompt: str = _KEEP, settings: dict = _KEEP) -> None:
        """Change only the fields given."""
        fields: dict[str, Any] = {}
        if model_id is not _KEEP:
            fields["model_id"] = model_id
        if system_prompt is not _KEEP:
            fields["system_prompt"] = system_prompt
        if settings is not _KEEP:
            fields["settings"] = _json(settings, "settings")
        if fields:
            self._update(conversation_id, fields)
        else:
            self.get(conversation_id)  # still report a missing conversation

    def _update(self, conversation_id: int, fields: dict[str, Any]) -> None:
        sets = ", ".join(f"{name} = ?" for name in fields)  # names are ours, never the user's
        with self._lock, self._conn() as db:
            cur = db.execute(f"UPDATE conversations SET {sets} WHERE id = ?",
                             (*fields.values(), conversation_id))
        if cur.rowcount == 0:
            raise self._missing(conversation_id)

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation and its messages; a missing one is ignored."""
        with self._lock, self._conn() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # -- messages --------------------------------------------------------------------------------

    def messages(self, conversation_id: int) -> list[Message]:
        """The conversation's messages, oldest first."""
        self.get(conversation_id)
        rows = self._read("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id",
                          (conversation_id,))
        return [self._message(r) for r in rows]

    def add_message(self, conversation_id: int, role: str, content: str,
                    meta: dict | None = None) -> Message:
        """Append a message and bump the conversation's ``updated``."""
        if role not in ROLES:
            raise BadInput(f"Unknown message role {role!r}.",
                           hint=f"Use one of {', '.join(ROLES)}.")
        meta_json = _json(meta, "message details")
        with self._lock, self._conn() as db:
            now = self._now()
            if db.execute("UPDATE conversations SET updated = ? WHERE id = ?",
                          (now, conversation_id)).rowcount == 0:
                raise self._missing(conversation_id)
            cur = db.execute(
                "INSERT INTO messages (conversation_id, role, content, created, meta)"
                " VALUES (?, ?, ?, ?, ?)", (conversation_id, role, content, now, meta_json))
        return Message(cur.lastrowid, conversation_id, role, content, now, json.loads(meta_json))

    def update_message(self, message_id: int, content: str, meta: dict | None = None) -> None:
        """Replace a message's text (and its meta, when given); bumps the conversation."""
        meta_json = None if meta is None else _json(meta, "message details")
        with self._lock, self._conn() as db:
            now = self._now()
            cur = db.execute(
                "UPDATE messages SET content = ?, meta = coalesce(?, meta) WHERE id = ?",
                (content, meta_json, message_id))
            if cur.rowcount == 0:
                raise BadInput(f"Message {message_id} does not exist.")
            db.execute("UPDATE conversations SET updated = ? WHERE id ="
                       " (SELECT conversation_id FROM messages WHERE id = ?)", (now, message_id))

    def delete_from(self, message_id: int) -> None:
        """Delete this message and every later one of its conversation (edit, regenerate)."""
        with self._lock, self._conn() as db:
            row = db.execute("SELECT conversation_id FROM messages WHERE id = ?",
                             (message_id,)).fetchone()
            if row is None:
                raise BadInput(f"Message {message_id} does not exist.")
            db.execute("DELETE FROM messages WHERE conversation_id = ? AND id >= ?",
                       (row[0], message_id))

    # -- export ----------------------------------------------------------------------------------

    def export_markdown(self, conversation_id: int) -> str:
        """``# Title``, then one bold-headed section per message; assistant figures in italics."""
        out = [f"# {self.get(conversation_id).title}"]
        for m in self.messages(conversation_id):
            out += [f"**{m.role.capitalize()}**", m.content]
            if m.role == "assistant" and (figures := _figures(m.meta)):
                out.append(f"*{figures}*")
        return "\n\n".join(out) + "\n"

    def export_json(self, conversation_id: int) -> dict:
        """The conversation and its messages as a JSON-able dict."""
        c = self.get(conversation_id)
        return {
            "title": c.title, "created": c.created, "updated": c.updated,
            "model_id": c.model_id, "system_prompt": c.system_prompt, "settings": c.settings,
            "messages": [{"role": m.role, "content": m.content, "created": m.created,
                          "meta": m.meta} for m in self.messages(conversation_id)],
        }
