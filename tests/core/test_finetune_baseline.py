"""The base model measured before training and the result in words, from real metrics of tiny
runs (tiny random models built here); and cancelling, observed inside the current micro-batch."""
from __future__ import annotations

import json
import math
import re

import pytest

from core.cancel import CancelToken
from core.events import Done, Progress
from core.finetune import FinetuneConfig, LossPoint, TrainProgress, result_line, result_text, train
from core.models.registry import Registry
from tests.tiny_models import CORPUS


def run_all(config, home, cancel=None):
    events = list(train(config, cancel or CancelToken(), home=home,
                        registry=Registry(home, scan_hf_cache=False)))
    assert isinstance(events[-1], Done)
    return events, events[-1].result


def numbers(text: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(r"\d[\d,]*\.\d+", text)]


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS), encoding="utf-8")
    return path


def test_a_language_run_says_its_perplexity_against_its_base(home, tiny_gpt2_dir, corpus):
    config = FinetuneConfig(task="causal-lm", base=str(tiny_gpt2_dir), data=(str(corpus),),
                            output="words", method="full", max_steps=12, learning_rate=3e-3,
                            batch_size=4, chunk_length=32, overlap=0, eval_split=0.2,
                            save_steps=100, device="cpu")
    events, result = run_all(config, home)
    m = result.metrics
    # measured before the first step, on the eval split, with the final evaluation's own loss
    stages = [e.stage for e in events if isinstance(e, Progress)]
    first_step = next(i for i, e in enumerate(events) if isinstance(e, TrainProgress))
    measured = next(i for i, e in enumerate(events)
                    if isinstance(e, Progress) and e.stage == "Measuring the base model")
    assert "Measuring the base model" in stages and measured < first_step
    evals = [e for e in events if isinstance(e, LossPoint) and e.split == "eval"]
    assert evals[0].step == 0 and evals[0].loss == pytest.approx(m["base_eval_loss"], rel=1e-5)
    assert m["base_perplexity"] == pytest.approx(math.exp(m["base_eval_loss"]), rel=1e-3)
    assert m["base_perplexity"] > m["perplexity"]  # training on the text lowered it
    # a point on the curve for every step
    assert [e.step for e in events if isinstance(e, LossPoint) and e.split == "train"] == \
        list(range(1, 13))
    line = result_line(m)
    assert line.startswith("Perplexity ") and " → " in line
    before, after = numbers(line)
    assert before == pytest.approx(m["base_perplexity"], abs=0.051)
    assert after == pytest.approx(m["perplexity"], abs=0.051)
    assert result_text(m, result.warnings).splitlines()[0] == line
    run = json.loads((home.root / "runs" / "words" / "run.json").read_text())
    assert run["metrics"]["base_perplexity"] == m["base_perplexity"]
    assert run["losses"][0] == {"step": 0, "loss": m["base_eval_loss"], "split": "eval",
                                "learning_rate": None}


def test_a_classifier_says_its_accuracy_and_f1_against_its_base(home, tiny_classifier_dir,
                                                                tmp_path):
    rows = [(f"good {w} fine great", "positive") if i % 2 else (f"bad {w} dull awful", "negative")
            for i, w in enumerate(("film story day meal room song book play show trip " * 8)
                                  .split())]  # 80 rows: 24 held out, enough to calibrate on
    table = tmp_path / "reviews.csv"
    table.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    config = FinetuneConfig(task="classification", base=str(tiny_classifier_dir),
                            data=(str(table),), output="labels", method="full", max_steps=30,
                            learning_rate=5e-3, batch_size=8, max_length=16, eval_split=0.3,
                            save_steps=100, device="cpu")
    _events, result = run_all(config, home)
    m = result.metrics
    assert {"base_accuracy", "base_f1_macro", "accuracy", "f1_macro"} <= set(m)
    assert m["accuracy"] > m["base_accuracy"]
    line = result_line(m)
    assert re.fullmatch(r"Accuracy \d\.\d\d → \d\.\d\d \(macro F1 \d\.\d\d → \d\.\d\d\)"
                        r" · calibration error \d\.\d{3} → \d\.\d{3}", line)
    assert numbers(line) == [round(m[k], 2) for k in ("base_accuracy", "accuracy",
                                                      "base_f1_macro", "f1_macro")] + [
        round(m["ece_before"], 3), round(m["ece_after"], 3)]
    # the temperature was fitted on the run's validation split and stored with the model
    from core.classify.calibration import load_calibration

    stored = load_calibration(result.path)
    assert stored is not None and stored.temperature == pytest.approx(m["temperature"], abs=1e-3)
    assert m["ece_after"] <= m["ece_before"] + 1e-9


