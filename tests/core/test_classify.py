"""Classification and fill-mask: tiny models for the mechanics, the bundled model for quality."""
from __future__ import annotations

import csv
import io
import json
import math

import pytest

from core.cancel import CancelToken
from core.classify import (
    BatchResult,
    Classifier,
    FillMasker,
    export_csv,
    load_classifier,
    open_classifier,
    read_table,
)
from core.errors import BadInput, Cancelled
from core.events import Done


@pytest.fixture(scope="module")
def tiny_clf(tiny_classifier_dir) -> Classifier:
    return load_classifier(tiny_classifier_dir, name="tiny")


@pytest.fixture(scope="module")
def tiny_mlm_dir(tmp_path_factory):
    from tests.tiny_models import tiny_bert_masked_lm

    return tiny_bert_masked_lm(tmp_path_factory.mktemp("tiny-mlm"))


def run_all(gen):
    events = list(gen)
    assert isinstance(events[-1], Done)
    return events


# ---- mechanics on a tiny random classifier -------------------------------------------------------
def test_predict_gives_every_label_a_probability(tiny_clf):
    assert tiny_clf.labels == ["negative", "positive"]
    [p] = tiny_clf.predict(["a good film with a great story"])
    assert set(p.scores) == {"negative", "positive"}
    assert math.isclose(sum(p.scores.values()), 1.0, rel_tol=1e-5)
    assert p.label == max(p.scores, key=p.scores.get) and p.score == p.scores[p.label]
    assert not p.truncated


def test_batches_cover_every_text_once_and_match_one_by_one(tiny_clf):
    texts = [("a good film " * (i % 7 + 1)).strip() for i in range(50)] + ["hello world"]
    events = run_all(tiny_clf.classify(texts, CancelToken(), batch_size=4))
    seen = [i for ev in events if isinstance(ev, BatchResult) for i in ev.indices]
    assert sorted(seen) == list(range(len(texts)))
    results = events[-1].result
    assert [r.text for r in results] == texts
    for text, r in zip(texts[::10], results[::10]):
        [alone] = tiny_clf.predict([text])  # no padding: the same probabilities
        assert alone.label == r.label
        assert alone.scores["positive"] == pytest.approx(r.scores["positive"], abs=1e-4)


def test_a_text_longer_than_the_model_reads_is_flagged(tiny_clf):
    long = "the quick brown fox " * 200
    short, cut = tiny_clf.predict(["the quick brown fox", long])
    assert cut.truncated and not short.truncated
    assert tiny_clf.info.max_length == 128


def test_a_1000_line_file_can_be_cancelled(tiny_clf, tmp_path):
    f = tmp_path / "lines.txt"
    f.write_text("\n".join(f"line {i}: a good film" for i in range(1000)), encoding="utf-8")
    table = read_table(f)
    assert len(table.texts) == 1000
    cancel = CancelToken()
    done = []
    with pytest.raises(Cancelled):
        for ev in tiny_clf.classify(table.texts, cancel, batch_size=8):
            if isinstance(ev, BatchResult):
                done += ev.indices
                if len(done) >= 40:
                    cancel.cancel()
    assert 40 <= len(done) < 1000


def test_not_a_classifier_is_refused(tiny_gpt2_dir):
    with pytest.raises(BadInput, match="not a text classifier"):
        load_classifier(tiny_gpt2_dir, name="tiny-gpt2")


def test_a_chat_model_id_is_refused_before_loading(home):
    from core.models.registry import Registry

    with pytest.raises(BadInput, match="text-generation model, not a text classifier"):
        run_all(open_classifier(Registry(home, scan_hf_cache=False), "smollm2-135m-instruct",
                                "cpu", CancelToken()))


# ---- issue 4: one model, two jobs at once ------------------------------------------------------
class _Watch:
    """Counts how many threads are inside the tokenizer or the model at once."""

    def __init__(self, model) -> None:
        import threading

        self.guard = threading.Lock()
        self.inside = 0
        self.most = 0
        self.model = model
        self.tokenizer = model.tokenizer
        real_forward = model.model.forward
        real_tokenizer = model.tokenizer

        def forward(*args, **kwargs):
            with self:
                return real_forward(*args, **kwargs)

        class Tokenizer:  # the real tokenizer, watched
            def __call__(_, *args, **kwargs):
                with self:
                    return real_tokenizer(*args, **kwargs)

            def __getattr__(_, name):
                return getattr(real_tokenizer, name)

        model.model.forward = forward
        model.tokenizer = Tokenizer()

    def __enter__(self):
        import time

        with self.guard:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.002)  # widen the window two unlocked calls would overlap in

    def __exit__(self, *exc):
        with self.guard:
            self.inside -= 1


