"""Kill -9 at any point of a fine-tune run, SIGTERM and Ctrl+C: --resume continues from the last
complete checkpoint, the run list never shows a half-written run as finished, and a rerun without
--resume never deletes the checkpoints (table rows 1 and 12)."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.faults.helpers import assert_user_error, cli, finetune_args, no_temp_files, popen

STEPS = 8


@pytest.fixture()
def story(tmp_path) -> Path:
    path = tmp_path / "story.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 120, encoding="utf-8")
    return path


def _killed(home, tiny, story, name, point, nth, *extra):
    proc = popen(home, point, nth, "--", *finetune_args(tiny, story, name, "--max-steps", STEPS,
                                                         "--save-steps", 2, *extra),
                 module="tests.faults.killer")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, err)
    return home.root / "runs" / name


def _status(home, name):
    from core.finetune import list_runs

    return {r.name: r for r in list_runs(home)}[name]


def _checkpoints(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").glob("checkpoint-*"))


def test_kill_during_data_preparation(home, tiny_gpt2_dir, story):
    run_dir = _killed(home, tiny_gpt2_dir, story, "prep", "prep", 1)
    run = _status(home, "prep")
    assert run.status == "failed" and run.checkpoint is None  # never "running", never "done"
    assert not (home.trained / "prep").exists() and not no_temp_files(run_dir)
    resumed = cli(home, "finetune", "--resume", "--output", "prep")
    assert_user_error(resumed, "no checkpoint")
    again = cli(home, *finetune_args(tiny_gpt2_dir, story, "prep", "--max-steps", 2))
    assert again.returncode == 0, again.stderr  # nothing to lose: a new run may take the name


def test_kill_between_steps_then_resume_finishes(home, tiny_gpt2_dir, story):
    run_dir = _killed(home, tiny_gpt2_dir, story, "steps", "step", 6)
    run = _status(home, "steps")
    assert run.status == "failed" and Path(run.checkpoint).name == "checkpoint-4"
    assert not (home.trained / "steps").exists()
    # row 1: rerunning the same command without --resume refuses and deletes nothing
    rerun = cli(home, *finetune_args(tiny_gpt2_dir, story, "steps", "--max-steps", STEPS,
                                     "--save-steps", 2))
    assert_user_error(rerun, "--resume", "--overwrite", "checkpoint-4")
    assert "checkpoint-4" in _checkpoints(run_dir)
    resumed = cli(home, "finetune", "--resume", "--output", "steps")
    assert resumed.returncode == 0, resumed.stderr
    assert "step 4/8" in resumed.stderr and "step 1/8" not in resumed.stderr
    assert _status(home, "steps").status == "done"
    state = json.loads((Path(_status(home, "steps").checkpoint) / "trainer_state.json")
                       .read_text())
    assert state["global_step"] == STEPS


def test_kill_while_a_checkpoint_is_written_resumes_from_the_last_complete_one(
        home, tiny_gpt2_dir, story):
    run_dir = _killed(home, tiny_gpt2_dir, story, "mid", "save", 2)  # the save at step 4
    assert "checkpoint-4" in _checkpoints(run_dir)  # half written: weights, no trainer state
    run = _status(home, "mid")
    assert run.status == "failed" and Path(run.checkpoint).name == "checkpoint-2"
    resumed = cli(home, "finetune", "--resume", "--output", "mid")
    assert resumed.returncode == 0, resumed.stderr
    assert "step 2/8" in resumed.stderr and _status(home, "mid").status == "done"


def test_overwrite_starts_over_explicitly(home, tiny_gpt2_dir, story):
    run_dir = _killed(home, tiny_gpt2_dir, story, "over", "step", 4)
    assert _checkpoints(run_dir) == ["checkpoint-2"]
    both = cli(home, *finetune_args(tiny_gpt2_dir, story, "over", "--resume", "--overwrite"))
    assert_user_error(both, "contradict")
    fresh = cli(home, *finetune_args(tiny_gpt2_dir, story, "over", "--max-steps", 2,
                                     "--overwrite"))
    assert fresh.returncode == 0, fresh.stderr and _status(home, "over").status == "done"


def _lines(proc):
    """(stderr lines with the time each arrived, the thread reading them as they come)."""
    import threading

    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend(
        (time.monotonic(), line) for line in proc.stderr))
    reader.start()
    return lines, reader


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_a_run_checkpoints_and_marks_it(home, tiny_gpt2_dir, story, sig, code):
    """Row 12 (SIGTERM: a logout, `timeout`) and Ctrl+C: the run stops within a second or two at
    the end of its step, saves a checkpoint there, run.json says cancelled, exit 128+signal."""
    proc = popen(home, *finetune_args(tiny_gpt2_dir, story, "sig", "--max-steps", 400,
                                      "--save-steps", 1000))
    lines, reader = _lines(proc)
    try:
        deadline = time.monotonic() + 240
        while not any("step 3/400" in line for _t, line in lines) and proc.poll() is None:
            assert time.monotonic() < deadline, lines
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:  # a failed wait: the run must not outlive the test
            proc.kill()
            proc.wait()
        reader.join()
    err = "".join(line for _t, line in lines)
    assert proc.returncode == code, err
    stopped = [t for t, line in lines if line.startswith("stopped;")]
    # the step ends, its checkpoint is written, the run says so (the interpreter's own exit,
    # slow on a loaded machine, is not counted)
    assert stopped and stopped[0] - sent < 5, err
    assert "Traceback" not in err and "leaked semaphore" not in err, err
    run = _status(home, "sig")
    assert run.status == "cancelled" and run.checkpoint
    assert json.loads((home.root / "runs" / "sig" / "run.json").read_text())["status"] == \
        "cancelled"


def test_only_complete_checkpoints_count(tmp_path):
    from core.finetune.runs import (
        CHECKPOINT_MARK,
        adopt_unmarked_checkpoints,
        drop_incomplete_checkpoints,
        last_checkpoint,
    )

    run_dir = tmp_path / "run"

    def ckpt(step: int, state: str | None, mark: bool = False) -> Path:
        folder = run_dir / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"w")
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
        if mark:
            (folder / CHECKPOINT_MARK).write_text("")
        return folder

    ckpt(2, json.dumps({"global_step": 2}))  # saved before marks existed
    ckpt(4, '{"global_st')  # a kill while the state was written
    assert Path(last_checkpoint(run_dir)).name == "checkpoint-2"
    adopt_unmarked_checkpoints(run_dir)  # a resume marks the old complete one
    assert (run_dir / "checkpoints" / "checkpoint-2" / CHECKPOINT_MARK).is_file()
    ckpt(6, json.dumps({"global_step": 6}))  # state written, killed before its mark
    assert Path(last_checkpoint(run_dir)).name == "checkpoint-2"
    assert sorted(drop_incomplete_checkpoints(run_dir)) == ["checkpoint-4", "checkpoint-6"]
    assert _checkpoints(run_dir) == ["checkpoint-2"]
