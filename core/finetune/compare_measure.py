"""The measurements behind "Compare with base", one model at a time, on the run's eval split:
a classifier's predictions (accuracy, macro F1, confusion matrix), a language model's perplexity
(token-weighted over the labelled tokens) and its greedy continuations of given prompts. Every
loop checks the cancel token between batches. Torch is imported inside the functions."""
from __future__ import annotations

import math
from collections.abc import Callable

from core.cancel import CancelToken

BATCH = 8

Tick = Callable[[int, int], None]  # (examples done, examples in all)


def _batches(items: list, size: int = BATCH):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def classify_scores(model, tokenizer, eval_ds: list[dict], labels: list[str], device: str,
                    cancel: CancelToken, tick: Tick) -> dict:
    """Accuracy, macro F1 and the confusion matrix (rows: the true label, columns: the
    predicted one, in ``labels`` order) of ``model`` on ``eval_ds``. A prediction is matched to
    ``labels`` by its name (the model's id2label), so a head with its own label order still
    counts right."""
    import numpy as np
    import torch
    from transformers import DataCollatorWithPadding

    from core.finetune.trainer import _macro_f1

    collate = DataCollatorWithPadding(tokenizer)
    id2label = {int(k): str(v) for k, v in (model.config.id2label or {}).items()}
    index = {lab: i for i, lab in enumerate(labels)}
    preds: list[int] = []
    truth: list[int] = []
    model.eval()
    for batch in _batches(eval_ds):
        cancel.raise_if_cancelled()
        feats = [{k: v for k, v in ex.items() if k != "labels"} for ex in batch]
        enc = {k: v.to(device) for k, v in collate(feats).items()}
        with torch.inference_mode():
            logits = model(**enc).logits
        for p in logits.argmax(-1).tolist():
            name = id2label.get(int(p), str(p))
            preds.append(index.get(name, -1))  # -1: a label the run's data does not have
        truth += [int(ex["labels"]) for ex in batch]
        tick(len(truth), len(eval_ds))
    n = len(labels)
    confusion = [[0] * n for _ in range(n)]
    for t, p in zip(truth, preds):
        if p >= 0:
            confusion[t][p] += 1
    p_arr, t_arr = np.asarray(preds), np.asarray(truth)
    return {"accuracy": float(np.mean(p_arr == t_arr)) if len(truth) else 0.0,
            "f1_macro": _macro_f1(p_arr, t_arr, n),
            "confusion": tuple(tuple(row) for row in confusion),
            "unmatched": sum(1 for p in preds if p < 0)}


def lm_scores(model, eval_ds: list[dict], pad_id: int, device: str, cancel: CancelToken,
              tick: Tick) -> dict:
    """The mean loss per labelled token (labels -100 left out, as in training) and its
    perplexity."""
    import torch
    import torch.nn.functional as F

    from core.finetune.trainer import _causal_collator

    collate = _causal_collator(pad_id)
    total, count, done = 0.0, 0, 0
    model.eval()
    for batch in _batches(eval_ds):
        cancel.raise_if_cancelled()
        enc = {k: v.to(device) for k, v in collate(batch).items()}
        with torch.inference_mode():
            logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
        logits = logits[:, :-1].float()
        target = enc["labels"][:, 1:]
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                       ignore_index=-100, reduction="sum"))
        count += int((target != -100).sum())
        done += len(batch)
        tick(done, len(eval_ds))
    loss = total / count if count else float("nan")
    try:
        ppl = math.exp(loss)
    except OverflowError:
        ppl = float("inf")
    return {"eval_loss": loss, "perplexity": ppl, "tokens": count}


def prompts_of(eval_ds: list[dict], n: int, prompt_tokens: int) -> list[list[int]]:
    """The starts of the first ``n`` eval examples: what comes before the first labelled token
    (a chat example's prompt), else the first ``prompt_tokens`` tokens (at most half the
    example, so there is something left to continue)."""
    out = []
    for ex in eval_ds[:n]:
        ids, labels = list(ex["input_ids"]), list(ex.get("labels") or [])
        first = next((i for i, lab in enumerate(labels) if lab != -100), 0)
        cut = first if first > 0 else min(prompt_tokens, max(1, len(ids) // 2))
        out.append(ids[:cut])
    return out


def continuations(model, tokenizer, prompts: list[list[int]], new_tokens: int, device: str,
                  cancel: CancelToken) -> list[str]:
    """Greedy continuations of ``prompts``, each exactly ``new_tokens`` tokens long (an end of
    text does not stop it early, so both sides show the same length)."""
    import torch

    out = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.eval()
    for ids in prompts:
        cancel.raise_if_cancelled()
        x = torch.tensor([ids], device=device)
        with torch.inference_mode():
            y = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False,
                               max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                               pad_token_id=pad)
        out.append(tokenizer.decode(y[0, len(ids):].tolist(), skip_special_tokens=True))
    return out
