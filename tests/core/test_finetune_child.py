"""A fine-tune run in a child process (core.finetune.child): the same events as in-process, the
model listed when it ends, cancel reaching the child, and a killed child reported as a typed error
with a run that resumes. Tiny random GPT-2 runs; each test spawns one or two children."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from core.cancel import CancelToken
from core.events import Done, Progress
from core.finetune import (
    FinetuneConfig,
    LossPoint,
    RunResult,
    TrainingCrashed,
    TrainProgress,
    list_runs,
    train_in_child,
)
from core.models.registry import Registry

TEXT = ("the quick brown fox jumps over the lazy dog. a good film with a great story. "
        "hello world, this is a tiny model for tests. ") * 60


@pytest.fixture()
def data(tmp_path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def config(base, data, output, **kw) -> FinetuneConfig:
    settings = dict(task="causal-lm", base=str(base), data=(str(data),), output=output,
                    method="full", max_steps=12, learning_rate=1e-3, batch_size=4,
                    chunk_length=64, overlap=8, save_steps=4, logging_steps=2, device="cpu")
    settings.update(kw)
    return FinetuneConfig(**settings)


def registry(home) -> Registry:
    return Registry(home, scan_hf_cache=False)


def test_a_child_run_relays_the_events_and_its_model_is_listed(tiny_gpt2_dir, data, home):
    events = list(train_in_child(config(tiny_gpt2_dir, data, "kid"), CancelToken(),
                                 registry=registry(home)))
    kinds = {type(e) for e in events}
    assert {Progress, TrainProgress, LossPoint} <= kinds
    done = events[-1]
    assert isinstance(done, Done) and isinstance(done.result, RunResult)
    assert not done.result.stopped and done.result.metrics["global_step"] == 12
    entry = registry(home).get("kid")  # the parent's registry lists what the child published
    assert entry.id == done.result.entry_id == "app:kid"
    run = json.loads((home.root / "runs" / "kid" / "run.json").read_text())
    assert run["status"] == "done" and run["pid"] != os.getpid()  # it trained elsewhere


def test_cancel_reaches_the_child_which_checkpoints(tiny_gpt2_dir, data, home):
    cancel = CancelToken()
    events = []
    for ev in train_in_child(config(tiny_gpt2_dir, data, "stopme", max_steps=400,
                                    save_steps=1000), cancel, registry=registry(home)):
        events.append(ev)
        if isinstance(ev, TrainProgress) and ev.step >= 3:
            cancel.cancel()
    result = events[-1].result
    assert result.stopped and result.checkpoint and Path(result.checkpoint).is_dir()
    assert list_runs(home)[0].status == "cancelled"


def test_a_killed_child_is_a_typed_error_and_the_run_resumes(tiny_gpt2_dir, data, home):
    cfg = config(tiny_gpt2_dir, data, "killed", max_steps=400, save_steps=2)
    run_file = home.root / "runs" / "killed" / "run.json"
    gen = train_in_child(cfg, CancelToken(), registry=registry(home))
    with pytest.raises(TrainingCrashed) as caught:
        for ev in gen:
            if isinstance(ev, TrainProgress) and ev.step >= 5:  # a checkpoint exists by now
                os.kill(json.loads(run_file.read_text())["pid"], signal.SIGKILL)
    err = caught.value
    assert err.exitcode == -signal.SIGKILL
    assert "SIGKILL" in err.message and "ran out of memory" in err.message
    assert "resume the run 'killed'" in err.hint
    run = list_runs(home)[0]
    assert run.status == "failed" and "SIGKILL" in run.error and run.checkpoint
    stopped_at = int(Path(run.checkpoint).name.split("-")[1])
    # a shorter run of the same name would be another config: resume the saved one, cancelled
    # at once after its first step, to show it starts from the checkpoint
    cancel = CancelToken()
    steps = []
    for ev in train_in_child(cfg, cancel, registry=registry(home), resume=True):
        if isinstance(ev, TrainProgress):
            steps.append(ev.step)
            cancel.cancel()
    assert steps[0] == stopped_at
    assert list_runs(home)[0].status == "cancelled"
