"""Chat request options: the decoding settings and their defaults for the model in use (they live
here once: the panel and the CLI read them), the Precise / Balanced / Creative presets, and the
request an engine answers."""
from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from core.errors import BadInput

DEFAULT_CHAT_MODEL = "smollm2-135m-instruct"
DECODING = ("greedy", "sampling", "beam")


@dataclass(frozen=True)
class GenerationSettings:
    decoding: str = "sampling"
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.0
    max_new_tokens: int = 256
    seed: int | None = None
    num_beams: int = 4

    def validate(self) -> GenerationSettings:
        if self.decoding not in DECODING:
            raise BadInput(f"Unknown decoding '{self.decoding}'.", hint="Use greedy, sampling or beam.")
        checks = [
            (self.temperature >= 0, "Temperature must be 0 or more."),
            (0 < self.top_p <= 1, "Top-p must be above 0 and at most 1."),
            (self.top_k >= 0, "Top-k must be 0 (off) or more."),
            (self.repetition_penalty > 0, "Repetition penalty must be above 0."),
            (1 <= self.max_new_tokens <= 32768, "Max new tokens must be between 1 and 32768."),
            (1 <= self.num_beams <= 16, "Beams must be between 1 and 16."),
        ]
        for ok, message in checks:
            if not ok:
                raise BadInput(message)
        if self.decoding == "sampling" and self.temperature == 0:
            return replace(self, decoding="greedy")  # temperature 0 means greedy
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> GenerationSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})

    @property
    def streams(self) -> bool:
        return self.decoding != "beam"


# ---- defaults for the model in use ------------------------------------------------------------
SAMPLING_KEYS = ("temperature", "top_p", "top_k", "repetition_penalty")
SMALL_MODEL = 1.5e9  # parameters: below this a low temperature keeps a model on topic
# SmolLM2's own card recommends a low temperature and top-p 0.9 for its small models
SMALL_DEFAULTS = GenerationSettings(temperature=0.2, top_p=0.9, top_k=50)
LARGE_DEFAULTS = GenerationSettings(temperature=0.7, top_p=0.9, top_k=50)
# Some small models' chat templates put a persona in when no system prompt is given ("You are
# a helpful AI assistant named SmolLM..."); with a quantised file the bundled 135M model then drifts
# off the question (greedy on llama.cpp: "L'Etoile, la Cite..." for the capital of France). A
# plain system prompt keeps it answering: "The capital of France is Paris."
SMALL_SYSTEM_PROMPT = "You are a helpful assistant."
PRESETS = ("precise", "balanced", "creative")
# bits per weight of common GGUF quantisations (the file size then gives the parameter count)
GGUF_BITS = (("IQ1", 1.8), ("IQ2", 2.4), ("Q2", 2.6), ("IQ3", 3.4), ("Q3", 3.5), ("IQ4", 4.5),
             ("Q4_0", 4.5), ("Q4_1", 5.0), ("Q4", 4.8), ("Q5", 5.5), ("Q6", 6.6), ("Q8", 8.5),
             ("BF16", 16.0), ("F16", 16.0), ("F32", 32.0))


@dataclass(frozen=True)
class ModelDefaults:
    """The sampling settings that suit one model, and where they come from in words."""
    settings: GenerationSettings
    source: str  # "from its generation_config.json", "suits a model of about 135M parameters"
    system_prompt: str = ""  # what a new chat starts with (the user may change it)

    def preset(self, name: str) -> GenerationSettings:
        """Precise: greedy (the likeliest word each time). Balanced: the model's defaults.
        Creative: warmer and wider than the defaults. Max tokens and seed stay as they are."""
        s = self.settings
        if name == "precise":
            return replace(s, decoding="greedy")
        if name == "balanced":
            return replace(s, decoding="sampling")
        if name == "creative":
            return replace(s, decoding="sampling", top_p=max(s.top_p, 0.95),
                           temperature=round(min(1.0, s.temperature + 0.4), 2))
        raise BadInput(f"Unknown preset '{name}'.", hint=f"Use {', '.join(PRESETS)}.")

    def matching_preset(self, s: GenerationSettings) -> str | None:
        """The preset ``s`` equals in its sampling fields (None: custom settings)."""
        keys = ("decoding",) + SAMPLING_KEYS
        for name in PRESETS:
            p = self.preset(name)
            if p.decoding == s.decoding == "greedy" and p.repetition_penalty == s.repetition_penalty:
                return name
            if all(getattr(p, k) == getattr(s, k) for k in keys):
                return name
        return None


