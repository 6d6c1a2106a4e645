"""Requests one page makes of another (pages never import each other): the request types and
the hub that carries them. The window connects each signal to the page that answers it, builds
that page if needed and shows it.

- ``ask_in_chat(AskInChat)``: Chat opens a new conversation with the file attached (a transcript
  JSON written by this app, or a text file) and, when ``question`` is set, asks it.
- ``open_segment(SegmentLink)``: Transcribe selects the transcript and plays the segment that
  holds ``seconds`` (a ``[mm:ss]`` link in a Chat answer).
- ``train_on(TrainingData)``: Fine-tune opens its New-run dialog prefilled with the task, the
  data file and the base model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal


@dataclass(frozen=True)
class AskInChat:
    path: Path  # a transcript JSON from this app, or a text/Markdown/CSV file
    title: str = ""  # the new chat's title ("" = the file's name)
    question: str = ""  # asked at once when set
    model_id: str = ""  # the chat model to use ("" = the page's current one)


@dataclass(frozen=True)
class SegmentLink:
    transcript: Path  # the transcript JSON (or the audio file) the moment belongs to
    seconds: float


@dataclass(frozen=True)
class TrainingData:
    task: str  # "chat", "causal-lm" or "classification" (core.finetune task names)
    path: Path  # the data file written for it
    base: str = ""  # the model id to start from ("" = the dialog's default)


class Links(QObject):
    ask_in_chat = Signal(object)  # AskInChat
    open_segment = Signal(object)  # SegmentLink
    train_on = Signal(object)  # TrainingData
