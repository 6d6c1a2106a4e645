"""The one Hugging Face loader: every capability loads transformers models here, so the dtype
per device, adapters and out-of-memory handling are the same everywhere."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import BadInput, OutOfMemory
from core.models.adapters import adapter_base, adapter_config, apply_adapter

KINDS = ("causal-lm", "classifier", "fill-mask")
_WHAT = {"causal-lm": "a causal language model", "classifier": "a text classifier",
         "fill-mask": "a masked language model"}
MEMORY_HINT = "Pick a smaller model or free some memory."


def is_out_of_memory(exc: BaseException) -> bool:
    """True for host (MemoryError) and accelerator (torch.OutOfMemoryError) memory failures."""
    if isinstance(exc, MemoryError):
        return True
    import sys

    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    return oom is not None and isinstance(exc, oom)


@contextmanager
def out_of_memory(message: str, hint: str = MEMORY_HINT) -> Iterator[None]:
    """Turn a memory failure inside the block into OutOfMemory(message); anything else passes."""
    try:
        yield
    except Exception as exc:
        if is_out_of_memory(exc):
            raise OutOfMemory(message, hint=hint) from exc
        raise


def dtype_for(device: str):
    """float32 on the CPU; bfloat16 on CUDA where the card supports it, else float16."""
    import torch

    if not str(device).startswith("cuda"):
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def context_length(config, tokenizer=None, default: int = 2048) -> int:
    """How many tokens a model reads: from its config, else its tokenizer, else ``default``."""
    for attr in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", 0) if tokenizer is not None else 0
    return limit if 0 < limit < 1_000_000 else default


def _auto_class(kind: str):
    import transformers

    return {"causal-lm": transformers.AutoModelForCausalLM,
            "classifier": transformers.AutoModelForSequenceClassification,
            "fill-mask": transformers.AutoModelForMaskedLM}[kind]


def has_tokenizer(folder: Path) -> bool:
    return any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))


def load_hf(folder: str | Path, kind: str, device: str = "cpu", *, name: str | None = None,
            registry=None, base: Path | None = None, dtype=None, **model_kw):
    """(model, tokenizer) of a local folder for inference, in eval mode on ``device``. A LoRA
    adapter folder is applied to its base (``base``, else the one its config names, looked up in
    ``registry``) and merged in. OutOfMemory when it does not fit; BadInput when the folder cannot
    be loaded as ``kind``."""
    if kind not in KINDS:
        raise ValueError(kind)
    from core.imports import import_heavy

    import_heavy("torch", "transformers")
    from transformers import AutoConfig, AutoTokenizer

    from core.runtime import quiet_transformers

    quiet_transformers()
    folder = Path(folder)
    name = name or folder.name
    base = base or adapter_base(folder, registry)
    dtype = dtype if dtype is not None else dtype_for(device)
    auto = _auto_class(kind)
    try:
        with out_of_memory(f"Not enough memory to load '{name}'."):
            tokenizer = AutoTokenizer.from_pretrained(
                folder if has_tokenizer(folder) or base is None else base)
            if base is None:
                model = auto.from_pretrained(folder, dtype=dtype, **model_kw)
            else:
                if kind == "classifier":  # the adapter's head may have another label count
                    model_kw = {"config": AutoConfig.from_pretrained(folder),
                                "ignore_mismatched_sizes": True, **model_kw}
                model = apply_adapter(auto.from_pretrained(base, dtype=dtype, **model_kw), folder)
            model.to(device)
    except OutOfMemory:
        raise
    except (OSError, ValueError, KeyError) as exc:
        if "no file named" in str(exc):  # transformers found the config but no weights
            raise BadInput(f"The weights of '{name}' are missing: its folder '{folder}' has no "
                           "model.safetensors or pytorch_model.bin.",
                           hint="Put the model's weight files back in that folder, or remove "
                                "the model and add it again.") from exc
        raise BadInput(f"'{name}' cannot be loaded as {_WHAT[kind]}: {exc}") from exc
    model.eval()
    return model, tokenizer


def trained_kind(path: str | Path) -> str:
    """"classifier" or "causal-lm" for a folder the app trained (or any HF folder)."""
    from core.models.registry import META_FILE

    path = Path(path)
    meta = {}
    if (path / META_FILE).is_file():
        try:
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            meta = {}
    if meta.get("task") == "text-classification":
        return "classifier"
    if (adapter_config(path) or {}).get("task_type") == "SEQ_CLS":
        return "classifier"
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        cfg = {}
    archs = cfg.get("architectures") or []
    return "classifier" if any(a.endswith("ForSequenceClassification") for a in archs) \
        else "causal-lm"


def load_trained(path: str | Path, device: str = "cpu", base: Path | None = None, registry=None):
    """(model, tokenizer) of a trained folder for inference: full weights, or a LoRA adapter
    applied to (and merged into) its base. The task comes from workbench.json or the folder."""
    return load_hf(path, trained_kind(path), device, base=base, registry=registry)
