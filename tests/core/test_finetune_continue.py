"""Continuing training from a LoRA model (an earlier run, the bundled sentiment adapter), merging
a run folder, per-method learning rates and the warning when the training loss did not fall.
Tiny random models (seconds); the bundled sentiment model only in the slow test."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.finetune import (
    FinetuneConfig,
    LossPoint,
    default_learning_rate,
    list_runs,
    merge_adapter,
)
from core.models.loading import load_trained
from core.models.registry import META_FILE
from tests.core.test_finetune import run_all, streams, tiny_config

TEXTS = ["a good film with a great story", "fine acting and a great story", "a great film",
         "a bad film, dull and far too long", "dull and bad", "far too long and dull"]


def table(path: Path, labels: tuple[str, ...], rows: int = 48) -> Path:
    """A TSV whose label follows the text (good/great texts first, bad/dull ones after)."""
    lines = ["text\tlabel"]
    for i in range(rows):
        text = TEXTS[i % len(TEXTS)]
        label = labels[0] if "bad" not in text and "dull" not in text else labels[1]
        if len(labels) > 2 and i % 4 == 0:
            label = labels[2]
        lines.append(f"{text} {i}\t{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reversed_classifier(tmp_path_factory) -> Path:
    """A tiny classifier whose own label ids are not in sorted order (positive = 0)."""
    from tests.tiny_models import tiny_distilbert_classifier

    return tiny_distilbert_classifier(tmp_path_factory.mktemp("tiny-rev"),
                                      labels=("positive", "negative"))


def classification(base, data, output, **kw) -> FinetuneConfig:
    settings = dict(task="classification", base=str(base), data=(str(data),), output=output,
                    method="lora", max_steps=4, batch_size=8, max_length=32, eval_split=0.25,
                    save_steps=100, logging_steps=1, device="cpu")
    settings.update(kw)
    return FinetuneConfig(**settings)


def logits(folder: Path, texts: list[str]):
    import torch

    model, tok = load_trained(folder, "cpu")
    with torch.inference_mode():
        return model(**tok(texts, padding=True, return_tensors="pt")).logits, model.config


# ---- #2: a LoRA model as the base of a new run ------------------------------------------------
def test_a_lora_classifier_run_continues_from_an_earlier_lora_run(reversed_classifier,
                                                                  tmp_path, home):
    data = table(tmp_path / "reviews.tsv", ("positive", "negative"))
    _events, first = run_all(classification(reversed_classifier, data, "first"), home)
    assert (Path(first.path) / "adapter_config.json").is_file()

    # the second run's base is the first run's registry id: its adapter is merged in, a new LoRA
    # trains on top; at a learning rate too small to move anything, it predicts as the first did
    config = classification("app:first", data, "second", learning_rate=1e-9, max_steps=3)
    events, second = run_all(config, home)
    assert not second.stopped and second.entry_id == "app:second"
    assert any(isinstance(e, LossPoint) for e in events)
    folder = Path(second.path)
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["labels"] == ["positive", "negative"]  # the first run's label ids, not sorted
    assert meta["method"] == "lora-merged" and (folder / "model.safetensors").is_file()
    before, cfg_before = logits(Path(first.path), TEXTS)
    after, cfg_after = logits(folder, TEXTS)
    assert cfg_after.id2label == cfg_before.id2label == {0: "positive", 1: "negative"}
    assert after.shape == before.shape and float((after - before).abs().max()) < 1e-4

    # other labels than the first run's: a fresh head for them
    three = table(tmp_path / "three.tsv", ("good", "bad", "meh"))
    _events, third = run_all(classification("app:first", three, "third", method="full"), home)
    meta = json.loads((Path(third.path) / META_FILE).read_text())
    assert meta["labels"] == ["bad", "good", "meh"]
    out, cfg = logits(Path(third.path), TEXTS[:2])
    assert out.shape == (2, 3) and cfg.id2label == {0: "bad", 1: "good", 2: "meh"}


def test_a_lora_language_model_run_continues_from_an_earlier_lora_run(tiny_gpt2_dir, tmp_path,
                                                                      home):
    data = tmp_path / "story.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 120)
    run_all(tiny_config(tiny_gpt2_dir, data, "story-lora", method="lora", max_steps=3,
                        chunk_length=64, overlap=8), home)
    _events, again = run_all(tiny_config("app:story-lora", data, "story-more", method="lora",
                                         max_steps=3, chunk_length=64, overlap=8), home)
    assert (Path(again.path) / "model.safetensors").is_file()
    assert streams(again.path) is not None  # chat loads it


def test_merge_accepts_the_run_folder(reversed_classifier, tmp_path, home):
    data = table(tmp_path / "reviews.tsv", ("positive", "negative"))
    _events, run = run_all(classification(reversed_classifier, data, "tomerge", max_steps=2), home)
    merged = Path(merge_adapter(home.root / "runs" / "tomerge", home=home))  # what the page passes
    assert merged == home.trained / "tomerge-merged"
    assert (merged / "model.safetensors").is_file() and not (merged / "adapter_config.json").exists()
    before, _ = logits(Path(run.path), TEXTS)
    after, _ = logits(merged, TEXTS)
    assert float((after - before).abs().max()) < 1e-4


# ---- #11: each method's learning rate; a warning when the loss did not fall ------------------
def test_each_method_has_its_own_default_learning_rate(reversed_classifier, tmp_path, home):
    from core.finetune.trainer import training_arguments

    data = table(tmp_path / "reviews.tsv", ("positive", "negative"))
    full = classification(reversed_classifier, data, "full-lr", method="full", max_steps=2)
    lora = classification(reversed_classifier, data, "lora-lr")
    assert full.learning_rate == 5e-5 == default_learning_rate("classification", "full")
    assert lora.learning_rate == 5e-4 == default_learning_rate("classification", "lora")
    assert training_arguments(full, tmp_path / "out", "cpu", True).learning_rate == 5e-5
    events, _result = run_all(full, home)
    run = json.loads((home.root / "runs" / "full-lr" / "run.json").read_text())
    assert run["config"]["learning_rate"] == 5e-5
    rates = [e.learning_rate for e in events if isinstance(e, LossPoint) and e.split == "train"]
    assert rates and all(0 < r <= 5e-5 for r in rates)


def test_a_run_whose_loss_did_not_fall_carries_a_warning(tiny_gpt2_dir, tmp_path, home):
    data = tmp_path / "story.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 120)
    config = tiny_config(tiny_gpt2_dir, data, "flat", learning_rate=1e-9, max_steps=12,
                         logging_steps=1, chunk_length=64, overlap=8)
    events, result = run_all(config, home)
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert "did not go down" in warning and "raise the learning rate" in warning
    assert warning in events[-1].summary
    run = json.loads((home.root / "runs" / "flat" / "run.json").read_text())
    assert run["warnings"] == [warning]
    assert list_runs(home)[0].warnings == (warning,)


def test_the_loss_check_needs_enough_points():
    from core.finetune.trainer import loss_warning

    config = FinetuneConfig(task="classification", base="b", data=("d",), output="o",
                            method="full")
    assert loss_warning([0.69, 0.69, 0.69], config) is None  # too few to tell
    assert loss_warning([0.7, 0.65, 0.6, 0.5, 0.45, 0.4], config) is None  # it fell
    flat = loss_warning([0.693, 0.69, 0.695, 0.692, 0.691, 0.694, 0.69, 0.693], config)
    assert flat and "did not go down" in flat and "5e-06" in flat  # default 5e-5: try 10x
    assert loss_warning([0.69, float("nan"), 0.6, 0.5, 0.4, 0.3], config) is None


# ---- the bundled sentiment adapter as a base (slow: real weights) ------------------------------
@pytest.mark.slow
def test_the_bundled_sentiment_model_trains_on_more_data(tmp_path, home):
    """What failed: finetune --task classification --base sentiment-minilm ..."""
    import torch

    from core.models.registry import Registry

    data = table(tmp_path / "reviews.tsv", ("positive", "negative"))
    config = classification("sentiment-minilm", data, "my-sentiment", learning_rate=1e-9,
                            max_steps=2, batch_size=4)
    _events, result = run_all(config, home)
    meta = json.loads((Path(result.path) / META_FILE).read_text())
    assert meta["labels"] == ["negative", "positive"]  # the bundled model's own label ids
    registry = Registry(home, scan_hf_cache=False)
    texts = ["a wonderful, moving film", "dull, boring and awful"]
    found = []
    for folder in (registry.get("sentiment-minilm").path, result.path):
        model, tok = load_trained(folder, "cpu", registry=registry)
        with torch.inference_mode():
            found.append(model(**tok(texts, padding=True, return_tensors="pt")).logits)
    assert float((found[0] - found[1]).abs().max()) < 1e-3  # it continued from the bundled one
    assert [model.config.id2label[int(i)] for i in found[1].argmax(-1)] == ["positive",
                                                                          "negative"]