def _at_once(*jobs):
    import threading

    errors = []

    def guarded(job):
        try:
            job()
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert not errors, errors


def test_a_text_job_and_a_file_job_never_share_the_model_at_once(tiny_classifier_dir):
    clf = load_classifier(tiny_classifier_dir, name="tiny")
    texts = [("a good film " * (i % 9 + 1)).strip() for i in range(60)]
    singles = [clf.predict([t])[0] for t in texts]
    whole = run_all(clf.classify(texts, CancelToken(), batch_size=4))[-1].result
    watch = _Watch(clf)
    got_singles, got_whole = [], []
    _at_once(lambda: got_singles.extend(clf.predict([t])[0] for t in texts),
             lambda: got_whole.extend(run_all(clf.classify(texts, CancelToken(),
                                                           batch_size=4))[-1].result))
    assert watch.most == 1
    for got, want in ((got_singles, singles), (got_whole, whole)):
        assert [p.label for p in got] == [p.label for p in want]
        assert [p.scores["positive"] for p in got] == pytest.approx(
            [p.scores["positive"] for p in want], abs=1e-5)


def test_two_fill_mask_jobs_never_share_the_model_at_once(tiny_mlm_dir):
    fm = load_classifier(tiny_mlm_dir, name="tiny-mlm")
    texts = ["the quick brown [MASK] jumps", "a [MASK] film with a great story",
             "hello [MASK], this is a tiny model"] * 8
    want = [fm.fill(t, top_k=3) for t in texts]
    watch = _Watch(fm)
    got: list[list] = [[], []]
    _at_once(lambda: got[0].extend(fm.fill(t, top_k=3) for t in texts),
             lambda: got[1].extend(fm.fill(t, top_k=3) for t in reversed(texts)))
    assert watch.most == 1
    assert [[[f.token for f in fills] for fills in r] for r in got[0]] == \
        [[[f.token for f in fills] for fills in r] for r in want]
    assert [[[f.token for f in fills] for fills in r] for r in got[1]] == \
        [[[f.token for f in fills] for fills in r] for r in reversed(want)]


# ---- fill-mask ------------------------------------------------------------------------------
def test_fill_mask_top_k_matches_the_models_own_logits(tiny_mlm_dir):
    import torch

    fm = load_classifier(tiny_mlm_dir, name="tiny-mlm")
    assert isinstance(fm, FillMasker) and fm.mask_token == "[MASK]"
    [fills] = fm.fill("the quick brown [MASK] jumps over the lazy dog", top_k=4)
    assert len(fills) == 4
    scores = [f.score for f in fills]
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0 + 1e-6
    enc = fm.tokenizer("the quick brown [MASK] jumps over the lazy dog", return_tensors="pt")
    pos = enc["input_ids"][0].tolist().index(fm.tokenizer.mask_token_id)
    with torch.no_grad():
        logits = fm.model(**enc).logits[0, pos]
    logits[fm.tokenizer.all_special_ids] = float("-inf")  # special tokens are never offered
    best = int(logits.argmax())
    assert fills[0].token == fm.tokenizer.decode([best]).strip()
    assert fills[0].sequence.startswith("the quick brown " + fills[0].token)
    two = fm.fill("the <mask> brown fox jumps over the [MASK] dog", top_k=2)  # both spellings
    assert len(two) == 2 and all(len(f) == 2 for f in two)
    with pytest.raises(BadInput, match=r"no \[MASK\]"):
        fm.fill("no mask here")


