"""Fine-tuning: LoRA or full training of a causal LM (raw text or chat) or a text classifier.

Built on transformers' ``Trainer`` and peft. ``train(config, cancel)`` is a generator like every
core engine. It checks the configuration, the output name and the data files in the caller's
thread (cheap, no torch), then one worker thread does all the heavy work (base model resolution,
tokenizer, model, ``trainer.train()``, evaluation, publishing) while the generator relays its
events: Progress, Log, TrainProgress and LossPoint (from a ``TrainerCallback``), then
Done(RunResult). Cancelling stops the Trainer at the end of the current step and saves a
checkpoint, so ``train(..., resume=True)`` continues from it.

On disk (under the app home)::

    runs/<name>/run.json          config, data files with sha256, status, losses, metrics
    runs/<name>/checkpoints/      the Trainer's output_dir (two most recent checkpoints)
    models/trained/<name>/        the published model (adapter or full weights) + workbench.json

A model is published atomically: written to ``runs/<name>/publish.partial``, ``workbench.json``
last, then renamed into ``models/trained``; the registry never lists a half-written folder.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import pprint
import queue
import random
import re
import shutil
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled, ModelUnavailable, OutOfMemory, WorkbenchError
from core.events import Done, Event, Log, Progress
from core.models.adapters import ADAPTER_CONFIG
from core.models.loading import load_trained
from core.paths import AppHome
from core.textfiles import LABEL_COLUMNS, TEXT_COLUMNS, parse_table, pick_column, read_text_file

TASKS = ("causal-lm", "chat", "classification")
METHODS = ("lora", "full")
DEVICES = ("auto", "cpu", "cuda")
STATUSES = ("running", "done", "cancelled", "failed")
RUN_FILE = "run.json"

CHAT_ROLES = ("system", "user", "assistant")
# Used for chat data when the base tokenizer has no chat template of its own (GPT-2 style).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
APPROX_CHARS_PER_TOKEN = 4  # preview without a tokenizer
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
# q/v projection names by architecture family, for models peft has no default for
_QV_NAMES = (("q_proj", "v_proj"), ("query", "value"), ("q_lin", "v_lin"), ("c_attn",),
             ("query_key_value",), ("Wqkv",))
_HEAD_NAMES = ("classifier", "score", "pre_classifier")


# The learning rate each method starts from: LoRA trains few fresh weights and takes large steps;
# full training moves every pre-trained weight, and at LoRA's rate it learns nothing.
DEFAULT_LEARNING_RATES = {("lora", "causal-lm"): 2e-4, ("lora", "chat"): 2e-4,
                          ("lora", "classification"): 5e-4, ("full", "causal-lm"): 5e-5,
                          ("full", "chat"): 5e-5, ("full", "classification"): 5e-5}


def default_learning_rate(task: str, method: str) -> float:
    """The learning rate a run of ``task`` with ``method`` uses unless the user sets one."""
    return DEFAULT_LEARNING_RATES.get((method, task), 2e-4 if method == "lora" else 5e-5)


# ---- configuration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FinetuneConfig:
    task: str  # causal-lm: raw .txt/.md; chat: JSONL with "messages"; classification: CSV/TSV
    base: str  # registry id/name, folder path, or Hub id
    data: tuple[str, ...]  # files
    output: str  # output name: the folder name and the registry name
    method: str = "lora"  # "lora" | "full"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None  # None: peft's default or the q/v projections
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float | None = None  # None: default_learning_rate(task, method)
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 256  # chat and classification examples are cut to this many tokens
    warmup_ratio: float = 0.0
    eval_split: float = 0.1
    save_steps: int = 50
    eval_steps: int | None = None  # None: evaluate once, at the end
    logging_steps: int = 5
    seed: int = 42
    chunk_length: int = 256  # raw text: tokens per training chunk
    overlap: int = 32  # raw text: tokens shared by consecutive chunks
    hard_cut: str = ""  # raw text: a string that always starts a new chunk (e.g. "\n\n\n")
    text_column: str | None = None  # classification; None: "text"/"sentence"/...
    label_column: str | None = None  # classification; None: "label"/...
    merge_lora: bool = False  # publish merged full weights instead of the adapter
    device: str = "auto"
    group_by_length: bool = True  # batches of examples of similar length: less padding, faster

    def __post_init__(self) -> None:  # lists from JSON or a GUI become tuples
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", default_learning_rate(self.task, self.method))
        if isinstance(self.data, (str, Path)):
            object.__setattr__(self, "data", (str(self.data),))
        elif not isinstance(self.data, tuple):
            object.__setattr__(self, "data", tuple(str(d) for d in self.data))
        if isinstance(self.target_modules, str):
            object.__setattr__(self, "target_modules", (self.target_modules,))
        elif self.target_modules is not None and not isinstance(self.target_modules, tuple):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))

    def validate(self) -> FinetuneConfig:
        """Check every value; BadInput with a sentence naming the first bad one."""
        self._check_data_fields()
        if not str(self.base).strip():
            raise BadInput("Choose a base model to fine-tune.")
        check_output_name(self.output)
        if self.method not in METHODS:
            raise BadInput(f"Unknown method '{self.method}'.", hint="Use lora or full.")
        if self.device not in DEVICES:
            raise BadInput(f"Unknown device '{self.device}'.", hint="Use auto, cpu or cuda.")
        checks = [
            (isinstance(self.lora_r, int) and 1 <= self.lora_r <= 1024,
             "LoRA rank must be a whole number between 1 and 1024."),
            (0 < self.lora_alpha <= 4096, "LoRA alpha must be above 0."),
            (0 <= self.lora_dropout < 1, "LoRA dropout must be at least 0 and below 1."),
            (isinstance(self.max_steps, int) and (self.max_steps == -1 or self.max_steps > 0),
             "Max steps must be a positive whole number, or -1 to train by epochs."),
            (self.max_steps > 0 or 0 < self.epochs <= 1000,
             "Epochs must be above 0 (and at most 1000)."),
            (0 < self.learning_rate < 1, "The learning rate must be above 0 and below 1."),
            (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096,
             "Batch size must be a whole number of at least 1."),
            (isinstance(self.grad_accum, int) and 1 <= self.grad_accum <= 4096,
             "Gradient accumulation must be a whole number of at least 1."),
            (isinstance(self.max_length, int) and 8 <= self.max_length <= 131072,
             "Max length must be between 8 and 131072 tokens."),
            (0 <= self.warmup_ratio < 1, "Warm-up ratio must be at least 0 and below 1."),
            (isinstance(self.save_steps, int) and self.save_steps >= 1,
             "Save steps must be a whole number of at least 1."),
            (self.eval_steps is None or (isinstance(self.eval_steps, int) and self.eval_steps >= 1),
             "Eval steps must be a whole number of at least 1 (or empty to evaluate at the end)."),
            (isinstance(self.logging_steps, int) and self.logging_steps >= 1,
             "Logging steps must be a whole number of at least 1."),
            (isinstance(self.seed, int) and self.seed >= 0, "The seed must be 0 or more."),
            (not (self.merge_lora and self.method != "lora"),
             "Merging applies to LoRA only: untick 'merge' or choose the lora method."),
            (self.target_modules is None or (len(self.target_modules) > 0 and all(
                isinstance(m, str) and m.strip() for m in self.target_modules)),
             "Target modules must be module names (e.g. q_proj, v_proj), or empty for the "
             "default."),
        ]
        for ok, message in checks:
            if not ok:
                raise BadInput(message)
        if self.eval_steps is not None and self.eval_split == 0:
            raise BadInput("Eval steps need held-out data: set the eval split above 0.")
        return self

    def _check_data_fields(self) -> None:
        if self.task not in TASKS:
            raise BadInput(f"Unknown task '{self.task}'.",
                           hint="Use causal-lm (raw text), chat (JSONL) or classification "
                                "(CSV/TSV).")
        if not self.data:
            raise BadInput("Choose at least one data file.")
        for f in self.data:
            p = Path(f).expanduser()
            if not p.exists():
                raise BadInput(f"The data file '{f}' does not exist.")
            if p.is_dir():
                raise BadInput(f"'{f}' is a folder; choose the data files inside it.")
        if not 0 <= self.eval_split <= 0.5:
            raise BadInput("The eval split must be between 0 and 0.5 (a fraction of the data).")
        if not (isinstance(self.chunk_length, int) and 8 <= self.chunk_length <= 131072):
            raise BadInput("Chunk length must be between 8 and 131072 tokens.")
        if not (isinstance(self.overlap, int) and 0 <= self.overlap < self.chunk_length):
            raise BadInput(f"Overlap must be at least 0 and below the chunk length "
                           f"({self.chunk_length}).")
        for col, what in ((self.text_column, "text"), (self.label_column, "label")):
            if col is not None and not str(col).strip():
                raise BadInput(f"The {what} column name is empty; leave it unset to auto-detect.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["data"] = list(self.data)
        d["target_modules"] = None if self.target_modules is None else list(self.target_modules)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FinetuneConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})

    @property
    def model_task(self) -> str:
        """The registry task of the model this config produces."""
        return "text-classification" if self.task == "classification" else "text-generation"


def check_output_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadInput("Give the fine-tuned model a name.")
    if name != name.strip() or not _NAME.match(name) or name.endswith((".", ".partial")):
        raise BadInput(f"'{name}' cannot be used as a model name.",
                       hint="Use up to 100 letters, digits, spaces, dots, dashes or underscores, "
                            "starting with a letter or digit.")
    return name


# ---- events and results ------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainProgress(Event):
    step: int
    max_steps: int
    epoch: float
    elapsed_s: float
    eta_s: float | None
    samples_per_s: float | None

    coalescable = True

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.max_steps) if self.max_steps else 0.0


@dataclass(frozen=True)
class LossPoint(Event):
    step: int
    loss: float
    split: str  # "train" | "eval"
    learning_rate: float | None = None


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


@dataclass(frozen=True)
class RunResult:
    name: str
    path: str  # the published model folder ("" when stopped)
    metrics: dict
    entry_id: str  # registry id of the published model ("" when stopped)
    stopped: bool
    checkpoint: str | None


@dataclass(frozen=True)
class RunInfo:
    name: str
    status: str  # "running" | "done" | "cancelled" | "failed"
    config: dict
    metrics: dict
    losses: list[dict]
    path: str  # the run folder
    started: float
    finished: float | None
    error: str = ""
    model_path: str | None = None
    checkpoint: str | None = None


# ---- reading files -----------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- data: parsing (no tokenizer) ---------------------------------------------------------------
@dataclass
class _Parsed:
    kind: str
    files: tuple[str, ...]
    encodings: list[str]
    sections: list[str] = field(default_factory=list)  # causal-lm
    conversations: list[list[dict]] = field(default_factory=list)  # chat
    rows: list[tuple[str, str]] = field(default_factory=list)  # classification: (text, label)
    columns: tuple[str, ...] | None = None
    text_column: str | None = None
    label_column: str | None = None
    labels: list[str] = field(default_factory=list)  # sorted label names
    skipped: int = 0

    @property
    def encoding(self) -> str:
        return ", ".join(dict.fromkeys(self.encodings))


def _parse(config: FinetuneConfig) -> _Parsed:
    config._check_data_fields()
    files = tuple(str(Path(f).expanduser()) for f in config.data)
    texts = [(Path(f), *read_text_file(f)) for f in files]
    kind = {"causal-lm": "text", "chat": "chat", "classification": "table"}[config.task]
    parsed = _Parsed(kind, files, [enc for _p, _t, enc in texts])
    if config.task == "causal-lm":
        for _p, text, _enc in texts:
            parts = text.split(config.hard_cut) if config.hard_cut else [text]
            parsed.sections += [s for s in parts if s.strip()]
    elif config.task == "chat":
        for p, text, _enc in texts:
            parsed.conversations += _parse_jsonl(p, text)
    else:
        _parse_tables(parsed, texts, config.text_column, config.label_column)
    return parsed


def _parse_jsonl(path: Path, text: str) -> list[list[dict]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"Line {n} of '{path.name}'"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{where} is not valid JSON ({exc.msg}).",
                           hint='Each line must be one JSON object like {"messages": [...]}.'
                           ) from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
            raise BadInput(f'{where} has no "messages" list.',
                           hint='Each line must look like {"messages": [{"role": "user", '
                                '"content": "..."}, {"role": "assistant", "content": "..."}]}.')
        messages = []
        for m in obj["messages"]:
            if (not isinstance(m, dict) or m.get("role") not in CHAT_ROLES
                    or not isinstance(m.get("content"), str)):
                raise BadInput(f'{where} has a message without a "role" (system, user or '
                               f'assistant) and a text "content".')
            messages.append({"role": m["role"], "content": m["content"]})
        if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
            raise BadInput(f"{where} has no assistant reply to learn from.")
        out.append(messages)
    if not out:
        raise BadInput(f"'{path.name}' has no conversations.")
    return out


def _parse_tables(parsed: _Parsed, texts, text_col: str | None, label_col: str | None) -> None:
    for p, text, _enc in texts:
        table = parse_table(text, p)
        columns = table.columns
        if parsed.columns is None:
            parsed.columns = tuple(columns)
        tcol = pick_column(columns, text_col, TEXT_COLUMNS, "text", p)
        lcol = pick_column(columns, label_col, LABEL_COLUMNS, "label", p)
        if tcol == lcol:
            raise BadInput(f"The text and label columns of '{p.name}' are the same ('{tcol}').",
                           hint="Choose two different columns.")
        parsed.text_column, parsed.label_column = tcol, lcol
        ti, li = columns.index(tcol), columns.index(lcol)
        for row in table.rows:
            if len(row) <= max(ti, li):
                parsed.skipped += 1
                continue
            t, lab = row[ti].strip(), row[li].strip()
            if not t or not lab:
                parsed.skipped += 1
                continue
            parsed.rows.append((t, lab))
    if not parsed.rows:
        raise BadInput(f"No rows with both a text and a label in {_names(parsed.files)}.")
    counts = Counter(lab for _t, lab in parsed.rows)
    if len(counts) < 2:
        only = next(iter(counts))
        raise BadInput(f"Every row has the same label ('{only}'): a classifier needs at least "
                       "two labels.", hint="Add examples of the other class(es), or check the "
                                           "label column.")
    parsed.labels = _sort_labels(list(counts))


def _sort_labels(labels: list[str]) -> list[str]:
    try:
        return sorted(labels, key=lambda s: (int(s), s))  # 0, 1, 2, ... keep their own ids
    except ValueError:
        return sorted(labels)


def _names(files) -> str:
    return ", ".join(f"'{Path(f).name}'" for f in files)


# ---- data: tokenized examples ----------------------------------------------------------------
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


# ---- runs on disk ------------------------------------------------------------------------------
def runs_dir(home: AppHome) -> Path:
    return home.root / "runs"


def _read_run(run_dir: Path) -> dict | None:
    try:
        data = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        import psutil

        return psutil.pid_exists(pid)
    except ImportError:  # psutil is a dependency; without it assume the run is alive
        return True


def _status(data: dict) -> str:
    status = data.get("status", "failed")
    if status == "running" and not _alive(data.get("pid")):
        return "failed"  # the process that ran it is gone (crash or kill)
    return status if status in STATUSES else "failed"


def last_checkpoint(run_dir: Path) -> str | None:
    """The newest ``checkpoint-N`` folder of a run, or None."""
    ckpts = []
    for p in (Path(run_dir) / "checkpoints").glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and p.is_dir() and (p / "trainer_state.json").is_file():
            ckpts.append((int(m.group(1)), p))
    return str(max(ckpts)[1]) if ckpts else None


def list_runs(home: AppHome | None = None) -> list[RunInfo]:
    """Every run under the app home, newest first, with its status, metrics and loss curve."""
    home = home or AppHome.default()
    out = []
    root = runs_dir(home)
    if not root.is_dir():
        return out
    for run_dir in root.iterdir():
        data = _read_run(run_dir) if run_dir.is_dir() else None
        if data is None:
            continue
        out.append(RunInfo(
            name=data.get("name", run_dir.name), status=_status(data),
            config=data.get("config", {}), metrics=data.get("metrics", {}),
            losses=list(data.get("losses", [])), path=str(run_dir),
            started=float(data.get("started", 0.0)), finished=data.get("finished"),
            error=data.get("error", ""), model_path=data.get("model_path"),
            checkpoint=last_checkpoint(run_dir)))
    out.sort(key=lambda r: r.started, reverse=True)
    return out


class _RunFile:
    """run.json of one run, rewritten atomically whenever it changes."""

    def __init__(self, run_dir: Path, data: dict) -> None:
        self.path = run_dir / RUN_FILE
        self.data = data
        self._lock = threading.Lock()

    def save(self, **changes) -> None:
        with self._lock:
            self.data.update(changes)
            _write_json(self.path, self.data)

    def add_loss(self, point: LossPoint) -> None:
        with self._lock:
            self.data.setdefault("losses", []).append(
                {"step": point.step, "loss": point.loss, "split": point.split,
                 "learning_rate": point.learning_rate})
            _write_json(self.path, self.data)


# ---- base model --------------------------------------------------------------------------------
def _resolve_base(registry, config: FinetuneConfig, cancel: CancelToken) -> Iterator[Event]:
    """Yield conversion/download events; Done(result=(entry, local folder))."""
    from core.models.convert import prepared
    from core.models.registry import Format, Task

    want = Task.TEXT_CLASSIFICATION if config.task == "classification" else Task.TEXT_GENERATION
    entry = registry.get(config.base, task=want)
    if entry.format not in (Format.HF, Format.GGUF):
        raise BadInput(f"'{entry.name}' is a {entry.format.value} model, which cannot be "
                       "fine-tuned here.", hint="Pick a Hugging Face (transformers) model.")
    if config.task == "classification":
        if entry.task is Task.SPEECH_RECOGNITION:
            raise BadInput(f"'{entry.name}' is a speech model; it cannot learn to classify text.",
                           hint="Pick a text encoder such as all-MiniLM-L6-v2.")
    elif entry.task is not Task.TEXT_GENERATION:
        raise BadInput(f"'{entry.name}' is a {entry.task.value} model, not a language model "
                       "that generates text.", hint="Pick a text-generation model such as "
                                                    "SmolLM2-135M-Instruct.")
    ready = yield from prepared(registry, entry, cancel)
    folder = Path(ready.load_path)
    if not folder.is_dir():
        raise ModelUnavailable(f"The files of '{entry.name}' are missing: {folder}")
    yield Done(result=(entry, folder))


def base_tokenizer(config: FinetuneConfig, registry=None):
    """The base model's tokenizer when it is on disk already (for an exact ``preview_data``);
    None when the base needs a download or a GGUF conversion first, or cannot be found."""
    from core.models.registry import Format, Registry

    try:
        entry = (registry or Registry(scan_hf_cache=False)).get(config.base)
    except WorkbenchError:
        return None
    if entry.format not in (Format.HF, Format.GGUF) or not entry.load_path or not Path(
            entry.load_path).is_dir():  # a GGUF file not converted yet, or a Hub id
        return None
    from transformers import AutoTokenizer

    from core.runtime import quiet_transformers

    quiet_transformers()
    try:
        tok = AutoTokenizer.from_pretrained(entry.load_path)
    except Exception:
        return None
    if config.task == "chat" and not tok.chat_template:
        tok.chat_template = CHATML_TEMPLATE
    return tok


def _default_targets(model, model_type: str) -> list[str] | str:
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as defaults

    if defaults.get(model_type):
        return list(defaults[model_type])
    import torch

    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules()
             if isinstance(m, torch.nn.Linear)}
    for group in _QV_NAMES:
        if all(g in names for g in group):
            return list(group)
    return "all-linear"


def _head_modules(model) -> list[str]:
    """What a classification LoRA trains in full: the new head and, for BERT-style encoders,
    the pooler that feeds it (often untrained in checkpoints made for embeddings or masked LM)."""
    names = [name for name, _m in model.named_children() if name in _HEAD_NAMES]
    encoder = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if names and getattr(encoder, "pooler", None) is not None:
        names.append("pooler")
    return names


def _load_model(config: FinetuneConfig, folder: Path, labels: list[str], tokenizer, dtype):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    try:
        if config.task == "classification":
            model = AutoModelForSequenceClassification.from_pretrained(
                folder, num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={lab: i for i, lab in enumerate(labels)}, ignore_mismatched_sizes=True,
                dtype=dtype)
            if model.config.pad_token_id is None and tokenizer.pad_token_id is not None:
                model.config.pad_token_id = tokenizer.pad_token_id  # GPT-style classifiers
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    except (MemoryError, torch.OutOfMemoryError) as exc:
        raise OutOfMemory(f"Not enough memory to load the base model '{folder.name}'.",
                          hint="Pick a smaller model or free some memory.") from exc
    except (OSError, ValueError, KeyError) as exc:
        kind = "a text classifier" if config.task == "classification" else "a causal language model"
        raise BadInput(f"'{folder.name}' cannot be loaded as {kind}: {exc}") from exc
    if config.method == "full":
        return model
    from peft import LoraConfig, TaskType, get_peft_model

    targets = (list(config.target_modules) if config.target_modules
               else _default_targets(model, getattr(model.config, "model_type", "")))
    lcfg = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=targets,
        task_type=TaskType.SEQ_CLS if config.task == "classification" else TaskType.CAUSAL_LM,
        modules_to_save=_head_modules(model) if config.task == "classification" else None)
    try:
        with warnings.catch_warnings():  # peft's notes on GPT-2's Conv1D and deprecated names
            warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            model = get_peft_model(model, lcfg)
    except ValueError as exc:
        raise BadInput(f"LoRA cannot be applied to '{folder.name}': {exc}",
                       hint="Check the target modules (leave them empty for the default).") from exc
    model.peft_config["default"].base_model_name_or_path = str(folder.resolve())
    return model


# ---- training ----------------------------------------------------------------------------------
def _causal_collator(pad_id: int):
    def collate(batch: list[dict]):
        import torch

        width = max(len(ex["input_ids"]) for ex in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, ex in enumerate(batch):
            n = len(ex["input_ids"])
            ids[i, :n] = torch.tensor(ex["input_ids"])
            labels[i, :n] = torch.tensor(ex["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    return collate


def _macro_f1(preds, labels, n_classes: int) -> float:
    import numpy as np

    scores = []
    for c in range(n_classes):
        tp = int(np.sum((preds == c) & (labels == c)))
        fp = int(np.sum((preds == c) & (labels != c)))
        fn = int(np.sum((preds != c) & (labels == c)))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def classification_metrics(logits, labels, n_classes: int) -> dict[str, float]:
    """Accuracy and macro F1 of ``logits`` (n, classes) against integer ``labels``."""
    import numpy as np

    preds = np.asarray(logits).argmax(-1)
    labels = np.asarray(labels)
    return {"accuracy": float(np.mean(preds == labels)) if len(labels) else 0.0,
            "f1_macro": _macro_f1(preds, labels, n_classes)}


def _make_callback(emit, cancel: CancelToken, run: _RunFile, samples_per_step: int):
    from transformers import TrainerCallback

    class _Relay(TrainerCallback):
        """Trainer → events (and run.json); stops, saving a checkpoint, when cancelled."""

        def __init__(self) -> None:
            self.started = 0.0
            self.first_step = 0

        def on_train_begin(self, args, state, control, **kw):
            self.started = time.perf_counter()
            self.first_step = state.global_step
            emit(TrainProgress(state.global_step, state.max_steps, float(state.epoch or 0),
                               0.0, None, None))

        def on_step_end(self, args, state, control, **kw):
            elapsed = time.perf_counter() - self.started
            done = state.global_step - self.first_step
            eta = speed = None
            if done > 0 and elapsed > 0:
                eta = elapsed / done * max(0, state.max_steps - state.global_step)
                speed = done * samples_per_step / elapsed
            emit(TrainProgress(state.global_step, state.max_steps, float(state.epoch or 0),
                               elapsed, eta, speed))
            if cancel.cancelled:
                control.should_training_stop = True
                control.should_save = True  # keep where it stopped: resume continues from here

        def on_substep_end(self, args, state, control, **kw):
            if cancel.cancelled:  # gradient accumulation: stop at the end of this optimizer step
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            lr = logs.get("learning_rate")
            lr = float(lr) if isinstance(lr, (int, float)) else None
            for key, split in (("loss", "train"), ("eval_loss", "eval")):
                if isinstance(logs.get(key), (int, float)):
                    point = LossPoint(state.global_step, float(logs[key]), split, lr)
                    run.add_loss(point)
                    emit(point)

    return _Relay()


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _is_disk_full(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "no space left on device" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _translate(exc: BaseException, run_dir: Path) -> BaseException:
    """A typed error for failures the user can act on; others unchanged."""
    if isinstance(exc, WorkbenchError):
        return exc
    if _is_disk_full(exc):
        return BadInput(f"The disk is full: the run could not write its files ({exc}).",
                        hint=f"Free some disk space, then resume the run (its checkpoints are in "
                             f"{run_dir / 'checkpoints'}).")
    if _is_oom(exc):
        return OutOfMemory("Training ran out of memory.",
                           hint="Lower the batch size or max length (raise gradient accumulation "
                                "to keep the effective batch), or pick a smaller model.")
    return exc


def _check_name_free(home: AppHome, name: str, resume: bool) -> dict | None:
    """The previous run.json of ``name`` (or None). BadInput when the name is taken."""
    run_dir = runs_dir(home) / name
    prev = _read_run(run_dir) if run_dir.is_dir() else None
    status = _status(prev) if prev else None
    if resume:
        if prev is None:
            raise BadInput(f"There is no run called '{name}' to resume.",
                           hint="Start a new run instead.")
        if status == "done":
            raise BadInput(f"The run '{name}' already finished; there is nothing to resume.")
        if status == "running":
            raise BadInput(f"The run '{name}' is still running.")
        if last_checkpoint(run_dir) is None:
            raise BadInput(f"The run '{name}' has no checkpoint to resume from (it stopped before "
                           "its first save).", hint="Start it again as a new run.")
        return prev
    if (home.trained / name).exists():
        raise BadInput(f"A fine-tuned model called '{name}' already exists.",
                       hint="Choose another output name, or delete that model first.")
    if status == "done":
        raise BadInput(f"A finished run called '{name}' already exists.",
                       hint="Choose another output name.")
    if status == "running":
        raise BadInput(f"A run called '{name}' is training right now.",
                       hint="Choose another output name, or wait for it to finish.")
    return prev


def _data_records(files: tuple[str, ...]) -> list[dict]:
    return [{"path": str(Path(f).resolve()), "sha256": _sha256(Path(f)),
             "size": Path(f).stat().st_size} for f in files]


def train(config: FinetuneConfig, cancel: CancelToken, *, home: AppHome | None = None,
          registry=None, resume: bool = False) -> Iterator[Event]:
    """Fine-tune ``config.base`` on ``config.data``; yields Progress, Log, TrainProgress and
    LossPoint events, then Done(RunResult). ``resume=True`` continues the run of that name from
    its last checkpoint with the configuration saved in its run.json."""
    from core.models.registry import Registry

    if home is None:
        home = registry.home if registry is not None else AppHome.default()
    home = home.ensure()
    name = check_output_name(config.output)
    prev = _check_name_free(home, name, resume)
    run_dir = runs_dir(home) / name
    resume_from: str | None = None
    if resume:
        assert prev is not None
        try:
            FinetuneConfig.from_dict(prev.get("config", {}))
        except TypeError as exc:
            raise BadInput(f"The run '{name}' has an unreadable configuration.") from exc
        saved = FinetuneConfig.from_dict(prev.get("config", {})).to_dict()
        # the same training settings; only the device may change (e.g. resumed on another GPU)
        config = FinetuneConfig.from_dict({**saved, "output": name, "device": config.device})
        config.validate()
        for rec in prev.get("data", []):
            p = Path(rec["path"])
            if not p.is_file():
                raise BadInput(f"The data file '{p}' of run '{name}' is missing.",
                               hint="Put it back where it was to resume, or start a new run.")
            if _sha256(p) != rec.get("sha256"):
                raise BadInput(f"The data file '{p.name}' changed since the run started.",
                               hint="Resuming needs the same data; start a new run instead.")
        resume_from = last_checkpoint(run_dir)
    else:
        config.validate()
    parsed = _parse(config)  # cheap checks before any heavy import

    if not resume:
        shutil.rmtree(run_dir, ignore_errors=True)  # an old cancelled or failed run of that name
        run_dir.mkdir(parents=True)
        data = {"name": name, "config": config.to_dict(), "data": _data_records(parsed.files),
                "status": "running", "started": time.time(), "finished": None, "pid": os.getpid(),
                "losses": [], "metrics": {}, "error": ""}
    else:
        assert prev is not None and resume_from is not None
        step = int(re.search(r"(\d+)$", resume_from).group(1))
        data = dict(prev, status="running", finished=None, pid=os.getpid(), error="",
                    losses=[p for p in prev.get("losses", []) if p.get("step", 0) <= step],
                    resumed=list(prev.get("resumed", [])) + [{"at": time.time(), "step": step}])
    run = _RunFile(run_dir, data)
    run.save()
    registry = registry or Registry(home)
    try:
        result = yield from _relay(
            lambda emit, stop: _job(config, parsed, stop, emit, home, registry, run, resume_from),
            cancel, config.output)
    except BaseException as exc:
        err = _translate(exc, run_dir)
        try:
            if isinstance(exc, (Cancelled, GeneratorExit)):
                run.save(status="cancelled", finished=time.time())
            else:
                message = err.user_message() if isinstance(err, WorkbenchError) else repr(err)
                run.save(status="failed", finished=time.time(), error=message)
        except OSError:  # e.g. the disk is full: the error itself matters more than run.json
            pass
        if err is exc:
            raise
        raise err from exc
    yield Done(result=result, summary=_summary(result))


def _summary(result: RunResult) -> str:
    if result.stopped:
        where = f" at {Path(result.checkpoint).name}" if result.checkpoint else ""
        return f"Stopped '{result.name}'{where}; resume it to continue."
    figures = ", ".join(f"{k} {v:.3g}" for k, v in result.metrics.items()
                        if k in ("perplexity", "accuracy", "f1_macro", "eval_loss"))
    return f"Trained '{result.name}'" + (f": {figures}." if figures else ".")


class _Linked(CancelToken):
    """Set by itself (the consumer went away) or through the user's token."""

    def __init__(self, parent: CancelToken) -> None:
        super().__init__()
        self._parent = parent

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or self._parent.cancelled

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()


