"""The base model of a run: finding it in the registry (download or conversion when needed), its
tokenizer, its context length, its label names, and the model to train (full weights, or with a
fresh LoRA). A base that is itself a LoRA adapter (an earlier run, the bundled sentiment model) is
loaded with its adapter merged in, through the one loader in core.models.loading."""
from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from core.cancel import CancelToken
from core.errors import BadInput, ModelUnavailable
from core.events import Done, Event, Log
from core.finetune.config import FinetuneConfig
from core.finetune.examples import CHATML_TEMPLATE
from core.models.adapters import adapter_base, adapter_config

# q/v projection names by architecture family, for models peft has no default for
_QV_NAMES = (("q_proj", "v_proj"), ("query", "value"), ("q_lin", "v_lin"), ("c_attn",),
             ("query_key_value",), ("Wqkv",))
_HEAD_NAMES = ("classifier", "score", "pre_classifier")


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



def is_adapter(folder: Path) -> bool:
    """True when ``folder`` holds a LoRA adapter rather than full weights."""
    return adapter_config(folder) is not None


def _model_folder(folder: Path, registry) -> Path:
    """The folder with the model's config.json: ``folder``, or an adapter's base."""
    if (folder / "config.json").is_file() or not is_adapter(folder):
        return folder
    return adapter_base(folder, registry) or folder


def load_tokenizer(config: FinetuneConfig, folder: Path, name: str, registry, emit):
    """The base's tokenizer, with a padding token (and ChatML for chat data when it has no chat
    template). An adapter without tokenizer files uses its base model's."""
    from transformers import AutoTokenizer

    from core.models.loading import has_tokenizer

    source = folder
    if not has_tokenizer(folder) and is_adapter(folder):
        source = adapter_base(folder, registry) or folder
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except Exception as exc:
        raise BadInput(f"The tokenizer of '{name}' cannot be loaded: {exc}") from exc
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise BadInput(f"The tokenizer of '{name}' has neither a padding nor an "
                           "end-of-text token.")
        tokenizer.pad_token = tokenizer.eos_token
    if config.task == "chat" and not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
        emit(Log(f"'{name}' has no chat template: using ChatML."))
    return tokenizer


def fit_context(config: FinetuneConfig, folder: Path, tokenizer, name: str, emit, registry=None
                ) -> FinetuneConfig:
    """Lower max length / chunk length to what the model reads at once (with a note)."""
    from transformers import AutoConfig

    from core.models.loading import context_length

    try:
        model_cfg = AutoConfig.from_pretrained(_model_folder(folder, registry))
    except Exception:
        return config
    limits = [n for n in (context_length(model_cfg, None, default=0),) if n > 0]
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


def base_labels(folder: Path, labels: list[str], registry=None) -> list[str]:
    """The label order to train with: a base that is a classifier already and knows exactly
    these labels keeps its own ids (continuing an earlier run); otherwise ``labels``."""
    try:
        cfg = json.loads((_model_folder(folder, registry) / "config.json").read_text(
            encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return labels
    archs = cfg.get("architectures") or []
    id2label = cfg.get("id2label") or {}
    if not any(str(a).endswith("ForSequenceClassification") for a in archs):
        return labels
    try:
        own = [str(id2label[k]) for k in sorted(id2label, key=int)]
    except (TypeError, ValueError):
        return labels
    return own if sorted(own) == sorted(labels) and len(own) == len(labels) else labels


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



def _new_head(model, labels: list[str], name: str) -> None:
    """Give a loaded classifier a fresh head for ``labels`` (other labels than it was trained on)."""
    import torch

    replaced = False
    for attr in ("classifier", "score"):
        old = getattr(model, attr, None)
        if isinstance(old, torch.nn.Linear):
            new = torch.nn.Linear(old.in_features, len(labels), bias=old.bias is not None,
                                  dtype=old.weight.dtype)
            if hasattr(model, "_init_weights"):
                model._init_weights(new)
            setattr(model, attr, new)
            replaced = True
    if not replaced:
        raise BadInput(f"'{name}' cannot learn other labels than its own.",
                       hint="Use the same labels, or start from its base model.")
    model.config.num_labels = len(labels)
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {lab: i for i, lab in enumerate(labels)}
    if hasattr(model, "num_labels"):
        model.num_labels = len(labels)


def _load_weights(config: FinetuneConfig, folder: Path, labels: list[str], registry):
    """The base model in float32 on the CPU (the Trainer moves it and does mixed precision).
    An adapter folder is loaded with its adapter merged in; a classifier whose labels differ from
    ``labels`` gets a fresh head."""
    import torch

    from core.models.loading import load_hf, out_of_memory

    classify = config.task == "classification"
    kind = "classifier" if classify else "causal-lm"
    if is_adapter(folder):
        model, _tok = load_hf(folder, kind, "cpu", registry=registry, dtype=torch.float32)
        if classify:
            own = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
            if own != labels:
                _new_head(model, labels, folder.name)
        model.train()
        return model
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    what = "a text classifier" if classify else "a causal language model"
    try:
        with out_of_memory(f"Not enough memory to load the base model '{folder.name}'."):
            if classify:
                return AutoModelForSequenceClassification.from_pretrained(
                    folder, num_labels=len(labels), id2label=dict(enumerate(labels)),
                    label2id={lab: i for i, lab in enumerate(labels)},
                    ignore_mismatched_sizes=True, dtype=torch.float32)
            return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise BadInput(f"'{folder.name}' cannot be loaded as {what}: {exc}") from exc


def load_model(config: FinetuneConfig, folder: Path, labels: list[str], tokenizer, registry=None):
    """The model to train: the base's full weights, or the base with a fresh LoRA."""
    model = _load_weights(config, folder, labels, registry)
    if config.task == "classification" and model.config.pad_token_id is None \
            and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id  # GPT-style classifiers
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