def test_the_result_words_and_plain_warnings():
    assert result_line({"perplexity": 41.04, "base_perplexity": 65.21}) == \
        "Perplexity 65.2 → 41.0"
    assert result_line({"accuracy": 0.881, "f1_macro": 0.874, "base_accuracy": 0.52,
                        "base_f1_macro": 0.508}) == "Accuracy 0.52 → 0.88 (macro F1 0.51 → 0.87)"
    assert result_line({"perplexity": 3.5}) == "Perplexity 3.50"  # a run from before the base
    assert result_line({"train_loss": 1.25}).startswith("Training loss 1.25")
    worse = result_text({"perplexity": 70.0, "base_perplexity": 65.2},
                        ["The training loss did not go down."])
    assert worse.splitlines() == ["Perplexity 65.2 → 70.0", "⚠ The training loss did not go down.",
                                  "⚠ The perplexity on the held-out text rose: the trained model "
                                  "predicts it worse than its base did."]


def test_cancel_is_observed_inside_the_current_micro_batch(home, tiny_gpt2_dir, corpus,
                                                           monkeypatch):
    """Cancel pressed during the 2nd micro-batch of step 2 (of 4 per step): that micro-batch goes
    no further, none follows, and a checkpoint of step 1 is kept for Resume."""
    import core.finetune.trainer as trainer_mod

    seen = {"forwards": 0, "after_cancel": 0, "last_block": 0}
    real = trainer_mod.watch_cancel

    def watch(model, cancel):
        def count(module, args):
            if module.training:
                seen["forwards"] += 1
                if cancel.cancelled:
                    seen["after_cancel"] += 1
                if seen["forwards"] == 6:  # step 2, micro-batch 2
                    cancel.cancel()
        def last_block(module, args):
            if module.training:
                seen["last_block"] += 1

        model.register_forward_pre_hook(count)  # runs before the blocks' own checks
        model.transformer.h[-1].register_forward_pre_hook(last_block)
        return real(model, cancel)

    monkeypatch.setattr(trainer_mod, "watch_cancel", watch)
    config = FinetuneConfig(task="causal-lm", base=str(tiny_gpt2_dir), data=(str(corpus),),
                            output="cut", method="full", max_steps=10, batch_size=2,
                            grad_accum=4, chunk_length=32, overlap=0, save_steps=100,
                            device="cpu")
    events, result = run_all(config, home)
    assert result.stopped and seen["forwards"] == 6 and seen["after_cancel"] == 0
    assert seen["last_block"] == 5  # the 6th micro-batch stopped before its last block
    assert [e.step for e in events if isinstance(e, TrainProgress)][-1] == 1
    assert result.metrics["global_step"] == 1
    assert result.checkpoint and result.checkpoint.endswith("checkpoint-1")
    run = json.loads((home.root / "runs" / "cut" / "run.json").read_text())
    assert run["status"] == "cancelled"


def test_a_cancel_during_the_backward_pass_stops_it(tiny_gpt2_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from core.finetune.trainer import StopTraining, watch_cancel

    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir)
    model.train()
    cancel = CancelToken()
    handles = watch_cancel(model, cancel)
    assert len(handles) == 2 * len(model.transformer.h)
    reached = []
    model.transformer.h[0].register_full_backward_hook(lambda *a: reached.append("block 0"))
    ids = torch.randint(0, 100, (2, 8))
    loss = model(input_ids=ids, labels=ids).loss  # the forward pass ends before the cancel
    cancel.cancel()
    with pytest.raises(StopTraining):
        loss.backward()
    assert reached == []  # stopped at the last block, before the backward pass reached the first


def test_the_cli_ends_with_the_same_result_line(home, tiny_gpt2_dir, corpus):
    from tests.core.test_cli_finetune import _run

    code, out, err = _run("--task", "causal-lm", "--base", str(tiny_gpt2_dir), "--data",
                          str(corpus), "--output", "cli-words", "--method", "full",
                          "--max-steps", "4", "--chunk-length", "32", "--overlap", "0",
                          "--batch-size", "4", "--save-steps", "100", "--device", "cpu")
    assert code == 0, err
    run = json.loads((home.root / "runs" / "cli-words" / "run.json").read_text())
    assert err.strip().splitlines()[-1] == result_line(run["metrics"])
    assert err.strip().splitlines()[-1].startswith("Perplexity ") and " → " in err
