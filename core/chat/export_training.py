"""Chats as fine-tuning data: selected conversations written as chat JSONL, one
``{"messages": [{"role": ..., "content": ...}, ...]}`` per line (the format core.finetune reads).

Each conversation keeps its system prompt (first, as a "system" message) and every finished
exchange. A reply that is empty, was stopped or failed part-way is left out together with the
question it answers: a half reply is no example to learn from. A question without a reply yet is
left out too. A conversation with no finished reply at all is skipped."""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.chat.history import Conversation, HistoryStore, Message
from core.errors import BadInput
from core.paths import atomic_write


@dataclass(frozen=True)
class ChatTrainingExport:
    path: Path
    conversations: int  # conversations written
    skipped: int  # selected conversations with no finished reply
    dropped_replies: int  # replies left out: empty, stopped or failed
    model_id: str  # the model most of the written conversations used ("" when none says)

    def line(self) -> str:
        """``Wrote 3 chats to chats-….jsonl (1 without a finished reply skipped; 2 unfinished
        replies left out).``"""
        notes = []
        if self.skipped:
            notes.append(f"{self.skipped} without a finished reply skipped")
        if self.dropped_replies:
            notes.append(f"{self.dropped_replies} unfinished "
                         f"{'reply' if self.dropped_replies == 1 else 'replies'} left out")
        n = self.conversations
        return (f"Wrote {n} {'chat' if n == 1 else 'chats'} to {self.path.name}"
                + (f" ({'; '.join(notes)})" if notes else "") + ".")


def finished(m: Message) -> bool:
    """An assistant reply worth learning from: some text, not stopped, not failed."""
    meta = m.meta or {}
    return bool(m.content.strip()) and not (meta.get("stopped") or meta.get("error")
                                            or meta.get("partial"))


def training_messages(conv: Conversation, messages: list[Message]) -> tuple[list[dict], int]:
    """The conversation as training messages (system prompt first) and how many unfinished
    replies were left out; no assistant message at all when none was finished."""
    out: list[dict] = []
    stored_system = [m for m in messages if m.role == "system" and m.content.strip()]
    if stored_system:
        out += [{"role": "system", "content": m.content} for m in stored_system]
    elif conv.system_prompt.strip():
        out.append({"role": "system", "content": conv.system_prompt})
    asked: list[dict] = []  # the user turns since the last reply kept
    dropped = 0
    for m in messages:
        if m.role == "user":
            asked.append({"role": "user", "content": m.content})
        elif m.role == "assistant":
            if finished(m) and asked:
                out += asked + [{"role": "assistant", "content": m.content}]
            else:
                dropped += 1
            asked = []
    return out, dropped


def chat_training_lines(store: HistoryStore, conv_ids: list[int]
                        ) -> tuple[list[str], int, int, str]:
    """The JSONL lines of ``conv_ids`` (in that order), the conversations skipped, the replies
    left out, and the model most of the written ones used."""
    lines, skipped, dropped, models = [], 0, 0, Counter()
    for cid in conv_ids:
        conv = store.get(cid)
        msgs, n = training_messages(conv, store.messages(cid))
        dropped += n
        if not any(m["role"] == "assistant" for m in msgs):
            skipped += 1
            continue
        lines.append(json.dumps({"messages": msgs}, ensure_ascii=False))
        if conv.model_id:
            models[conv.model_id] += 1
    model_id = models.most_common(1)[0][0] if models else ""
    return lines, skipped, dropped, model_id


def write_chat_training(store: HistoryStore, conv_ids: list[int], folder: str | Path,
                        now: float | None = None) -> ChatTrainingExport:
    """Write ``conv_ids`` as ``folder/chats-<time>.jsonl``, atomically. BadInput when no
    conversation is selected or none has a finished reply."""
    if not conv_ids:
        raise BadInput("No chat is selected.", hint="Select one or more chats in the list.")
    lines, skipped, dropped, model_id = chat_training_lines(store, list(conv_ids))
    if not lines:
        raise BadInput("None of the selected chats has a finished reply to learn from.",
                       hint="Empty, stopped and failed replies are left out; pick chats with "
                            "at least one complete answer.")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    folder = Path(folder)
    path, n = folder / f"chats-{stamp}.jsonl", 2
    while path.exists():
        path, n = folder / f"chats-{stamp}-{n}.jsonl", n + 1
    atomic_write(path, "\n".join(lines) + "\n")
    return ChatTrainingExport(path, len(lines), skipped, dropped, model_id)
