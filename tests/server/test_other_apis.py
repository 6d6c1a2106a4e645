"""Embeddings, classifications and transcriptions through the real openai client."""
from __future__ import annotations

import math

import pytest

from tests.server.conftest import MINILM, SENTIMENT, WHISPER, assert_openai_error, http


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_paraphrases_are_closer_than_unrelated_sentences(client):
    texts = ["The cat sits on the mat.", "A cat is sitting on a rug.",
             "Quarterly revenue rose by four percent."]
    result = client.embeddings.create(model=MINILM, input=texts)  # the client asks for base64
    vectors = [d.embedding for d in sorted(result.data, key=lambda d: d.index)]
    assert len(vectors) == 3 and all(len(v) == 384 for v in vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-3 for v in vectors)  # normalised
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.3
    assert result.usage.prompt_tokens > 10


def test_embedding_matches_sentence_transformers_mean_pooling(client):
    """The same vector as the model's own recipe (mean over the kept tokens, then L2), computed
    here with transformers directly; a single string input, float format."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from core.models import Registry

    folder = Registry(scan_hf_cache=False).get(MINILM).path
    tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder)
    enc = tok(["Hello there, world."], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    want = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)[0].tolist()
    got = client.embeddings.create(model=MINILM, input="Hello there, world.",
                                   encoding_format="float").data[0].embedding
    assert cosine(got, want) > 0.9999


def test_classification_gives_every_labels_probability(server):
    status, _, body = http(f"{server.url}/classifications", "POST",
                           b'{"model": "sentiment-minilm", "input": ["What a wonderful, moving '
                           b'film.", "A dull, tedious waste of time."]}',
                           {"Content-Type": "application/json"})
    assert status == 200, body
    first, second = body["data"]
    assert set(first["scores"]) == {"negative", "positive"}
    assert abs(sum(first["scores"].values()) - 1) < 1e-4
    assert first["label"] == "positive" and second["label"] == "negative"
    assert first["score"] == max(first["scores"].values())


def test_classification_through_the_openai_client(client):
    reply = client.post("/classifications", body={"model": SENTIMENT, "input": "I loved it."},
                        cast_to=object)
    assert reply["data"][0]["label"] == "positive"


@pytest.fixture(scope="module")
def jfk(shared_eval):
    return shared_eval / "speech" / "jfk.flac"


def test_transcription_of_jfk(client, jfk):
    with open(jfk, "rb") as f:
        result = client.audio.transcriptions.create(model=WHISPER, file=f)
    assert "ask not what your country can do for you" in result.text.lower()


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt", "verbose_json"])
def test_transcription_formats(client, jfk, fmt):
    with open(jfk, "rb") as f:
        result = client.audio.transcriptions.create(model="whisper-1", file=f, response_format=fmt,
                                                    language="en")
    if fmt == "verbose_json":
        assert result.language == "en" and 10 < result.duration < 12
        assert result.segments and result.segments[0].start < result.segments[0].end
        assert "country" in result.text
        return
    text = result if isinstance(result, str) else result.text
    assert "country" in text
    if fmt == "srt":
        assert text.startswith("1\n00:00:0") and " --> " in text
    if fmt == "vtt":
        assert text.startswith("WEBVTT")


def test_wrong_model_for_transcription_is_400(server, jfk):
    import openai
    from openai import OpenAI

    client = OpenAI(base_url=server.url, api_key="x", max_retries=0)
    with open(jfk, "rb") as f, pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model=MINILM, file=f)
    assert_openai_error(caught.value.body if "error" in caught.value.body
                        else {"error": caught.value.body})
