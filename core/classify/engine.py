"""Text classification (per-label probabilities for one text or a whole file) and fill-mask.

``open_classifier`` resolves a registry id (the bundled sentiment model, an HF folder, a Hub id, or
a run of the Fine-tune page, LoRA adapters included) and yields Progress, then Done with a
``Classifier`` or, for masked-LM models, a ``FillMasker``. ``Classifier.classify`` yields one
``BatchResult`` per batch so a table can fill in while the rest runs, and stops at the next batch
when cancelled. Input files are in ``files.py``, exports in ``export.py``.
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

DEFAULT_CLASSIFY_MODEL = "sentiment-minilm"
BATCH_SIZE = 32  # texts per forward pass in a file job
FILL_TOP_K = 5  # candidates per mask
SORT_WINDOW = 8  # batches: texts are sorted by length within this many batches (less padding)
MASK_SPELLINGS = ("[MASK]", "<mask>")


# ---- results -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    text: str
    label: str
    score: float
    scores: dict[str, float]  # every label's probability, in the model's label order
    truncated: bool = False  # longer than the model reads: only the start was classified

    def to_json(self) -> dict:
        return {"text": self.text, "label": self.label, "score": round(self.score, 6),
                "scores": {k: round(v, 6) for k, v in self.scores.items()},
                "truncated": self.truncated}


@dataclass(frozen=True)
class BatchResult(Event):
    """Predictions for ``indices`` (positions in the input list), after each batch."""
    indices: tuple[int, ...]
    predictions: tuple[Prediction, ...]
    done: int
    total: int


@dataclass(frozen=True)
class MaskFill:
    token: str
    score: float
    sequence: str  # the input with this token in the mask's place


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: str  # "classifier" | "fill-mask"
    labels: tuple[str, ...]
    max_length: int
    device: str
    seconds: float
    note: str = ""


# ---- models ------------------------------------------------------------------------------------
def _max_length(model, tokenizer) -> int:
    limits = [int(tokenizer.model_max_length)] if 0 < tokenizer.model_max_length < 1_000_000 else []
    pos = getattr(model.config, "max_position_embeddings", None)
    if isinstance(pos, int) and pos > 0:
        limits.append(pos - 2 if getattr(model.config, "model_type", "") in ("roberta", "xlm-roberta",
                                                                            "camembert") else pos)
    return min(limits) if limits else 512


def _truncated_flags(tokenizer, enc, texts: list[str], max_length: int) -> list[bool]:
    encodings = getattr(enc, "encodings", None)
    if encodings:  # fast tokenizers keep what truncation cut off
        return [bool(e.overflowing) for e in encodings]
    lengths = enc["attention_mask"].sum(dim=1).tolist()
    return [n >= max_length and len(tokenizer(t)["input_ids"]) > max_length
            for n, t in zip(lengths, texts)]


class _Loaded:
    """A model and its tokenizer, ready for inference. Its lock covers tokenization and the
    forward pass: two jobs (a text and a file, say) never use the model at once, and a fast
    tokenizer is never shared between threads ("Already borrowed")."""

    def __init__(self, model, tokenizer, info: ModelInfo) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self._lock = threading.Lock()

    def _inputs(self, enc) -> dict:
        """What the model's forward takes from a tokenizer's output, on the model's device."""
        device = next(self.model.parameters()).device
        return {k: v.to(device) for k, v in enc.items()
                if k in ("input_ids", "attention_mask", "token_type_ids")}


