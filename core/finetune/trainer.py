"""The transformers Trainer glue of a run: collators, metrics, the callback that turns the
Trainer's steps and logs into events (and stops it when cancelled), the TrainingArguments, the
training itself (after measuring the base model on the eval split) with its final evaluation, and
the check that the training loss went down.

Cancelling takes effect inside the current micro-batch: every block of the model checks the token
before its forward pass and after its backward pass, so a run stops within a fraction of a step
(not at the end of a step that may take many seconds on a CPU), and a checkpoint of the last
finished step is saved for Resume.
"""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from statistics import fmean
from typing import Any

from core.cancel import CancelToken
from core.events import Progress
from core.finetune.baseline import base_of, measure_base, perplexity
from core.finetune.config import FinetuneConfig, default_learning_rate
from core.finetune.events import LossPoint, TrainProgress
from core.finetune.runs import _RunFile

FLUSH_S = 2.0  # losses reach run.json at least this often (and at every checkpoint)
MIN_LOSS_DROP = 0.02  # the mean train loss must fall by at least 2% for a run to have learned
MIN_LOSS_POINTS = 4  # fewer logged train losses than this: too few to judge


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


class StopTraining(Exception):
    """Raised inside the model's forward or backward pass once the run is cancelled."""


def _first_tensor(output):
    import torch

    if isinstance(output, torch.Tensor):
        return output
    items = output.values() if isinstance(output, dict) else output \
        if isinstance(output, (tuple, list)) else ()
    return next((o for o in items if isinstance(o, torch.Tensor)), None)


def watch_cancel(model, cancel: CancelToken) -> list:
    """Make every block of ``model`` (each item of its ModuleLists: the layers) raise
    StopTraining before its forward pass and after its backward pass once ``cancel`` is set.
    Returns the hook handles."""
    import torch

    def check(*_args):
        if cancel.cancelled:
            raise StopTraining()

    def after_forward(_module, _args, output):
        t = _first_tensor(output)
        if t is not None and t.requires_grad:
            t.register_hook(check)  # runs when the backward pass reaches this block

    handles = []
    for lst in model.modules():
        if isinstance(lst, torch.nn.ModuleList):
            for block in lst:
                handles.append(block.register_forward_pre_hook(check))
                handles.append(block.register_forward_hook(after_forward))
    if not handles:  # no list of layers: check at the start of every forward pass
        handles.append(model.register_forward_pre_hook(check))
    return handles


