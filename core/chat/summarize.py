"""Summaries of texts longer than a model's context.

The text comes as pieces that must not be cut (a transcript's segments, a file's paragraphs). The
pieces are packed into parts that fit the context with room for the answer; each part is
summarised; while more than one summary remains, the summaries are packed and summarised again.
Progress after every answer, Cancel between tokens; the final pass streams its tokens."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.cancel import CancelToken
from core.chat.engine import Token
from core.chat.settings import ChatRequest, GenerationSettings
from core.errors import BadInput, Cancelled
from core.events import Done, Event, Progress

PART = ("Summarise this part of a {what} in a few sentences. Keep names, numbers and decisions.\n\n"
        "{text}")
WHOLE = "Summarise this {what} in a few sentences. Keep names, numbers and decisions.\n\n{text}"
COMBINE = ("These are summaries of consecutive parts of one {what}, in order. Write one summary of "
           "the whole in a few sentences.\n\n{text}")
MIN_ROOM = 64  # tokens of text a part must be able to hold beside the instruction and answer


@dataclass(frozen=True)
class Summary:
    text: str
    parts: int  # answers written on the first pass (1: the text fitted whole)
    passes: int  # 1 when the text fitted whole


def _ask(engine, prompt: str, settings: GenerationSettings, cancel: CancelToken,
         stream: bool):
    """One answer; its Tokens are passed on when ``stream``. Returns the answer's text."""
    request = ChatRequest(({"role": "user", "content": prompt},), settings=settings)
    for ev in engine.stream(request, cancel):
        if isinstance(ev, Done):
            if cancel.cancelled:
                raise Cancelled("Summary cancelled.")
            return ev.result.text.strip()
        if stream and isinstance(ev, Token):
            yield ev
    raise RuntimeError("the chat engine ended without a reply")


def _counter(engine, settings: GenerationSettings, template: str, what: str
             ) -> tuple[Callable[[str], int], int]:
    """Token count of a text inside ``template``, and the room left for text in the context."""
    encode = getattr(engine, "encode", None)

    def prompt_len(text: str) -> int:
        content = template.format(what=what, text=text)
        if encode is None:  # an endpoint: no tokenizer here, about 3 characters a token
            return len(content) // 3 + 16
        return len(encode("", [{"role": "user", "content": content}]))

    overhead = prompt_len("")
    room = engine.info.context - settings.max_new_tokens - overhead - 8  # a little margin

    def count(text: str) -> int:
        return prompt_len(text) - overhead

    return count, room


def _split_long(piece: str, room: int, count: Callable[[str], int]) -> list[str]:
    """A piece too long for one part, cut on word boundaries (only then is a piece cut), and a
    run of text without spaces that is still too long, cut by characters."""
    out: list[str] = []
    current: list[str] = []
    for word in piece.split():
        current.append(word)
        if len(current) % 16 == 0 and count(" ".join(current)) > room:
            out.append(" ".join(current[:-16]) if len(current) > 16 else " ".join(current))
            current = current[-16:] if len(current) > 16 else []
    if current:
        out.append(" ".join(current))
    fitted: list[str] = []
    for chunk in out:
        while chunk and count(chunk) > room:
            cut = max(1, len(chunk) * room // count(chunk) - 1)
            while cut > 1 and count(chunk[:cut]) > room:
                cut = cut * 3 // 4
            fitted.append(chunk[:cut])
            chunk = chunk[cut:]
        if chunk:
            fitted.append(chunk)
    return fitted


def pack(pieces: list[str], room: int, count: Callable[[str], int]) -> list[str]:
    """Consecutive pieces joined into as few parts as fit ``room`` tokens each, in order."""
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for piece in pieces:
        n = count(piece) + 1
        if n > room:
            if current:
                parts.append("\n".join(current))
                current, used = [], 0
            parts.extend(_split_long(piece, room, count))
            continue
        if current and used + n > room:
            parts.append("\n".join(current))
            current, used = [], 0
        current.append(piece)
        used += n
    if current:
        parts.append("\n".join(current))
    return parts


def summarize(engine, pieces: list[str], cancel: CancelToken, *, what: str = "transcript",
              max_new_tokens: int = 160) -> Iterator[Event]:
    """Summarise ``pieces`` (in order) with a loaded chat engine. Yields Progress after each
    answer and the final answer's Tokens; ends with ``Done(result=Summary)``."""
    pieces = [p.strip() for p in pieces if p and p.strip()]
    if not pieces:
        raise BadInput(f"The {what} is empty: there is nothing to summarise.")
    settings = GenerationSettings(decoding="greedy", max_new_tokens=max_new_tokens,
                                  repetition_penalty=1.1)
    _, room = _counter(engine, settings, COMBINE, what)
    # answers at most a third of what a part holds, so that each pass at least halves the text
    answer_cap = (room + settings.max_new_tokens) // 3
    if answer_cap < settings.max_new_tokens:
        settings = GenerationSettings(decoding="greedy", max_new_tokens=max(16, answer_cap),
                                      repetition_penalty=1.1)
    count, room = _counter(engine, settings, PART, what)
    if room < MIN_ROOM:
        raise BadInput(f"The model's context ({engine.info.context} tokens) is too small to "
                       f"summarise with.", hint="Choose a model with a longer context.")
    parts = pack(pieces, room, count)
    if len(parts) == 1:  # fits whole: one answer
        answer = yield from _ask(engine, WHOLE.format(what=what, text=parts[0]), settings,
                                 cancel, stream=True)
        yield Done(result=Summary(answer, 1, 1), summary="Summarised in one pass.")
        return
    first_parts, passes, template = len(parts), 0, PART
    # each pass at least halves the text: an answer is capped at a third of what a part holds
    while True:
        passes += 1
        last = len(parts) == 1
        summaries: list[str] = []
        for i, part in enumerate(parts, 1):
            if cancel.cancelled:
                raise Cancelled("Summary cancelled.")
            prompt = (COMBINE if last else template).format(what=what, text=part)
            answer = yield from _ask(engine, prompt, settings, cancel, stream=last)
            summaries.append(answer)
            yield Progress(f"Pass {passes}: summarised part {i} of {len(parts)}", i, len(parts))
        if last:
            yield Done(result=Summary(summaries[0], first_parts, passes),
                       summary=f"Summarised {first_parts} parts in {passes} passes.")
            return
        template = COMBINE
        count, room = _counter(engine, settings, COMBINE, what)
        packed = pack(summaries, room, count)
        if len(packed) >= len(parts):  # the answers did not get shorter (a rambling model): cut
            half = max(1, (room - 2) // 2)  # them, so that two fit in a part and the passes end
            packed = pack([_split_long(a, half, count)[0] if count(a) > half else a
                           for a in summaries if a], room, count) or ["-"]
        parts = packed



def clock(seconds: float) -> str:
    """[mm:ss] (or [h:mm:ss]) of a time in a recording."""
    s = int(seconds)
    return f"[{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}]" if s >= 3600 else f"[{s // 60:02d}:{s % 60:02d}]"


def pieces_of(path) -> tuple[list[str], str]:
    """The pieces of a file to summarise and what it is: a transcript JSON from this app (its
    segments, each with its [mm:ss] time) or any text file (its paragraphs)."""
    import json
    from pathlib import Path

    from core.textfiles import read_text_file

    text, _encoding = read_text_file(path)
    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and "segments" in data:
            from core.transcribe import Transcript

            transcript = Transcript.from_json(data)
            return [f"{clock(s.start)} {s.text.strip()}" for s in transcript.segments
                    if s.text.strip()], "transcript"
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n")]
    return [p for p in paragraphs if p], "text"