# ---- files ------------------------------------------------------------------------------------
def test_read_table_txt_csv_tsv(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("first\n\n  second  \n", encoding="utf-8")
    t = read_table(txt)
    assert (t.kind, t.texts, t.skipped) == ("lines", ["first", "second"], 1)
    c = tmp_path / "b.csv"
    c.write_text('id,review\n1,"Good, really good"\n2,\n3,Bad\n', encoding="utf-8")
    t = read_table(c)  # "review" is a known text column name
    assert t.columns == ["id", "review"]
    assert (t.column, t.texts, t.skipped) == ("review", ["Good, really good", "Bad"], 1)
    t = read_table(c, "id")
    assert t.texts == ["1", "2", "3"]
    tsv = tmp_path / "c.tsv"
    tsv.write_text('sentence\tlabel\nit\'s "fine"\t1\n', encoding="utf-8")
    assert read_table(tsv).texts == ['it\'s "fine"']
    cp = tmp_path / "d.txt"
    cp.write_bytes("caf\xe9 cr\xe8me".encode("cp1252"))
    assert read_table(cp).texts == ["café crème"]


def test_bad_files_say_why(tmp_path):
    c = tmp_path / "b.csv"
    c.write_text("id,body\n1,x\n", encoding="utf-8")
    with pytest.raises(BadInput, match="no text column 'nope'. Columns found: 'id', 'body'"):
        read_table(c, "nope")
    binary = tmp_path / "x.txt"
    binary.write_bytes(b"\x00\x01\x02binary" * 50)
    with pytest.raises(BadInput, match="binary"):
        read_table(binary)
    empty = tmp_path / "e.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(BadInput, match="empty"):
        read_table(empty)
    with pytest.raises(BadInput, match="does not exist"):
        read_table(tmp_path / "missing.txt")


def test_export_adds_columns_and_leaves_unfinished_rows_blank(tiny_clf, tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("sentence\tlabel\na good film\t1\na bad film\t0\nhello\t1\n", encoding="utf-8")
    table = read_table(src)
    preds = tiny_clf.predict(table.texts[:2]) + [None]  # the last one was cancelled
    out = export_csv(table, preds, tmp_path / "out.csv", tiny_clf.labels)
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0] == ["sentence", "label", "predicted_label", "score", "p_negative", "p_positive"]
    assert rows[1][:2] == ["a good film", "1"] and rows[1][2] == preds[0].label
    assert float(rows[1][4]) + float(rows[1][5]) == pytest.approx(1.0, abs=1e-5)
    assert rows[3] == ["hello", "1", "", "", "", ""]
    assert not list(tmp_path.glob("*.partial"))


# ---- a classification run from the Fine-tune engine loads here ----------------------------------
def test_a_lora_classification_run_opens_by_its_registry_id(home, tiny_classifier_dir, tmp_path):
    from core.finetune import FinetuneConfig, train
    from core.models.registry import Registry

    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "\n".join(
        f"{t},{lab}" for t, lab in [("a good film", "pos"), ("a bad film", "neg")] * 20),
        encoding="utf-8")
    cfg = FinetuneConfig(task="classification", base=str(tiny_classifier_dir), data=(str(data),),
                         output="tiny-cls", max_steps=3, batch_size=4, eval_split=0.0)
    registry = Registry(home, scan_hf_cache=False)
    result = run_all(train(cfg, CancelToken(), home=home, registry=registry))[-1].result
    clf = run_all(open_classifier(registry, result.entry_id, "cpu", CancelToken()))[-1].result
    assert isinstance(clf, Classifier)
    assert clf.labels == ["neg", "pos"] and clf.info.note == "LoRA adapter"
    assert clf.predict(["a good film"])[0].label in ("neg", "pos")


# ---- the bundled sentiment model ---------------------------------------------------------------
@pytest.fixture(scope="module")
def sentiment():
    from core.models.registry import Registry, Source, Task
    from core.paths import AppHome

    registry = Registry(AppHome.default(), scan_hf_cache=False)
    entry = registry.get("sentiment-minilm")
    assert (entry.task, entry.source) == (Task.TEXT_CLASSIFICATION, Source.BUNDLED)
    assert entry.size_bytes < 5 * 2**20  # the adapter and head only, never the encoder
    return run_all(open_classifier(registry, None, "cpu", CancelToken()))[-1].result


def test_bundled_model_labels_clear_sentences(sentiment):
    cases = {
        "An absolute delight from start to finish, funny and deeply moving.": "positive",
        "One of the best films I have seen this year.": "positive",
        "The performances are wonderful and the script is sharp.": "positive",
        "A dull, lifeless mess that wastes its talented cast.": "negative",
        "Boring, predictable and far too long.": "negative",
        "I wanted my money back after twenty minutes.": "negative",
    }
    preds = sentiment.predict(list(cases))
    assert sentiment.labels == ["negative", "positive"]
    assert [p.label for p in preds] == list(cases.values())
    assert all(p.score > 0.8 for p in preds)


def test_bundled_model_dev_accuracy(sentiment, shared_eval):
    table = read_table(shared_eval / "sst2_dev.tsv")
    gold = [row[1] for row in table.rows]
    assert len(gold) == 872
    preds = run_all(sentiment.classify(table.texts, CancelToken(), batch_size=64))[-1].result
    names = {"0": "negative", "1": "positive"}
    accuracy = sum(p.label == names[g] for p, g in zip(preds, gold)) / len(gold)
    print(f"sst2_dev accuracy {accuracy:.4f}")
    assert accuracy >= 0.88


def test_bundled_model_card_says_how_it_was_made():
    from core.models.registry import RESOURCES

    info = json.loads((RESOURCES / "sentiment-minilm" / "training.json").read_text())
    assert info["train_file"] == "sst2_train.tsv" and "dev" not in info["train_file"]
    assert info["config"]["eval_split"] > 0  # its own validation split from the train file
