"""Whisper's tokenizer, parsed ahead of the model load.

faster-whisper parses the model's ``tokenizer.json`` inside ``WhisperModel()``: the Rust parser of
the tokenizers package builds 50k tokens and 50k merges in one call that holds the interpreter for
60-100 ms on this project's 2-core machine, so the window froze that long at a first load. The
window parses it earlier, while the user is idle (gui.warmup), into a ``ParsedTokenizers``; the
load hands the parsed tokenizer to faster-whisper in place of its own parse (``handed_over``), and
the load then holds the interpreter for a few milliseconds at a time.

    store = ParsedTokenizers()
    prepare(registry, "whisper-base", store)      # in a thread, while nobody uses the window
    key, parsed = store.lookup(folder)            # matched by the file's content
    with handed_over(parsed, folder):
        model = WhisperModel(folder, ...)         # model.hf_tokenizer is the parsed one
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

TOKENIZER = "tokenizer.json"  # beside model.bin in a CTranslate2 Whisper folder
KEEP = 2  # parsed tokenizers kept (a multilingual and an English-only model): 15-19 MB each
# faster-whisper reads the module's ``tokenizers`` name while a model is built: one build at a
# time may find it replaced
_HANDOVER = threading.Lock()


def _read(path: Path) -> tuple[bytes, tuple[int, str]] | None:
    """A tokenizer file and its key, its content (size, SHA-256): the copy that joining a split
    pack writes is the file parsed ahead from the pack, and a file replaced since is parsed
    again. None when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data, (len(data), hashlib.sha256(data).hexdigest())


class ParsedTokenizers:
    """Parsed tokenizers by file content, the last ``keep`` of them. Thread-safe: parsed in an idle
    thread, read by a load job. A model that is unloaded and loaded again finds its tokenizer
    still here."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep_at_most = keep
        self._lock = threading.Lock()
        self._parsed: dict[tuple[int, str], object] = {}  # (size, SHA-256) -> Tokenizer

    def parse(self, path: str | Path) -> bool:
        """Parse the tokenizer file ``path`` unless its content is here already; False when it
        cannot be read."""
        read = _read(Path(path))
        if read is None:
            return False
        data, key = read
        with self._lock:
            if key in self._parsed:
                return True
        from tokenizers import Tokenizer

        self.keep(key, Tokenizer.from_buffer(data))
        return True

    def lookup(self, folder: str | Path) -> tuple[tuple[int, str] | None, object]:
        """(the key of ``folder``'s tokenizer.json, its parsed tokenizer or None); the key is
        None when the file cannot be read."""
        read = _read(Path(folder) / TOKENIZER)
        if read is None:
            return None, None
        with self._lock:
            return read[1], self._parsed.get(read[1])

    def keep(self, key: tuple[int, str], parsed) -> None:
        """Keep a tokenizer under ``key`` (from ``lookup``): one a load parsed itself, so that
        loading the model again after the model cache unloaded it parses nothing."""
        with self._lock:
            self._parsed[key] = parsed
            while len(self._parsed) > self.keep_at_most:
                del self._parsed[next(iter(self._parsed))]

    def get(self, folder: str | Path):
        """The parsed tokenizer of ``folder``'s tokenizer.json, or None."""
        return self.lookup(folder)[1]

    def __len__(self) -> int:
        with self._lock:
            return len(self._parsed)


def prepare(registry, model_id: str, store: ParsedTokenizers) -> bool:
    """Parse the tokenizer of ``model_id`` (a faster-whisper model the registry knows) into
    ``store``. Nothing is downloaded, joined or converted: a bundled model split across packs and
    not joined yet is parsed from its pack; a model that is not a CTranslate2 folder is left to
    its load, which says what is wrong. True when parsed."""
    from core.errors import WorkbenchError
    from core.models.registry import Format, Task

    try:
        entry = registry.get(model_id, task=Task.SPEECH_RECOGNITION)
    except (WorkbenchError, OSError):
        return False
    if entry.format is not Format.CT2 or not entry.load_path:
        return False
    path = Path(entry.load_path) / TOKENIZER
    if not path.is_file():
        path = _in_pack(entry.id)
    return path is not None and store.parse(path)


def _in_pack(model_id: str) -> Path | None:
    """The tokenizer file beside the parts of a model split across packs."""
    from core.models.catalog import SPLIT_PACKS
    from core.models.packparts import pack_parts

    spec = next((s for s in SPLIT_PACKS if s.id == model_id), None)
    found = pack_parts(spec) if spec is not None else None
    return next((f for f in found[1] if f.name == TOKENIZER), None) if found else None


@contextmanager
def handed_over(parsed, folder: str | Path) -> Iterator[None]:
    """While this is open, faster-whisper's ``WhisperModel(folder)`` takes ``parsed`` (a
    ``tokenizers.Tokenizer`` of ``folder``'s tokenizer.json) instead of parsing the file; any
    other tokenizer file is parsed as usual. ``parsed`` None: nothing is replaced. ``parsed`` comes
    from ``ParsedTokenizers.get(folder)``, which matched the file's content."""
    import faster_whisper.transcribe as fw

    with _HANDOVER:
        if parsed is None:
            yield
            return
        real = fw.tokenizers
        expected = Path(folder) / TOKENIZER

        def from_file(path: str):
            if Path(path) == expected:
                return parsed
            return real.Tokenizer.from_file(path)

        fw.tokenizers = SimpleNamespace(Tokenizer=SimpleNamespace(
            from_file=from_file, from_buffer=real.Tokenizer.from_buffer,
            from_pretrained=real.Tokenizer.from_pretrained))
        try:
            yield
        finally:
            fw.tokenizers = real
