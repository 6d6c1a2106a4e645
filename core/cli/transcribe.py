"""The `transcribe` subcommand: transcribe audio or video files."""
from __future__ import annotations

import argparse
from typing import TextIO

from core.cli import add_device_option
from core.cli.drive import drive
from core.errors import Cancelled, WorkbenchError
from core.transcribe import (
    DEFAULT_FASTER_MODEL,
    DEFAULT_FORMAT,
    DEFAULT_OPENAI_MODEL,
    ENGINES,
    ENGLISH_MODELS,
    FORMATS,
    TASKS,
    SubtitleOptions,
    TranscribeOptions,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = TranscribeOptions()
    tr = sub.add_parser("transcribe", help="transcribe audio or video files with Whisper")
    tr.add_argument("files", nargs="+", metavar="FILE", help="audio or video files")
    tr.add_argument("--engine", default=d.engine, choices=ENGINES)
    tr.add_argument("--model", help="faster-whisper: registry id, CTranslate2 folder or Hub id "
                                    f"(default: the bundled {DEFAULT_FASTER_MODEL}, or "
                                    f"{ENGLISH_MODELS['faster-whisper']} with --language en); "
                                    "openai-whisper: a name or a .pt file (default: "
                                    f"{DEFAULT_OPENAI_MODEL}, or {ENGLISH_MODELS['openai-whisper']}"
                                    " with --language en)")
    tr.add_argument("--language", help="language code, e.g. en (default: detect)")
    tr.add_argument("--task", default=d.task, choices=TASKS)
    tr.add_argument("--beam-size", type=int, default=d.beam_size)
    tr.add_argument("--word-timestamps", action="store_true", help="timestamps for every word")
    tr.add_argument("--vad", action="store_true", help="skip silence (voice activity detection)")
    tr.add_argument("--initial-prompt", help="text that sets the style or spells names")
    tr.add_argument("--hotwords", help="custom vocabulary: names and terms to favour "
                                       "(faster-whisper)")
    sd = SubtitleOptions()
    tr.add_argument("--max-chars", type=int, default=sd.max_chars, metavar="N",
                    help="subtitles (srt, vtt): characters per line")
    tr.add_argument("--max-lines", type=int, default=sd.max_lines, metavar="N",
                    help="subtitles: lines per cue")
    tr.add_argument("--max-cue-seconds", type=float, default=sd.max_duration, metavar="S",
                    help="subtitles: longest cue")
    tr.add_argument("--no-punctuation-split", dest="split_on_punctuation", action="store_false",
                    help="subtitles: do not start a new cue after a sentence ends")
    tr.add_argument("--format", default=DEFAULT_FORMAT, choices=list(FORMATS))
    tr.add_argument("--output-dir", metavar="D",
                    help="write <stem>.<format> files there, <stem>-2.<format> for a second file "
                         "of the same name (default: print to stdout)")
    add_device_option(tr)
    tr.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Files one after another, one loaded model; a failed file is reported and the rest go on."""
    from pathlib import Path

    from core.errors import DeviceUnavailable, ModelUnavailable
    from core.models.registry import Registry
    from core.transcribe import export, open_transcriber, write_export

    options = TranscribeOptions(
        engine=args.engine, model=args.model, language=args.language, task=args.task,
        beam_size=args.beam_size, word_timestamps=args.word_timestamps, vad_filter=args.vad,
        initial_prompt=args.initial_prompt, hotwords=args.hotwords,
        device=args.device).validate()
    subtitles = SubtitleOptions(args.max_chars, args.max_lines, args.max_cue_seconds,
                                args.split_on_punctuation).validate()
    targets = output_paths(args.files, args.format, args.output_dir) if args.output_dir else []
    registry = Registry()
    transcriber = None
    failed = 0
    try:
        for i, file in enumerate(args.files):
            try:
                if transcriber is None or not transcriber.alive:  # loaded once, kept
                    transcriber = drive(lambda c: open_transcriber(
                        registry, options.model_id, options.device, c, options.engine), err)
                # Done's summary, printed by drive, is the "<file>: ... RTF ..." line
                transcript = drive(
                    lambda c, f=file, t=transcriber: t.transcribe(f, options, c), err)
            except (ModelUnavailable, DeviceUnavailable, Cancelled):
                raise  # not this file's fault: the next files would fail the same way
            except WorkbenchError as exc:
                print(f"error: {Path(file).name}: {exc.user_message()}", file=err, flush=True)
                failed += 1
                continue
            if args.output_dir:
                print(write_export(transcript, args.format, targets[i], subtitles), file=out,
                      flush=True)
            else:
                out.write(export(transcript, args.format, subtitles))
                out.flush()
    finally:
        if transcriber is not None:
            transcriber.close(wait=True)
    return 1 if failed else 0


def output_paths(files: list[str], fmt: str, output_dir: str) -> list:
    """For each file, the path its transcript goes to, decided before any work: ``<stem>.<fmt>``, then
    ``<stem>-2.<fmt>``... for files of the same name, so no transcript replaces another. BadInput
    when the folder is a file or cannot be written."""
    import os
    from pathlib import Path

    from core.errors import BadInput
    from core.paths import write_problem

    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"--output-dir '{folder}' is a file, not a folder.",
                       hint="Name a folder (it is created when missing).")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_problem(exc, folder, folder=folder) from exc
    if not os.access(folder, os.W_OK):
        raise BadInput(f"The folder '{folder}' cannot be written.",
                       hint="Pick another --output-dir, or make it writable.")
    used: set[str] = set()
    out = []
    for file in files:
        stem = Path(file).stem
        name, n = f"{stem}.{fmt}", 2
        while name.casefold() in used:  # case-insensitive: the same file on macOS and Windows
            name, n = f"{stem}-{n}.{fmt}", n + 1
        used.add(name.casefold())
        out.append(folder / name)
    return out
