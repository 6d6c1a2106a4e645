"""What the Models page says about each model, in words: what it is for, which pages use it, its
size on disk with any converted copy, and for a trained model its base, method and headline metric.

Plain functions over a registry entry (no widgets); the few small files they read (a trained
model's workbench.json, the bundled model's training.json and calibration.json) are read once per
folder and kept.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.models.registry import META_FILE, Format, ModelEntry, Source, Task

PURPOSE = {
    Task.TEXT_GENERATION: "Chats and writes text",
    Task.TEXT_CLASSIFICATION: "Sorts texts into labels",
    Task.FILL_MASK: "Fills in a masked word",
    Task.FEATURE_EXTRACTION: "Turns text into vectors (embeddings)",
    Task.SPEECH_RECOGNITION: "Turns speech into text",
}
PAGES = {
    Task.TEXT_GENERATION: "Chat · Fine-tune (base)",
    Task.TEXT_CLASSIFICATION: "Classify · Fine-tune (base)",
    Task.FILL_MASK: "Classify (fill-mask) · Fine-tune (base)",
    Task.FEATURE_EXTRACTION: "Fine-tune (base of a classifier)",
    Task.SPEECH_RECOGNITION: "Transcribe",
}
METHODS = {"lora": "LoRA", "lora-merged": "LoRA, merged", "full": "full fine-tune"}


@dataclass(frozen=True)
class Facts:
    purpose: str
    pages: str
    size_bytes: int | None  # on disk, converted copy included
    size_note: str  # "94 MB + 517 MB converted copy"
    trained_from: str  # "SmolLM2-135M-Instruct · LoRA r=8"
    result: str  # "accuracy 0.938", "perplexity 41.0"


def human_size(n: int | None) -> str:
    if n is None:
        return "–"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


@lru_cache(maxsize=512)
def _folder_size(path: str, _mtime: float) -> int:
    from core.models.detect import dir_size

    return dir_size(Path(path))


def folder_size(path: str | None) -> int | None:
    if not path or not Path(path).exists():
        return None
    return _folder_size(path, Path(path).stat().st_mtime)


@lru_cache(maxsize=512)
def _json(path: str, _mtime: float) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def read_json(path: Path) -> dict:
    try:
        return _json(str(path), path.stat().st_mtime)
    except OSError:
        return {}


def _folder(entry: ModelEntry) -> Path | None:
    if not entry.path:
        return None
    p = Path(entry.path)
    return p if p.is_dir() else p.parent


def headline(metrics: dict) -> str:
    """The one figure that says how good a trained model is."""
    parts = []
    if isinstance(metrics.get("accuracy"), (int, float)):
        parts.append(f"accuracy {metrics['accuracy']:.3f}")
        if isinstance(metrics.get("f1_macro"), (int, float)):
            parts.append(f"macro F1 {metrics['f1_macro']:.3f}")
    elif isinstance(metrics.get("perplexity"), (int, float)):
        parts.append(f"perplexity {metrics['perplexity']:.1f}")
    elif isinstance(metrics.get("eval_loss"), (int, float)):
        parts.append(f"eval loss {metrics['eval_loss']:.3f}")
    return ", ".join(parts)


def _trained(entry: ModelEntry, names: dict[str, str]) -> tuple[str, str]:
    """(base · method, headline metric) of a model the app trained (or the bundled one)."""
    folder = _folder(entry)
    if folder is None:
        return "", ""
    meta = read_json(folder / META_FILE) if entry.source is Source.APP else {}
    if meta.get("method"):
        base = names.get(meta.get("base", ""), meta.get("base", ""))
        method = METHODS.get(meta["method"], meta["method"])
        note = meta.get("note", "")
        if note.startswith("LoRA r="):  # "LoRA r=8 of SmolLM2…": keep the rank
            method = note.split(" of ")[0]
        result = headline(meta.get("metrics") or {})
    else:
        training = read_json(folder / "training.json")  # the bundled sentiment model
        if not training:
            return "", ""
        base = names.get(training.get("base", ""), training.get("base", ""))
        cfg = training.get("config") or {}
        method = METHODS.get(cfg.get("method", ""), cfg.get("method", ""))
        if cfg.get("lora_r") and cfg.get("method") == "lora":
            method = f"LoRA r={cfg['lora_r']}"
        result = headline(training.get("validation") or {})
    calibration = read_json(folder / "calibration.json")
    if calibration.get("ece_after") is not None:
        result += f"{', ' if result else ''}calibrated (ECE {calibration['ece_after']:.3f})"
    return " · ".join(p for p in (base, method) if p), result


def facts(entry: ModelEntry, names: dict[str, str] | None = None) -> Facts:
    """``names``: registry id → name, to name a trained model's base."""
    names = names or {}
    size = entry.size_bytes
    size_note = human_size(size) if size is not None else ""
    converted = folder_size(entry.converted_path)
    if converted:
        size = (size or 0) + converted
        size_note = f"{human_size(entry.size_bytes)} + {human_size(converted)} converted copy"
    if entry.source is Source.HUB and not entry.load_path:
        size_note = "not downloaded"
    pages = PAGES.get(entry.task, "")
    if entry.task is Task.TEXT_GENERATION and entry.format is Format.GGUF:
        pages = "Chat (llama.cpp) · Fine-tune (base, converted once)"
    trained_from, result = _trained(entry, names)
    purpose = PURPOSE.get(entry.task, entry.task.value)
    if entry.task is Task.TEXT_CLASSIFICATION and "positive/negative" in entry.note:
        purpose = "Says whether a text is positive or negative"
    return Facts(purpose, pages, size, size_note, trained_from, result)
