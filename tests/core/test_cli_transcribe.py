"""The `transcribe` subcommand's parser: its defaults and choices are the core's."""
from __future__ import annotations

import argparse

import pytest

from core.device import DevicePreference
from core.transcribe import DEFAULT_FORMAT, ENGINES, FORMATS, TASKS, TranscribeOptions


def transcribe_parser() -> argparse.ArgumentParser:
    from core.cli.transcribe import add_parser

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    return sub.choices["transcribe"]


def choices(dest: str) -> list:
    return list(next(a for a in transcribe_parser()._actions if a.dest == dest).choices)


def test_defaults_are_those_of_transcribe_options():
    args = transcribe_parser().parse_args(["a.wav"])
    d = TranscribeOptions()
    assert (args.engine, args.task, args.beam_size, args.device) == (
        d.engine, d.task, d.beam_size, d.device)
    assert args.format == DEFAULT_FORMAT and args.model is None and args.language is None
    assert not args.word_timestamps and not args.vad


def test_choices_come_from_the_core():
    assert choices("engine") == list(ENGINES)
    assert choices("task") == list(TASKS)
    assert choices("format") == list(FORMATS)
    assert choices("device") == [p.value for p in DevicePreference]
    with pytest.raises(SystemExit):
        transcribe_parser().parse_args(["a.wav", "--device", "tpu"])
