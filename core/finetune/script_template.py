"""The files ``core.finetune.export_script`` writes: a standalone training script with the run's
settings, an accelerate config for one machine with several GPUs, and a launcher."""
from __future__ import annotations

TRAIN_PY = r'''#!/usr/bin/env python
"""Fine-tuning script exported by LLM Workbench: the same data handling and Trainer settings as the
app's run, without the app. Needs: torch, transformers, peft, accelerate.

    python train.py                 # one process (CPU or one GPU)
    bash launch.sh                  # every GPU of this machine, through accelerate

The model is written to ./output/final (an adapter for LoRA, full weights otherwise).
"""
import csv
import io
import json
import math
import random
from collections import Counter
from pathlib import Path

CONFIG = __CONFIG__

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "output"
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def read_text(path):
    raw = Path(path).read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    for enc in ("utf-8", "cp1252", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            pass


def chunks(n, size, overlap):
    if n <= size:
        return [(0, n)]
    spans = [(s, s + size) for s in range(0, n - size + 1, size - overlap)]
    if spans[-1][1] < n:
        spans.append((n - size, n))
    return spans


def causal_examples(tok, cfg):
    out = []
    eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
    for f in cfg["data"]:
        text = read_text(f)
        parts = text.split(cfg["hard_cut"]) if cfg["hard_cut"] else [text]
        for part in parts:
            if not part.strip():
                continue
            ids = tok(part, add_special_tokens=False)["input_ids"] + eos
            for s, e in chunks(len(ids), cfg["chunk_length"], cfg["overlap"]):
                if e - s >= 2:
                    out.append({"input_ids": ids[s:e], "labels": ids[s:e]})
    return out


def render(tok, messages, **kw):
    return tok.apply_chat_template(messages, tokenize=False, **kw)


def chat_examples(tok, cfg):
    out = []
    for f in cfg["data"]:
        for line in read_text(f).splitlines():
            if not line.strip():
                continue
            messages = json.loads(line)["messages"]
            full = render(tok, messages)
            spans = []
            for i, m in enumerate(messages):  # learn the assistant replies only
                if m["role"] == "assistant":
                    prefix = render(tok, messages[:i], add_generation_prompt=True) if i else ""
                    spans.append((len(prefix), len(render(tok, messages[: i + 1]))))
            enc = tok(full, add_special_tokens=False, truncation=True,
                      max_length=cfg["max_length"], return_offsets_mapping=True)
            labels = [t if any(s <= a < e for s, e in spans) else -100
                      for t, (a, _b) in zip(enc["input_ids"], enc["offset_mapping"])]
            if any(lab != -100 for lab in labels):
                out.append({"input_ids": list(enc["input_ids"]), "labels": labels})
    return out


def table_rows(cfg):
    rows = []
    for f in cfg["data"]:
        text = read_text(f)
        if f.lower().endswith(".tsv"):
            reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            reader = csv.reader(io.StringIO(text))
        header = [c.strip().lstrip("\ufeff") for c in next(reader)]
        lower = {c.lower(): c for c in header}
        tcol = cfg["text_column"] or next(lower[c] for c in ("text", "sentence", "sentence1",
                                                             "content", "review", "document",
                                                             "input") if c in lower)
        lcol = cfg["label_column"] or next(lower[c] for c in ("label", "labels", "class",
                                                              "category", "target", "sentiment",
                                                              "output") if c in lower)
        ti, li = header.index(tcol), header.index(lcol)
        for row in reader:
            if len(row) > max(ti, li) and row[ti].strip() and row[li].strip():
                rows.append((row[ti].strip(), row[li].strip()))
    return rows


def sort_labels(labels):
    try:
        return sorted(labels, key=lambda s: (int(s), s))
    except ValueError:
        return sorted(labels)


def split(n, fraction, seed):
    if fraction <= 0:
        return list(range(n)), []
    n_eval = max(1, int(round(n * fraction)))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return sorted(order[n_eval:]), sorted(order[:n_eval])


def causal_collator(pad_id):
    import torch

    def collate(batch):
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


def main():
    import numpy as np
    import torch
    from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification,
                              AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments,
                              set_seed)

    cfg = CONFIG
    classify = cfg["task"] == "classification"
    tok = AutoTokenizer.from_pretrained(cfg["base"])
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if cfg["task"] == "chat" and not tok.chat_template:
        tok.chat_template = CHATML
    labels = []
    if cfg["task"] == "causal-lm":
        examples = causal_examples(tok, cfg)
    elif cfg["task"] == "chat":
        examples = chat_examples(tok, cfg)
    else:
        rows = table_rows(cfg)
        labels = sort_labels(Counter(lab for _t, lab in rows))
        ids = {lab: i for i, lab in enumerate(labels)}
        examples = []
        for text, lab in rows:
            enc = tok(text, truncation=True, max_length=cfg["max_length"])
            examples.append({**{k: list(v) for k, v in enc.items()}, "labels": ids[lab]})
    train_idx, eval_idx = split(len(examples), cfg["eval_split"], cfg["seed"])
    train_ds = [examples[i] for i in train_idx]
    eval_ds = [examples[i] for i in eval_idx]

    set_seed(cfg["seed"])
    if classify:
        model = AutoModelForSequenceClassification.from_pretrained(
            cfg["base"], num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={lab: i for i, lab in enumerate(labels)}, ignore_mismatched_sizes=True)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tok.pad_token_id
    else:
        model = AutoModelForCausalLM.from_pretrained(cfg["base"])
    if cfg["method"] == "lora":
        from peft import LoraConfig, TaskType, get_peft_model
        from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

        targets = cfg["target_modules"] or DEFAULTS.get(model.config.model_type) or "all-linear"
        heads = [n for n, _m in model.named_children()
                 if n in ("classifier", "score", "pre_classifier")]
        if heads and getattr(getattr(model, model.base_model_prefix, None), "pooler", None):
            heads.append("pooler")  # BERT-style: the pooler feeds the new head
        model = get_peft_model(model, LoraConfig(
            r=cfg["lora_r"], lora_alpha=cfg["lora_alpha"], lora_dropout=cfg["lora_dropout"],
            target_modules=targets, modules_to_save=heads if classify else None,
            task_type=TaskType.SEQ_CLS if classify else TaskType.CAUSAL_LM))
        model.print_trainable_parameters()

    cuda = torch.cuda.is_available() and cfg["device"] != "cpu"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    periodic = bool(eval_ds) and cfg["eval_steps"] is not None
    args = TrainingArguments(
        output_dir=str(OUTPUT / "checkpoints"),
        per_device_train_batch_size=cfg["batch_size"],
        per_device_eval_batch_size=cfg["batch_size"],
        gradient_accumulation_steps=cfg["grad_accum"],
        num_train_epochs=cfg["epochs"],
        max_steps=cfg["max_steps"],
        learning_rate=cfg["learning_rate"],
        warmup_steps=float(cfg["warmup_ratio"]) if cfg["warmup_ratio"] else 0,
        logging_steps=cfg["logging_steps"],
        logging_first_step=True,
        save_strategy="steps",
        save_steps=cfg["save_steps"],
        save_total_limit=2,
        eval_strategy="steps" if periodic else "no",
        eval_steps=cfg["eval_steps"] if periodic else None,
        prediction_loss_only=not classify,
        seed=cfg["seed"],
        data_seed=cfg["seed"],
        report_to=[],
        dataloader_num_workers=0,
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length" if cfg["group_by_length"] else "random",
        use_cpu=not cuda,
        bf16=bf16,
        fp16=cuda and not bf16,
    )

    def compute_metrics(pred):
        preds = np.asarray(pred.predictions).argmax(-1)
        gold = np.asarray(pred.label_ids)
        f1s = []
        for c in range(len(labels)):
            tp = np.sum((preds == c) & (gold == c))
            fp = np.sum((preds == c) & (gold != c))
            fn = np.sum((preds != c) & (gold == c))
            if tp + fp + fn:
                f1s.append(2 * tp / (2 * tp + fp + fn))
        return {"accuracy": float(np.mean(preds == gold)), "f1_macro": float(np.mean(f1s))}

    trainer = Trainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds or None,
        data_collator=(DataCollatorWithPadding(tok) if classify
                       else causal_collator(tok.pad_token_id)),
        processing_class=tok, compute_metrics=compute_metrics if classify else None)
    last = None
    ckpts = sorted((OUTPUT / "checkpoints").glob("checkpoint-*"),
                   key=lambda p: int(p.name.split("-")[-1]))
    if ckpts:
        last = str(ckpts[-1])  # an interrupted run continues where it stopped
    trainer.train(resume_from_checkpoint=last)
    if eval_ds:
        metrics = trainer.evaluate()
        if not classify:
            metrics["perplexity"] = math.exp(metrics["eval_loss"])
        if trainer.is_world_process_zero():
            print(json.dumps(metrics, indent=2))
    final = OUTPUT / "final"
    if cfg["method"] == "lora" and cfg["merge_lora"]:
        trainer.accelerator.wait_for_everyone()
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        if trainer.is_world_process_zero():
            merged.save_pretrained(final)
            tok.save_pretrained(final)
    else:
        trainer.save_model(str(final))
        if trainer.is_world_process_zero():
            tok.save_pretrained(final)


if __name__ == "__main__":
    main()
'''

ACCELERATE_CONFIG = """\
# accelerate config for one machine with several GPUs (data parallel).
# Set num_processes to the number of GPUs; mixed_precision to fp16 on GPUs without bf16.
compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
downcast_bf16: 'no'
gpu_ids: all
machine_rank: 0
main_training_function: main
mixed_precision: bf16
num_machines: 1
num_processes: 2
rdzv_backend: static
same_network: true
use_cpu: false
"""

LAUNCH_SH = """\
#!/usr/bin/env bash
# Train on every GPU of this machine (edit num_processes in accelerate_config.yaml first).
set -euo pipefail
cd "$(dirname "$0")"
accelerate launch --config_file accelerate_config.yaml train.py "$@"
"""