class Classifier(_Loaded):
    """A sequence-classification model ready for inference (LoRA adapters merged in)."""

    kind = "classifier"

    def __init__(self, model, tokenizer, info: ModelInfo, calibration=None) -> None:
        super().__init__(model, tokenizer, info)
        self.labels = list(info.labels)
        self.calibration = calibration  # calibration.Calibration: its temperature scales logits

    def predict(self, texts: list[str]) -> list[Prediction]:
        """One batch, in order."""
        import torch

        if not texts:
            return []
        with self._lock:
            enc = self.tokenizer(texts, truncation=True, max_length=self.info.max_length,
                                 padding=True, return_tensors="pt")
            truncated = _truncated_flags(self.tokenizer, enc, texts, self.info.max_length)
            with torch.inference_mode(), out_of_memory(
                    "Not enough memory to classify this batch.",
                    hint="Lower the batch size, or use the CPU."):
                logits = self.model(**self._inputs(enc)).logits
        if self.model.config.problem_type == "multi_label_classification":
            probs = torch.sigmoid(logits.float())
        else:
            temperature = self.calibration.temperature if self.calibration else 1.0
            probs = torch.softmax(logits.float() / temperature, dim=-1)
        out = []
        for text, row, cut in zip(texts, probs.cpu().tolist(), truncated):
            best = max(range(len(row)), key=row.__getitem__)
            out.append(Prediction(text, self.labels[best], row[best],
                                  dict(zip(self.labels, row)), cut))
        return out

    def classify(self, texts: list[str], cancel: CancelToken, batch_size: int = BATCH_SIZE,
                 sort_window: int = SORT_WINDOW) -> Iterator[Event]:
        """BatchResult after every batch (texts sorted by length within ``sort_window`` batches,
        so less padding is computed; 1 keeps the input order), then Done(list of Prediction in
        input order)."""
        if batch_size < 1:
            raise BadInput("The batch size must be at least 1.")
        total = len(texts)
        results: list[Prediction | None] = [None] * total
        done = 0
        started = time.perf_counter()
        window = batch_size * max(1, sort_window)
        yield Progress("Classifying", 0, total)
        for w0 in range(0, total, window):
            order = list(range(w0, min(total, w0 + window)))
            if sort_window > 1:
                order.sort(key=lambda i: len(texts[i]))
            for b0 in range(0, len(order), batch_size):
                cancel.raise_if_cancelled()
                idx = order[b0:b0 + batch_size]
                preds = self.predict([texts[i] for i in idx])
                for i, p in zip(idx, preds):
                    results[i] = p
                done += len(idx)
                yield BatchResult(tuple(idx), tuple(preds), done, total)
                yield Progress("Classifying", done, total)
        took = time.perf_counter() - started
        rate = f" ({total / took:.0f} texts/s)" if took > 0 and total else ""
        yield Done(result=results, summary=f"Classified {total} text{'' if total == 1 else 's'} in "
                                           f"{took:.1f} s{rate}.")


class FillMasker(_Loaded):
    """A masked-LM model: the top-k tokens for each mask in a text."""

    kind = "fill-mask"

    def __init__(self, model, tokenizer, info: ModelInfo) -> None:
        super().__init__(model, tokenizer, info)
        self.mask_token = tokenizer.mask_token
        self._special = sorted(set(tokenizer.all_special_ids))

    def prepare(self, text: str) -> str:
        """The text with any usual mask spelling turned into this model's mask token."""
        for spelling in MASK_SPELLINGS:
            if spelling != self.mask_token:
                text = text.replace(spelling, self.mask_token)
        if not text.strip():
            raise BadInput("The text is empty.")
        if self.mask_token not in text:
            raise BadInput(f"The text has no {self.mask_token}.",
                           hint=f"Put {self.mask_token} where the model should fill in a word.")
        return text

    def fill(self, text: str, top_k: int = FILL_TOP_K) -> list[list[MaskFill]]:
        """For each mask, in order: the ``top_k`` candidates with their probabilities."""
        import torch

        text = self.prepare(text)
        with self._lock:
            enc = self.tokenizer(text, truncation=True, max_length=self.info.max_length,
                                 return_tensors="pt")
            ids = enc["input_ids"][0]
            positions = (ids == self.tokenizer.mask_token_id).nonzero().flatten().tolist()
            if not positions:
                raise BadInput("The mask falls after the part of the text the model reads.",
                               hint="Shorten the text.")
            with torch.inference_mode(), out_of_memory("Not enough memory to fill the mask.",
                                                         hint="Use the CPU, or a smaller model."):
                logits = self.model(**self._inputs(enc)).logits[0]
            out = []
            for pos in positions:
                probs = torch.softmax(logits[pos].float(), dim=-1)
                probs[self._special] = 0.0  # [CLS], [PAD], [MASK]... are never a useful answer
                top = torch.topk(probs, min(top_k, probs.numel() - len(self._special)))
                fills = []
                for score, tok_id in zip(top.values.tolist(), top.indices.tolist()):
                    token = self.tokenizer.decode([tok_id]).strip()
                    filled = ids.clone()
                    filled[pos] = tok_id
                    seq = self.tokenizer.decode(filled, skip_special_tokens=True).strip()
                    fills.append(MaskFill(token, score, seq))
                out.append(fills)
        return out


