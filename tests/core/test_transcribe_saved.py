"""Transcripts kept as JSON with their summary (core.transcribe.saved) and a transcript's text
as a raw-text training corpus (core.transcribe.corpus)."""
import json

import pytest

from core.errors import BadInput
from core.transcribe import (
    SavedSummary,
    Segment,
    Transcript,
    load_transcript,
    save_transcript,
    saved_path,
    write_corpus,
)


def transcript(path="/audio/talk.wav"):
    return Transcript(path, 9.5, [Segment(0.0, 2.5, " Hello there."), Segment(2.5, 6.0, "  "),
                                  Segment(6.0, 9.5, "We met at noon. ")], "en", 1.2,
                      "faster-whisper", "tiny.en")


def test_a_kept_transcript_reads_back_with_its_summary(tmp_path):
    path = saved_path(tmp_path, "/audio/talk.wav")
    assert path.parent == tmp_path / "transcripts" and path.name.startswith("talk-")
    save_transcript(path, transcript(), SavedSummary("They met.", "SmolLM2", 3, 2))
    data = json.loads(path.read_text())
    assert [(s["start"], s["end"]) for s in data["segments"]] == [(0.0, 2.5), (2.5, 6.0),
                                                                  (6.0, 9.5)]
    back, summary = load_transcript(path)
    assert back.segments[2].text == "We met at noon." and back.path == "/audio/talk.wav"
    assert summary == SavedSummary("They met.", "SmolLM2", 3, 2)
    save_transcript(path, transcript())
    assert load_transcript(path)[1] is None


def test_two_files_of_one_name_are_kept_apart(tmp_path):
    assert saved_path(tmp_path, "/a/talk.wav") != saved_path(tmp_path, "/b/talk.wav")
    assert saved_path(tmp_path, "/a/talk.wav") == saved_path(tmp_path, "/a/talk.wav")


def test_a_missing_or_foreign_file_is_a_clear_bad_input(tmp_path):
    with pytest.raises(BadInput, match="not there any more"):
        load_transcript(tmp_path / "gone.json")
    other = tmp_path / "other.json"
    other.write_text('{"messages": []}')
    with pytest.raises(BadInput, match="Not a transcript"):
        load_transcript(other)


def test_the_training_corpus_is_the_transcript_text(tmp_path):
    path = write_corpus(transcript(), tmp_path, "talk")
    assert path == tmp_path / "training-data" / "talk.txt"
    assert path.read_text() == "Hello there.\nWe met at noon.\n"
    assert write_corpus(transcript(), tmp_path, "talk") == path  # the same text: same file
    other = Transcript("/b/talk.wav", 1.0, [Segment(0, 1, "Something else.")])
    second = write_corpus(other, tmp_path, "talk")
    assert second.name == "talk-2.txt" and path.read_text().startswith("Hello")
    with pytest.raises(BadInput, match="empty"):
        write_corpus(Transcript("/x.wav", 1.0, [Segment(0, 1, " ")]), tmp_path, "x")
