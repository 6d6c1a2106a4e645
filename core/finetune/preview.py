"""The data preview the Fine-tune page and the CLI show before a run: the first examples as
text, counts, labels, columns and encoding (exact token counts when the base tokenizer is here)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.errors import WorkbenchError
from core.finetune.config import FinetuneConfig
from core.finetune.data import _parse
from core.finetune.examples import CHATML_TEMPLATE, _chunks, _prepare, _render_chat, _too_short

APPROX_CHARS_PER_TOKEN = 4  # preview without a tokenizer


@dataclass(frozen=True)
class DataPreview:
    kind: str  # "text" | "chat" | "table"
    files: tuple[str, ...]
    samples: tuple[str, ...]  # the first few chunks / conversations / rows, as text
    n_examples: int
    n_tokens: int | None  # None without a tokenizer
    label_counts: dict[str, int] | None
    columns: tuple[str, ...] | None
    encoding: str
    text_column: str | None = None
    label_column: str | None = None
    skipped: int = 0  # rows without text or label (classification)

    @property
    def unit(self) -> str:
        """What one example is called: "rows" for a table, "examples" otherwise."""
        return "rows" if self.kind == "table" else "examples"


def preview_data(config: FinetuneConfig, tokenizer=None) -> DataPreview:
    """Read and check the data for ``config.task``; the first few examples as text and counts.
    Without a tokenizer, token counts are estimated (~4 characters a token) and n_tokens is None."""
    parsed = _parse(config)
    label_counts = None
    if config.task == "classification":
        counts = Counter(lab for _t, lab in parsed.rows)
        label_counts = {lab: counts[lab] for lab in parsed.labels}
    if tokenizer is not None:
        prep = _prepare(config, parsed, tokenizer)
        samples, n_examples, n_tokens = prep.samples, len(prep.examples), prep.n_tokens
    elif config.task == "causal-lm":
        size = config.chunk_length * APPROX_CHARS_PER_TOKEN
        over = config.overlap * APPROX_CHARS_PER_TOKEN
        n_chars = sum(len(s) for s in parsed.sections)
        if n_chars < size:
            raise _too_short(parsed, n_chars // APPROX_CHARS_PER_TOKEN, config.chunk_length,
                             exact=False)
        chunks = [(sec, span) for sec in parsed.sections for span in _chunks(len(sec), size, over)]
        samples = tuple(sec[s:e] for sec, (s, e) in chunks[:3])
        n_examples, n_tokens = len(chunks), None
    elif config.task == "chat":
        samples = tuple(_render_chat(None, m) for m in parsed.conversations[:3])
        n_examples, n_tokens = len(parsed.conversations), None
    else:
        samples = tuple(f"[{lab}] {text}" for text, lab in parsed.rows[:5])
        n_examples, n_tokens = len(parsed.rows), None
    return DataPreview(parsed.kind, parsed.files, tuple(samples), n_examples, n_tokens,
                       label_counts, parsed.columns, parsed.encoding, parsed.text_column,
                       parsed.label_column, parsed.skipped)


def base_tokenizer(config: FinetuneConfig, registry=None):
    """The base model's tokenizer when it is on disk already (for an exact ``preview_data``);
    None when the base needs a download or a GGUF conversion first, or cannot be found."""
    from core.models.registry import Format, Registry

    registry = registry or Registry(scan_hf_cache=False)
    try:
        entry = registry.get(config.base)
    except WorkbenchError:
        return None
    if entry.format not in (Format.HF, Format.GGUF) or not entry.load_path or not Path(
            entry.load_path).is_dir():  # a GGUF file not converted yet, or a Hub id
        return None
    from transformers import AutoTokenizer

    from core.models.adapters import adapter_base
    from core.models.loading import has_tokenizer
    from core.runtime import quiet_transformers

    quiet_transformers()
    try:
        folder = Path(entry.load_path)
        if not has_tokenizer(folder):  # a LoRA adapter saved without one: its base's
            folder = adapter_base(folder, registry) or folder
        tok = AutoTokenizer.from_pretrained(folder)
    except Exception:
        return None
    if config.task == "chat" and not tok.chat_template:
        tok.chat_template = CHATML_TEMPLATE
    return tok
