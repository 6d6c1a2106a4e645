"""Temperature scaling (core/classify/calibration.py): fitted on held-out rows, stored beside the
weights, applied by the classifier; and the calibration shipped with the bundled sentiment model."""
import json
import math
import random

import pytest

from core.classify.calibration import (
    CALIBRATION_FILE,
    Calibration,
    _softmax,
    calibrate_trained,
    expected_calibration_error,
    fit_calibration,
    load_calibration,
    model_logits,
    save_calibration,
)


def test_ece_of_known_cases():
    # always sure and always right: 0; always sure (1.0) and right half the time: 0.5
    assert expected_calibration_error([[0.0, 1.0]] * 4, [1, 1, 1, 1]) == 0.0
    assert expected_calibration_error([[0.0, 1.0]] * 4, [1, 0, 1, 0]) == pytest.approx(0.5)


def test_fit_recovers_a_known_temperature():
    """Labels drawn from softmax(z); the model reports 3·z (over-confident by T = 3)."""
    rng = random.Random(0)
    logits, labels = [], []
    for _ in range(3000):
        z = [rng.gauss(0, 1.5), rng.gauss(0, 1.5), rng.gauss(0, 1.5)]
        p = _softmax(z)
        labels.append(rng.choices(range(3), weights=p)[0])
        logits.append([3 * x for x in z])
    cal = fit_calibration(logits, labels, "synthetic")
    assert cal.temperature == pytest.approx(3.0, rel=0.1)
    assert cal.ece_before > 0.1 and cal.ece_after < 0.03
    # predictions unchanged: the top label is the same at any temperature
    assert all(max(range(3), key=r.__getitem__) == max(range(3), key=_softmax(r, 3).__getitem__)
               for r in logits[:100])


def test_saved_beside_the_weights_and_read_back(tmp_path):
    cal = Calibration(1.7, 0.05, 0.01, 100, "test")
    save_calibration(tmp_path, cal)
    assert load_calibration(tmp_path) == cal
    assert "ECE 0.050 → 0.010" in cal.line()
    (tmp_path / CALIBRATION_FILE).write_text("{not json")
    assert load_calibration(tmp_path) is None  # unreadable: raw scores, no crash
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"temperature": -1, "ece_before": 0,
                                                         "ece_after": 0, "n": 1}))
    assert load_calibration(tmp_path) is None


def _words(rng, n):
    from tests.tiny_models import CORPUS

    vocab = sorted({w for line in CORPUS for w in line.split()})
    return [" ".join(rng.choices(vocab, k=rng.randint(3, 12))) for _ in range(n)]


def test_calibration_lowers_ece_of_a_tiny_overconfident_classifier(tmp_path):
    """A tiny classifier made over-confident by 4× (its head scaled) on labels drawn from its
    honest probabilities: the fine-tune hook fits T near 4, lowers the ECE, writes
    calibration.json, and the loaded classifier's scores are the calibrated ones."""
    import torch

    from core.classify import load_classifier
    from tests.tiny_models import tiny_distilbert_classifier

    folder = tiny_distilbert_classifier(tmp_path / "clf")
    clf = load_classifier(folder, name="tiny")
    model, tok = clf.model, clf.tokenizer
    rng = random.Random(1)
    texts = _words(rng, 600)
    raw = model_logits(model, tok, texts)
    spread = torch.tensor([r[1] - r[0] for r in raw]).std().item()
    honest = 2.0 / spread  # logit differences of about ±2: labels neither certain nor coin flips
    labels = [rng.choices((0, 1), weights=_softmax([x * honest for x in r]))[0] for r in raw]
    with torch.no_grad():
        model.classifier.weight.mul_(4 * honest)
        model.classifier.bias.mul_(4 * honest)
    model.save_pretrained(folder)
    examples = [{**tok(t, truncation=True, max_length=64), "labels": y}
                for t, y in zip(texts, labels)]

    cal = calibrate_trained(model, examples, folder)
    assert cal is not None and cal.temperature == pytest.approx(4.0, rel=0.25)
    assert cal.ece_after < cal.ece_before / 2
    assert (folder / CALIBRATION_FILE).is_file()

    loaded = load_classifier(folder, name="tiny")
    assert loaded.calibration.temperature == cal.temperature
    pred = loaded.predict([texts[0]])[0]
    logits = model_logits(loaded.model, loaded.tokenizer, [texts[0]])[0]
    assert pred.scores["positive"] == pytest.approx(_softmax(logits, cal.temperature)[1], abs=1e-5)
    assert pred.scores["positive"] != pytest.approx(_softmax(logits)[1], abs=1e-3)


def test_too_few_rows_store_nothing(tmp_path, tiny_classifier_dir):
    from core.classify import load_classifier

    clf = load_classifier(tiny_classifier_dir, name="tiny")
    few = [{**clf.tokenizer("a good film"), "labels": 1}] * 5
    assert calibrate_trained(clf.model, few, tmp_path) is None
    assert not (tmp_path / CALIBRATION_FILE).exists()


def test_the_bundled_sentiment_model_ships_its_calibration():
    """Fitted once by resources/models/calibrate_sentiment.py on held-out train rows (never on
    sst2_dev.tsv); its figures are in the file."""
    from core.models.catalog import RESOURCES

    cal = load_calibration(RESOURCES / "sentiment-minilm")
    assert cal is not None and cal.temperature > 1  # the raw model was over-confident
    assert "sst2_train" in cal.source and "dev" not in cal.source
    assert cal.ece_after < cal.ece_before


@pytest.mark.slow
def test_bundled_sentiment_is_calibrated_on_sst2_dev(shared_eval):
    """Measured only: ECE at most 0.03 on the SST-2 dev set, accuracy as without calibration."""
    from core.cancel import CancelToken
    from core.classify import open_classifier
    from core.events import Done
    from core.models.registry import Registry

    clf = next(ev.result for ev in open_classifier(Registry(), "sentiment-minilm", "cpu",
                                                   CancelToken()) if isinstance(ev, Done))
    rows = [ln.split("\t") for ln in (shared_eval / "sst2_dev.tsv").read_text().splitlines()[1:]]
    texts, labels = [t for t, _ in rows], [int(y) for _, y in rows]
    preds = [p for i in range(0, len(texts), 64) for p in clf.predict(texts[i:i + 64])]
    probs = [[p.scores["negative"], p.scores["positive"]] for p in preds]
    assert expected_calibration_error(probs, labels) <= 0.03
    raw = model_logits(clf.model, clf.tokenizer, texts, clf.info.max_length)
    acc_raw = sum(max((0, 1), key=r.__getitem__) == y for r, y in zip(raw, labels))
    acc_cal = sum(max((0, 1), key=p.__getitem__) == y for p, y in zip(probs, labels))
    assert acc_cal == acc_raw
    assert math.isclose(clf.calibration.temperature, 1.44, abs_tol=0.01)  # the shipped file
