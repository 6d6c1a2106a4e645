"""GGUF to safetensors, once. Loading a GGUF in transformers dequantizes every tensor (tens of
seconds); the converted folder then loads in well under a second."""
from __future__ import annotations

import shutil
import time
from collections.abc import Generator, Iterator
from dataclasses import replace
from pathlib import Path

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled, ModelUnavailable, OutOfMemory
from core.events import Done, Event, Progress
from core.models.gguf_info import gguf_file
from core.models.loading import out_of_memory
from core.models.registry import META_FILE, Format, ModelEntry, Registry, Task
from core.paths import atomic_write_json, fsync_tree

STAGES = ("Reading the tokenizer", "Dequantizing the weights", "Rebuilding the model",
          "Saving safetensors")


def convert_gguf(registry: Registry, entry: ModelEntry, cancel: CancelToken) -> Iterator[Event]:
    """Yield Progress per stage, then Done(result=the entry with ``converted_path`` set)."""
    if entry.format is not Format.GGUF or not entry.path:
        raise BadInput(f"'{entry.name}' is not a GGUF model; nothing to convert.")
    if entry.converted_path:
        yield Done(result=entry, summary=f"'{entry.name}' is already converted.")
        return
    src = gguf_file(entry.path)
    if not src.is_file():
        raise ModelUnavailable(f"The GGUF file '{src}' is missing.")
    target = registry.conversion_dir(entry)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    started = time.perf_counter()
    total = len(STAGES)
    try:
        yield Progress(STAGES[0], 0, total)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from core.runtime import quiet_transformers

        quiet_transformers()

        try:
            tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        except Exception as exc:  # a GGUF the installed transformers cannot read
            raise BadInput(f"Cannot read the GGUF file '{src.name}': {exc}") from exc
        cancel.raise_if_cancelled()
        yield Progress(STAGES[1], 1, total)
        try:
            with out_of_memory("Not enough memory to dequantize this GGUF model."):
                loaded = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
        except OutOfMemory:
            raise
        except Exception as exc:
            raise BadInput(f"Cannot load the weights of '{src.name}': {exc}") from exc
        cancel.raise_if_cancelled()
        yield Progress(STAGES[2], 2, total)
        # save_pretrained refuses a GGUF-loaded model: rebuild a plain one from its config
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        with out_of_memory("Not enough memory to convert this GGUF model."):
            with torch.device("meta"):
                plain = AutoModelForCausalLM.from_config(config, dtype=loaded.dtype)
            plain.load_state_dict(loaded.state_dict(), strict=False, assign=True)
            plain.tie_weights()
        del loaded
        cancel.raise_if_cancelled()
        yield Progress(STAGES[3], 3, total)
        partial.mkdir(parents=True)
        plain.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        atomic_write_json(partial / META_FILE, {
            "name": entry.name, "task": Task.TEXT_GENERATION.value, "format": Format.HF.value,
            "converted_from": str(src), "source_size": src.stat().st_size,
            "seconds": round(time.perf_counter() - started, 1),
        })
        fsync_tree(partial)  # every file on disk before the folder is listed
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    yield Progress("Converted", total, total)
    took = time.perf_counter() - started
    yield Done(result=replace(entry, converted_path=str(target)),
               summary=f"Converted '{entry.name}' in {took:.0f} s.")


def prepared(registry: Registry, entry: ModelEntry, cancel: CancelToken
             ) -> Generator[Event, None, ModelEntry]:
    """Relay what ``ensure_loadable`` reports and return the entry it made loadable:
    ``ready = yield from prepared(registry, entry, cancel)``."""
    ready = entry
    for ev in ensure_loadable(registry, entry, cancel):
        if isinstance(ev, Done):
            ready = ev.result
        else:
            yield ev
    return ready


def ensure_loadable(registry: Registry, entry: ModelEntry, cancel: CancelToken) -> Iterator[Event]:
    """Yield what it takes to make ``entry`` loadable; Done(result=entry with a load path)."""
    if entry.format is Format.API:
        raise BadInput(f"'{entry.name}' runs on a remote endpoint: it can chat, nothing loads here.",
                       hint="Pick a model on this machine.")
    if entry.format is Format.GGUF and not entry.converted_path:
        yield from convert_gguf(registry, entry, cancel)
        return
    if entry.load_path is None:
        from core.models.hub import download

        yield from download(registry, entry.hub_id or entry.name, cancel)
        return
    if not Path(entry.load_path).exists():
        raise ModelUnavailable(f"The files of '{entry.name}' are missing: {entry.load_path}")
    if cancel.cancelled:
        raise Cancelled()
    yield Done(result=entry)
