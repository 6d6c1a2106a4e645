"""The texts to classify from a file: a .txt (one text per line) or a CSV/TSV table (one column),
read through core.textfiles, with the rows kept so an export can add columns to them.

A .txt is streamed line by line, a CSV/TSV row by row, and every text is cut to ``max_chars`` as it
is read: a classifier reads at most a few hundred tokens of a text, so a 50 MB one-line file or a
50 MB table costs about what its kept rows hold, not gigabytes. ``short_text`` is the shortened
echo of a text for a terminal or a table cell."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BadInput
from core.textfiles import (
    TEXT_COLUMNS,
    open_table,
    pick_column,
    sniff_encoding,
    stream_lines,
)

# Characters kept of each text: far more than any classifier reads (512 tokens of even 32
# characters each is 16k), so the model still truncates and reports it, but a huge line is never
# held, tokenized or echoed whole.
MAX_TEXT_CHARS = 65_536
ECHO_CHARS = 100  # a text as a terminal shows it


@dataclass
class InputTable:
    """The texts of a .txt (one per line) or CSV/TSV file (one column), with the rows they came
    from, so an export can add columns to the original table."""
    path: Path
    kind: str  # "lines" | "table"
    encoding: str
    texts: list[str]
    columns: list[str] = field(default_factory=list)
    column: str = ""
    rows: list[list[str]] = field(default_factory=list)
    delimiter: str = ","
    skipped: int = 0  # blank lines, or rows without that column's text
    cut: int = 0  # texts longer than max_chars, cut while reading


def short_text(text: str, width: int = ECHO_CHARS) -> str:
    """``text`` on one line, at most ``width`` characters ("…" where it was shortened)."""
    flat = " ".join(text[:width * 4].split())
    if len(flat) <= width and len(text) <= width * 4:
        return flat
    return flat[:width - 1].rstrip() + "…"


def read_table(path: str | Path, column: str | None = None, *,
               max_chars: int = MAX_TEXT_CHARS) -> InputTable:
    """Texts to classify from a file, each cut to ``max_chars`` characters. BadInput for a
    missing, binary, empty or unreadable file, or a table without that column (the message
    lists the columns found)."""
    p = Path(path).expanduser()
    if p.suffix.lower() not in (".csv", ".tsv"):
        return _read_lines(p, max_chars)
    table = open_table(p)
    col = pick_column(table.columns, column, TEXT_COLUMNS, "text", p)
    ci = table.columns.index(col)
    rows, texts, skipped, cut = [], [], 0, 0
    for row in table.rows():
        if len(row) <= ci or not row[ci].strip():
            skipped += 1
            continue
        cell = row[ci].strip()
        if len(cell) > max_chars:
            cell = row[ci] = cell[:max_chars]
            cut += 1
        rows.append(row)
        texts.append(cell)
    if not texts:
        raise BadInput(f"'{p.name}' has no text in its column '{col}'.")
    return InputTable(p, "table", table.encoding, texts, table.columns, col, rows,
                      table.delimiter, skipped, cut)


def _read_lines(p: Path, max_chars: int) -> InputTable:
    """A .txt, one text per line, streamed."""
    encoding = sniff_encoding(p)
    texts: list[str] = []
    skipped = cut = 0
    for line, was_cut in stream_lines(p, max_chars, encoding=encoding):
        text = line.strip()
        if text:
            texts.append(text)
            cut += was_cut
        else:
            skipped += 1
    if not texts:
        raise BadInput(f"'{p.name}' holds only whitespace.",
                       hint="Choose a file with some text in it.")
    return InputTable(p, "lines", encoding, texts, skipped=skipped, cut=cut)
