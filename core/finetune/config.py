"""Fine-tune options: FinetuneConfig (frozen, validated before any heavy work), the output-name
check and each method's default learning rate."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from core.device import DevicePreference
from core.errors import BadInput

TASKS = ("causal-lm", "chat", "classification")
METHODS = ("lora", "full")
DEVICES = tuple(p.value for p in DevicePreference)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")

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
    logging_steps: int = 1  # a point on the curve for every step
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

