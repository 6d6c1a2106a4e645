"""Export a language model (an HF causal-LM folder, or a fine-tuned model: a LoRA adapter is
merged first) to a GGUF file that llama.cpp runs, and list it in the registry.

The file is written into a temporary folder in the app's models folder, then renamed into
``models/trained/<name>`` with a workbench.json naming the file, so the registry lists it (a
GGUF text-generation model, removable like any model the app made) or not at all.
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from core.cancel import CancelToken
from core.errors import BadInput, ModelUnavailable
from core.events import Done, Event, Progress
from core.models.adapters import adapter_base
from core.models.detect import read_json, slug
from core.models.entry import META_FILE, Format, ModelEntry, Task
from core.models.gguf_info import gguf_info
from core.models.gguf_llama import OUT_TYPES, check_llama
from core.paths import atomic_write_json, fsync_tree

STAGES = ("Checking the model", "Loading the model", "Writing the GGUF tensors", "Registering")


def _source(registry, model_id_or_folder: str) -> ModelEntry:
    """The registry entry of a model id, name, trained-run name or folder path."""
    entry = registry.get(str(model_id_or_folder), Task.TEXT_GENERATION)
    if entry.format is Format.GGUF:
        raise BadInput(f"'{entry.name}' is a GGUF model already; there is nothing to export.")
    if entry.task is not Task.TEXT_GENERATION or entry.format is not Format.HF:
        raise BadInput(f"'{entry.name}' is not a language model; only text-generation models "
                       "can be exported to GGUF.")
    if entry.load_path is None:
        raise ModelUnavailable(f"'{entry.name}' is not on this machine.",
                               hint="Download it on the Models page first.")
    if not Path(entry.load_path).is_dir():
        raise ModelUnavailable(f"The files of '{entry.name}' are missing: {entry.load_path}")
    return entry


def _check_architecture(registry, folder: Path, name: str) -> None:
    """BadInput before any loading when the model (or an adapter's base) is not a Llama."""
    base = adapter_base(folder, registry)
    config_file = (base or folder) / "config.json"
    if not config_file.is_file():
        raise BadInput(f"'{name}' has no config.json; it cannot be exported.")
    check_llama(read_json(config_file), name)


def export_name(entry: ModelEntry, out_type: str, name: str | None) -> str:
    return name or f"{entry.name}-{out_type}"


def export_gguf(registry, model_id_or_folder: str, out_type: str = "f16", name: str | None = None,
                cancel: CancelToken | None = None) -> Iterator[Event]:
    """Progress per stage and tensor, then Done(result=the new GGUF ModelEntry)."""
    from core.models.gguf_llama import write_llama_gguf
    from core.models.loading import load_hf, out_of_memory

    cancel = cancel or CancelToken()
    if out_type not in OUT_TYPES:
        raise BadInput(f"Unknown GGUF type '{out_type}'; pick one of {', '.join(OUT_TYPES)}.")
    total = len(STAGES)
    yield Progress(STAGES[0], 0, total)
    entry = _source(registry, model_id_or_folder)
    folder = Path(entry.load_path)
    _check_architecture(registry, folder, entry.name)
    title = export_name(entry, out_type, name)
    key = slug(title)
    target = registry.home.trained / key
    if target.exists():
        raise BadInput(f"A model called '{key}' already exists.",
                       hint="Pick another name, or delete that model first.")
    started = time.perf_counter()
    yield Progress(STAGES[1], 1, total)
    import torch

    with out_of_memory(f"Not enough memory to load '{entry.name}' for the export."):
        model, tokenizer = load_hf(folder, "causal-lm", "cpu", name=entry.name, registry=registry,
                                   dtype=torch.float32)
    cancel.raise_if_cancelled()
    partial = registry.home.models / f".export-{key}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        file = partial / f"{key}.gguf"
        yield from write_llama_gguf(model, tokenizer, file, out_type, title, cancel)
        del model, tokenizer
        yield Progress(STAGES[3], 3, total)
        info = gguf_info(file)
        meta = {"name": title, "task": Task.TEXT_GENERATION.value, "format": Format.GGUF.value,
                "file": file.name, "exported_from": entry.id, "source_path": str(folder),
                "quantisation": info.quantisation, "context_length": info.context_length,
                "note": f"{info.note}; exported from {entry.name}", "created": time.time()}
        atomic_write_json(partial / META_FILE, meta)  # last
        fsync_tree(partial)  # every file on disk before the folder is listed
        if target.exists():
            raise BadInput(f"A model called '{key}' already exists.",
                           hint="Pick another name, or delete that model first.")
        os.replace(partial, target)  # atomic: the registry lists all of it or nothing
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    exported = registry.get(f"app:{key}")
    took = time.perf_counter() - started
    yield Progress(STAGES[3], total, total)
    yield Done(result=exported, summary=f"Exported '{entry.name}' to GGUF {info.quantisation} "
                                        f"as '{title}' in {took:.0f} s.")
