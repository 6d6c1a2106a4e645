"""The base model measured before training, and a run's result in words.

Before the first step, the base model (with a fresh LoRA, which changes nothing yet, or a fresh
classification head) is evaluated on the run's own eval split; its figures are kept in the run's
metrics as ``base_eval_loss`` and ``base_perplexity`` (language models) or ``base_accuracy`` and
``base_f1_macro`` (classifiers), so run.json, the published model and the result all carry them.
``result_line`` puts a run's figures in words against them: "Perplexity 65.2 → 41.0",
"Accuracy 0.52 → 0.88 (macro F1 0.51 → 0.87)"; the page and the CLI print the same line."""
from __future__ import annotations

import math

BASE_PREFIX = "base_"


def perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def measure_base(trainer, task: str, eval_ds) -> dict[str, float]:
    """The base model's figures on ``eval_ds`` before any training (empty without an eval
    split). Runs the Trainer's own evaluation, so the figures compare with the final ones."""
    if not eval_ds:
        return {}
    ev = trainer.evaluate(metric_key_prefix="base")
    loss = float(ev["base_loss"])
    out = {"base_eval_loss": round(loss, 6)}
    if task == "classification":
        out["base_accuracy"] = round(float(ev.get("base_accuracy", 0.0)), 6)
        out["base_f1_macro"] = round(float(ev.get("base_f1_macro", 0.0)), 6)
    else:
        out["base_perplexity"] = round(perplexity(loss), 4)
    return out


def base_of(metrics: dict | None) -> dict[str, float]:
    """The base figures kept in a run's metrics (empty for runs recorded before they existed)."""
    return {k: v for k, v in (metrics or {}).items() if k.startswith(BASE_PREFIX)}


def _num(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _ppl(value: float) -> str:
    return "∞" if not math.isfinite(value) else f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def _pair(label: str, before: float | None, after: float, fmt) -> str:
    return f"{label} {fmt(before)} → {fmt(after)}" if before is not None \
        else f"{label} {fmt(after)}"


def result_line(metrics: dict | None) -> str:
    """A finished run's result in words, against its base where it was measured; "" when there
    is nothing to say (no figures at all)."""
    m = metrics or {}
    acc, ppl = _num(m.get("accuracy")), _num(m.get("perplexity"))
    if acc is not None:
        line = _pair("Accuracy", _num(m.get("base_accuracy")), acc, lambda v: f"{v:.2f}")
        f1 = _num(m.get("f1_macro"))
        if f1 is not None:
            line += f" ({_pair('macro F1', _num(m.get('base_f1_macro')), f1, lambda v: f'{v:.2f}')})"
        ece, ece_before = _num(m.get("ece_after")), _num(m.get("ece_before"))
        if ece is not None and ece_before is not None:
            line += f" · calibration error {ece_before:.3f} → {ece:.3f}"
        return line
    if ppl is not None:
        return _pair("Perplexity", _num(m.get("base_perplexity")), ppl, _ppl)
    loss = _num(m.get("train_loss"))
    return f"Training loss {loss:.3g} (no held-out data to measure on)" if loss is not None else ""


def worse_than_base(metrics: dict | None) -> str | None:
    """A sentence when the trained model does worse than its base on the held-out data."""
    m = metrics or {}
    acc, base_acc = _num(m.get("accuracy")), _num(m.get("base_accuracy"))
    if acc is not None and base_acc is not None and acc < base_acc:
        return ("The accuracy on the held-out data fell: the trained model classifies them worse "
                "than its base did.")
    ppl, base_ppl = _num(m.get("perplexity")), _num(m.get("base_perplexity"))
    if ppl is not None and base_ppl is not None and ppl > base_ppl:
        return ("The perplexity on the held-out text rose: the trained model predicts it worse "
                "than its base did.")
    return None


def result_text(metrics: dict | None, warnings=()) -> str:
    """The result line, then one plain warning a line ("⚠ …"): the loss did not go down, the
    model got worse than its base."""
    notes = list(warnings or ())
    worse = worse_than_base(metrics)
    if worse:
        notes.append(worse)
    return "\n".join([t for t in (result_line(metrics),) if t] + [f"⚠ {w}" for w in notes])
