"""One fine-tune run: ``train(config, cancel)`` is a generator like every core engine.

It checks the configuration, the output name and the data files in the caller's thread (cheap,
no torch), then one worker thread (core.relay) does all the heavy work (base model, tokenizer,
model, ``trainer.train()``, evaluation, publishing) while the generator relays its events:
Progress, Log, TrainProgress and LossPoint, then Done(RunResult). Cancelling stops the Trainer at
the end of the current step and saves a checkpoint, so ``train(..., resume=True)`` continues from
it. Closing the generator does the same and waits for the worker to end.

A run holds a lock on its name for its whole life, so a second process starting a run of the same
name is refused before it touches anything; a new run never deletes the checkpoints of a stopped
one unless asked (``overwrite=True``); a run checks the disk can hold its checkpoints before it
trains; and a failure (a full disk, a kill) never leaves a half-written checkpoint to resume from.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled, WorkbenchError
from core.events import Done, Event, Log, Progress
from core.finetune.config import FinetuneConfig, check_output_name
from core.finetune.data import _names, _parse, _Parsed
from core.finetune.events import RunResult
from core.finetune.examples import _prepare, _split
from core.finetune.failures import _translate
from core.finetune.model import (
    _resolve_base,
    base_labels,
    fit_context,
    is_adapter,
    load_model,
    load_tokenizer,
)
from core.finetune.publish import publish
from core.finetune.runs import (
    _check_name_free,
    _data_records,
    _RunFile,
    adopt_unmarked_checkpoints,
    drop_incomplete_checkpoints,
    last_checkpoint,
    resume_state,
    run_lock_file,
    runs_dir,
)
from core.finetune.safety import check_space, checkpoint_marks
from core.finetune.trainer import _make_trainer, _run_trainer, loss_warning
from core.paths import AppHome, Busy, file_lock
from core.relay import relay


def train(config: FinetuneConfig, cancel: CancelToken, *, home: AppHome | None = None,
          registry=None, resume: bool = False, overwrite: bool = False) -> Iterator[Event]:
    """Fine-tune ``config.base`` on ``config.data``; yields Progress, Log, TrainProgress and
    LossPoint events, then Done(RunResult). ``resume=True`` continues the run of that name from
    its last complete checkpoint with the configuration saved in its run.json. A stopped run of
    that name with checkpoints is refused unless ``overwrite=True`` (which deletes it)."""
    if home is None:
        home = registry.home if registry is not None else AppHome.default()
    home = home.ensure()
    name = check_output_name(config.output)
    with ExitStack() as held:
        try:
            held.enter_context(file_lock(run_lock_file(home, name), wait=False))
        except Busy:
            raise BadInput(f"A run called '{name}' is training right now in another window or "
                           "process.", hint="Choose another output name, or wait for it to "
                                            "finish.") from None
        return (yield from _train_locked(config, cancel, home, registry, resume, overwrite, name))


def _train_locked(config: FinetuneConfig, cancel: CancelToken, home: AppHome, registry,
                  resume: bool, overwrite: bool, name: str) -> Iterator[Event]:
    from core.models.registry import Registry

    run_dir = runs_dir(home) / name
    resume_from: str | None = None
    if resume:
        config, prev, resume_from = resume_state(home, name, config.device)
        adopt_unmarked_checkpoints(run_dir)  # a run saved before checkpoints were marked
        drop_incomplete_checkpoints(run_dir)  # a save a kill or a full disk cut short
    else:
        prev = _check_name_free(home, name, resume=False, overwrite=overwrite)
        config.validate()
    parsed = _parse(config)  # cheap checks before any heavy import

    if not resume:
        shutil.rmtree(run_dir, ignore_errors=True)  # an old cancelled or failed run of that name
        run_dir.mkdir(parents=True)
        data = {"name": name, "config": config.to_dict(), "data": _data_records(parsed.files),
                "status": "running", "started": time.time(), "finished": None, "pid": os.getpid(),
                "losses": [], "metrics": {}, "error": "", "warnings": []}
    else:
        assert prev is not None and resume_from is not None
        step = int(re.search(r"(\d+)$", resume_from).group(1))
        data = dict(prev, status="running", finished=None, pid=os.getpid(), error="",
                    warnings=[],
                    losses=[p for p in prev.get("losses", []) if p.get("step", 0) <= step],
                    resumed=list(prev.get("resumed", [])) + [{"at": time.time(), "step": step}])
    run = _RunFile(run_dir, data)
    run.save()
    registry = registry or Registry(home)
    stop = _Linked(cancel)  # set when the consumer goes away, without touching the user's token
    try:
        result = yield from relay(
            lambda emit: _job(config, parsed, stop, emit, home, registry, run, resume_from),
            stop, name=f"finetune {name}")
    except BaseException as exc:
        drop_incomplete_checkpoints(run_dir)  # never resumed from, and it frees their space
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


def _calibrate(model, eval_ds: list[dict], target: Path) -> dict:
    """Fit the published classifier's temperature on the run's validation split (calibration.json
    beside its weights); the ECE before and after, for the result."""
    from core.classify import calibrate_trained

    calibration = calibrate_trained(model, eval_ds, target)
    if calibration is None:  # multi-label, or too few validation rows
        return {}
    return {"ece_before": round(calibration.ece_before, 4),
            "ece_after": round(calibration.ece_after, 4),
            "temperature": round(calibration.temperature, 3)}


def _summary(result: RunResult) -> str:
    if result.stopped:
        where = f" at {Path(result.checkpoint).name}" if result.checkpoint else ""
        return f"Stopped '{result.name}'{where}; resume it to continue."
    figures = ", ".join(f"{k} {v:.3g}" for k, v in result.metrics.items()
                        if k in ("perplexity", "accuracy", "f1_macro", "eval_loss"))
    text = f"Trained '{result.name}'" + (f": {figures}." if figures else ".")
    return " ".join([text, *result.warnings])


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


def _job(config: FinetuneConfig, parsed: _Parsed, cancel: CancelToken, emit, home: AppHome,
         registry, run: _RunFile, resume_from: str | None) -> RunResult:
    """The whole run, in the worker thread: base model, tokenizer, data, Trainer, publish. All
    torch work of a run happens in that one thread: a thread that starts using torch after
    another one did pays for a second OpenMP team (~1.5x slower steps on a 2-core CPU), so the
    consumer's thread stays clear of it."""
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
    check_space(config, folder, run.path.parent)  # before any heavy work: checkpoints must fit

    emit(Progress("Loading the tokenizer", 1, stages, entry.name))
    from transformers import set_seed

    from core.device import choose_device
    from core.runtime import quiet_transformers

    quiet_transformers()
    device = choose_device(config.device)
    tokenizer = load_tokenizer(config, folder, entry.name, registry, emit)
    config = fit_context(config, folder, tokenizer, entry.name, emit, registry)
    cancel.raise_if_cancelled()

    emit(Progress("Preparing the data", 2, stages, _names(parsed.files)))
    if config.task == "classification":  # continuing a classifier keeps its label ids
        parsed.labels = base_labels(folder, parsed.labels, registry)
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
    merged_base = is_adapter(folder)
    if merged_base and config.method == "lora":
        emit(Log(f"'{entry.name}' is a LoRA adapter: it is merged into its base for training, "
                 "and the new model is saved with full weights."))
    model = load_model(config, folder, parsed.labels, tokenizer, registry)
    cancel.raise_if_cancelled()

    trainer = _make_trainer(config, model, tokenizer, train_ds, eval_ds, parsed.labels,
                            device.kind, run, cancel, emit)
    trainer.add_callback(checkpoint_marks())
    emit(Progress("Training", 4, stages, f"{len(train_ds)} examples on {device.label}"))
    outcome = _run_trainer(trainer, config, eval_ds, resume_from, cancel)
    if outcome["stopped"]:
        ckpt = last_checkpoint(run.path.parent)
        run.save(status="cancelled", finished=time.time(), metrics=outcome["metrics"])
        return RunResult(config.output, "", outcome["metrics"], "", True, ckpt)

    emit(Progress("Saving the model", 4.5, stages, config.output))
    metrics = outcome["metrics"]
    train_losses = [float(h["loss"]) for h in trainer.state.log_history
                    if isinstance(h.get("loss"), (int, float))]
    warning = loss_warning(train_losses, config)
    warnings = (warning,) if warning else ()  # in the result, its summary and run.json
    target = publish(config, trainer.model, tokenizer, entry, folder, parsed.labels, metrics,
                     home, run, merge=merged_base, warnings=warnings)
    if config.task == "classification":  # scores a person can trust: temperature scaling
        metrics = {**metrics, **_calibrate(trainer.model, eval_ds, target)}
    run.save(status="done", finished=time.time(), metrics=metrics, model_path=str(target),
             warnings=list(warnings))
    emit(Progress("Done", stages, stages, config.output))
    return RunResult(config.output, str(target), metrics, f"app:{target.name}", False,
                     last_checkpoint(run.path.parent), warnings)
