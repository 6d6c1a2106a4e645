"""Compare with base on tiny runs (tiny random models built here): the run's own eval split is
rebuilt, both models are measured on it, and a tuned model that differs gives other numbers."""
from __future__ import annotations

import json
import math

import pytest

from core.cancel import CancelToken
from core.errors import BadInput, Cancelled
from core.events import Done, Progress
from core.finetune import BaseComparison, FinetuneConfig, compare_with_base, train
from core.models.registry import Registry
from tests.tiny_models import CORPUS


def _train(config, home):
    events = list(train(config, CancelToken(), home=home,
                        registry=Registry(home, scan_hf_cache=False)))
    assert isinstance(events[-1], Done) and not events[-1].result.stopped
    return events[-1].result


def _compare(name, home, cancel=None):
    events = list(compare_with_base(name, cancel or CancelToken(), home=home,
                                    registry=Registry(home, scan_hf_cache=False), device="cpu"))
    assert isinstance(events[-1], Done)
    return events, events[-1].result


@pytest.fixture()
def reviews(tmp_path):
    rows = [(f"good {w} fine great", "positive") if i % 2 else (f"bad {w} dull awful", "negative")
            for i, w in enumerate(("film story day meal room song book play show trip " * 4)
                                  .split())]  # 40 rows: 12 held out
    table = tmp_path / "reviews.csv"
    table.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    return table


def test_a_classification_run_against_its_base(home, tiny_classifier_dir, reviews):
    config = FinetuneConfig(task="classification", base=str(tiny_classifier_dir),
                            data=(str(reviews),), output="cls", method="full", max_steps=30,
                            learning_rate=5e-3, batch_size=8, max_length=16, eval_split=0.3,
                            save_steps=100, device="cpu")
    result = _train(config, home)
    m = result.metrics
    events, cmp = _compare("cls", home)
    assert isinstance(cmp, BaseComparison) and cmp.classification
    assert cmp.n_eval == 12 and cmp.labels == ("negative", "positive")
    assert any(isinstance(e, Progress) and e.stage == "Measuring the tuned model" for e in events)
    # the same split and the same models the run measured: the same figures
    assert cmp.base.accuracy == pytest.approx(m["base_accuracy"], abs=1e-6)
    assert cmp.base.f1_macro == pytest.approx(m["base_f1_macro"], abs=1e-6)
    assert cmp.tuned.accuracy == pytest.approx(m["accuracy"], abs=1e-6)
    assert cmp.tuned.f1_macro == pytest.approx(m["f1_macro"], abs=1e-6)
    assert cmp.tuned.accuracy > cmp.base.accuracy  # it learned: the numbers differ
    for score in (cmp.base, cmp.tuned):
        assert len(score.confusion) == 2 and all(len(r) == 2 for r in score.confusion)
        assert sum(map(sum, score.confusion)) == cmp.n_eval
        diagonal = sum(score.confusion[i][i] for i in range(2))
        assert diagonal / cmp.n_eval == pytest.approx(score.accuracy)
    assert cmp.base.confusion != cmp.tuned.confusion
    text = "\n".join(cmp.lines())
    assert "accuracy" in text and "confusion of cls" in text
    assert cmp.summary().startswith("Accuracy ") and " → " in cmp.summary()
    # 12 held-out rows: one answer moves accuracy by 8 points, and the comparison says so
    assert "Only 12 held-out examples" in cmp.caveat and "8 points" in cmp.caveat
    assert cmp.lines()[1].startswith("warning: Only 12")


def test_a_language_run_against_its_base(home, tiny_gpt2_dir, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS), encoding="utf-8")
    config = FinetuneConfig(task="causal-lm", base=str(tiny_gpt2_dir), data=(str(corpus),),
                            output="words", method="full", max_steps=12, learning_rate=3e-3,
                            batch_size=4, chunk_length=32, overlap=0, eval_split=0.2,
                            save_steps=100, device="cpu")
    result = _train(config, home)
    m = result.metrics
    _events, cmp = _compare("words", home)
    assert not cmp.classification and cmp.n_eval == json.loads(
        (home.root / "runs" / "words" / "run.json").read_text())["n_eval"]
    # the same split and models as the run measured. The loss here is the mean over the tokens
    # a model predicts (31 of each 32-token chunk); the Trainer divides the same sum by every
    # labelled token (32 a chunk), so its figure is ours times 31/32
    predicted, labelled = 31, 32
    assert cmp.base.eval_loss * predicted / labelled == pytest.approx(m["base_eval_loss"],
                                                                      rel=1e-4)
    assert cmp.tuned.eval_loss * predicted / labelled == pytest.approx(m["eval_loss"], rel=1e-4)
    assert cmp.tuned.perplexity < cmp.base.perplexity
    assert cmp.base.perplexity == pytest.approx(math.exp(cmp.base.eval_loss))
    assert len(cmp.prompts) == 3 and all(cmp.prompts)
    assert len(cmp.base.samples) == len(cmp.tuned.samples) == 3
    assert all(s.strip() for s in cmp.base.samples + cmp.tuned.samples)
    assert cmp.base.samples != cmp.tuned.samples  # training changed what it writes
    assert cmp.summary().startswith("Perplexity ")


def test_cancel_stops_the_comparison(home, tiny_gpt2_dir, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS), encoding="utf-8")
    config = FinetuneConfig(task="causal-lm", base=str(tiny_gpt2_dir), data=(str(corpus),),
                            output="short", method="full", max_steps=2, batch_size=4,
                            chunk_length=32, overlap=0, eval_split=0.2, save_steps=100,
                            device="cpu")
    _train(config, home)
    cancel = CancelToken()
    seen = []
    with pytest.raises(Cancelled):
        for ev in compare_with_base("short", cancel, home=home,
                                    registry=Registry(home, scan_hf_cache=False), device="cpu"):
            seen.append(ev)
            if isinstance(ev, Progress) and ev.stage == "Measuring the base model":
                cancel.cancel()
    assert not any(isinstance(e, Done) for e in seen)
    assert not any(isinstance(e, Progress) and "tuned" in e.stage for e in seen)


def test_a_changed_data_file_or_an_unknown_run_is_refused(home, tiny_gpt2_dir, tmp_path):
    with pytest.raises(BadInput, match="no run called"):
        _compare("nope", home)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS), encoding="utf-8")
    config = FinetuneConfig(task="causal-lm", base=str(tiny_gpt2_dir), data=(str(corpus),),
                            output="edited", method="full", max_steps=1, batch_size=4,
                            chunk_length=32, overlap=0, eval_split=0.2, save_steps=100,
                            device="cpu")
    _train(config, home)
    corpus.write_text("\n".join(CORPUS[:50]), encoding="utf-8")
    with pytest.raises(BadInput, match="changed since"):
        _compare("edited", home)
