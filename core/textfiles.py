"""The one reader of user text files: plain text and CSV/TSV tables, with encoding detection.
Classify and Fine-tune read their files through it, so they accept and refuse the same files with
the same messages (Fine-tune parses JSON lines from the text it returns). ``stream_lines`` reads a
large text file line by line in bounded memory, each line cut to a length (Classify's files);
``open_table`` streams the rows of a large CSV/TSV file the same way."""
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
SNIFF_TABLE_CHARS = 8192  # what a table's delimiter is sniffed from
TABLE_LINE_CHARS = 1 << 24  # the longest line a table may have


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
    """Rows of a table held in memory. ``.tsv``: tabs, no quoting. ``.csv``: comma or semicolon,
    whichever the file uses. Any other name: the delimiter is sniffed among , tab ; |. BadInput
    for a file that is not a table, has no header, or is malformed (naming the line)."""
    p = Path(path)
    lines = io.StringIO(text)
    options, delimiter = _dialect(text[:SNIFF_TABLE_CHARS], p)
    reader = csv.reader(lines, **options)
    header = _header(reader, p, empty=f"'{p.name}' is empty.")
    return Table(header, list(_rows(reader, p)), delimiter)


@dataclass
class TableFile:
    """A CSV/TSV file read a row at a time: its encoding, delimiter and header are known when it
    is opened; ``rows()`` streams the rows after the header (blank lines dropped), so a large
    table costs about one row of memory, not the whole file."""
    path: Path
    encoding: str
    columns: list[str]
    delimiter: str
    options: dict

    def rows(self) -> Iterator[list[str]]:
        try:
            with open(self.path, encoding=self.encoding, errors="replace", newline="") as f:
                reader = csv.reader(_bounded_lines(f, self.path), **self.options)
                _header(reader, self.path)
                yield from _rows(reader, self.path)
        except OSError as exc:
            raise BadInput(f"Cannot read '{self.path.name}': {exc.strerror or exc}.") from exc


def open_table(path: str | Path) -> TableFile:
    """A CSV/TSV file opened for streaming (``TableFile.rows``): the encoding is found as
    ``read_text_file`` finds it and the delimiter sniffed as ``parse_table`` does, from the
    start of the file. BadInput as read_text_file and parse_table for what they refuse."""
    p = _existing_file(path)
    encoding = sniff_encoding(p)
    try:
        with open(p, encoding=encoding, errors="replace", newline="") as f:
            sample = f.read(SNIFF_TABLE_CHARS)
            if not sample.strip():
                raise BadInput(f"'{p.name}' holds only whitespace.",
                               hint="Choose a file with some text in it.")
            f.seek(0)
            options, delimiter = _dialect(sample, p)
            header = _header(csv.reader(_bounded_lines(f, p), **options), p)
    except OSError as exc:
        raise BadInput(f"Cannot read '{p.name}': {exc.strerror or exc}.") from exc
    return TableFile(p, encoding, header, delimiter, options)


def _dialect(sample: str, p: Path) -> tuple[dict, str]:
    """(csv.reader options, delimiter) for a table whose text starts with ``sample``."""
    suffix = p.suffix.lower()
    if suffix == ".tsv":
        return {"delimiter": "\t", "quoting": csv.QUOTE_NONE}, "\t"
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;" if suffix == ".csv" else ",\t;|")
    except csv.Error as exc:
        if suffix != ".csv":
            raise BadInput(f"'{p.name}' does not look like a CSV or TSV table.",
                           hint="Use a .csv or .tsv file with a header row.") from exc
        return {}, ","
    return {"dialect": dialect}, dialect.delimiter


def _bounded_lines(f, p: Path) -> Iterator[str]:
    """The lines of an open text file, each at most TABLE_LINE_CHARS long: a table with a
    line longer than that (a whole file on one line) is refused instead of held whole."""
    while line := f.readline(TABLE_LINE_CHARS):
        if len(line) >= TABLE_LINE_CHARS and not line.endswith(("\n", "\r")):
            raise BadInput(f"'{p.name}' has a line of over {TABLE_LINE_CHARS:,} characters: "
                           "it is not a table of texts.",
                           hint="Use a .txt file for one long text, or one row per line.")
        yield line


def _header(reader, p: Path, empty: str | None = None) -> list[str]:
    """The first row of ``reader`` with something in it, its names stripped."""
    for row in _rows(reader, p):
        return [c.strip().lstrip("\ufeff") for c in row]
    raise BadInput(empty or f"'{p.name}' holds only whitespace.",
                   hint="Choose a file with some text in it.")


def _rows(reader, p: Path) -> Iterator[list[str]]:
    """The rows of ``reader`` that hold something; BadInput naming the line of a malformed one."""
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield row
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise BadInput(f"'{p.name}' has a cell of over {csv.field_size_limit():,} characters "
                           f"near line {reader.line_num}.",
                           hint="Shorten it, or put long texts in a .txt file, one per line."
                           ) from exc
        raise BadInput(f"'{p.name}' is not a well-formed table near line {reader.line_num}: "
                       f"{exc}.") from exc


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