def _count(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _safetensors_parameters(folder: Path) -> int:
    total = 0
    for file in sorted(folder.glob("*.safetensors")):
        with open(file, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > 100_000_000:
                continue
            header = json.loads(fh.read(length))
        total += sum(_count(v.get("shape", ())) for k, v in header.items()
                     if k != "__metadata__" and isinstance(v, dict))
    return total


def estimate_parameters(path: str | Path) -> int | None:
    """About how many parameters a model has: counted from safetensors headers (a LoRA adapter
    counts its base), guessed from the file size and quantisation for a GGUF file, from the
    weights' size for .bin files. None when nothing says."""
    path = Path(path)
    try:
        if path.is_file() and path.suffix == ".gguf":
            quant = path.stem.upper()
            bits = next((b for key, b in GGUF_BITS if key in quant), 8.0)
            return int(path.stat().st_size * 8 / bits)
        if not path.is_dir():
            return None
        if (path / "adapter_config.json").is_file():
            base = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get(
                "base_model_name_or_path") or ""
            if base and Path(base).expanduser().is_dir():
                return estimate_parameters(Path(base).expanduser())
        if any(path.glob("*.safetensors")):
            return _safetensors_parameters(path) or None
        ggufs = sorted(path.glob("*.gguf"))
        if ggufs:
            return estimate_parameters(ggufs[0])
        bins = list(path.glob("*.bin"))
        if bins:
            return sum(f.stat().st_size for f in bins) // 4
    except (OSError, ValueError, struct.error):
        return None
    return None


def _generation_config(path: Path) -> dict:
    folder = path if path.is_dir() else path.parent
    try:
        data = json.loads((folder / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _size_words(params: int) -> str:
    return f"{params / 1e9:.1f}B" if params >= 1e9 else f"{max(1, round(params / 1e6))}M"


def model_defaults(path: str | Path | None) -> ModelDefaults:
    """The sampling settings for the model at ``path`` (an HF folder, a LoRA adapter, a .gguf):
    its generation_config.json where that sets sampling, otherwise settings that suit its size
    (a low temperature below SMALL_MODEL parameters). The panel and the CLI both start here."""
    if not path:
        return ModelDefaults(GenerationSettings(), "the app's defaults")
    path = Path(path)
    params = estimate_parameters(path)
    base = SMALL_DEFAULTS if params is not None and params < SMALL_MODEL else LARGE_DEFAULTS
    size = f"suits a model of about {_size_words(params)} parameters" if params else ""
    system = SMALL_SYSTEM_PROMPT if params is not None and params < SMALL_MODEL else ""
    gen = _generation_config(path)
    own = {k: gen[k] for k in SAMPLING_KEYS if isinstance(gen.get(k), (int, float))
           and not isinstance(gen.get(k), bool)}
    if gen.get("do_sample") is False and not own:
        return ModelDefaults(replace(base, decoding="greedy"),
                             "greedy, as its generation_config.json says", system)
    if own:
        try:
            settings = replace(base, decoding="sampling", **own).validate()
        except (BadInput, TypeError):
            settings = None
        if settings is not None:
            return ModelDefaults(settings, "from its generation_config.json", system)
    if params is None:
        return ModelDefaults(LARGE_DEFAULTS, "the app's defaults (its size is unknown)")
    return ModelDefaults(base, size, system)


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[dict, ...]  # {"role": "user"|"assistant", "content": str}, oldest first
    system_prompt: str = ""
    settings: GenerationSettings = field(default_factory=GenerationSettings)

    def validate(self) -> None:
        if not self.messages or self.messages[-1].get("role") != "user":
            raise BadInput("There is no message to answer.")
        if not str(self.messages[-1].get("content", "")).strip():
            raise BadInput("The message is empty.", hint="Type something to send.")
        self.settings.validate()


def fit_prompt(request: ChatRequest, context: int,
               encode: Callable[[str, list[dict]], list[int]]) -> tuple[list[int], int]:
    """Prompt ids for ``request`` that leave room for its new tokens in ``context``, and how many
    old messages were dropped for that (the oldest turns go; the system prompt stays). Both chat
    engines fit their prompts here, each with its own ``encode(system_prompt, messages)``."""
    budget = context - request.settings.max_new_tokens
    messages = list(request.messages)
    dropped = 0
    ids = encode(request.system_prompt, messages)
    while len(ids) > budget and len(messages) > 1:
        # drop the oldest turn (a user message and the reply to it)
        cut = 2 if len(messages) > 2 and messages[1]["role"] == "assistant" else 1
        messages = messages[cut:]
        dropped += cut
        ids = encode(request.system_prompt, messages)
    if len(ids) > budget:
        raise BadInput(
            f"The message is too long for this model: {len(ids)} tokens, but "
            f"{context} minus {request.settings.max_new_tokens} new tokens leaves "
            f"{max(budget, 0)}.", hint="Shorten it, or lower Max new tokens.")
    return ids, dropped
