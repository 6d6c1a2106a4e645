"""Files attached to conversations, kept in the chat history database with their chunk index.

Each attachment keeps the file's path, size and modification time, the text the model is shown,
and its chunks, each with its vector (little-endian float32 bytes) once embedded, so that reopening
a chat does not embed its files again. Rows go with their conversation (ON DELETE CASCADE).
``HistoryStore.attachments`` is the way in; the tables come with schema version 2 (``migrate``)."""
from __future__ import annotations

import time
from pathlib import Path

from core.chat.attach import Attachment, Chunk
from core.errors import BadInput

ATTACH_SCHEMA = """
CREATE TABLE IF NOT EXISTS attachments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    path            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    size            INTEGER NOT NULL,
    mtime           REAL NOT NULL,
    text            TEXT NOT NULL,
    lines           INTEGER NOT NULL DEFAULT 0,
    created         REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS attachment_chunks (
    attachment_id INTEGER NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    text          TEXT NOT NULL,
    first_line    INTEGER NOT NULL,
    last_line     INTEGER NOT NULL,
    start_s       REAL,
    end_s         REAL,
    vector        BLOB,
    PRIMARY KEY (attachment_id, seq)
);
CREATE INDEX IF NOT EXISTS attachments_by_conversation ON attachments(conversation_id, id);
"""
MIGRATIONS = {2: ATTACH_SCHEMA}  # version -> the script that brings the previous one to it


def migrate(db, version: int) -> None:
    """Run every migration above ``version`` (the file's user_version), in order."""
    for target in sorted(MIGRATIONS):
        if version < target:
            db.executescript(MIGRATIONS[target])


def _blob(row) -> bytes:
    import numpy as np

    return np.asarray(row, dtype="<f4").tobytes()


class AttachmentStore:
    """The attachments of a HistoryStore's conversations (its connection and its lock)."""

    def __init__(self, history) -> None:
        self._history = history

    def add(self, conversation_id: int, a: Attachment) -> Attachment:
        """Save an attachment (and its vectors, when embedded); returns it with its id."""
        h = self._history
        with h._lock, h._conn() as db:
            if db.execute("SELECT 1 FROM conversations WHERE id = ?",
                          (conversation_id,)).fetchone() is None:
                raise h._missing(conversation_id)
            cur = db.execute(
                "INSERT INTO attachments (conversation_id, path, kind, size, mtime, text, lines,"
                " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, str(a.path), a.kind, a.size, a.mtime, a.text, a.lines,
                 time.time()))
            aid = cur.lastrowid
            vectors = a.vectors
            db.executemany(
                "INSERT INTO attachment_chunks (attachment_id, seq, text, first_line, last_line,"
                " start_s, end_s, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(aid, i, c.text, c.first_line, c.last_line, c.start_s, c.end_s,
                  None if vectors is None else _blob(vectors[i]))
                 for i, c in enumerate(a.chunks)])
        from dataclasses import replace

        return replace(a, id=aid)

    def set_vectors(self, a: Attachment) -> None:
        """Save the vectors of an attachment embedded after it was saved."""
        if a.id is None or a.vectors is None:
            raise BadInput("Only a saved, embedded attachment has vectors to save.")
        h = self._history
        with h._lock, h._conn() as db:
            db.executemany("UPDATE attachment_chunks SET vector = ? WHERE attachment_id = ?"
                           " AND seq = ?",
                           [(_blob(v), a.id, i) for i, v in enumerate(a.vectors)])

    def of(self, conversation_id: int) -> list[Attachment]:
        """A conversation's attachments, oldest first, with their vectors where embedded."""
        import numpy as np

        rows = self._history._read(
            "SELECT * FROM attachments WHERE conversation_id = ? ORDER BY id", (conversation_id,))
        out = []
        for r in rows:
            chunks = self._history._read(
                "SELECT * FROM attachment_chunks WHERE attachment_id = ? ORDER BY seq", (r["id"],))
            blobs = [c["vector"] for c in chunks]
            vectors = (np.stack([np.frombuffer(b, dtype="<f4") for b in blobs])
                       if blobs and all(b is not None for b in blobs) else None)
            out.append(Attachment(
                Path(r["path"]), r["kind"], r["text"],
                tuple(Chunk(c["text"], c["first_line"], c["last_line"], c["start_s"], c["end_s"])
                      for c in chunks),
                r["size"], r["mtime"], vectors, r["id"], r["lines"]))
        return out

    def remove(self, attachment_id: int) -> None:
        """Detach a file (its chunks go with it); a missing one is ignored."""
        h = self._history
        with h._lock, h._conn() as db:
            db.execute("DELETE FROM attachments WHERE id = ?", (attachment_id,))
