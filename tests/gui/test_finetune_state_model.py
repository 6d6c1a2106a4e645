"""The Fine-tune page's state on its own (no window): the phases, and which row stands for what
when the live run and the runs on disk share a name."""
import time

from gui.panels.finetune.state import LIVE, PageState
from tests.gui.test_finetune_states import info


def test_a_run_that_failed_before_it_was_recorded_does_not_hide_an_older_run_of_its_name():
    state = PageState()
    state.set_runs([info("story", "done", started=time.time() - 100, model_path="/m/story")])
    state.start({"output": "story", "task": "causal-lm"}, "/runs/story")
    state.failed("A finished run called 'story' already exists.")
    state.ended()
    state.set_runs(list(state.runs))  # the history read again: nothing new on disk
    rows = state.rows()
    assert [(r.key, r.phase) for r in rows] == [(LIVE, "failed"), ("story", "done")]
    assert state.header().startswith("story · failed") and not state.buttons()["try"]
    state.select("story")
    assert state.header().startswith("story · done") and state.buttons()["try"]


def test_the_phases_of_a_live_run():
    state = PageState()
    state.set_runs([])
    assert state.phase() == "idle" and state.header().startswith("No run yet")
    state.start({"output": "r", "task": "chat", "method": "lora"}, "/runs/r")
    assert state.phase() == "preparing" and state.busy and state.progress()[0] is None
    state.progress_step(3, 10, 0.3, 3.0, 7.0, 2.0)
    assert state.phase() == "running" and state.progress() == (0.3, "step 3/10 · epoch 0.30 · "
                                                                     "ETA 0:07")
    assert state.cancel() and state.phase() == "stopping" and not state.buttons()["cancel"]
    assert not state.cancel()  # pressed twice: nothing more to do
    state.progress_step(4, 10, 0.4, 4.0, 6.0, 2.0)  # a step that ends while it stops
    assert state.phase() == "stopping"
    state.ended()  # the job ended without a result: cancelled
    assert state.phase() == "cancelled" and not state.busy and state.buttons()["new"]