def _architectures(folder: Path) -> list[str]:
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    return list(cfg.get("architectures") or [])


def _not_a_classifier(name: str, what: str) -> BadInput:
    return BadInput(f"'{name}' is {what}, not a text classifier.",
                    hint="Pick a text-classification model, or train one from it on the "
                         "Fine-tune page (task: text classification).")


def load_classifier(folder: str | Path, *, name: str, device: str = "cpu", registry=None,
                    kind: str | None = None) -> Classifier | FillMasker:
    """Load a local folder: a classifier (full weights or a LoRA adapter on its base), or a
    masked LM. ``kind`` forces "classifier" or "fill-mask"; else it comes from the folder."""
    from core.models.adapters import adapter_config
    from core.models.loading import load_hf

    folder = Path(folder)
    started = time.perf_counter()
    archs = _architectures(folder)
    adapter = adapter_config(folder)
    adapter_task = (adapter or {}).get("task_type")
    if kind is None:
        if adapter_task == "SEQ_CLS" or any(a.endswith("ForSequenceClassification") for a in archs):
            kind = "classifier"
        elif any(a.endswith(("ForMaskedLM", "ForPreTraining")) for a in archs):
            kind = "fill-mask"
        elif archs:
            raise _not_a_classifier(name, f"a {archs[0]} model")
        else:
            raise BadInput(f"'{name}' has no config.json saying what model it is.")
    note = ""
    if adapter is not None:
        if adapter_task != "SEQ_CLS":
            raise _not_a_classifier(name, "an adapter for a language model")
        note = "LoRA adapter"
    model, tokenizer = load_hf(folder, kind, device, name=name, registry=registry)
    if kind == "fill-mask" and tokenizer.mask_token is None:
        raise BadInput(f"The tokenizer of '{name}' has no mask token.")
    id2label = getattr(model.config, "id2label", None) or {}
    labels = tuple(str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}")))
                   for i in range(getattr(model.config, "num_labels", len(id2label))))
    info = ModelInfo(name, kind, labels if kind == "classifier" else (),
                     _max_length(model, tokenizer), str(next(model.parameters()).device),
                     time.perf_counter() - started, note)
    if kind == "fill-mask":
        return FillMasker(model, tokenizer, info)
    from core.classify.calibration import load_calibration

    return Classifier(model, tokenizer, info, load_calibration(folder))


def open_classifier(registry, model_id: str | None, device: str, cancel: CancelToken
                    ) -> Iterator[Event]:
    """Resolve ``model_id`` (default: the bundled sentiment model), download or find what it needs,
    and load it on ``device`` (auto, cpu or cuda). Progress, then Done(Classifier | FillMasker)."""
    from core.device import choose_device
    from core.models.adapters import adapter_config
    from core.models.convert import prepared
    from core.models.registry import HUB_ID, Task

    dev = choose_device(device).torch_device
    entry = registry.get(model_id or DEFAULT_CLASSIFY_MODEL, task=Task.TEXT_CLASSIFICATION)
    if entry.task not in (Task.TEXT_CLASSIFICATION, Task.FILL_MASK):
        raise _not_a_classifier(entry.name, f"a {entry.task.value} model")
    ready = yield from prepared(registry, entry, cancel)
    base = str((adapter_config(ready.load_path) or {}).get("base_model_name_or_path") or "")
    if HUB_ID.match(base) and not Path(base).expanduser().is_dir():
        # an adapter (the bundled one) whose encoder is named by Hub id: the pack that holds it,
        # or a download
        yield from prepared(registry, registry.get(base, task=Task.FEATURE_EXTRACTION), cancel)
    cancel.raise_if_cancelled()
    yield Progress("Loading the model", 0, None, entry.name)
    # what the folder's config says wins (a Hub id typed by hand has no known task)
    model = load_classifier(ready.load_path, name=entry.name, device=dev, registry=registry)
    cancel.raise_if_cancelled()
    yield Done(result=model, summary=f"Loaded '{entry.name}' in {model.info.seconds:.1f} s.")
