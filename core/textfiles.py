"""The one reader of user text files: plain text and CSV/TSV tables, with encoding detection.
Classify and Fine-tune read their files through it, so they accept and refuse the same files with
the same messages (Fine-tune parses JSON lines from the text it returns). ``stream_lines`` reads a
large text file line by line in bounded memory, each line cut to a length (Classify's files)."""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import BadInput

TEXT_COLUMNS = ("text", "sentence", "sentence1", "content", "review", "document", "input")
LABEL_COLUMNS = ("label", "labels", "class", "category", "target", "sentiment", "output")
TABLE_SUFFIXES = (".csv", ".tsv")
CHUNK_BYTES = 1 << 20  # what stream_lines reads at a time
SNIFF_CHARS = 65536  # looks_binary's sample


def read_text_file(path: str | Path) -> tuple[str, str]:
    """(text, encoding). UTF-8 (with or without BOM), UTF-16 with a BOM, then cp1252 and latin-1.
    BadInput naming the file when it is missing, binary, empty or only whitespace."""
    p = Path(path).expanduser()
    if not p.exists():
        raise BadInput(f"The file '{p}' does not exist.")
    if not p.is_file():
        raise BadInput(f"'{p}' is not a file.")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise BadInput(f"Cannot read '{p.name}': {exc.strerror or exc}.") from exc
    text, encoding = decode_text(raw, p.name)
    if not text.strip():
        what = "is empty" if not text else "holds only whitespace"
        raise BadInput(f"'{p.name}' {what}.", hint="Choose a file with some text in it.")
    return text, encoding