def _relay(job, cancel: CancelToken, name: str):
    """Run ``job(emit, stop)`` in a worker thread and yield what it emits; return its result or
    re-raise its failure. All torch work of a run happens in that one thread: a thread that starts
    using torch after another one did pays for a second OpenMP team (~1.5x slower steps on a
    2-core CPU), so the consumer's thread stays clear of it."""
    events: queue.Queue = queue.Queue()
    stop = _Linked(cancel)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = job(events.put, stop)
        except BaseException as exc:  # re-raised in the consumer's thread below
            box["error"] = exc

    thread = threading.Thread(target=work, name=f"finetune {name}", daemon=True)
    thread.start()
    try:
        while True:
            try:
                yield events.get(timeout=0.1)
            except queue.Empty:
                if not thread.is_alive() and events.empty():
                    break
    finally:
        if thread.is_alive():  # the consumer went away (GeneratorExit): stop, save, wait
            stop.cancel()
            thread.join()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def _job(config: FinetuneConfig, parsed: _Parsed, cancel: CancelToken, emit, home: AppHome,
         registry, run: _RunFile, resume_from: str | None) -> RunResult:
    """The whole run, in the worker thread: base model, tokenizer, data, Trainer, publish."""
    stages = 5
    emit(Progress("Finding the base model", 0, stages, config.base))
    entry = folder = None
    for ev in _resolve_base(registry, config, cancel):
        if isinstance(ev, Done):
            entry, folder = ev.result
        else:
            emit(ev)
    cancel.raise_if_cancelled()
    run.save(base_path=str(folder), base_id=entry.id)

    emit(Progress("Loading the tokenizer", 1, stages, entry.name))
    import torch
    from transformers import AutoTokenizer, set_seed

    from core.device import choose_device
    from core.runtime import quiet_transformers

    quiet_transformers()
    device = choose_device(config.device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except Exception as exc:
        raise BadInput(f"The tokenizer of '{entry.name}' cannot be loaded: {exc}") from exc
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise BadInput(f"The tokenizer of '{entry.name}' has neither a padding nor an "
                           "end-of-text token.")
        tokenizer.pad_token = tokenizer.eos_token
    if config.task == "chat" and not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
        emit(Log(f"'{entry.name}' has no chat template: using ChatML."))
    config = _fit_context(config, folder, tokenizer, entry.name, emit)
    cancel.raise_if_cancelled()

    emit(Progress("Preparing the data", 2, stages, _names(parsed.files)))
    prep = _prepare(config, parsed, tokenizer)
    if prep.dropped:
        emit(Log(f"{prep.dropped} conversation(s) left out: their first reply starts after "
                  f"{config.max_length} tokens."))
    train_idx, eval_idx = _split(len(prep.examples), config.eval_split, config.seed)
    train_ds = [prep.examples[i] for i in train_idx]
    eval_ds = [prep.examples[i] for i in eval_idx]
    run.save(n_train=len(train_ds), n_eval=len(eval_ds), n_tokens=prep.n_tokens)
    cancel.raise_if_cancelled()

    emit(Progress("Loading the model", 3, stages, entry.name))
    set_seed(config.seed)
    model = _load_model(config, folder, parsed.labels, tokenizer, torch.float32)
    cancel.raise_if_cancelled()

    trainer = _make_trainer(config, model, tokenizer, train_ds, eval_ds, parsed.labels,
                            device.kind, run, cancel, emit)
    emit(Progress("Training", 4, stages, f"{len(train_ds)} examples on {device.label}"))
    outcome = _run_trainer(trainer, config, eval_ds, resume_from, cancel)
    if outcome["stopped"]:
        ckpt = last_checkpoint(run.path.parent)
        run.save(status="cancelled", finished=time.time(), metrics=outcome["metrics"])
        return RunResult(config.output, "", outcome["metrics"], "", True, ckpt)

    emit(Progress("Saving the model", 4.5, stages, config.output))
    metrics = outcome["metrics"]
    target = _publish(config, trainer.model, tokenizer, entry, folder, parsed.labels, metrics,
                      home, run)
    run.save(status="done", finished=time.time(), metrics=metrics, model_path=str(target))
    emit(Progress("Done", stages, stages, config.output))
    return RunResult(config.output, str(target), metrics, f"app:{target.name}", False,
                     last_checkpoint(run.path.parent))


def _fit_context(config: FinetuneConfig, folder: Path, tokenizer, name: str, emit
                 ) -> FinetuneConfig:
    """Lower max length / chunk length to what the model reads at once (with a note)."""
    from transformers import AutoConfig

    try:
        model_cfg = AutoConfig.from_pretrained(folder)
    except Exception:
        return config
    limits = [getattr(model_cfg, a, None) for a in
              ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length")]
    limits = [v for v in limits if isinstance(v, int) and v > 0][:1]
    if 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        limits.append(tokenizer.model_max_length)
    if not limits:
        return config
    context = min(limits)
    changes = {}
    if config.task == "causal-lm" and config.chunk_length > context:
        changes["chunk_length"] = context
        changes["overlap"] = min(config.overlap, context // 2)
    if config.task != "causal-lm" and config.max_length > context:
        changes["max_length"] = context
    if changes:
        what = "chunk length" if "chunk_length" in changes else "max length"
        emit(Log(f"'{name}' reads at most {context} tokens at once: {what} lowered to {context}."))
        config = replace(config, **changes)
    return config


def training_arguments(config: FinetuneConfig, output_dir: str | Path, device_kind: str,
                       has_eval: bool):
    """The TrainingArguments a run uses (also what the benchmark's plain Trainer uses)."""
    import torch
    from transformers import TrainingArguments

    cuda = device_kind == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    periodic_eval = has_eval and config.eval_steps is not None
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        warmup_steps=float(config.warmup_ratio) if config.warmup_ratio else 0,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        eval_strategy="steps" if periodic_eval else "no",
        eval_steps=config.eval_steps if periodic_eval else None,
        prediction_loss_only=config.task != "classification",
        seed=config.seed,
        data_seed=config.seed,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        use_cpu=not cuda,
        bf16=bf16,
        fp16=cuda and not bf16,
    )


def _make_trainer(config, model, tokenizer, train_ds, eval_ds, labels, device_kind,
                  run: _RunFile, cancel: CancelToken, emit):
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer

    args = training_arguments(config, run.path.parent / "checkpoints", device_kind, bool(eval_ds))
    if config.task == "classification":
        collator = DataCollatorWithPadding(tokenizer)

        def compute_metrics(pred):
            return classification_metrics(pred.predictions, pred.label_ids, len(labels))
    else:
        collator = _causal_collator(tokenizer.pad_token_id)
        compute_metrics = None
    callback = _make_callback(emit, cancel, run, config.batch_size * config.grad_accum)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        trainer = Trainer(model=model, args=args, data_collator=collator, train_dataset=train_ds,
                          eval_dataset=eval_ds or None, processing_class=tokenizer,
                          compute_metrics=compute_metrics, callbacks=[callback])
    trainer.remove_callback(PrinterCallback)  # logs travel as events, not to stdout
    return trainer


def _run_trainer(trainer, config: FinetuneConfig, eval_ds, resume_from: str | None,
                 cancel: CancelToken) -> dict[str, Any]:
    """Train (from a checkpoint when resuming), then evaluate on the held-out split."""
    out = trainer.train(resume_from_checkpoint=resume_from)
    state = trainer.state
    metrics: dict[str, Any] = {
        "train_loss": round(float(out.training_loss), 6), "global_step": int(state.global_step),
        "max_steps": int(state.max_steps), "epoch": round(float(state.epoch or 0), 4),
        "train_runtime_s": out.metrics.get("train_runtime"),
        "train_samples_per_second": out.metrics.get("train_samples_per_second")}
    if state.global_step < state.max_steps or cancel.cancelled:
        return {"stopped": True, "metrics": metrics}
    if eval_ds:
        ev = trainer.evaluate()
        metrics["eval_loss"] = round(float(ev["eval_loss"]), 6)
        if config.task == "classification":
            metrics["accuracy"] = round(float(ev.get("eval_accuracy", 0.0)), 6)
            metrics["f1_macro"] = round(float(ev.get("eval_f1_macro", 0.0)), 6)
        else:
            metrics["perplexity"] = round(_perplexity(ev["eval_loss"]), 4)
        metrics["n_eval"] = len(eval_ds)
    return {"stopped": cancel.cancelled, "metrics": metrics}  # cancelled during the evaluation


def _perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def _publish(config: FinetuneConfig, model, tokenizer, entry, base_folder: Path,
             labels: list[str], metrics: dict, home: AppHome, run: _RunFile) -> Path:
    """Write the final model to a temp folder (workbench.json last), then rename it into
    home.trained/<name>. Nothing appears in the registry until the rename."""
    from core.models.registry import META_FILE, Format

    target = home.trained / config.output
    partial = run.path.parent / "publish.partial"
    shutil.rmtree(partial, ignore_errors=True)
    method = config.method
    if target.exists():
        raise BadInput(f"A fine-tuned model called '{config.output}' already exists.",
                       hint="Choose another output name.")
    try:
        partial.mkdir(parents=True)
        to_save = model
        if config.method == "lora" and config.merge_lora:
            to_save = model.merge_and_unload()
            method = "lora-merged"
        to_save.save_pretrained(partial, safe_serialization=True)
        if method == "lora" and config.task == "classification":
            # the adapter's classifier needs the label names and count: keep the model config
            model.base_model.model.config.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        if method == "lora":
            _point_adapter_at(partial, base_folder)
        figures = ", ".join(f"{k} {metrics[k]:.3g}" for k in ("perplexity", "accuracy")
                            if isinstance(metrics.get(k), (int, float)))
        what = {"lora": f"LoRA r={config.lora_r}", "lora-merged": "LoRA (merged)",
                "full": "full fine-tune"}[method]
        meta = {"name": config.output, "task": config.model_task, "format": Format.HF.value,
                "base": entry.id, "base_path": str(base_folder), "method": method,
                "note": f"{what} of {entry.name}" + (f"; {figures}" if figures else ""),
                "metrics": metrics, "run": str(run.path.parent), "created": time.time()}
        if config.task == "classification":
            meta["labels"] = labels
        _write_json(partial / RUN_FILE, {**run.data, "status": "done", "finished": time.time(),
                                         "metrics": metrics, "model_path": str(target)})
        (partial / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")  # last
        os.replace(partial, target)  # atomic: the registry sees all of it or nothing
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def _point_adapter_at(folder: Path, base_folder: Path) -> None:
    cfg_path = folder / ADAPTER_CONFIG
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = str(base_folder.resolve())
    cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")


# ---- using trained models ----------------------------------------------------------------------
def merge_adapter(path: str | Path, output_name: str | None = None,
                  home: AppHome | None = None) -> str:
    """Merge a LoRA model (a trained folder or its registry name) into full weights, published as
    a new trained model; returns its folder."""
    from core.models.registry import META_FILE, Format

    home = (home or AppHome.default()).ensure()
    src = Path(path)
    if not src.is_dir() and (home.trained / str(path)).is_dir():
        src = home.trained / str(path)
    if not src.is_dir():
        raise BadInput(f"'{path}' is not a trained model folder.")
    if not (src / ADAPTER_CONFIG).is_file():
        raise BadInput(f"'{src.name}' is not a LoRA adapter; there is nothing to merge.")
    name = check_output_name(output_name or f"{src.name}-merged")
    target = home.trained / name
    if target.exists():
        raise BadInput(f"A fine-tuned model called '{name}' already exists.",
                       hint="Choose another name for the merged model.")
    meta = {}
    if (src / META_FILE).is_file():
        meta = json.loads((src / META_FILE).read_text(encoding="utf-8"))
    model, tokenizer = load_trained(src, "cpu")
    partial = runs_dir(home) / f".merge-{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        model.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        task = meta.get("task") or ("text-classification" if "ForSequenceClassification" in
                                    (model.config.architectures or [""])[0] else "text-generation")
        new_meta = {**{k: v for k, v in meta.items() if k in ("base", "base_path", "labels",
                                                               "metrics", "run")},
                    "name": name, "task": task, "format": Format.HF.value, "method": "lora-merged",
                    "note": f"merged from {meta.get('name', src.name)}", "created": time.time()}
        (partial / META_FILE).write_text(json.dumps(new_meta, indent=2), encoding="utf-8")
        os.replace(partial, target)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        err = _translate(exc, partial)
        if err is not exc:
            raise err from exc
        raise
    return str(target)


# ---- export ------------------------------------------------------------------------------------
def export_script(config: FinetuneConfig, folder: str | Path, *, home: AppHome | None = None
                  ) -> list[Path]:
    """Write train.py (standalone transformers + peft Trainer script with the same settings),
    accelerate_config.yaml (one machine, every GPU) and launch.sh; return their paths."""
    from core.finetune.script import ACCELERATE_CONFIG, LAUNCH_SH, TRAIN_PY

    config._check_data_fields()
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    base = config.base
    from core.models.registry import Format, Registry

    try:  # a local folder where the registry knows one; else the id as given (a Hub id)
        entry = Registry(home, scan_hf_cache=False).get(config.base)
    except WorkbenchError:
        entry = None
    if entry is not None:
        if entry.format is Format.GGUF and not entry.converted_path:
            raise BadInput(f"'{entry.name}' is a GGUF file, which the script cannot train.",
                           hint="Convert it once on the Models page, then export again.")
        if entry.load_path and Path(entry.load_path).is_dir():
            base = entry.load_path
        elif entry.hub_id:
            base = entry.hub_id
    settings = config.to_dict()
    settings["data"] = [str(Path(f).expanduser().resolve()) for f in config.data]
    settings["base"] = base
    train_py = folder / "train.py"
    literal = pprint.pformat(settings, indent=4, width=96, sort_dicts=False)  # a Python literal
    train_py.write_text(TRAIN_PY.replace("__CONFIG__", literal), encoding="utf-8")
    accel = folder / "accelerate_config.yaml"
    accel.write_text(ACCELERATE_CONFIG, encoding="utf-8")
    launch = folder / "launch.sh"
    launch.write_text(LAUNCH_SH, encoding="utf-8")
    launch.chmod(0o755)
    return [train_py, accel, launch]
