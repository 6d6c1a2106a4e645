"""The texts to classify from a file: a .txt (one text per line) or a CSV/TSV table (one column),
read through core.textfiles, with the rows kept so an export can add columns to them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BadInput
from core.textfiles import TEXT_COLUMNS, parse_table, pick_column, read_text_file


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


def read_table(path: str | Path, column: str | None = None) -> InputTable:
    """Texts to classify from a file. BadInput for a missing, binary, empty or unreadable file,
    or a table without that column (the message lists the columns found)."""
    p = Path(path).expanduser()
    text, encoding = read_text_file(p)
    if p.suffix.lower() not in (".csv", ".tsv"):
        lines = text.splitlines()
        texts = [ln.strip() for ln in lines if ln.strip()]
        return InputTable(p, "lines", encoding, texts, skipped=len(lines) - len(texts))
    table = parse_table(text, p)
    col = pick_column(table.columns, column, TEXT_COLUMNS, "text", p)
    ci = table.columns.index(col)
    rows, texts, skipped = [], [], 0
    for row in table.rows:
        if len(row) <= ci or not row[ci].strip():
            skipped += 1
            continue
        rows.append(row)
        texts.append(row[ci].strip())
    if not texts:
        raise BadInput(f"'{p.name}' has no text in its column '{col}'.")
    return InputTable(p, "table", encoding, texts, table.columns, col, rows, table.delimiter,
                      skipped)
