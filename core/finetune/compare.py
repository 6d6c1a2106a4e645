"""Compare with base: a finished run's model against the model it started from, on the eval split
the run held out (rebuilt exactly as the run built it: the same data files, checked unchanged, the
same tokenizer, lengths, label order and seeded split).

    compare_with_base(name, cancel, *, home=None, registry=None, device="auto")
        a generator like every core engine: Progress events, then Done(result=BaseComparison).

Classification runs: accuracy, macro F1 and a confusion matrix for each model. The base is the
model as the run measured it before its first step (its own head when it knew the run's labels,
else a fresh head drawn with the run's seed). Language-model runs (causal-lm, chat): perplexity
of each over the labelled tokens of the eval split, and greedy continuations, the same length, of
the starts of the first eval examples, side by side. One model is in memory at a time."""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from core.cancel import CancelToken
from core.errors import BadInput
from core.events import Done, Event, Progress
from core.paths import AppHome

SAMPLES = 3  # sample continuations of a language-model run
PROMPT_TOKENS = 16  # at most this many tokens of an eval example start its continuation
NEW_TOKENS = 32  # the length of each continuation


FEW_EXAMPLES = 30  # fewer held-out examples than this: the figures come with a warning

@dataclass(frozen=True)
class ModelScore:
    """One model's figures on the eval split."""

    name: str
    accuracy: float | None = None
    f1_macro: float | None = None
    confusion: tuple[tuple[int, ...], ...] = ()  # rows: true label, columns: predicted
    eval_loss: float | None = None
    perplexity: float | None = None
    samples: tuple[str, ...] = ()  # its continuations of BaseComparison.prompts


@dataclass(frozen=True)
class BaseComparison:
    run: str
    task: str
    n_eval: int
    base: ModelScore
    tuned: ModelScore
    labels: tuple[str, ...] = ()  # classification: the confusion matrices' order
    prompts: tuple[str, ...] = ()  # language models: the starts the samples continue

    @property
    def classification(self) -> bool:
        return self.task == "classification"

    def summary(self) -> str:
        """One line: "Accuracy 0.50 → 0.88, macro F1 0.33 → 0.88" or "Perplexity 65.2 → 41.0"
        (base → tuned)."""
        b, t = self.base, self.tuned
        if self.classification:
            return (f"Accuracy {b.accuracy:.2f} → {t.accuracy:.2f}, macro F1 {b.f1_macro:.2f} → "
                    f"{t.f1_macro:.2f}")
        return f"Perplexity {fmt_ppl(b.perplexity)} → {fmt_ppl(t.perplexity)}"

    @property
    def caveat(self) -> str:
        """A warning when a classifier was measured on too few examples to mean much."""
        n = self.n_eval
        if not self.classification or n >= FEW_EXAMPLES:
            return ""
        return (f"Only {n} held-out example{'' if n == 1 else 's'}: one answer more or less moves "
                f"these figures by {100 / max(n, 1):.0f} points. Train with a larger eval split or "
                f"more data to compare reliably.")

    def lines(self) -> list[str]:
        """The comparison as text (the CLI prints it)."""
        b, t = self.base, self.tuned
        out = [f"{self.run}: {self.task}, {self.n_eval} held-out example{'' if self.n_eval == 1 else 's'}",
               f"{'':<10}{'base':>12}{'tuned':>12}"]
        if self.caveat:
            out.insert(1, f"warning: {self.caveat}")
        if self.classification:
            out.append(f"{'accuracy':<10}{b.accuracy:>12.3f}{t.accuracy:>12.3f}")
            out.append(f"{'macro F1':<10}{b.f1_macro:>12.3f}{t.f1_macro:>12.3f}")
            for score in (b, t):
                out.append(f"confusion of {score.name} (rows: true, columns: predicted)")
                width = max(len(x) for x in self.labels) + 2
                out.append(" " * width + "".join(f"{x:>{width}}" for x in self.labels))
                for lab, row in zip(self.labels, score.confusion):
                    out.append(f"{lab:<{width}}" + "".join(f"{v:>{width}}" for v in row))
        else:
            out.append(f"{'perplexity':<10}{fmt_ppl(b.perplexity):>12}{fmt_ppl(t.perplexity):>12}")
            for i, prompt in enumerate(self.prompts):
                out += [f"--- sample {i + 1}: {prompt!r}", f"base:  {b.samples[i]!r}",
                        f"tuned: {t.samples[i]!r}"]
        return out


def fmt_ppl(value: float | None) -> str:
    if value is None:
        return "-"
    return "∞" if not math.isfinite(value) else f"{value:,.2f}"


def _run_record(home: AppHome, name: str) -> dict:
    """The finished run's run.json, its data unchanged and its model present; BadInput else."""
    from core.finetune.runs import _read_run, _sha256, runs_dir

    data = _read_run(runs_dir(home) / name)
    if data is None:
        raise BadInput(f"There is no run called '{name}'.")
    if data.get("status") != "done" or not data.get("model_path"):
        raise BadInput(f"The run '{name}' has not finished: there is no trained model to compare.",
                       hint="Resume it, or pick a finished run.")
    if not Path(data["model_path"]).is_dir():
        raise BadInput(f"The model of run '{name}' is missing: {data['model_path']}")
    if not (data.get("config") or {}).get("eval_split"):
        raise BadInput(f"The run '{name}' held out no data (eval split 0): there is nothing to "
                       "compare on.", hint="Train with an eval split above 0.")
    for rec in data.get("data", []):
        p = Path(rec["path"])
        if not p.is_file():
            raise BadInput(f"The data file '{p}' of run '{name}' is missing: its eval split "
                           "cannot be rebuilt.", hint="Put it back where it was.")
        if rec.get("sha256") and _sha256(p) != rec["sha256"]:
            raise BadInput(f"The data file '{p.name}' changed since the run '{name}' started: "
                           "its eval split cannot be rebuilt.")
    return data


