"""What a local folder or file holds (format, task, a display name), and small file helpers."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from core.errors import BadInput
from core.models.entry import META_FILE, Format, Task


def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._").lower()
    return s or "model"


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += (Path(root) / f).stat().st_size
            except OSError:
                pass
    return total



_ARCH_TASKS = (
    ("ForCausalLM", Task.TEXT_GENERATION),
    ("LMHeadModel", Task.TEXT_GENERATION),
    ("ForSequenceClassification", Task.TEXT_CLASSIFICATION),
    ("ForMaskedLM", Task.FILL_MASK),
    ("ForConditionalGeneration", Task.SPEECH_RECOGNITION),  # whisper-style checkpoints
    ("ForSpeechSeq2Seq", Task.SPEECH_RECOGNITION),
)


def inspect_path(path: Path) -> tuple[Format, Task, str]:
    """Format, task and a display name of a local model folder or file; BadInput if it is none."""
    if not path.exists():
        raise BadInput(f"'{path}' does not exist.")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".gguf":
            return Format.GGUF, Task.TEXT_GENERATION, path.stem
        if suffix == ".pt":
            return Format.WHISPER_PT, Task.SPEECH_RECOGNITION, path.stem
        raise BadInput(
            f"'{path.name}' is not a model file the app knows.",
            hint="Pick a .gguf file, an openai-whisper .pt checkpoint, or a model folder.",
        )
    meta = path / META_FILE
    if meta.is_file():
        data = read_json(meta)
        if data.get("task") and data.get("format"):
            return Format(data["format"]), Task(data["task"]), data.get("name", path.name)
    config = path / "config.json"
    if (path / "model.bin").is_file() and (path / "vocabulary.txt").exists() or (
        (path / "model.bin").is_file() and config.is_file() and "alignment_heads" in read_json(config)
    ):
        return Format.CT2, Task.SPEECH_RECOGNITION, path.name
    if config.is_file():
        cfg = read_json(config)
        archs = cfg.get("architectures") or []
        task = Task.FEATURE_EXTRACTION
        for arch in archs:
            for marker, t in _ARCH_TASKS:
                if arch.endswith(marker):
                    task = t
                    break
            else:
                continue
            break
        if cfg.get("model_type") == "whisper":
            task = Task.SPEECH_RECOGNITION
        return Format.HF, task, path.name
    ggufs = sorted(path.glob("*.gguf"))
    if ggufs:
        return Format.GGUF, Task.TEXT_GENERATION, ggufs[0].stem
    raise BadInput(
        f"'{path}' is not a model folder: it has no config.json, model.bin or .gguf file.",
    )


def enum_or(cls, value, default):
    """``cls(value)``, or ``default`` when the value is missing or unknown."""
    try:
        return cls(value)
    except ValueError:
        return default


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"Cannot read '{path}': {exc}") from exc
    return data if isinstance(data, dict) else {}

