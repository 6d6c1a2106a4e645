"""What the registry knows about one model: its task, format and source, and where it is."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import Enum

META_FILE = "workbench.json"  # the app's metadata in a folder it made (trained, converted)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class Task(str, Enum):
    TEXT_GENERATION = "text-generation"
    TEXT_CLASSIFICATION = "text-classification"
    FILL_MASK = "fill-mask"
    FEATURE_EXTRACTION = "feature-extraction"
    SPEECH_RECOGNITION = "speech-recognition"


class Format(str, Enum):
    HF = "hf-folder"
    GGUF = "gguf"
    CT2 = "ctranslate2"
    WHISPER_PT = "openai-whisper-pt"
    API = "openai-api"  # a model a remote OpenAI-compatible endpoint serves


class Source(str, Enum):
    BUNDLED = "bundled"
    PACK = "bundled-pack"
    APP = "app-data"
    USER = "user"
    HF_CACHE = "hf-cache"
    HUB = "hub"
    ENDPOINT = "endpoint"


SOURCE_LABELS = {
    Source.BUNDLED: "Bundled with the app",
    Source.PACK: "Bundled pack",
    Source.APP: "App data",
    Source.USER: "Your files",
    Source.HF_CACHE: "HF cache",
    Source.HUB: "Hub (online)",
    Source.ENDPOINT: "Remote endpoint",
}


@dataclass(frozen=True)
class ModelEntry:
    id: str
    name: str
    task: Task
    format: Format
    source: Source
    path: str | None  # None for a Hub id not downloaded yet; an endpoint's base URL
    size_bytes: int | None = None
    hub_id: str | None = None
    converted_path: str | None = None  # GGUF only: the safetensors folder made from it
    note: str = ""

    @property
    def load_path(self) -> str | None:
        """What an engine should load: the converted folder for GGUF, else the path."""
        return self.converted_path or self.path

    @property
    def removable(self) -> bool:
        return self.source in (Source.APP, Source.USER) or self.converted_path is not None

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("task", "format", "source"):
            d[k] = d[k].value
        return d

