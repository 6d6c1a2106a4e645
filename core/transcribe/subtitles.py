"""Subtitle cues people can read: built from word timings (Buzz calls this "resize"), each cue at
most ``max_lines`` lines of at most ``max_chars`` characters and at most ``max_duration`` seconds
long, a new cue after a sentence ends (and after a clause once the cue holds a full line) when
``split_on_punctuation``, and after a pause. Segments without word timings share their time among
their words by length.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import BadInput
from core.transcribe.types import Transcript, Word

SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
CLAUSE_END = (",", ";", ":", "，", "；", "：", "、")
PAUSE_S = 1.5  # a silence this long between two words starts a new cue


@dataclass(frozen=True)
class SubtitleOptions:
    max_chars: int = 42  # per line
    max_lines: int = 2  # per cue
    max_duration: float = 6.0  # seconds per cue
    split_on_punctuation: bool = True

    def validate(self) -> SubtitleOptions:
        if not 8 <= self.max_chars <= 200:
            raise BadInput("Characters per line must be between 8 and 200.")
        if not 1 <= self.max_lines <= 5:
            raise BadInput("Lines per cue must be between 1 and 5.")
        if not 0.5 <= self.max_duration <= 60:
            raise BadInput("A cue must last between 0.5 and 60 seconds.")
        return self


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def words_of(transcript: Transcript) -> list[Word]:
    """Every word with its time: the segment's own word timings, or, where it has none, its
    text's words with the segment's time shared among them by length."""
    out: list[Word] = []
    for seg in transcript.segments:
        if not seg.text.strip():
            continue
        if seg.words and "".join(w.word for w in seg.words).strip() == seg.text.strip():
            out += [w for w in seg.words if w.word.strip()]
            continue
        # no timings (or the text was edited): split the text, share out the segment's time
        tokens = seg.text.split()
        total = sum(len(t) for t in tokens) or 1
        t, span = seg.start, max(seg.end - seg.start, 0.0)
        for token in tokens:
            step = span * len(token) / total
            out.append(Word(t, t + step, " " + token))
            t += step
    return out


def _pieces(word: str, width: int) -> list[str]:
    """A word longer than a line, cut into pieces that fit."""
    word = word.strip()
    return [word[i:i + width] for i in range(0, len(word), width)] or [""]


def wrap(tokens: list[str], width: int) -> list[str]:
    """Lines of at most ``width`` characters, breaking between tokens (each token keeps its
    leading space, so text without spaces between words, as in Chinese, stays joined)."""
    lines: list[str] = []
    line = ""
    for token in tokens:
        if len(token.strip()) > width:
            if line.strip():
                lines.append(line.strip())
            *full, line = _pieces(token, width)
            lines += full
            continue
        if len((line + token).strip()) <= width:
            line += token
        else:
            lines.append(line.strip())
            line = token.lstrip()
    if line.strip():
        lines.append(line.strip())
    return lines


def cues(transcript: Transcript, options: SubtitleOptions | None = None) -> list[Cue]:
    """The transcript's words grouped into cues that respect ``options``' limits."""
    o = (options or SubtitleOptions()).validate()
    out: list[Cue] = []
    group: list[Word] = []

    def close() -> None:
        if not group:
            return
        start = group[0].start
        end = min(max(group[-1].end, start), start + o.max_duration)
        if out and start < out[-1].end:  # never overlap the previous cue
            start = min(out[-1].end, end)
        lines = wrap([w.word for w in group], o.max_chars)
        # more lines than a cue holds only for one word longer than a whole cue: share it out
        parts = [lines[i:i + o.max_lines] for i in range(0, len(lines), o.max_lines)]
        step = (end - start) / max(len(parts), 1)
        for k, part in enumerate(parts):
            out.append(Cue(start + k * step, start + (k + 1) * step, tuple(part)))
        group.clear()

    for word in words_of(transcript):
        if group:
            fits = len(wrap([w.word for w in group] + [word.word], o.max_chars)) <= o.max_lines
            short = word.end - group[0].start <= o.max_duration
            paused = word.start - group[-1].end >= PAUSE_S
            if not fits or not short or paused:
                close()
        group.append(word)
        if o.split_on_punctuation:
            text = word.word.strip()
            chars = len("".join(w.word for w in group).strip())
            if text.endswith(SENTENCE_END) or (text.endswith(CLAUSE_END)
                                               and chars >= o.max_chars):
                close()
    close()
    return [c for c in out if c.lines]
