"""Your data into Fine-tune: chats written as chat JSONL and a classified file (with corrected
labels) written as a text,label CSV are accepted by the Fine-tune data check and train (tiny
models, a few steps each)."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from core.cancel import CancelToken
from core.chat import HistoryStore, write_chat_training
from core.classify import Prediction, labelled_rows, write_labelled_csv
from core.errors import BadInput
from core.events import Done
from core.finetune import FinetuneConfig, LossPoint, preview_data, train
from core.models.registry import META_FILE, Registry


def run(config, home):
    events = list(train(config, CancelToken(), home=home,
                        registry=Registry(home, scan_hf_cache=False)))
    assert isinstance(events[-1], Done)
    return events, events[-1].result


def checked(config: FinetuneConfig):
    """What the New-run dialog does on OK: validate the settings, then read and check the data."""
    return preview_data(config.validate())


@pytest.fixture()
def store(tmp_path):
    s = HistoryStore(tmp_path / "chats.sqlite3")
    yield s
    s.close()


def chat(store, title, model_id, system, turns):
    conv = store.create(title, model_id=model_id, system_prompt=system)
    for role, content, meta in turns:
        store.add_message(conv.id, role, content, meta)
    return conv.id


FIGURES = {"tokens": 5, "tokens_per_s": 10.0, "stopped": False}


def test_chats_become_jsonl_with_the_system_prompt_and_finished_replies_only(store, tmp_path):
    a = chat(store, "capital", "tiny-chat", "Answer briefly.", [
        ("user", "What is the capital of France?", None),
        ("assistant", "Paris.", FIGURES),
        ("user", "And of Spain?", None),
        ("assistant", "Mad", {**FIGURES, "stopped": True, "partial": True}),  # stopped: out
        ("user", "And of Italy?", None),
        ("assistant", "Rome.", FIGURES),
        ("user", "And of Peru?", None),  # no reply yet: out
    ])
    b = chat(store, "fox", "other-model", "", [
        ("user", "hello world", None),
        ("assistant", "", FIGURES),  # an empty reply: out, with its question
        ("user", "the quick brown", None),
        ("assistant", "fox jumps", FIGURES),
    ])
    c = chat(store, "failed", "tiny-chat", "", [
        ("user", "hi", None),
        ("assistant", "he", {"error": True, "partial": True}),  # nothing finished: skipped
    ])
    out = write_chat_training(store, [a, b, c], tmp_path / "training-data")
    assert out.path.parent == tmp_path / "training-data" and out.path.name.startswith("chats-")
    assert (out.conversations, out.skipped, out.dropped_replies) == (2, 1, 3)
    assert out.model_id in ("tiny-chat", "other-model")
    lines = [json.loads(line) for line in out.path.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
        {"role": "assistant", "content": "Rome."}]}
    assert lines[1] == {"messages": [{"role": "user", "content": "the quick brown"},
                                     {"role": "assistant", "content": "fox jumps"}]}
    assert "2 chats" in out.line() and "1 without a finished reply" in out.line()
    assert not list(out.path.parent.glob(".*tmp"))  # written atomically: no temporary left


def test_the_base_is_the_model_most_chats_used(store, tmp_path):
    ids = [chat(store, f"c{i}", model, "", [("user", "q", None), ("assistant", "a", FIGURES)])
           for i, model in enumerate(("m-one", "m-two", "m-two"))]
    assert write_chat_training(store, ids, tmp_path).model_id == "m-two"


def test_chats_without_a_finished_reply_are_refused(store, tmp_path):
    cid = chat(store, "x", "m", "", [("user", "q", None), ("assistant", "", FIGURES)])
    with pytest.raises(BadInput, match="finished reply"):
        write_chat_training(store, [cid], tmp_path)
    with pytest.raises(BadInput, match="No chat"):
        write_chat_training(store, [], tmp_path)
    assert not list(tmp_path.glob("chats-*"))


def test_exported_chats_pass_the_data_check_and_train(store, tmp_path, home, tiny_chat_dir):
    ids = [chat(store, f"c{i}", "tiny", "You are terse.", [
        ("user", "hello world", None), ("assistant", "the quick brown fox", FIGURES),
        ("user", "a good film?", None), ("assistant", "a great story", FIGURES)])
        for i in range(6)]
    out = write_chat_training(store, ids, tmp_path)
    config = FinetuneConfig(task="chat", base=str(tiny_chat_dir), data=(str(out.path),),
                            output="from-chats", max_steps=2, batch_size=4, save_steps=100,
                            logging_steps=1, device="cpu")
    preview = checked(config)
    assert preview.kind == "chat" and preview.n_examples == 6
    assert "You are terse." in preview.samples[0]
    events, result = run(config, home)
    assert not result.stopped and (Path(result.path) / "adapter_config.json").is_file()
    assert all(math.isfinite(p.loss) for p in events if isinstance(p, LossPoint))


# ---- a classified file -------------------------------------------------------------------------
def pred(label: str) -> Prediction:
    other = "negative" if label == "positive" else "positive"
    return Prediction("", label, 0.9, {label: 0.9, other: 0.1})


WORDS = ("film", "story", "day", "meal", "room", "song", "book", "play", "show", "trip")
TEXTS = [f"{'good fine great' if i % 2 else 'bad dull awful'} {w}"
         for i, w in enumerate(WORDS * 4)]


def test_corrected_labels_win_and_can_be_written_alone(tmp_path):
    preds = [pred("positive")] * len(TEXTS)  # the model says positive to everything
    preds[-1] = None  # not classified (a cancelled run): left out unless corrected
    corrected = {i: "negative" for i in range(0, len(TEXTS), 2)}  # the user fixed the bad ones
    rows = labelled_rows(TEXTS, preds, corrected)
    assert len(rows) == len(TEXTS) - 1
    assert rows[0] == (TEXTS[0], "negative", True) and rows[1] == (TEXTS[1], "positive", False)
    out = write_labelled_csv(TEXTS, preds, corrected, tmp_path, "reviews")
    with open(out.path, encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["text", "label"] and len(table) == len(TEXTS)  # header + 39 rows
    assert [r[1] for r in table[1:]] == ["negative" if i % 2 == 0 else "positive"
                                         for i in range(len(TEXTS) - 1)]
    assert out.corrected == len(corrected) and out.labels == {"negative": 20, "positive": 19}
    assert out.path.name.startswith("reviews-labels-")
    # corrected rows only: all "negative" here, so a classifier could not learn from it
    with pytest.raises(BadInput, match="two labels"):
        write_labelled_csv(TEXTS, preds, corrected, tmp_path, "reviews", only_corrected=True)
    only = labelled_rows(TEXTS, preds, {**corrected, 1: "negative"}, only_corrected=True)
    assert [t for t, _l, _c in only] == [TEXTS[i] for i in sorted({*corrected, 1})]
    assert all(c for *_x, c in only)
    with pytest.raises(BadInput, match="No corrected rows"):
        write_labelled_csv(TEXTS, preds, {}, tmp_path, only_corrected=True)


def test_a_corrected_table_passes_the_data_check_and_trains(tmp_path, home,
                                                           tiny_classifier_dir):
    preds = [pred("positive")] * len(TEXTS)
    corrected = {i: "negative" for i in range(0, len(TEXTS), 2)}
    out = write_labelled_csv(TEXTS, preds, corrected, tmp_path, "reviews")
    config = FinetuneConfig(task="classification", base=str(tiny_classifier_dir),
                            data=(str(out.path),), output="from-labels", method="full",
                            max_steps=3, batch_size=8, max_length=16, eval_split=0.25,
                            save_steps=100, logging_steps=1, device="cpu")
    preview = checked(config)
    assert preview.label_counts == {"negative": 20, "positive": 20}  # the corrections, not
    assert preview.columns == ("text", "label")  # the model's all-positive predictions
    _events, result = run(config, home)
    assert not result.stopped and 0 <= result.metrics["accuracy"] <= 1
    meta = json.loads((Path(result.path) / META_FILE).read_text())
    assert meta["task"] == "text-classification" and meta["labels"] == ["negative", "positive"]


# ---- a transcript ------------------------------------------------------------------------------
def test_a_transcript_corpus_passes_the_data_check_and_trains(tmp_path, home, tiny_gpt2_dir):
    from core.transcribe import Segment, Transcript, write_corpus

    transcript = Transcript(str(tmp_path / "lecture.wav"), 400.0, [
        Segment(i * 4.0, i * 4.0 + 4.0, f"Point {i} of the lecture: the {WORDS[i % 10]} was fine.")
        for i in range(100)], "en", 1.0, "faster-whisper", "tiny.en")
    path = write_corpus(transcript, tmp_path, "lecture")
    config = FinetuneConfig(task="causal-lm", base=str(tiny_gpt2_dir), data=(str(path),),
                            output="from-lecture", max_steps=2, batch_size=4, max_length=32,
                            save_steps=100, logging_steps=1, device="cpu")
    preview = checked(config)
    assert preview.kind == "text" and preview.n_examples >= 4
    events, result = run(config, home)
    assert not result.stopped and (Path(result.path) / "adapter_config.json").is_file()
    assert all(math.isfinite(p.loss) for p in events if isinstance(p, LossPoint))
