"""One test per row of issue 15's table that belongs to the CLI and core (rows 1 and 12 are in
test_kill.py, row 8 and 9 in test_disk.py). Each failed before its fix."""
from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cancel import CancelToken
from core.events import Done
from tests.conftest import ROOT
from tests.faults.helpers import assert_user_error, cli, env_for, popen


def _run(*argv) -> tuple[int, str, str]:
    """The CLI in this process (so a test can replace the model with a stand-in)."""
    import main
    from core.cli import run

    args = main.build_parser().parse_args([str(a) for a in argv])
    out, err = io.StringIO(), io.StringIO()
    code = run(args, out, err)
    return code, out.getvalue(), err.getvalue()


# ---- row 2 and row 5: a damaged list of added models (fixed earlier; kept) ------------------
@pytest.mark.parametrize("raw", [b'[{"id": "user:a", "path": "/x"', b"\xff\xfe[\x00\xe9\x00"],
                         ids=["truncated", "not-utf8"])
def test_a_damaged_user_list_is_set_aside_and_never_overwritten(home, tiny_gpt2_dir, raw):
    home.user_models_file.write_bytes(raw)
    listed = cli(home, "models")
    assert listed.returncode == 0 and "set aside" in listed.stderr, listed.stderr
    copies = list(home.root.glob("user_models.json.broken-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == raw
    added = cli(home, "models", "add", tiny_gpt2_dir)
    assert added.returncode == 0, added.stderr
    assert copies[0].read_bytes() == raw  # the user's bytes survive the next write


# ---- row 3 and row 13: transcribe outputs --------------------------------------------------
class _FakeTranscriber:
    """Stands in for Whisper: the CLI's file naming is under test, not the model."""

    alive = True

    def __init__(self) -> None:
        self.calls = []

    def transcribe(self, path, options, cancel):
        from core.transcribe.types import Segment, Transcript

        self.calls.append(path)
        yield Done(result=Transcript(str(path), 1.0, [Segment(0.0, 1.0, f"said in {path}")]))

    def close(self, wait=False):
        pass


@pytest.fixture()
def fake_whisper(monkeypatch):
    import core.transcribe as transcribe

    fake = _FakeTranscriber()
    opened = []

    def open_transcriber(*a, **kw):
        opened.append(a)
        yield Done(result=fake)

    monkeypatch.setattr(transcribe, "open_transcriber", open_transcriber)
    fake.opened = opened
    return fake


def test_files_of_the_same_name_get_their_own_transcripts(tmp_path, home, fake_whisper):
    """Row 3: d1/talk.flac and d2/talk.flac wrote out/talk.txt twice."""
    for d in ("d1", "d2"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "talk.flac").write_bytes(b"fLaC")
    out_dir = tmp_path / "out"
    code, out, err = _run("transcribe", tmp_path / "d1" / "talk.flac",
                          tmp_path / "d2" / "talk.flac", "--output-dir", out_dir)
    assert code == 0, err
    first, second = out_dir / "talk.txt", out_dir / "talk-2.txt"
    assert out.split() == [str(first), str(second)]
    assert "d1" in first.read_text() and "d2" in second.read_text()


def test_an_output_dir_that_is_a_file_is_refused_before_transcribing(tmp_path, home,
                                                                     fake_whisper):
    """Row 13: it transcribed first, then failed with FileExistsError, the transcript lost."""
    audio = tmp_path / "talk.wav"
    audio.write_bytes(b"RIFF")
    taken = tmp_path / "notes.txt"
    taken.write_text("my notes")
    code, _out, err = _run("transcribe", audio, "--output-dir", taken)
    assert code == 1 and "is a file" in err and str(taken) in err
    assert not fake_whisper.opened and not fake_whisper.calls  # nothing loaded, nothing run
    assert taken.read_text() == "my notes"


# ---- row 10: two runs of one name at once ----------------------------------------------------
def test_a_second_run_of_a_name_being_trained_is_refused_and_touches_nothing(home, tmp_path):
    from core.errors import BadInput
    from core.finetune import FinetuneConfig, train
    from core.finetune.runs import run_lock_file

    data = tmp_path / "d.txt"
    data.write_text("hello world " * 300)
    lock = run_lock_file(home, "twin")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from core.paths import file_lock\n"
         f"with file_lock({str(lock)!r}):\n    print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env_for(home.root))
    try:
        assert holder.stdout.readline().strip() == "held"
        config = FinetuneConfig(task="causal-lm", base="x", data=(str(data),), output="twin")
        with pytest.raises(BadInput, match="training right now"):
            list(train(config, CancelToken(), home=home))
        assert not (home.root / "runs" / "twin").exists()  # no history written, none failed
    finally:
        holder.kill()
        holder.wait()


# ---- row 11: six `models add` at once ----------------------------------------------------------
def test_six_models_add_at_once_keep_all_six(home, tiny_gpt2_dir, tmp_path):
    import shutil

    folders = []
    for i in range(6):
        folder = tmp_path / f"m{i}"
        shutil.copytree(tiny_gpt2_dir, folder)
        folders.append(folder)
    procs = [popen(home, "models", "add", f) for f in folders]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    kept = json.loads(home.user_models_file.read_text())
    assert sorted(Path(i["path"]).name for i in kept) == [f"m{i}" for i in range(6)]
    assert len({i["id"] for i in kept}) == 6


# ---- row 14: Ctrl+C during chat ------------------------------------------------------------------
def test_ctrl_c_during_chat_keeps_the_partial_reply_and_exits_130(home):
    import threading

    # the bundled model on llama.cpp writes a long story for seconds (a tiny random model ends
    # its 200 tokens in a third of a second: before Ctrl+C arrives, on an idle machine)
    proc = popen(home, "chat", "Tell me a long story about a dragon.", "--max-new-tokens", 600,
                 "--temperature", 0.8, "--seed", 4)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend(
        (time.monotonic(), line) for line in proc.stderr))
    reader.start()
    first = proc.stdout.read(20)  # the reply has started streaming
    assert first
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    proc.wait(timeout=60)
    reader.join()
    err = "".join(line for _t, line in lines)
    stopped = [t for t, line in lines if "(stopped)" in line]
    assert proc.returncode == 130, err
    # the reply ends within a second or so of Ctrl+C (the interpreter's own exit, slow on a
    # loaded machine, is not counted)
    assert stopped and stopped[0] - sent < 2, err
    assert "Traceback" not in err
    assert len(first + out) > 20  # the partial reply stays on the terminal


# ---- row 15: small refusals -----------------------------------------------------------------------
def test_a_one_part_hub_id_is_a_hub_id(home):
    """`models download gpt2` was refused as "not a Hub id"; offline it now says offline."""
    out = cli(home, "models", "download", "gpt2", timeout=60)
    err = assert_user_error(out, "offline")
    assert "not a Hub id" not in err
    bad = cli(home, "models", "download", "../etc", timeout=60)
    assert_user_error(bad, "not a Hub id")


def test_max_length_is_refused_where_it_does_nothing(home, tmp_path):
    data = tmp_path / "d.txt"
    data.write_text("hello world " * 300)
    code, _out, err = _run("finetune", "--task", "causal-lm", "--base", "x", "--data", data,
                           "--output", "y", "--max-length", "64")
    assert code == 1 and "--chunk-length" in err and "--max-length" in err


def test_classify_batch_size_zero_is_refused_before_loading(home, monkeypatch):
    import core.classify as classify

    loaded = []
    monkeypatch.setattr(classify, "open_classifier", lambda *a, **kw: loaded.append(a) or iter(()))
    code, _out, err = _run("classify", "great film", "--batch-size", "0")
    assert code == 1 and "--batch-size" in err and not loaded


# ---- offline: a Hub id not in the cache fails at once --------------------------------------------
@pytest.mark.parametrize("command", [["chat", "hi", "--model"], ["classify", "hi", "--model"]])
def test_an_uncached_hub_id_fails_at_once_saying_offline(home, command):
    started = time.monotonic()
    out = cli(home, *command, "nobody-here/no-such-model", timeout=60)
    assert_user_error(out, "offline")
    assert time.monotonic() - started < 30  # the process start included; no retry loop