def _rng_state() -> dict:
    import random

    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import random

    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["cpu"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _make_callback(emit, cancel: CancelToken, run: _RunFile, samples_per_step: int):
    from transformers import TrainerCallback

    class _Relay(TrainerCallback):
        """Trainer → events (and run.json); stops, saving a checkpoint, when cancelled."""

        def __init__(self) -> None:
            self.started = 0.0
            self.first_step = 0
            self.emit, self.run = emit, run
            self.pending: list[dict] = []  # loss points not in run.json yet
            self.flushed = time.perf_counter()
            self.rng: dict | None = None  # the RNG state at the start of the current step

        def add_point(self, point: LossPoint) -> None:
            self.pending.append({"step": point.step, "loss": point.loss, "split": point.split,
                                 "learning_rate": point.learning_rate})
            emit(point)
            if time.perf_counter() - self.flushed >= FLUSH_S:
                self.flush()

        def flush(self) -> None:
            """Write the pending loss points to run.json (one write, not one per point)."""
            if self.pending:
                run.save(losses=[*run.data.get("losses", []), *self.pending])
                self.pending = []
            self.flushed = time.perf_counter()

        def on_train_begin(self, args, state, control, **kw):
            self.started = time.perf_counter()
            self.first_step = state.global_step
            emit(TrainProgress(state.global_step, state.max_steps, float(state.epoch or 0),
                               0.0, None, None))

        def on_step_begin(self, args, state, control, **kw):
            self.rng = _rng_state()  # what a checkpoint of the last step holds, if cut short

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
            if cancel.cancelled:  # gradient accumulation: stop between micro-batches
                raise StopTraining()

        def on_save(self, args, state, control, **kw):
            self.flush()  # run.json has every loss up to the checkpoint

        def on_train_end(self, args, state, control, **kw):
            self.flush()

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            lr = logs.get("learning_rate")
            lr = float(lr) if isinstance(lr, (int, float)) else None
            for key, split in (("loss", "train"), ("eval_loss", "eval")):
                if isinstance(logs.get(key), (int, float)):
                    self.add_point(LossPoint(state.global_step, float(logs[key]), split, lr))

    return _Relay()


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
    trainer.workbench_relay = callback
    trainer.workbench_hooks = watch_cancel(trainer.model, cancel)
    return trainer


def _measure_base(trainer, config: FinetuneConfig, eval_ds, relay) -> dict[str, Any]:
    """The base model on the eval split before the first step: kept in run.json's metrics, and
    its eval loss is the first eval point of the curve (step 0)."""
    if not eval_ds:
        return {}
    n = len(eval_ds)
    relay.emit(Progress("Measuring the base model", 4, 5,
                        f"{n} held-out example{'' if n == 1 else 's'}, before training"))
    base = measure_base(trainer, config.task, eval_ds)
    relay.run.save(metrics={**relay.run.data.get("metrics", {}), **base})
    relay.add_point(LossPoint(0, base["base_eval_loss"], "eval"))
    relay.flush()
    return base


def _save_where_stopped(trainer, relay) -> None:
    """After a stop inside a step: a checkpoint of the last finished step (its RNG state as it
    was when the cut step began), unless there is one already."""
    state = trainer.state
    folder = Path(trainer.args.output_dir) / f"checkpoint-{state.global_step}"
    if state.global_step <= 0 or (folder / "trainer_state.json").is_file():
        return
    if relay.rng is not None:
        _set_rng_state(relay.rng)
    trainer._save_checkpoint(trainer.model, trial=None)
    from core.finetune.runs import mark_checkpoint_complete

    mark_checkpoint_complete(folder)  # saved outside the Trainer's loop: its callbacks did not run


def _run_trainer(trainer, config: FinetuneConfig, eval_ds, resume_from: str | None,
                 cancel: CancelToken) -> dict[str, Any]:
    """Measure the base (a new run), train (from a checkpoint when resuming), then evaluate on
    the held-out split. Metrics carry the base figures (base_*) next to the final ones."""
    relay = trainer.workbench_relay
    try:
        base = base_of(relay.run.data.get("metrics")) if resume_from else \
            _measure_base(trainer, config, eval_ds, relay)
        out = trainer.train(resume_from_checkpoint=resume_from)
    except StopTraining:
        relay.flush()
        _save_where_stopped(trainer, relay)
        state = trainer.state
        metrics = {**(base_of(relay.run.data.get("metrics"))),
                   "global_step": int(state.global_step), "max_steps": int(state.max_steps),
                   "epoch": round(float(state.epoch or 0), 4)}
        return {"stopped": True, "metrics": metrics}
    finally:
        relay.flush()
    state = trainer.state
    metrics: dict[str, Any] = {
        **base,
        "train_loss": round(float(out.training_loss), 6), "global_step": int(state.global_step),
        "max_steps": int(state.max_steps), "epoch": round(float(state.epoch or 0), 4),
        "train_runtime_s": out.metrics.get("train_runtime"),
        "train_samples_per_second": out.metrics.get("train_samples_per_second")}
    if state.global_step < state.max_steps or cancel.cancelled:
        return {"stopped": True, "metrics": metrics}
    if eval_ds:
        try:
            ev = trainer.evaluate()
        except StopTraining:  # cancelled during the final evaluation
            return {"stopped": True, "metrics": metrics}
        finally:
            relay.flush()
        metrics["eval_loss"] = round(float(ev["eval_loss"]), 6)
        if config.task == "classification":
            metrics["accuracy"] = round(float(ev.get("eval_accuracy", 0.0)), 6)
            metrics["f1_macro"] = round(float(ev.get("eval_f1_macro", 0.0)), 6)
        else:
            metrics["perplexity"] = round(perplexity(ev["eval_loss"]), 4)
        metrics["n_eval"] = len(eval_ds)
    return {"stopped": cancel.cancelled, "metrics": metrics}  # cancelled during the evaluation


def loss_warning(losses: list[float], config: FinetuneConfig) -> str | None:
    """A sentence when the logged train losses did not go down (the mean of the last few is not
    clearly below the mean of the first few); None when they did or there are too few to tell."""
    losses = [x for x in losses if math.isfinite(x)]
    if len(losses) < MIN_LOSS_POINTS:
        return None
    k = max(2, min(5, len(losses) // 3))
    first, last = fmean(losses[:k]), fmean(losses[-k:])
    if last < first * (1 - MIN_LOSS_DROP):
        return None
    lr = float(config.learning_rate)
    default = default_learning_rate(config.task, config.method)
    if lr < default:
        advice = f"raise the learning rate (the default for {config.method} is {default:g})"
    elif lr > default:
        advice = f"lower the learning rate (the default for {config.method} is {default:g})"
    else:
        advice = f"try another learning rate (e.g. {lr / 10:g} or {lr * 10:g})"
    return (f"The training loss did not go down ({first:.4g} at the start, {last:.4g} at the end): "
            f"the model probably learned little. With learning rate {lr:g}, {advice}, or train "
            f"longer.")
