"""Sentence embeddings for feature-extraction models (the bundled all-MiniLM-L6-v2).

The model is used as its sentence-transformers files say: the encoder, then the pooling its
``1_Pooling/config.json`` names (mean over the tokens the attention mask keeps, for MiniLM), then
L2 normalisation when ``modules.json`` lists a Normalize module; texts are cut at its
``max_seq_length``. ``open_embedder`` follows the engine contract (Progress, then
Done(Embedder)); ``Embedder.embed`` yields Progress per batch and Done(Embeddings).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.cancel import CancelToken
from core.errors import BadInput
from core.events import Done, Event, Progress
from core.models.loading import out_of_memory

BATCH_SIZE = 32
POOLINGS = ("mean", "cls", "max")


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    tokens: int  # tokens read, over every input


def _read(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sentence_config(folder: Path) -> tuple[str, bool, int | None]:
    """(pooling, normalise, max_seq_length) from a sentence-transformers folder; a plain encoder
    folder gets mean pooling, normalised, as most embedding models are used."""
    pooling, normalise = "mean", True
    modules = _read(folder / "modules.json")
    if isinstance(modules, list):
        types = [str(m.get("type", "")) for m in modules if isinstance(m, dict)]
        normalise = any(t.endswith(".Normalize") for t in types)
        for m in modules:
            if isinstance(m, dict) and str(m.get("type", "")).endswith(".Pooling"):
                cfg = _read(folder / str(m.get("path", "")) / "config.json") or {}
                if cfg.get("pooling_mode_cls_token"):
                    pooling = "cls"
                elif cfg.get("pooling_mode_max_tokens"):
                    pooling = "max"
    limit = (_read(folder / "sentence_bert_config.json") or {}).get("max_seq_length")
    return pooling, normalise, limit if isinstance(limit, int) and limit > 0 else None


class Embedder:
    """A loaded encoder. Its lock lets one batch run at a time, whoever calls."""

    def __init__(self, model, tokenizer, name: str, pooling: str, normalise: bool,
                 max_length: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.pooling = pooling
        self.normalise = normalise
        self.max_length = max_length
        self.dimensions = int(getattr(model.config, "hidden_size", 0))
        self._lock = threading.Lock()

    def _batch(self, texts: list[str]) -> tuple[list[list[float]], int]:
        import torch

        with self._lock:
            enc = self.tokenizer(texts, truncation=True, max_length=self.max_length,
                                 padding=True, return_tensors="pt")
            device = next(self.model.parameters()).device
            enc = {k: v.to(device) for k, v in enc.items()
                   if k in ("input_ids", "attention_mask", "token_type_ids")}
            with torch.inference_mode(), out_of_memory("Not enough memory to embed this batch."):
                hidden = self.model(**enc).last_hidden_state.float()
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "max":
            pooled = hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
        else:
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        if self.normalise:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.cpu().tolist(), int(enc["attention_mask"].sum())

    def embed(self, texts: list[str], cancel: CancelToken) -> Iterator[Event]:
        """Progress after each batch, then Done(Embeddings) in input order."""
        if not texts:
            raise BadInput("There is no text to embed.")
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(texts), BATCH_SIZE):
            cancel.raise_if_cancelled()
            rows, n = self._batch(texts[start:start + BATCH_SIZE])
            vectors += rows
            tokens += n
            yield Progress("Embedding", len(vectors), len(texts))
        yield Done(result=Embeddings(vectors, tokens))


def open_embedder(registry, model_id: str, device: str, cancel: CancelToken) -> Iterator[Event]:
    """Resolve a feature-extraction model and load its encoder on ``device`` (auto, cpu, cuda):
    Progress, then Done(Embedder)."""
    from core.device import choose_device
    from core.models.convert import prepared
    from core.models.loading import dtype_for
    from core.models.registry import Task

    entry = registry.get(model_id, task=Task.FEATURE_EXTRACTION)
    if entry.task is not Task.FEATURE_EXTRACTION:
        raise BadInput(f"'{entry.name}' is a {entry.task.value} model, not an embedding model.")
    dev = choose_device(device).torch_device
    ready = yield from prepared(registry, entry, cancel)
    cancel.raise_if_cancelled()
    yield Progress("Loading the model", 0, None, entry.name)
    started = time.perf_counter()
    folder = Path(ready.load_path)
    from core.imports import import_heavy

    import_heavy("torch", "transformers")
    from transformers import AutoModel, AutoTokenizer

    from core.runtime import quiet_transformers

    quiet_transformers()
    with out_of_memory(f"Not enough memory to load '{entry.name}'."):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModel.from_pretrained(folder, dtype=dtype_for(dev)).to(dev).eval()
    pooling, normalise, limit = sentence_config(folder)
    model_max = getattr(tokenizer, "model_max_length", 0)
    max_length = limit or (model_max if 0 < model_max < 100_000 else 512)
    engine = Embedder(model, tokenizer, entry.name, pooling, normalise, max_length)
    yield Done(result=engine, summary=f"Loaded '{entry.name}' in "
                                      f"{time.perf_counter() - started:.1f} s.")
