"""The `transcribe` subcommand: transcribe audio or video files."""
from __future__ import annotations

import argparse
from typing import TextIO

from core.cli.drive import drive
from core.errors import Cancelled, WorkbenchError


def add_parser(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("transcribe", help="transcribe audio or video files with Whisper")
    tr.add_argument("files", nargs="+", metavar="FILE", help="audio or video files")
    tr.add_argument("--engine", default="faster-whisper", choices=["faster-whisper",
                                                                   "openai-whisper"])
    tr.add_argument("--model", help="faster-whisper: registry id, CTranslate2 folder or Hub id "
                                    "(default: the bundled whisper-tiny.en); openai-whisper: a "
                                    "name such as tiny.en or a .pt file")
    tr.add_argument("--language", help="language code, e.g. en (default: detect)")
    tr.add_argument("--task", default="transcribe", choices=["transcribe", "translate"])
    tr.add_argument("--beam-size", type=int, default=5)
    tr.add_argument("--word-timestamps", action="store_true", help="timestamps for every word")
    tr.add_argument("--vad", action="store_true", help="skip silence (voice activity detection)")
    tr.add_argument("--initial-prompt", help="text that sets the style or spells names")
    tr.add_argument("--format", default="txt", choices=["txt", "srt", "vtt", "json"])
    tr.add_argument("--output-dir", metavar="D",
                    help="write <stem>.<format> files there (default: print to stdout)")
    tr.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    tr.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Files one after another, one loaded model; a failed file is reported and the rest go on."""
    from pathlib import Path

    from core.errors import DeviceUnavailable, ModelUnavailable
    from core.models.registry import Registry
    from core.transcribe import (
        BackendCache,
        TranscribeOptions,
        export,
        export_path,
        transcribe_file,
    )

    options = TranscribeOptions(
        engine=args.engine, model=args.model, language=args.language, task=args.task,
        beam_size=args.beam_size, word_timestamps=args.word_timestamps, vad_filter=args.vad,
        initial_prompt=args.initial_prompt, device=args.device).validate()
    registry = Registry()
    cache = BackendCache()
    failed = 0
    try:
        for file in args.files:
            try:  # Done's summary, printed by drive, is the "<file>: ... RTF ..." line
                transcript = drive(
                    lambda c, f=file: transcribe_file(f, options, c, cache, registry), err)
            except (ModelUnavailable, DeviceUnavailable, Cancelled):
                raise  # not this file's fault: the next files would fail the same way
            except WorkbenchError as exc:
                print(f"error: {Path(file).name}: {exc.user_message()}", file=err, flush=True)
                failed += 1
                continue
            if args.output_dir:
                print(export_path(transcript, args.format, args.output_dir), file=out, flush=True)
            else:
                out.write(export(transcript, args.format))
                out.flush()
    finally:
        cache.close()
    return 1 if failed else 0
