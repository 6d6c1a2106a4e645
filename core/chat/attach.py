"""Files attached to a chat: reading them and cutting them into chunks.

A text, Markdown or CSV file is read through ``core.textfiles`` (the one reader: binary, empty and
undecodable files are refused there, naming the file) and cut into chunks of whole lines, each
with its line range; a table's chunks repeat its header line so that every chunk can be read
alone. A transcript JSON written by this app is cut on segment boundaries, each segment shown as
``[mm:ss] text``, each chunk with its time range. Chunks are what the retrieval embeds and what a
prompt quotes (``core.chat.retrieval``)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.errors import BadInput

CHUNK_CHARS = 700  # about 180 tokens: under MiniLM's 256-token cut, a few lines or sentences
KINDS = ("text", "table", "transcript")


def clock(seconds: float) -> str:
    """mm:ss (or h:mm:ss) of a time in a recording, without brackets."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


@dataclass(frozen=True)
class Chunk:
    text: str
    first_line: int  # 1-based, inclusive; for a transcript: its first and last segment
    last_line: int
    start_s: float | None = None  # a transcript's chunk: the time range it covers
    end_s: float | None = None


def display_name(path: str | Path) -> str:
    """How a file is named to the user: a transcript this app kept (``<audio stem>-<hash>.json``
    in its transcripts folder) by its recording's name, anything else by its file name."""
    from core.transcribe.saved import kept_stem

    stem = kept_stem(path)
    return f"{stem} (transcript)" if stem else Path(path).name


@dataclass(frozen=True)
class Attachment:
    """A file read for a chat: its text as the model sees it, and its chunks. ``vectors`` (one
    float32 row per chunk, unit length) is set once it has been embedded."""
    path: Path
    kind: str  # one of KINDS
    text: str
    chunks: tuple[Chunk, ...]
    size: int
    mtime: float
    vectors: object = None  # numpy float32 array (chunks x dims), or None before embedding
    id: int | None = None  # its row in the history database, once saved
    lines: int = field(default=0)  # lines (or segments) in the file

    @property
    def name(self) -> str:
        return display_name(self.path)

    def with_vectors(self, vectors) -> Attachment:
        return replace(self, vectors=vectors)

    def stale(self) -> bool:
        """The file on disk has changed (or gone) since it was read."""
        try:
            st = self.path.stat()
        except OSError:
            return False  # gone: what was read stays usable
        return st.st_size != self.size or abs(st.st_mtime - self.mtime) > 1e-3


def _transcript_segments(text: str, path: Path) -> list | None:
    """A transcript JSON's segments, or None when the file is not one."""
    if path.suffix.lower() != ".json":
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not (isinstance(data, dict) and isinstance(data.get("segments"), list)):
        return None
    from core.transcribe import Transcript

    try:
        transcript = Transcript.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"'{path.name}' looks like a transcript but cannot be read: {exc}.") from exc
    segments = [s for s in transcript.segments if s.text.strip()]
    if not segments:
        raise BadInput(f"The transcript '{path.name}' has no text in it.")
    return segments


def _pack(units: list[tuple[str, int]], limit: int, head: str = "") -> list[tuple[str, int, int]]:
    """Consecutive units (text, number) joined into chunks of at most ``limit`` characters (a
    unit longer than that is a chunk of its own): (text, first number, last number)."""
    out: list[tuple[str, int, int]] = []
    current: list[str] = []
    first = last = 0
    used = 0
    for text, n in units:
        if current and used + len(text) + 1 > limit:
            out.append(("\n".join(([head] if head else []) + current), first, last))
            current, used = [], 0
        if not current:
            first = n
        current.append(text)
        last = n
        used += len(text) + 1
    if current:
        out.append(("\n".join(([head] if head else []) + current), first, last))
    return out


def read_attachment(path: str | Path, chunk_chars: int = CHUNK_CHARS) -> Attachment:
    """Read a file to attach: a transcript JSON from this app, a table (.csv/.tsv) or any text
    file. BadInput naming the file when it is missing, binary, empty or not text."""
    from core.textfiles import TABLE_SUFFIXES, read_text_file

    p = Path(path).expanduser().resolve()
    text, _encoding = read_text_file(p)
    st = p.stat()
    segments = _transcript_segments(text, p)
    if segments is not None:
        units = [(f"[{clock(s.start)}] {s.text.strip()}", i) for i, s in enumerate(segments, 1)]
        chunks = tuple(Chunk(body, a, b, segments[a - 1].start, segments[b - 1].end)
                       for body, a, b in _pack(units, chunk_chars))
        whole = "\n".join(u for u, _ in units)
        return Attachment(p, "transcript", whole, chunks, st.st_size, st.st_mtime,
                          lines=len(units))
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    kind = "table" if p.suffix.lower() in TABLE_SUFFIXES else "text"
    head = lines[0] if kind == "table" else ""
    body = lines[1:] if kind == "table" else lines
    start = 2 if kind == "table" else 1
    units = [(ln, i) for i, ln in enumerate(body, start) if ln.strip()]
    if not units:  # a table with a header only
        units = [(lines[0], 1)]
        head = ""
    chunks = tuple(Chunk(t, a, b) for t, a, b in _pack(units, chunk_chars, head))
    return Attachment(p, kind, "\n".join(lines), chunks, st.st_size, st.st_mtime,
                      lines=len(lines))
