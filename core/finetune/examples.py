"""Fine-tune data as training examples: raw text in overlapping token chunks, chat
conversations with labels on the replies only, tokenized table rows; the seeded eval split."""
from __future__ import annotations

import random
from dataclasses import dataclass

from core.errors import BadInput
from core.finetune.config import FinetuneConfig
from core.finetune.data import _names, _Parsed

# Used for chat data when the base tokenizer has no chat template of its own (GPT-2 style).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _chunks(n: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Windows of ``size`` tokens over ``n`` tokens, ``overlap`` shared; the last one ends at n."""
    if n <= size:
        return [(0, n)]
    step = size - overlap
    spans = [(s, s + size) for s in range(0, n - size + 1, step)]
    if spans[-1][1] < n:
        spans.append((n - size, n))
    return spans


def _chat_template(tokenizer) -> str:
    return tokenizer.chat_template or CHATML_TEMPLATE


def _render_chat(tokenizer, messages: list[dict], **kw) -> str:
    if tokenizer is None:
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages)
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         chat_template=_chat_template(tokenizer), **kw)


def _chat_example(tokenizer, messages: list[dict], max_length: int) -> dict | None:
    """input_ids with labels on the assistant turns only (prompt tokens masked with -100)."""
    full = _render_chat(tokenizer, messages)
    spans: list[tuple[int, int]] | None = []
    try:
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            prefix = _render_chat(tokenizer, messages[:i], add_generation_prompt=True) if i else ""
            upto = _render_chat(tokenizer, messages[: i + 1])
            if not (full.startswith(prefix) and full.startswith(upto) and len(upto) > len(prefix)):
                spans = None
                break
            spans.append((len(prefix), len(upto)))
    except Exception:  # a template that cannot render a prefix: learn the whole conversation
        spans = None
    masked = spans is not None and getattr(tokenizer, "is_fast", False)
    enc = tokenizer(full, add_special_tokens=False, truncation=True, max_length=max_length,
                    return_offsets_mapping=masked)
    ids = list(enc["input_ids"])
    if not masked:
        return {"input_ids": ids, "labels": list(ids)}
    labels = [t if any(s <= start < e for s, e in spans) else -100
              for t, (start, _end) in zip(ids, enc["offset_mapping"])]
    if all(lab == -100 for lab in labels):
        return None  # the replies were cut off by max_length
    return {"input_ids": ids, "labels": labels}


@dataclass
class _Prepared:
    parsed: _Parsed
    examples: list[dict]
    n_tokens: int
    samples: tuple[str, ...]
    dropped: int = 0


def _prepare(config: FinetuneConfig, parsed: _Parsed, tokenizer) -> _Prepared:
    """Tokenize the parsed data into training examples; BadInput when nothing usable is left."""
    examples: list[dict] = []
    n_tokens = 0
    samples: list[str] = []
    dropped = 0
    if config.task == "causal-lm":
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        for section in parsed.sections:
            ids = list(tokenizer(section, add_special_tokens=False)["input_ids"]) + eos
            n_tokens += len(ids)
            for s, e in _chunks(len(ids), config.chunk_length, config.overlap):
                if e - s >= 2:
                    examples.append({"input_ids": ids[s:e], "labels": ids[s:e]})
        if n_tokens < config.chunk_length:
            raise _too_short(parsed, n_tokens, config.chunk_length, exact=True)
        samples = [tokenizer.decode(ex["input_ids"]) for ex in examples[:3]]
    elif config.task == "chat":
        for messages in parsed.conversations:
            ex = _chat_example(tokenizer, messages, config.max_length)
            if ex is None:
                dropped += 1
                continue
            n_tokens += len(ex["input_ids"])
            examples.append(ex)
        if not examples:
            raise BadInput(f"Every conversation is longer than max length ({config.max_length} "
                           "tokens) before its first reply.", hint="Raise max length.")
        samples = [_render_chat(tokenizer, m) for m in parsed.conversations[:3]]
    else:
        label_id = {lab: i for i, lab in enumerate(parsed.labels)}
        for text, lab in parsed.rows:
            enc = tokenizer(text, truncation=True, max_length=config.max_length)
            ex = {k: list(v) for k, v in enc.items()}
            ex["labels"] = label_id[lab]
            n_tokens += len(ex["input_ids"])
            examples.append(ex)
        samples = [f"[{lab}] {text}" for text, lab in parsed.rows[:5]]
    return _Prepared(parsed, examples, n_tokens, tuple(samples), dropped)


def _too_short(parsed: _Parsed, n_tokens: int, chunk: int, exact: bool) -> BadInput:
    about = "" if exact else "about "
    return BadInput(f"The text in {_names(parsed.files)} is too short to train on: {about}"
                    f"{n_tokens} tokens, less than one chunk of {chunk} tokens.",
                    hint="Add more text, or lower the chunk length.")



def _split(n: int, eval_split: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded (train, eval) indices; eval_split of the examples, at least one when above 0."""
    if eval_split <= 0:
        return list(range(n)), []
    n_eval = max(1, round(n * eval_split))
    if n - n_eval < 1:
        raise BadInput(f"Too few examples ({n}) to hold out an evaluation split.",
                       hint="Add more data, or set the eval split to 0.")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return sorted(order[n_eval:]), sorted(order[:n_eval])

