"""Whisper's tokenizer parsed ahead (core.transcribe.ahead): a faster-whisper load takes the parse
made while the user was idle instead of parsing tokenizer.json itself with the interpreter held
(the window's longest pause at a first Whisper load). Checked by what the loaded model holds, and
by what it transcribes, never by timing (the pause is bench/stalls.py's)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.cancel import CancelToken
from core.events import Done
from core.models.registry import Registry
from core.transcribe import TranscribeOptions, open_transcriber
from core.transcribe.ahead import ParsedTokenizers, handed_over, prepare
from core.transcribe.faster import FasterWhisperBackend


def _done(events):
    return [ev for ev in events if isinstance(ev, Done)][-1].result


@pytest.fixture(scope="module")
def tiny_folder():
    return Registry().get("whisper-tiny.en").load_path


def test_a_load_uses_the_tokenizer_parsed_ahead_and_transcribes_with_it(shared_eval, home):
    store = ParsedTokenizers()
    assert prepare(Registry(home), "whisper-tiny.en", store)
    folder = Registry(home).get("whisper-tiny.en").load_path
    parsed = store.get(folder)
    assert parsed is not None
    transcriber = _done(open_transcriber(Registry(home), "whisper-tiny.en", "cpu", CancelToken(),
                                         tokenizers=store))
    try:
        assert transcriber.backend.model.hf_tokenizer is parsed
        t = _done(transcriber.transcribe(shared_eval / "speech" / "jfk.flac",
                                         TranscribeOptions(model="whisper-tiny.en", device="cpu"),
                                         CancelToken()))
        assert "ask not what your country can do for you" in t.text.lower().replace(",", "")
    finally:
        transcriber.close()
    import faster_whisper.transcribe as fw
    import tokenizers

    assert fw.tokenizers is tokenizers  # faster-whisper's own name is back


def test_without_a_parse_ahead_faster_whisper_parses_its_own_and_it_is_kept(tiny_folder):
    """Kept for the next load of the same model (the model cache unloads an idle model)."""
    store = ParsedTokenizers()
    backend = _done(FasterWhisperBackend.load(tiny_folder, tokenizers=store))
    try:
        own = backend.model.hf_tokenizer
        assert own.token_to_id("<|endoftext|>") == 50256
        assert store.get(tiny_folder) is own
    finally:
        backend.close()
    again = _done(FasterWhisperBackend.load(tiny_folder, tokenizers=store))
    try:
        assert again.model.hf_tokenizer is own
    finally:
        again.close()


def test_tokenizers_are_matched_by_content(tiny_folder, tmp_path):
    """The copy that joining a split pack writes is the file parsed from the pack; a file changed
    since is not the one parsed."""
    store = ParsedTokenizers()
    assert store.parse(f"{tiny_folder}/tokenizer.json")
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(f"{tiny_folder}/tokenizer.json", copy / "tokenizer.json")
    assert store.get(copy) is store.get(tiny_folder) is not None
    changed = tmp_path / "changed"
    changed.mkdir()
    text = (copy / "tokenizer.json").read_text(encoding="utf-8")
    (changed / "tokenizer.json").write_text(text.replace('"<|endoftext|>"', '"<|end|>"', 1),
                                            encoding="utf-8")
    assert store.get(changed) is None
    assert store.get(tmp_path / "nothing-here") is None
    assert not store.parse(tmp_path / "nothing-here" / "tokenizer.json")


def test_only_the_last_two_are_kept(tiny_folder, tmp_path):
    store = ParsedTokenizers(keep=2)
    text = Path(tiny_folder, "tokenizer.json").read_text(encoding="utf-8")
    for n in range(3):
        f = tmp_path / str(n) / "tokenizer.json"
        f.parent.mkdir()
        f.write_text(text.replace('"<|endoftext|>"', f'"<|end{n}|>"', 1), encoding="utf-8")
        assert store.parse(f)
    assert len(store) == 2
    assert store.get(tmp_path / "0") is None and store.get(tmp_path / "2") is not None


def test_a_split_pack_not_joined_yet_is_parsed_from_its_pack(home):
    """The bundled whisper-base comes in two packs, joined into the data folder at its first
    load: its tokenizer is parsed from the pack ahead of that, and matches the joined copy."""
    registry = Registry(home)
    entry = registry.get("whisper-base")
    store = ParsedTokenizers()
    assert not (Path(entry.load_path) / "tokenizer.json").exists()  # a fresh data folder
    assert prepare(registry, "whisper-base", store)
    entry = _done(registry.assemble(entry, CancelToken()))
    assert store.get(entry.load_path) is not None


def test_models_that_are_not_ready_are_left_to_their_load(home):
    store = ParsedTokenizers()
    registry = Registry(home)
    assert not prepare(registry, "no-such-model", store)
    assert not prepare(registry, "openai/whisper-small", store)  # a Hub id, not downloaded
    assert len(store) == 0


def test_the_handover_gives_only_its_own_folder_and_is_undone_on_failure(tiny_folder, tmp_path):
    import faster_whisper.transcribe as fw
    import tokenizers

    sentinel = object()
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(f"{tiny_folder}/tokenizer.json", other / "tokenizer.json")
    with pytest.raises(RuntimeError), handed_over(sentinel, tiny_folder):
        assert fw.tokenizers.Tokenizer.from_file(f"{tiny_folder}/tokenizer.json") is sentinel
        own = fw.tokenizers.Tokenizer.from_file(str(other / "tokenizer.json"))
        assert own is not sentinel and own.token_to_id("<|endoftext|>") == 50256
        raise RuntimeError("the load failed")
    assert fw.tokenizers is tokenizers
