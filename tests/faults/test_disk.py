"""A full or read-only data folder, and atomic writes: a clear message naming the folder (and the
space needed), a failing exit code, nothing half-written (table rows 8 and 9)."""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core.cancel import CancelToken
from core.errors import BadInput
from core.paths import AppHome, atomic_write, atomic_write_json, file_lock
from tests.faults.helpers import assert_user_error, cli, no_temp_files


def _config(base, data, output, **kw):
    from core.finetune import FinetuneConfig

    settings = dict(task="causal-lm", base=str(base), data=(str(data),), output=output,
                    max_steps=8, save_steps=2, chunk_length=32, overlap=0, batch_size=2,
                    logging_steps=2, device="cpu")
    settings.update(kw)
    return FinetuneConfig(**settings)


def _train(config, home, **kw):
    from core.finetune import train
    from core.models import Registry

    return list(train(config, CancelToken(), home=home,
                      registry=Registry(home, scan_hf_cache=False), **kw))


@pytest.fixture()
def story(tmp_path) -> Path:
    path = tmp_path / "story.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 120, encoding="utf-8")
    return path


def _full_at_save(monkeypatch, nth: int):
    """The nth checkpoint fails with a full disk after its weights were written."""
    from transformers import Trainer

    original = Trainer._save_rng_state
    calls = [0]

    def save(self, output_dir):
        calls[0] += 1
        if calls[0] == nth:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, output_dir)

    monkeypatch.setattr(Trainer, "_save_rng_state", save)


def test_a_full_disk_during_a_lora_checkpoint(home, tiny_gpt2_dir, story, monkeypatch):
    """Row 8: an enforce-fail message, run.json left at running, a 0-byte run.json.tmp and a
    partial checkpoint. Now: the folder and "full" in words, run.json failed, nothing partial,
    and resume continues from the last complete checkpoint."""
    from core.finetune import list_runs

    _full_at_save(monkeypatch, 2)
    with pytest.raises(BadInput) as caught:
        _train(_config(tiny_gpt2_dir, story, "lora"), home)
    message = caught.value.user_message()
    run_dir = home.root / "runs" / "lora"
    assert "full" in message and str(run_dir) in message and "checkpoint-2" in message
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    assert not no_temp_files(home.root)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["checkpoint-2"]
    assert list_runs(home)[0].status == "failed"
    monkeypatch.undo()
    events = _train(_config(tiny_gpt2_dir, story, "lora"), home, resume=True)
    assert events[-1].result.metrics["global_step"] == 8
    assert list_runs(home)[0].status == "done"


def test_a_full_disk_at_the_first_full_checkpoint_does_not_promise_a_resume(
        home, tiny_gpt2_dir, story, monkeypatch):
    """Row 9: "resume the run" while only a half-written checkpoint existed."""
    _full_at_save(monkeypatch, 1)
    with pytest.raises(BadInput, match="nothing to resume"):
        _train(_config(tiny_gpt2_dir, story, "whole", method="full"), home)
    assert not list((home.root / "runs" / "whole" / "checkpoints").glob("checkpoint-*"))
    monkeypatch.undo()
    with pytest.raises(BadInput, match="no checkpoint"):
        _train(_config(tiny_gpt2_dir, story, "whole", method="full"), home, resume=True)


def test_a_run_refuses_to_start_when_its_checkpoints_cannot_fit(home, tiny_gpt2_dir, story,
                                                               monkeypatch):
    from core.finetune import safety

    monkeypatch.setattr(safety, "space_needed", lambda config, folder: 1 << 50)  # a petabyte
    with pytest.raises(BadInput, match="Not enough disk space") as caught:
        _train(_config(tiny_gpt2_dir, story, "huge", method="full"), home)
    assert str(home.root / "runs" / "huge") in caught.value.user_message()
    assert not (home.root / "runs" / "huge" / "checkpoints").exists()


def test_the_space_estimate_grows_with_the_model_and_the_method(tiny_gpt2_dir):
    from core.finetune.safety import space_needed, weights_bytes

    weights = weights_bytes(tiny_gpt2_dir)
    full = space_needed(_config(tiny_gpt2_dir, "d", "x", method="full"), tiny_gpt2_dir)
    lora = space_needed(_config(tiny_gpt2_dir, "d", "x", method="lora"), tiny_gpt2_dir)
    assert weights > 0 and full >= 9 * weights and weights > lora > 0


# ---- atomic writes ------------------------------------------------------------------------------
def test_an_atomic_write_that_fails_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "run.json"
    atomic_write_json(target, {"status": "running"})

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(BadInput, match="full") as caught:
        atomic_write_json(target, {"status": "done"})
    assert str(tmp_path) in caught.value.user_message()
    assert json.loads(target.read_text()) == {"status": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_every_app_writer_goes_through_the_atomic_helper():
    """No plain write_text / open(..., "w") left in the modules that write the app's files."""
    from tests.conftest import ROOT

    writers = ["core/finetune/runs.py", "core/finetune/publish.py", "core/finetune/merge.py",
               "core/finetune/script.py", "core/models/userlist.py", "core/models/convert.py",
               "core/models/export_gguf.py", "core/transcribe/formats.py",
               "core/classify/export.py", "gui/panels/chat/sidebar.py",
               "core/transcribe/saved.py", "core/transcribe/corpus.py",
               "core/chat/export_training.py", "core/classify/training.py",
               "core/classify/calibration.py", "core/models/endpoints.py",
               "core/models/endpoint_keys.py"]
    for rel in writers:
        text = (ROOT / rel).read_text(encoding="utf-8")
        assert not re.search(r"\.write_(text|bytes)\(|open\([^)]*['\"][wax]b?['\"]", text), rel


# ---- a really full disk and a read-only folder (root: a small tmpfs) ----------------------------
@pytest.fixture()
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a full disk) needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> None:
    with open(folder / "ballast", "wb", buffering=0) as fh:
        for size in (65536, 4096, 512, 1):  # to the last byte
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                pass


def test_a_full_data_folder_names_the_folder_and_keeps_the_list(small_disk, tiny_gpt2_dir,
                                                               tmp_path):
    home = AppHome(small_disk / "home").ensure()
    first = cli(home, "models", "add", tiny_gpt2_dir)
    assert first.returncode == 0, first.stderr
    before = home.user_models_file.read_bytes()
    _fill(small_disk)
    other = tmp_path / "other"
    shutil.copytree(tiny_gpt2_dir, other)
    out = cli(home, "models", "add", other)
    assert_user_error(out, "full", str(home.root))
    assert home.user_models_file.read_bytes() == before
    assert not no_temp_files(home.root)


def test_a_read_only_data_folder_is_named(small_disk, tiny_gpt2_dir):
    home = AppHome(small_disk / "home").ensure()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    listed = cli(home, "models")
    assert listed.returncode == 0, listed.stderr  # reading still works
    out = cli(home, "models", "add", tiny_gpt2_dir)
    assert_user_error(out, str(home.root), "cannot be written")


def test_the_lock_is_exclusive_across_open_files(tmp_path):
    from core.paths import Busy

    lock = tmp_path / "x.lock"
    with file_lock(lock), pytest.raises(Busy), file_lock(lock, wait=False):
        pass
    with file_lock(lock, wait=False):  # free again
        atomic_write(tmp_path / "y", "ok")
