"""Answering with files attached: whole when they fit, else the chunks nearest the question.

Files that fit the model's context beside the conversation and the answer go in whole. Otherwise
each file's chunks are embedded once with the bundled all-MiniLM-L6-v2 (``Retriever.index``;
the vectors are kept with the chat in the history database) and each question takes the top-k
chunks by cosine similarity. The quoted text goes into the system prompt with instructions to
cite (``[mm:ss]`` for a transcript). ``answer_with_files`` yields ``Sources`` (what was quoted: file, line or
time range, score), then the engine's own events, ending with its ``Done(ReplyStats)``."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from core.cancel import CancelToken
from core.chat.attach import Attachment, Chunk, clock
from core.chat.settings import ChatRequest
from core.events import Done, Event, Progress

EMBED_MODEL = "all-minilm-l6-v2"


@dataclass(frozen=True)
class RetrievalOptions:
    top_k: int = 4  # chunks quoted per question when the files do not fit whole
    margin: int = 32  # tokens kept free beside the prompt and the answer


@dataclass(frozen=True)
class Source:
    path: str
    first_line: int
    last_line: int
    start_s: float | None = None
    end_s: float | None = None
    score: float | None = None  # cosine similarity to the question; None: the whole file

    @property
    def name(self) -> str:
        from core.chat.attach import display_name

        return display_name(self.path)

    def label(self) -> str:
        """``notes.md · lines 3–9`` or ``talk.json · 01:05–01:40``."""
        if self.start_s is not None:
            where = f"{clock(self.start_s)}–{clock(self.end_s or self.start_s)}"
        elif self.first_line == self.last_line:
            where = f"line {self.first_line}"
        else:
            where = f"lines {self.first_line}–{self.last_line}"
        if self.score is None:
            where += " (whole file)"
        return f"{self.name} · {where}"

    def to_dict(self) -> dict:
        return {"path": self.path, "first_line": self.first_line, "last_line": self.last_line,
                "start_s": self.start_s, "end_s": self.end_s, "score": self.score}

    @classmethod
    def from_dict(cls, d: dict) -> Source:
        return cls(str(d["path"]), int(d["first_line"]), int(d["last_line"]), d.get("start_s"),
                   d.get("end_s"), d.get("score"))


@dataclass(frozen=True)
class Sources(Event):
    """What the answer about to stream was given to read."""
    sources: tuple[Source, ...]
    whole: bool  # the files went in whole (no retrieval)


class Retriever:
    """Loads the embedder once, when first needed, and embeds chunks and questions with it."""

    def __init__(self, open_embedder: Callable[[CancelToken], Iterator[Event]]) -> None:
        self._open = open_embedder
        self._embedder = None
        self._lock = threading.Lock()

    @classmethod
    def bundled(cls, registry, device: str = "cpu") -> Retriever:
        from core.models import open_embedder

        return cls(lambda cancel: open_embedder(registry, EMBED_MODEL, device, cancel))

    def _ready(self, cancel: CancelToken):
        with self._lock:
            if self._embedder is None:
                for ev in self._open(cancel):
                    if isinstance(ev, Done):
                        self._embedder = ev.result
                    else:
                        yield ev
            return self._embedder

    def vectors(self, texts: list[str], cancel: CancelToken):
        """Progress, then returns a float32 array of unit rows (one per text)."""
        import numpy as np

        embedder = yield from self._ready(cancel)
        result = None
        for ev in embedder.embed(texts, cancel):
            if isinstance(ev, Done):
                result = ev.result
            else:
                yield ev
        rows = np.asarray(result.vectors, dtype=np.float32)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.clip(norms, 1e-12, None)

    def index(self, attachment: Attachment, cancel: CancelToken) -> Iterator[Event]:
        """Embed an attachment's chunks: Progress, then Done(attachment with its vectors)."""
        if attachment.vectors is None:
            yield Progress(f"Indexing {attachment.name}", 0, len(attachment.chunks))
            vectors = yield from self.vectors([c.text for c in attachment.chunks], cancel)
            attachment = attachment.with_vectors(vectors)
        yield Done(result=attachment, summary=f"Indexed {len(attachment.chunks)} chunks of "
                                              f"{attachment.name}.")

    def search(self, question: str, attachments: list[Attachment], k: int, cancel: CancelToken):
        """The ``k`` chunks nearest the question over every attachment (indexed first where
        needed): returns [(attachment, chunk, score)], best first."""
        import numpy as np

        q = (yield from self.vectors([question], cancel))[0]
        scored = []
        for a in attachments:
            scores = np.asarray(a.vectors, dtype=np.float32) @ q
            scored += [(float(s), a, c) for s, c in zip(scores, a.chunks)]
        scored.sort(key=lambda t: -t[0])
        return [(a, c, s) for s, a, c in scored[:k]]


