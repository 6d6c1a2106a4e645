"""Subtitle cues from word timings: every cue keeps to the line, line-count and duration limits,
no word is lost or moved, sentences end cues, and the CLI flags reach the export."""
from __future__ import annotations

import argparse
import random

import pytest

from core.errors import BadInput
from core.transcribe import Segment, SubtitleOptions, Transcript, Word, cues, export

SENTENCES = ["And so, my fellow Americans, ask not what your country can do for you.",
             "Ask what you can do for your country!", "Is it?",
             "From fairest creatures we desire increase, that thereby beauty's rose might never "
             "die, but as the riper should by time decease, his tender heir might bear his memory."]


def spoken(seed: int = 0, n: int = 40, words_too: bool = True) -> Transcript:
    """A transcript of ``n`` sentences with word timings: words 0.1-0.9 s, pauses now and then,
    one segment per sentence."""
    rng = random.Random(seed)
    t, segments = 0.3, []
    for _ in range(n):
        text = rng.choice(SENTENCES)
        words, start = [], t
        for token in text.split():
            length = rng.uniform(0.1, 0.9)
            words.append(Word(t, t + length, " " + token, 0.9))
            t += length + rng.choice((0.0, 0.05, 0.2))
        segments.append(Segment(start, t, text, tuple(words) if words_too else ()))
        t += rng.choice((0.1, 0.5, 2.0))
    return Transcript("talk.wav", t + 1, segments)


def all_words(t: Transcript) -> list[str]:
    return " ".join(s.text for s in t.segments).split()


LIMITS = [SubtitleOptions(), SubtitleOptions(20, 1, 2.0), SubtitleOptions(32, 3, 10.0, False),
          SubtitleOptions(60, 2, 4.0)]


@pytest.mark.parametrize("options", LIMITS)
@pytest.mark.parametrize("words_too", [True, False])
def test_cues_keep_to_the_limits_and_every_word(options, words_too):
    t = spoken(seed=hash((options, words_too)) % 1000, words_too=words_too)
    out = cues(t, options)
    assert len(out) > 10
    for cue in out:
        assert 1 <= len(cue.lines) <= options.max_lines, cue
        assert all(0 < len(line) <= options.max_chars for line in cue.lines), cue
        assert cue.end - cue.start <= options.max_duration + 1e-9, cue
        assert cue.start <= cue.end
    assert all(a.end <= b.start + 1e-9 for a, b in zip(out, out[1:]))  # in order, no overlap
    assert " ".join(" ".join(c.lines) for c in out).split() == all_words(t)


def test_a_sentence_end_closes_the_cue_unless_told_not_to():
    t = spoken(seed=3, n=30)
    ends = cues(t, SubtitleOptions(80, 3, 30.0))
    # room for far more per cue: a sentence's end, or a clause's past a full line, ends each
    assert all(c.lines[-1].endswith((".", "!", "?", ",")) for c in ends)
    joined = cues(t, SubtitleOptions(80, 3, 30.0, split_on_punctuation=False))
    assert len(joined) < len(ends)
    assert sum(c.lines[-1].endswith((".", "!", "?")) for c in joined) < \
        sum(c.lines[-1].endswith((".", "!", "?")) for c in ends)


def test_cue_times_come_from_the_words():
    w = [Word(1.0, 1.4, " Hello"), Word(1.5, 2.0, " there."), Word(5.0, 5.5, " Again")]
    t = Transcript("a.wav", 6, [Segment(1.0, 5.5, "Hello there. Again", tuple(w))])
    out = cues(t)
    assert [(c.start, c.end, c.text) for c in out] == [(1.0, 2.0, "Hello there."),
                                                       (5.0, 5.5, "Again")]


def test_text_without_spaces_and_words_longer_than_a_line():
    zh = [Word(0.1 * i, 0.1 * i + 0.1, ch) for i, ch in enumerate("一二三四五六七八九十一二三四五")]
    t = Transcript("zh.wav", 2, [Segment(0, 1.5, "一二三四五六七八九十一二三四五", tuple(zh))])
    out = cues(t, SubtitleOptions(8, 2, 6.0))
    assert [c.lines for c in out] == [("一二三四五六七八", "九十一二三四五")]
    long = Transcript("l.wav", 3, [Segment(0, 2, "Pneumonoultramicroscopicsilicovolcanoconiosis")])
    out = cues(long, SubtitleOptions(10, 2, 6.0))
    assert all(len(line) <= 10 for c in out for line in c.lines)
    assert all(len(c.lines) <= 2 for c in out)
    assert "".join("".join(c.lines) for c in out) == long.segments[0].text


def test_srt_uses_the_options_and_bad_limits_are_refused():
    t = spoken(seed=5, n=6)
    srt = export(t, "srt", SubtitleOptions(max_chars=20, max_lines=1))
    body = [line for line in srt.splitlines() if line and "-->" not in line
            and not line.isdigit()]
    assert body and all(len(line) <= 20 for line in body)
    for bad in (SubtitleOptions(max_chars=3), SubtitleOptions(max_lines=0),
                SubtitleOptions(max_duration=0)):
        with pytest.raises(BadInput):
            export(t, "vtt", bad)


def test_cli_flags_make_the_subtitle_options():
    from core.cli.transcribe import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["transcribe", "a.wav"])
    d = SubtitleOptions()
    assert (args.max_chars, args.max_lines, args.max_cue_seconds, args.split_on_punctuation) == (
        d.max_chars, d.max_lines, d.max_duration, d.split_on_punctuation)
    args = parser.parse_args(["transcribe", "a.wav", "--max-chars", "30", "--max-lines", "1",
                              "--max-cue-seconds", "3", "--no-punctuation-split",
                              "--hotwords", "Kubernetes Anthropic"])
    assert (args.max_chars, args.max_lines, args.max_cue_seconds, args.split_on_punctuation,
            args.hotwords) == (30, 1, 3.0, False, "Kubernetes Anthropic")
