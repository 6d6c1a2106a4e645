"""Fine-tune data, parsed without a tokenizer: raw text sections (split at the hard cut), chat
conversations from JSONL, (text, label) rows from CSV/TSV tables. Every problem is a BadInput
naming the file (and line)."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BadInput
from core.finetune.config import FinetuneConfig
from core.textfiles import LABEL_COLUMNS, TEXT_COLUMNS, open_table, pick_column, read_text_file

CHAT_ROLES = ("system", "user", "assistant")
# what preview_data calls each task's data (DataPreview.kind)
KINDS = {"causal-lm": "text", "chat": "chat", "classification": "table"}


@dataclass
class _Parsed:
    kind: str
    files: tuple[str, ...]
    encodings: list[str]
    sections: list[str] = field(default_factory=list)  # causal-lm
    conversations: list[list[dict]] = field(default_factory=list)  # chat
    rows: list[tuple[str, str]] = field(default_factory=list)  # classification: (text, label)
    columns: tuple[str, ...] | None = None
    text_column: str | None = None
    label_column: str | None = None
    labels: list[str] = field(default_factory=list)  # sorted label names
    skipped: int = 0

    @property
    def encoding(self) -> str:
        return ", ".join(dict.fromkeys(self.encodings))


def _parse(config: FinetuneConfig) -> _Parsed:
    config._check_data_fields()
    files = tuple(str(Path(f).expanduser()) for f in config.data)
    kind = KINDS[config.task]
    if config.task == "classification":  # tables are streamed a row at a time
        tables = [open_table(f) for f in files]
        parsed = _Parsed(kind, files, [t.encoding for t in tables])
        _parse_tables(parsed, tables, config.text_column, config.label_column)
        return parsed
    texts = [(Path(f), *read_text_file(f)) for f in files]
    parsed = _Parsed(kind, files, [enc for _p, _t, enc in texts])
    if config.task == "causal-lm":
        for _p, text, _enc in texts:
            parts = text.split(config.hard_cut) if config.hard_cut else [text]
            parsed.sections += [s for s in parts if s.strip()]
    else:
        for p, text, _enc in texts:
            parsed.conversations += _parse_jsonl(p, text)
    return parsed


def _parse_jsonl(path: Path, text: str) -> list[list[dict]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"Line {n} of '{path.name}'"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{where} is not valid JSON ({exc.msg}).",
                           hint='Each line must be one JSON object like {"messages": [...]}.'
                           ) from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
            raise BadInput(f'{where} has no "messages" list.',
                           hint='Each line must look like {"messages": [{"role": "user", '
                                '"content": "..."}, {"role": "assistant", "content": "..."}]}.')
        messages = []
        for m in obj["messages"]:
            if (not isinstance(m, dict) or m.get("role") not in CHAT_ROLES
                    or not isinstance(m.get("content"), str)):
                raise BadInput(f'{where} has a message without a "role" (system, user or '
                               f'assistant) and a text "content".')
            messages.append({"role": m["role"], "content": m["content"]})
        if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
            raise BadInput(f"{where} has no assistant reply to learn from.")
        out.append(messages)
    if not out:
        raise BadInput(f"'{path.name}' has no conversations.")
    return out


def _parse_tables(parsed: _Parsed, tables, text_col: str | None, label_col: str | None) -> None:
    for table in tables:
        p, columns = table.path, table.columns
        if parsed.columns is None:
            parsed.columns = tuple(columns)
        tcol = pick_column(columns, text_col, TEXT_COLUMNS, "text", p)
        lcol = pick_column(columns, label_col, LABEL_COLUMNS, "label", p)
        if tcol == lcol:
            raise BadInput(f"The text and label columns of '{p.name}' are the same ('{tcol}').",
                           hint="Choose two different columns.")
        parsed.text_column, parsed.label_column = tcol, lcol
        ti, li = columns.index(tcol), columns.index(lcol)
        for row in table.rows():
            if len(row) <= max(ti, li):
                parsed.skipped += 1
                continue
            t, lab = row[ti].strip(), row[li].strip()
            if not t or not lab:
                parsed.skipped += 1
                continue
            parsed.rows.append((t, lab))
    if not parsed.rows:
        raise BadInput(f"No rows with both a text and a label in {_names(parsed.files)}.")
    counts = Counter(lab for _t, lab in parsed.rows)
    if len(counts) < 2:
        only = next(iter(counts))
        raise BadInput(f"Every row has the same label ('{only}'): a classifier needs at least "
                       "two labels.", hint="Add examples of the other class(es), or check the "
                                           "label column.")
    parsed.labels = _sort_labels(list(counts))


def _sort_labels(labels: list[str]) -> list[str]:
    try:
        return sorted(labels, key=lambda s: (int(s), s))  # 0, 1, 2, ... keep their own ids
    except ValueError:
        return sorted(labels)


def _names(files) -> str:
    return ", ".join(f"'{Path(f).name}'" for f in files)