def _source(a: Attachment, c: Chunk, score: float | None) -> Source:
    return Source(str(a.path), c.first_line, c.last_line, c.start_s, c.end_s,
                  None if score is None else round(score, 4))


def _instructions(attachments: list[Attachment], whole: bool) -> str:
    said = ("The user attached the files below" if whole else
            "Below are the parts of the user's files most related to the question")
    rules = [f"{said}. Answer from them; if they do not hold the answer, say so."]
    if any(a.kind == "transcript" for a in attachments):
        rules.append("Transcript lines start with their time as [mm:ss]: cite the moments you "
                     "used as [mm:ss].")
    if any(a.kind != "transcript" for a in attachments):
        rules.append("Cite the file and lines you used, as (file, lines a-b).")
    return " ".join(rules)


def _quote(a: Attachment, c: Chunk | None) -> str:
    if c is None:
        return f"### {a.name} (whole file)\n{a.text}"
    if c.start_s is not None:
        return f"### {a.name}, {clock(c.start_s)}–{clock(c.end_s or c.start_s)}\n{c.text}"
    return f"### {a.name}, lines {c.first_line}-{c.last_line}\n{c.text}"


def with_context(request: ChatRequest, attachments: list[Attachment],
                 quoted: list[tuple[Attachment, Chunk | None]], whole: bool) -> ChatRequest:
    """The request with the quoted text after its system prompt."""
    block = _instructions(attachments, whole) + "\n\n" + "\n\n".join(_quote(a, c) for a, c in quoted)
    system = f"{request.system_prompt}\n\n{block}" if request.system_prompt.strip() else block
    return replace(request, system_prompt=system)


def token_counter(engine) -> Callable[[ChatRequest], int]:
    """Prompt tokens of a request on ``engine`` (an endpoint: about 3 characters a token)."""
    encode = getattr(engine, "encode", None)

    def count(request: ChatRequest) -> int:
        if encode is None:
            chars = len(request.system_prompt) + sum(len(str(m.get("content", "")))
                                                     for m in request.messages)
            return chars // 3 + 16
        return len(encode(request.system_prompt, list(request.messages)))

    return count


def fits_whole(engine, request: ChatRequest, attachments: list[Attachment],
               options: RetrievalOptions = RetrievalOptions()) -> bool:
    """Whether every file fits in whole beside the conversation and room for the answer."""
    full = with_context(request, attachments, [(a, None) for a in attachments], True)
    budget = engine.info.context - request.settings.max_new_tokens - options.margin
    return token_counter(engine)(full) <= budget


def answer_with_files(engine, retriever: Retriever | None, request: ChatRequest,
           attachments: list[Attachment], cancel: CancelToken,
           options: RetrievalOptions = RetrievalOptions(),
           indexed: Callable[[Attachment], None] | None = None) -> Iterator[Event]:
    """Answer ``request`` (its last message is the question) with ``attachments``: Sources, then
    the engine's events. An attachment embedded here is handed to ``indexed`` (to be saved)."""
    request.validate()
    if not attachments:
        yield from engine.stream(request, cancel)
        return
    if fits_whole(engine, request, attachments, options):
        quoted = [(a, None) for a in attachments]
        sources = tuple(Source(str(a.path), 1, max(a.lines, 1), a.chunks[0].start_s,
                               a.chunks[-1].end_s) for a in attachments)
        yield Sources(sources, True)
        yield from engine.stream(with_context(request, attachments, quoted, True), cancel)
        return
    if retriever is None:
        from core.errors import BadInput

        raise BadInput("The attached files are too long for this model's context.",
                       hint="Pick a model with a longer context.")
    ready = []
    for a in attachments:
        for ev in retriever.index(a, cancel):
            if isinstance(ev, Done):
                if a.vectors is None and indexed is not None:
                    indexed(ev.result)
                a = ev.result
            else:
                yield ev
        ready.append(a)
    question = str(request.messages[-1]["content"])
    best = yield from retriever.search(question, ready, options.top_k, cancel)
    count = token_counter(engine)
    budget = engine.info.context - request.settings.max_new_tokens - options.margin
    while len(best) > 1 and count(with_context(request, ready, [(a, c) for a, c, _ in best],
                                               False)) > budget:
        best = best[:-1]  # the least related chunk goes first
    yield Sources(tuple(_source(a, c, s) for a, c, s in best), False)
    yield from engine.stream(with_context(request, ready, [(a, c) for a, c, _ in best], False),
                             cancel)