def decode_text(raw: bytes, name: str) -> tuple[str, str]:
    """(text, encoding) of a file's bytes; BadInput when they are not text."""
    text: str | None = None
    encoding = ""
    if raw.startswith(b"\xef\xbb\xbf"):
        text, encoding = raw[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text, encoding = raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            text = None
    if text is None:
        if b"\x00" in raw:
            raise BadInput(f"'{name}' is a binary file, not text.",
                           hint="Choose a plain-text file (.txt, .md, .jsonl, .csv or .tsv).")
        for enc in ("utf-8", "cp1252", "latin-1"):
            try:
                text, encoding = raw.decode(enc), enc
                break
            except UnicodeDecodeError:
                continue
    assert text is not None  # latin-1 decodes any bytes
    if encoding in ("cp1252", "latin-1") and looks_binary(text):
        raise BadInput(f"'{name}' does not look like text: it cannot be decoded as UTF-8 and "
                       "is full of control characters.",
                       hint="Choose a plain-text file, or save it as UTF-8.")
    return text, encoding


def looks_binary(text: str) -> bool:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return controls > max(8, len(sample) // 100)


def _existing_file(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise BadInput(f"The file '{p}' does not exist.")
    if not p.is_file():
        raise BadInput(f"'{p}' is not a file.")
    return p


def sniff_encoding(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> str:
    """The encoding ``read_text_file`` would pick for ``path``, found in one pass over the file
    in chunks (bounded memory). BadInput as read_text_file for missing, binary or empty files."""
    p = _existing_file(path)
    try:
        with open(p, "rb") as f:
            head = f.read(4)
            if not head:
                raise BadInput(f"'{p.name}' is empty.", hint="Choose a file with some text in it.")
            if head.startswith(b"\xef\xbb\xbf"):
                return "utf-8-sig"
            candidates = ["utf-16"] if head.startswith((b"\xff\xfe", b"\xfe\xff")) else \
                ["utf-8", "cp1252", "latin-1"]
            for enc in candidates:
                f.seek(0)
                decoder = codecs.getincrementaldecoder(enc)()
                sample = ""
                try:
                    while block := f.read(chunk_bytes):
                        if enc != "utf-16" and b"\x00" in block:
                            raise BadInput(f"'{p.name}' is a binary file, not text.",
                                           hint="Choose a plain-text file (.txt, .md, .jsonl, "
                                                ".csv or .tsv).")
                        text = decoder.decode(block)
                        if len(sample) < SNIFF_CHARS:
                            sample += text[:SNIFF_CHARS - len(sample)]
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    continue
                if enc in ("cp1252", "latin-1") and looks_binary(sample):
                    raise BadInput(f"'{p.name}' does not look like text: it cannot be decoded "
                                   "as UTF-8 and is full of control characters.",
                                   hint="Choose a plain-text file, or save it as UTF-8.")
                return enc
    except OSError as exc:
        raise BadInput(f"Cannot read '{p.name}': {exc.strerror or exc}.") from exc
    raise BadInput(f"'{p.name}' is a binary file, not text.",  # a UTF-16 BOM, then not UTF-16
                   hint="Choose a plain-text file (.txt, .md, .jsonl, .csv or .tsv).")


def stream_lines(path: str | Path, max_chars: int, *, encoding: str | None = None,
                 chunk_chars: int = CHUNK_BYTES) -> Iterator[tuple[str, bool]]:
    """(line, cut) for each line of a text file, as ``str.splitlines`` splits it, each line cut
    to its first ``max_chars`` characters (``cut``: something was dropped). Memory stays about
    one chunk plus one line, however large the file or long its lines."""
    p = Path(path).expanduser()
    enc = encoding or sniff_encoding(p)
    line: list[str] = []
    kept = 0
    cut = False
    try:
        with open(p, encoding=enc, errors="replace", newline=None) as f:
            while chunk := f.read(chunk_chars):
                for part in chunk.splitlines(keepends=True):
                    body = part.splitlines()[0]
                    ended = len(body) < len(part)  # the line ends in this part
                    room = max_chars - kept
                    if len(body) > room:
                        body, cut = body[:max(0, room)], True
                    if body:
                        line.append(body)
                        kept += len(body)
                    if ended:
                        yield "".join(line), cut
                        line, kept, cut = [], 0, False
    except OSError as exc:
        raise BadInput(f"Cannot read '{p.name}': {exc.strerror or exc}.") from exc
    if line or cut:
        yield "".join(line), cut


@dataclass
class Table:
    """A CSV/TSV table: its header and its rows (blank lines dropped), as read."""
    columns: list[str]
    rows: list[list[str]]
    delimiter: str


def parse_table(text: str, path: str | Path) -> Table:
    """Rows of a table. ``.tsv``: tabs, no quoting. ``.csv``: comma or semicolon, whichever the
    file uses. Any other name: the delimiter is sniffed among , tab ; |. BadInput for a file
    that is not a table, has no header, or is malformed (naming the line)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".tsv":
        reader, delimiter = csv.reader(io.StringIO(text), delimiter="\t",
                                       quoting=csv.QUOTE_NONE), "\t"
    else:
        try:
            dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;" if suffix == ".csv"
                                          else ",\t;|")
            reader, delimiter = csv.reader(io.StringIO(text), dialect), dialect.delimiter
        except csv.Error as exc:
            if suffix != ".csv":
                raise BadInput(f"'{p.name}' does not look like a CSV or TSV table.",
                               hint="Use a .csv or .tsv file with a header row.") from exc
            reader, delimiter = csv.reader(io.StringIO(text)), ","
    try:
        header = next(reader, None)
        if header is None:
            raise BadInput(f"'{p.name}' is empty.")
        columns = [c.strip().lstrip("\ufeff") for c in header]
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise BadInput(f"'{p.name}' is not a well-formed table near line {reader.line_num}: "
                       f"{exc}.") from exc
    return Table(columns, rows, delimiter)


def pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...],
                what: str, path: str | Path) -> str:
    """The column named ``wanted`` (exact, then case-insensitive), or else the first known
    name among ``candidates``. BadInput listing the columns found when there is none."""
    name = Path(path).name
    found = ", ".join(f"'{c}'" for c in columns)
    if wanted is not None:
        for c in columns:
            if c == wanted:
                return c
        for c in columns:
            if c.strip().lower() == wanted.strip().lower():
                return c
        raise BadInput(f"'{name}' has no {what} column '{wanted}'. Columns found: {found}.",
                       hint=f"Choose the {what} column among them.")
    lower = {c.strip().lower(): c for c in columns}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    raise BadInput(f"'{name}' has no {what} column (looked for "
                   f"{', '.join(candidates[:3])}, ...). Columns found: {found}.",
                   hint=f"Choose the {what} column among them.")
