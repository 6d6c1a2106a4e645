"""Calibrated classifier scores: temperature scaling, fitted on held-out rows, stored with the model.

A classifier trained to low loss is usually over-confident: almost every score is about 0.99, the
wrong ones too. Temperature scaling divides the logits by one number T > 0, fitted to minimise the
negative log-likelihood of held-out rows (never the rows the model trained on, never an evaluation
set). It changes no prediction (the largest logit stays the largest), only how sure each is.

``fit_calibration(logits, labels)`` fits T and measures the expected calibration error (ECE) before
and after; ``save_calibration`` writes it as ``calibration.json`` beside the weights and
``load_calibration`` reads it back (the classifier applies it when present). ``calibrate_trained``
is the hook for a fine-tune run of a classifier: the trained model, its validation examples and
the folder it was published to.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

CALIBRATION_FILE = "calibration.json"
ECE_BINS = 15
MIN_ROWS = 20  # fewer held-out rows fit T on noise: no calibration is stored
T_RANGE = (0.05, 20.0)


@dataclass(frozen=True)
class Calibration:
    temperature: float
    ece_before: float
    ece_after: float
    n: int  # held-out rows it was fitted on
    source: str = ""  # where the rows came from, in words
    made: str = ""

    def line(self) -> str:
        """The result line: "ECE 0.052 → 0.018 (temperature 1.84, 1347 held-out rows)"."""
        return (f"ECE {self.ece_before:.3f} → {self.ece_after:.3f} (temperature "
                f"{self.temperature:.2f}, {self.n} held-out rows)")

    def to_json(self) -> dict:
        return asdict(self)


def _softmax(row: Sequence[float], temperature: float = 1.0) -> list[float]:
    scaled = [x / temperature for x in row]
    top = max(scaled)
    exps = [math.exp(x - top) for x in scaled]
    total = sum(exps)
    return [e / total for e in exps]


def _nll(logits: Sequence[Sequence[float]], labels: Sequence[int], temperature: float) -> float:
    total = 0.0
    for row, y in zip(logits, labels):
        scaled = [x / temperature for x in row]
        top = max(scaled)
        total += top + math.log(sum(math.exp(x - top) for x in scaled)) - scaled[y]
    return total / max(1, len(labels))


def expected_calibration_error(probs: Iterable[Sequence[float]], labels: Sequence[int],
                               bins: int = ECE_BINS) -> float:
    """The gap between confidence and accuracy, weighted over ``bins`` equal-width confidence
    bins of the top label (the usual ECE)."""
    counts = [0] * bins
    conf_sum = [0.0] * bins
    correct = [0] * bins
    n = 0
    for row, y in zip(probs, labels):
        best = max(range(len(row)), key=row.__getitem__)
        conf = row[best]
        b = min(bins - 1, int(conf * bins))
        counts[b] += 1
        conf_sum[b] += conf
        correct[b] += int(best == y)
        n += 1
    if not n:
        return 0.0
    return sum(abs(conf_sum[b] - correct[b]) for b in range(bins) if counts[b]) / n


def fit_temperature(logits: Sequence[Sequence[float]], labels: Sequence[int]) -> float:
    """The T that minimises the held-out negative log-likelihood. NLL is convex in 1/T, so a
    golden-section search over 1/T finds it."""
    lo, hi = 1 / T_RANGE[1], 1 / T_RANGE[0]
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = _nll(logits, labels, 1 / a), _nll(logits, labels, 1 / b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = _nll(logits, labels, 1 / a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = _nll(logits, labels, 1 / b)
    return 1 / ((lo + hi) / 2)


def fit_calibration(logits: Sequence[Sequence[float]], labels: Sequence[int],
                    source: str = "") -> Calibration:
    """Fit T on held-out ``logits`` (one row per text) and their true label ids; the ECE before
    and after is measured on the same rows."""
    logits = [list(map(float, row)) for row in logits]
    labels = [int(y) for y in labels]
    if len(logits) != len(labels) or not logits:
        raise ValueError("fit_calibration needs one label per row of logits, and some rows")
    t = fit_temperature(logits, labels)
    before = expected_calibration_error([_softmax(r) for r in logits], labels)
    after = expected_calibration_error([_softmax(r, t) for r in logits], labels)
    return Calibration(round(t, 4), round(before, 4), round(after, 4), len(labels), source,
                       time.strftime("%Y-%m-%d"))


def save_calibration(folder: str | Path, calibration: Calibration) -> Path:
    """Write ``calibration.json`` into ``folder`` atomically."""
    from core.paths import atomic_write_json

    return atomic_write_json(Path(folder) / CALIBRATION_FILE, calibration.to_json())


def load_calibration(folder: str | Path) -> Calibration | None:
    """The calibration stored beside a model's weights; None when there is none or it cannot be
    read (the raw scores are used then)."""
    path = Path(folder) / CALIBRATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cal = Calibration(**{k: data[k] for k in Calibration.__dataclass_fields__ if k in data})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, KeyError):
        return None
    if not (T_RANGE[0] <= float(cal.temperature) <= T_RANGE[1]):
        return None
    return cal


def model_logits(model, tokenizer, texts: Sequence[str], max_length: int = 512,
                 batch_size: int = 64) -> list[list[float]]:
    """Raw logits of a sequence-classification model for ``texts``, in order."""
    import torch

    device = next(model.parameters()).device
    out: list[list[float]] = []
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[i:i + batch_size]), truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in enc.items()
                      if k in ("input_ids", "attention_mask", "token_type_ids")}
            with torch.inference_mode():
                out += model(**inputs).logits.float().cpu().tolist()
    finally:
        model.train(was_training)
    return out


def _example_logits(model, examples: Sequence[dict], batch_size: int = 64) -> list[list[float]]:
    """Logits for tokenized examples (dicts of input_ids, attention_mask, ...), padded per batch."""
    import torch

    device = next(model.parameters()).device
    pad = getattr(model.config, "pad_token_id", None) or 0
    out: list[list[float]] = []
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(examples), batch_size):
            batch = examples[i:i + batch_size]
            width = max(len(ex["input_ids"]) for ex in batch)
            inputs: dict = {}
            for key in ("input_ids", "attention_mask", "token_type_ids"):
                if key not in batch[0]:
                    continue
                fill = pad if key == "input_ids" else 0
                rows = [list(ex[key]) + [fill] * (width - len(ex[key])) for ex in batch]
                inputs[key] = torch.tensor(rows, device=device)
            if "attention_mask" not in inputs:
                inputs["attention_mask"] = torch.tensor(
                    [[1] * len(ex["input_ids"]) + [0] * (width - len(ex["input_ids"]))
                     for ex in batch], device=device)
            with torch.inference_mode():
                out += model(**inputs).logits.float().cpu().tolist()
    finally:
        model.train(was_training)
    return out


def calibrate_trained(model, eval_examples: Sequence[dict], folder: str | Path,
                      source: str = "the run's validation split") -> Calibration | None:
    """The fine-tune hook for classification runs: fit T on the run's validation examples
    (tokenized dicts with ``input_ids`` and an int ``labels``), write ``calibration.json`` into
    the published model's ``folder`` and return it (its ``line()`` is the result line). None,
    and nothing written, for a multi-label model or fewer than MIN_ROWS validation rows."""
    if getattr(model.config, "problem_type", None) == "multi_label_classification":
        return None
    rows = [ex for ex in eval_examples if isinstance(ex.get("labels"), int)]
    if len(rows) < MIN_ROWS:
        return None
    logits = _example_logits(model, rows)
    calibration = fit_calibration(logits, [ex["labels"] for ex in rows], source)
    save_calibration(folder, calibration)
    return calibration