def compare_with_base(name: str, cancel: CancelToken, *, home: AppHome | None = None,
                      registry=None, device: str = "auto") -> Iterator[Event]:
    """Measure the run ``name``'s base and tuned models on its eval split (see the module)."""
    from core.finetune.data import _parse
    from core.finetune.runs import _config_of
    from core.models.registry import Registry
    from core.relay import relay

    if home is None:
        home = registry.home if registry is not None else AppHome.default()
    data = _run_record(home, name)  # cheap checks first, in the caller's thread
    config = replace(_config_of(data, name), device=device)
    parsed = _parse(config)
    registry = registry or Registry(home)
    result = yield from relay(
        lambda emit: _job(config, parsed, data, registry, cancel, emit), cancel,
        name=f"compare {name}")
    yield Done(result=result, summary=result.summary())


def _eval_split(config, parsed, folder: Path, registry, emit):
    """(tokenizer, labels, eval examples): the run's own, rebuilt as core.finetune.run did."""
    from core.finetune.examples import _prepare, _split
    from core.finetune.model import base_labels, fit_context, load_tokenizer

    tokenizer = load_tokenizer(config, folder, folder.name, registry, lambda _ev: None)
    config = fit_context(config, folder, tokenizer, folder.name, lambda _ev: None, registry)
    if config.task == "classification":
        parsed.labels = base_labels(folder, parsed.labels, registry)
    prep = _prepare(config, parsed, tokenizer)
    _train_idx, eval_idx = _split(len(prep.examples), config.eval_split, config.seed)
    return tokenizer, list(parsed.labels), [prep.examples[i] for i in eval_idx]


def _base_folder(config, data: dict, registry, cancel: CancelToken, emit) -> Path:
    path = data.get("base_path")
    if path and Path(path).is_dir():
        return Path(path)
    from core.finetune.model import _resolve_base

    folder = None
    for ev in _resolve_base(registry, config, cancel):
        if isinstance(ev, Done):
            folder = ev.result[1]
        else:
            emit(ev)
    return folder


def _job(config, parsed, data: dict, registry, cancel: CancelToken, emit) -> BaseComparison:
    from core.device import choose_device
    from core.runtime import quiet_transformers

    quiet_transformers()
    name = data.get("name", config.output)
    stages = 4
    emit(Progress("Rebuilding the eval split", 0, stages, name))
    folder = _base_folder(config, data, registry, cancel, emit)
    tokenizer, labels, eval_ds = _eval_split(config, parsed, folder, registry, emit)
    cancel.raise_if_cancelled()
    device = choose_device(config.device).kind
    base_name = data.get("base_id") or config.base
    tuned_name = name
    scores: dict[str, dict] = {}
    prompts: list[list[int]] = []
    for stage, (which, label) in enumerate((("base", base_name), ("tuned", tuned_name)), 1):
        emit(Progress(f"Loading the {which} model", stage, stages, label))
        model, tok = _load(which, config, folder, labels, tokenizer, data, registry, device)
        try:
            scores[which] = _measure(config, model, tok, tokenizer, labels, eval_ds, device,
                                     cancel, emit, which, stage, stages, prompts)
        finally:
            del model
            _free(device)
    emit(Progress("Done", stages, stages, name))
    lm = config.task != "classification"
    texts = tuple(tokenizer.decode(p, skip_special_tokens=True) for p in prompts) if lm else ()
    return BaseComparison(
        run=name, task=config.task, n_eval=len(eval_ds),
        base=ModelScore(str(base_name), **scores["base"]),
        tuned=ModelScore(tuned_name, **scores["tuned"]),
        labels=tuple(labels) if not lm else (), prompts=texts)


def _load(which: str, config, folder: Path, labels, tokenizer, data: dict, registry, device):
    """The base as the run measured it before its first step, or the run's published model."""
    if which == "tuned":
        from core.models.loading import load_trained

        return load_trained(data["model_path"], device, registry=registry)
    from transformers import set_seed

    from core.finetune.model import _load_weights

    set_seed(config.seed)  # a fresh head is drawn as the run drew it
    model = _load_weights(config, folder, labels, registry)
    if config.task == "classification" and model.config.pad_token_id is None \
            and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.to(device)
    model.eval()
    return model, tokenizer


def _measure(config, model, tok, tokenizer, labels, eval_ds, device, cancel, emit, which: str,
             stage: int, stages: int, prompts: list) -> dict:
    from core.finetune.compare_measure import (
        classify_scores,
        continuations,
        lm_scores,
        prompts_of,
    )

    def tick(done: int, total: int) -> None:
        emit(Progress(f"Measuring the {which} model", stage + 0.9 * done / max(total, 1),
                      stages, f"{done}/{total} held-out example{'' if total == 1 else 's'}"))

    if config.task == "classification":
        s = classify_scores(model, tok, eval_ds, labels, device, cancel, tick)
        return {"accuracy": s["accuracy"], "f1_macro": s["f1_macro"], "confusion": s["confusion"]}
    s = lm_scores(model, eval_ds, tokenizer.pad_token_id, device, cancel, tick)
    if not prompts:
        prompts += prompts_of(eval_ds, SAMPLES, PROMPT_TOKENS)
    emit(Progress(f"Sample continuations of the {which} model", stage + 0.95, stages))
    samples = continuations(model, tokenizer, prompts, NEW_TOKENS, device, cancel)
    return {"eval_loss": s["eval_loss"], "perplexity": s["perplexity"],
            "samples": tuple(samples)}


def _free(device: str) -> None:
    import gc

    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()
